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

/* Worker events by outcome, and rejections by reason code. */
enum event_outcome {
  EVENT_NEW_VISIT,
  EVENT_VISIT_EXTENDED,
  EVENT_STAFF,
  EVENT_DUPLICATE,
  EVENT_REJECTED,
  EVENT_OUTCOMES
};
#define METRICS_REJECT_REASONS 12
extern const char *const metrics_event_outcomes[EVENT_OUTCOMES];
extern const char *const metrics_reject_reasons[METRICS_REJECT_REASONS]; /* last = "other" */

struct metrics {
  uint64_t requests[METRICS_MAX_ROUTES][METRICS_STATUSES];
  uint64_t events[EVENT_OUTCOMES];
  uint64_t rejections[METRICS_REJECT_REASONS];
  uint64_t latency_bucket[METRICS_MAX_ROUTES][METRICS_BUCKETS];
  uint64_t latency_sum_us[METRICS_MAX_ROUTES];
  uint64_t started_ms;
  int64_t retention_leftovers;   /* found by the last complete retention verification */
  int64_t retention_verified_ms; /* when it ran (server clock); 0 = never */
};

struct server;

/* Counts one answered event; reason is the rejection's text ("code: detail"). */
void metrics_event(struct metrics *m, const char *outcome, const char *reason);
/* The retention job's verification: leftovers found, and when. */
void metrics_retention(struct metrics *m, int64_t leftovers, int64_t at_ms);
void metrics_record(struct metrics *m, int route_index, int status, uint64_t elapsed_us);
/* Prometheus text exposition; caller frees. */
char *metrics_render(struct server *s);

#endif
