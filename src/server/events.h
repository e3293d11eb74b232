/* events.h — the worker's face events: POST /v1/worker/events turns each
 * event into a staff pass, a new visit or an extended visit (or a rejection
 * with its reason), exactly once per event id. */
#ifndef FOOTFALL_EVENTS_H
#define FOOTFALL_EVENTS_H

#include "http.h"

#define EVENTS_MAX_BATCH 100

void events_ingest(struct request *rq);

#endif
