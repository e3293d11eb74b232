/* worker.h — `footfall worker`: the one state of a worker process.
 *
 * struct worker ties the parts together: the face engine, the outbox and
 * its uploader, the staff cache, the pipeline (camera sources + inference
 * pool) and the local endpoint. Threads, each with one job: a reader per
 * camera (source.c), the inference pool (pipeline.c), the uploader
 * (uploader.c), the endpoint's connection threads (endpoint.c); the main
 * thread waits for SIGTERM/SIGINT, then stops the cameras (their open
 * tracks become events), drains the outbox for --drain-ms and exits 0.
 *
 * Seams for the fleet work that comes later (registration, heartbeat,
 * commands over a WebSocket): worker_command() is the single entry point a
 * command takes, whatever carried it; worker_status_json() is what a
 * heartbeat will send; cameras come and go through worker_add_camera and
 * worker_remove_camera, which the assign/release commands already use.
 */
#ifndef FOOTFALL_WORKER_WORKER_H
#define FOOTFALL_WORKER_WORKER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "camera_spec.h"
#include "config.h"
#include "outbox.h"
#include "pipeline.h"
#include "staffcache.h"
#include "status.h"
#include "uploader.h"

struct endpoint;
struct fleet_client;

/* A camera the server leased to this worker (docs/PROTOCOL.md). */
struct worker_lease {
  int camera_id;
  int64_t generation; /* the highest seen for this camera, assign or release */
  int running;        /* started by a lease (not from the command line) */
  int64_t applied_ms; /* monotonic time it was started */
  int processing;     /* the lease's processing flag last applied; -1 none yet */
};

struct worker {
  struct config cfg;
  char state_dir[512];
  char worker_id[OUTBOX_ID_SIZE];
  char endpoint_secret[80];
  int64_t started_wall_ms;
  atomic_int stopping;
  struct face_engine *engine;
  struct outbox *outbox;
  struct uploader *uploader; /* NULL without --server-url */
  struct staffcache *staff;
  struct pipeline *pipeline;
  struct endpoint *endpoint;
  int endpoint_port;          /* bound port */
  struct fleet_client *fleet; /* NULL without --server-url */
  /* Cameras from the command line / cameras file: the server never stops
   * them. Leased cameras come and go with the lease set. */
  int local_ids[CAMERA_SPEC_MAX];
  int local_count;
  pthread_mutex_t lease_lock;
  struct worker_lease leases[CAMERA_SPEC_MAX];
  int lease_count;
  atomic_int restart; /* the restart command: exec again after stopping */
};

int worker_main(int argc, char **argv);

/* Brings a worker up from w->cfg (loaded by the caller) and the cameras
 * given (specs has room for CAMERA_SPEC_MAX; --cameras adds to it): state
 * files, face engine, outbox, staff cache (refreshed when a server is set),
 * pipeline, uploader, endpoint. On failure, call worker_stop for what was
 * made. */
int worker_start(struct worker *w, struct camera_spec *specs, int count, struct ff_error *err);
/* Stops cameras (open tracks become events), drains the outbox for
 * --drain-ms, frees everything but w->cfg. */
void worker_stop(struct worker *w);

int worker_add_camera(struct worker *w, const struct camera_spec *spec, struct ff_error *err);
int worker_remove_camera(struct worker *w, int camera_id);

/* Runs one command, whatever carried it (docs/PROTOCOL.md has each one's
 * params and result): assign_camera, release_camera, start_processing,
 * stop_processing, start_streaming, stop_streaming, status_report,
 * refresh_staff, restart, shutdown. *result is a new JSON object on
 * success. Lease commands carry a generation: one older than the newest
 * seen for that camera is refused (FF_ECONFLICT, "stale"). */
int worker_command(struct worker *w, const char *type, json_t *params, json_t **result,
                   struct ff_error *err);

/* Converges to the server's lease set (a heartbeat answer's "leases"):
 * starts what is missing, stops leased cameras that are not in it — unless
 * started after sent_ms (monotonic), when the answer left the server before
 * that assignment. Stale generations are ignored; local cameras untouched. */
void worker_apply_leases(struct worker *w, json_t *leases, int64_t sent_ms);
/* Is this camera from the command line? */
int worker_is_local(const struct worker *w, int camera_id);

/* Per-camera state and figures, outbox, uploader and staff cache. */
json_t *worker_status_json(struct worker *w);
/* status plus device locks, decoder and pipeline internals. */
json_t *worker_diagnostics_json(struct worker *w);
/* Prometheus text exposition; malloc'd. */
char *worker_metrics_text(struct worker *w);

#endif
