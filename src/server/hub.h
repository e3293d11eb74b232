/* hub.h — realtime events: one publish call for every producer, a bounded
 * history for resuming, and fan-out to subscribers (the SSE and WebSocket
 * endpoints of realtime.c) through bounded per-client queues.
 *
 * Publishing
 * ----------
 *   hub_publish(s, tenant_id, site_id, "visit.new", json_pack(...));
 * after the change the event reports has committed (never inside a
 * transaction that may still roll back). site_id 0 = a tenant-wide event.
 * data is a JSON object; the hub takes the reference (like http_json), also
 * on failure. The rendered event must stay under HUB_MAX_EVENT_BYTES (it
 * travels in one PostgreSQL NOTIFY): send ids and figures, not lists — a
 * client fetches details over the REST API. Never blocks on clients or the
 * database: a slow client is dropped, not waited for.
 *
 * Event types (type = "<topic>.<what>"; data members as listed):
 *   visit.new        {visit_id, customer_id, site_id, camera_id, seen_at, new_customer}
 *   visit.extended   {visit_id, customer_id, site_id, camera_id, seen_at, new_customer:false}
 * From the fleet (fleet_set_listener, wired up by hub_init), after commit:
 *   camera.status    {camera_id, worker_id, state, reason}  a worker reported a
 *                    camera's state (starting|streaming|reconnecting|stopped|error)
 *                    {camera_id, worker_id, previous_worker_id, lease_generation}
 *                    a lease moved (worker_id null: no eligible worker)
 *                    {camera_id, worker_id, lease_generation}  assigned by hand
 *   worker.status    {worker_id, uuid, status, previous}  derived status changed
 *                    (online|late|offline|error|maintenance...), register included
 *                    {worker_id, maintenance}  an admin toggled maintenance
 *                    {worker_id, status: "forgotten"}
 *   command.updated  {command_id, worker_id, status[, type]}  every status change
 *                    (pending|sent|acknowledged|completed|failed|expired|cancelled);
 *                    site_id 0 for expiry and cancel
 * From the jobs (jobs.c, tenant-facing jobs, after the run is recorded):
 *   job.progress     {job_id (the run), kind (the job's name), status, progress, message}
 *                    status: succeeded|failed|cancelled (running with progress
 *                    0..1 for a job that reports progress, at most ~1/s); one per
 *                    tenant the run touched, tenant-wide (site 0)
 * Control messages the hub itself sends to one client (no id):
 *   stream.reset     {reason}  the client missed events (its Last-Event-ID is
 *                    older than the history, or unknown): reload what it shows
 *   stream.dropped   {reason}  the client fell behind and is disconnected
 *
 * Ids
 * ---
 * Every event has an id that grows in the order clients receive events.
 * SQLite (one server): start time in seconds x 1 000 000 + a counter, so ids
 * also grow across restarts and an id from before a restart is recognised as
 * older than the history. PostgreSQL (several servers): ids come from the
 * sequence realtime_event_id, taken together with the NOTIFY that carries the
 * event under one advisory lock, so id order is commit order, which is the
 * order every instance's listener receives notifications in; every instance
 * therefore holds the same history in the same order, and a client may
 * resume on any instance (hub_publish on PostgreSQL hands the event to a
 * publisher thread; it reaches local clients through the listener too).
 *
 * Subscribers
 * -----------
 * A subscriber sees one tenant, optionally narrowed to sites (a site-bound
 * user always is: they never receive other sites' or tenant-wide events) and
 * topics. Its queue holds at most cfg.realtime_client_queue events; when a
 * publish would overflow it, the subscriber is dropped at once (its queue
 * freed, on_drop called to cut the connection) and the others are not
 * affected.
 */
#ifndef FOOTFALL_HUB_H
#define FOOTFALL_HUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct server;
struct hub;
struct hub_sub;

#define HUB_MAX_EVENT_BYTES 7000
#define HUB_MAX_SITES 32

enum hub_topic {
  HUB_VISIT = 1 << 0,
  HUB_CAMERA = 1 << 1,
  HUB_WORKER = 1 << 2,
  HUB_COMMAND = 1 << 3,
  HUB_JOB = 1 << 4,
  HUB_ALL_TOPICS = (1 << 5) - 1,
};
/* "visit" -> HUB_VISIT ...; 0 when unknown. */
unsigned hub_topic_parse(const char *name, size_t len);

/* Before the recognizer loads its indexes: on PostgreSQL the listener must
 * hear index changes from other instances from before that load. */
int hub_init(struct server *s, struct ff_error *err);
/* Sends what is queued and stops the threads (before the database closes). */
void hub_stop(struct server *s);
void hub_free(struct server *s);

int hub_publish(struct server *s, int64_t tenant_id, int64_t site_id, const char *type,
                json_t *data);

/* PostgreSQL: queues an index-change notification (recognizer.h) for the
 * publisher thread; FF_EINVAL elsewhere. Never blocks. */
int hub_notify_index(struct server *s, const char *payload);

/* An event as delivered: immutable and reference counted. */
struct hub_event {
  int64_t id, tenant_id, site_id;
  unsigned topic;
  char *json; /* {"id","type","tenant_id","site_id","at","data"} */
  size_t json_len;
  char *sse; /* "id: N\ndata: <json>\n\n" */
  size_t sse_len;
};
void hub_event_release(struct hub_event *e);

struct hub_filter {
  int64_t tenant_id;
  int64_t bound_site; /* the caller's own site (0 = tenant level) */
  unsigned topics;    /* HUB_* bits; 0 = none */
  int64_t sites[HUB_MAX_SITES];
  int site_count; /* 0 = every site the caller may see */
};

/* Subscribes; with resume_from (the client's last event id; NULL = live
 * only) the events after it are queued first. *reset is set when the id is
 * not within the history (the client must reload). on_drop(arg) runs, with
 * the hub's lock held, when the subscriber is dropped: it must not call the
 * hub. NULL when out of memory. */
struct hub_sub *hub_subscribe(struct server *s, const struct hub_filter *f,
                              const char *resume_from, int *reset, void (*on_drop)(void *arg),
                              void *arg);
/* A subscriber without a queue: push(arg, e) runs for every event it wants,
 * with the hub's lock held (copy what you need; do not call the hub); a
 * non-zero answer (the client's own bounded queue is full) drops it. */
struct hub_sub *hub_subscribe_push(struct server *s, const struct hub_filter *f,
                                   int (*push)(void *arg, const struct hub_event *e),
                                   void (*on_drop)(void *arg), void *arg);
/* Replays the history after resume_from to a push subscriber; 1 = reset
 * (as hub_subscribe's *reset). */
int hub_resume(struct hub_sub *sub, const char *resume_from);
void hub_unsubscribe(struct hub_sub *sub);
/* Changes topics and sites (WebSocket subscribe/unsubscribe); sites beyond
 * HUB_MAX_SITES are ignored. */
void hub_set_filter(struct hub_sub *sub, unsigned topics, const int64_t *sites, int site_count);
/* The next event for this subscriber, waiting up to timeout_ms: 1 = *out set
 * (release it), 0 = nothing yet (or woken), -1 = the subscriber was dropped. */
int hub_next(struct hub_sub *sub, int timeout_ms, struct hub_event **out);
/* Makes a waiting hub_next return 0 now. */
void hub_wake(struct hub_sub *sub);

/* Figures for /metrics. */
struct hub_stats {
  uint64_t published, delivered, dropped, resets, oversized, publish_failures;
  int subscribers;
  int64_t last_id;
  int listener_reconnects; /* PostgreSQL */
  int outbox;              /* PostgreSQL: events and index changes waiting to be sent */
};
void hub_stats_get(struct server *s, struct hub_stats *out);

#endif
