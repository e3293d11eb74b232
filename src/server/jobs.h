/* jobs.h — the server's background jobs: a scheduler thread, one leader
 * among instances, every run recorded.
 *
 * REGISTERING A JOB is one line in the table `jobs_table` at the top of
 * jobs.c:
 *
 *     {"my-job", 600, my_job_run, JOB_SYSTEM, "what it does, for GET /v1/jobs"},
 *
 * name (lower-case, [a-z0-9-], the {name} of POST /v1/jobs/{name}/run),
 * interval in seconds, the function, who may read its runs (JOB_TENANTS: its
 * counts are per tenant and tenant admins see their own share; JOB_SYSTEM:
 * system admins only) and one line of description. The function:
 *
 *     int my_job_run(struct job_run *run, struct ff_error *err) {
 *       struct server *s = job_server(run);
 *       int64_t now = job_now(run);            // the injectable clock, fixed for the run
 *       ... for each unit of work:
 *         if (job_stopping(run)) return FF_OK; // SIGTERM: stop at a safe point
 *         job_count(run, tenant_id, "deleted", 1);         // tenant 0 = not a tenant's
 *         job_error(run, tenant_id, "key %s: %s", k, msg); // a problem found; the run goes on
 *       return FF_OK;                           // non-OK: the run failed (err says why)
 *     }
 *
 * A run's outcome: "ok"; "error" when the job reported errors with
 * job_error() but finished; "failed" when it returned non-OK; "interrupted"
 * when the server stopped during it (or its instance died: the claim
 * expired). Counts and errors are stored with the run (job_runs) and shown
 * by GET /v1/jobs. A job must be safe to run again at any time (runs may be
 * cut short and retried) and call job_stopping() at least every few seconds:
 * that also keeps the run's claim alive.
 *
 * Leadership: every instance runs a scheduler thread; the one holding the
 * lease row `scheduler_lease` (renewed every few seconds, taken over when it
 * expires, released on SIGTERM) runs due jobs. Each run also claims its job
 * in `job_state`, so a manual run (POST /v1/jobs/{name}/run, system admins,
 * audited, answered when the run ends) never overlaps a scheduled one on any
 * instance. Works the same on SQLite and PostgreSQL (write transactions).
 */
#ifndef FOOTFALL_JOBS_H
#define FOOTFALL_JOBS_H

#include <stdint.h>

#include "http.h"
#include "status.h"

struct server;
struct job_run;

typedef int (*job_fn)(struct job_run *run, struct ff_error *err);

enum job_audience {
  JOB_SYSTEM,  /* runs visible to system admins only */
  JOB_TENANTS, /* tenant admins see the runs with their tenant's counts and errors */
};

struct job_def {
  const char *name;
  int interval_s;
  job_fn run;
  enum job_audience audience;
  const char *about;
};

extern const struct job_def jobs_table[];
extern const int jobs_count;

/* --- inside a job ------------------------------------------------------------- */
struct server *job_server(struct job_run *run);
/* The server clock (ff_now_ms, test offset included) at the start of the run. */
int64_t job_now(const struct job_run *run);
/* Adds n to the counter `name` of the tenant (0: the run's own totals only). */
void job_count(struct job_run *run, int64_t tenant_id, const char *name, int64_t n);
/* Records a problem found (at most 50 kept per run); the outcome becomes
 * "error" but the job goes on. */
void job_error(struct job_run *run, int64_t tenant_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Non-zero when the server is stopping: return at the next safe point. Also
 * renews the run's claim. */
int job_stopping(struct job_run *run);

/* --- the scheduler -------------------------------------------------------------- */
int jobs_start(struct server *s, struct ff_error *err);
/* Stops the thread (the running job ends at its next safe point, recorded
 * "interrupted") and releases the leader lease. Safe to call when not started. */
void jobs_stop(struct server *s);
/* Runs one job now on the calling thread (claiming it); the run's id in
 * *run_id. FF_ECONFLICT when it is already running, FF_ENOTFOUND for an
 * unknown name. */
int jobs_run_now(struct server *s, const char *name, int64_t requested_by, int64_t *run_id,
                 struct ff_error *err);

/* --- HTTP ------------------------------------------------------------------------ */
void jobs_list(struct request *rq);    /* GET /v1/jobs */
void jobs_trigger(struct request *rq); /* POST /v1/jobs/{name}/run */
void jobs_clock(struct request *rq);   /* POST /v1/admin/clock (test clock only) */

#endif
