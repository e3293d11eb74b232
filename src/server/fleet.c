/* fleet.c — worker registry, camera leases and commands (see fleet.h). */
#include "fleet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "jobs.h"
#include "json_text.h"
#include "lease.h"
#include "live.h"
#include "log.h"
#include "server.h"
#include "vault.h"
#include "websocket.h"

#define UUID_LEN 36
#define NAME_MAX_LEN 128
#define MAX_SITE_WORKERS 256
#define MAX_SITE_CAMERAS 1024
#define COMMANDS_PER_ANSWER 20
#define INTERVAL_MIN_MS 200
#define INTERVAL_MAX_MS 3600000
#define CAPACITY_DEFAULT 8

static const char *const command_types[] = {
    "assign_camera",  "release_camera", "start_processing", "stop_processing", "start_streaming",
    "stop_streaming", "status_report",  "refresh_staff",    "restart",         "shutdown"};
#define COMMAND_TYPES ((int)(sizeof command_types / sizeof command_types[0]))
static const char *const priorities[] = {"low", "normal", "high", "urgent"};
static const char *const reported_statuses[] = {"idle",  "processing",  "online",
                                                "error", "maintenance", "offline"};

/* --- hooks and figures ------------------------------------------------------ */

static fleet_listener listener;
static void *listener_ctx;
static fleet_frame_sink frame_sink;
static void *frame_sink_ctx;

static atomic_ullong n_registrations, n_heartbeats, n_unknown_heartbeats, n_lease_moves,
    n_commands_created, n_channel_frames_in, n_commands_by_channel, n_commands_by_heartbeat;
static atomic_ullong n_command_final[4]; /* completed, failed, expired, cancelled */

void fleet_set_listener(fleet_listener fn, void *ctx) {
  listener_ctx = ctx;
  listener = fn;
}

void fleet_set_frame_sink(fleet_frame_sink fn, void *ctx) {
  frame_sink_ctx = ctx;
  frame_sink = fn;
}

/* One command's change, raised at once (after its commit). */
static void raise_command(struct server *s, int64_t tenant, int64_t site, int64_t command,
                          int64_t worker, const char *status) {
  if (!listener)
    return;
  json_t *data = json_pack("{s:I,s:I,s:s}", "command_id", (json_int_t)command, "worker_id",
                           (json_int_t)worker, "status", status);
  listener(s, tenant, site, "command.updated", data, listener_ctx);
  json_decref(data);
}

/* Changes collected inside a transaction, raised after it commits. */
struct fleet_news {
  struct {
    int64_t tenant, site;
    const char *type;
    json_t *data;
  } items[64];
  int count;
  int64_t notify[64]; /* workers with new commands */
  int nnotify;
};

static void news_add(struct fleet_news *n, int64_t tenant, int64_t site, const char *type,
                     json_t *data) {
  if (!n || n->count >= 64) {
    json_decref(data);
    return;
  }
  n->items[n->count].tenant = tenant;
  n->items[n->count].site = site;
  n->items[n->count].type = type;
  n->items[n->count].data = data;
  n->count++;
}

static void news_notify(struct fleet_news *n, int64_t worker) {
  if (!n)
    return;
  for (int i = 0; i < n->nnotify; i++)
    if (n->notify[i] == worker)
      return;
  if (n->nnotify < 64)
    n->notify[n->nnotify++] = worker;
}

static void news_publish(struct server *s, struct fleet_news *n, int committed) {
  for (int i = 0; i < n->count; i++) {
    if (committed && listener)
      listener(s, n->items[i].tenant, n->items[i].site, n->items[i].type, n->items[i].data,
               listener_ctx);
    if (committed) {
      struct log_line l;
      log_begin(&l, LOG_DEBUG, "fleet.event");
      log_str(&l, "type", n->items[i].type);
      log_int(&l, "tenant", n->items[i].tenant);
      log_end(&l);
    }
    json_decref(n->items[i].data);
  }
  n->count = 0;
  if (committed)
    for (int i = 0; i < n->nnotify; i++)
      fleet_deliver(s, n->notify[i]);
  n->nnotify = 0;
}

/* --- small helpers ------------------------------------------------------------ */

static int is_uuid(const char *s) {
  if (!s || strlen(s) != UUID_LEN)
    return 0;
  for (int i = 0; i < UUID_LEN; i++) {
    char ch = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (ch != '-')
        return 0;
    } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
                 (ch >= 'A' && ch <= 'F'))) {
      return 0;
    }
  }
  return 1;
}

static int in_list(const char *v, const char *const *list, int n) {
  for (int i = 0; v && i < n; i++)
    if (!strcmp(v, list[i]))
      return i;
  return -1;
}

static char *json_dump(const json_t *v) {
  return json_text(v ? v : json_null(), NULL);
}

static json_t *json_parse(const char *text) {
  json_t *v = text ? json_loads(text, 0, NULL) : NULL;
  return v ? v : json_null();
}

/* The status a worker shows: see fleet.h. */
static const char *derive_status(const char *reported, int maintenance, int64_t last_seen,
                                 int64_t interval, int64_t now) {
  int64_t age = now - last_seen;
  if (age > 3 * interval || !strcmp(reported, "offline"))
    return "offline";
  if (maintenance || !strcmp(reported, "maintenance"))
    return "maintenance";
  if (age > 2 * interval)
    return "late";
  if (!strcmp(reported, "error"))
    return "error";
  return reported;
}

static int eligible(const char *status) {
  return strcmp(status, "offline") && strcmp(status, "maintenance");
}

/* --- leases ------------------------------------------------------------------------ */

static json_t *camera_spec_json(struct server *s, int64_t id, const char *kind, const char *sealed,
                                double fps) {
  char *url = vault_open(s, sealed);
  json_t *o = json_pack("{s:I,s:s,s:s,s:f}", "id", (json_int_t)id, "kind", kind, "url",
                        url ? url : "", "fps", fps);
  if (!strcmp(kind, "file"))
    json_object_set_new(o, "loop", json_true()); /* demos and tests: play files on */
  free(url);
  return o;
}

static const char lease_select[] =
    "SELECT l.camera_id, l.generation, l.expires_at, c.kind, c.source_sealed, c.sample_fps, "
    "c.processing FROM camera_leases l JOIN cameras c ON c.id = l.camera_id "
    "WHERE l.worker_id = $1 AND c.enabled = 1 ORDER BY l.camera_id";

static json_t *worker_leases(struct server *s, struct db_conn *c, int64_t worker,
                             struct ff_error *err) {
  struct db_rows *r = NULL;
  if (db_query(c, lease_select, DB_ARGS(db_int(worker)), &r, err))
    return NULL;
  json_t *list = json_array();
  for (int i = 0; i < db_rows_count(r); i++)
    json_array_append_new(
        list, json_pack("{s:I,s:I,s:I,s:o,s:b}", "camera_id", (json_int_t)db_rows_int(r, i, 0),
                        "generation", (json_int_t)db_rows_int(r, i, 1), "expires_at_ms",
                        (json_int_t)db_rows_int(r, i, 2), "camera",
                        camera_spec_json(s, db_rows_int(r, i, 0), db_rows_text(r, i, 3),
                                         db_rows_text(r, i, 4), db_rows_real(r, i, 5)),
                        "processing", (int)db_rows_int(r, i, 6)));
  db_rows_free(r);
  return list;
}

static const char *priority_name(int p) {
  return p >= 0 && p < 4 ? priorities[p] : "normal";
}

int fleet_command_insert(struct server *s, struct db_conn *c, int64_t tenant_id, int64_t worker_id,
                         const char *type, json_t *params, int priority, int64_t ttl_ms,
                         int64_t created_by, int64_t *id, struct ff_error *err) {
  int64_t now = server_now_ms(s);
  char *text = json_dump(params);
  json_decref(params);
  if (!text)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  struct db_rows *r = NULL;
  int rc = db_query(
      c,
      "INSERT INTO worker_commands (tenant_id, worker_id, type, params, priority, status, "
      "attempts, max_attempts, created_by, created_at, expires_at, updated_at) "
      "VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $9, $8) RETURNING id",
      DB_ARGS(db_int(tenant_id), db_int(worker_id), db_text(type), db_text(text), db_int(priority),
              db_int(s->cfg.fleet_command_attempts), created_by ? db_int(created_by) : db_null(),
              db_int(now), db_int(now + ttl_ms)),
      &r, err);
  free(text);
  if (rc == FF_OK && id)
    *id = db_rows_int(r, 0, 0);
  db_rows_free(r);
  if (rc == FF_OK)
    atomic_fetch_add(&n_commands_created, 1);
  return rc;
}

/* Re-places the cameras of one site (inside a write transaction). */
static int rebalance_site(struct server *s, struct db_conn *c, int64_t tenant, int64_t site,
                          struct fleet_news *news, struct ff_error *err) {
  if (!site)
    return FF_OK;
  int64_t now = server_now_ms(s);
  struct db_rows *wr = NULL, *cr = NULL, *dr = NULL;
  int rc =
      db_query(c,
               "SELECT id, reported_status, maintenance, heartbeat_interval_ms, capacity, "
               "last_seen_at, local_cameras FROM workers WHERE site_id = $1 AND tenant_id = $2 "
               "ORDER BY id",
               DB_ARGS(db_int(site), db_int(tenant)), &wr, err);
  if (rc == FF_OK)
    rc = db_query(c,
                  "SELECT c.id, l.worker_id, l.expires_at, l.manual, l.generation, l.camera_id, "
                  "c.kind, c.source_sealed, c.sample_fps FROM cameras c "
                  "LEFT JOIN camera_leases l ON l.camera_id = c.id "
                  "WHERE c.site_id = $1 AND c.tenant_id = $2 AND c.enabled = 1 ORDER BY c.id",
                  DB_ARGS(db_int(site), db_int(tenant)), &cr, err);
  if (rc == FF_OK)
    rc = db_query(c,
                  "SELECT l.camera_id, l.worker_id, l.generation FROM camera_leases l "
                  "JOIN cameras c ON c.id = l.camera_id WHERE c.site_id = $1 AND c.tenant_id = $2 "
                  "AND c.enabled = 0 AND l.worker_id IS NOT NULL",
                  DB_ARGS(db_int(site), db_int(tenant)), &dr, err);
  int nw = wr ? db_rows_count(wr) : 0, nc = cr ? db_rows_count(cr) : 0;
  if (nw > MAX_SITE_WORKERS)
    nw = MAX_SITE_WORKERS;
  if (nc > MAX_SITE_CAMERAS)
    nc = MAX_SITE_CAMERAS;
  struct lease_worker *w = calloc((size_t)nw + 1, sizeof *w);
  struct lease_camera *cam = calloc((size_t)nc + 1, sizeof *cam);
  int64_t *intervals = calloc((size_t)nw + 1, sizeof *intervals);
  int64_t **locals = calloc((size_t)nw + 1, sizeof *locals);
  if (rc == FF_OK && (!w || !cam || !intervals || !locals))
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
  int ne = 0;
  for (int i = 0; rc == FF_OK && i < nw; i++) {
    int64_t interval = db_rows_int(wr, i, 3);
    const char *st = derive_status(db_rows_text(wr, i, 1), (int)db_rows_int(wr, i, 2),
                                   db_rows_int(wr, i, 5), interval, now);
    if (!eligible(st))
      continue;
    json_t *loc = json_parse(db_rows_text(wr, i, 6));
    size_t n = json_array_size(loc);
    locals[ne] = calloc(n + 1, sizeof(int64_t));
    for (size_t k = 0; locals[ne] && k < n; k++)
      locals[ne][k] = json_integer_value(json_array_get(loc, k));
    json_decref(loc);
    w[ne] = (struct lease_worker){.id = db_rows_int(wr, i, 0),
                                  .capacity = (int)db_rows_int(wr, i, 4),
                                  .local = locals[ne],
                                  .nlocal = locals[ne] ? (int)n : 0};
    intervals[ne] = interval;
    ne++;
  }
  for (int k = 0; rc == FF_OK && k < nc; k++)
    cam[k] = (struct lease_camera){.id = db_rows_int(cr, k, 0),
                                   .holder = db_rows_int(cr, k, 1),
                                   .valid = db_rows_int(cr, k, 2) >= now,
                                   .manual = (int)db_rows_int(cr, k, 3)};
  if (rc == FF_OK)
    lease_balance(w, ne, cam, nc);
  for (int k = 0; rc == FF_OK && k < nc; k++) {
    int64_t holder = cam[k].holder, to = cam[k].assigned;
    int exists = !db_rows_is_null(cr, k, 5);
    int64_t gen = db_rows_int(cr, k, 4);
    int64_t interval = 30000;
    for (int i = 0; i < ne; i++)
      if (w[i].id == to)
        interval = intervals[i];
    int64_t expires = now + 3 * interval;
    if (to && to == holder) {
      if (!cam[k].valid) /* expired but still the best place: renew */
        rc = db_exec(c, "UPDATE camera_leases SET expires_at = $2 WHERE camera_id = $1",
                     DB_ARGS(db_int(cam[k].id), db_int(expires)), NULL, err);
      continue;
    }
    if (!to && !holder)
      continue;
    gen++;
    int manual = cam[k].manual && to == holder;
    if (exists)
      rc = db_exec(c,
                   "UPDATE camera_leases SET worker_id = $2, generation = $3, manual = $4, "
                   "expires_at = $5, assigned_at = $6, state = NULL, reason = NULL, "
                   "state_at = NULL WHERE camera_id = $1",
                   DB_ARGS(db_int(cam[k].id), to ? db_int(to) : db_null(), db_int(gen),
                           db_int(manual), db_int(expires), db_int(now)),
                   NULL, err);
    else
      rc =
          db_exec(c,
                  "INSERT INTO camera_leases (camera_id, tenant_id, worker_id, generation, manual, "
                  "expires_at, assigned_at) VALUES ($1, $2, $3, $4, 0, $5, $6)",
                  DB_ARGS(db_int(cam[k].id), db_int(tenant), to ? db_int(to) : db_null(),
                          db_int(gen), db_int(expires), db_int(now)),
                  NULL, err);
    int64_t ttl = (int64_t)s->cfg.fleet_command_ttl_s * 1000;
    if (rc == FF_OK && holder) {
      rc = fleet_command_insert(
          s, c, tenant, holder, "release_camera",
          json_pack("{s:I,s:I}", "camera_id", (json_int_t)cam[k].id, "generation", (json_int_t)gen),
          2, ttl, 0, NULL, err);
      news_notify(news, holder);
    }
    if (rc == FF_OK && to) {
      rc = fleet_command_insert(
          s, c, tenant, to, "assign_camera",
          json_pack("{s:I,s:I}", "camera_id", (json_int_t)cam[k].id, "generation", (json_int_t)gen),
          2, ttl, 0, NULL, err);
      news_notify(news, to);
    }
    if (rc == FF_OK) {
      atomic_fetch_add(&n_lease_moves, 1);
      news_add(news, tenant, site, "camera.status",
               json_pack("{s:I,s:o,s:o,s:I}", "camera_id", (json_int_t)cam[k].id, "worker_id",
                         to ? json_integer(to) : json_null(), "previous_worker_id",
                         holder ? json_integer(holder) : json_null(), "lease_generation",
                         (json_int_t)gen));
      log_msg(LOG_INFO, "fleet.lease", "camera=%lld from=%lld to=%lld generation=%lld",
              (long long)cam[k].id, (long long)holder, (long long)to, (long long)gen);
    }
  }
  /* Disabled cameras: their holders let go. */
  for (int k = 0; rc == FF_OK && dr && k < db_rows_count(dr); k++) {
    int64_t cam_id = db_rows_int(dr, k, 0), holder = db_rows_int(dr, k, 1);
    int64_t gen = db_rows_int(dr, k, 2) + 1;
    rc = db_exec(c,
                 "UPDATE camera_leases SET worker_id = NULL, generation = $2, manual = 0, "
                 "state = NULL, reason = NULL WHERE camera_id = $1",
                 DB_ARGS(db_int(cam_id), db_int(gen)), NULL, err);
    if (rc == FF_OK)
      rc = fleet_command_insert(
          s, c, tenant, holder, "release_camera",
          json_pack("{s:I,s:I}", "camera_id", (json_int_t)cam_id, "generation", (json_int_t)gen), 2,
          (int64_t)s->cfg.fleet_command_ttl_s * 1000, 0, NULL, err);
    news_notify(news, holder);
  }
  for (int i = 0; locals && i < ne; i++)
    free(locals[i]);
  free(locals);
  free(intervals);
  free(w);
  free(cam);
  db_rows_free(wr);
  db_rows_free(cr);
  db_rows_free(dr);
  return rc;
}

json_t *fleet_camera_status(struct db_conn *c, int64_t camera_id) {
  struct db_rows *r = NULL;
  if (db_query(c,
               "SELECT worker_id, generation, expires_at, manual, state, reason, state_at "
               "FROM camera_leases WHERE camera_id = $1",
               DB_ARGS(db_int(camera_id)), &r, NULL) ||
      db_rows_count(r) == 0) {
    db_rows_free(r);
    return json_null();
  }
  json_t *o =
      json_pack("{s:o,s:I,s:I,s:b,s:s?,s:s?,s:o}", "worker_id",
                db_rows_is_null(r, 0, 0) ? json_null() : json_integer(db_rows_int(r, 0, 0)),
                "lease_generation", (json_int_t)db_rows_int(r, 0, 1), "lease_expires_at_ms",
                (json_int_t)db_rows_int(r, 0, 2), "manual", (int)db_rows_int(r, 0, 3), "state",
                db_rows_text(r, 0, 4), "reason", db_rows_text(r, 0, 5), "state_at_ms",
                db_rows_is_null(r, 0, 6) ? json_null() : json_integer(db_rows_int(r, 0, 6)));
  db_rows_free(r);
  return o;
}

/* --- commands ----------------------------------------------------------------------- */

static const char command_select[] =
    "SELECT id, tenant_id, worker_id, type, params, priority, status, attempts, max_attempts, "
    "result, error, created_by, created_at, sent_at, acknowledged_at, finished_at, expires_at, "
    "updated_at FROM worker_commands";

static json_t *opt_int(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_integer(db_rows_int(r, i, col));
}

static json_t *command_json(const struct db_rows *r, int i) {
  return json_pack(
      "{s:I,s:I,s:I,s:s,s:o,s:s,s:s,s:i,s:i,s:o,s:s?,s:o,s:I,s:o,s:o,s:o,s:I,s:I}", "id",
      (json_int_t)db_rows_int(r, i, 0), "tenant_id", (json_int_t)db_rows_int(r, i, 1), "worker_id",
      (json_int_t)db_rows_int(r, i, 2), "type", db_rows_text(r, i, 3), "params",
      json_parse(db_rows_text(r, i, 4)), "priority", priority_name((int)db_rows_int(r, i, 5)),
      "status", db_rows_text(r, i, 6), "attempts", (int)db_rows_int(r, i, 7), "max_attempts",
      (int)db_rows_int(r, i, 8), "result", json_parse(db_rows_text(r, i, 9)), "error",
      db_rows_text(r, i, 10), "created_by", opt_int(r, i, 11), "created_at_ms",
      (json_int_t)db_rows_int(r, i, 12), "sent_at_ms", opt_int(r, i, 13), "acknowledged_at_ms",
      opt_int(r, i, 14), "finished_at_ms", opt_int(r, i, 15), "expires_at_ms",
      (json_int_t)db_rows_int(r, i, 16), "updated_at_ms", (json_int_t)db_rows_int(r, i, 17));
}

static json_t *command_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return command_json(r, i);
}

/* What the worker gets: id, type, params, priority, expiry. An
 * assign_camera is stored with the camera id only (the source URL may carry
 * credentials: sealed at rest, never in the command history); the camera's
 * definition is added here, on its way to the worker. */
static json_t *command_message(struct server *s, struct db_conn *c, const struct db_rows *r,
                               int i) {
  json_t *params = json_parse(db_rows_text(r, i, 4));
  if (!strcmp(db_rows_text(r, i, 3), "assign_camera")) {
    int64_t camera = json_integer_value(json_object_get(params, "camera_id"));
    struct db_rows *cr = NULL;
    if (db_query(c, "SELECT kind, source_sealed, sample_fps FROM cameras WHERE id = $1",
                 DB_ARGS(db_int(camera)), &cr, NULL) == FF_OK &&
        db_rows_count(cr))
      json_object_set_new(params, "camera",
                          camera_spec_json(s, camera, db_rows_text(cr, 0, 0),
                                           db_rows_text(cr, 0, 1), db_rows_real(cr, 0, 2)));
    db_rows_free(cr);
  }
  return json_pack("{s:I,s:s,s:o,s:s,s:I}", "id", (json_int_t)db_rows_int(r, i, 0), "type",
                   db_rows_text(r, i, 3), "params", params, "priority",
                   priority_name((int)db_rows_int(r, i, 5)), "expires_at_ms",
                   (json_int_t)db_rows_int(r, i, 16));
}

/* What goes to a worker: its pending commands, and the acknowledged ones it
 * has said nothing more about for the ack timeout ($4 = now - timeout): the
 * completion may have been lost on the way, so the worker is asked again
 * (it answers from its record, says it is still at it, or runs it). */
static const char pending_sql[] =
    "SELECT id, tenant_id, worker_id, type, params, priority, status, attempts, max_attempts, "
    "result, error, created_by, created_at, sent_at, acknowledged_at, finished_at, expires_at, "
    "updated_at FROM worker_commands WHERE worker_id = $1 AND expires_at > $2 "
    "AND (status = 'pending' OR (status = 'acknowledged' AND updated_at < $4)) "
    "ORDER BY priority DESC, id LIMIT $3";

/* Claims a command of pending_sql for delivery; *claimed = 0 when another
 * thread (or instance) took it first. A pending command becomes sent (one
 * more attempt); an acknowledged one stays acknowledged, asked again. */
static int mark_sent(struct db_conn *c, int64_t id, int64_t now, int64_t quiet_since, int *claimed,
                     struct ff_error *err) {
  int64_t changes = 0;
  int rc = db_exec(
      c,
      "UPDATE worker_commands SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE status "
      "END, attempts = CASE WHEN status = 'pending' THEN attempts + 1 ELSE attempts END, "
      "sent_at = $2, updated_at = $2 WHERE id = $1 AND (status = 'pending' OR "
      "(status = 'acknowledged' AND updated_at < $3))",
      DB_ARGS(db_int(id), db_int(now), db_int(quiet_since)), &changes, err);
  if (claimed)
    *claimed = rc == FF_OK && changes == 1;
  return rc;
}

/* --- channels (in this process) ------------------------------------------------------- */

struct channel {
  struct server *s;
  int64_t worker_id, tenant_id, site_id;
};

static pthread_mutex_t channels_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  int64_t worker_id;
  struct ws_conn *conn;
} channels[1024];
static int nchannels;

static struct ws_conn *channel_get(int64_t worker) {
  struct ws_conn *conn = NULL;
  pthread_mutex_lock(&channels_lock);
  for (int i = 0; i < nchannels; i++)
    if (channels[i].worker_id == worker && ws_is_open(channels[i].conn)) {
      conn = channels[i].conn;
      ws_ref(conn);
    }
  pthread_mutex_unlock(&channels_lock);
  return conn;
}

/* Removes the worker's channel from the table; the caller owns its reference. */
static struct ws_conn *channel_take(int64_t worker) {
  struct ws_conn *conn = NULL;
  pthread_mutex_lock(&channels_lock);
  for (int i = 0; i < nchannels; i++)
    if (channels[i].worker_id == worker) {
      conn = channels[i].conn;
      channels[i] = channels[--nchannels];
      break;
    }
  pthread_mutex_unlock(&channels_lock);
  return conn;
}

void fleet_deliver(struct server *s, int64_t worker) {
  struct ws_conn *conn = channel_get(worker);
  if (!conn)
    return;
  struct db_conn *c = db_acquire(s->db, 5000);
  if (!c) {
    ws_unref(conn);
    return;
  }
  int64_t now = server_now_ms(s), quiet = now - s->cfg.fleet_ack_timeout_ms;
  struct db_rows *r = NULL;
  if (db_query(c, pending_sql, DB_ARGS(db_int(worker), db_int(now), db_int(100), db_int(quiet)), &r,
               NULL) == FF_OK) {
    for (int i = 0; i < db_rows_count(r); i++) {
      int64_t id = db_rows_int(r, i, 0);
      int claimed = 0;
      if (mark_sent(c, id, now, quiet, &claimed, NULL) || !claimed)
        continue; /* another delivery took it */
      json_t *frame =
          json_pack("{s:s,s:o}", "type", "command", "command", command_message(s, c, r, i));
      int rc = ws_send_json(conn, frame);
      json_decref(frame);
      if (rc) { /* queue full or closed: back to pending for the next carrier */
        db_exec(c,
                "UPDATE worker_commands SET status = 'pending', attempts = attempts - 1 "
                "WHERE id = $1 AND status = 'sent'",
                DB_ARGS(db_int(id)), NULL, NULL);
        break;
      }
      atomic_fetch_add(&n_commands_by_channel, 1);
    }
  }
  db_rows_free(r);
  db_release(c);
  ws_unref(conn);
}

/* --- applying a worker's command update ------------------------------------------------ */

static int apply_update(struct server *s, int64_t tenant, int64_t worker, int64_t id,
                        const char *status, json_t *result, const char *error, json_t **answer,
                        struct ff_error *err) {
  if (strcmp(status, "acknowledged") && strcmp(status, "completed") && strcmp(status, "failed"))
    return ff_fail(err, FF_EINVAL, "status must be acknowledged, completed or failed");
  struct db_conn *c = db_acquire(s->db, 5000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "the database is busy; try again");
  int rc = db_begin(c, DB_TX_WRITE, err);
  struct db_rows *r = NULL;
  if (rc == FF_OK)
    rc = db_query(c,
                  "SELECT status, site_id FROM worker_commands wc JOIN workers w "
                  "ON w.id = wc.worker_id WHERE wc.id = $1 AND wc.worker_id = $2 "
                  "AND wc.tenant_id = $3",
                  DB_ARGS(db_int(id), db_int(worker), db_int(tenant)), &r, err);
  if (rc == FF_OK && db_rows_count(r) == 0)
    rc = ff_fail(err, FF_ENOTFOUND, "no command %lld for this worker", (long long)id);
  const char *now_status = rc == FF_OK ? db_rows_text(r, 0, 0) : NULL;
  int64_t site = rc == FF_OK ? db_rows_int(r, 0, 1) : 0;
  int open = now_status && (!strcmp(now_status, "pending") || !strcmp(now_status, "sent") ||
                            !strcmp(now_status, "acknowledged"));
  int apply = open && (strcmp(status, "acknowledged") || strcmp(now_status, "acknowledged"));
  int64_t now = server_now_ms(s);
  char *result_text = NULL;
  if (rc == FF_OK && open && !apply) /* acknowledged again (asked again): still at it */
    rc = db_exec(c, "UPDATE worker_commands SET updated_at = $2 WHERE id = $1",
                 DB_ARGS(db_int(id), db_int(now)), NULL, err);
  if (rc == FF_OK && apply) {
    if (!strcmp(status, "acknowledged")) {
      rc = db_exec(c,
                   "UPDATE worker_commands SET status = 'acknowledged', acknowledged_at = $2, "
                   "updated_at = $2 WHERE id = $1",
                   DB_ARGS(db_int(id), db_int(now)), NULL, err);
    } else {
      result_text = result && !json_is_null(result) ? json_dump(result) : NULL;
      rc = db_exec(
          c,
          "UPDATE worker_commands SET status = $2, result = $3, error = $4, "
          "acknowledged_at = COALESCE(acknowledged_at, $5), finished_at = $5, "
          "updated_at = $5 WHERE id = $1",
          DB_ARGS(db_int(id), db_text(status), db_text(result_text), db_text(error), db_int(now)),
          NULL, err);
      if (rc == FF_OK)
        atomic_fetch_add(&n_command_final[strcmp(status, "completed") ? 1 : 0], 1);
    }
  }
  free(result_text);
  db_rows_free(r);
  r = NULL;
  if (rc == FF_OK)
    rc = db_query(c, "SELECT id, status FROM worker_commands WHERE id = $1", DB_ARGS(db_int(id)),
                  &r, err);
  json_t *out = rc == FF_OK
                    ? json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", db_rows_text(r, 0, 1))
                    : NULL;
  db_rows_free(r);
  rc = access_finish(c, rc, err);
  db_release(c);
  if (rc == FF_OK && apply)
    raise_command(s, tenant, site, id, worker, status);
  if (rc == FF_OK && answer)
    *answer = out;
  else
    json_decref(out);
  return rc;
}

/* Forgets the channel this instance holds for a worker and closes it
 * (its process is gone: a new one registered). Returns 1 when there was one. */
static int channel_drop(int64_t worker) {
  struct ws_conn *old = channel_take(worker);
  if (!old)
    return 0;
  ws_close(old);
  ws_unref(old);
  log_msg(LOG_INFO, "fleet.channel", "worker=%lld registered again: its old channel closed",
          (long long)worker);
  return 1;
}

/* A worker registers once per process (and again only under a new id after
 * being forgotten): what was sent to the process before this one and not
 * finished went with it. Those commands are sent again now, in the answer
 * (the worker answers the ones it had finished from its record and runs the
 * others), or failed once they used up their attempts. The channel of the
 * old process, when this instance has not noticed it close yet, is dropped
 * so the commands do not follow it. */
static int resend_unfinished(struct server *s, struct db_conn *c, int64_t tenant, int64_t site,
                             int64_t worker, struct fleet_news *news, struct ff_error *err) {
  int64_t now = server_now_ms(s);
  int rc = FF_OK;
  if (channel_drop(worker))
    rc = db_exec(c, "UPDATE workers SET channel_connected = 0 WHERE id = $1",
                 DB_ARGS(db_int(worker)), NULL, err);
  struct db_rows *r = NULL;
  if (rc == FF_OK)
    rc = db_query(
        c,
        "UPDATE worker_commands SET status = CASE WHEN attempts >= max_attempts THEN 'failed' "
        "ELSE 'pending' END, error = CASE WHEN attempts < max_attempts THEN error WHEN status = "
        "'acknowledged' THEN 'the worker stopped before finishing it' ELSE 'not acknowledged by "
        "the worker' END, finished_at = CASE WHEN attempts >= max_attempts THEN CAST($2 AS BIGINT) "
        "ELSE NULL END, updated_at = $2 WHERE worker_id = $1 AND status IN ('sent', "
        "'acknowledged') AND expires_at > $2 RETURNING id, status",
        DB_ARGS(db_int(worker), db_int(now)), &r, err);
  for (int i = 0; rc == FF_OK && i < db_rows_count(r); i++) {
    if (strcmp(db_rows_text(r, i, 1), "failed"))
      continue;
    atomic_fetch_add(&n_command_final[1], 1);
    news_add(news, tenant, site, "command.updated",
             json_pack("{s:I,s:I,s:s}", "command_id", (json_int_t)db_rows_int(r, i, 0), "worker_id",
                       (json_int_t)worker, "status", "failed"));
  }
  if (rc == FF_OK && db_rows_count(r))
    log_msg(LOG_INFO, "fleet.commands", "worker=%lld registered: %d unfinished commands sent again",
            (long long)worker, db_rows_count(r));
  db_rows_free(r);
  return rc;
}

static void channel_open(struct ws_conn *conn, void *user) {
  struct channel *ch = user;
  struct ws_conn *old = NULL;
  pthread_mutex_lock(&channels_lock);
  int i = 0;
  while (i < nchannels && channels[i].worker_id != ch->worker_id)
    i++;
  if (i < nchannels)
    old = channels[i].conn;
  else if (nchannels < (int)(sizeof channels / sizeof channels[0]))
    nchannels++;
  else
    i = -1;
  if (i >= 0) {
    ws_ref(conn);
    channels[i].worker_id = ch->worker_id;
    channels[i].conn = conn;
  }
  pthread_mutex_unlock(&channels_lock);
  if (old) {
    ws_close(old);
    ws_unref(old);
  }
  if (i < 0) {
    ws_close(conn);
    return;
  }
  struct db_conn *c = db_acquire(ch->s->db, 5000);
  if (c) {
    db_exec(c, "UPDATE workers SET channel_connected = 1 WHERE id = $1",
            DB_ARGS(db_int(ch->worker_id)), NULL, NULL);
    db_release(c);
  }
  log_msg(LOG_INFO, "fleet.channel", "worker=%lld connected", (long long)ch->worker_id);
  ws_send_text(conn, "{\"type\":\"hello\"}", 16);
  fleet_deliver(ch->s, ch->worker_id);
}

static void channel_message(struct ws_conn *conn, int binary, const char *data, size_t len,
                            void *user) {
  struct channel *ch = user;
  atomic_fetch_add(&n_channel_frames_in, 1);
  if (binary) {
    /* A live frame: 4-byte big-endian camera id, then the JPEG. */
    if (len > 4 && frame_sink) {
      const unsigned char *b = (const unsigned char *)data;
      int64_t camera = ((int64_t)b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
      frame_sink(ch->s, ch->worker_id, camera, b + 4, len - 4, frame_sink_ctx);
    }
    return;
  }
  json_t *m = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
  const char *type = json_string_value(json_object_get(m, "type"));
  if (type && !strcmp(type, "command_update")) {
    json_t *id = json_object_get(m, "id");
    const char *status = json_string_value(json_object_get(m, "status"));
    struct ff_error err = {0};
    int rc = json_is_integer(id) && status
                 ? apply_update(ch->s, ch->tenant_id, ch->worker_id, json_integer_value(id), status,
                                json_object_get(m, "result"),
                                json_string_value(json_object_get(m, "error")), NULL, &err)
                 : ff_fail(&err, FF_EINVAL, "command_update needs an integer id and a status");
    if (rc) {
      json_t *e = json_pack("{s:s,s:o,s:s}", "type", "error", "id",
                            id ? json_incref(id) : json_null(), "message", err.message);
      ws_send_json(conn, e);
      json_decref(e);
    }
  } else if (!type || strcmp(type, "ping")) {
    json_t *e = json_pack("{s:s,s:s}", "type", "error", "message",
                          "expected a JSON object with type command_update");
    ws_send_json(conn, e);
    json_decref(e);
  }
  json_decref(m);
}

static void channel_close(struct ws_conn *conn, void *user) {
  struct channel *ch = user;
  int mine = 0;
  pthread_mutex_lock(&channels_lock);
  for (int i = 0; i < nchannels; i++)
    if (channels[i].conn == conn) {
      channels[i] = channels[--nchannels];
      mine = 1;
      break;
    }
  pthread_mutex_unlock(&channels_lock);
  if (mine) {
    ws_unref(conn);
    struct db_conn *c = db_acquire(ch->s->db, 5000);
    if (c) {
      db_exec(c, "UPDATE workers SET channel_connected = 0 WHERE id = $1",
              DB_ARGS(db_int(ch->worker_id)), NULL, NULL);
      db_release(c);
    }
    log_msg(LOG_INFO, "fleet.channel", "worker=%lld disconnected", (long long)ch->worker_id);
  }
  free(ch);
}

/* --- the worker API --------------------------------------------------------------------------- */

static const char worker_select[] =
    "SELECT id, uuid, tenant_id, site_id, name, version, reported_status, maintenance, "
    "heartbeat_interval_ms, capacity, capabilities, cameras, local_cameras, endpoint_url, "
    "last_error, channel_connected, registered_at, last_seen_at, created_at, updated_at "
    "FROM workers";

static json_t *worker_json(const struct server *s, const struct db_rows *r, int i, int detailed) {
  int64_t now = server_now_ms(s);
  const char *status = derive_status(db_rows_text(r, i, 6), (int)db_rows_int(r, i, 7),
                                     db_rows_int(r, i, 17), db_rows_int(r, i, 8), now);
  json_t *o = json_pack(
      "{s:I,s:s,s:I,s:o,s:s,s:s?,s:s,s:s,s:b,s:I,s:i,s:s?,s:s?,s:b,s:I,s:I,s:I,s:I}", "id",
      (json_int_t)db_rows_int(r, i, 0), "uuid", db_rows_text(r, i, 1), "tenant_id",
      (json_int_t)db_rows_int(r, i, 2), "site_id", opt_int(r, i, 3), "name", db_rows_text(r, i, 4),
      "version", db_rows_text(r, i, 5), "status", status, "reported_status", db_rows_text(r, i, 6),
      "maintenance", (int)db_rows_int(r, i, 7), "heartbeat_interval_ms",
      (json_int_t)db_rows_int(r, i, 8), "capacity", (int)db_rows_int(r, i, 9), "endpoint_url",
      db_rows_text(r, i, 13), "last_error", db_rows_text(r, i, 14), "channel_connected",
      (int)db_rows_int(r, i, 15), "registered_at_ms", (json_int_t)db_rows_int(r, i, 16),
      "last_seen_at_ms", (json_int_t)db_rows_int(r, i, 17), "created_at_ms",
      (json_int_t)db_rows_int(r, i, 18), "updated_at_ms", (json_int_t)db_rows_int(r, i, 19));
  if (detailed) {
    json_object_set_new(o, "capabilities", json_parse(db_rows_text(r, i, 10)));
    json_object_set_new(o, "cameras", json_parse(db_rows_text(r, i, 11)));
    json_object_set_new(o, "local_cameras", json_parse(db_rows_text(r, i, 12)));
  }
  return o;
}

static const struct field worker_fields[] = {
    {"worker_id", FIELD_STRING, 1, 64, 0},
    {"name", FIELD_STRING, 0, NAME_MAX_LEN, 1},
    {"version", FIELD_STRING, 0, 64, 1},
    {"status", FIELD_STRING, 0, 16, 0},
    {"heartbeat_interval_ms", FIELD_INT, 0, 0, 0},
    {"capabilities", FIELD_OBJECT, 0, 0, 0},
    {"cameras", FIELD_ARRAY, 0, 0, 0},
    {"local_cameras", FIELD_ARRAY, 0, 0, 0},
    {"endpoint_url", FIELD_STRING, 0, 512, 1},
    {"endpoint_secret", FIELD_STRING, 0, 96, 1},
    {"last_error", FIELD_STRING, 0, 1024, 1},
    {"leases", FIELD_ARRAY, 0, 0, 0},
};

/* Validates the parts of a register/heartbeat body beyond field types;
 * on failure the reply is written. */
static int check_worker_body(struct request *rq, int heartbeat) {
  if (http_validate(rq, worker_fields, sizeof worker_fields / sizeof worker_fields[0]))
    return -1;
  json_t *b = rq->body;
  if (!is_uuid(json_string_value(json_object_get(b, "worker_id")))) {
    http_error(rq, 400, "invalid_field", "worker_id must be a UUID");
    return -1;
  }
  const char *status = json_string_value(json_object_get(b, "status"));
  if (status && in_list(status, reported_statuses, 6) < 0) {
    http_error(rq, 400, "invalid_field",
               "status must be idle, processing, online, error, maintenance or offline");
    return -1;
  }
  json_t *iv = json_object_get(b, "heartbeat_interval_ms");
  if (iv &&
      (json_integer_value(iv) < INTERVAL_MIN_MS || json_integer_value(iv) > INTERVAL_MAX_MS)) {
    http_error(rq, 400, "invalid_field", "heartbeat_interval_ms must be within %d..%d",
               INTERVAL_MIN_MS, INTERVAL_MAX_MS);
    return -1;
  }
  if (!heartbeat && !iv) {
    http_error(rq, 400, "missing_field", "field 'heartbeat_interval_ms' is required");
    return -1;
  }
  json_t *loc = json_object_get(b, "local_cameras");
  size_t i;
  json_t *v;
  if (json_array_size(loc) > 64) {
    http_error(rq, 400, "invalid_field", "local_cameras: at most 64");
    return -1;
  }
  json_array_foreach(loc, i, v) if (!json_is_integer(v) || json_integer_value(v) <= 0) {
    http_error(rq, 400, "invalid_field", "local_cameras must be camera ids");
    return -1;
  }
  json_t *cams = json_object_get(b, "cameras");
  if (json_array_size(cams) > 64) {
    http_error(rq, 400, "invalid_field", "cameras: at most 64");
    return -1;
  }
  json_array_foreach(cams, i,
                     v) if (!json_is_object(v) || !json_is_integer(json_object_get(v, "id"))) {
    http_error(rq, 400, "invalid_field", "cameras[%zu] must be an object with an integer id", i);
    return -1;
  }
  json_t *cap = json_object_get(json_object_get(b, "capabilities"), "max_cameras");
  if (cap &&
      (!json_is_integer(cap) || json_integer_value(cap) < 0 || json_integer_value(cap) > 1024)) {
    http_error(rq, 400, "invalid_field", "capabilities.max_cameras must be within 0..1024");
    return -1;
  }
  return 0;
}

/* Writes the reported cameras' states onto the leases this worker holds
 * (and onto its local cameras). */
static int record_camera_states(struct server *s, struct db_conn *c, int64_t tenant, int64_t site,
                                int64_t worker, json_t *cams, struct fleet_news *news,
                                struct ff_error *err) {
  size_t i;
  json_t *v;
  int64_t now = server_now_ms(s);
  int rc = FF_OK;
  json_array_foreach(cams, i, v) {
    if (rc)
      break;
    int64_t id = json_integer_value(json_object_get(v, "id"));
    const char *state = json_string_value(json_object_get(v, "state"));
    const char *reason = json_string_value(json_object_get(v, "reason"));
    struct db_rows *r = NULL;
    rc = db_query(c,
                  "SELECT state, reason FROM camera_leases WHERE camera_id = $1 AND worker_id = $2 "
                  "AND tenant_id = $3",
                  DB_ARGS(db_int(id), db_int(worker), db_int(tenant)), &r, err);
    if (rc == FF_OK && db_rows_count(r) == 1) {
      const char *old_state = db_rows_text(r, 0, 0), *old_reason = db_rows_text(r, 0, 1);
      int changed = (!old_state != !state) || (state && strcmp(old_state, state)) ||
                    (!old_reason != !reason) || (reason && strcmp(old_reason, reason));
      rc = db_exec(c,
                   "UPDATE camera_leases SET state = $2, reason = $3, state_at = $4 "
                   "WHERE camera_id = $1",
                   DB_ARGS(db_int(id), db_text(state), db_text(reason), db_int(now)), NULL, err);
      if (rc == FF_OK && changed)
        news_add(news, tenant, site, "camera.status",
                 json_pack("{s:I,s:I,s:s?,s:s?}", "camera_id", (json_int_t)id, "worker_id",
                           (json_int_t)worker, "state", state, "reason", reason));
    }
    db_rows_free(r);
  }
  return rc;
}

static int64_t body_int(json_t *b, const char *name, int64_t fallback) {
  json_t *v = json_object_get(b, name);
  return json_is_integer(v) ? json_integer_value(v) : fallback;
}

/* Register and heartbeat share this: upsert the worker, renew, re-place,
 * answer. */
static void worker_contact(struct request *rq, int heartbeat) {
  struct server *s = rq->server;
  if (check_worker_body(rq, heartbeat))
    return;
  json_t *b = rq->body;
  const char *uuid = json_string_value(json_object_get(b, "worker_id"));
  int64_t tenant = rq->who.tenant_id, site = rq->who.site_id, now = server_now_ms(s);
  const char *status = json_string_value(json_object_get(b, "status"));
  if (!status)
    status = "online";
  json_t *cap = json_object_get(b, "capabilities");
  int64_t capacity = body_int(cap, "max_cameras", CAPACITY_DEFAULT);
  char *cap_text = cap ? json_dump(cap) : strdup("{}");
  char *cams_text =
      json_object_get(b, "cameras") ? json_dump(json_object_get(b, "cameras")) : strdup("[]");
  char *local_text = json_object_get(b, "local_cameras")
                         ? json_dump(json_object_get(b, "local_cameras"))
                         : strdup("[]");
  struct fleet_news news = {0};
  struct db_conn *c = access_begin(rq);
  if (!c) {
    free(cap_text);
    free(cams_text);
    free(local_text);
    return;
  }
  struct ff_error err = {0};
  struct db_rows *r = NULL;
  int rc = db_query(c,
                    "SELECT id, tenant_id, heartbeat_interval_ms, reported_status, maintenance, "
                    "last_seen_at FROM workers WHERE uuid = $1",
                    DB_ARGS(db_text(uuid)), &r, &err);
  int64_t id = 0, interval = 0;
  char old_buf[16];
  const char *old_status = NULL; /* copied: the rows are freed below */
  int maintenance = 0;
  if (rc == FF_OK && db_rows_count(r) == 1) {
    if (db_rows_int(r, 0, 1) != tenant) {
      access_abandon(c);
      db_rows_free(r);
      free(cap_text);
      free(cams_text);
      free(local_text);
      http_error(rq, 409, "conflict", "this worker id is registered elsewhere");
      return;
    }
    id = db_rows_int(r, 0, 0);
    interval = db_rows_int(r, 0, 2);
    snprintf(old_buf, sizeof old_buf, "%s",
             derive_status(db_rows_text(r, 0, 3), (int)db_rows_int(r, 0, 4), db_rows_int(r, 0, 5),
                           interval, now));
    old_status = old_buf;
    maintenance = (int)db_rows_int(r, 0, 4);
  }
  if (rc == FF_OK && !id && heartbeat) {
    access_abandon(c);
    db_rows_free(r);
    free(cap_text);
    free(cams_text);
    free(local_text);
    atomic_fetch_add(&n_unknown_heartbeats, 1);
    http_error(rq, 404, "worker_unknown", "this worker is not registered: register again");
    return;
  }
  interval = body_int(b, "heartbeat_interval_ms", interval ? interval : 30000);
  json_t *name_v = json_object_get(b, "name");
  const char *name = json_string_value(name_v);
  char default_name[48];
  snprintf(default_name, sizeof default_name, "worker %.8s", uuid);
  if (rc == FF_OK && !id) {
    db_rows_free(r);
    r = NULL;
    rc = db_query(
        c,
        "INSERT INTO workers (uuid, tenant_id, site_id, key_id, name, version, reported_status, "
        "derived_status, heartbeat_interval_ms, capacity, capabilities, cameras, local_cameras, "
        "endpoint_url, last_error, registered_at, last_seen_at, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15, "
        "$15) RETURNING id",
        DB_ARGS(db_text(uuid), db_int(tenant), site ? db_int(site) : db_null(),
                rq->who.key_id ? db_int(rq->who.key_id) : db_null(),
                db_text(name ? name : default_name),
                db_text(json_string_value(json_object_get(b, "version"))), db_text(status),
                db_int(interval), db_int(capacity), db_text(cap_text), db_text(cams_text),
                db_text(local_text), db_text(json_string_value(json_object_get(b, "endpoint_url"))),
                db_text(json_string_value(json_object_get(b, "last_error"))), db_int(now)),
        &r, &err);
    if (rc == FF_OK)
      id = db_rows_int(r, 0, 0);
    char summary[128];
    snprintf(summary, sizeof summary, "worker %s registered", uuid);
    if (rc == FF_OK)
      rc = audit_record(c, rq, tenant, "worker.register", "worker", id, summary);
  } else if (rc == FF_OK) {
    /* Fields a heartbeat leaves out keep their values. */
    rc = db_exec(
        c,
        "UPDATE workers SET site_id = $2, key_id = $3, name = COALESCE($4, name), "
        "version = COALESCE($5, version), reported_status = $6, heartbeat_interval_ms = $7, "
        "capacity = CASE WHEN $8 < 0 THEN capacity ELSE $8 END, "
        "capabilities = COALESCE($9, capabilities), cameras = COALESCE($10, cameras), "
        "local_cameras = COALESCE($11, local_cameras), endpoint_url = COALESCE($12, endpoint_url), "
        "last_error = $13, last_seen_at = $14, updated_at = $14, "
        "registered_at = CASE WHEN $15 = 1 THEN $14 ELSE registered_at END WHERE id = $1",
        DB_ARGS(db_int(id), site ? db_int(site) : db_null(),
                rq->who.key_id ? db_int(rq->who.key_id) : db_null(), db_text(name),
                db_text(json_string_value(json_object_get(b, "version"))), db_text(status),
                db_int(interval), db_int(cap ? capacity : -1),
                db_text(json_object_get(b, "capabilities") ? cap_text : NULL),
                db_text(json_object_get(b, "cameras") ? cams_text : NULL),
                db_text(json_object_get(b, "local_cameras") ? local_text : NULL),
                db_text(json_string_value(json_object_get(b, "endpoint_url"))),
                db_text(json_string_value(json_object_get(b, "last_error"))), db_int(now),
                db_int(!heartbeat)),
        NULL, &err);
  }
  free(cap_text);
  free(cams_text);
  free(local_text);
  db_rows_free(r);
  r = NULL;
  const char *new_status = derive_status(status, maintenance, now, interval, now);
  if (rc == FF_OK && !strcmp(status, "offline"))
    /* Going away: its cameras move now rather than after the expiry. */
    rc = db_exec(c, "UPDATE camera_leases SET expires_at = $2 WHERE worker_id = $1",
                 DB_ARGS(db_int(id), db_int(now - 1)), NULL, &err);
  else if (rc == FF_OK)
    rc = db_exec(
        c, "UPDATE camera_leases SET expires_at = $2 WHERE worker_id = $1 AND expires_at >= $3",
        DB_ARGS(db_int(id), db_int(now + 3 * interval), db_int(now)), NULL, &err);
  if (rc == FF_OK)
    rc = record_camera_states(s, c, tenant, site, id, json_object_get(b, "cameras"), &news, &err);
  if (rc == FF_OK)
    rc = rebalance_site(s, c, tenant, site, &news, &err);
  if (rc == FF_OK)
    rc = db_exec(c, "UPDATE workers SET derived_status = $2 WHERE id = $1",
                 DB_ARGS(db_int(id), db_text(new_status)), NULL, &err);
  if (rc == FF_OK && (!old_status || strcmp(old_status, new_status)))
    news_add(&news, tenant, site, "worker.status",
             json_pack("{s:I,s:s,s:s,s:s?}", "worker_id", (json_int_t)id, "uuid", uuid, "status",
                       new_status, "previous", old_status));
  if (rc == FF_OK && !heartbeat)
    rc = resend_unfinished(s, c, tenant, site, id, &news, &err);
  /* Commands: over the channel when it is open here, else in this answer. */
  json_t *commands = json_array();
  struct ws_conn *chan = channel_get(id);
  if (chan) {
    news_notify(&news, id);
    ws_unref(chan);
  } else if (rc == FF_OK) {
    int64_t quiet = now - s->cfg.fleet_ack_timeout_ms;
    rc = db_query(c, pending_sql,
                  DB_ARGS(db_int(id), db_int(now), db_int(COMMANDS_PER_ANSWER), db_int(quiet)), &r,
                  &err);
    for (int i = 0; rc == FF_OK && i < db_rows_count(r); i++) {
      int claimed = 0;
      rc = mark_sent(c, db_rows_int(r, i, 0), now, quiet, &claimed, &err);
      if (rc == FF_OK && claimed) {
        json_array_append_new(commands, command_message(s, c, r, i));
        atomic_fetch_add(&n_commands_by_heartbeat, 1);
      }
    }
    db_rows_free(r);
    r = NULL;
  }
  json_t *leases = rc == FF_OK ? worker_leases(s, c, id, &err) : NULL;
  if (rc == FF_OK && !leases)
    rc = err.status ? err.status : FF_EDB;
  int64_t staff_version = 0;
  if (rc == FF_OK && site) {
    rc = db_query(c, "SELECT staff_version FROM sites WHERE id = $1", DB_ARGS(db_int(site)), &r,
                  &err);
    staff_version = rc == FF_OK && db_rows_count(r) ? db_rows_int(r, 0, 0) : 0;
    db_rows_free(r);
  }
  rc = access_finish(c, rc, &err);
  db_release(c);
  news_publish(s, &news, rc == FF_OK);
  if (rc) {
    json_decref(commands);
    json_decref(leases);
    http_fail(rq, rc, &err);
    return;
  }
  atomic_fetch_add(heartbeat ? &n_heartbeats : &n_registrations, 1);
  /* For live views through the worker's endpoint; kept in memory only. */
  live_remember_secret(id, json_string_value(json_object_get(b, "endpoint_secret")));
  http_json(rq, 200,
            json_pack("{s:I,s:s,s:o,s:s,s:I,s:o,s:o,s:I,s:I}", "id", (json_int_t)id, "worker_id",
                      uuid, "site_id", site ? json_integer(site) : json_null(), "status",
                      new_status, "heartbeat_interval_ms", (json_int_t)interval, "leases", leases,
                      "commands", commands, "staff_version", (json_int_t)staff_version,
                      "server_time_ms", (json_int_t)now));
}

void fleet_register(struct request *rq) {
  worker_contact(rq, 0);
}

void fleet_heartbeat(struct request *rq) {
  worker_contact(rq, 1);
}

void fleet_channel(struct request *rq) {
  const char *uuid = http_query(rq, "worker_id");
  if (!is_uuid(uuid)) {
    http_error(rq, 400, "invalid_field", "worker_id (query) must be the worker's UUID");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT id, site_id FROM workers WHERE uuid = $1 AND tenant_id = $2",
                    DB_ARGS(db_text(uuid), db_int(rq->who.tenant_id)), &r, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  if (db_rows_count(r) == 0) {
    db_rows_free(r);
    http_error(rq, 404, "worker_unknown", "this worker is not registered: register again");
    return;
  }
  struct channel *ch = calloc(1, sizeof *ch);
  if (!ch) {
    db_rows_free(r);
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  ch->s = rq->server;
  ch->worker_id = db_rows_int(r, 0, 0);
  ch->site_id = db_rows_int(r, 0, 1);
  ch->tenant_id = rq->who.tenant_id;
  db_rows_free(r);
  static const struct ws_handlers handlers = {
      .on_open = channel_open, .on_message = channel_message, .on_close = channel_close};
  struct ws_options o = {.max_queue_frames = 512,
                         .max_queue_bytes = 4u << 20,
                         .max_message_bytes = 4u << 20,
                         .ping_interval_ms = 20000};
  if (ws_accept(rq, &handlers, &o, ch, NULL))
    free(ch);
}

void fleet_command_update(struct request *rq) {
  static const struct field fields[] = {
      {"status", FIELD_STRING, 1, 16, 0},
      {"result", FIELD_OBJECT, 0, 0, 1},
      {"error", FIELD_STRING, 0, 1024, 1},
      {"worker_id", FIELD_STRING, 1, 64, 0},
  };
  if (http_validate(rq, fields, 4))
    return;
  int64_t id = http_param_id(rq, "id");
  const char *uuid = json_string_value(json_object_get(rq->body, "worker_id"));
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT id FROM workers WHERE uuid = $1 AND tenant_id = $2",
                    DB_ARGS(db_text(uuid), db_int(rq->who.tenant_id)), &r, &err);
  db_release(c);
  int64_t worker = rc == FF_OK && db_rows_count(r) ? db_rows_int(r, 0, 0) : 0;
  db_rows_free(r);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  if (!worker) {
    http_error(rq, 404, "worker_unknown", "this worker is not registered: register again");
    return;
  }
  json_t *answer = NULL;
  rc = apply_update(rq->server, rq->who.tenant_id, worker, id,
                    json_string_value(json_object_get(rq->body, "status")),
                    json_object_get(rq->body, "result"),
                    json_string_value(json_object_get(rq->body, "error")), &answer, &err);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_json(rq, 200, answer);
}

/* --- the admin API --------------------------------------------------------------------------- */

static int parse_query_id(struct request *rq, const char *name, int64_t *out) {
  const char *v = http_query(rq, name);
  *out = 0;
  if (!v)
    return 0;
  char *end;
  long long x = strtoll(v, &end, 10);
  if (*end || x <= 0) {
    http_error(rq, 400, "invalid_field", "%s must be an id", name);
    return -1;
  }
  *out = x;
  return 0;
}

void workers_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq), site = 0;
  if (limit < 0 || cursor < 0 || parse_query_id(rq, "site_id", &site))
    return;
  const char *status = http_query(rq, "status");
  static const char *const statuses[] = {"idle",        "processing", "online", "error",
                                         "maintenance", "offline",    "late"};
  if (status && in_list(status, statuses, 7) < 0) {
    http_error(rq, 400, "invalid_field",
               "status must be idle, processing, online, error, maintenance, late or offline");
    return;
  }
  int64_t tenant = access_tenant(rq), bound = access_site(rq);
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  char sql[700];
  snprintf(sql, sizeof sql,
           "%s WHERE ($1 = 0 OR tenant_id = $1) AND ($2 = 0 OR site_id = $2) AND "
           "($3 = 0 OR site_id = $3) AND id > $4 ORDER BY id",
           worker_select);
  struct db_rows *r = NULL, *held = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(tenant), db_int(site), db_int(bound), db_int(cursor)),
                    &r, &err);
  /* The cameras each worker holds (as in its details' leases), in one query,
   * so a list of many workers needs no request per worker. */
  if (!rc)
    rc = db_query(c,
                  "SELECT l.worker_id, l.camera_id FROM camera_leases l JOIN cameras c ON "
                  "c.id = l.camera_id WHERE l.worker_id > $2 AND c.enabled = 1 AND "
                  "($1 = 0 OR l.tenant_id = $1) ORDER BY l.worker_id, l.camera_id",
                  DB_ARGS(db_int(tenant), db_int(cursor)), &held, &err);
  db_release(c);
  if (rc) {
    db_rows_free(r);
    http_fail(rq, rc, &err);
    return;
  }
  /* The status filter is on the derived status, so it is applied here. */
  json_t *items = json_array();
  int n = db_rows_count(r), i = 0;
  int64_t last = 0;
  for (; i < n && (int)json_array_size(items) < limit; i++) {
    json_t *o = worker_json(rq->server, r, i, 0);
    last = db_rows_int(r, i, 0);
    if (status && strcmp(json_string_value(json_object_get(o, "status")), status)) {
      json_decref(o);
      continue;
    }
    json_t *ids = json_array();
    for (int k = 0; k < db_rows_count(held); k++)
      if (db_rows_int(held, k, 0) == last)
        json_array_append_new(ids, json_integer(db_rows_int(held, k, 1)));
    json_object_set_new(o, "camera_ids", ids);
    json_array_append_new(items, o);
  }
  json_t *next = i < n ? json_integer(last) : json_null();
  db_rows_free(held);
  db_rows_free(r);
  http_json(rq, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

/* The visible worker of the path, or 0 after answering 404. */
static int64_t visible_worker(struct request *rq, struct db_conn *c, struct db_rows **out) {
  int64_t id = http_param_id(rq, "id");
  char sql[600];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", worker_select);
  struct db_rows *r = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &r, &err);
  if (rc) {
    http_fail(rq, rc, &err);
    return 0;
  }
  if (!id || db_rows_count(r) == 0 ||
      !access_sees(rq, db_rows_int(r, 0, 2), db_rows_int(r, 0, 3))) {
    db_rows_free(r);
    http_error(rq, 404, "not_found", "no such worker");
    return 0;
  }
  if (out)
    *out = r;
  else
    db_rows_free(r);
  return id;
}

void workers_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t id = visible_worker(rq, c, &r);
  if (!id) {
    db_release(c);
    return;
  }
  json_t *o = worker_json(rq->server, r, 0, 1);
  db_rows_free(r);
  struct ff_error err = {0};
  json_t *leases = worker_leases(rq->server, c, id, &err);
  /* the URLs stay on the worker protocol: the API shows ids and generations */
  size_t i;
  json_t *l;
  json_array_foreach(leases, i, l) json_object_del(l, "camera");
  json_object_set_new(o, "leases", leases ? leases : json_array());
  db_release(c);
  http_json(rq, 200, o);
}

void workers_set_maintenance(struct request *rq) {
  static const struct field fields[] = {{"maintenance", FIELD_BOOL, 1, 0, 0}};
  if (http_validate(rq, fields, 1))
    return;
  int on = json_is_true(json_object_get(rq->body, "maintenance"));
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t id = visible_worker(rq, c, &r);
  if (!id) {
    access_abandon(c);
    return;
  }
  int64_t tenant = db_rows_int(r, 0, 2), site = db_rows_int(r, 0, 3);
  db_rows_free(r);
  struct fleet_news news = {0};
  struct ff_error err = {0};
  int64_t now = server_now_ms(rq->server);
  int rc = db_exec(c, "UPDATE workers SET maintenance = $2, updated_at = $3 WHERE id = $1",
                   DB_ARGS(db_int(id), db_int(on), db_int(now)), NULL, &err);
  if (rc == FF_OK && on) /* its cameras move now */
    rc = db_exec(c, "UPDATE camera_leases SET expires_at = $2 WHERE worker_id = $1",
                 DB_ARGS(db_int(id), db_int(now - 1)), NULL, &err);
  if (rc == FF_OK)
    rc = rebalance_site(rq->server, c, tenant, site, &news, &err);
  if (rc == FF_OK)
    rc = audit_record(c, rq, tenant, on ? "worker.maintenance_on" : "worker.maintenance_off",
                      "worker", id, on ? "maintenance mode on" : "maintenance mode off");
  if (rc == FF_OK)
    news_add(&news, tenant, site, "worker.status",
             json_pack("{s:I,s:b}", "worker_id", (json_int_t)id, "maintenance", on));
  rc = access_finish(c, rc, &err);
  if (rc == FF_OK) {
    char sql[600];
    snprintf(sql, sizeof sql, "%s WHERE id = $1", worker_select);
    rc = db_query(c, sql, DB_ARGS(db_int(id)), &r, &err);
  }
  db_release(c);
  news_publish(rq->server, &news, rc == FF_OK);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  http_json(rq, 200, worker_json(rq->server, r, 0, 1));
  db_rows_free(r);
}

void workers_forget(struct request *rq) {
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t id = visible_worker(rq, c, &r);
  if (!id) {
    access_abandon(c);
    return;
  }
  int64_t tenant = db_rows_int(r, 0, 2), site = db_rows_int(r, 0, 3);
  char summary[96];
  snprintf(summary, sizeof summary, "forgot worker %s", db_rows_text(r, 0, 1));
  db_rows_free(r);
  struct fleet_news news = {0};
  struct ff_error err = {0};
  int rc = db_exec(c, "DELETE FROM worker_commands WHERE worker_id = $1", DB_ARGS(db_int(id)), NULL,
                   &err);
  if (rc == FF_OK)
    rc =
        db_exec(c, "UPDATE camera_leases SET worker_id = NULL, expires_at = 0 WHERE worker_id = $1",
                DB_ARGS(db_int(id)), NULL, &err);
  if (rc == FF_OK)
    rc = db_exec(c, "DELETE FROM workers WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (rc == FF_OK)
    rc = rebalance_site(rq->server, c, tenant, site, &news, &err);
  if (rc == FF_OK)
    rc = audit_record(c, rq, tenant, "worker.forget", "worker", id, summary);
  if (rc == FF_OK)
    news_add(&news, tenant, site, "worker.status",
             json_pack("{s:I,s:s}", "worker_id", (json_int_t)id, "status", "forgotten"));
  rc = access_finish(c, rc, &err);
  db_release(c);
  news_publish(rq->server, &news, rc == FF_OK);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  struct ws_conn *conn = channel_take(id);
  if (conn) {
    ws_close(conn);
    ws_unref(conn);
  }
  http_empty(rq, 204);
}

static int parse_priority(struct request *rq, int *out) {
  const char *p = json_string_value(json_object_get(rq->body, "priority"));
  *out = p ? in_list(p, priorities, 4) : 1;
  if (*out < 0) {
    http_error(rq, 400, "invalid_field", "priority must be low, normal, high or urgent");
    return -1;
  }
  return 0;
}

/* Inserts a command inside c's transaction, audits it, answers 202 with it. */
static void send_command(struct request *rq, struct db_conn *c, int64_t tenant, int64_t site,
                         int64_t worker, const char *type, json_t *params, int priority,
                         int64_t ttl_ms) {
  struct ff_error err = {0};
  int64_t id = 0;
  int rc = fleet_command_insert(rq->server, c, tenant, worker, type, params, priority, ttl_ms,
                                rq->who.user_id, &id, &err);
  char summary[96];
  snprintf(summary, sizeof summary, "%s to worker %lld", type, (long long)worker);
  if (rc == FF_OK)
    rc = audit_record(c, rq, tenant, "command.send", "command", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  raise_command(rq->server, tenant, site, id, worker, "pending");
  fleet_deliver(rq->server, worker);
  struct db_rows *r = NULL;
  c = db_acquire(rq->server->db, 5000);
  char sql[600];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", command_select);
  if (c && db_query(c, sql, DB_ARGS(db_int(id)), &r, &err) == FF_OK && db_rows_count(r))
    http_json(rq, 202, command_json(r, 0));
  else
    http_json(rq, 202, json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", "pending"));
  db_rows_free(r);
  db_release(c);
}

void workers_send_command(struct request *rq) {
  static const struct field fields[] = {
      {"type", FIELD_STRING, 1, 32, 0},
      {"params", FIELD_OBJECT, 0, 0, 0},
      {"priority", FIELD_STRING, 0, 16, 0},
      {"expires_in_s", FIELD_INT, 0, 0, 0},
  };
  if (http_validate(rq, fields, 4))
    return;
  const char *type = json_string_value(json_object_get(rq->body, "type"));
  int t = in_list(type, command_types, COMMAND_TYPES), priority;
  if (t < 0) {
    http_error(rq, 400, "invalid_field", "type must be one of the worker's commands");
    return;
  }
  if (t <= 1) {
    http_error(rq, 400, "invalid_field",
               "cameras are placed by leases: use PUT/DELETE /v1/cameras/{id}/lease");
    return;
  }
  if (parse_priority(rq, &priority))
    return;
  json_t *ttl_v = json_object_get(rq->body, "expires_in_s");
  int64_t ttl = ttl_v ? json_integer_value(ttl_v) : rq->server->cfg.fleet_command_ttl_s;
  if (ttl < 1 || ttl > 7 * 86400) {
    http_error(rq, 400, "invalid_field", "expires_in_s must be within 1..604800");
    return;
  }
  json_t *params = json_object_get(rq->body, "params");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t worker = visible_worker(rq, c, &r);
  if (!worker) {
    access_abandon(c);
    return;
  }
  int64_t tenant = db_rows_int(r, 0, 2), site = db_rows_int(r, 0, 3);
  db_rows_free(r);
  send_command(rq, c, tenant, site, worker, type, params ? json_incref(params) : json_object(),
               priority, ttl * 1000);
}

void workers_list_commands(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  const char *status = http_query(rq, "status");
  static const char *const statuses[] = {"pending", "sent",    "acknowledged", "completed",
                                         "failed",  "expired", "cancelled"};
  if (status && in_list(status, statuses, 7) < 0) {
    http_error(rq, 400, "invalid_field", "status must be a command status");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  int64_t worker = visible_worker(rq, c, NULL);
  db_release(c);
  if (!worker)
    return;
  char sql[700];
  snprintf(sql, sizeof sql,
           "%s WHERE worker_id = $1 AND ($2 = '' OR status = $2) AND ($3 = 0 OR id < $3) "
           "ORDER BY id DESC LIMIT $4",
           command_select);
  access_list_page(
      rq, sql,
      DB_ARGS(db_int(worker), db_text(status ? status : ""), db_int(cursor), db_int(limit)), limit,
      command_item);
}

/* The visible command of the path (row in *out), or 0 after answering. */
static int64_t visible_command(struct request *rq, struct db_conn *c, struct db_rows **out,
                               int64_t *site_out) {
  int64_t id = http_param_id(rq, "id");
  char sql[700];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", command_select);
  struct db_rows *r = NULL, *w = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &r, &err);
  if (rc == FF_OK && db_rows_count(r))
    rc = db_query(c, "SELECT site_id FROM workers WHERE id = $1",
                  DB_ARGS(db_int(db_rows_int(r, 0, 2))), &w, &err);
  if (rc) {
    db_rows_free(r);
    http_fail(rq, rc, &err);
    return 0;
  }
  if (!id || !db_rows_count(r) ||
      !access_sees(rq, db_rows_int(r, 0, 1), w && db_rows_count(w) ? db_rows_int(w, 0, 0) : 0)) {
    db_rows_free(r);
    db_rows_free(w);
    http_error(rq, 404, "not_found", "no such command");
    return 0;
  }
  if (site_out)
    *site_out = w && db_rows_count(w) ? db_rows_int(w, 0, 0) : 0;
  db_rows_free(w);
  *out = r;
  return id;
}

void commands_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t id = visible_command(rq, c, &r, NULL);
  db_release(c);
  if (!id)
    return;
  http_json(rq, 200, command_json(r, 0));
  db_rows_free(r);
}

void commands_cancel(struct request *rq) {
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t site = 0;
  int64_t id = visible_command(rq, c, &r, &site);
  if (!id) {
    access_abandon(c);
    return;
  }
  const char *status = db_rows_text(r, 0, 6);
  int64_t tenant = db_rows_int(r, 0, 1), worker = db_rows_int(r, 0, 2);
  if (strcmp(status, "pending") && strcmp(status, "sent") && strcmp(status, "acknowledged")) {
    http_error(rq, 409, "conflict", "the command is already %s", status);
    db_rows_free(r);
    access_abandon(c);
    return;
  }
  db_rows_free(r);
  r = NULL;
  struct ff_error err = {0};
  int64_t now = server_now_ms(rq->server);
  int rc = db_exec(c,
                   "UPDATE worker_commands SET status = 'cancelled', finished_at = $2, "
                   "updated_at = $2 WHERE id = $1",
                   DB_ARGS(db_int(id), db_int(now)), NULL, &err);
  if (rc == FF_OK)
    rc = audit_record(c, rq, tenant, "command.cancel", "command", id, "command cancelled");
  rc = access_finish(c, rc, &err);
  if (rc == FF_OK) {
    char sql[700];
    snprintf(sql, sizeof sql, "%s WHERE id = $1", command_select);
    rc = db_query(c, sql, DB_ARGS(db_int(id)), &r, &err);
  }
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  atomic_fetch_add(&n_command_final[3], 1);
  raise_command(rq->server, tenant, site, id, worker, "cancelled");
  http_json(rq, 200, command_json(r, 0));
  db_rows_free(r);
}

/* The visible camera of the path: tenant, site; 0 after answering 404. */
static int64_t visible_camera(struct request *rq, struct db_conn *c, int64_t *tenant,
                              int64_t *site) {
  int64_t id = http_param_id(rq, "id");
  struct db_rows *r = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT tenant_id, site_id FROM cameras WHERE id = $1", DB_ARGS(db_int(id)),
                    &r, &err);
  if (rc) {
    http_fail(rq, rc, &err);
    return 0;
  }
  if (!id || !db_rows_count(r) || !access_sees(rq, db_rows_int(r, 0, 0), db_rows_int(r, 0, 1))) {
    db_rows_free(r);
    http_error(rq, 404, "not_found", "no such camera");
    return 0;
  }
  *tenant = db_rows_int(r, 0, 0);
  *site = db_rows_int(r, 0, 1);
  db_rows_free(r);
  return id;
}

static void answer_camera_status(struct request *rq, struct db_conn *c, int64_t camera) {
  json_t *st = fleet_camera_status(c, camera);
  db_release(c);
  http_json(rq, 200, json_pack("{s:I,s:o}", "camera_id", (json_int_t)camera, "status", st));
}

void cameras_lease_set(struct request *rq) {
  static const struct field fields[] = {{"worker_id", FIELD_INT, 1, 0, 0}};
  if (http_validate(rq, fields, 1))
    return;
  int64_t to = json_integer_value(json_object_get(rq->body, "worker_id"));
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  int64_t tenant = 0, site = 0;
  int64_t camera = visible_camera(rq, c, &tenant, &site);
  if (!camera) {
    access_abandon(c);
    return;
  }
  struct db_rows *r = NULL;
  struct ff_error err = {0};
  int rc = db_query(c,
                    "SELECT w.id, w.heartbeat_interval_ms, l.worker_id, l.generation, l.camera_id, "
                    "c.enabled FROM workers w JOIN cameras c ON c.id = $2 "
                    "LEFT JOIN camera_leases l ON l.camera_id = c.id "
                    "WHERE w.id = $1 AND w.tenant_id = $3 AND w.site_id = $4",
                    DB_ARGS(db_int(to), db_int(camera), db_int(tenant), db_int(site)), &r, &err);
  if (rc == FF_OK && !db_rows_count(r)) {
    db_rows_free(r);
    access_abandon(c);
    http_error(rq, 400, "invalid_field", "worker_id must be a worker of the camera's site");
    return;
  }
  if (rc == FF_OK && !db_rows_int(r, 0, 5)) {
    db_rows_free(r);
    access_abandon(c);
    http_error(rq, 409, "conflict", "the camera is disabled");
    return;
  }
  struct fleet_news news = {0};
  int64_t now = server_now_ms(rq->server);
  if (rc == FF_OK) {
    int64_t holder = db_rows_int(r, 0, 2), gen = db_rows_int(r, 0, 3) + 1;
    int64_t expires = now + 3 * db_rows_int(r, 0, 1);
    if (holder == to) {
      rc = db_exec(c, "UPDATE camera_leases SET manual = 1, expires_at = $2 WHERE camera_id = $1",
                   DB_ARGS(db_int(camera), db_int(expires)), NULL, &err);
    } else {
      /* Free it here; rebalance_site would not move a valid lease, so set
       * the new holder and let the commands go out. */
      if (db_rows_is_null(r, 0, 4))
        rc = db_exec(c,
                     "INSERT INTO camera_leases (camera_id, tenant_id, worker_id, generation, "
                     "manual, expires_at, assigned_at) VALUES ($1, $2, NULL, 0, 0, 0, $3)",
                     DB_ARGS(db_int(camera), db_int(tenant), db_int(now)), NULL, &err);
      if (rc == FF_OK)
        rc = db_exec(c,
                     "UPDATE camera_leases SET worker_id = $2, generation = $3, manual = 1, "
                     "expires_at = $4, assigned_at = $5, state = NULL, reason = NULL "
                     "WHERE camera_id = $1",
                     DB_ARGS(db_int(camera), db_int(to), db_int(gen), db_int(expires), db_int(now)),
                     NULL, &err);
      int64_t ttl = (int64_t)rq->server->cfg.fleet_command_ttl_s * 1000;
      if (rc == FF_OK && holder) {
        rc = fleet_command_insert(
            rq->server, c, tenant, holder, "release_camera",
            json_pack("{s:I,s:I}", "camera_id", (json_int_t)camera, "generation", (json_int_t)gen),
            2, ttl, rq->who.user_id, NULL, &err);
        news_notify(&news, holder);
      }
      if (rc == FF_OK)
        rc = fleet_command_insert(
            rq->server, c, tenant, to, "assign_camera",
            json_pack("{s:I,s:I}", "camera_id", (json_int_t)camera, "generation", (json_int_t)gen),
            2, ttl, rq->who.user_id, NULL, &err);
      news_notify(&news, to);
      news_add(&news, tenant, site, "camera.status",
               json_pack("{s:I,s:I,s:I}", "camera_id", (json_int_t)camera, "worker_id",
                         (json_int_t)to, "lease_generation", (json_int_t)gen));
    }
  }
  db_rows_free(r);
  if (rc == FF_OK)
    rc = rebalance_site(rq->server, c, tenant, site, &news, &err);
  char summary[96];
  snprintf(summary, sizeof summary, "camera leased to worker %lld by hand", (long long)to);
  if (rc == FF_OK)
    rc = audit_record(c, rq, tenant, "camera.lease", "camera", camera, summary);
  rc = access_finish(c, rc, &err);
  news_publish(rq->server, &news, rc == FF_OK);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  answer_camera_status(rq, c, camera);
}

void cameras_lease_release(struct request *rq) {
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  int64_t tenant = 0, site = 0;
  int64_t camera = visible_camera(rq, c, &tenant, &site);
  if (!camera) {
    access_abandon(c);
    return;
  }
  struct fleet_news news = {0};
  struct ff_error err = {0};
  struct db_rows *r = NULL;
  int rc = db_query(c, "SELECT worker_id, generation FROM camera_leases WHERE camera_id = $1",
                    DB_ARGS(db_int(camera)), &r, &err);
  if (rc == FF_OK && db_rows_count(r) && !db_rows_is_null(r, 0, 0)) {
    int64_t holder = db_rows_int(r, 0, 0), gen = db_rows_int(r, 0, 1) + 1;
    rc = db_exec(c,
                 "UPDATE camera_leases SET worker_id = NULL, generation = $2, manual = 0, "
                 "expires_at = 0, state = NULL, reason = NULL WHERE camera_id = $1",
                 DB_ARGS(db_int(camera), db_int(gen)), NULL, &err);
    if (rc == FF_OK)
      rc = fleet_command_insert(
          rq->server, c, tenant, holder, "release_camera",
          json_pack("{s:I,s:I}", "camera_id", (json_int_t)camera, "generation", (json_int_t)gen), 2,
          (int64_t)rq->server->cfg.fleet_command_ttl_s * 1000, rq->who.user_id, NULL, &err);
    news_notify(&news, holder);
  }
  db_rows_free(r);
  if (rc == FF_OK)
    rc = rebalance_site(rq->server, c, tenant, site, &news, &err);
  if (rc == FF_OK)
    rc = audit_record(c, rq, tenant, "camera.release", "camera", camera,
                      "lease released: automatic placement");
  rc = access_finish(c, rc, &err);
  news_publish(rq->server, &news, rc == FF_OK);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  answer_camera_status(rq, c, camera);
}

void cameras_command(struct request *rq) {
  static const struct field fields[] = {
      {"type", FIELD_STRING, 1, 32, 0},
      {"params", FIELD_OBJECT, 0, 0, 0},
      {"priority", FIELD_STRING, 0, 16, 0},
  };
  if (http_validate(rq, fields, 3))
    return;
  const char *type = json_string_value(json_object_get(rq->body, "type"));
  int t = in_list(type, command_types, COMMAND_TYPES), priority;
  if (t < 2 || t > 5) {
    http_error(rq, 400, "invalid_field",
               "type must be start_streaming, stop_streaming, start_processing or "
               "stop_processing");
    return;
  }
  if (parse_priority(rq, &priority))
    return;
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  int64_t tenant = 0, site = 0;
  int64_t camera = visible_camera(rq, c, &tenant, &site);
  if (!camera) {
    access_abandon(c);
    return;
  }
  struct db_rows *r = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT worker_id FROM camera_leases WHERE camera_id = $1",
                    DB_ARGS(db_int(camera)), &r, &err);
  int64_t holder = rc == FF_OK && db_rows_count(r) ? db_rows_int(r, 0, 0) : 0;
  db_rows_free(r);
  if (rc || !holder) {
    access_abandon(c);
    if (rc)
      http_fail(rq, rc, &err);
    else
      http_error(rq, 409, "conflict", "no worker runs this camera now");
    return;
  }
  if (t == 2 || t == 3) { /* processing is a camera setting too: it survives a move */
    rc = db_exec(c, "UPDATE cameras SET processing = $2, updated_at = $3 WHERE id = $1",
                 DB_ARGS(db_int(camera), db_int(t == 2), db_int(server_now_ms(rq->server))), NULL,
                 &err);
    if (rc) {
      access_abandon(c);
      db_release(c);
      http_fail(rq, rc, &err);
      return;
    }
  }
  json_t *params = json_deep_copy(json_object_get(rq->body, "params"));
  if (!params)
    params = json_object();
  json_object_set_new(params, "camera_id", json_integer(camera));
  send_command(rq, c, tenant, site, holder, type, params, priority,
               (int64_t)rq->server->cfg.fleet_command_ttl_s * 1000);
}

/* --- the sweeper -------------------------------------------------------------------------- */

static pthread_t sweeper;
static int sweeper_running;
static pthread_mutex_t sweeper_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sweeper_wake = PTHREAD_COND_INITIALIZER;
static int sweeper_stop;

/* A worker's site (0 when none), for the events of a command. */
static int64_t worker_site(struct db_conn *c, int64_t worker) {
  struct db_rows *r = NULL;
  int64_t site = 0;
  if (db_query(c, "SELECT site_id FROM workers WHERE id = $1", DB_ARGS(db_int(worker)), &r, NULL) ==
          FF_OK &&
      db_rows_count(r))
    site = db_rows_int(r, 0, 0);
  db_rows_free(r);
  return site;
}

static void sweep_once(struct server *s) {
  struct db_conn *c = db_acquire(s->db, 2000);
  if (!c)
    return;
  struct fleet_news news = {0};
  struct ff_error err = {0};
  int64_t now = server_now_ms(s);
  int rc = db_begin(c, DB_TX_WRITE, &err);
  struct db_rows *r = NULL;
  int64_t sites[64][2];
  int nsites = 0;
  if (rc == FF_OK)
    rc = db_query(c,
                  "SELECT id, tenant_id, site_id, reported_status, maintenance, "
                  "heartbeat_interval_ms, last_seen_at, derived_status, uuid FROM workers",
                  DB_NOARGS, &r, &err);
  for (int i = 0; rc == FF_OK && i < db_rows_count(r); i++) {
    const char *st = derive_status(db_rows_text(r, i, 3), (int)db_rows_int(r, i, 4),
                                   db_rows_int(r, i, 6), db_rows_int(r, i, 5), now);
    const char *old = db_rows_text(r, i, 7);
    if (!strcmp(st, old))
      continue;
    rc = db_exec(c, "UPDATE workers SET derived_status = $2 WHERE id = $1",
                 DB_ARGS(db_int(db_rows_int(r, i, 0)), db_text(st)), NULL, &err);
    news_add(&news, db_rows_int(r, i, 1), db_rows_int(r, i, 2), "worker.status",
             json_pack("{s:I,s:s,s:s,s:s}", "worker_id", (json_int_t)db_rows_int(r, i, 0), "uuid",
                       db_rows_text(r, i, 8), "status", st, "previous", old));
    log_msg(LOG_INFO, "fleet.worker", "worker=%lld status=%s previous=%s",
            (long long)db_rows_int(r, i, 0), st, old);
    if (eligible(st) != eligible(old) && nsites < 64 && !db_rows_is_null(r, i, 2)) {
      sites[nsites][0] = db_rows_int(r, i, 1);
      sites[nsites][1] = db_rows_int(r, i, 2);
      nsites++;
    }
  }
  db_rows_free(r);
  r = NULL;
  /* Sites with an expired lease, or an enabled camera nobody holds while
   * the site has workers. */
  if (rc == FF_OK)
    rc = db_query(c,
                  "SELECT DISTINCT c.tenant_id, c.site_id FROM cameras c "
                  "LEFT JOIN camera_leases l ON l.camera_id = c.id WHERE c.enabled = 1 AND "
                  "((l.worker_id IS NOT NULL AND l.expires_at < $1) OR (l.worker_id IS NULL AND "
                  "EXISTS (SELECT 1 FROM workers w WHERE w.site_id = c.site_id)))",
                  DB_ARGS(db_int(now)), &r, &err);
  for (int i = 0; rc == FF_OK && r && i < db_rows_count(r) && nsites < 64; i++) {
    sites[nsites][0] = db_rows_int(r, i, 0);
    sites[nsites][1] = db_rows_int(r, i, 1);
    nsites++;
  }
  db_rows_free(r);
  r = NULL;
  for (int i = 0; rc == FF_OK && i < nsites; i++) {
    int seen = 0;
    for (int k = 0; k < i; k++)
      seen |= sites[k][1] == sites[i][1];
    if (!seen)
      rc = rebalance_site(s, c, sites[i][0], sites[i][1], &news, &err);
  }
  /* Commands: expired, or sent and never acknowledged (retry or fail). */
  if (rc == FF_OK)
    rc =
        db_query(c,
                 "UPDATE worker_commands SET status = 'expired', finished_at = $1, updated_at = $1 "
                 "WHERE status IN ('pending', 'sent', 'acknowledged') AND expires_at <= $1 "
                 "RETURNING id, tenant_id, worker_id",
                 DB_ARGS(db_int(now)), &r, &err);
  for (int i = 0; rc == FF_OK && i < db_rows_count(r); i++) {
    atomic_fetch_add(&n_command_final[2], 1);
    news_add(&news, db_rows_int(r, i, 1), worker_site(c, db_rows_int(r, i, 2)), "command.updated",
             json_pack("{s:I,s:I,s:s}", "command_id", (json_int_t)db_rows_int(r, i, 0), "worker_id",
                       (json_int_t)db_rows_int(r, i, 2), "status", "expired"));
  }
  db_rows_free(r);
  r = NULL;
  if (rc == FF_OK)
    rc = db_query(
        c,
        "UPDATE worker_commands SET status = CASE WHEN attempts >= max_attempts THEN "
        "'failed' ELSE 'pending' END, error = CASE WHEN attempts >= max_attempts THEN "
        "'not acknowledged by the worker' ELSE error END, finished_at = CASE WHEN "
        "attempts >= max_attempts THEN CAST($1 AS BIGINT) ELSE NULL END, updated_at = $1 "
        "WHERE status = 'sent' AND sent_at < $2 RETURNING id, tenant_id, worker_id, status",
        DB_ARGS(db_int(now), db_int(now - s->cfg.fleet_ack_timeout_ms)), &r, &err);
  for (int i = 0; rc == FF_OK && i < db_rows_count(r); i++) {
    news_notify(&news, db_rows_int(r, i, 2));
    if (!strcmp(db_rows_text(r, i, 3), "failed")) {
      atomic_fetch_add(&n_command_final[1], 1);
      news_add(&news, db_rows_int(r, i, 1), worker_site(c, db_rows_int(r, i, 2)), "command.updated",
               json_pack("{s:I,s:I,s:s}", "command_id", (json_int_t)db_rows_int(r, i, 0),
                         "worker_id", (json_int_t)db_rows_int(r, i, 2), "status", "failed"));
    }
  }
  db_rows_free(r);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    log_msg(LOG_WARN, "fleet.sweep", "%s", err.message);
  news_publish(s, &news, rc == FF_OK);
}

/* Commands waiting for a worker whose channel this instance holds. A
 * command sent through this instance reaches its own channels at once
 * (fleet_deliver); one sent through another instance of the same database
 * is found here, within a sweep. */
static void deliver_waiting(struct server *s) {
  pthread_mutex_lock(&channels_lock);
  int held = 0;
  for (int i = 0; i < nchannels && !held; i++)
    held = ws_is_open(channels[i].conn);
  pthread_mutex_unlock(&channels_lock);
  if (!held)
    return;
  struct db_conn *c = db_acquire(s->db, 2000);
  if (!c)
    return;
  struct db_rows *r = NULL;
  int64_t now = server_now_ms(s);
  int rc = db_query(c,
                    "SELECT DISTINCT worker_id FROM worker_commands WHERE expires_at > $1 AND "
                    "(status = 'pending' OR (status = 'acknowledged' AND updated_at < $2))",
                    DB_ARGS(db_int(now), db_int(now - s->cfg.fleet_ack_timeout_ms)), &r, NULL);
  db_release(c);
  for (int i = 0; rc == FF_OK && i < db_rows_count(r); i++)
    fleet_deliver(s, db_rows_int(r, i, 0)); /* nothing when the channel is elsewhere */
  db_rows_free(r);
}

static void *sweeper_main(void *arg) {
  struct server *s = arg;
  pthread_mutex_lock(&sweeper_lock);
  while (!sweeper_stop) {
    pthread_mutex_unlock(&sweeper_lock);
    sweep_once(s);
    deliver_waiting(s);
    pthread_mutex_lock(&sweeper_lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    int64_t ns = until.tv_nsec + (int64_t)s->cfg.fleet_sweep_ms * 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    if (!sweeper_stop)
      pthread_cond_timedwait(&sweeper_wake, &sweeper_lock, &until);
  }
  pthread_mutex_unlock(&sweeper_lock);
  return NULL;
}

int fleet_start(struct server *s, struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 5000);
  if (c) {
    /* Channels are per process: none is open after a restart. */
    db_exec(c, "UPDATE workers SET channel_connected = 0", DB_NOARGS, NULL, NULL);
    db_release(c);
  }
  if (s->cfg.fleet_sweep_ms <= 0)
    return FF_OK;
  sweeper_stop = 0;
  if (pthread_create(&sweeper, NULL, sweeper_main, s))
    return ff_fail(err, FF_EINTERNAL, "cannot start the fleet sweeper");
  sweeper_running = 1;
  return FF_OK;
}

void fleet_stop(struct server *s) {
  (void)s;
  if (sweeper_running) {
    pthread_mutex_lock(&sweeper_lock);
    sweeper_stop = 1;
    pthread_cond_signal(&sweeper_wake);
    pthread_mutex_unlock(&sweeper_lock);
    pthread_join(sweeper, NULL);
    sweeper_running = 0;
  }
  pthread_mutex_lock(&channels_lock);
  for (int i = 0; i < nchannels; i++)
    ws_close(channels[i].conn);
  pthread_mutex_unlock(&channels_lock);
}

char *fleet_metrics_text(struct server *s) {
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  if (!f)
    return NULL;
  fprintf(f,
          "# HELP footfall_fleet_registrations_total Worker registrations.\n"
          "# TYPE footfall_fleet_registrations_total counter\n"
          "footfall_fleet_registrations_total %llu\n"
          "# HELP footfall_fleet_heartbeats_total Worker heartbeats answered.\n"
          "# TYPE footfall_fleet_heartbeats_total counter\n"
          "footfall_fleet_heartbeats_total %llu\n"
          "# HELP footfall_fleet_unknown_heartbeats_total Heartbeats from workers the server "
          "does not know (told to register).\n"
          "# TYPE footfall_fleet_unknown_heartbeats_total counter\n"
          "footfall_fleet_unknown_heartbeats_total %llu\n"
          "# HELP footfall_fleet_lease_changes_total Cameras moved between workers.\n"
          "# TYPE footfall_fleet_lease_changes_total counter\n"
          "footfall_fleet_lease_changes_total %llu\n"
          "# HELP footfall_fleet_commands_created_total Commands queued.\n"
          "# TYPE footfall_fleet_commands_created_total counter\n"
          "footfall_fleet_commands_created_total %llu\n"
          "# HELP footfall_fleet_commands_sent_total Commands handed to workers, by carrier.\n"
          "# TYPE footfall_fleet_commands_sent_total counter\n"
          "footfall_fleet_commands_sent_total{via=\"channel\"} %llu\n"
          "footfall_fleet_commands_sent_total{via=\"heartbeat\"} %llu\n"
          "# HELP footfall_fleet_commands_finished_total Commands that ended, by status.\n"
          "# TYPE footfall_fleet_commands_finished_total counter\n"
          "footfall_fleet_commands_finished_total{status=\"completed\"} %llu\n"
          "footfall_fleet_commands_finished_total{status=\"failed\"} %llu\n"
          "footfall_fleet_commands_finished_total{status=\"expired\"} %llu\n"
          "footfall_fleet_commands_finished_total{status=\"cancelled\"} %llu\n"
          "# HELP footfall_fleet_channel_frames_in_total Frames received on worker channels.\n"
          "# TYPE footfall_fleet_channel_frames_in_total counter\n"
          "footfall_fleet_channel_frames_in_total %llu\n"
          "# HELP footfall_websocket_connections Open WebSocket connections.\n"
          "# TYPE footfall_websocket_connections gauge\n"
          "footfall_websocket_connections %d\n",
          atomic_load(&n_registrations), atomic_load(&n_heartbeats),
          atomic_load(&n_unknown_heartbeats), atomic_load(&n_lease_moves),
          atomic_load(&n_commands_created), atomic_load(&n_commands_by_channel),
          atomic_load(&n_commands_by_heartbeat), atomic_load(&n_command_final[0]),
          atomic_load(&n_command_final[1]), atomic_load(&n_command_final[2]),
          atomic_load(&n_command_final[3]), atomic_load(&n_channel_frames_in), ws_open_count());
  struct db_conn *c = db_acquire(s->db, 1000);
  struct db_rows *r = NULL;
  if (c && db_query(c, "SELECT derived_status, COUNT(*) FROM workers GROUP BY derived_status",
                    DB_NOARGS, &r, NULL) == FF_OK) {
    fprintf(f, "# HELP footfall_fleet_workers Workers by status (as last derived).\n"
               "# TYPE footfall_fleet_workers gauge\n");
    for (int i = 0; i < db_rows_count(r); i++)
      fprintf(f, "footfall_fleet_workers{status=\"%s\"} %lld\n", db_rows_text(r, i, 0),
              (long long)db_rows_int(r, i, 1));
  }
  db_rows_free(r);
  db_release(c);
  fclose(f);
  return out;
}

/* --- the history job ------------------------------------------------------------------- */

int fleet_history_job(struct job_run *run, struct ff_error *err) {
  struct server *s = job_server(run);
  int64_t horizon = job_now(run) - (int64_t)s->cfg.fleet_history_days * 86400000;
  static const char finished[] = "status IN ('completed', 'failed', 'expired', 'cancelled') AND "
                                 "finished_at < $1";
  char sql[400];
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  int rc = FF_OK;
  while (rc == FF_OK && !job_stopping(run)) {
    /* One batch per transaction: its counts per tenant, then the rows. */
    struct db_rows *r = NULL;
    if ((rc = db_begin(c, DB_TX_WRITE, err)))
      break;
    snprintf(sql, sizeof sql,
             "SELECT tenant_id, COUNT(*) FROM (SELECT id, tenant_id FROM worker_commands WHERE %s "
             "ORDER BY id LIMIT 500) b GROUP BY tenant_id",
             finished);
    rc = db_query(c, sql, DB_ARGS(db_int(horizon)), &r, err);
    int batches = rc == FF_OK ? db_rows_count(r) : 0;
    snprintf(sql, sizeof sql,
             "DELETE FROM worker_commands WHERE id IN (SELECT id FROM worker_commands WHERE %s "
             "ORDER BY id LIMIT 500)",
             finished);
    if (rc == FF_OK && batches)
      rc = db_exec(c, sql, DB_ARGS(db_int(horizon)), NULL, err);
    rc = access_finish(c, rc, err);
    for (int i = 0; rc == FF_OK && i < batches; i++)
      job_count(run, db_rows_int(r, i, 0), "commands_deleted", db_rows_int(r, i, 1));
    db_rows_free(r);
    if (!batches)
      break;
  }
  db_release(c);
  return rc;
}
