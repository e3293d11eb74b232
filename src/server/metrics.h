/* metrics.h — request counters and latency histograms for /metrics.
 *
 * Fixed-size tables indexed by route (the route table is static) and by a
 * small set of status classes, updated with relaxed atomics: no lock on the
 * request path. Rendered as Prometheus text by metrics_render().
 */
#ifndef FOOTFALL_METRICS_H
#define FOOTFALL_METRICS_H

#include <stdint.h>

#define METRICS_MAX_ROUTES 128 /* route index METRICS_MAX_ROUTES-1 = unmatched */
#define METRICS_STATUSES 18
#define METRICS_BUCKETS 12

extern const int metrics_status_codes[METRICS_STATUSES]; /* last = "other" */
extern const double metrics_bucket_bounds_s[METRICS_BUCKETS];

struct metrics {
  uint64_t requests[METRICS_MAX_ROUTES][METRICS_STATUSES];
  uint64_t latency_bucket[METRICS_MAX_ROUTES][METRICS_BUCKETS];
  uint64_t latency_sum_us[METRICS_MAX_ROUTES];
  uint64_t started_ms;
};

struct server;

void metrics_record(struct metrics *m, int route_index, int status, uint64_t elapsed_us);
/* Prometheus text exposition; caller frees. */
char *metrics_render(struct server *s);

#endif
