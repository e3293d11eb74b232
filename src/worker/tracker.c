#include "tracker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tracker_options_default(struct tracker_options *o) {
  o->iou_min = 0.2;
  o->ambiguity_margin = 0.1;
  o->max_descriptor_distance = 0.6;
  o->miss_ms = 1500;
  o->refresh_ms = 300000;
  o->min_hits = 2;
  o->reid_ms = 0;
  o->reid_max_distance = 0.5;
}

void tracker_init(struct tracker *t, const struct tracker_options *options) {
  memset(t, 0, sizeof *t);
  t->options = *options;
  t->next_id = 1;
}

void best_shot_free(struct best_shot *shot) {
  rgb_image_free(&shot->crop);
  shot->valid = 0;
}

void tracker_free(struct tracker *t) {
  for (int i = 0; i < t->count; i++)
    best_shot_free(&t->tracks[i].best);
  t->count = 0;
}

double box_iou(const struct face_box *a, const struct face_box *b) {
  double x0 = a->x > b->x ? a->x : b->x, y0 = a->y > b->y ? a->y : b->y;
  double x1 = a->x + a->width < b->x + b->width ? a->x + a->width : b->x + b->width;
  double y1 = a->y + a->height < b->y + b->height ? a->y + a->height : b->y + b->height;
  if (x1 <= x0 || y1 <= y0)
    return 0;
  double inter = (x1 - x0) * (y1 - y0);
  double uni = a->width * a->height + b->width * b->height - inter;
  return uni > 0 ? inter / uni : 0;
}

struct pair {
  int d, t;
  double key;
};

static int by_key_desc(const void *a, const void *b) {
  double ka = ((const struct pair *)a)->key, kb = ((const struct pair *)b)->key;
  return ka < kb ? 1 : ka > kb ? -1 : 0;
}

#define MAX_DETECTIONS 64

/* A face that reappears from behind someone is often half hidden at first,
 * so its first descriptor may not match: for the first few detections of a
 * young track, keep comparing it with tracks not seen in this frame, and
 * when one matches, fold the young track into it. */
#define REID_YOUNG_HITS 5

static void fold(struct tracker *t, int young, int into) {
  struct track *y = &t->tracks[young], *o = &t->tracks[into];
  o->box = y->box;
  o->last_ms = y->last_ms;
  o->hits += y->hits;
  if (y->best.valid && (!o->best.valid || y->best.quality > o->best.quality)) {
    best_shot_free(&o->best);
    o->best = y->best;
    memset(&y->best, 0, sizeof y->best);
    o->has_descriptor = 0;
  }
  best_shot_free(&y->best);
  t->tracks[young] = t->tracks[--t->count];
}

static void merge_young(struct tracker *t, int count, int64_t now_ms,
                        const struct tracker_describer *describer,
                        float det_desc[][FACE_DESCRIPTOR_SIZE], int *det_has, int *track_of) {
  for (int d = 0; d < count; d++) {
    int y = track_of[d];
    if (y < 0 || t->tracks[y].hits > REID_YOUNG_HITS)
      continue;
    int best = -1;
    double best_distance = t->options.reid_max_distance;
    for (int k = 0; k < t->count; k++) {
      struct track *o = &t->tracks[k];
      if (k == y || o->last_ms >= now_ms || !o->best.valid || o->id > t->tracks[y].id)
        continue;
      if (!det_has[d] && !(det_has[d] = describer->detection(describer->ctx, d, det_desc[d]) == 0))
        break;
      if (!o->has_descriptor)
        o->has_descriptor = describer->track(describer->ctx, o, o->descriptor) == 0;
      double dist = o->has_descriptor ? face_distance(det_desc[d], o->descriptor) : INFINITY;
      if (dist < best_distance) {
        best_distance = dist;
        best = k;
      }
    }
    if (best < 0)
      continue;
    int last = t->count - 1;
    fold(t, y, best);
    t->reidentified++;
    /* fold moved the last track into slot y: repoint, then this face. */
    for (int i = 0; i < count; i++)
      if (track_of[i] == last)
        track_of[i] = y;
    track_of[d] = best == last ? y : best;
  }
}

void tracker_match(struct tracker *t, const struct face_detection *det, int count, int64_t now_ms,
                   const struct tracker_describer *describer, int *track_of) {
  if (count > MAX_DETECTIONS)
    count = MAX_DETECTIONS;
  static const int none = -1;
  for (int i = 0; i < count; i++)
    track_of[i] = none;
  double iou[MAX_DETECTIONS][TRACKER_MAX_TRACKS];
  int nt = t->count;
  /* Overlap continues live tracks only; a lost one moved out of sight. */
  for (int d = 0; d < count; d++)
    for (int k = 0; k < nt; k++)
      iou[d][k] = now_ms - t->tracks[k].last_ms <= t->options.miss_ms
                      ? box_iou(&det[d].box, &t->tracks[k].box)
                      : 0;

  /* Ambiguity: a detection with two candidate tracks, or a track with two
   * candidate detections, whose overlaps are within the margin. */
  int det_ambiguous[MAX_DETECTIONS] = {0}, track_ambiguous[TRACKER_MAX_TRACKS] = {0};
  double m = t->options.ambiguity_margin, lo = t->options.iou_min;
  for (int d = 0; d < count; d++)
    for (int a = 0; a < nt; a++)
      for (int b = a + 1; b < nt; b++)
        if (iou[d][a] >= lo && iou[d][b] >= lo && (iou[d][a] - iou[d][b] < m) &&
            (iou[d][b] - iou[d][a] < m))
          det_ambiguous[d] = track_ambiguous[a] = track_ambiguous[b] = 1;
  for (int k = 0; k < nt; k++)
    for (int a = 0; a < count; a++)
      for (int b = a + 1; b < count; b++)
        if (iou[a][k] >= lo && iou[b][k] >= lo && (iou[a][k] - iou[b][k] < m) &&
            (iou[b][k] - iou[a][k] < m))
          track_ambiguous[k] = det_ambiguous[a] = det_ambiguous[b] = 1;

  float det_desc[MAX_DETECTIONS][FACE_DESCRIPTOR_SIZE];
  int det_has[MAX_DETECTIONS] = {0};
  if (describer) {
    for (int d = 0; d < count; d++)
      if (det_ambiguous[d] && describer->detection)
        det_has[d] = describer->detection(describer->ctx, d, det_desc[d]) == 0;
    for (int k = 0; k < nt; k++)
      if (track_ambiguous[k] && !t->tracks[k].has_descriptor && describer->track)
        t->tracks[k].has_descriptor =
            describer->track(describer->ctx, &t->tracks[k], t->tracks[k].descriptor) == 0;
  }

  struct pair pairs[MAX_DETECTIONS * 8];
  int np = 0;
  for (int d = 0; d < count; d++)
    for (int k = 0; k < nt && np < (int)(sizeof pairs / sizeof pairs[0]); k++) {
      if (iou[d][k] < lo)
        continue;
      double key = iou[d][k];
      if ((det_ambiguous[d] || track_ambiguous[k]) && det_has[d] && t->tracks[k].has_descriptor) {
        double dist = face_distance(det_desc[d], t->tracks[k].descriptor);
        if (dist > t->options.max_descriptor_distance)
          continue;     /* overlapping, but another face */
        key = 2 - dist; /* descriptor-decided pairs go first, closest first */
      }
      pairs[np++] = (struct pair){d, k, key};
    }
  qsort(pairs, (size_t)np, sizeof pairs[0], by_key_desc);
  int used[TRACKER_MAX_TRACKS] = {0};
  for (int i = 0; i < np; i++) {
    struct pair *p = &pairs[i];
    if (track_of[p->d] != none || used[p->t])
      continue;
    track_of[p->d] = p->t;
    used[p->t] = 1;
    if (p->key > 1)
      t->ambiguous_resolved++;
  }
  /* Re-identification: a face no overlap explains may be a lost track's
   * person coming out from behind someone. */
  if (t->options.reid_ms > 0 && describer && describer->detection && describer->track)
    for (int d = 0; d < count; d++) {
      if (track_of[d] != none)
        continue;
      int best = -1;
      double best_distance = t->options.reid_max_distance;
      for (int k = 0; k < nt; k++) {
        struct track *tr = &t->tracks[k];
        if (used[k] || !tr->best.valid)
          continue;
        if (!det_has[d])
          det_has[d] = describer->detection(describer->ctx, d, det_desc[d]) == 0;
        if (!det_has[d])
          break;
        if (!tr->has_descriptor)
          tr->has_descriptor = describer->track(describer->ctx, tr, tr->descriptor) == 0;
        double dist = tr->has_descriptor ? face_distance(det_desc[d], tr->descriptor) : INFINITY;
        if (dist < best_distance) {
          best_distance = dist;
          best = k;
        }
      }
      if (best >= 0) {
        track_of[d] = best;
        used[best] = 1;
        t->reidentified++;
      }
    }
  for (int d = 0; d < count; d++) {
    if (track_of[d] != none) {
      struct track *tr = &t->tracks[track_of[d]];
      tr->box = det[d].box;
      tr->last_ms = now_ms;
      tr->hits++;
      continue;
    }
    if (t->count >= TRACKER_MAX_TRACKS)
      continue;
    struct track *tr = &t->tracks[t->count];
    memset(tr, 0, sizeof *tr);
    tr->id = t->next_id++;
    tr->box = det[d].box;
    tr->first_ms = tr->last_ms = tr->last_event_ms = now_ms;
    tr->hits = 1;
    track_of[d] = t->count++;
  }
  if (t->options.reid_ms > 0 && describer && describer->detection && describer->track)
    merge_young(t, count, now_ms, describer, det_desc, det_has, track_of);
}

int tracker_offer(struct tracker *t, int track_index, const struct rgb_image *frame,
                  const struct face_detection *detection, double quality, int64_t wall_ms,
                  struct ff_error *err) {
  if (track_index < 0 || track_index >= t->count)
    return FF_OK;
  struct track *tr = &t->tracks[track_index];
  if (tr->best.valid && tr->best.quality >= quality)
    return FF_OK;
  /* A whole box of margin on the left and top: the face engine (like
   * face-api) sizes the descriptor crop with the face's absolute position,
   * so with less room there the crop's descriptor would differ from the
   * full frame's (by ~0.3 in a measured case; 0 with this margin). Half a
   * box on the right and bottom is enough. */
  const struct face_box *b = &detection->box;
  int x = (int)(b->x - b->width), y = (int)(b->y - b->height);
  int w = (int)(b->width * 2.5), h = (int)(b->height * 2.5);
  if (x < 0) {
    w += x;
    x = 0;
  }
  if (y < 0) {
    h += y;
    y = 0;
  }
  int rc = rgb_image_crop(frame, x, y, w, h, &tr->best.crop, err);
  if (rc)
    return rc;
  tr->best.valid = 1;
  tr->best.quality = quality;
  tr->best.detection = *detection;
  tr->best.detection.box.x -= x;
  tr->best.detection.box.y -= y;
  tr->best.frame_box = *b;
  tr->best.crop_x = x;
  tr->best.crop_y = y;
  tr->best.wall_ms = wall_ms;
  tr->has_descriptor = 0;
  return FF_OK;
}

int tracker_collect(struct tracker *t, int64_t now_ms, int flush, struct tracker_emit *out,
                    int capacity) {
  int n = 0;
  for (int i = 0; i < t->count && n < capacity;) {
    struct track *tr = &t->tracks[i];
    int ended = flush || now_ms - tr->last_ms > t->options.miss_ms + t->options.reid_ms;
    int refresh =
        !ended && t->options.refresh_ms > 0 && now_ms - tr->last_event_ms >= t->options.refresh_ms;
    int may_emit = tr->hits >= t->options.min_hits && tr->best.valid;
    if ((ended || refresh) && may_emit) {
      struct tracker_emit *e = &out[n++];
      e->track_id = tr->id;
      e->ended = ended;
      e->hits = tr->hits;
      e->first_ms = tr->first_ms;
      e->last_ms = tr->last_ms;
      e->shot = tr->best; /* moves the crop */
      memset(&tr->best, 0, sizeof tr->best);
      tr->last_event_ms = now_ms;
      tr->events++;
      tr->has_descriptor = 0;
    }
    if (ended) {
      best_shot_free(&tr->best);
      t->tracks[i] = t->tracks[--t->count];
      continue;
    }
    i++;
  }
  return n;
}
