/* jobs.c — the scheduler: leader lease, job claims, run records, and the
 * HTTP views of them. How to add a job: jobs.h. */
#include "jobs.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "audit.h"
#include "clock.h"
#include "db.h"
#include "fleet.h"
#include "housekeeping.h"
#include "hub.h"
#include "log.h"
#include "server.h"

/* --- the jobs: one line each (see jobs.h) ---------------------------------------- */
const struct job_def jobs_table[] = {
    {"retention", 900, retention_job, JOB_TENANTS,
     "deletes face pictures past the tenant's retention and queued deletions (erasure), then "
     "lists the store and the database and reports any picture that outlived its retention"},
    {"staff-lists", 300, staff_lists_job, JOB_TENANTS,
     "bumps a tenant's site staff-list versions when its staff list changed without a bump, so "
     "workers fetch it again"},
    {"rollups", 21600, rollups_job, JOB_TENANTS,
     "recomputes the report rollups of the last 35 days from the visits, repairs and reports "
     "any difference"},
    {"fleet-history", 3600, fleet_history_job, JOB_TENANTS,
     "deletes worker commands that finished more than fleet-history-days ago"},
    {"expiry", 3600, expiry_job, JOB_SYSTEM,
     "deletes spent stream tickets, dead refresh-token sessions, event-ledger entries past "
     "the replay horizon and job runs older than 90 days"},
};
const int jobs_count = sizeof jobs_table / sizeof jobs_table[0];

#define TICK_MS 1000         /* the scheduler looks for due jobs this often */
#define LEASE_TTL_MS 15000   /* a leader that stops renewing loses the lease after this */
#define LEASE_RENEW_MS 3000  /* the leader renews this often */
#define CLAIM_TTL_MS 120000  /* a run's claim lives this long unless renewed */
#define CLAIM_RENEW_MS 20000 /* job_stopping() renews the claim this often */
#define MAX_ERRORS 50

static struct {
  pthread_t thread;
  int started;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  atomic_int stopping;
  atomic_int leader;
  atomic_llong lease_renewed; /* ff_real_ms of the last successful renewal */
  char instance[96];
  struct server *s;
} sched = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

struct job_run {
  struct server *s;
  const struct job_def *def;
  int64_t now;
  int64_t run_id;
  int64_t claim_renewed; /* ff_real_ms */
  json_t *counts;        /* {"name": n} */
  json_t *tenants;       /* {"<tenant>": {"name": n}} */
  json_t *errors;        /* [{"tenant_id", "message"}] */
  int error_count;
};

static const struct job_def *find_job(const char *name) {
  for (int i = 0; i < jobs_count; i++)
    if (!strcmp(jobs_table[i].name, name))
      return &jobs_table[i];
  return NULL;
}

static void instance_id(void) {
  if (sched.instance[0])
    return;
  char host[64] = "host";
  gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = 0;
  unsigned char rnd[4];
  char hex[9];
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
  snprintf(sched.instance, sizeof sched.instance, "%.60s:%d:%s", host, (int)getpid(), hex);
}

/* --- inside a job ------------------------------------------------------------------ */

struct server *job_server(struct job_run *run) {
  return run->s;
}
int64_t job_now(const struct job_run *run) {
  return run->now;
}

static void add_count(json_t *obj, const char *name, int64_t n) {
  json_t *v = json_object_get(obj, name);
  json_object_set_new(obj, name, json_integer((v ? json_integer_value(v) : 0) + n));
}

void job_count(struct job_run *run, int64_t tenant_id, const char *name, int64_t n) {
  add_count(run->counts, name, n);
  if (!tenant_id)
    return;
  char key[24];
  snprintf(key, sizeof key, "%lld", (long long)tenant_id);
  json_t *t = json_object_get(run->tenants, key);
  if (!t) {
    t = json_object();
    json_object_set_new(run->tenants, key, t);
  }
  add_count(t, name, n);
}

void job_error(struct job_run *run, int64_t tenant_id, const char *fmt, ...) {
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  run->error_count++;
  struct log_line l;
  log_begin(&l, LOG_ERROR, "jobs.error");
  log_str(&l, "job", run->def->name);
  log_int(&l, "run", run->run_id);
  log_int(&l, "tenant", tenant_id);
  log_str(&l, "msg", msg);
  log_end(&l);
  if (json_array_size(run->errors) < MAX_ERRORS)
    json_array_append_new(
        run->errors, json_pack("{s:I,s:s}", "tenant_id", (json_int_t)tenant_id, "message", msg));
}

static int renew_claim(struct job_run *run) {
  struct db_conn *c = db_acquire(run->s->db, 2000);
  if (!c)
    return FF_EBUSY;
  int rc = db_exec(c, "UPDATE job_state SET running_until = $3 WHERE job = $1 AND running_by = $2",
                   DB_ARGS(db_text(run->def->name), db_text(sched.instance),
                           db_int(ff_real_ms() + CLAIM_TTL_MS)),
                   NULL, NULL);
  db_release(c);
  return rc;
}

static int lease(struct server *s);

int job_stopping(struct job_run *run) {
  int64_t real = ff_real_ms();
  if (real - run->claim_renewed > CLAIM_RENEW_MS) {
    run->claim_renewed = real;
    renew_claim(run);
  }
  /* A long run on the leader's thread keeps the leadership too. */
  if (atomic_load(&sched.leader) && pthread_equal(pthread_self(), sched.thread) &&
      real - atomic_load(&sched.lease_renewed) > LEASE_RENEW_MS)
    lease(run->s);
  return atomic_load(&sched.stopping);
}

/* --- claims and records ----------------------------------------------------------- */

/* Claims the job and opens its run record. Returns 1 when claimed, 0 when
 * another run holds it (or, for a scheduled run, it is not due), or < 0. */
static int claim(struct server *s, const struct job_def *d, int scheduled, int64_t requested_by,
                 int64_t *run_id, int64_t *holder_run, struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection for the scheduler");
  int64_t real = ff_real_ms();
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, err);
  if (!rc)
    rc = db_exec(c,
                 "INSERT INTO job_state (job, next_run_at) VALUES ($1, 0) "
                 "ON CONFLICT (job) DO NOTHING",
                 DB_ARGS(db_text(d->name)), NULL, err);
  if (!rc)
    rc = db_query(c,
                  "SELECT running_by, running_until, run_id, next_run_at FROM job_state "
                  "WHERE job = $1",
                  DB_ARGS(db_text(d->name)), &rows, err);
  int got = 0;
  if (!rc) {
    int held = db_rows_text(rows, 0, 0) && db_rows_int(rows, 0, 1) > real;
    int due = !scheduled || db_rows_int(rows, 0, 3) <= real;
    int64_t previous = db_rows_int(rows, 0, 2);
    if (holder_run)
      *holder_run = held ? previous : 0;
    got = !held && due;
    /* A claim that expired: its instance died or hung mid-run. */
    if (got && db_rows_text(rows, 0, 0) && previous)
      rc = db_exec(
          c,
          "UPDATE job_runs SET outcome = 'interrupted', error = $2 "
          "WHERE id = $1 AND outcome = 'running'",
          DB_ARGS(db_int(previous), db_text("the instance running it stopped renewing its claim")),
          NULL, err);
  }
  db_rows_free(rows);
  rows = NULL;
  if (!rc && got)
    rc =
        db_query(c,
                 "INSERT INTO job_runs (job, instance, trigger, requested_by, started_at, outcome) "
                 "VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id",
                 DB_ARGS(db_text(d->name), db_text(sched.instance),
                         db_text(scheduled ? "schedule" : "manual"),
                         requested_by ? db_int(requested_by) : db_null(), db_int(ff_now_ms())),
                 &rows, err);
  if (!rc && got) {
    *run_id = db_rows_int(rows, 0, 0);
    rc = db_exec(c,
                 "UPDATE job_state SET running_by = $2, running_until = $3, run_id = $4 "
                 "WHERE job = $1",
                 DB_ARGS(db_text(d->name), db_text(sched.instance), db_int(real + CLAIM_TTL_MS),
                         db_int(*run_id)),
                 NULL, err);
  }
  db_rows_free(rows);
  rc = access_finish(c, rc, err);
  db_release(c);
  return rc ? rc : got;
}

static const char *outcome_of(const struct job_run *run, int rc) {
  if (rc)
    return "failed";
  if (atomic_load(&sched.stopping))
    return "interrupted";
  return run->error_count ? "error" : "ok";
}

/* Tells each tenant the run touched how it ended for them (job.progress on
 * the realtime hub), after the run's record is written: after a manual run,
 * and after a scheduled one only where it needs attention (the routine
 * "nothing to report" of every few minutes is not broadcast). */
static void publish(struct job_run *run, int scheduled, const char *outcome, const char *failure) {
  if (run->def->audience != JOB_TENANTS)
    return;
  const char *key;
  json_t *counts;
  json_object_foreach(run->tenants, key, counts) {
    int64_t tenant = strtoll(key, NULL, 10);
    const char *message = failure;
    size_t i;
    json_t *e;
    json_array_foreach(run->errors, i, e) {
      if (!message && json_integer_value(json_object_get(e, "tenant_id")) == tenant)
        message = json_string_value(json_object_get(e, "message"));
    }
    if (scheduled && !message)
      continue;
    const char *status = !strcmp(outcome, "interrupted") ? "cancelled"
                         : failure || message            ? "failed"
                                                         : "succeeded";
    json_t *data = json_pack("{s:I,s:s,s:s,s:f}", "job_id", (json_int_t)run->run_id, "kind",
                             run->def->name, "status", status, "progress", 1.0);
    json_object_set_new(data, "message", message ? json_string(message) : json_null());
    hub_publish(run->s, tenant, 0, "job.progress", data);
  }
}

static void finish(struct job_run *run, int scheduled, int rc, const struct ff_error *jerr) {
  const char *outcome = outcome_of(run, rc);
  json_t *result = json_pack("{s:O,s:O,s:O,s:i}", "counts", run->counts, "tenants", run->tenants,
                             "errors", run->errors, "error_count", run->error_count);
  char *text = json_dumps(result, JSON_COMPACT);
  json_decref(result);
  const char *first =
      rc ? jerr->message
         : (json_array_size(run->errors)
                ? json_string_value(json_object_get(json_array_get(run->errors, 0), "message"))
                : NULL);
  struct ff_error err = {0};
  struct db_conn *c = db_acquire(run->s->db, 10000);
  int wrc = c ? db_begin(c, DB_TX_WRITE, &err) : ff_fail(&err, FF_EBUSY, "no connection");
  if (!wrc)
    wrc = db_exec(c,
                  "UPDATE job_runs SET finished_at = $2, outcome = $3, result = $4, error = $5 "
                  "WHERE id = $1",
                  DB_ARGS(db_int(run->run_id), db_int(ff_now_ms()), db_text(outcome), db_text(text),
                          db_text(first)),
                  NULL, &err);
  if (!wrc)
    wrc = db_exec(c,
                  "UPDATE job_state SET running_by = NULL, running_until = NULL, "
                  "next_run_at = CASE WHEN $3 = 1 THEN $4 ELSE next_run_at END "
                  "WHERE job = $1 AND running_by = $2",
                  /* An interrupted run is due again at once (on the next leader). */
                  DB_ARGS(db_text(run->def->name), db_text(sched.instance),
                          db_int(scheduled && strcmp(outcome, "interrupted")),
                          db_int(ff_real_ms() + (int64_t)run->def->interval_s * 1000)),
                  NULL, &err);
  if (c) {
    wrc = access_finish(c, wrc, &err);
    db_release(c);
  }
  if (wrc)
    log_msg(LOG_ERROR, "jobs.record_failed", "job %s run %lld: %s", run->def->name,
            (long long)run->run_id, err.message);
  publish(run, scheduled, outcome, rc ? jerr->message : NULL);
  struct log_line l;
  log_begin(&l, rc || run->error_count ? LOG_WARN : LOG_INFO, "jobs.finished");
  log_str(&l, "job", run->def->name);
  log_int(&l, "run", run->run_id);
  log_str(&l, "outcome", outcome);
  log_str(&l, "counts", text ? text : "");
  if (first)
    log_str(&l, "error", first);
  log_end(&l);
  free(text);
}

static int run_claimed(struct server *s, const struct job_def *d, int scheduled, int64_t run_id) {
  struct job_run run = {.s = s,
                        .def = d,
                        .now = ff_now_ms(),
                        .run_id = run_id,
                        .claim_renewed = ff_real_ms(),
                        .counts = json_object(),
                        .tenants = json_object(),
                        .errors = json_array()};
  struct ff_error err = {0};
  int rc = d->run(&run, &err);
  if (rc && !err.message[0])
    snprintf(err.message, sizeof err.message, "%s", ff_status_name(rc));
  finish(&run, scheduled, rc, &err);
  json_decref(run.counts);
  json_decref(run.tenants);
  json_decref(run.errors);
  return rc;
}

int jobs_run_now(struct server *s, const char *name, int64_t requested_by, int64_t *run_id,
                 struct ff_error *err) {
  const struct job_def *d = find_job(name);
  if (!d)
    return ff_fail(err, FF_ENOTFOUND, "no job named %s", name);
  instance_id();
  int64_t holder = 0;
  int rc = claim(s, d, 0, requested_by, run_id, &holder, err);
  if (rc < 0)
    return rc;
  if (rc == 0)
    return ff_fail(err, FF_ECONFLICT, "job %s is running already (run %lld)", name,
                   (long long)holder);
  run_claimed(s, d, 0, *run_id);
  return FF_OK;
}

/* --- leadership ---------------------------------------------------------------------- */

/* Takes or renews the lease; 1 when this instance leads. */
static int lease(struct server *s) {
  struct db_conn *c = db_acquire(s->db, 2000);
  if (!c)
    return 0;
  struct ff_error err = {0};
  int64_t real = ff_real_ms();
  int64_t changes = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = db_exec(c,
                 "INSERT INTO scheduler_lease (name, holder, expires_at, acquired_at) "
                 "VALUES ('leader', $1, $2, $3) ON CONFLICT (name) DO NOTHING",
                 DB_ARGS(db_text(sched.instance), db_int(real + LEASE_TTL_MS), db_int(real)),
                 &changes, &err);
  if (!rc && !changes)
    rc = db_exec(c,
                 "UPDATE scheduler_lease SET acquired_at = CASE WHEN holder = $1 THEN acquired_at "
                 "ELSE $3 END, holder = $1, expires_at = $2 "
                 "WHERE name = 'leader' AND (holder = $1 OR expires_at <= $3)",
                 DB_ARGS(db_text(sched.instance), db_int(real + LEASE_TTL_MS), db_int(real)),
                 &changes, &err);
  rc = access_finish(c, rc, &err);
  db_release(c);
  int leads = !rc && changes == 1;
  if (leads)
    atomic_store(&sched.lease_renewed, real);
  if (rc)
    log_msg(LOG_WARN, "jobs.lease_failed", "%s", err.message);
  if (leads != atomic_load(&sched.leader)) {
    atomic_store(&sched.leader, leads);
    log_msg(LOG_INFO, leads ? "jobs.leader" : "jobs.follower", "instance %s %s", sched.instance,
            leads ? "leads the scheduler" : "no longer leads the scheduler");
  }
  return leads;
}

static void release_lease(struct server *s) {
  struct db_conn *c = db_acquire(s->db, 2000);
  if (!c)
    return;
  db_exec(c, "DELETE FROM scheduler_lease WHERE name = 'leader' AND holder = $1",
          DB_ARGS(db_text(sched.instance)), NULL, NULL);
  db_release(c);
  atomic_store(&sched.leader, 0);
}

static void run_due(struct server *s) {
  for (int i = 0; i < jobs_count && !atomic_load(&sched.stopping); i++) {
    struct ff_error err = {0};
    int64_t run_id = 0;
    int rc = claim(s, &jobs_table[i], 1, 0, &run_id, NULL, &err);
    if (rc < 0)
      log_msg(LOG_WARN, "jobs.claim_failed", "job %s: %s", jobs_table[i].name, err.message);
    else if (rc == 1)
      run_claimed(s, &jobs_table[i], 1, run_id);
  }
}

static void *scheduler(void *arg) {
  struct server *s = arg;
  int64_t lease_at = 0;
  while (!atomic_load(&sched.stopping)) {
    int64_t real = ff_real_ms();
    if (real >= lease_at) {
      lease(s);
      lease_at = real + LEASE_RENEW_MS;
    }
    if (atomic_load(&sched.leader))
      run_due(s);
    pthread_mutex_lock(&sched.lock);
    if (!atomic_load(&sched.stopping)) {
      struct timespec until;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += TICK_MS / 1000;
      pthread_cond_timedwait(&sched.wake, &sched.lock, &until);
    }
    pthread_mutex_unlock(&sched.lock);
  }
  return NULL;
}

int jobs_start(struct server *s, struct ff_error *err) {
  instance_id();
  sched.s = s;
  atomic_store(&sched.stopping, 0);
  if (pthread_create(&sched.thread, NULL, scheduler, s))
    return ff_fail(err, FF_EINTERNAL, "cannot start the scheduler thread");
  sched.started = 1;
  log_msg(LOG_INFO, "jobs.started", "instance %s, %d jobs", sched.instance, jobs_count);
  return FF_OK;
}

void jobs_stop(struct server *s) {
  atomic_store(&sched.stopping, 1);
  if (!sched.started)
    return;
  pthread_mutex_lock(&sched.lock);
  pthread_cond_broadcast(&sched.wake);
  pthread_mutex_unlock(&sched.lock);
  pthread_join(sched.thread, NULL);
  sched.started = 0;
  release_lease(s);
}

/* --- HTTP -------------------------------------------------------------------------------- */

/* One run as JSON; for a tenant admin (tenant != 0) only that tenant's share. */
static json_t *run_json(const struct db_rows *r, int i, int64_t tenant) {
  json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:I,s:s}", "id", (json_int_t)db_rows_int(r, i, 0), "job",
                        db_rows_text(r, i, 1), "instance", db_rows_text(r, i, 2), "trigger",
                        db_rows_text(r, i, 3), "started_at_ms", (json_int_t)db_rows_int(r, i, 5),
                        "outcome", db_rows_text(r, i, 7));
  json_object_set_new(o, "requested_by",
                      db_rows_is_null(r, i, 4) ? json_null() : json_integer(db_rows_int(r, i, 4)));
  json_object_set_new(o, "finished_at_ms",
                      db_rows_is_null(r, i, 6) ? json_null() : json_integer(db_rows_int(r, i, 6)));
  const char *text = db_rows_text(r, i, 8);
  json_t *result = text ? json_loads(text, 0, NULL) : NULL;
  json_t *counts = result ? json_object_get(result, "counts") : NULL;
  json_t *tenants = result ? json_object_get(result, "tenants") : NULL;
  json_t *errors = result ? json_object_get(result, "errors") : NULL;
  if (!tenant) {
    json_object_set_new(o, "counts", counts ? json_incref(counts) : json_object());
    json_object_set_new(o, "tenants", tenants ? json_incref(tenants) : json_object());
    json_object_set_new(o, "errors", errors ? json_incref(errors) : json_array());
    const char *first = db_rows_text(r, i, 9);
    json_object_set_new(o, "error", first ? json_string(first) : json_null());
  } else {
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)tenant);
    json_t *mine = tenants ? json_object_get(tenants, key) : NULL;
    json_object_set_new(o, "counts", mine ? json_incref(mine) : json_object());
    json_t *own = json_array();
    size_t k;
    json_t *e;
    json_array_foreach(errors, k, e) {
      if (json_integer_value(json_object_get(e, "tenant_id")) == tenant)
        json_array_append(own, e);
    }
    json_object_set_new(o, "errors", own);
    /* The run's outcome, as far as this tenant is concerned. */
    if (!strcmp(db_rows_text(r, i, 7), "error") && !json_array_size(own))
      json_object_set_new(o, "outcome", json_string("ok"));
  }
  json_decref(result);
  return o;
}

void jobs_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  const char *only = http_query(rq, "job");
  if (only && !find_job(only)) {
    http_error(rq, 400, "invalid_field", "job: no job named %s", only);
    return;
  }
  /* Tenant admins see the jobs that act on their tenant's data, with their
   * share of each run; system-wide housekeeping is the operator's. */
  int64_t tenant = rq->who.role == ROLE_SYSTEM_ADMIN ? 0 : rq->who.tenant_id;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *state = NULL, *runs = NULL, *leader = NULL;
  int rc = db_query(c, "SELECT job, next_run_at, running_by, running_until FROM job_state",
                    DB_NOARGS, &state, &err);
  char visible[512] = "";
  size_t used = 0;
  for (int i = 0; i < jobs_count; i++)
    if (!tenant || jobs_table[i].audience == JOB_TENANTS)
      used += (size_t)snprintf(visible + used, sizeof visible - used, "%s,", jobs_table[i].name);
  /* Runs newest first; the job filter is matched in SQL by a list of the
   * names this caller may see. */
  if (!rc)
    rc = db_query(
        c,
        "SELECT id, job, instance, trigger, requested_by, started_at, finished_at, "
        "outcome, result, error FROM job_runs WHERE ($1 = '' OR job = $1) AND "
        "(',' || $2) LIKE ('%,' || job || ',%') AND ($3 = 0 OR id < $3) "
        "ORDER BY id DESC LIMIT $4",
        DB_ARGS(db_text(only ? only : ""), db_text(visible), db_int(cursor), db_int(limit)), &runs,
        &err);
  if (!rc && !tenant)
    rc = db_query(c,
                  "SELECT holder, expires_at, acquired_at FROM scheduler_lease "
                  "WHERE name = 'leader'",
                  DB_NOARGS, &leader, &err);
  db_release(c);
  if (rc) {
    db_rows_free(state);
    db_rows_free(runs);
    db_rows_free(leader);
    http_fail(rq, rc, &err);
    return;
  }
  json_t *jobs = json_array();
  for (int i = 0; i < jobs_count; i++) {
    const struct job_def *d = &jobs_table[i];
    if (tenant && d->audience != JOB_TENANTS)
      continue;
    json_t *j =
        json_pack("{s:s,s:i,s:s,s:s}", "name", d->name, "interval_s", d->interval_s, "about",
                  d->about, "audience", d->audience == JOB_TENANTS ? "tenants" : "system");
    json_object_set_new(j, "next_run_at_ms", json_null());
    json_object_set_new(j, "running", json_false());
    for (int k = 0; k < db_rows_count(state); k++)
      if (!strcmp(db_rows_text(state, k, 0), d->name)) {
        json_object_set_new(j, "next_run_at_ms", json_integer(db_rows_int(state, k, 1)));
        /* A claim past its time belongs to an instance that died mid-run. */
        json_object_set_new(
            j, "running",
            json_boolean(db_rows_text(state, k, 2) && db_rows_int(state, k, 3) > ff_real_ms()));
      }
    json_array_append_new(jobs, j);
  }
  json_t *items = json_array();
  int n = db_rows_count(runs);
  for (int i = 0; i < n; i++)
    json_array_append_new(items, run_json(runs, i, tenant));
  json_t *out = json_pack("{s:o,s:o}", "jobs", jobs, "runs", items);
  json_object_set_new(out, "next_cursor",
                      n == limit ? json_integer(db_rows_int(runs, n - 1, 0)) : json_null());
  if (!tenant) {
    json_object_set_new(out, "instance", json_string(sched.instance));
    json_object_set_new(out, "leader",
                        db_rows_count(leader) == 1
                            ? json_pack("{s:s,s:I,s:I}", "instance", db_rows_text(leader, 0, 0),
                                        "expires_at_ms", (json_int_t)db_rows_int(leader, 0, 1),
                                        "since_ms", (json_int_t)db_rows_int(leader, 0, 2))
                            : json_null());
  }
  db_rows_free(state);
  db_rows_free(runs);
  db_rows_free(leader);
  http_json(rq, 200, out);
}

/* Audits a manual run (before it starts, so a crash mid-run is on record). */
static int audit_trigger(struct request *rq, const char *name, struct ff_error *err) {
  struct db_conn *c = access_begin(rq);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  char summary[120];
  snprintf(summary, sizeof summary, "ran job %s by hand", name);
  int rc = audit_record(c, rq, 0, "job.run", "job", 0, summary);
  rc = access_finish(c, rc, err);
  db_release(c);
  return rc;
}

void jobs_trigger(struct request *rq) {
  const char *name = http_param(rq, "name");
  if (!find_job(name)) {
    http_error(rq, 404, "not_found", "no job named %s", name);
    return;
  }
  struct ff_error err = {0};
  int64_t run_id = 0;
  int rc = audit_trigger(rq, name, &err);
  if (!rc)
    rc = jobs_run_now(rq->server, name, rq->who.user_id, &run_id, &err);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = NULL;
  rc = db_query(c,
                "SELECT id, job, instance, trigger, requested_by, started_at, finished_at, "
                "outcome, result, error FROM job_runs WHERE id = $1",
                DB_ARGS(db_int(run_id)), &rows, &err);
  db_release(c);
  if (rc || db_rows_count(rows) != 1)
    http_fail(rq, rc ? rc : FF_EINTERNAL, &err);
  else
    http_json(rq, 200, run_json(rows, 0, 0));
  db_rows_free(rows);
}

static const struct field clock_fields[] = {{"advance_ms", FIELD_INT, 1, 0, 0}};

void jobs_clock(struct request *rq) {
  if (!ff_clock_test_enabled()) {
    http_error(rq, 404, "not_found",
               "the test clock is off (a server started with --test-clock 1, for tests only)");
    return;
  }
  if (http_validate(rq, clock_fields, 1))
    return;
  json_int_t ms = json_integer_value(json_object_get(rq->body, "advance_ms"));
  if (ff_clock_advance(ms)) {
    http_error(rq, 400, "invalid_field", "advance_ms must be from 1 to 10 years in milliseconds");
    return;
  }
  log_msg(LOG_WARN, "server.clock_advanced", "test clock moved %lld ms forward (offset %lld ms)",
          (long long)ms, (long long)ff_clock_offset_ms());
  http_json(rq, 200,
            json_pack("{s:I,s:I}", "offset_ms", (json_int_t)ff_clock_offset_ms(), "now_ms",
                      (json_int_t)ff_now_ms()));
}
