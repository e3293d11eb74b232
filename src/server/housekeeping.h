/* housekeeping.h — the functions of the scheduled jobs (jobs.h has the
 * table that names them and the rules a job follows). */
#ifndef FOOTFALL_HOUSEKEEPING_H
#define FOOTFALL_HOUSEKEEPING_H

#include "jobs.h"

/* Event-ledger entries are kept this long past the oldest capture time an
 * event may have (EVENTS_PAST_LIMIT_MS): a replay inside the horizon answers
 * "duplicate" with its original outcome; after it, the same event is refused
 * as too old, so it can never count twice. */
#define LEDGER_MARGIN_MS (86400 * 1000LL)
/* A refresh-token session is deleted this long after its last token expired. */
#define SESSION_MARGIN_MS (86400 * 1000LL)
/* Finished job runs are kept this long. */
#define JOB_RUNS_KEEP_MS (90 * 86400 * 1000LL)

/* housekeeping.c */
int expiry_job(struct job_run *run, struct ff_error *err);
int staff_lists_job(struct job_run *run, struct ff_error *err);
/* The rollups job checks (and repairs) this much before the oldest
 * capture time an event may still have. */
#define ROLLUP_CHECK_MARGIN_MS (5 * 86400 * 1000LL)
int rollups_job(struct job_run *run, struct ff_error *err);
/* retention.c */
int retention_job(struct job_run *run, struct ff_error *err);

#endif
