/* housekeeping.c — the small jobs: expiry of spent credentials and old
 * ledger entries, and the staff-list signal to workers. */
#include "housekeeping.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "events.h"
#include "recognizer.h"
#include "rollups.h"
#include "server.h"

#define DELETE_BATCH 5000 /* rows per transaction, so writers are not held up */

/* Runs a DELETE that removes at most DELETE_BATCH rows until it removes
 * fewer; counts them under `name`. */
static int delete_batches(struct job_run *run, struct db_conn *c, const char *name, const char *sql,
                          int64_t horizon, struct ff_error *err) {
  for (;;) {
    int64_t changes = 0;
    int rc = db_exec(c, sql, DB_ARGS(db_int(horizon), db_int(DELETE_BATCH)), &changes, err);
    if (rc)
      return rc;
    job_count(run, 0, name, changes);
    if (changes < DELETE_BATCH || job_stopping(run))
      return FF_OK;
  }
}

int expiry_job(struct job_run *run, struct ff_error *err) {
  struct server *s = job_server(run);
  int64_t now = job_now(run);
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  /* Stream tickets live for seconds and are single-use. */
  int rc = delete_batches(run, c, "stream_tickets",
                          "DELETE FROM stream_tickets WHERE id IN (SELECT id FROM stream_tickets "
                          "WHERE expires_at <= $1 LIMIT $2)",
                          now, err);
  /* A refresh token is deleted only with its whole session (family): a
   * spent token of a live session must stay, so presenting it again is
   * still seen as reuse and revokes the session. */
  if (!rc)
    rc = delete_batches(run, c, "refresh_tokens",
                        "DELETE FROM refresh_tokens WHERE family IN (SELECT family FROM "
                        "refresh_tokens GROUP BY family HAVING MAX(expires_at) <= $1 LIMIT $2)",
                        now - SESSION_MARGIN_MS, err);
  /* The ledger: an entry whose event is too old to be accepted again. */
  int64_t horizon = now - EVENTS_PAST_LIMIT_MS - LEDGER_MARGIN_MS;
  if (!rc)
    rc = delete_batches(run, c, "ledger_entries",
                        "DELETE FROM face_events WHERE (tenant_id, event_id) IN (SELECT tenant_id, "
                        "event_id FROM face_events WHERE received_at < $1 AND "
                        "(captured_at IS NULL OR captured_at < $1) LIMIT $2)",
                        horizon, err);
  /* The scheduler's own records. */
  if (!rc)
    rc = delete_batches(run, c, "job_runs",
                        "DELETE FROM job_runs WHERE id IN (SELECT id FROM job_runs WHERE "
                        "finished_at < $1 LIMIT $2)",
                        now - JOB_RUNS_KEEP_MS, err);
  db_release(c);
  return rc;
}

/* The digest of a tenant's staff list as workers receive it (active staff
 * and their face descriptors). */
static int staff_digest(struct db_conn *c, int64_t tenant, char hex[65], struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT m.id, f.id FROM staff m JOIN staff_faces f ON f.staff_id = m.id "
                    "WHERE m.tenant_id = $1 AND m.active = 1 AND f.model = $2 ORDER BY m.id, f.id",
                    DB_ARGS(db_int(tenant), db_text(RECOGNITION_MODEL)), &rows, err);
  if (rc)
    return rc;
  crypto_hash_sha256_state h;
  crypto_hash_sha256_init(&h);
  for (int i = 0; i < db_rows_count(rows); i++) {
    char item[48];
    int n = snprintf(item, sizeof item, "%lld:%lld,", (long long)db_rows_int(rows, i, 0),
                     (long long)db_rows_int(rows, i, 1));
    crypto_hash_sha256_update(&h, (const unsigned char *)item, (unsigned long long)n);
  }
  db_rows_free(rows);
  unsigned char d[32];
  crypto_hash_sha256_final(&h, d);
  sodium_bin2hex(hex, 65, d, sizeof d);
  return FF_OK;
}

/* Every staff change bumps the tenant's site versions in its own
 * transaction; this catches a list that changed without one (a change made
 * outside the API, a restored backup): the versions are bumped, workers
 * see a new version and fetch the list again. */
static int check_tenant_staff(struct job_run *run, struct db_conn *c, int64_t tenant,
                              struct ff_error *err) {
  char digest[65];
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, err);
  if (!rc)
    rc = staff_digest(c, tenant, digest, err);
  if (!rc)
    rc =
        db_query(c,
                 "SELECT (SELECT COALESCE(MAX(staff_version), 0) FROM sites WHERE tenant_id = $1), "
                 "d.digest, d.version FROM tenants t LEFT JOIN staff_list_digests d ON "
                 "d.tenant_id = t.id WHERE t.id = $1",
                 DB_ARGS(db_int(tenant)), &rows, err);
  if (!rc && db_rows_count(rows) == 1) {
    int64_t version = db_rows_int(rows, 0, 0);
    const char *seen = db_rows_text(rows, 0, 1);
    int stale = seen && strcmp(seen, digest) && db_rows_int(rows, 0, 2) == version;
    if (stale) {
      rc = db_exec(c, "UPDATE sites SET staff_version = staff_version + 1 WHERE tenant_id = $1",
                   DB_ARGS(db_int(tenant)), NULL, err);
      version++;
      job_count(run, tenant, "versions_bumped", 1);
    }
    if (!rc)
      rc = db_exec(c,
                   "INSERT INTO staff_list_digests (tenant_id, digest, version, checked_at) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET "
                   "digest = excluded.digest, version = excluded.version, "
                   "checked_at = excluded.checked_at",
                   DB_ARGS(db_int(tenant), db_text(digest), db_int(version), db_int(job_now(run))),
                   NULL, err);
    job_count(run, tenant, "lists_checked", 1);
  }
  db_rows_free(rows);
  return access_finish(c, rc, err);
}

int staff_lists_job(struct job_run *run, struct ff_error *err) {
  struct server *s = job_server(run);
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  struct db_rows *tenants = NULL;
  int rc = db_query(c, "SELECT id FROM tenants ORDER BY id", DB_NOARGS, &tenants, err);
  for (int i = 0; !rc && i < db_rows_count(tenants) && !job_stopping(run); i++) {
    struct ff_error terr = {0};
    int64_t tenant = db_rows_int(tenants, i, 0);
    if (check_tenant_staff(run, c, tenant, &terr))
      job_error(run, tenant, "staff list: %s", terr.message);
  }
  db_rows_free(tenants);
  db_release(c);
  return rc;
}

/* Rollups are kept exact inside each change's transaction; this proves it
 * for the days that can still change (late events are taken up to
 * EVENTS_PAST_LIMIT_MS after capture) and repairs any difference, which is
 * reported as an error: it means a change escaped the maintenance. */
int rollups_job(struct job_run *run, struct ff_error *err) {
  struct server *s = job_server(run);
  int64_t now = job_now(run);
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  struct db_rows *tenants = NULL;
  int rc = db_query(c, "SELECT id FROM tenants ORDER BY id", DB_NOARGS, &tenants, err);
  db_release(c);
  for (int i = 0; !rc && i < db_rows_count(tenants) && !job_stopping(run); i++) {
    int64_t tenant = db_rows_int(tenants, i, 0);
    struct rollup_check check = {0};
    struct ff_error terr = {0};
    if (reports_rollups_check(s, tenant, now - EVENTS_PAST_LIMIT_MS - ROLLUP_CHECK_MARGIN_MS,
                              now + 86400000LL, 1, &check, &terr)) {
      job_error(run, tenant, "rollups: %s", terr.message);
      continue;
    }
    job_count(run, tenant, "site_days_checked", check.days);
    job_count(run, tenant, "site_days_repaired", check.days_repaired);
    if (check.days_differing || check.keys_differing)
      job_error(run, tenant,
                "rollups differed from the visits on %lld site-days (%lld hour rows, %lld "
                "visitor rows, %lld visit hour keys); repaired %lld",
                (long long)check.days_differing, (long long)check.hours_differing,
                (long long)check.visitors_differing, (long long)check.keys_differing,
                (long long)check.days_repaired);
  }
  db_rows_free(tenants);
  return rc;
}
