/* live.h — live camera views: GET /v1/cameras/{id}/live.mjpeg and the
 * worker's log tail (GET /v1/workers/{id}/logs).
 *
 * Viewers of one camera (and overlay setting) share one upstream, which
 * starts with the first viewer and stops when the last one leaves:
 * - proxy: the server reads the worker's local MJPEG
 *   (`<endpoint_url>/cameras/{id}/mjpeg`, with the worker's endpoint secret);
 * - relay: when the endpoint cannot be reached (no URL, no secret known,
 *   refused, an error status), the server sends the worker a start_streaming
 *   command and relays the JPEG frames the worker pushes over its channel
 *   (stop_streaming when the last viewer leaves).
 * Only the newest frame is kept per upstream: a slow viewer skips frames and
 * never makes anything queue. A view that gets no frame for 15 s ends.
 *
 * The endpoint secret comes with the worker's heartbeats and is kept in
 * memory only (never stored); until a worker's first heartbeat after a
 * server restart its cameras are relayed. A relayed view needs the viewer on
 * the instance that holds the worker's channel.
 */
#ifndef FOOTFALL_LIVE_H
#define FOOTFALL_LIVE_H

#include <stdint.h>

#include "http.h"

int live_init(struct server *s, struct ff_error *err);
/* Stops every upstream (before the database closes). */
void live_stop(struct server *s);
/* A worker's heartbeat carried its endpoint secret (fleet.c). */
void live_remember_secret(int64_t worker_id, const char *secret);

void live_mjpeg(struct request *rq);
void live_worker_logs(struct request *rq);

struct live_stats {
  int proxies, relays, viewers;
  uint64_t frames;
};
void live_stats_get(struct live_stats *out);

#endif
