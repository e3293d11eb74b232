/* health.h — operations endpoints: liveness, readiness, metrics and the
 * API description. */
#ifndef FOOTFALL_HEALTH_H
#define FOOTFALL_HEALTH_H

#include "http.h"

void health_live(struct request *rq);
void health_ready(struct request *rq);
void health_metrics(struct request *rq);
void health_openapi(struct request *rq);

/* The OpenAPI document compiled into the binary (src/server/openapi.json). */
extern const char openapi_json[];
extern const unsigned long openapi_json_size;

#endif
