#include "websocket.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json_text.h"
#include "log.h"

#define POLL_MS 50 /* how soon the writer notices a peer that went away */

struct frame {
  struct frame *next;
  uint8_t opcode;
  size_t len;
  char data[];
};

struct ws_conn {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  atomic_int refs;
  atomic_int open;    /* handshake done and not yet closed */
  atomic_int closing; /* ws_close called */
  struct frame *head, *tail;
  int queued;
  size_t queued_bytes;
  struct ws_handlers h;
  struct ws_options o;
  void *user;
  char id[40];
};

static atomic_int open_count;

int ws_open_count(void) {
  return atomic_load(&open_count);
}

void ws_ref(struct ws_conn *c) {
  atomic_fetch_add(&c->refs, 1);
}

void ws_unref(struct ws_conn *c) {
  if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
    return;
  for (struct frame *f = c->head, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  pthread_mutex_destroy(&c->lock);
  pthread_cond_destroy(&c->wake);
  free(c);
}

int ws_is_open(const struct ws_conn *c) {
  return atomic_load(&((struct ws_conn *)c)->open) && !atomic_load(&((struct ws_conn *)c)->closing);
}

void *ws_user(const struct ws_conn *c) {
  return c->user;
}

int ws_queued(const struct ws_conn *c) {
  struct ws_conn *m = (struct ws_conn *)c;
  pthread_mutex_lock(&m->lock);
  int n = m->queued;
  pthread_mutex_unlock(&m->lock);
  return n;
}

static int enqueue(struct ws_conn *c, uint8_t opcode, const void *data, size_t len) {
  if (atomic_load(&c->closing))
    return FF_EIO;
  struct frame *f = malloc(sizeof *f + len);
  if (!f)
    return FF_ENOMEM;
  f->next = NULL;
  f->opcode = opcode;
  f->len = len;
  if (len)
    memcpy(f->data, data, len);
  pthread_mutex_lock(&c->lock);
  int rc = FF_OK;
  if (atomic_load(&c->closing))
    rc = FF_EIO;
  else if (c->queued >= c->o.max_queue_frames || c->queued_bytes + len > c->o.max_queue_bytes)
    rc = FF_EBUSY;
  if (rc == FF_OK) {
    if (c->tail)
      c->tail->next = f;
    else
      c->head = f;
    c->tail = f;
    c->queued++;
    c->queued_bytes += len;
    pthread_cond_signal(&c->wake);
  }
  pthread_mutex_unlock(&c->lock);
  if (rc)
    free(f);
  return rc;
}

int ws_send_text(struct ws_conn *c, const char *data, size_t len) {
  return enqueue(c, U_WEBSOCKET_OPCODE_TEXT, data, len);
}

int ws_send_binary(struct ws_conn *c, const void *data, size_t len) {
  return enqueue(c, U_WEBSOCKET_OPCODE_BINARY, data, len);
}

int ws_send_json(struct ws_conn *c, const json_t *message) {
  size_t len = 0;
  char *text = json_text(message, &len);
  if (!text)
    return FF_ENOMEM;
  int rc = ws_send_text(c, text, len);
  free(text);
  return rc;
}

void ws_close(struct ws_conn *c) {
  pthread_mutex_lock(&c->lock);
  atomic_store(&c->closing, 1);
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
}

/* --- ulfius callbacks ----------------------------------------------------- */

/* The writer: runs on ulfius's manager thread for the connection's life;
 * when it returns, ulfius sends the close frame. */
static void on_manager(const struct _u_request *raw, struct _websocket_manager *m, void *arg) {
  (void)raw;
  struct ws_conn *c = arg;
  m->keep_messages = U_WEBSOCKET_KEEP_NONE; /* ulfius would keep every message otherwise */
  atomic_store(&c->open, 1);
  atomic_fetch_add(&open_count, 1);
  if (c->h.on_open)
    c->h.on_open(c, c->user);
  struct timespec last_ping;
  clock_gettime(CLOCK_MONOTONIC, &last_ping);
  for (;;) {
    pthread_mutex_lock(&c->lock);
    if (!c->head && !atomic_load(&c->closing)) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_nsec += POLL_MS * 1000000L;
      if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&c->wake, &c->lock, &until);
    }
    struct frame *f = c->head;
    if (f) {
      c->head = f->next;
      if (!c->head)
        c->tail = NULL;
      c->queued--;
      c->queued_bytes -= f->len;
    }
    int closing = atomic_load(&c->closing);
    pthread_mutex_unlock(&c->lock);
    if (ulfius_websocket_status(m) != U_WEBSOCKET_STATUS_OPEN) {
      free(f);
      break;
    }
    if (f) {
      int rc = ulfius_websocket_send_message(m, f->opcode, f->len, f->data);
      free(f);
      if (rc != U_OK)
        break;
      continue;
    }
    if (closing)
      break;
    if (c->o.ping_interval_ms > 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long long since =
          (now.tv_sec - last_ping.tv_sec) * 1000LL + (now.tv_nsec - last_ping.tv_nsec) / 1000000LL;
      if (since >= c->o.ping_interval_ms) {
        if (m->ping_sent) {
          log_msg(LOG_INFO, "ws.timeout", "connection %s: no pong, closing", c->id);
          break;
        }
        last_ping = now;
        if (ulfius_websocket_send_message(m, U_WEBSOCKET_OPCODE_PING, 0, NULL) != U_OK)
          break;
      }
    }
  }
  atomic_store(&c->closing, 1);
}

static void on_incoming(const struct _u_request *raw, struct _websocket_manager *m,
                        const struct _websocket_message *msg, void *arg) {
  (void)raw;
  struct ws_conn *c = arg;
  m->keep_messages = U_WEBSOCKET_KEEP_NONE;
  if (atomic_load(&c->closing))
    return;
  if (msg->data_len > c->o.max_message_bytes) {
    log_msg(LOG_WARN, "ws.too_large", "connection %s: message of %zu bytes, closing", c->id,
            msg->data_len);
    ws_close(c);
    return;
  }
  if (c->h.on_message &&
      (msg->opcode == U_WEBSOCKET_OPCODE_TEXT || msg->opcode == U_WEBSOCKET_OPCODE_BINARY))
    c->h.on_message(c, msg->opcode == U_WEBSOCKET_OPCODE_BINARY, msg->data, msg->data_len, c->user);
}

static void on_ulfius_close(const struct _u_request *raw, struct _websocket_manager *m, void *arg) {
  (void)raw;
  (void)m;
  struct ws_conn *c = arg;
  int was_open = atomic_exchange(&c->open, 0);
  atomic_store(&c->closing, 1);
  if (was_open)
    atomic_fetch_sub(&open_count, 1);
  if (c->h.on_close)
    c->h.on_close(c, c->user);
  ws_unref(c); /* the connection's own reference */
}

static int header_has_token(const char *value, const char *token) {
  size_t n = strlen(token);
  for (const char *p = value; p && *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (!strncasecmp(p, token, n) && (!p[n] || p[n] == ',' || p[n] == ' '))
      return 1;
    p = strchr(p, ',');
  }
  return 0;
}

int ws_accept(struct request *rq, const struct ws_handlers *h, const struct ws_options *opts,
              void *user, struct ws_conn **out) {
  if (out)
    *out = NULL;
  const char *upgrade = http_header_in(rq, "Upgrade");
  const char *connection = http_header_in(rq, "Connection");
  const char *version = http_header_in(rq, "Sec-WebSocket-Version");
  if (!upgrade || strcasecmp(upgrade, "websocket") || !header_has_token(connection, "upgrade") ||
      !http_header_in(rq, "Sec-WebSocket-Key") || !version || strcmp(version, "13")) {
    http_error(rq, 400, "websocket_required",
               "this endpoint is a WebSocket: send Upgrade: websocket, version 13");
    return FF_EINVAL;
  }
  struct ws_conn *c = calloc(1, sizeof *c);
  if (!c) {
    http_error(rq, 500, "internal", "out of memory");
    return FF_ENOMEM;
  }
  pthread_mutex_init(&c->lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_cond_init(&c->wake, &ca);
  pthread_condattr_destroy(&ca);
  atomic_init(&c->refs, out ? 2 : 1);
  c->h = *h;
  c->user = user;
  c->o.max_queue_frames = opts && opts->max_queue_frames ? opts->max_queue_frames : 256;
  c->o.max_queue_bytes = opts && opts->max_queue_bytes ? opts->max_queue_bytes : 8u << 20;
  c->o.max_message_bytes = opts && opts->max_message_bytes ? opts->max_message_bytes : 1u << 20;
  c->o.ping_interval_ms = opts ? opts->ping_interval_ms : 20000;
  snprintf(c->id, sizeof c->id, "%s", rq->id);
  if (ulfius_set_websocket_response(rq->res, NULL, NULL, on_manager, c, on_incoming, c,
                                    on_ulfius_close, c) != U_OK) {
    ws_unref(c);
    if (out)
      ws_unref(c);
    http_error(rq, 500, "internal", "cannot set up the WebSocket");
    return FF_EINTERNAL;
  }
  rq->status = 101;
  if (out)
    *out = c;
  return FF_OK;
}
