/* fleet_client.h — the worker's side of fleet control (docs/PROTOCOL.md).
 *
 * Four threads, each with one job:
 * - heartbeat: registers at start (POST /v1/worker/register with the id in
 *   STATE_DIR/worker-id), then POST /v1/worker/heartbeat every
 *   --heartbeat-interval-ms with the status, per-camera figures and
 *   capabilities; registers again when the server answers 404
 *   worker_unknown; on shutdown sends one last heartbeat with status
 *   "offline". Each answer carries the worker's lease set: the worker
 *   converges to it (worker_apply_leases).
 * - channel (--channel 1): keeps a WebSocket to GET /v1/worker/channel,
 *   reconnecting with capped exponential backoff and jitter; commands arrive
 *   there at once. Without it, commands come in heartbeat answers.
 * - commands: one executor, so commands run one at a time in the order they
 *   came, whatever carried them: acknowledge, run (worker_command), then
 *   complete or fail with the result. A command id already finished (kept
 *   in STATE_DIR/commands.json, the latest 256) is answered again from the
 *   record and never run twice — also across a restart.
 * - live streams (start_streaming): JPEG frames as binary channel frames.
 */
#ifndef FOOTFALL_WORKER_FLEET_CLIENT_H
#define FOOTFALL_WORKER_FLEET_CLIENT_H

#include <jansson.h>

#include "status.h"

struct worker;
struct fleet_client;

int fleet_client_start(struct worker *w, struct fleet_client **out, struct ff_error *err);
/* Stops the streams and the channel, sends the "offline" heartbeat (bounded
 * by the upload timeout), joins the threads. NULL is ignored. */
void fleet_client_stop(struct fleet_client *fc);

/* start_streaming / stop_streaming: params {"camera_id", "fps" (0.2..10,
 * default 2), "overlay"}. Needs the channel. */
int fleet_client_stream(struct fleet_client *fc, int start, json_t *params, json_t **result,
                        struct ff_error *err);

/* {"registered", "channel", "last_heartbeat_at", "heartbeats", "failures",
 *  "last_error", "commands_run", "streams"} for /status. */
json_t *fleet_client_status_json(struct fleet_client *fc);

#endif
