/* pipeline.h — from camera frames to events in the outbox.
 *
 * A bounded pool of inference threads (default: one per core) serves every
 * camera round-robin: a thread takes the next camera whose sample is due
 * (per-camera rate, default 5 fps), takes that camera's newest frame,
 * converts it to RGB, optionally skips still frames (motion gate, only when
 * no face is being tracked), detects faces (SSD or Tiny), drops those under
 * the minimum size or score, tracks them (tracker.h) with each detection's
 * quality (landmarks + face_quality) for the best shot, and for every track
 * that ended (or stayed past the refresh time) analyses the best shot once
 * (landmarks, descriptor, age, gender), checks it against the staff cache
 * and pushes ONE event to the outbox. A camera is processed by one thread
 * at a time, so its tracker needs no lock. Samples that came due while the
 * pool was busy are counted as skipped (the reader already dropped the
 * frames themselves: nothing queues up).
 *
 * The camera set can change while running (pipeline_add_camera /
 * pipeline_remove_camera): that is the seam for server-assigned cameras.
 * Removing a camera or stopping the pipeline ends its tracks and emits
 * their events first.
 */
#ifndef FOOTFALL_WORKER_PIPELINE_H
#define FOOTFALL_WORKER_PIPELINE_H

#include <stdint.h>

#include "face.h"
#include "frame.h"
#include "outbox.h"
#include "source.h"
#include "staffcache.h"
#include "status.h"
#include "tracker.h"
#include "uploader.h"

struct pipeline_options {
  struct face_detect_options detect;
  int min_face_size; /* shorter side of the box, pixels */
  int threads;       /* 0 = one per core */
  double staff_max_distance;
  int jpeg_quality;
  struct tracker_options tracker;
};
void pipeline_options_default(struct pipeline_options *o);

struct pipeline_camera_options {
  int camera_id;
  double sample_fps;       /* default 5 */
  int motion_gate;         /* skip detection on still frames */
  double motion_threshold; /* mean abs difference 0..255 (default 2.0) */
};

struct pipeline_camera_stats {
  uint64_t frames_processed; /* sampled frames analysed */
  uint64_t samples_skipped;  /* samples that came due while the pool was busy */
  uint64_t still_frames;     /* skipped by the motion gate */
  uint64_t faces;            /* detections kept */
  uint64_t tracks;           /* tracks started */
  uint64_t events;           /* pushed to the outbox */
  uint64_t staff_events;
  uint64_t errors;
  int active_tracks;
  int64_t last_processed_wall_ms;
  double last_detect_ms; /* duration of the last detection */
  char last_error[160];
};

#define PIPELINE_OVERLAY_MAX 16
struct overlay_box {
  struct face_box box;
  int track_id;
  int staff;
  char label[48];
};

struct pipeline;

int pipeline_new(const struct face_engine *engine, const struct pipeline_options *options,
                 struct outbox *outbox, struct staffcache *staff, struct pipeline **out,
                 struct ff_error *err);
int pipeline_start(struct pipeline *p, struct ff_error *err);
/* Stops the pool, ends every track (events pushed), stops every source. */
void pipeline_free(struct pipeline *p);

/* Takes ownership of source (stopped and freed on removal). */
int pipeline_add_camera(struct pipeline *p, const struct pipeline_camera_options *options,
                        struct camera_source *source, struct ff_error *err);
/* FF_ENOTFOUND when there is no such camera. */
int pipeline_remove_camera(struct pipeline *p, int camera_id);

int pipeline_camera_ids(struct pipeline *p, int *ids, int capacity);
int pipeline_camera_get(struct pipeline *p, int camera_id, struct pipeline_camera_stats *stats,
                        struct camera_source_stats *source_stats,
                        struct pipeline_camera_options *options);
/* From a face's last analysed frame to its event in the outbox, over the
 * latest passes (window of them; count: all passes so far). */
struct pipeline_latency {
  uint64_t count;
  int window;
  int p50_ms, p95_ms, max_ms;
};
void pipeline_event_latency(struct pipeline *p, struct pipeline_latency *out);

/* The boxes of the last processed frame (for overlays). */
int pipeline_overlay(struct pipeline *p, int camera_id, struct overlay_box *boxes, int capacity,
                     int *count);
/* The camera's newest frame as RGB (waits up to timeout_ms for one). */
int pipeline_snapshot(struct pipeline *p, int camera_id, int timeout_ms, struct rgb_image *out,
                      struct ff_error *err);
/* The server's answer for an event: labels the track with its customer. */
void pipeline_on_result(void *pipeline, const struct upload_result *result);
int pipeline_thread_count(struct pipeline *p);
/* stop_processing / start_processing: a paused camera keeps reading frames
 * (snapshots, live views) but none is analysed. FF_ENOTFOUND for an unknown
 * camera. */
int pipeline_set_processing(struct pipeline *p, int camera_id, int on);
/* 1 analysing, 0 paused, -1 unknown camera. */
int pipeline_processing(struct pipeline *p, int camera_id);

#endif
