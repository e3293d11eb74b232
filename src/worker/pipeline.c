#include "pipeline.h"

#include <errno.h>
#include <libavutil/frame.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "event.h"
#include "log.h"
#include "motion.h"

#define MAX_CAMERAS 64
#define MAX_THREADS 32
#define MAX_FACES 32
#define PENDING_MAX 512

struct camera {
  struct pipeline_camera_options options;
  struct camera_source *source;
  int64_t interval_ms, next_due_ms;
  int busy, removed;
  int paused;  /* stop_processing: frames are read (live view) but not analysed */
  int viewers; /* snapshots reading the source; removal waits for them */
  struct {
    int track_id;
    int64_t customer_id;
  } answered[16]; /* the server's answers for live tracks */
  int answered_next;
  /* Only the thread holding `busy` touches these: */
  uint64_t last_seq;
  int had_frame;
  struct tracker tracker;
  struct motion_gate motion;
  /* Guarded by the pipeline lock: */
  struct pipeline_camera_stats stats;
  struct overlay_box overlay[PIPELINE_OVERLAY_MAX];
  int overlay_count;
};

/* Events sent but not yet answered, to label tracks with their customer. */
struct pending {
  char id[OUTBOX_ID_SIZE];
  int camera_id, track_id;
};

#define LATENCY_RING 512

struct pipeline {
  const struct face_engine *engine;
  struct pipeline_options options;
  struct outbox *outbox;
  struct staffcache *staff;
  pthread_t threads[MAX_THREADS];
  struct scratch *scratch[MAX_THREADS]; /* one per pool thread */
  int thread_count, started;
  atomic_int stopping;
  /* `lock` guards the camera table, each camera's scheduling fields, stats
   * and overlay, and the pending ring. */
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a camera freed, added or removed; stop */
  struct camera *cameras[MAX_CAMERAS];
  int camera_count;
  int round_robin;
  struct pending pending[PENDING_MAX];
  int pending_next;
  /* From a face's last analysed frame to its event in the outbox, ms: the
   * latest LATENCY_RING passes, for /status and the benchmark. */
  int32_t latency[LATENCY_RING];
  uint64_t latency_count;
};

void pipeline_options_default(struct pipeline_options *o) {
  memset(o, 0, sizeof *o);
  face_detect_options_default(&o->detect);
  o->min_face_size = 40;
  o->threads = 0;
  o->staff_max_distance = 0.5;
  o->jpeg_quality = 85;
  tracker_options_default(&o->tracker);
}

/* Per-thread scratch. */
struct scratch {
  struct pipeline *p;
  struct face_session *session;
  struct frame_converter converter;
  struct rgb_image image;
  AVFrame *frame;
  struct face_image face_image;
  struct face_detection detections[MAX_FACES];
};

static void camera_error(struct pipeline *p, struct camera *c, const char *what,
                         const struct ff_error *err) {
  pthread_mutex_lock(&p->lock);
  c->stats.errors++;
  snprintf(c->stats.last_error, sizeof c->stats.last_error, "%.20s: %.130s", what, err->message);
  pthread_mutex_unlock(&p->lock);
  log_msg(LOG_WARN, "pipeline.error", "camera=%d %s: %s", c->options.camera_id, what, err->message);
}

/* One event for one best shot. */
static void emit(struct pipeline *p, struct scratch *s, struct camera *c, struct tracker_emit *e) {
  struct ff_error err = {0};
  struct face_image img;
  struct face_result r;
  uint8_t *jpeg = NULL;
  char *json = NULL;
  size_t jpeg_size = 0, json_len = 0;
  struct best_shot *shot = &e->shot;
  if (face_image_wrap(shot->crop.rgb, shot->crop.width, shot->crop.height, shot->crop.stride, &img,
                      &err) ||
      face_analyze_detection(s->session, &img, &shot->detection, &r, &err)) {
    camera_error(p, c, "best shot", &err);
    goto done;
  }
  struct worker_event ev = {0};
  outbox_new_id(ev.id);
  ev.camera_id = c->options.camera_id;
  ev.captured_ms = shot->wall_ms;
  memcpy(ev.descriptor, r.descriptor, sizeof ev.descriptor);
  ev.score = shot->detection.score;
  ev.quality = shot->quality;
  ev.box_x = shot->frame_box.x;
  ev.box_y = shot->frame_box.y;
  ev.box_width = shot->frame_box.width;
  ev.box_height = shot->frame_box.height;
  ev.age = r.age;
  ev.is_male = r.is_male;
  ev.gender_probability = r.gender_probability;
  char staff_name[STAFF_NAME_MAX] = "";
  double distance = 0;
  if (p->staff)
    staffcache_match(p->staff, r.descriptor, p->options.staff_max_distance, &ev.staff_id,
                     staff_name, &distance);
  /* The picture for the server: the box grown by half on every side. */
  const struct face_box *b = &shot->detection.box;
  int jx = (int)(b->x - b->width / 2), jy = (int)(b->y - b->height / 2);
  int jx1 = (int)(b->x + b->width * 1.5), jy1 = (int)(b->y + b->height * 1.5);
  jx = jx < 0 ? 0 : jx;
  jy = jy < 0 ? 0 : jy;
  jx1 = jx1 > shot->crop.width ? shot->crop.width : jx1;
  jy1 = jy1 > shot->crop.height ? shot->crop.height : jy1;
  if (jx1 <= jx || jy1 <= jy) {
    jx = jy = 0;
    jx1 = shot->crop.width;
    jy1 = shot->crop.height;
  }
  if (jpeg_encode_rgb(shot->crop.rgb + (size_t)jy * shot->crop.stride + (size_t)jx * 3, jx1 - jx,
                      jy1 - jy, shot->crop.stride, p->options.jpeg_quality, &jpeg, &jpeg_size,
                      &err)) {
    camera_error(p, c, "crop", &err);
    goto done;
  }
  ev.crop_jpeg = jpeg;
  ev.crop_jpeg_size = jpeg_size;
  if (event_to_json(&ev, &json, &json_len, &err) ||
      outbox_push(p->outbox, ev.id, wall_ms(), json, json_len, &err)) {
    camera_error(p, c, "outbox", &err);
    goto done;
  }
  /* Label the track (if it lives on) for overlays. */
  for (int i = 0; i < c->tracker.count; i++)
    if (c->tracker.tracks[i].id == e->track_id) {
      struct track *t = &c->tracker.tracks[i];
      t->staff_id = ev.staff_id;
      if (ev.staff_id)
        snprintf(t->label, sizeof t->label, "%s", staff_name);
    }
  int64_t latency = monotonic_ms() - e->last_ms;
  pthread_mutex_lock(&p->lock);
  p->latency[p->latency_count++ % LATENCY_RING] = (int32_t)(latency < 0 ? 0 : latency);
  c->stats.events++;
  if (ev.staff_id)
    c->stats.staff_events++;
  struct pending *pe = &p->pending[p->pending_next++ % PENDING_MAX];
  snprintf(pe->id, sizeof pe->id, "%s", ev.id);
  pe->camera_id = c->options.camera_id;
  pe->track_id = e->ended ? 0 : e->track_id;
  pthread_mutex_unlock(&p->lock);
  log_msg(LOG_INFO, "pipeline.event",
          "camera=%d track=%d event=%s hits=%d quality=%.2f staff=%lld ended=%d",
          c->options.camera_id, e->track_id, ev.id, e->hits, shot->quality, (long long)ev.staff_id,
          e->ended);
done:
  free(json);
  free(jpeg);
  best_shot_free(shot);
}

static void collect(struct pipeline *p, struct scratch *s, struct camera *c, int64_t now,
                    int flush) {
  struct tracker_emit emits[TRACKER_MAX_TRACKS];
  int n = tracker_collect(&c->tracker, now, flush, emits, TRACKER_MAX_TRACKS);
  for (int i = 0; i < n; i++)
    emit(p, s, c, &emits[i]);
}

struct describe_ctx {
  struct scratch *s;
  struct pipeline *p;
};

static int describe_detection(void *arg, int index, float out[FACE_DESCRIPTOR_SIZE]) {
  struct describe_ctx *d = arg;
  struct face_result r;
  if (face_analyze_detection(d->s->session, &d->s->face_image, &d->s->detections[index], &r, NULL))
    return -1;
  memcpy(out, r.descriptor, sizeof r.descriptor);
  return 0;
}

static int describe_track(void *arg, struct track *t, float out[FACE_DESCRIPTOR_SIZE]) {
  struct describe_ctx *d = arg;
  if (!t->best.valid)
    return -1;
  struct face_image img;
  struct face_result r;
  if (face_image_wrap(t->best.crop.rgb, t->best.crop.width, t->best.crop.height,
                      t->best.crop.stride, &img, NULL) ||
      face_analyze_detection(d->s->session, &img, &t->best.detection, &r, NULL))
    return -1;
  memcpy(out, r.descriptor, sizeof r.descriptor);
  return 0;
}

static void process(struct pipeline *p, struct scratch *s, struct camera *c) {
  uint64_t seq;
  int64_t captured;
  int64_t now = monotonic_ms();
  struct ff_error err = {0};
  if (camera_source_take(c->source, c->last_seq, 0, s->frame, &seq, &captured) != FF_OK) {
    c->had_frame = 0;
    collect(p, s, c, now, 0); /* tracks still end when the camera goes quiet */
    pthread_mutex_lock(&p->lock);
    c->stats.active_tracks = c->tracker.count;
    pthread_mutex_unlock(&p->lock);
    return;
  }
  c->last_seq = seq;
  c->had_frame = 1;
  int rc = frame_to_rgb(&s->converter, s->frame, &s->image, &err);
  av_frame_unref(s->frame);
  if (rc) {
    camera_error(p, c, "convert", &err);
    return;
  }
  face_image_wrap(s->image.rgb, s->image.width, s->image.height, s->image.stride, &s->face_image,
                  NULL);
  int moving = 1;
  if (c->options.motion_gate) {
    double diff =
        motion_update(&c->motion, s->image.rgb, s->image.width, s->image.height, s->image.stride);
    moving = c->tracker.count > 0 || diff >= c->options.motion_threshold;
  }
  int kept = 0, started = 0;
  double detect_ms = 0;
  struct overlay_box overlay[PIPELINE_OVERLAY_MAX];
  int overlay_count = 0;
  if (moving) {
    int64_t t0 = monotonic_ms();
    int count = 0;
    if ((rc = face_detect(s->session, &s->face_image, &p->options.detect, s->detections, MAX_FACES,
                          &count, &err))) {
      camera_error(p, c, "detect", &err);
      return;
    }
    detect_ms = (double)(monotonic_ms() - t0);
    for (int i = 0; i < count; i++) {
      const struct face_box *b = &s->detections[i].box;
      double side = b->width < b->height ? b->width : b->height;
      if (side >= p->options.min_face_size && s->detections[i].score > p->options.detect.min_score)
        s->detections[kept++] = s->detections[i];
    }
    int before = c->tracker.next_id;
    int track_of[MAX_FACES];
    struct describe_ctx dctx = {s, p};
    struct tracker_describer describer = {describe_detection, describe_track, &dctx};
    tracker_match(&c->tracker, s->detections, kept, now, &describer, track_of);
    started = c->tracker.next_id - before;
    for (int i = 0; i < kept; i++) {
      struct face_point points[FACE_LANDMARK_COUNT];
      struct face_quality q;
      if (face_landmarks(s->session, &s->face_image, &s->detections[i].box, FACE_LANDMARKS_FULL,
                         points, &err) ||
          face_quality(&s->face_image, &s->detections[i], points, &q) ||
          tracker_offer(&c->tracker, track_of[i], &s->image, &s->detections[i], q.score, captured,
                        &err)) {
        camera_error(p, c, "quality", &err);
        continue;
      }
      if (overlay_count < PIPELINE_OVERLAY_MAX && track_of[i] >= 0) {
        struct track *t = &c->tracker.tracks[track_of[i]];
        struct overlay_box *o = &overlay[overlay_count++];
        o->box = s->detections[i].box;
        o->track_id = t->id;
        o->staff = t->staff_id > 0;
        snprintf(o->label, sizeof o->label, "%s", t->label[0] ? t->label : "unknown");
      }
    }
  }
  pthread_mutex_lock(&p->lock);
  c->stats.frames_processed++;
  if (!moving)
    c->stats.still_frames++;
  c->stats.faces += (uint64_t)kept;
  c->stats.tracks += (uint64_t)started;
  c->stats.last_processed_wall_ms = wall_ms();
  if (moving) {
    for (int b = 0; b < overlay_count; b++)
      for (int k = 0; k < 16; k++)
        if (!overlay[b].staff && c->answered[k].track_id == overlay[b].track_id)
          snprintf(overlay[b].label, sizeof overlay[b].label, "customer %lld",
                   (long long)c->answered[k].customer_id);
    c->stats.last_detect_ms = detect_ms;
    memcpy(c->overlay, overlay, sizeof overlay[0] * (size_t)overlay_count);
    c->overlay_count = overlay_count;
  }
  pthread_mutex_unlock(&p->lock);
  collect(p, s, c, now, 0);
  pthread_mutex_lock(&p->lock);
  c->stats.active_tracks = c->tracker.count;
  pthread_mutex_unlock(&p->lock);
}

static void timed_wait(struct pipeline *p, int64_t ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  int64_t ns = until.tv_nsec + (ms % 1000) * 1000000;
  until.tv_sec += ms / 1000 + ns / 1000000000;
  until.tv_nsec = ns % 1000000000;
  pthread_cond_timedwait(&p->changed, &p->lock, &until);
}

static void *inference_main(void *arg) {
  struct scratch *s = arg;
  struct pipeline *p = s->p;
  pthread_mutex_lock(&p->lock);
  while (!atomic_load(&p->stopping)) {
    int64_t now = monotonic_ms(), wait = 50;
    struct camera *chosen = NULL;
    for (int i = 0; i < p->camera_count; i++) {
      struct camera *c = p->cameras[(p->round_robin + i) % p->camera_count];
      if (c->busy || c->removed || c->paused)
        continue;
      if (now >= c->next_due_ms) {
        chosen = c;
        p->round_robin = (p->round_robin + i + 1) % p->camera_count;
        break;
      }
      if (c->next_due_ms - now < wait)
        wait = c->next_due_ms - now;
    }
    if (!chosen) {
      timed_wait(p, wait < 1 ? 1 : wait);
      continue;
    }
    int64_t late = now - chosen->next_due_ms;
    int64_t missed = late / chosen->interval_ms;
    if (missed > 0 && chosen->had_frame)
      chosen->stats.samples_skipped += (uint64_t)missed;
    chosen->next_due_ms += (missed + 1) * chosen->interval_ms;
    chosen->busy = 1;
    pthread_mutex_unlock(&p->lock);
    process(p, s, chosen);
    pthread_mutex_lock(&p->lock);
    chosen->busy = 0;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static struct scratch *scratch_new(struct pipeline *p, struct ff_error *err) {
  struct scratch *s = calloc(1, sizeof *s);
  if (!s || !(s->frame = av_frame_alloc())) {
    free(s);
    ff_fail(err, FF_ENOMEM, "out of memory");
    return NULL;
  }
  s->p = p;
  if (face_session_new(p->engine, &s->session, err)) {
    av_frame_free(&s->frame);
    free(s);
    return NULL;
  }
  return s;
}

static void scratch_free(struct scratch *s) {
  if (!s)
    return;
  face_session_free(s->session);
  frame_converter_free(&s->converter);
  rgb_image_free(&s->image);
  av_frame_free(&s->frame);
  free(s);
}

int pipeline_new(const struct face_engine *engine, const struct pipeline_options *options,
                 struct outbox *outbox, struct staffcache *staff, struct pipeline **out,
                 struct ff_error *err) {
  struct pipeline *p = calloc(1, sizeof *p);
  if (!p)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  p->engine = engine;
  p->options = *options;
  p->outbox = outbox;
  p->staff = staff;
  p->thread_count = options->threads > 0 ? options->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (p->thread_count < 1)
    p->thread_count = 1;
  if (p->thread_count > MAX_THREADS)
    p->thread_count = MAX_THREADS;
  pthread_mutex_init(&p->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&p->changed, &attr);
  pthread_condattr_destroy(&attr);
  *out = p;
  return FF_OK;
}

int pipeline_start(struct pipeline *p, struct ff_error *err) {
  for (int i = 0; i < p->thread_count; i++) {
    struct scratch *s = scratch_new(p, err);
    if (!s)
      return err ? err->status : FF_ENOMEM;
    if (pthread_create(&p->threads[i], NULL, inference_main, s)) {
      scratch_free(s);
      return ff_fail(err, FF_EINTERNAL, "cannot start an inference thread");
    }
    char name[16];
    snprintf(name, sizeof name, "infer-%d", i % 100); /* thread names: 15 chars at most */
    pthread_setname_np(p->threads[i], name);
    p->scratch[i] = s;
    p->started++;
  }
  return FF_OK;
}

int pipeline_set_processing(struct pipeline *p, int camera_id, int on) {
  int rc = FF_ENOTFOUND;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < p->camera_count; i++)
    if (p->cameras[i]->options.camera_id == camera_id && !p->cameras[i]->removed) {
      p->cameras[i]->paused = !on;
      if (on)
        p->cameras[i]->next_due_ms = monotonic_ms();
      rc = FF_OK;
    }
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
  return rc;
}

int pipeline_processing(struct pipeline *p, int camera_id) {
  int on = -1;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < p->camera_count; i++)
    if (p->cameras[i]->options.camera_id == camera_id && !p->cameras[i]->removed)
      on = !p->cameras[i]->paused;
  pthread_mutex_unlock(&p->lock);
  return on;
}

int pipeline_thread_count(struct pipeline *p) {
  return p->thread_count;
}

static int find_camera(struct pipeline *p, int camera_id) {
  for (int i = 0; i < p->camera_count; i++)
    if (p->cameras[i]->options.camera_id == camera_id && !p->cameras[i]->removed)
      return i;
  return -1;
}

int pipeline_add_camera(struct pipeline *p, const struct pipeline_camera_options *options,
                        struct camera_source *source, struct ff_error *err) {
  struct camera *c = calloc(1, sizeof *c);
  if (!c)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  c->options = *options;
  if (!(c->options.sample_fps > 0))
    c->options.sample_fps = 5;
  if (!(c->options.motion_threshold > 0))
    c->options.motion_threshold = 2.0;
  c->interval_ms = (int64_t)(1000.0 / c->options.sample_fps);
  if (c->interval_ms < 1)
    c->interval_ms = 1;
  c->next_due_ms = monotonic_ms();
  c->source = source;
  tracker_init(&c->tracker, &p->options.tracker);
  pthread_mutex_lock(&p->lock);
  int rc = FF_OK;
  if (find_camera(p, options->camera_id) >= 0)
    rc = ff_fail(err, FF_ECONFLICT, "camera %d is already running", options->camera_id);
  else if (p->camera_count >= MAX_CAMERAS)
    rc = ff_fail(err, FF_ETOOBIG, "at most %d cameras per worker", MAX_CAMERAS);
  else {
    p->cameras[p->camera_count++] = c;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->lock);
  if (rc) {
    tracker_free(&c->tracker);
    free(c);
  }
  return rc;
}

/* Ends the camera's tracks (events pushed) and frees it; not in the table. */
static void camera_finish(struct pipeline *p, struct camera *c) {
  camera_source_stop(c->source);
  struct ff_error err = {0};
  struct scratch *s = c->tracker.count > 0 ? scratch_new(p, &err) : NULL;
  if (s) {
    collect(p, s, c, monotonic_ms(), 1);
    scratch_free(s);
  } else if (c->tracker.count > 0) {
    log_msg(LOG_WARN, "pipeline.flush", "camera=%d tracks lost: %s", c->options.camera_id,
            err.message);
  }
  tracker_free(&c->tracker);
  free(c);
}

int pipeline_remove_camera(struct pipeline *p, int camera_id) {
  pthread_mutex_lock(&p->lock);
  int i = find_camera(p, camera_id);
  if (i < 0) {
    pthread_mutex_unlock(&p->lock);
    return FF_ENOTFOUND;
  }
  struct camera *c = p->cameras[i];
  c->removed = 1;
  while (c->busy || c->viewers)
    pthread_cond_wait(&p->changed, &p->lock);
  for (int k = i; k < p->camera_count - 1; k++)
    p->cameras[k] = p->cameras[k + 1];
  p->camera_count--;
  p->round_robin = 0;
  pthread_mutex_unlock(&p->lock);
  camera_finish(p, c);
  return FF_OK;
}

void pipeline_free(struct pipeline *p) {
  if (!p)
    return;
  atomic_store(&p->stopping, 1);
  pthread_mutex_lock(&p->lock);
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->started; i++) {
    pthread_join(p->threads[i], NULL);
    scratch_free(p->scratch[i]);
  }
  for (int i = 0; i < p->camera_count; i++)
    camera_finish(p, p->cameras[i]);
  pthread_cond_destroy(&p->changed);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

int pipeline_camera_ids(struct pipeline *p, int *ids, int capacity) {
  pthread_mutex_lock(&p->lock);
  int n = 0;
  for (int i = 0; i < p->camera_count && n < capacity; i++)
    if (!p->cameras[i]->removed)
      ids[n++] = p->cameras[i]->options.camera_id;
  pthread_mutex_unlock(&p->lock);
  return n;
}

int pipeline_camera_get(struct pipeline *p, int camera_id, struct pipeline_camera_stats *stats,
                        struct camera_source_stats *source_stats,
                        struct pipeline_camera_options *options) {
  pthread_mutex_lock(&p->lock);
  int i = find_camera(p, camera_id);
  if (i >= 0) {
    if (stats)
      *stats = p->cameras[i]->stats;
    if (options)
      *options = p->cameras[i]->options;
    if (source_stats)
      camera_source_get_stats(p->cameras[i]->source, source_stats);
  }
  pthread_mutex_unlock(&p->lock);
  return i >= 0 ? FF_OK : FF_ENOTFOUND;
}

int pipeline_overlay(struct pipeline *p, int camera_id, struct overlay_box *boxes, int capacity,
                     int *count) {
  pthread_mutex_lock(&p->lock);
  int i = find_camera(p, camera_id);
  *count = 0;
  if (i >= 0) {
    struct camera *c = p->cameras[i];
    /* Boxes older than a second describe a scene that has moved on. */
    if (wall_ms() - c->stats.last_processed_wall_ms < 1000)
      for (int k = 0; k < c->overlay_count && k < capacity; k++)
        boxes[(*count)++] = c->overlay[k];
  }
  pthread_mutex_unlock(&p->lock);
  return i >= 0 ? FF_OK : FF_ENOTFOUND;
}

int pipeline_snapshot(struct pipeline *p, int camera_id, int timeout_ms, struct rgb_image *out,
                      struct ff_error *err) {
  /* The source stays alive while we count as a viewer. */
  pthread_mutex_lock(&p->lock);
  int i = find_camera(p, camera_id);
  if (i < 0) {
    pthread_mutex_unlock(&p->lock);
    return ff_fail(err, FF_ENOTFOUND, "no camera %d", camera_id);
  }
  struct camera_source *source = p->cameras[i]->source;
  struct camera *c = p->cameras[i];
  c->viewers++;
  pthread_mutex_unlock(&p->lock);
  AVFrame *f = av_frame_alloc();
  uint64_t seq;
  int64_t wall;
  struct frame_converter conv = {0};
  int rc = f ? camera_source_take(source, 0, timeout_ms, f, &seq, &wall) : FF_ENOMEM;
  if (rc == FF_ETIMEOUT)
    rc = ff_fail(err, FF_ETIMEOUT, "camera %d has no frame yet", camera_id);
  else if (rc == FF_OK)
    rc = frame_to_rgb(&conv, f, out, err);
  frame_converter_free(&conv);
  av_frame_free(&f);
  pthread_mutex_lock(&p->lock);
  c->viewers--;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
  return rc;
}

void pipeline_on_result(void *arg, const struct upload_result *r) {
  struct pipeline *p = arg;
  if (!r->customer_id)
    return;
  pthread_mutex_lock(&p->lock);
  for (int i = 0; i < PENDING_MAX; i++) {
    struct pending *pe = &p->pending[i];
    if (strcmp(pe->id, r->id))
      continue;
    /* The tracker belongs to the inference thread; the answer is kept
     * beside it and applied to the overlay of the next frames. */
    int k = find_camera(p, pe->camera_id);
    if (k >= 0 && pe->track_id) {
      struct camera *c = p->cameras[k];
      int slot = c->answered_next++ % 16;
      c->answered[slot].track_id = pe->track_id;
      c->answered[slot].customer_id = r->customer_id;
    }
    pe->id[0] = 0;
    break;
  }
  pthread_mutex_unlock(&p->lock);
}

static int compare_int32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

void pipeline_event_latency(struct pipeline *p, struct pipeline_latency *out) {
  int32_t sorted[LATENCY_RING];
  pthread_mutex_lock(&p->lock);
  int n = p->latency_count < LATENCY_RING ? (int)p->latency_count : LATENCY_RING;
  memcpy(sorted, p->latency, (size_t)n * sizeof sorted[0]);
  out->count = p->latency_count;
  pthread_mutex_unlock(&p->lock);
  qsort(sorted, (size_t)n, sizeof sorted[0], compare_int32);
  out->window = n;
  out->p50_ms = n ? sorted[n / 2] : 0;
  out->p95_ms = n ? sorted[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1] : 0;
  out->max_ms = n ? sorted[n - 1] : 0;
}
