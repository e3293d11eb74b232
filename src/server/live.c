/* live.c — live camera views through the server (see live.h). */
#include "live.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "db.h"
#include "fleet.h"
#include "log.h"
#include "server.h"

#define SECRETS_MAX 1024
#define FRAME_MAX_BYTES (4 * 1024 * 1024)
#define VIEWER_WAIT_MS 1000
#define VIEWER_SNDBUF (256 * 1024)
#define VIEWER_IDLE_S 15 /* no frame for this long: the view ends */
#define RELAY_FPS 5
#define PROXY_CONNECT_TIMEOUT_S 3
#define LOGS_MAX_BYTES (1024 * 1024)

enum live_mode { LIVE_PROXY, LIVE_RELAY };

struct source {
  struct server *s;
  int64_t camera_id, tenant_id, worker_id;
  int overlay;
  enum live_mode mode;
  char url[600];    /* proxy: the worker's MJPEG */
  char secret[100]; /* proxy: its endpoint secret */
  int viewers;      /* guarded by registry_lock */
  struct source *next;

  pthread_mutex_t lock; /* guards the frame and the flags below */
  pthread_cond_t cond;
  unsigned char *frame;
  size_t frame_len;
  uint64_t seq;
  int stop;
  pthread_t thread;
  int thread_started;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct source *sources;
static struct {
  int64_t worker_id;
  char secret[100];
} secrets[SECRETS_MAX];
static atomic_uint_fast64_t frames_total;

void live_remember_secret(int64_t worker_id, const char *secret) {
  if (!secret || !*secret || strlen(secret) >= sizeof secrets[0].secret)
    return;
  pthread_mutex_lock(&registry_lock);
  int slot = -1;
  for (int i = 0; i < SECRETS_MAX && slot < 0; i++)
    if (secrets[i].worker_id == worker_id || !secrets[i].worker_id)
      slot = i;
  if (slot < 0)
    slot = (int)(worker_id % SECRETS_MAX);
  secrets[slot].worker_id = worker_id;
  snprintf(secrets[slot].secret, sizeof secrets[slot].secret, "%s", secret);
  pthread_mutex_unlock(&registry_lock);
}

/* With registry_lock held. */
static const char *secret_of(int64_t worker_id) {
  for (int i = 0; i < SECRETS_MAX; i++)
    if (secrets[i].worker_id == worker_id)
      return secrets[i].secret;
  return NULL;
}

/* --- frames ------------------------------------------------------------------------------ */

static void set_frame(struct source *src, const unsigned char *jpeg, size_t len) {
  unsigned char *copy = len && len <= FRAME_MAX_BYTES ? malloc(len) : NULL;
  if (!copy)
    return;
  memcpy(copy, jpeg, len);
  pthread_mutex_lock(&src->lock);
  free(src->frame);
  src->frame = copy;
  src->frame_len = len;
  src->seq++;
  pthread_cond_broadcast(&src->cond);
  pthread_mutex_unlock(&src->lock);
  atomic_fetch_add(&frames_total, 1);
}

/* Frames a worker pushes over its channel (fleet's frame sink). */
static void relay_frame(struct server *s, int64_t worker_id, int64_t camera_id,
                        const unsigned char *jpeg, size_t len, void *ctx) {
  (void)s;
  (void)ctx;
  pthread_mutex_lock(&registry_lock);
  for (struct source *src = sources; src; src = src->next)
    if (src->mode == LIVE_RELAY && src->camera_id == camera_id && src->worker_id == worker_id)
      set_frame(src, jpeg, len);
  pthread_mutex_unlock(&registry_lock);
}

/* --- relay: commands to the worker -------------------------------------------------------- */

static int send_command(struct source *src, const char *type) {
  struct server *s = src->s;
  struct ff_error err = {0};
  json_t *params = !strcmp(type, "start_streaming")
                       ? json_pack("{s:I,s:i,s:b}", "camera_id", (json_int_t)src->camera_id, "fps",
                                   RELAY_FPS, "overlay", src->overlay)
                       : json_pack("{s:I}", "camera_id", (json_int_t)src->camera_id);
  struct db_conn *c = db_acquire(s->db, 5000);
  int rc = c ? db_begin(c, DB_TX_WRITE, &err) : ff_fail(&err, FF_EBUSY, "no database connection");
  int64_t id = 0;
  if (!rc)
    rc = fleet_command_insert(s, c, src->tenant_id, src->worker_id, type, params, 2, 60000, 0, &id,
                              &err);
  else
    json_decref(params);
  if (c) {
    rc = rc ? (db_rollback(c), rc) : db_commit(c, &err);
    db_release(c);
  }
  if (rc)
    log_msg(LOG_ERROR, "live.command_failed", "camera %lld: %s: %s", (long long)src->camera_id,
            type, err.message);
  else
    fleet_deliver(s, src->worker_id);
  return rc;
}

/* --- proxy: the worker's MJPEG ----------------------------------------------------------- */

/* Bytes from libcurl, kept NUL-terminated, at most limit. */
struct bytes {
  unsigned char *buf;
  size_t len, cap, limit;
};

static int bytes_append(struct bytes *b, const char *data, size_t len) {
  if (b->len + len > b->limit)
    return -1;
  if (b->len + len + 1 > b->cap) {
    size_t cap = (b->len + len + 1) * 2;
    unsigned char *grown = realloc(b->buf, cap);
    if (!grown)
      return -1;
    b->buf = grown;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, data, len);
  b->len += len;
  b->buf[b->len] = 0;
  return 0;
}

struct mjpeg_reader {
  struct source *src;
  struct bytes in;
  int frames;
};

/* Takes complete parts (headers with Content-Length, then the JPEG) off the
 * front of the buffer. */
static void take_parts(struct mjpeg_reader *mr) {
  struct bytes *r = &mr->in;
  for (;;) {
    unsigned char *end = NULL;
    for (size_t i = 0; i + 3 < r->len && !end; i++)
      if (!memcmp(r->buf + i, "\r\n\r\n", 4))
        end = r->buf + i;
    if (!end)
      return;
    size_t head_len = (size_t)(end - r->buf) + 4;
    char head[1024];
    size_t copy = head_len < sizeof head ? head_len : sizeof head - 1;
    memcpy(head, r->buf, copy);
    head[copy] = 0;
    long long length = -1;
    for (char *p = head; *p && length < 0; p++)
      if (!strncasecmp(p, "content-length:", 15))
        length = strtoll(p + 15, NULL, 10);
    if (length < 0 || length > FRAME_MAX_BYTES) {
      r->len = 0; /* not a part we understand: skip what we have */
      return;
    }
    if (r->len < head_len + (size_t)length)
      return;
    set_frame(mr->src, r->buf + head_len, (size_t)length);
    mr->frames++;
    size_t used = head_len + (size_t)length;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
  }
}

static size_t on_data(char *data, size_t size, size_t n, void *arg) {
  struct mjpeg_reader *r = arg;
  if (bytes_append(&r->in, data, size * n))
    return 0;
  take_parts(r);
  return size * n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  struct source *src = ((struct mjpeg_reader *)arg)->src;
  pthread_mutex_lock(&src->lock);
  int stop = src->stop;
  pthread_mutex_unlock(&src->lock);
  return stop;
}

/* Reads the worker's MJPEG until the last viewer leaves; when the endpoint
 * cannot be read, the source turns into a relay. */
static void *proxy_main(void *arg) {
  struct source *src = arg;
  struct mjpeg_reader r = {.src = src, .in.limit = FRAME_MAX_BYTES * 2};
  CURL *curl = curl_easy_init();
  char auth[160];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", src->secret);
  struct curl_slist *headers = curl_slist_append(NULL, auth);
  long status = 0;
  CURLcode rc = CURLE_FAILED_INIT;
  if (curl && headers) {
    curl_easy_setopt(curl, CURLOPT_URL, src->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &r);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)PROXY_CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  }
  curl_slist_free_all(headers);
  if (curl)
    curl_easy_cleanup(curl);
  free(r.in.buf);
  pthread_mutex_lock(&src->lock);
  int stopping = src->stop;
  pthread_mutex_unlock(&src->lock);
  if (!stopping) {
    log_msg(LOG_WARN, "live.proxy_failed",
            "camera %lld: worker endpoint %s: %s (HTTP %ld) after %d frames; relaying instead",
            (long long)src->camera_id, src->url, curl_easy_strerror(rc), status, r.frames);
    pthread_mutex_lock(&registry_lock);
    src->mode = LIVE_RELAY;
    pthread_mutex_unlock(&registry_lock);
    send_command(src, "start_streaming");
  }
  return NULL;
}

/* --- sources ------------------------------------------------------------------------------ */

/* The camera's upstream, created (and started) for the first viewer. */
static struct source *attach(struct server *s, int64_t camera, int64_t tenant, int64_t worker,
                             const char *endpoint, int overlay) {
  pthread_mutex_lock(&registry_lock);
  for (struct source *src = sources; src; src = src->next)
    if (src->camera_id == camera && src->overlay == overlay && src->worker_id == worker) {
      src->viewers++;
      pthread_mutex_unlock(&registry_lock);
      return src;
    }
  struct source *src = calloc(1, sizeof *src);
  if (!src) {
    pthread_mutex_unlock(&registry_lock);
    return NULL;
  }
  src->s = s;
  src->camera_id = camera;
  src->tenant_id = tenant;
  src->worker_id = worker;
  src->overlay = overlay;
  src->viewers = 1;
  pthread_mutex_init(&src->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&src->cond, &attr);
  pthread_condattr_destroy(&attr);
  const char *secret = secret_of(worker);
  src->mode = endpoint && *endpoint && secret ? LIVE_PROXY : LIVE_RELAY;
  if (src->mode == LIVE_PROXY) {
    size_t n = strlen(endpoint);
    while (n && endpoint[n - 1] == '/')
      n--;
    snprintf(src->url, sizeof src->url, "%.*s/cameras/%lld/mjpeg%s", (int)n, endpoint,
             (long long)camera, overlay ? "?overlay=1" : "");
    snprintf(src->secret, sizeof src->secret, "%s", secret);
  }
  src->next = sources;
  sources = src;
  pthread_mutex_unlock(&registry_lock);
  if (src->mode == LIVE_PROXY)
    src->thread_started = !pthread_create(&src->thread, NULL, proxy_main, src);
  else
    send_command(src, "start_streaming");
  log_msg(LOG_INFO, "live.upstream_started", "camera %lld: %s", (long long)camera,
          src->mode == LIVE_PROXY ? src->url : "relayed over the worker's channel");
  return src;
}

static void source_end(struct source *src) {
  pthread_mutex_lock(&src->lock);
  src->stop = 1;
  pthread_cond_broadcast(&src->cond);
  pthread_mutex_unlock(&src->lock);
  if (src->thread_started)
    pthread_join(src->thread, NULL);
  if (src->mode == LIVE_RELAY) /* set by the proxy thread, which has ended */
    send_command(src, "stop_streaming");
  log_msg(LOG_INFO, "live.upstream_stopped", "camera %lld: the last viewer left",
          (long long)src->camera_id);
  free(src->frame);
  pthread_cond_destroy(&src->cond);
  pthread_mutex_destroy(&src->lock);
  free(src);
}

static void detach(struct source *src) {
  pthread_mutex_lock(&registry_lock);
  int last = --src->viewers == 0;
  if (last)
    for (struct source **p = &sources; *p; p = &(*p)->next)
      if (*p == src) {
        *p = src->next;
        break;
      }
  pthread_mutex_unlock(&registry_lock);
  if (last)
    source_end(src);
}

/* --- the viewer's stream -------------------------------------------------------------------- */

struct viewer {
  struct source *src;
  uint64_t seq;
  time_t last_frame; /* monotonic seconds */
  unsigned char *part; /* the part being sent */
  size_t part_len, part_off;
};

static time_t monotonic_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

/* Sends the newest frame as one part; waits while there is none newer than
 * the last one sent (a slow viewer skips frames). A view that gets no frame
 * for VIEWER_IDLE_S ends (the worker is gone, or never streamed). */
static size_t viewer_read(void *state, struct http_stream *st, char *buf, size_t max) {
  struct viewer *v = state;
  struct source *src = v->src;
  while (!v->part) {
    pthread_mutex_lock(&src->lock);
    if (src->seq == v->seq && !http_stream_closing(st)) {
      struct timespec until;
      clock_gettime(CLOCK_MONOTONIC, &until);
      until.tv_sec += VIEWER_WAIT_MS / 1000;
      pthread_cond_timedwait(&src->cond, &src->lock, &until);
    }
    if (src->seq != v->seq && src->frame) {
      char head[128];
      int n = snprintf(head, sizeof head,
                       "--footfall\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                       src->frame_len);
      v->part = malloc((size_t)n + src->frame_len + 2);
      if (v->part) {
        memcpy(v->part, head, (size_t)n);
        memcpy(v->part + n, src->frame, src->frame_len);
        memcpy(v->part + n + src->frame_len, "\r\n", 2);
        v->part_len = (size_t)n + src->frame_len + 2;
        v->part_off = 0;
      }
      v->seq = src->seq;
    }
    pthread_mutex_unlock(&src->lock);
    if (v->part)
      v->last_frame = monotonic_s();
    else if (http_stream_closing(st) || monotonic_s() - v->last_frame > VIEWER_IDLE_S)
      return 0;
  }
  size_t take = v->part_len - v->part_off < max ? v->part_len - v->part_off : max;
  memcpy(buf, v->part + v->part_off, take);
  v->part_off += take;
  if (v->part_off == v->part_len) {
    free(v->part);
    v->part = NULL;
  }
  return take;
}

static void viewer_wake(void *state) {
  struct viewer *v = state;
  pthread_mutex_lock(&v->src->lock);
  pthread_cond_broadcast(&v->src->cond);
  pthread_mutex_unlock(&v->src->lock);
}

static void viewer_release(void *state) {
  struct viewer *v = state;
  detach(v->src);
  free(v->part);
  free(v);
}

static const struct http_stream_ops viewer_ops = {viewer_read, viewer_wake, viewer_release};

void live_mjpeg(struct request *rq) {
  int64_t camera = http_param_id(rq, "id");
  const char *overlay_q = http_query(rq, "overlay");
  int overlay = overlay_q && !strcmp(overlay_q, "1");
  if (overlay_q && !overlay && strcmp(overlay_q, "0")) {
    http_error(rq, 400, "invalid_field", "overlay is 0 or 1");
    return;
  }
  struct db_rows *rows = access_row(
      rq,
      "SELECT c.tenant_id, c.site_id, l.worker_id, w.endpoint_url FROM cameras c "
      "LEFT JOIN camera_leases l ON l.camera_id = c.id "
      "LEFT JOIN workers w ON w.id = l.worker_id WHERE c.id = $1",
      camera, "camera");
  if (!rows)
    return;
  int64_t tenant = db_rows_int(rows, 0, 0), worker = db_rows_int(rows, 0, 2);
  if (!worker) {
    db_rows_free(rows);
    http_header(rq, "Retry-After", "10");
    http_error(rq, 503, "unavailable", "no worker runs this camera now");
    return;
  }
  struct viewer *v = calloc(1, sizeof *v);
  if (v)
    v->last_frame = monotonic_s();
  v->src = v ? attach(rq->server, camera, tenant, worker, db_rows_text(rows, 0, 3), overlay) : NULL;
  db_rows_free(rows);
  if (!v || !v->src) {
    free(v);
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  /* Frames are skipped, never queued, so the buffer only needs to carry one
   * frame at the link's pace. */
  http_stream(rq, "multipart/x-mixed-replace; boundary=footfall", VIEWER_SNDBUF, &viewer_ops, v);
}

/* --- the worker's log tail ------------------------------------------------------------------ */

static size_t on_text(char *data, size_t size, size_t n, void *arg) {
  return bytes_append(arg, data, size * n) ? 0 : size * n;
}

void live_worker_logs(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_rows *rows = access_row(
      rq, "SELECT tenant_id, site_id, endpoint_url FROM workers WHERE id = $1", id, "worker");
  if (!rows)
    return;
  char url[600] = "", auth[160] = "";
  const char *endpoint = db_rows_text(rows, 0, 2);
  pthread_mutex_lock(&registry_lock);
  const char *secret = secret_of(id);
  if (endpoint && *endpoint && secret) {
    snprintf(url, sizeof url, "%s%slogs", endpoint,
             endpoint[strlen(endpoint) - 1] == '/' ? "" : "/");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret);
  }
  pthread_mutex_unlock(&registry_lock);
  db_rows_free(rows);
  if (!url[0]) {
    http_error(rq, 503, "unavailable",
               "the worker's endpoint is unknown (it sends its address and secret with its "
               "heartbeats)");
    return;
  }
  struct bytes t = {.limit = LOGS_MAX_BYTES};
  CURL *curl = curl_easy_init();
  struct curl_slist *headers = curl_slist_append(NULL, auth);
  CURLcode crc = CURLE_FAILED_INIT;
  if (curl && headers) {
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_text);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)PROXY_CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    crc = curl_easy_perform(curl);
  }
  curl_slist_free_all(headers);
  if (curl)
    curl_easy_cleanup(curl);
  if (crc != CURLE_OK) {
    free(t.buf);
    http_error(rq, 502, "unavailable", "the worker's endpoint did not answer: %s",
               curl_easy_strerror(crc));
    return;
  }
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, t.buf ? (const char *)t.buf : "", t.len);
  free(t.buf);
  http_header(rq, "Content-Type", "text/plain; charset=utf-8");
}

/* --- life cycle ---------------------------------------------------------------------------- */

int live_init(struct server *s, struct ff_error *err) {
  (void)s;
  if (curl_global_init(CURL_GLOBAL_DEFAULT))
    return ff_fail(err, FF_EINTERNAL, "libcurl failed to initialise");
  fleet_set_frame_sink(relay_frame, NULL);
  return FF_OK;
}

void live_stop(struct server *s) {
  (void)s;
  fleet_set_frame_sink(NULL, NULL);
  curl_global_cleanup();
}

void live_stats_get(struct live_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&registry_lock);
  for (struct source *src = sources; src; src = src->next) {
    if (src->mode == LIVE_PROXY)
      out->proxies++;
    else
      out->relays++;
    out->viewers += src->viewers;
  }
  pthread_mutex_unlock(&registry_lock);
  out->frames = atomic_load(&frames_total);
}
