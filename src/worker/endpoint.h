/* endpoint.h — the worker's local HTTP endpoint (default 127.0.0.1:8090).
 *
 * Every request needs `Authorization: Bearer <secret>` (compared in constant
 * time); 401 otherwise. Routes (GET only):
 *   /healthz                      {"status":"ok","worker_id":...}
 *   /status                       worker_status_json
 *   /diagnostics                  worker_diagnostics_json
 *   /logs                         recent log lines, text/plain
 *   /logs/stream                  the same, live, as Server-Sent Events
 *   /metrics                      Prometheus text
 *   /cameras/{id}/snapshot.jpg    the newest frame
 *   /cameras/{id}/mjpeg[?overlay=1]  multipart/x-mixed-replace JPEG stream
 *                                  (≤ 10 fps; overlay draws face boxes
 *                                  and labels, see overlay.h)
 * Errors are JSON {"code","message"}. Threads: one per connection (ulfius).
 */
#ifndef FOOTFALL_WORKER_ENDPOINT_H
#define FOOTFALL_WORKER_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct worker;
struct endpoint;

/* port 0 picks a free one; *bound_port tells which. */
/* The camera's newest frame as JPEG (quality 80), with boxes when overlay;
 * malloc'd into *jpeg. Also used for live frames pushed over the channel. */
int endpoint_frame_jpeg(struct worker *w, int camera_id, int overlay, uint8_t **jpeg, size_t *size,
                        struct ff_error *err);
int endpoint_start(struct worker *w, const char *listen, int port, const char *secret,
                   struct endpoint **out, int *bound_port, struct ff_error *err);
void endpoint_stop(struct endpoint *e);

#endif
