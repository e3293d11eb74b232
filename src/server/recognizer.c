#include "recognizer.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hub.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "tz.h"
#include "vindex.h"

/* Loaded time zones; guarded by zones_lock; never freed before exit. */
#define MAX_ZONES 256
static pthread_mutex_t zones_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *zones[MAX_ZONES];
static int zone_count;

const struct tz *recognizer_zone(struct server *s, const char *name, struct ff_error *err) {
  (void)s;
  pthread_mutex_lock(&zones_lock);
  for (int i = 0; i < zone_count; i++)
    if (!strcmp(tz_name(zones[i]), name)) {
      pthread_mutex_unlock(&zones_lock);
      return zones[i];
    }
  struct tz *tz = NULL;
  int rc = zone_count < MAX_ZONES ? tz_load(name, &tz, err)
                                  : ff_fail(err, FF_EINTERNAL, "too many time zones");
  if (!rc)
    zones[zone_count++] = tz;
  pthread_mutex_unlock(&zones_lock);
  return rc ? NULL : tz;
}

void descriptor_pack(const float in[DESCRIPTOR_DIM], unsigned char out[DESCRIPTOR_BYTES]) {
  for (int i = 0; i < DESCRIPTOR_DIM; i++) {
    uint32_t u;
    memcpy(&u, &in[i], 4);
    out[i * 4] = (unsigned char)u;
    out[i * 4 + 1] = (unsigned char)(u >> 8);
    out[i * 4 + 2] = (unsigned char)(u >> 16);
    out[i * 4 + 3] = (unsigned char)(u >> 24);
  }
}

int descriptor_unpack(const void *in, size_t len, float out[DESCRIPTOR_DIM]) {
  if (!in || len != DESCRIPTOR_BYTES)
    return FF_EINVAL;
  const unsigned char *b = in;
  for (int i = 0; i < DESCRIPTOR_DIM; i++) {
    uint32_t u = (uint32_t)b[i * 4] | (uint32_t)b[i * 4 + 1] << 8 | (uint32_t)b[i * 4 + 2] << 16 |
                 (uint32_t)b[i * 4 + 3] << 24;
    memcpy(&out[i], &u, 4);
  }
  return FF_OK;
}

int recognizer_settings_load(struct db_conn *c, int64_t tenant_id, struct recognizer_settings *out,
                             struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT s.match_threshold, s.match_margin, s.staff_threshold, s.visit_gap_s, "
                    "s.gallery_size, s.min_face_px, s.min_score, s.min_quality, t.retention_days, "
                    "s.returning_lookback_days "
                    "FROM tenants t LEFT JOIN tenant_settings s ON s.tenant_id = t.id "
                    "WHERE t.id = $1",
                    DB_ARGS(db_int(tenant_id)), &rows, err);
  if (rc)
    return rc;
  if (db_rows_count(rows) != 1) {
    db_rows_free(rows);
    return ff_fail(err, FF_ENOTFOUND, "no such tenant");
  }
  /* The defaults here are the column defaults of tenant_settings. */
  int custom = !db_rows_is_null(rows, 0, 0);
  out->match_threshold = custom ? db_rows_real(rows, 0, 0) : 0.55;
  out->match_margin = custom ? db_rows_real(rows, 0, 1) : 0.04;
  out->staff_threshold = custom ? db_rows_real(rows, 0, 2) : 0.5;
  out->visit_gap_ms = (custom ? db_rows_int(rows, 0, 3) : 1800) * 1000;
  out->gallery_size = custom ? (int)db_rows_int(rows, 0, 4) : 10;
  out->min_face_px = custom ? (int)db_rows_int(rows, 0, 5) : 40;
  out->min_score = custom ? db_rows_real(rows, 0, 6) : 0.5;
  out->min_quality = custom ? db_rows_real(rows, 0, 7) : 0.15;
  out->retention_days = (int)db_rows_int(rows, 0, 8);
  out->returning_lookback_days = custom ? (int)db_rows_int(rows, 0, 9) : 365;
  db_rows_free(rows);
  return FF_OK;
}

int recognizer_customers(struct server *s, int64_t tenant_id, struct vindex **out,
                         struct ff_error *err) {
  return vindex_registry_get(s->customer_index, tenant_id, out, err);
}

int recognizer_staff(struct server *s, int64_t tenant_id, struct vindex **out,
                     struct ff_error *err) {
  return vindex_registry_get(s->staff_index, tenant_id, out, err);
}

int recognizer_optout(struct server *s, int64_t tenant_id, struct vindex **out,
                      struct ff_error *err) {
  return vindex_registry_get(s->optout_index, tenant_id, out, err);
}

/* Adds every row (id, label, descriptor) to the tenant's index. */
static int fill(struct server *s, struct vindex_registry *reg, struct db_rows *rows,
                struct ff_error *err) {
  int n = db_rows_count(rows);
  for (int i = 0; i < n; i++) {
    struct vindex *ix;
    int rc = vindex_registry_get(reg, db_rows_int(rows, i, 0), &ix, err);
    if (rc)
      return rc;
    size_t len;
    const void *blob = db_rows_blob(rows, i, 3, &len);
    float v[DESCRIPTOR_DIM];
    if (descriptor_unpack(blob, len, v)) {
      log_msg(LOG_WARN, "recognition.bad_descriptor", "row %lld has a malformed descriptor",
              (long long)db_rows_int(rows, i, 1));
      continue;
    }
    if ((rc = vindex_add(ix, db_rows_int(rows, i, 1), db_rows_int(rows, i, 2), v, err)) &&
        rc != FF_ECONFLICT)
      return rc;
  }
  (void)s;
  return FF_OK;
}

static int load(struct server *s, struct db_conn *c, int64_t tenant_id, struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT f.tenant_id, f.id, f.customer_id, f.descriptor FROM customer_faces f "
                    "JOIN customers c ON c.id = f.customer_id "
                    "WHERE ($1 = 0 OR f.tenant_id = $1) AND c.erased_at IS NULL AND f.model = $2",
                    DB_ARGS(db_int(tenant_id), db_text(RECOGNITION_MODEL)), &rows, err);
  if (!rc)
    rc = fill(s, s->customer_index, rows, err);
  db_rows_free(rows);
  rows = NULL;
  if (!rc)
    rc = db_query(c,
                  "SELECT f.tenant_id, f.id, f.staff_id, f.descriptor FROM staff_faces f "
                  "JOIN staff m ON m.id = f.staff_id "
                  "WHERE ($1 = 0 OR f.tenant_id = $1) AND m.active = 1 AND f.model = $2",
                  DB_ARGS(db_int(tenant_id), db_text(RECOGNITION_MODEL)), &rows, err);
  if (!rc)
    rc = fill(s, s->staff_index, rows, err);
  db_rows_free(rows);
  rows = NULL;
  if (!rc)
    rc = db_query(c,
                  "SELECT tenant_id, id, id, descriptor FROM do_not_track "
                  "WHERE ($1 = 0 OR tenant_id = $1) AND model = $2",
                  DB_ARGS(db_int(tenant_id), db_text(RECOGNITION_MODEL)), &rows, err);
  if (!rc)
    rc = fill(s, s->optout_index, rows, err);
  db_rows_free(rows);
  return rc;
}

int recognizer_reload_tenant(struct server *s, struct db_conn *c, int64_t tenant_id,
                             struct ff_error *err) {
  struct vindex *ix;
  int rc = recognizer_customers(s, tenant_id, &ix, err);
  if (!rc) {
    vindex_clear(ix);
    rc = recognizer_staff(s, tenant_id, &ix, err);
  }
  if (!rc) {
    vindex_clear(ix);
    rc = recognizer_optout(s, tenant_id, &ix, err);
  }
  if (!rc) {
    vindex_clear(ix);
    rc = load(s, c, tenant_id, err);
  }
  return rc;
}

/* --- several servers ---------------------------------------------------------------------- */

/* This process's name in index notifications (its own are skipped), and
 * notifications heard before the indexes were loaded. */
static char instance[17];
static pthread_mutex_t remote_lock = PTHREAD_MUTEX_INITIALIZER;
static int remote_ready;
static char **remote_pending;
static int remote_pending_count;

void recognizer_changed(struct server *s, enum recognizer_change kind, int64_t tenant_id,
                        const int64_t *ids, int count) {
  if (db_backend(s->db) != DB_POSTGRES || tenant_id <= 0 ||
      (!count && kind != RECOGNIZER_TENANT))
    return;
  char payload[DB_NOTIFY_MAX + 1];
  int i = 0;
  do { /* as many notifications as the ids need */
    int n = snprintf(payload, sizeof payload, "%s %c %lld ", instance, (char)kind,
                     (long long)tenant_id);
    for (; i < count && n < DB_NOTIFY_MAX - 24; i++)
      n += snprintf(payload + n, sizeof payload - (size_t)n, "%s%lld", i && payload[n - 1] != ' ' ? "," : "",
                    (long long)ids[i]);
    if (hub_notify_index(s, payload))
      log_msg(LOG_ERROR, "recognizer.notify_failed", "other instances miss a change (%.40s)",
              payload);
  } while (i < count);
}

/* The faces of one customer, staff member or do-not-track entry, reloaded. */
static int reload_entry(struct server *s, struct db_conn *c, char kind, int64_t tenant, int64_t id,
                        struct ff_error *err) {
  /* (parenthesised: one statement per element, as clang's -Wstring-concatenation checks) */
  static const char *const sql[] = {
      ("SELECT f.id, f.customer_id, f.descriptor FROM customer_faces f JOIN customers c ON "
       "c.id = f.customer_id WHERE f.customer_id = $1 AND f.tenant_id = $2 AND c.erased_at IS NULL "
       "AND f.model = $3"),
      ("SELECT f.id, f.staff_id, f.descriptor FROM staff_faces f JOIN staff m ON m.id = f.staff_id "
       "WHERE f.staff_id = $1 AND f.tenant_id = $2 AND m.active = 1 AND f.model = $3"),
      "SELECT id, id, descriptor FROM do_not_track WHERE id = $1 AND tenant_id = $2 AND model = $3",
  };
  int k = kind == RECOGNIZER_CUSTOMERS ? 0 : kind == RECOGNIZER_STAFF ? 1 : 2;
  struct vindex *ix;
  int rc = k == 0   ? recognizer_customers(s, tenant, &ix, err)
           : k == 1 ? recognizer_staff(s, tenant, &ix, err)
                    : recognizer_optout(s, tenant, &ix, err);
  struct db_rows *rows = NULL;
  if (!rc)
    rc = db_query(c, sql[k], DB_ARGS(db_int(id), db_int(tenant), db_text(RECOGNITION_MODEL)),
                  &rows, err);
  if (!rc)
    vindex_remove_label(ix, id, NULL, NULL);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    size_t len;
    const void *blob = db_rows_blob(rows, i, 2, &len);
    float v[DESCRIPTOR_DIM];
    if (!descriptor_unpack(blob, len, v) &&
        (rc = vindex_add(ix, db_rows_int(rows, i, 0), id, v, err)) == FF_ECONFLICT)
      rc = FF_OK;
  }
  db_rows_free(rows);
  return rc;
}

static void apply(struct server *s, const char *payload) {
  char from[17], kind;
  long long tenant;
  int at = 0;
  if (sscanf(payload, "%16s %c %lld %n", from, &kind, &tenant, &at) != 3 || tenant <= 0 ||
      !strchr("csot", kind)) {
    log_msg(LOG_WARN, "recognizer.bad_notification", "ignored a malformed index notification");
    return;
  }
  if (!strcmp(from, instance))
    return;
  struct db_conn *c = db_acquire(s->db, 10000);
  struct ff_error err = {0};
  int rc = c ? FF_OK : ff_fail(&err, FF_EBUSY, "no database connection");
  if (!rc && kind == RECOGNIZER_TENANT)
    rc = recognizer_reload_tenant(s, c, tenant, &err);
  for (const char *p = payload + at; !rc && at && *p;) {
    char *end;
    long long id = strtoll(p, &end, 10);
    if (end == p)
      break;
    rc = reload_entry(s, c, kind, tenant, id, &err);
    p = *end == ',' ? end + 1 : end;
  }
  db_release(c);
  if (rc) /* the index may be stale now: rebuild the tenant's */
    log_msg(LOG_ERROR, "recognizer.remote_change_failed", "tenant %lld: %s", tenant, err.message);
}

void recognizer_apply_remote(struct server *s, const char *payload) {
  pthread_mutex_lock(&remote_lock);
  if (!remote_ready) { /* kept until the indexes are loaded */
    char **grown = realloc(remote_pending, sizeof *grown * (size_t)(remote_pending_count + 1));
    if (grown && (grown[remote_pending_count] = strdup(payload)))
      remote_pending_count++;
    if (grown)
      remote_pending = grown;
    pthread_mutex_unlock(&remote_lock);
    return;
  }
  pthread_mutex_unlock(&remote_lock);
  apply(s, payload);
}

void recognizer_resync(struct server *s) {
  struct db_conn *c = db_acquire(s->db, 10000);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = c ? db_query(c, "SELECT id FROM tenants", DB_NOARGS, &rows, &err) : FF_EBUSY;
  for (int i = 0; !rc && i < db_rows_count(rows); i++)
    rc = recognizer_reload_tenant(s, c, db_rows_int(rows, i, 0), &err);
  db_rows_free(rows);
  db_release(c);
  if (rc)
    log_msg(LOG_ERROR, "recognizer.resync_failed", "%s", err.message);
  else
    log_msg(LOG_INFO, "recognizer.resynced", "indexes rebuilt after missed notifications");
}

/* The indexes are loaded: apply what was heard meanwhile. */
static void remote_start(struct server *s) {
  pthread_mutex_lock(&remote_lock);
  remote_ready = 1;
  char **pending = remote_pending;
  int n = remote_pending_count;
  remote_pending = NULL;
  remote_pending_count = 0;
  pthread_mutex_unlock(&remote_lock);
  for (int i = 0; i < n; i++) {
    apply(s, pending[i]);
    free(pending[i]);
  }
  free(pending);
}

int recognizer_init(struct server *s, struct ff_error *err) {
  unsigned char rnd[8];
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(instance, sizeof instance, rnd, sizeof rnd);
  int rc = vindex_registry_create(&s->customer_index, err);
  if (!rc)
    rc = vindex_registry_create(&s->staff_index, err);
  if (!rc)
    rc = vindex_registry_create(&s->optout_index, err);
  if (rc)
    return rc;

  char default_url[1200];
  snprintf(default_url, sizeof default_url, "file:%s/pictures", s->cfg.data_dir);
  struct store_options so = {.url = s->cfg.store_url ? s->cfg.store_url : default_url,
                             .s3_access_key = s->cfg.s3_access_key,
                             .s3_secret_key = s->cfg.s3_secret_key,
                             .s3_region = s->cfg.s3_region,
                             .s3_endpoint = s->cfg.s3_endpoint};
  if ((rc = store_open(&s->store, &so, err)))
    return rc;

  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection to load the galleries");
  rc = load(s, c, 0, err);
  db_release(c);
  if (!rc)
    remote_start(s);
  if (!rc)
    log_msg(LOG_INFO, "recognizer.loaded", "%zu tenant galleries, %zu bytes of index",
            vindex_registry_count(s->customer_index), vindex_registry_memory(s->customer_index));
  return rc;
}

void recognizer_free(struct server *s) {
  pthread_mutex_lock(&remote_lock);
  for (int i = 0; i < remote_pending_count; i++)
    free(remote_pending[i]);
  free(remote_pending);
  remote_pending = NULL;
  remote_pending_count = remote_ready = 0;
  pthread_mutex_unlock(&remote_lock);
  if (s->customer_index)
    vindex_registry_destroy(s->customer_index);
  if (s->staff_index)
    vindex_registry_destroy(s->staff_index);
  if (s->optout_index)
    vindex_registry_destroy(s->optout_index);
  if (s->store)
    store_close(s->store);
  s->customer_index = s->staff_index = s->optout_index = NULL;
  s->store = NULL;
}

#define STATS_SAMPLE 100 /* recent visits that decide gender and age */

int recognizer_refresh_customer(struct db_conn *c, int64_t customer, int64_t now,
                                struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT gender, gender_probability, age FROM visits WHERE customer_id = $1 "
                    "ORDER BY first_seen_at DESC LIMIT $2",
                    DB_ARGS(db_int(customer), db_int(STATS_SAMPLE)), &rows, err);
  if (rc)
    return rc;
  double male = 0, female = 0, ages[STATS_SAMPLE];
  int n_age = 0, n = db_rows_count(rows);
  for (int i = 0; i < n; i++) {
    const char *g = db_rows_text(rows, i, 0);
    double p = db_rows_real(rows, i, 1);
    if (g && !strcmp(g, "male"))
      male += p, female += 1 - p;
    else if (g && !strcmp(g, "female"))
      female += p, male += 1 - p;
    if (!db_rows_is_null(rows, i, 2) && n_age < STATS_SAMPLE)
      ages[n_age++] = db_rows_real(rows, i, 2);
  }
  db_rows_free(rows);
  for (int i = 1; i < n_age; i++) /* insertion sort: at most STATS_SAMPLE */
    for (int j = i; j > 0 && ages[j - 1] > ages[j]; j--) {
      double t = ages[j];
      ages[j] = ages[j - 1];
      ages[j - 1] = t;
    }
  double votes = male + female;
  const char *gender = votes > 0 ? (male > female ? "male" : "female") : NULL;
  double confidence = votes > 0 ? (male > female ? male : female) / votes : 0;
  double age =
      n_age ? (n_age % 2 ? ages[n_age / 2] : (ages[n_age / 2 - 1] + ages[n_age / 2]) / 2) : 0;
  return db_exec(c,
                 "UPDATE customers SET gender = $2, gender_confidence = $3, age = $4, "
                 "visit_count = (SELECT COUNT(*) FROM visits WHERE customer_id = $1), "
                 "first_seen_at = (SELECT MIN(first_seen_at) FROM visits WHERE customer_id = $1), "
                 "last_seen_at = (SELECT MAX(last_seen_at) FROM visits WHERE customer_id = $1), "
                 "updated_at = $5 WHERE id = $1",
                 DB_ARGS(db_int(customer), db_text(gender),
                         gender ? db_real(confidence) : db_null(), n_age ? db_real(age) : db_null(),
                         db_int(now)),
                 NULL, err);
}
