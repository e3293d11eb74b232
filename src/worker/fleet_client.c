#include "fleet_client.h"

#include <glob.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

#include "atomic_file.h"
#include "backoff.h"
#include "endpoint.h"
#include "event.h"
#include "http_client.h"
#include "log.h"
#include "worker.h"

#define DONE_MAX 256         /* finished command ids remembered */
#define QUEUE_MAX 256        /* commands waiting for the executor */
#define STREAMS_MAX 8        /* live streams at once */
#define ANSWER_MAX (4 << 20) /* largest register/heartbeat answer */
#define FLEET_CLIENT_VERSION "footfall-worker/1"
/* A channel send that cannot finish in this time (a server or network that
 * stopped reading) fails, and the channel is dropped and dialled again. */
#define CHANNEL_SEND_TIMEOUT_MS 2000
/* On stop, how long the close handshake may take before the socket is shut. */
#define CHANNEL_CLOSE_GRACE_MS 1000
/* The "offline" heartbeat on the way out waits for the server at most this. */
#define OFFLINE_TIMEOUT_MS 2000

struct done {
  int64_t id;
  char status[16];                  /* completed | failed */
  json_t *result;                   /* completed */
  char error[FF_ERROR_MESSAGE_MAX]; /* failed */
};

struct stream {
  int camera_id;
  double fps;
  int overlay;
  pthread_t thread;
  atomic_int stop;
  atomic_llong frames, dropped;
  atomic_int used;
  struct fleet_client *fc;
};

struct fleet_client {
  struct worker *w;
  char url[512];      /* server base URL */
  char endpoint[256]; /* where the server can reach our endpoint */
  pthread_t heartbeat_thread, channel_thread, command_thread;
  int channel_started;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stopping;
  atomic_int cancel; /* set with stopping: requests in flight give up */

  /* registration and heartbeats (lock) */
  int registered;
  int64_t heartbeats, failures, last_heartbeat_wall_ms, staff_version;
  char last_error[FF_ERROR_MESSAGE_MAX];

  /* The channel (lock): the open connection or NULL, and how many senders
   * are using it. Nobody sends while holding `lock` (a send may block up to
   * CHANNEL_SEND_TIMEOUT_MS); the connection's callback waits for ws_users
   * to reach 0 before it lets ulfius free the connection. ws_sock is a dup
   * of its socket, for shutdown(): a send that failed half-way, or a stop
   * the server does not answer, ends the connection from our side. */
  struct _websocket_manager *ws;
  int ws_users, ws_sock;
  pthread_mutex_t ws_send_lock; /* one message at a time on the socket */
  int64_t channel_connects;

  /* commands (lock): the queue, ids in flight, the finished ones */
  json_t *queue[QUEUE_MAX];
  int queue_head, queue_count;
  int64_t running_id;
  struct done done[DONE_MAX];
  int done_count, done_next;
  int64_t commands_run, commands_repeated;

  /* Live streams: started and ended by the command thread, ended by
   * fleet_client_stop; streams_lock guards the table and streams_closed. */
  pthread_mutex_t streams_lock;
  int streams_closed;
  struct stream streams[STREAMS_MAX];
};

/* --- sleeping that a stop interrupts ---------------------------------------------- */

/* Waits up to ms; returns 1 when stopping. Call with lock held. */
static int wait_ms(struct fleet_client *fc, int64_t ms) {
  if (fc->stopping)
    return 1;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  int64_t ns = until.tv_nsec + ms * 1000000;
  until.tv_sec += ns / 1000000000;
  until.tv_nsec = ns % 1000000000;
  pthread_cond_timedwait(&fc->wake, &fc->lock, &until);
  return fc->stopping;
}

/* --- finished commands, kept on disk ------------------------------------------------ */

static void done_path(struct fleet_client *fc, char *out, size_t size) {
  snprintf(out, size, "%s/commands.json", fc->w->state_dir);
}

static void done_load(struct fleet_client *fc) {
  char path[600];
  done_path(fc, path, sizeof path);
  char *text = NULL;
  size_t len = 0;
  if (read_small_file(path, 8 << 20, &text, &len, NULL))
    return;
  json_t *root = json_loadb(text, len, 0, NULL);
  free(text);
  size_t i;
  json_t *d;
  json_array_foreach(json_object_get(root, "done"), i, d) {
    if (fc->done_count >= DONE_MAX)
      break;
    struct done *x = &fc->done[fc->done_count++];
    x->id = json_integer_value(json_object_get(d, "id"));
    snprintf(x->status, sizeof x->status, "%s",
             json_string_value(json_object_get(d, "status")) ?: "completed");
    x->result = json_incref(json_object_get(d, "result"));
    snprintf(x->error, sizeof x->error, "%s", json_string_value(json_object_get(d, "error")) ?: "");
  }
  fc->done_next = fc->done_count % DONE_MAX;
  json_decref(root);
}

/* lock held */
static void done_save(struct fleet_client *fc) {
  json_t *list = json_array();
  for (int i = 0; i < fc->done_count; i++) {
    struct done *x = &fc->done[i];
    json_array_append_new(list, json_pack("{s:I,s:s,s:O?,s:s?}", "id", (json_int_t)x->id, "status",
                                          x->status, "result", x->result, "error",
                                          x->error[0] ? x->error : NULL));
  }
  json_t *root = json_pack("{s:o}", "done", list);
  char *text = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  char path[600];
  done_path(fc, path, sizeof path);
  struct ff_error err = {0};
  if (!text || atomic_write(path, text, strlen(text), &err))
    log_msg(LOG_WARN, "worker.commands", "cannot keep the finished command ids: %s", err.message);
  free(text);
}

/* lock held */
static struct done *done_find(struct fleet_client *fc, int64_t id) {
  for (int i = 0; i < fc->done_count; i++)
    if (fc->done[i].id == id)
      return &fc->done[i];
  return NULL;
}

/* lock held; takes result */
static void done_add(struct fleet_client *fc, int64_t id, const char *status, json_t *result,
                     const char *error) {
  struct done *x = &fc->done[fc->done_next];
  if (fc->done_count == DONE_MAX)
    json_decref(x->result);
  else
    fc->done_count++;
  fc->done_next = (fc->done_next + 1) % DONE_MAX;
  x->id = id;
  snprintf(x->status, sizeof x->status, "%s", status);
  x->result = result;
  snprintf(x->error, sizeof x->error, "%s", error ? error : "");
  done_save(fc);
}

/* --- talking to the server ------------------------------------------------------------ */

/* cancellable: given up when the client stops (all but the last "offline"). */
static int post_json(struct fleet_client *fc, const char *path, json_t *body, int timeout_ms,
                     int cancellable, struct http_response *res, struct ff_error *err) {
  char url[700];
  snprintf(url, sizeof url, "%s%s", fc->url, path);
  char *text = json_dumps(body, JSON_COMPACT);
  if (!text)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  int rc = http_request_cancellable("POST", url, fc->w->cfg.worker_api_key, text, strlen(text),
                                    timeout_ms, ANSWER_MAX, cancellable ? &fc->cancel : NULL, res,
                                    err);
  free(text);
  return rc;
}

/* Sends one message over the channel when it is open. Returns 1 when sent.
 * A failed send may have left half a frame on the socket: the connection is
 * shut, the channel thread dials again. */
static int channel_send(struct fleet_client *fc, int opcode, const char *data, size_t len) {
  pthread_mutex_lock(&fc->lock);
  struct _websocket_manager *ws = fc->ws;
  if (ws)
    fc->ws_users++;
  pthread_mutex_unlock(&fc->lock);
  if (!ws)
    return 0;
  pthread_mutex_lock(&fc->ws_send_lock);
  int sent = ulfius_websocket_send_message(ws, opcode, len, data) == U_OK;
  pthread_mutex_unlock(&fc->ws_send_lock);
  pthread_mutex_lock(&fc->lock);
  if (!sent && fc->ws == ws && fc->ws_sock >= 0)
    shutdown(fc->ws_sock, SHUT_RDWR);
  fc->ws_users--;
  pthread_cond_broadcast(&fc->wake);
  pthread_mutex_unlock(&fc->lock);
  if (!sent)
    log_msg(LOG_WARN, "worker.channel", "a message could not be sent: closing the channel");
  return sent;
}

/* A command update, over the channel when it is open, else over HTTP. */
static void send_update(struct fleet_client *fc, int64_t id, const char *status, json_t *result,
                        const char *error) {
  json_t *m =
      json_pack("{s:s,s:I,s:s}", "type", "command_update", "id", (json_int_t)id, "status", status);
  if (result)
    json_object_set(m, "result", result);
  if (error)
    json_object_set_new(m, "error", json_string(error));
  char *text = json_dumps(m, JSON_COMPACT);
  int sent = text && channel_send(fc, U_WEBSOCKET_OPCODE_TEXT, text, strlen(text));
  free(text);
  if (sent) {
    json_decref(m);
    return;
  }
  json_object_del(m, "type");
  json_object_del(m, "id");
  json_object_set_new(m, "worker_id", json_string(fc->w->worker_id));
  char path[64];
  snprintf(path, sizeof path, "/v1/worker/commands/%lld", (long long)id);
  struct http_response res;
  struct ff_error err = {0};
  int rc = post_json(fc, path, m, fc->w->cfg.upload_timeout_ms, 1, &res, &err);
  if (rc == FF_OK && res.status != 200)
    log_msg(LOG_WARN, "worker.commands", "command %lld %s: the server answered %ld", (long long)id,
            status, res.status);
  else if (rc)
    log_msg(LOG_WARN, "worker.commands", "command %lld %s not sent: %s (the server sends it again)",
            (long long)id, status, err.message);
  if (rc == FF_OK)
    http_response_free(&res);
  json_decref(m);
}

/* --- the command executor ------------------------------------------------------------------- */

/* Queues a command message {"id", "type", "params", ...} (takes a
 * reference) and acknowledges it: received, will run. One that is queued or
 * running already (the server asks again when it heard nothing for a while)
 * is acknowledged again, not queued twice; one finished already is answered
 * from the record when its turn comes. */
static void enqueue(struct fleet_client *fc, json_t *cmd) {
  if (!json_is_integer(json_object_get(cmd, "id")) ||
      !json_is_string(json_object_get(cmd, "type"))) {
    log_msg(LOG_WARN, "worker.commands", "a command without id or type was ignored");
    return;
  }
  int64_t id = json_integer_value(json_object_get(cmd, "id"));
  pthread_mutex_lock(&fc->lock);
  int dup = fc->running_id == id;
  for (int i = 0; i < fc->queue_count && !dup; i++)
    dup = json_integer_value(json_object_get(fc->queue[(fc->queue_head + i) % QUEUE_MAX], "id")) ==
          id;
  int queued = !dup && fc->queue_count < QUEUE_MAX;
  if (queued) {
    fc->queue[(fc->queue_head + fc->queue_count++) % QUEUE_MAX] = json_incref(cmd);
    pthread_cond_broadcast(&fc->wake);
  }
  pthread_mutex_unlock(&fc->lock);
  if (queued || dup) /* a full queue: not acknowledged, the server sends it again */
    send_update(fc, id, "acknowledged", NULL, NULL);
}

static void run_command(struct fleet_client *fc, json_t *cmd) {
  int64_t id = json_integer_value(json_object_get(cmd, "id"));
  const char *type = json_string_value(json_object_get(cmd, "type"));
  json_t *params = json_object_get(cmd, "params");
  pthread_mutex_lock(&fc->lock);
  struct done *d = done_find(fc, id);
  char status[16] = "", error[FF_ERROR_MESSAGE_MAX] = "";
  json_t *result = NULL;
  if (d) {
    snprintf(status, sizeof status, "%s", d->status);
    snprintf(error, sizeof error, "%s", d->error);
    result = json_incref(d->result);
    fc->commands_repeated++;
  }
  pthread_mutex_unlock(&fc->lock);
  if (status[0]) { /* done before: answer again, run nothing */
    log_msg(LOG_INFO, "worker.commands", "command %lld (%s) was done already: answering again",
            (long long)id, type);
    send_update(fc, id, status, result, error[0] ? error : NULL);
    json_decref(result);
    return;
  }
  int ends_process = !strcmp(type, "shutdown") || !strcmp(type, "restart");
  if (ends_process) {
    /* Recorded and reported before it happens, so it never runs twice. */
    json_t *r = json_pack("{s:s}", "accepted", type);
    pthread_mutex_lock(&fc->lock);
    done_add(fc, id, "completed", json_incref(r), NULL);
    fc->commands_run++;
    pthread_mutex_unlock(&fc->lock);
    send_update(fc, id, "completed", r, NULL);
    json_decref(r);
    log_msg(LOG_INFO, "worker.commands", "command %lld: %s", (long long)id, type);
    json_t *ignored = NULL;
    worker_command(fc->w, type, params, &ignored, NULL);
    json_decref(ignored);
    return;
  }
  struct ff_error err = {0};
  json_t *out = NULL, *empty = params ? NULL : json_object();
  int rc = worker_command(fc->w, type, params ? params : empty, &out, &err);
  json_decref(empty);
  pthread_mutex_lock(&fc->streams_lock); /* closed first thing on the way out */
  int interrupted = rc && fc->streams_closed;
  pthread_mutex_unlock(&fc->streams_lock);
  if (interrupted) {
    /* Cut short by the stop (a start_streaming waiting for its camera, say):
     * not finished, so not recorded; the server sends it to the next start. */
    log_msg(LOG_INFO, "worker.commands", "command %lld (%s) interrupted by the stop: %s",
            (long long)id, type, err.message);
    json_decref(out);
    return;
  }
  log_msg(rc ? LOG_WARN : LOG_INFO, "worker.commands", "command %lld (%s) %s%s%s", (long long)id,
          type, rc ? "failed: " : "completed", rc ? err.message : "", "");
  pthread_mutex_lock(&fc->lock);
  done_add(fc, id, rc ? "failed" : "completed", rc ? NULL : json_incref(out),
           rc ? err.message : NULL);
  fc->commands_run++;
  pthread_mutex_unlock(&fc->lock);
  send_update(fc, id, rc ? "failed" : "completed", out, rc ? err.message : NULL);
  json_decref(out);
}

static void *command_main(void *arg) {
  struct fleet_client *fc = arg;
  pthread_mutex_lock(&fc->lock);
  while (!fc->stopping) {
    if (!fc->queue_count) {
      wait_ms(fc, 1000);
      continue;
    }
    json_t *cmd = fc->queue[fc->queue_head];
    fc->queue_head = (fc->queue_head + 1) % QUEUE_MAX;
    fc->queue_count--;
    fc->running_id = json_integer_value(json_object_get(cmd, "id"));
    pthread_mutex_unlock(&fc->lock);
    run_command(fc, cmd);
    json_decref(cmd);
    pthread_mutex_lock(&fc->lock);
    fc->running_id = 0;
  }
  pthread_mutex_unlock(&fc->lock);
  return NULL;
}

/* --- registration and heartbeats ---------------------------------------------------------------
 */

/* The V4L2 devices this machine has (a server may lease a v4l2 camera to
 * the worker that has the device). */
static json_t *local_devices(void) {
  json_t *list = json_array();
  glob_t g;
  if (glob("/dev/video*", 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc && i < 32; i++)
      json_array_append_new(list, json_string(g.gl_pathv[i]));
    globfree(&g);
  }
  return list;
}

static json_t *hello_body(struct fleet_client *fc, int registering, const char *status_override) {
  struct worker *w = fc->w;
  json_t *st = worker_status_json(w);
  json_t *cams = json_array();
  json_t *leases = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(st, "cameras"), i, c) {
    json_array_append(cams, c);
  }
  pthread_mutex_lock(&w->lease_lock);
  for (int k = 0; k < w->lease_count; k++)
    if (w->leases[k].running)
      json_array_append_new(leases, json_pack("{s:i,s:I}", "camera_id", w->leases[k].camera_id,
                                              "generation", (json_int_t)w->leases[k].generation));
  pthread_mutex_unlock(&w->lease_lock);
  json_t *local = json_array();
  for (int k = 0; k < w->local_count; k++)
    json_array_append_new(local, json_integer(w->local_ids[k]));
  int streams = 0;
  for (int k = 0; k < STREAMS_MAX; k++)
    streams += atomic_load(&fc->streams[k].used);
  const char *status =
      status_override ? status_override : json_string_value(json_object_get(st, "status"));
  json_t *caps = json_pack(
      "{s:i,s:i,s:i,s:o,s:O,s:O,s:O,s:b}", "max_cameras", w->cfg.max_cameras, "cameras",
      (int)json_array_size(cams), "active_streams", streams, "local_devices", local_devices(),
      "outbox", json_object_get(st, "outbox"), "uploader", json_object_get(st, "uploader"), "staff",
      json_object_get(st, "staff"), "channel", w->cfg.channel != 0);
  json_t *body =
      json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:I}", "worker_id", w->worker_id, "status", status,
                "cameras", cams, "leases", leases, "local_cameras", local, "capabilities", caps,
                "heartbeat_interval_ms", (json_int_t)w->cfg.heartbeat_interval_ms);
  if (fc->endpoint[0]) {
    json_object_set_new(body, "endpoint_url", json_string(fc->endpoint));
    /* so the server can read the endpoint for live views (kept in its memory only) */
    json_object_set_new(body, "endpoint_secret", json_string(w->endpoint_secret));
  }
  if (registering) {
    char host[128] = "worker";
    gethostname(host, sizeof host - 1);
    json_object_set_new(body, "name", json_string(w->cfg.worker_name ? w->cfg.worker_name : host));
    json_object_set_new(body, "version", json_string(FLEET_CLIENT_VERSION));
  }
  json_decref(st);
  return body;
}

/* One register or heartbeat round; applies the answer. */
static int contact(struct fleet_client *fc, int registering, const char *status_override,
                   struct ff_error *err) {
  json_t *body = hello_body(fc, registering, status_override);
  int64_t sent = monotonic_ms();
  struct http_response res;
  int timeout = fc->w->cfg.upload_timeout_ms;
  if (status_override && timeout > OFFLINE_TIMEOUT_MS) /* on the way out: do not linger */
    timeout = OFFLINE_TIMEOUT_MS;
  int rc = post_json(fc, registering ? "/v1/worker/register" : "/v1/worker/heartbeat", body,
                     timeout, !status_override, &res, err);
  json_decref(body);
  if (rc)
    return rc;
  json_t *answer = NULL;
  if (res.status == 200)
    answer = json_loadb(res.body, res.len, 0, NULL);
  if (res.status == 404 && strstr(res.body, "worker_unknown")) {
    http_response_free(&res);
    pthread_mutex_lock(&fc->lock);
    fc->registered = 0;
    pthread_mutex_unlock(&fc->lock);
    log_msg(LOG_WARN, "worker.fleet", "the server does not know this worker: registering again");
    return ff_fail(err, FF_ENOTFOUND, "the server forgot this worker");
  }
  if (!answer) {
    rc = ff_fail(err, FF_EIO, "%s: HTTP %ld %.120s", registering ? "register" : "heartbeat",
                 res.status, res.body);
    http_response_free(&res);
    return rc;
  }
  http_response_free(&res);
  if (status_override) { /* going away: nothing more to apply */
    json_decref(answer);
    return FF_OK;
  }
  worker_apply_leases(fc->w, json_object_get(answer, "leases"), sent);
  size_t i;
  json_t *cmd;
  json_array_foreach(json_object_get(answer, "commands"), i, cmd) enqueue(fc, cmd);
  int64_t staff = json_integer_value(json_object_get(answer, "staff_version"));
  pthread_mutex_lock(&fc->lock);
  int64_t old_staff = fc->staff_version;
  fc->staff_version = staff;
  if (registering) {
    fc->registered = 1;
    pthread_cond_broadcast(&fc->wake); /* the channel may dial now */
  }
  fc->heartbeats++;
  fc->last_heartbeat_wall_ms = wall_ms();
  fc->last_error[0] = 0;
  pthread_mutex_unlock(&fc->lock);
  if (old_staff && staff != old_staff) {
    struct ff_error serr = {0};
    if (staffcache_refresh(fc->w->staff, fc->url, fc->w->cfg.worker_api_key,
                           fc->w->cfg.upload_timeout_ms, &serr))
      log_msg(LOG_WARN, "worker.staff", "staff list %lld not fetched: %s", (long long)staff,
              serr.message);
  }
  if (registering)
    log_msg(LOG_INFO, "worker.fleet", "registered as %s (server id %lld)", fc->w->worker_id,
            (long long)json_integer_value(json_object_get(answer, "id")));
  json_decref(answer);
  return FF_OK;
}

static void *heartbeat_main(void *arg) {
  struct fleet_client *fc = arg;
  struct backoff b;
  backoff_init(&b, 500, fc->w->cfg.heartbeat_interval_ms);
  pthread_mutex_lock(&fc->lock);
  while (!fc->stopping) {
    int registering = !fc->registered;
    pthread_mutex_unlock(&fc->lock);
    struct ff_error err = {0};
    int rc = contact(fc, registering, NULL, &err);
    if (rc == FF_ENOTFOUND) /* forgotten: register at once */
      rc = contact(fc, 1, NULL, &err);
    pthread_mutex_lock(&fc->lock);
    if (rc) {
      fc->failures++;
      snprintf(fc->last_error, sizeof fc->last_error, "%s", err.message);
      pthread_mutex_unlock(&fc->lock);
      log_msg(LOG_WARN, "worker.fleet", "%s failed: %s", registering ? "register" : "heartbeat",
              err.message);
      pthread_mutex_lock(&fc->lock);
      /* Not registered yet: retry sooner, with backoff; else the next beat. */
      wait_ms(fc, fc->registered ? fc->w->cfg.heartbeat_interval_ms : backoff_next_ms(&b));
      continue;
    }
    backoff_reset(&b);
    wait_ms(fc, fc->w->cfg.heartbeat_interval_ms);
  }
  pthread_mutex_unlock(&fc->lock);
  return NULL;
}

/* --- the channel ------------------------------------------------------------------------------ */

static void on_channel_manager(const struct _u_request *req, struct _websocket_manager *m,
                               void *arg) {
  (void)req;
  struct fleet_client *fc = arg;
  m->keep_messages = U_WEBSOCKET_KEEP_NONE;
  /* Bounded sends: a server that stops reading makes a send fail, not hang. */
  struct timeval tv = {CHANNEL_SEND_TIMEOUT_MS / 1000, (CHANNEL_SEND_TIMEOUT_MS % 1000) * 1000};
  setsockopt(m->tcp_sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int sock = dup(m->tcp_sock);
  pthread_mutex_lock(&fc->lock);
  fc->ws = m;
  fc->ws_sock = sock;
  fc->channel_connects++;
  pthread_mutex_unlock(&fc->lock);
  log_msg(LOG_INFO, "worker.channel", "connected");
  pthread_mutex_lock(&fc->lock);
  while (!fc->stopping && ulfius_websocket_status(m) == U_WEBSOCKET_STATUS_OPEN)
    wait_ms(fc, 100);
  fc->ws = NULL;
  while (fc->ws_users > 0) /* senders finish within CHANNEL_SEND_TIMEOUT_MS */
    pthread_cond_wait(&fc->wake, &fc->lock);
  pthread_mutex_unlock(&fc->lock);
  /* Nobody sends on m after this: senders take it from fc->ws. ws_sock
   * stays open until channel_main has seen the connection end. */
}

static void on_channel_message(const struct _u_request *req, struct _websocket_manager *m,
                               const struct _websocket_message *msg, void *arg) {
  (void)req;
  struct fleet_client *fc = arg;
  m->keep_messages = U_WEBSOCKET_KEEP_NONE;
  if (msg->opcode != U_WEBSOCKET_OPCODE_TEXT)
    return;
  json_t *frame = json_loadb(msg->data, msg->data_len, 0, NULL);
  const char *type = json_string_value(json_object_get(frame, "type"));
  if (type && !strcmp(type, "command"))
    enqueue(fc, json_object_get(frame, "command"));
  else if (type && !strcmp(type, "error"))
    log_msg(LOG_WARN, "worker.channel", "the server says: %s",
            json_string_value(json_object_get(frame, "message")) ?: "?");
  json_decref(frame);
}

static void *channel_main(void *arg) {
  struct fleet_client *fc = arg;
  struct backoff b;
  backoff_init(&b, 500, 30000);
  pthread_mutex_lock(&fc->lock);
  while (!fc->stopping) {
    if (!fc->registered) {
      wait_ms(fc, 200);
      continue;
    }
    pthread_mutex_unlock(&fc->lock);
    char url[800], auth[600];
    snprintf(url, sizeof url, "%s/v1/worker/channel?worker_id=%s", fc->url, fc->w->worker_id);
    snprintf(auth, sizeof auth, "Bearer %s", fc->w->cfg.worker_api_key);
    struct _u_request req;
    struct _u_response res;
    struct _websocket_client_handler handler = {NULL, NULL};
    ulfius_init_request(&req);
    ulfius_init_response(&res);
    int opened = 0;
    if (ulfius_set_websocket_request(&req, url, NULL, NULL) == U_OK) {
      u_map_put(req.map_header, "Authorization", auth);
      opened =
          ulfius_open_websocket_client_connection(&req, on_channel_manager, fc, on_channel_message,
                                                  fc, NULL, NULL, &handler, &res) == U_OK;
    }
    long status = res.status;
    if (opened) {
      backoff_reset(&b);
      ulfius_websocket_client_connection_wait_close(&handler, 0);
      ulfius_websocket_client_connection_close(&handler);
      pthread_mutex_lock(&fc->lock);
      if (fc->ws_sock >= 0)
        close(fc->ws_sock);
      fc->ws_sock = -1;
      pthread_mutex_unlock(&fc->lock);
      log_msg(LOG_INFO, "worker.channel", "closed");
    } else {
      log_msg(LOG_WARN, "worker.channel", "cannot open the channel (HTTP %ld)", status);
      if (status == 404) { /* forgotten: the heartbeat registers again */
        pthread_mutex_lock(&fc->lock);
        fc->registered = 0;
        pthread_mutex_unlock(&fc->lock);
      }
    }
    ulfius_clean_request(&req);
    ulfius_clean_response(&res);
    pthread_mutex_lock(&fc->lock);
    wait_ms(fc, backoff_next_ms(&b));
  }
  pthread_mutex_unlock(&fc->lock);
  return NULL;
}

/* --- live streams --------------------------------------------------------------------------------
 */

static void *stream_main(void *arg) {
  struct stream *st = arg;
  struct fleet_client *fc = st->fc;
  int64_t interval = (int64_t)(1000.0 / st->fps);
  while (!atomic_load(&st->stop)) {
    int64_t t0 = monotonic_ms();
    uint8_t *jpeg = NULL;
    size_t size = 0;
    struct ff_error err = {0};
    if (endpoint_frame_jpeg(fc->w, st->camera_id, st->overlay, &jpeg, &size, &err) == FF_OK) {
      uint8_t *frame = malloc(size + 4);
      if (frame) {
        frame[0] = (uint8_t)(st->camera_id >> 24);
        frame[1] = (uint8_t)(st->camera_id >> 16);
        frame[2] = (uint8_t)(st->camera_id >> 8);
        frame[3] = (uint8_t)st->camera_id;
        memcpy(frame + 4, jpeg, size);
        int sent = channel_send(fc, U_WEBSOCKET_OPCODE_BINARY, (const char *)frame, size + 4);
        atomic_fetch_add(sent ? &st->frames : &st->dropped, 1);
        free(frame);
      }
      free(jpeg);
    }
    int64_t left = interval - (monotonic_ms() - t0);
    while (left > 0 && !atomic_load(&st->stop)) {
      struct timespec ts = {0, (left > 50 ? 50 : left) * 1000000};
      nanosleep(&ts, NULL);
      left -= 50;
    }
  }
  return NULL;
}

/* streams_lock held */
static void stream_end(struct stream *st) {
  atomic_store(&st->stop, 1);
  pthread_join(st->thread, NULL);
  atomic_store(&st->used, 0);
}

#define STREAM_START_WAIT_MS 5000

static int stream_start(struct fleet_client *fc, int camera, double fps, int overlay,
                        json_t **result, struct ff_error *err);

int fleet_client_stream(struct fleet_client *fc, int start, json_t *params, json_t **result,
                        struct ff_error *err) {
  json_t *id = json_object_get(params, "camera_id");
  if (!json_is_integer(id))
    return ff_fail(err, FF_EINVAL, "%s needs an integer camera_id",
                   start ? "start_streaming" : "stop_streaming");
  int camera = (int)json_integer_value(id);
  json_t *fps_v = json_object_get(params, "fps");
  double fps = fps_v ? json_number_value(fps_v) : 2;
  if (start && fps_v && (!json_is_number(fps_v) || fps < 0.2 || fps > 10))
    return ff_fail(err, FF_EINVAL, "fps must be within 0.2..10");
  int overlay = json_is_true(json_object_get(params, "overlay"));
  /* A start that arrives with the camera's lease (at start-up, in the
   * answer to the registering heartbeat) may come before the camera runs or
   * the channel is dialled: it waits a little for both instead of failing. */
  for (int waited = 0; start && waited < STREAM_START_WAIT_MS; waited += 100) {
    int running = !pipeline_camera_get(fc->w->pipeline, camera, NULL, NULL, NULL);
    pthread_mutex_lock(&fc->lock);
    int done = (running && fc->ws != NULL) || wait_ms(fc, 100);
    pthread_mutex_unlock(&fc->lock);
    if (done)
      break;
  }
  if (start && pipeline_camera_get(fc->w->pipeline, camera, NULL, NULL, NULL))
    return ff_fail(err, FF_ENOTFOUND, "camera %d is not running", camera);
  pthread_mutex_lock(&fc->streams_lock);
  int rc;
  if (fc->streams_closed)
    rc = ff_fail(err, FF_EBUSY, "the worker is stopping");
  else if (start)
    rc = stream_start(fc, camera, fps, overlay, result, err);
  else {
    struct stream *found = NULL;
    for (int i = 0; i < STREAMS_MAX; i++)
      if (atomic_load(&fc->streams[i].used) && fc->streams[i].camera_id == camera)
        found = &fc->streams[i];
    if (!found) {
      rc = ff_fail(err, FF_ENOTFOUND, "camera %d is not streaming", camera);
    } else {
      long long frames = atomic_load(&found->frames), dropped = atomic_load(&found->dropped);
      stream_end(found);
      *result = json_pack("{s:i,s:I,s:I}", "camera_id", camera, "frames", (json_int_t)frames,
                          "dropped", (json_int_t)dropped);
      rc = FF_OK;
    }
  }
  pthread_mutex_unlock(&fc->streams_lock);
  return rc;
}

/* streams_lock held */
static int stream_start(struct fleet_client *fc, int camera, double fps, int overlay,
                        json_t **result, struct ff_error *err) {
  struct stream *found = NULL, *free_slot = NULL;
  for (int i = 0; i < STREAMS_MAX; i++) {
    if (atomic_load(&fc->streams[i].used) && fc->streams[i].camera_id == camera)
      found = &fc->streams[i];
    else if (!atomic_load(&fc->streams[i].used) && !free_slot)
      free_slot = &fc->streams[i];
  }
  pthread_mutex_lock(&fc->lock);
  int connected = fc->ws != NULL;
  pthread_mutex_unlock(&fc->lock);
  if (!connected)
    return ff_fail(err, FF_EUNSUPPORTED,
                   "live frames go over the channel, which is not open (the server can use "
                   "the local endpoint instead)");
  if (found) { /* already streaming: new settings take effect */
    stream_end(found);
    free_slot = found;
  }
  if (!free_slot)
    return ff_fail(err, FF_EBUSY, "already %d live streams", STREAMS_MAX);
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->camera_id = camera;
  free_slot->fps = fps;
  free_slot->overlay = overlay;
  free_slot->fc = fc;
  if (pthread_create(&free_slot->thread, NULL, stream_main, free_slot))
    return ff_fail(err, FF_EINTERNAL, "cannot start the stream");
  atomic_store(&free_slot->used, 1);
  *result = json_pack("{s:i,s:f}", "camera_id", camera, "fps", fps);
  return FF_OK;
}

/* --- start and stop ------------------------------------------------------------------------------
 */

int fleet_client_start(struct worker *w, struct fleet_client **out, struct ff_error *err) {
  struct fleet_client *fc = calloc(1, sizeof *fc);
  if (!fc)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  fc->w = w;
  snprintf(fc->url, sizeof fc->url, "%s", w->cfg.server_url);
  size_t n = strlen(fc->url);
  while (n && fc->url[n - 1] == '/')
    fc->url[--n] = 0;
  if (w->cfg.endpoint_url && *w->cfg.endpoint_url)
    snprintf(fc->endpoint, sizeof fc->endpoint, "%s", w->cfg.endpoint_url);
  else if (w->endpoint)
    snprintf(fc->endpoint, sizeof fc->endpoint, "http://%s:%d", w->cfg.endpoint_listen,
             w->endpoint_port);
  fc->ws_sock = -1;
  pthread_mutex_init(&fc->lock, NULL);
  pthread_mutex_init(&fc->ws_send_lock, NULL);
  pthread_mutex_init(&fc->streams_lock, NULL);
  pthread_cond_init(&fc->wake, NULL);
  done_load(fc);
  if (pthread_create(&fc->command_thread, NULL, command_main, fc)) {
    free(fc);
    return ff_fail(err, FF_EINTERNAL, "cannot start the command thread");
  }
  if (pthread_create(&fc->heartbeat_thread, NULL, heartbeat_main, fc)) {
    fc->stopping = 1;
    pthread_cond_broadcast(&fc->wake);
    pthread_join(fc->command_thread, NULL);
    free(fc);
    return ff_fail(err, FF_EINTERNAL, "cannot start the heartbeat thread");
  }
  if (w->cfg.channel && pthread_create(&fc->channel_thread, NULL, channel_main, fc) == 0)
    fc->channel_started = 1;
  *out = fc;
  return FF_OK;
}

void fleet_client_stop(struct fleet_client *fc) {
  if (!fc)
    return;
  /* No stream starts after this (the command thread may be starting one
   * right now: it holds streams_lock until it has). */
  pthread_mutex_lock(&fc->streams_lock);
  fc->streams_closed = 1;
  for (int i = 0; i < STREAMS_MAX; i++)
    if (atomic_load(&fc->streams[i].used))
      stream_end(&fc->streams[i]);
  pthread_mutex_unlock(&fc->streams_lock);
  pthread_mutex_lock(&fc->lock);
  fc->stopping = 1;
  atomic_store(&fc->cancel, 1);
  pthread_cond_broadcast(&fc->wake);
  int registered = fc->registered;
  pthread_mutex_unlock(&fc->lock);
  /* The command thread may be running a command that stops the process
   * (shutdown, restart): it is the one that got us here, so do not wait
   * for it before the threads that do not depend on it. */
  pthread_join(fc->heartbeat_thread, NULL);
  if (fc->channel_started) {
    /* The close handshake gets CHANNEL_CLOSE_GRACE_MS; a server that does
     * not answer it would keep the channel thread waiting: shut the socket. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (int64_t)CHANNEL_CLOSE_GRACE_MS * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    if (pthread_timedjoin_np(fc->channel_thread, NULL, &until)) {
      pthread_mutex_lock(&fc->lock);
      if (fc->ws_sock >= 0)
        shutdown(fc->ws_sock, SHUT_RDWR);
      pthread_mutex_unlock(&fc->lock);
      log_msg(LOG_WARN, "worker.channel", "the server did not close the channel: shut it");
      pthread_join(fc->channel_thread, NULL);
    }
  }
  pthread_join(fc->command_thread, NULL);
  if (registered) {
    struct ff_error err = {0};
    if (contact(fc, 0, "offline", &err))
      log_msg(LOG_WARN, "worker.fleet", "offline heartbeat not sent: %s", err.message);
  }
  for (int i = 0; i < fc->queue_count; i++)
    json_decref(fc->queue[(fc->queue_head + i) % QUEUE_MAX]);
  for (int i = 0; i < fc->done_count; i++)
    json_decref(fc->done[i].result);
  pthread_mutex_destroy(&fc->lock);
  pthread_mutex_destroy(&fc->ws_send_lock);
  pthread_mutex_destroy(&fc->streams_lock);
  pthread_cond_destroy(&fc->wake);
  free(fc);
}

json_t *fleet_client_status_json(struct fleet_client *fc) {
  pthread_mutex_lock(&fc->lock);
  char last[32] = "";
  if (fc->last_heartbeat_wall_ms)
    event_format_time(fc->last_heartbeat_wall_ms, last);
  int streams = 0;
  for (int i = 0; i < STREAMS_MAX; i++)
    streams += atomic_load(&fc->streams[i].used);
  json_t *o = json_pack(
      "{s:b,s:s,s:s?,s:I,s:I,s:s?,s:I,s:I,s:I,s:i,s:s}", "registered", fc->registered, "channel",
      !fc->w->cfg.channel ? "off"
      : fc->ws            ? "connected"
                          : "disconnected",
      "last_heartbeat_at", last[0] ? last : NULL, "heartbeats", (json_int_t)fc->heartbeats,
      "failures", (json_int_t)fc->failures, "last_error", fc->last_error[0] ? fc->last_error : NULL,
      "channel_connects", (json_int_t)fc->channel_connects, "commands_run",
      (json_int_t)fc->commands_run, "commands_repeated", (json_int_t)fc->commands_repeated,
      "streams", streams, "server", fc->url);
  pthread_mutex_unlock(&fc->lock);
  return o;
}
