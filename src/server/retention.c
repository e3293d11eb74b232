/* retention.c — the retention job: face pictures past their tenant's
 * retention are deleted, queued deletions (erasure) are retried, and a
 * verification pass proves from the store's own listing that nothing older
 * than the retention survives.
 *
 * Crash-safe order for every picture: (1) in one transaction, the visit's
 * reference is cleared and the key queued in picture_deletions, so the API
 * never serves a row whose object may be gone; (2) the object is deleted;
 * (3) the queue row is removed. A crash between the steps leaves a queue
 * row, and the next run deletes the object again (deleting is idempotent):
 * no object is ever unknown to the database.
 *
 * The verification walks every key under t/ and judges each by itself:
 *   - a visit picture's key names the UTC day it was captured
 *     (t/<tenant>/visits/<yyyy>/<mm>/<dd>/<event>.jpg): older than the
 *     retention means a leftover, referenced or not;
 *   - an object referenced by no visit, staff face or queued deletion is an
 *     orphan (a failed delete after a rolled-back batch or a replaced crop):
 *     removed once it is older than ORPHAN_GRACE_MS by its write time (a
 *     batch in flight writes its pictures before it commits, so younger
 *     unreferenced objects are left alone, old key or not);
 *   - a visit changed since the run began is left to the next run;
 *   - an object of no existing tenant is a leftover.
 * Leftovers are errors of the run (and the footfall_retention_leftovers
 * metric); unreferenced ones are deleted at once, so the next run is clean.
 * On the database side, a visit still pointing to a picture past its expiry
 * after the run is a leftover too, and a visit pointing to a picture the
 * store does not have is reported and its reference cleared (find_missing).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "housekeeping.h"
#include "retention.h"
#include "server.h"
#include "store.h"
#include "tz.h"

#define DAY_MS (86400 * 1000LL)
#define EXPIRE_BATCH 500
#define ORPHAN_GRACE_MS (10 * 60 * 1000LL)

int retention_reschedule(struct db_conn *c, int64_t tenant, int new_days, struct ff_error *err) {
  return db_exec(c,
                 "UPDATE visits SET picture_expires_at = picture_expires_at + "
                 "(CAST($2 AS BIGINT) - (SELECT retention_days FROM tenants WHERE id = $1)) * "
                 "86400000 WHERE tenant_id = $1 AND picture_key IS NOT NULL",
                 DB_ARGS(db_int(tenant), db_int(new_days)), NULL, err);
}

int retention_queue(struct db_conn *c, int64_t tenant, const char *key, const char *reason,
                    int64_t now, struct ff_error *err) {
  return db_exec(c,
                 "INSERT INTO picture_deletions (tenant_id, picture_key, reason, queued_at) "
                 "VALUES ($1, $2, $3, $4)",
                 DB_ARGS(db_int(tenant), db_text(key), db_text(reason), db_int(now)), NULL, err);
}

int retention_delete_now(struct server *s, struct db_conn *c, const char *key,
                         struct ff_error *err) {
  int rc = store_delete(s->store, key, err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM picture_deletions WHERE picture_key = $1", DB_ARGS(db_text(key)),
                 NULL, err);
  return rc;
}

/* Step 1 for one tenant: clear and queue, a batch per transaction. */
static int expire_tenant(struct job_run *run, struct db_conn *c, int64_t tenant,
                         struct ff_error *err) {
  int64_t now = job_now(run);
  for (;;) {
    struct db_rows *rows = NULL;
    int rc = db_begin(c, DB_TX_WRITE, err);
    if (!rc)
      rc = db_query(c,
                    "SELECT id, picture_key FROM visits WHERE tenant_id = $1 AND "
                    "picture_key IS NOT NULL AND picture_expires_at <= $2 ORDER BY id LIMIT $3",
                    DB_ARGS(db_int(tenant), db_int(now), db_int(EXPIRE_BATCH)), &rows, err);
    int n = rc ? 0 : db_rows_count(rows);
    for (int i = 0; !rc && i < n; i++) {
      rc = retention_queue(c, tenant, db_rows_text(rows, i, 1), "retention", now, err);
      if (!rc)
        rc = db_exec(c, "UPDATE visits SET picture_key = NULL, updated_at = $2 WHERE id = $1",
                     DB_ARGS(db_int(db_rows_int(rows, i, 0)), db_int(now)), NULL, err);
    }
    db_rows_free(rows);
    if ((rc = access_finish(c, rc, err)))
      return rc;
    job_count(run, tenant, "pictures_expired", n);
    if (n < EXPIRE_BATCH || job_stopping(run))
      return FF_OK;
  }
}

/* Step 2 and 3 for every queued key; failures stay queued for the next run. */
static int drain_queue(struct job_run *run, struct db_conn *c, struct ff_error *err) {
  struct server *s = job_server(run);
  int64_t after = 0;
  for (;;) {
    struct db_rows *rows = NULL;
    int rc = db_query(c,
                      "SELECT id, tenant_id, picture_key, reason FROM picture_deletions "
                      "WHERE id > $1 ORDER BY id LIMIT 1000",
                      DB_ARGS(db_int(after)), &rows, err);
    if (rc)
      return rc;
    int n = db_rows_count(rows);
    for (int i = 0; i < n && !job_stopping(run); i++) {
      int64_t id = db_rows_int(rows, i, 0), tenant = db_rows_int(rows, i, 1);
      const char *key = db_rows_text(rows, i, 2), *reason = db_rows_text(rows, i, 3);
      after = id;
      struct ff_error derr = {0};
      int drc = store_delete(s->store, key, &derr);
      if (!drc)
        drc = db_exec(c, "DELETE FROM picture_deletions WHERE id = $1", DB_ARGS(db_int(id)), NULL,
                      &derr);
      else
        db_exec(c,
                "UPDATE picture_deletions SET attempts = attempts + 1, last_error = $2 "
                "WHERE id = $1",
                DB_ARGS(db_int(id), db_text(derr.message)), NULL, NULL);
      if (drc)
        job_error(run, tenant, "picture %s (%s) could not be deleted: %s", key, reason,
                  derr.message);
      else
        job_count(run, tenant,
                  strcmp(reason, "retention") ? "erased_pictures_deleted" : "pictures_deleted", 1);
    }
    db_rows_free(rows);
    if (n < 1000 || job_stopping(run))
      return FF_OK;
  }
}

/* --- verification ------------------------------------------------------------------- */

struct verify {
  struct job_run *run;
  struct db_conn *c;
  struct db_rows *tenants; /* id, retention_days */
  int64_t leftovers;
  int64_t
      *seen; /* per tenant row: kept visit pictures found, of visits unchanged since the start */
};

/* The tenant's row in v->tenants, or -1. */
static int tenant_row(const struct verify *v, int64_t tenant) {
  for (int i = 0; i < db_rows_count(v->tenants); i++)
    if (db_rows_int(v->tenants, i, 0) == tenant)
      return i;
  return -1;
}

/* The capture day named by a visit picture's key, as the end of that UTC
 * day in ms; 0 when the key does not name one. */
static int64_t key_day_end(const char *rest) {
  int y, m, d;
  char tail[8];
  if (sscanf(rest, "visits/%4d/%2d/%2d/%1s", &y, &m, &d, tail) != 4 || m < 1 || m > 12 || d < 1 ||
      d > 31)
    return 0;
  return (tz_days_from_civil(y, m, d) + 1) * DAY_MS;
}

/* What refers to the key: 1 a visit (with *expires and *updated), 2 a
 * staff face, 3 a queued deletion, 0 nothing; < 0 on error. */
static int referrer(struct db_conn *c, const char *key, int64_t *expires, int64_t *updated,
                    struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT 1, picture_expires_at, updated_at FROM visits WHERE picture_key = $1 "
                    "UNION ALL SELECT 2, 0, 0 FROM staff_faces WHERE picture_key = $1 "
                    "UNION ALL SELECT 3, 0, 0 FROM picture_deletions WHERE picture_key = $1",
                    DB_ARGS(db_text(key)), &rows, err);
  if (rc)
    return rc;
  int kind = db_rows_count(rows) ? (int)db_rows_int(rows, 0, 0) : 0;
  *expires = db_rows_int(rows, 0, 1);
  *updated = db_rows_int(rows, 0, 2);
  db_rows_free(rows);
  return kind;
}

static void remove_leftover(struct verify *v, int64_t tenant, const char *key, const char *why) {
  struct ff_error err = {0};
  v->leftovers++;
  job_count(v->run, tenant, "leftovers", 1);
  if (store_delete(job_server(v->run)->store, key, &err)) {
    job_error(v->run, tenant, "leftover %s (%s) could not be deleted: %s", key, why, err.message);
    return;
  }
  job_count(v->run, tenant, "leftovers_removed", 1);
  job_error(v->run, tenant, "leftover %s (%s), removed", key, why);
}

static int verify_key(void *ctx, const struct store_entry *e) {
  struct verify *v = ctx;
  if (job_stopping(v->run))
    return FF_EBUSY;
  int64_t now = job_now(v->run);
  long long tenant = 0;
  int used = 0;
  if (sscanf(e->key, "t/%lld/%n", &tenant, &used) != 1 || used == 0 || tenant <= 0) {
    remove_leftover(v, 0, e->key, "not under a tenant");
    return FF_OK;
  }
  int row = tenant_row(v, tenant);
  int days = row < 0 ? 0 : (int)db_rows_int(v->tenants, row, 1);
  if (!days) {
    remove_leftover(v, 0, e->key, "a tenant that does not exist");
    return FF_OK;
  }
  job_count(v->run, tenant, "objects_checked", 1);
  int64_t limit = now - days * DAY_MS; /* anything captured before this is past retention */
  int64_t day_end = key_day_end(e->key + used);
  int old = day_end ? day_end <= limit : (e->modified_ms && e->modified_ms <= limit);
  int64_t expires = 0, updated = 0;
  struct ff_error err = {0};
  int kind = referrer(v->c, e->key, &expires, &updated, &err);
  if (kind < 0) {
    job_error(v->run, tenant, "verifying %s: %s", e->key, err.message);
    return FF_OK;
  }
  /* Written moments ago: a batch may still be committing it. */
  int settled = e->modified_ms && e->modified_ms <= now - ORPHAN_GRACE_MS;
  if (kind == 1 && updated >= now) {
    job_count(v->run, tenant, "pictures_changing", 1); /* judged by the next run */
  } else if (kind == 1 && (old || expires <= now)) {
    v->leftovers++;
    job_count(v->run, tenant, "leftovers", 1);
    job_error(v->run, tenant, "picture %s of a visit outlived its retention (%d days)", e->key,
              days);
  } else if (kind == 2 || kind == 1) {
    job_count(v->run, tenant, kind == 1 ? "pictures_kept" : "staff_pictures_kept", 1);
    if (kind == 1 && updated < now)
      v->seen[row]++;
  } else if (kind == 3) {
    job_count(v->run, tenant, "deletions_pending", 1);
  } else if (!settled) {
    job_count(v->run, tenant, "objects_in_flight", 1);
  } else if (old) {
    remove_leftover(v, tenant, e->key, "older than the retention and referenced by nothing");
  } else {
    /* An orphan younger than the retention: cleanup, not a breach. */
    if (store_delete(job_server(v->run)->store, e->key, &err))
      job_error(v->run, tenant, "orphan %s could not be deleted: %s", e->key, err.message);
    else
      job_count(v->run, tenant, "orphans_removed", 1);
  }
  return FF_OK;
}

/* The other direction: a visit that points to a picture the store does not
 * have. The walk counted, per tenant, the kept pictures it found of visits
 * unchanged since the run began; when the database holds more such visits,
 * each is looked up and a dangling reference is cleared and reported. (A
 * picture changed during the walk can only hide a missing one until the next
 * run, never invent one.) */
static void find_missing(struct verify *v, int row, struct ff_error *err) {
  struct job_run *run = v->run;
  int64_t tenant = db_rows_int(v->tenants, row, 0), now = job_now(run), after = 0;
  struct db_rows *rows = NULL;
  if (db_query(v->c,
               "SELECT COUNT(*) FROM visits WHERE tenant_id = $1 AND picture_key IS NOT NULL AND "
               "updated_at < $2 AND picture_expires_at > $2",
               DB_ARGS(db_int(tenant), db_int(now)), &rows, err)) {
    job_error(run, tenant, "counting kept pictures: %s", err->message);
    return;
  }
  int64_t expected = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  if (expected <= v->seen[row])
    return;
  for (int n = 1000; n == 1000 && !job_stopping(run);) {
    rows = NULL;
    if (db_query(v->c,
                 "SELECT id, picture_key FROM visits WHERE tenant_id = $1 AND picture_key IS NOT "
                 "NULL AND updated_at < $2 AND picture_expires_at > $2 AND id > $3 "
                 "ORDER BY id LIMIT 1000",
                 DB_ARGS(db_int(tenant), db_int(now), db_int(after)), &rows, err)) {
      job_error(run, tenant, "looking for missing pictures: %s", err->message);
      return;
    }
    n = db_rows_count(rows);
    for (int i = 0; i < n; i++) {
      const char *key = db_rows_text(rows, i, 1);
      int64_t visit = db_rows_int(rows, i, 0), changes = 0;
      uint64_t size;
      after = visit;
      if (store_head(job_server(run)->store, key, &size, NULL) != FF_ENOTFOUND)
        continue;
      /* Cleared only if the visit still points to that key. */
      db_exec(v->c,
              "UPDATE visits SET picture_key = NULL, updated_at = $3 WHERE id = $1 AND "
              "picture_key = $2",
              DB_ARGS(db_int(visit), db_text(key), db_int(now)), &changes, NULL);
      job_count(run, tenant, "missing_pictures", 1);
      job_error(run, tenant, "visit %lld pointed to %s, which the store does not have%s",
                (long long)visit, key, changes ? "; reference cleared" : "");
    }
    db_rows_free(rows);
  }
}

static int verify(struct job_run *run, struct db_conn *c, struct db_rows *tenants,
                  struct ff_error *err) {
  struct verify v = {.run = run, .c = c, .tenants = tenants};
  v.seen = calloc((size_t)db_rows_count(tenants) + 1, sizeof *v.seen);
  if (!v.seen)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  int64_t now = job_now(run);
  /* The database: no visit may still point to a picture past its expiry. */
  for (int i = 0; i < db_rows_count(tenants); i++) {
    int64_t tenant = db_rows_int(tenants, i, 0);
    struct db_rows *rows = NULL;
    int rc = db_query(c,
                      "SELECT COUNT(*) FROM visits WHERE tenant_id = $1 AND picture_key IS NOT "
                      "NULL AND (picture_expires_at <= $2 OR picture_expires_at IS NULL) AND "
                      "updated_at < $2",
                      DB_ARGS(db_int(tenant), db_int(now)), &rows, err);
    if (rc) {
      free(v.seen);
      return rc;
    }
    int64_t stale = db_rows_int(rows, 0, 0);
    db_rows_free(rows);
    if (stale) {
      v.leftovers += stale;
      job_count(run, tenant, "leftovers", stale);
      job_error(run, tenant, "%" PRId64 " visits still point to pictures past their expiry", stale);
    }
  }
  /* The store: every object, judged by its key, its age and its referrer. */
  int rc = store_list_all(job_server(run)->store, "t/", verify_key, &v, err);
  for (int i = 0; !rc && i < db_rows_count(tenants) && !job_stopping(run); i++)
    find_missing(&v, i, err);
  free(v.seen);
  if (rc == FF_EBUSY && job_stopping(run))
    return FF_OK;
  if (!rc)
    metrics_retention(&job_server(run)->metrics, v.leftovers, now);
  return rc;
}

int retention_job(struct job_run *run, struct ff_error *err) {
  struct server *s = job_server(run);
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  struct db_rows *tenants = NULL;
  int rc =
      db_query(c, "SELECT id, retention_days FROM tenants ORDER BY id", DB_NOARGS, &tenants, err);
  for (int i = 0; !rc && i < db_rows_count(tenants) && !job_stopping(run); i++) {
    struct ff_error terr = {0};
    int64_t tenant = db_rows_int(tenants, i, 0);
    if (expire_tenant(run, c, tenant, &terr))
      job_error(run, tenant, "expiring pictures: %s", terr.message);
  }
  if (!rc && !job_stopping(run))
    rc = drain_queue(run, c, err);
  if (!rc && !job_stopping(run))
    rc = verify(run, c, tenants, err);
  db_rows_free(tenants);
  db_release(c);
  return rc;
}
