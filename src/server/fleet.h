/* fleet.h — the workers of each site, their camera leases and the commands
 * sent to them (docs/PROTOCOL.md has every message).
 *
 * - Registry: POST /v1/worker/register and /v1/worker/heartbeat (worker API
 *   key: tenant and site come from the key). A worker is known by the UUID it
 *   keeps in its state folder. Its status is derived from its heartbeats:
 *   the status it reports while its last heartbeat is at most two intervals
 *   old, "late" up to three, "offline" after that; "maintenance" when an
 *   admin set it; "error" when it reports one.
 * - Leases: every enabled camera of a site is leased to one eligible worker
 *   of the site (lease.h); a lease has a generation (grows with every
 *   change) and an expiry that the holder's heartbeats renew (three
 *   intervals). The heartbeat answer carries the worker's whole lease set;
 *   changes also go out at once as assign_camera / release_camera commands.
 * - Commands: rows in worker_commands, pushed over the worker's WebSocket
 *   (GET /v1/worker/channel) when it is connected to this instance, else
 *   handed out in heartbeat answers; acknowledged, then completed or failed
 *   by the worker; retried when not acknowledged; expired; cancelled.
 * - A sweeper thread (fleet_start) derives status changes, expires leases
 *   and commands and re-places cameras, every fleet-sweep-ms.
 *
 * Realtime hook: fleet_set_listener() registers one function that receives
 * every fleet change as (tenant, site, type, data) — "worker.status",
 * "command.updated", "camera.status" — after the change has committed. It
 * is called from request threads and from the sweeper: it must not block.
 * Live frames a worker pushes over its channel (binary frames, after
 * start_streaming) go to the function set with fleet_set_frame_sink().
 */
#ifndef FOOTFALL_FLEET_H
#define FOOTFALL_FLEET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct server;

typedef void (*fleet_listener)(struct server *s, int64_t tenant_id, int64_t site_id,
                               const char *type, const json_t *data, void *ctx);
void fleet_set_listener(fleet_listener fn, void *ctx);

/* A JPEG frame from a worker's channel: worker (database id), camera id. */
typedef void (*fleet_frame_sink)(struct server *s, int64_t worker_id, int64_t camera_id,
                                 const unsigned char *jpeg, size_t len, void *ctx);
void fleet_set_frame_sink(fleet_frame_sink fn, void *ctx);

/* Starts / stops the sweeper thread. fleet_stop also closes the channels. */
int fleet_start(struct server *s, struct ff_error *err);
void fleet_stop(struct server *s);

/* Queues a command for a worker (database id) inside the caller's
 * transaction (takes ownership of params); delivered after commit by
 * fleet_deliver(). For the hub
 * (start_streaming for a live view) and the handlers here. */
int fleet_command_insert(struct server *s, struct db_conn *c, int64_t tenant_id, int64_t worker_id,
                         const char *type, json_t *params, int priority, int64_t ttl_ms,
                         int64_t created_by, int64_t *id, struct ff_error *err);
/* Pushes a worker's pending commands over its channel, if connected here. */
void fleet_deliver(struct server *s, int64_t worker_id);

/* One camera's placement and reported state, for the camera API:
 * {"worker_id", "lease_generation", "lease_expires_at_ms", "manual",
 *  "state", "reason", "state_at_ms"}, or null when never placed. */
json_t *fleet_camera_status(struct db_conn *c, int64_t camera_id);

/* The scheduler job "fleet-history" (jobs.h): deletes commands finished
 * more than fleet-history-days ago, counted per tenant. The fast fleet work
 * (status, lease expiry, command expiry and retries) is the sweeper's. */
struct job_run;
int fleet_history_job(struct job_run *run, struct ff_error *err);

/* Figures for /metrics (Prometheus text appended to the caller's buffer). */
char *fleet_metrics_text(struct server *s);

/* worker API */
void fleet_register(struct request *rq);
void fleet_heartbeat(struct request *rq);
void fleet_channel(struct request *rq);
void fleet_command_update(struct request *rq);
/* admin API */
void workers_list(struct request *rq);
void workers_get(struct request *rq);
void workers_set_maintenance(struct request *rq);
void workers_forget(struct request *rq);
void workers_send_command(struct request *rq);
void workers_list_commands(struct request *rq);
void commands_get(struct request *rq);
void commands_cancel(struct request *rq);
void cameras_lease_set(struct request *rq);
void cameras_lease_release(struct request *rq);
void cameras_command(struct request *rq);

#endif
