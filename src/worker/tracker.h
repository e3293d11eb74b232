/* tracker.h — follows faces across the sampled frames of one camera.
 *
 * Association: box overlap (IoU) first; when it is ambiguous (a detection
 * overlaps two tracks, or two detections one track, with IoUs within
 * `ambiguity_margin`) the tracker asks for descriptors through a callback
 * and prefers the pair with the smaller descriptor distance. Unmatched
 * detections start tracks (or, with reid_ms, continue a lost track whose
 * descriptor matches). A track missed for longer than miss_ms (+ reid_ms)
 * ends.
 *
 * Best shot: each track keeps the crop region (the box grown by its whole
 * size to the left and top and by half to the right and bottom, clipped to
 * the frame; see tracker_offer for why) of its highest-quality detection
 * since its last event — the pixels, not the whole frame.
 *
 * Events: tracker_collect hands out a track's best shot when the track has
 * ended (one event per pass) or when it has been seen for refresh_ms since
 * its last event (a refresh event for people who stay). Tracks with fewer
 * than min_hits detections end silently (noise).
 *
 * Pure logic plus memory; one tracker per camera, not thread-safe.
 */
#ifndef FOOTFALL_WORKER_TRACKER_H
#define FOOTFALL_WORKER_TRACKER_H

#include <stdint.h>

#include "face.h"
#include "frame.h"

#define TRACKER_MAX_TRACKS 64

struct tracker_options {
  double iou_min;                 /* least overlap to continue a track (0.2) */
  double ambiguity_margin;        /* IoUs this close need descriptors (0.1) */
  double max_descriptor_distance; /* beyond it a pair is not the same face (0.6) */
  int miss_ms;                    /* a track ends when missed this long (1500) */
  int refresh_ms;                 /* refresh event for long stays (300000; 0 = never) */
  int min_hits;                   /* detections before a track may emit (2) */
  /* Re-identification after occlusion: a track missed for miss_ms stays
   * "lost" for reid_ms more; a new face whose descriptor is within
   * reid_max_distance of a lost (or unmatched) track continues it instead
   * of starting a new pass. 0 = off (the default): the track ends at
   * miss_ms. Costs one descriptor per new face while tracks are lost. */
  int reid_ms;
  double reid_max_distance; /* 0.5 */
};
void tracker_options_default(struct tracker_options *o);

struct best_shot {
  int valid;
  double quality;
  struct face_detection detection; /* in crop coordinates */
  struct face_box frame_box;       /* the same box in frame coordinates */
  struct rgb_image crop;           /* owned */
  int crop_x, crop_y;              /* the crop's origin in the frame */
  int64_t wall_ms;                 /* capture time of that frame */
};

struct track {
  int id;
  struct face_box box; /* last seen */
  int64_t first_ms, last_ms, last_event_ms;
  int hits;
  int events;
  struct best_shot best;
  int has_descriptor; /* of the best shot, for ambiguous matches */
  float descriptor[FACE_DESCRIPTOR_SIZE];
  int64_t staff_id;    /* after its first event */
  int64_t customer_id; /* once the server answered */
  char label[48];      /* for overlays: staff name, "customer N" or "" */
};

/* What the tracker asks for when IoU alone cannot decide. Return 0 and fill
 * out, or -1 when no descriptor could be made (the pair then keeps IoU). */
struct tracker_describer {
  int (*detection)(void *ctx, int detection_index, float out[FACE_DESCRIPTOR_SIZE]);
  int (*track)(void *ctx, struct track *track, float out[FACE_DESCRIPTOR_SIZE]);
  void *ctx;
};

struct tracker {
  struct tracker_options options;
  struct track tracks[TRACKER_MAX_TRACKS];
  int count;
  int next_id;
  uint64_t ambiguous_resolved; /* matches decided by descriptor */
  uint64_t reidentified;       /* lost tracks continued by descriptor */
};

struct tracker_emit {
  int track_id;
  int ended; /* 1: the pass is over; 0: a refresh of a stay */
  int hits;
  int64_t first_ms, last_ms;
  struct best_shot shot; /* ownership moves to the caller (best_shot_free) */
};

void tracker_init(struct tracker *t, const struct tracker_options *options);
void tracker_free(struct tracker *t);

/* Matches detections of one frame to tracks; writes each detection's track
 * index (into t->tracks) to track_of[i]. New tracks for the rest (none when
 * the table is full: track_of = -1). describer may be NULL. */
void tracker_match(struct tracker *t, const struct face_detection *detections, int count,
                   int64_t now_ms, const struct tracker_describer *describer, int *track_of);

/* Offers a detection of the given track as best shot; keeps its crop when
 * its quality beats the current one. */
int tracker_offer(struct tracker *t, int track_index, const struct rgb_image *frame,
                  const struct face_detection *detection, double quality, int64_t wall_ms,
                  struct ff_error *err);

/* Ended and refresh-due tracks (at most capacity); ended ones are removed.
 * flush = 1 ends every track (shutdown). Returns how many were written. */
int tracker_collect(struct tracker *t, int64_t now_ms, int flush, struct tracker_emit *out,
                    int capacity);

void best_shot_free(struct best_shot *shot);
double box_iou(const struct face_box *a, const struct face_box *b);

#endif
