/* privacy.h — the do-not-track list (a person who objects is enrolled once
 * from a photo: descriptor kept, photo not; later matching events are
 * dropped at ingestion without storing anything) and the subject-access
 * export of one customer (a zip of JSON and pictures). All audited.
 * docs/PRIVACY.md explains them for an operator. */
#ifndef FOOTFALL_PRIVACY_H
#define FOOTFALL_PRIVACY_H

#include "http.h"

void privacy_optout_list(struct request *rq);   /* GET /v1/do-not-track */
void privacy_optout_enrol(struct request *rq);  /* POST /v1/do-not-track */
void privacy_optout_delete(struct request *rq); /* DELETE /v1/do-not-track/{id} */
void privacy_export(struct request *rq);        /* GET /v1/customers/{id}/export */

#endif
