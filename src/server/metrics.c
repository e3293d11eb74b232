#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fleet.h"
#include "http.h"
#include "hub.h"
#include "live.h"
#include "server.h"

const int metrics_status_codes[METRICS_STATUSES] = {200, 201, 204, 301, 304, 400, 401, 403, 404,
                                                    405, 409, 413, 415, 422, 429, 500, 503, 0};
const double metrics_bucket_bounds_s[METRICS_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                         0.05,   0.1,   0.25,   0.5,   1.0,  0};

const char *const metrics_event_outcomes[EVENT_OUTCOMES] = {"new_visit", "visit_extended", "staff",
                                                            "duplicate", "rejected"};
const char *const metrics_reject_reasons[METRICS_REJECT_REASONS] = {
    "unknown_camera", "face_too_small", "low_detector_score", "low_quality",
    "invalid_field",  "invalid_time",   "invalid_descriptor", "invalid_crop",
    "unknown_field",  "invalid_event",  "opted_out",          "other"};

void metrics_event(struct metrics *m, const char *outcome, const char *reason) {
  for (int o = 0; o < EVENT_OUTCOMES; o++)
    if (!strcmp(outcome, metrics_event_outcomes[o])) {
      __atomic_fetch_add(&m->events[o], 1, __ATOMIC_RELAXED);
      break;
    }
  if (strcmp(outcome, "rejected"))
    return;
  size_t len = reason ? strcspn(reason, ":") : 0;
  int slot = METRICS_REJECT_REASONS - 1;
  for (int r = 0; r < METRICS_REJECT_REASONS - 1; r++)
    if (len == strlen(metrics_reject_reasons[r]) &&
        !strncmp(reason, metrics_reject_reasons[r], len))
      slot = r;
  __atomic_fetch_add(&m->rejections[slot], 1, __ATOMIC_RELAXED);
}

static int status_slot(int status) {
  for (int i = 0; i < METRICS_STATUSES - 1; i++)
    if (metrics_status_codes[i] == status)
      return i;
  return METRICS_STATUSES - 1;
}

void metrics_record(struct metrics *m, int route, int status, uint64_t elapsed_us) {
  if (route < 0 || route >= METRICS_MAX_ROUTES)
    route = METRICS_MAX_ROUTES - 1;
  __atomic_fetch_add(&m->requests[route][status_slot(status)], 1, __ATOMIC_RELAXED);
  double seconds = (double)elapsed_us / 1e6;
  int b = 0;
  while (b < METRICS_BUCKETS - 1 && seconds > metrics_bucket_bounds_s[b])
    b++;
  __atomic_fetch_add(&m->latency_bucket[route][b], 1, __ATOMIC_RELAXED);
  __atomic_fetch_add(&m->latency_sum_us[route], elapsed_us, __ATOMIC_RELAXED);
}

/* A growable text buffer for the exposition. */
struct text {
  char *data;
  size_t len, cap;
  int failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...) {
  if (t->failed)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      t->failed = 1;
      return;
    }
    if ((size_t)n < t->cap - t->len) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap * 2 + (size_t)n + 1;
    char *grown = realloc(t->data, cap);
    if (!grown) {
      t->failed = 1;
      return;
    }
    t->data = grown;
    t->cap = cap;
  }
}

static const char *route_label(int r) {
  return r < http_route_count ? http_routes[r].pattern : "unmatched";
}
static const char *route_method(int r) {
  return r < http_route_count ? http_routes[r].method : "";
}

void metrics_retention(struct metrics *m, int64_t leftovers, int64_t at_ms) {
  __atomic_store_n(&m->retention_leftovers, leftovers, __ATOMIC_RELAXED);
  __atomic_store_n(&m->retention_verified_ms, at_ms, __ATOMIC_RELAXED);
}

char *metrics_render(struct server *s) {
  struct metrics *m = &s->metrics;
  struct text t = {.data = malloc(16384), .cap = 16384};
  if (!t.data)
    return NULL;
  t.data[0] = 0;

  put(&t, "# HELP footfall_http_requests_total HTTP requests by route and status.\n"
          "# TYPE footfall_http_requests_total counter\n");
  for (int r = 0; r < METRICS_MAX_ROUTES; r++)
    for (int k = 0; k < METRICS_STATUSES; k++) {
      uint64_t n = __atomic_load_n(&m->requests[r][k], __ATOMIC_RELAXED);
      if (!n)
        continue;
      char status[8];
      if (metrics_status_codes[k])
        snprintf(status, sizeof status, "%d", metrics_status_codes[k]);
      else
        strcpy(status, "other");
      put(&t, "footfall_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
          route_method(r), route_label(r), status, (unsigned long long)n);
    }

  put(&t, "# HELP footfall_http_request_duration_seconds Time from request to answer.\n"
          "# TYPE footfall_http_request_duration_seconds histogram\n");
  for (int r = 0; r < METRICS_MAX_ROUTES; r++) {
    uint64_t cumulative = 0, counts[METRICS_BUCKETS];
    for (int b = 0; b < METRICS_BUCKETS; b++)
      cumulative += counts[b] = __atomic_load_n(&m->latency_bucket[r][b], __ATOMIC_RELAXED);
    if (!cumulative)
      continue;
    uint64_t running = 0;
    for (int b = 0; b < METRICS_BUCKETS; b++) {
      running += counts[b];
      if (b < METRICS_BUCKETS - 1)
        put(&t,
            "footfall_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} "
            "%llu\n",
            route_method(r), route_label(r), metrics_bucket_bounds_s[b],
            (unsigned long long)running);
      else
        put(&t,
            "footfall_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"}"
            " %llu\n",
            route_method(r), route_label(r), (unsigned long long)running);
    }
    put(&t, "footfall_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
        route_method(r), route_label(r),
        (double)__atomic_load_n(&m->latency_sum_us[r], __ATOMIC_RELAXED) / 1e6);
    put(&t, "footfall_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
        route_method(r), route_label(r), (unsigned long long)cumulative);
  }

  put(&t, "# HELP footfall_events_total Worker face events answered, by outcome.\n"
          "# TYPE footfall_events_total counter\n");
  for (int o = 0; o < EVENT_OUTCOMES; o++)
    put(&t, "footfall_events_total{outcome=\"%s\"} %llu\n", metrics_event_outcomes[o],
        (unsigned long long)__atomic_load_n(&m->events[o], __ATOMIC_RELAXED));
  put(&t, "# HELP footfall_events_rejected_total Rejected face events, by reason.\n"
          "# TYPE footfall_events_rejected_total counter\n");
  for (int r = 0; r < METRICS_REJECT_REASONS; r++)
    put(&t, "footfall_events_rejected_total{reason=\"%s\"} %llu\n", metrics_reject_reasons[r],
        (unsigned long long)__atomic_load_n(&m->rejections[r], __ATOMIC_RELAXED));

  int64_t verified = __atomic_load_n(&m->retention_verified_ms, __ATOMIC_RELAXED);
  if (verified)
    put(&t,
        "# HELP footfall_retention_leftovers Pictures older than their retention (or of no one) "
        "found by the last retention verification on this instance; must be 0.\n"
        "# TYPE footfall_retention_leftovers gauge\n"
        "footfall_retention_leftovers %lld\n"
        "# HELP footfall_retention_verified_seconds When that verification ran (Unix time).\n"
        "# TYPE footfall_retention_verified_seconds gauge\n"
        "footfall_retention_verified_seconds %lld\n",
        (long long)__atomic_load_n(&m->retention_leftovers, __ATOMIC_RELAXED),
        (long long)(verified / 1000));
  struct hub_stats hs;
  hub_stats_get(s, &hs);
  put(&t,
      "# HELP footfall_realtime_events_published_total Realtime events handed to the hub.\n"
      "# TYPE footfall_realtime_events_published_total counter\n"
      "footfall_realtime_events_published_total %llu\n"
      "# HELP footfall_realtime_events_delivered_total Realtime events fanned out to clients "
      "(from this or another instance).\n"
      "# TYPE footfall_realtime_events_delivered_total counter\n"
      "footfall_realtime_events_delivered_total %llu\n"
      "# HELP footfall_realtime_publish_failures_total Events refused or lost while publishing.\n"
      "# TYPE footfall_realtime_publish_failures_total counter\n"
      "footfall_realtime_publish_failures_total{reason=\"oversized\"} %llu\n"
      "footfall_realtime_publish_failures_total{reason=\"other\"} %llu\n"
      "# HELP footfall_realtime_subscribers Realtime clients connected now.\n"
      "# TYPE footfall_realtime_subscribers gauge\n"
      "footfall_realtime_subscribers %d\n"
      "# HELP footfall_realtime_clients_dropped_total Clients disconnected for falling behind.\n"
      "# TYPE footfall_realtime_clients_dropped_total counter\n"
      "footfall_realtime_clients_dropped_total %llu\n"
      "# HELP footfall_realtime_resets_total Resumes refused (Last-Event-ID older than the "
      "history).\n"
      "# TYPE footfall_realtime_resets_total counter\n"
      "footfall_realtime_resets_total %llu\n"
      "# HELP footfall_realtime_outbox Events and index changes waiting for the database "
      "(PostgreSQL).\n"
      "# TYPE footfall_realtime_outbox gauge\n"
      "footfall_realtime_outbox %d\n"
      "# HELP footfall_realtime_listener_reconnects_total Times the LISTEN connection was "
      "reopened (PostgreSQL).\n"
      "# TYPE footfall_realtime_listener_reconnects_total counter\n"
      "footfall_realtime_listener_reconnects_total %d\n"
      "# HELP footfall_http_streams Streamed responses open now (SSE, MJPEG).\n"
      "# TYPE footfall_http_streams gauge\n"
      "footfall_http_streams %d\n",
      (unsigned long long)hs.published, (unsigned long long)hs.delivered,
      (unsigned long long)hs.oversized, (unsigned long long)hs.publish_failures, hs.subscribers,
      (unsigned long long)hs.dropped, (unsigned long long)hs.resets, hs.outbox,
      hs.listener_reconnects, http_stream_count(s));

  struct live_stats ls;
  live_stats_get(&ls);
  put(&t,
      "# HELP footfall_live_upstreams Live camera views being read, by how.\n"
      "# TYPE footfall_live_upstreams gauge\n"
      "footfall_live_upstreams{mode=\"proxy\"} %d\n"
      "footfall_live_upstreams{mode=\"relay\"} %d\n"
      "# HELP footfall_live_viewers Viewers of live camera views now.\n"
      "# TYPE footfall_live_viewers gauge\n"
      "footfall_live_viewers %d\n"
      "# HELP footfall_live_frames_total Live frames received from workers.\n"
      "# TYPE footfall_live_frames_total counter\n"
      "footfall_live_frames_total %llu\n",
      ls.proxies, ls.relays, ls.viewers, (unsigned long long)ls.frames);

  struct db_stats ds;
  db_stats_get(s->db, &ds);
  put(&t,
      "# HELP footfall_db_statements_total Statements run on the database.\n"
      "# TYPE footfall_db_statements_total counter\n"
      "footfall_db_statements_total{backend=\"%s\"} %llu\n"
      "# HELP footfall_db_errors_total Statements that failed.\n"
      "# TYPE footfall_db_errors_total counter\n"
      "footfall_db_errors_total{backend=\"%s\"} %llu\n"
      "# HELP footfall_db_statement_duration_seconds Time per database statement.\n"
      "# TYPE footfall_db_statement_duration_seconds histogram\n",
      db_backend_name(s->db), (unsigned long long)ds.statements, db_backend_name(s->db),
      (unsigned long long)ds.errors);
  for (int b = 0; b < DB_LATENCY_BUCKETS; b++) {
    if (b < DB_LATENCY_BUCKETS - 1)
      put(&t, "footfall_db_statement_duration_seconds_bucket{le=\"%g\"} %llu\n",
          db_latency_bounds_ms[b] / 1000.0, (unsigned long long)ds.latency_bucket[b]);
    else
      put(&t, "footfall_db_statement_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
          (unsigned long long)ds.latency_bucket[b]);
  }
  put(&t,
      "footfall_db_statement_duration_seconds_sum %.6f\n"
      "footfall_db_statement_duration_seconds_count %llu\n"
      "# HELP footfall_db_pool_connections Database connections kept and in use.\n"
      "# TYPE footfall_db_pool_connections gauge\n"
      "footfall_db_pool_connections{state=\"total\"} %d\n"
      "footfall_db_pool_connections{state=\"in_use\"} %d\n"
      "# HELP footfall_http_in_flight Requests being served now.\n"
      "# TYPE footfall_http_in_flight gauge\n"
      "footfall_http_in_flight %d\n",
      ds.latency_sum_ms / 1000.0, (unsigned long long)ds.statements, ds.pool_size, ds.pool_in_use,
      atomic_load(&s->in_flight));
  char *fleet = fleet_metrics_text(s);
  if (fleet)
    put(&t, "%s", fleet);
  free(fleet);
  if (t.failed) {
    free(t.data);
    return NULL;
  }
  return t.data;
}
