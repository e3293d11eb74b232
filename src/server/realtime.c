/* realtime.c — the hub's events as Server-Sent Events (GET /v1/events) and
 * over a WebSocket (GET /v1/ws, subscribe/unsubscribe messages).
 *
 * The stream opens with a retry hint and a comment (so proxies and clients
 * see the headers at once), then carries one `id:`/`data:` message per event,
 * a `: keep-alive` comment whenever nothing was sent for
 * cfg.sse_keepalive_s, and control messages without an id (stream.reset,
 * stream.dropped). A client that cannot keep up is cut off by the hub.
 */
#include "realtime.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "hub.h"
#include "server.h"
#include "websocket.h"

struct sse_client {
  struct server *server;
  struct hub_sub *sub;
  _Atomic(struct http_stream *) stream; /* set once the stream exists */
  int opened;   /* the opening lines were sent */
  int reset;    /* send stream.reset after them */
  int finished; /* the last message was sent: end at the next read */
  struct hub_event *pending;
  size_t pending_off;
};

/* --- the caller's view: tenant, sites, topics -------------------------------------- */

/* Parses "a,b,c" into ids; -1 on anything else. */
static int parse_ids(const char *text, int64_t *out, int max) {
  int n = 0;
  for (const char *p = text; *p;) {
    int64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 18)
      v = v * 10 + (*p++ - '0'), digits++;
    if (!digits || v <= 0 || n >= max || (*p && *p != ','))
      return -1;
    out[n++] = v;
    if (*p == ',' && !*++p)
      return -1;
  }
  return n;
}

static int parse_topics(const char *text, unsigned *out) {
  *out = 0;
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, ",");
    unsigned bit = hub_topic_parse(p, len);
    if (!bit)
      return -1;
    *out |= bit;
    p += len;
    if (*p == ',' && !*++p)
      return -1;
  }
  return *out ? 0 : -1;
}

/* Fills the filter from the caller and the query (tenant_id for an
 * unscoped system admin, site_id, topics). On failure the reply is written
 * and -1 returned. */
static int caller_filter(struct request *rq, struct hub_filter *f) {
  memset(f, 0, sizeof *f);
  f->topics = HUB_ALL_TOPICS;
  f->tenant_id = access_tenant(rq);
  f->bound_site = access_site(rq);
  const char *tenant = http_query(rq, "tenant_id");
  if (tenant) {
    int64_t id;
    if (parse_ids(tenant, &id, 1) != 1) {
      http_error(rq, 400, "invalid_field", "tenant_id must be a tenant id");
      return -1;
    }
    if (f->tenant_id && f->tenant_id != id) {
      http_error(rq, 404, "not_found", "no such tenant");
      return -1;
    }
    if (!f->tenant_id) {
      struct db_conn *c = access_db(rq);
      if (!c)
        return -1;
      struct db_rows *rows = NULL;
      struct ff_error err = {0};
      int rc = db_query(c, "SELECT id FROM tenants WHERE id = $1", DB_ARGS(db_int(id)), &rows,
                        &err);
      db_release(c);
      int found = !rc && db_rows_count(rows) == 1;
      db_rows_free(rows);
      if (rc) {
        http_fail(rq, rc, &err);
        return -1;
      }
      if (!found) {
        http_error(rq, 404, "not_found", "no such tenant");
        return -1;
      }
      f->tenant_id = id;
    }
  }
  if (!f->tenant_id) {
    http_error(rq, 400, "missing_field",
               "query parameter 'tenant_id' is required (or switch into a tenant first)");
    return -1;
  }
  const char *sites = http_query(rq, "site_id");
  if (sites) {
    f->site_count = parse_ids(sites, f->sites, HUB_MAX_SITES);
    if (f->site_count < 0) {
      http_error(rq, 400, "invalid_field",
                 "site_id must be a site id or a comma-separated list of at most %d",
                 HUB_MAX_SITES);
      return -1;
    }
    for (int i = 0; i < f->site_count; i++)
      if (f->bound_site && f->sites[i] != f->bound_site) {
        http_error(rq, 404, "not_found", "no such site");
        return -1;
      }
  }
  const char *topics = http_query(rq, "topics");
  if (topics && parse_topics(topics, &f->topics)) {
    http_error(rq, 400, "invalid_field",
               "topics must be a comma-separated list of visit, camera, worker, command, job");
    return -1;
  }
  return 0;
}

/* --- the stream ------------------------------------------------------------------------ */

static void sse_drop(void *arg) {
  struct sse_client *c = arg;
  struct http_stream *st = atomic_load(&c->stream);
  if (st) /* else the first read finds the client dropped */
    http_stream_cut(st);
}

static size_t put_text(char *buf, size_t max, const char *text) {
  size_t len = strlen(text);
  if (len > max)
    return 0; /* the caller's buffer always has room for a control message */
  memcpy(buf, text, len);
  return len;
}

static size_t sse_read(void *state, struct http_stream *st, char *buf, size_t max) {
  struct sse_client *c = state;
  size_t n = 0;
  if (c->finished)
    return 0;
  if (!c->opened) {
    char head[96];
    snprintf(head, sizeof head, "retry: %d\n: footfall events\n\n", c->server->cfg.sse_retry_ms);
    n += put_text(buf, max, head);
    if (c->reset)
      n += put_text(buf + n, max - n,
                    "data: {\"type\":\"stream.reset\",\"data\":{\"reason\":\"history_exhausted\"}}"
                    "\n\n");
    c->opened = 1;
  }
  for (;;) {
    if (c->pending) {
      size_t left = c->pending->sse_len - c->pending_off;
      size_t take = left < max - n ? left : max - n;
      memcpy(buf + n, c->pending->sse + c->pending_off, take);
      n += take;
      c->pending_off += take;
      if (c->pending_off < c->pending->sse_len)
        return n; /* the buffer is full */
      hub_event_release(c->pending);
      c->pending = NULL;
    }
    /* Fill the buffer with what is queued; wait only when nothing was
     * written yet. */
    int wait_ms = n ? 0 : c->server->cfg.sse_keepalive_s * 1000;
    int rc = hub_next(c->sub, wait_ms, &c->pending);
    c->pending_off = 0;
    if (rc == 1)
      continue;
    if (n)
      return n;
    if (rc < 0) {
      c->finished = 1;
      return put_text(buf, max,
                      "data: {\"type\":\"stream.dropped\",\"data\":{\"reason\":\"too_slow\"}}\n\n");
    }
    if (http_stream_closing(st))
      return 0;
    return put_text(buf, max, ": keep-alive\n\n");
  }
}

static void sse_wake(void *state) {
  struct sse_client *c = state;
  hub_wake(c->sub);
}

static void sse_release(void *state) {
  struct sse_client *c = state;
  hub_unsubscribe(c->sub);
  hub_event_release(c->pending);
  free(c);
}

static const struct http_stream_ops sse_ops = {sse_read, sse_wake, sse_release};

void realtime_events(struct request *rq) {
  struct hub_filter f;
  if (caller_filter(rq, &f))
    return;
  const char *last = http_header_in(rq, "Last-Event-ID");
  if (!last || !*last)
    last = http_query(rq, "last_event_id");
  struct sse_client *c = calloc(1, sizeof *c);
  if (!c) {
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  c->server = rq->server;
  c->sub = hub_subscribe(rq->server, &f, last && *last ? last : NULL, &c->reset, sse_drop, c);
  if (!c->sub) {
    free(c);
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  atomic_store(&c->stream, http_stream(rq, "text/event-stream; charset=utf-8", 0, &sse_ops, c));
}

/* --- the WebSocket ---------------------------------------------------------------------- */

struct ws_client {
  struct server *server;
  struct hub_sub *sub;
  struct ws_conn *conn;
  int64_t tenant_id, bound_site;
  unsigned topics; /* mirrors the hub filter (changed only on the reader thread) */
  int64_t sites[HUB_MAX_SITES];
  int site_count;
};

static int ws_push(void *arg, const struct hub_event *e) {
  struct ws_client *c = arg;
  int rc = ws_send_text(c->conn, e->json, e->json_len);
  return rc == FF_EBUSY ? -1 : 0; /* closed: on_close unsubscribes soon */
}

static void ws_drop(void *arg) {
  struct ws_client *c = arg;
  static const char msg[] = "{\"type\":\"stream.dropped\",\"data\":{\"reason\":\"too_slow\"}}";
  ws_send_text(c->conn, msg, sizeof msg - 1); /* the queue is full: usually refused */
  ws_close(c->conn);
}

static void ws_reply_error(struct ws_conn *conn, const char *code, const char *message) {
  json_t *m = json_pack("{s:s,s:{s:s,s:s}}", "type", "error", "error", "code", code, "message",
                        message);
  ws_send_json(conn, m);
  json_decref(m);
}

static json_t *topic_names(unsigned bits) {
  static const char *const names[] = {"visit", "camera", "worker", "command", "job"};
  json_t *a = json_array();
  for (int i = 0; i < 5; i++)
    if (bits & (1u << i))
      json_array_append_new(a, json_string(names[i]));
  return a;
}

/* {"type": "subscribe"|"unsubscribe", "topics": [...], "sites": [...],
 *  "last_event_id": "..." (subscribe)} */
static void ws_message(struct ws_conn *conn, int binary, const char *data, size_t len,
                       void *user) {
  struct ws_client *c = user;
  json_error_t jerr;
  json_t *m = binary ? NULL : json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
  const char *type = json_string_value(json_object_get(m, "type"));
  json_t *topics = json_object_get(m, "topics"), *sites = json_object_get(m, "sites");
  json_t *last = json_object_get(m, "last_event_id");
  int subscribe = type && !strcmp(type, "subscribe");
  const char *problem = NULL;
  if (!json_is_object(m) || (!subscribe && (!type || strcmp(type, "unsubscribe"))))
    problem = "send {\"type\": \"subscribe\" or \"unsubscribe\", \"topics\": [...], "
              "\"sites\": [...]}";
  else if ((topics && !json_is_array(topics)) || (sites && !json_is_array(sites)) ||
           (last && (!subscribe || !json_is_string(last))))
    problem = "topics and sites are arrays; last_event_id is a string (subscribe only)";
  const char *key;
  json_t *v;
  if (!problem) {
    json_object_foreach(m, key, v) {
      if (strcmp(key, "type") && strcmp(key, "topics") && strcmp(key, "sites") &&
          strcmp(key, "last_event_id"))
        problem = "unknown member";
    }
  }
  unsigned bits = 0;
  size_t i;
  if (!problem && topics)
    json_array_foreach(topics, i, v) {
      const char *t = json_string_value(v);
      unsigned bit = t ? hub_topic_parse(t, strlen(t)) : 0;
      if (!bit)
        problem = "topics are visit, camera, worker, command, job";
      bits |= bit;
    }
  int64_t list[HUB_MAX_SITES];
  int n = 0;
  if (!problem && sites) {
    if (json_array_size(sites) > HUB_MAX_SITES)
      problem = "at most 32 sites";
    json_array_foreach(sites, i, v) {
      if (problem)
        break;
      if (!json_is_integer(v) || json_integer_value(v) <= 0)
        problem = "sites are site ids";
      else if (c->bound_site && json_integer_value(v) != c->bound_site)
        problem = "no such site";
      else
        list[n++] = json_integer_value(v);
    }
  }
  if (problem) {
    ws_reply_error(conn, strcmp(problem, "no such site") ? "invalid_field" : "not_found", problem);
    json_decref(m);
    return;
  }
  if (!topics && (subscribe || !sites))
    bits = HUB_ALL_TOPICS; /* subscribe to all; unsubscribe from all unless only sites given */
  if (subscribe) {
    c->topics |= bits;
    if (sites) {
      memcpy(c->sites, list, sizeof list[0] * (size_t)n);
      c->site_count = n;
    }
  } else {
    c->topics &= ~bits;
    for (int k = 0; k < n; k++)
      for (int j = 0; j < c->site_count; j++)
        if (c->sites[j] == list[k])
          c->sites[j--] = c->sites[--c->site_count];
  }
  hub_set_filter(c->sub, c->topics, c->sites, c->site_count);
  json_t *site_list = json_array();
  for (int k = 0; k < c->site_count; k++)
    json_array_append_new(site_list, json_integer(c->sites[k]));
  json_t *reply = json_pack("{s:s,s:o,s:o}", "type", "subscribed", "topics", topic_names(c->topics),
                            "sites", site_list);
  ws_send_json(conn, reply);
  json_decref(reply);
  if (last && hub_resume(c->sub, json_string_value(last))) {
    static const char msg[] =
        "{\"type\":\"stream.reset\",\"data\":{\"reason\":\"history_exhausted\"}}";
    ws_send_text(conn, msg, sizeof msg - 1);
  }
  json_decref(m);
}

static void ws_closed(struct ws_conn *conn, void *user) {
  (void)conn;
  struct ws_client *c = user;
  hub_unsubscribe(c->sub);
  free(c);
}

static const struct ws_handlers ws_realtime = {NULL, ws_message, ws_closed};

void realtime_ws(struct request *rq) {
  struct hub_filter f;
  if (caller_filter(rq, &f))
    return;
  if (!http_query(rq, "topics"))
    f.topics = 0; /* nothing until the client subscribes */
  struct ws_client *c = calloc(1, sizeof *c);
  if (!c) {
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  c->server = rq->server;
  c->tenant_id = f.tenant_id;
  c->bound_site = f.bound_site;
  c->topics = f.topics;
  c->site_count = f.site_count;
  memcpy(c->sites, f.sites, sizeof c->sites);
  struct ws_options o = {.max_queue_frames = rq->server->cfg.realtime_client_queue,
                         .max_queue_bytes = (size_t)rq->server->cfg.realtime_client_queue *
                                            HUB_MAX_EVENT_BYTES,
                         .max_message_bytes = 4096,
                         .ping_interval_ms = rq->server->cfg.sse_keepalive_s * 1000};
  /* The upgrade happens when this handler has returned, so no message
   * arrives before the subscriber exists. */
  if (ws_accept(rq, &ws_realtime, &o, c, &c->conn)) {
    free(c);
    return;
  }
  c->sub = hub_subscribe_push(rq->server, &f, ws_push, ws_drop, c);
  if (!c->sub)
    ws_close(c->conn);
  ws_unref(c->conn);
}
