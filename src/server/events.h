/* events.h — the worker's face events: POST /v1/worker/events turns each
 * event into a staff pass, a new visit or an extended visit (or a rejection
 * with its reason), exactly once per event id. */
#ifndef FOOTFALL_EVENTS_H
#define FOOTFALL_EVENTS_H

#include "http.h"

#define EVENTS_MAX_BATCH 100
/* An event captured longer ago than this is refused (invalid_time), so a
 * ledger entry older than it can never be needed to answer a replay. */
#define EVENTS_PAST_LIMIT_MS (30 * 86400 * 1000LL)

void events_ingest(struct request *rq);

/* Validates one event object as the ingestion does (0, or -1 with the
 * reason in why); changes nothing. For the fuzz target and tests. */
int events_check(const json_t *item, int64_t now_ms, char *why, size_t why_size);

#endif
