/* The tracker on synthetic boxes: association by overlap, one emit per
 * pass, noise suppressed, refresh for long stays, ambiguity decided by
 * descriptors. */
#include <criterion/criterion.h>
#include <string.h>

#include "tracker.h"

static struct rgb_image frame;

static void setup(void) {
  frame.width = 640;
  frame.height = 360;
  frame.stride = 640 * 3;
  frame.rgb = calloc(frame.stride * 360, 1);
  frame.capacity = frame.stride * 360;
}
static void teardown(void) {
  rgb_image_free(&frame);
}
TestSuite(tracker, .init = setup, .fini = teardown);

static struct face_detection det(double x, double y, double size) {
  struct face_detection d = {{x, y, size, size}, 0.9};
  return d;
}

static void step(struct tracker *t, struct face_detection *d, int n, int64_t now, double quality,
                 int *track_of) {
  tracker_match(t, d, n, now, NULL, track_of);
  for (int i = 0; i < n; i++)
    cr_assert_eq(tracker_offer(t, track_of[i], &frame, &d[i], quality, now, NULL), FF_OK);
}

Test(tracker, one_emit_per_pass_with_the_best_shot) {
  struct tracker_options o;
  tracker_options_default(&o);
  o.miss_ms = 500;
  struct tracker t;
  tracker_init(&t, &o);
  struct tracker_emit out[8];
  int track_of[4];
  /* A face walks right for 2 s at 5 fps; quality peaks in the middle. */
  for (int i = 0; i < 10; i++) {
    struct face_detection d = det(100 + i * 8, 100, 80);
    step(&t, &d, 1, i * 200, i == 5 ? 0.9 : 0.3, track_of);
    cr_assert_eq(track_of[0], 0);
    cr_assert_eq(tracker_collect(&t, i * 200, 0, out, 8), 0);
  }
  cr_assert_eq(t.count, 1);
  cr_assert_eq(tracker_collect(&t, 1800 + 400, 0, out, 8), 0, "ended too early");
  int n = tracker_collect(&t, 1800 + 600, 0, out, 8);
  cr_assert_eq(n, 1);
  cr_assert(out[0].ended);
  cr_assert_eq(out[0].hits, 10);
  cr_assert_float_eq(out[0].shot.quality, 0.9, 1e-9);
  cr_assert_float_eq(out[0].shot.frame_box.x, 140, 1e-9);
  /* The crop is the box grown by a box left and up, half a box right and
   * down: 200x200 at (60,20). */
  cr_assert_eq(out[0].shot.crop.width, 200);
  cr_assert_eq(out[0].shot.crop.height, 200);
  cr_assert_eq(out[0].shot.crop_x, 60);
  cr_assert_eq(out[0].shot.crop_y, 20);
  cr_assert_float_eq(out[0].shot.detection.box.x, 80, 1e-9);
  best_shot_free(&out[0].shot);
  cr_assert_eq(t.count, 0);
  /* The person comes back: a new track, a second emit. */
  for (int i = 0; i < 3; i++) {
    struct face_detection d = det(300, 100, 80);
    step(&t, &d, 1, 5000 + i * 200, 0.5, track_of);
  }
  n = tracker_collect(&t, 9000, 0, out, 8);
  cr_assert_eq(n, 1);
  cr_assert_eq(out[0].track_id, 2);
  best_shot_free(&out[0].shot);
  tracker_free(&t);
}

Test(tracker, single_detection_is_noise_and_two_people_are_two_tracks) {
  struct tracker_options o;
  tracker_options_default(&o);
  struct tracker t;
  tracker_init(&t, &o);
  int track_of[4];
  struct face_detection once = det(10, 10, 50);
  step(&t, &once, 1, 0, 0.5, track_of);
  struct tracker_emit out[8];
  cr_assert_eq(tracker_collect(&t, 5000, 0, out, 8), 0, "one hit must not emit");
  cr_assert_eq(t.count, 0);
  for (int i = 0; i < 5; i++) {
    struct face_detection two[2] = {det(100 + i * 5, 100, 80), det(400 - i * 5, 100, 80)};
    step(&t, two, 2, 6000 + i * 200, 0.5, track_of);
    cr_assert_neq(track_of[0], track_of[1]);
  }
  cr_assert_eq(t.count, 2);
  int n = tracker_collect(&t, 0, 1, out, 8); /* flush */
  cr_assert_eq(n, 2);
  for (int i = 0; i < n; i++)
    best_shot_free(&out[i].shot);
  tracker_free(&t);
}

Test(tracker, refresh_event_for_a_long_stay) {
  struct tracker_options o;
  tracker_options_default(&o);
  o.refresh_ms = 1000;
  struct tracker t;
  tracker_init(&t, &o);
  int track_of[2], emitted = 0;
  struct tracker_emit out[4];
  for (int i = 0; i <= 27; i++) { /* 5.4 s in place */
    struct face_detection d = det(200, 100, 80);
    step(&t, &d, 1, i * 200, 0.5, track_of);
    int n = tracker_collect(&t, i * 200, 0, out, 4);
    for (int k = 0; k < n; k++) {
      cr_assert_not(out[k].ended);
      best_shot_free(&out[k].shot);
    }
    emitted += n;
  }
  cr_assert_eq(emitted, 5, "one refresh per second of stay, got %d", emitted);
  /* The end carries the shots seen since the last refresh. */
  int n = tracker_collect(&t, 5400 + 2000, 0, out, 4);
  cr_assert_eq(n, 1);
  cr_assert(out[0].ended);
  cr_assert_eq(out[0].shot.wall_ms, 5000 + 200);
  best_shot_free(&out[0].shot);
  tracker_free(&t);
}

/* Descriptors by position in a fake identity space: track/detection "A"
 * near e0, "B" near e1. */
struct fake {
  int det_identity[4];
};
static int fake_det(void *ctx, int i, float out[FACE_DESCRIPTOR_SIZE]) {
  struct fake *f = ctx;
  memset(out, 0, sizeof(float) * FACE_DESCRIPTOR_SIZE);
  out[f->det_identity[i]] = 1;
  return 0;
}
static int fake_track(void *ctx, struct track *t, float out[FACE_DESCRIPTOR_SIZE]) {
  memset(out, 0, sizeof(float) * FACE_DESCRIPTOR_SIZE);
  out[t->id == 1 ? 0 : 1] = 1; /* track 1 is A, track 2 is B */
  return 0;
}

Test(tracker, ambiguous_overlap_is_decided_by_descriptor) {
  struct tracker_options o;
  tracker_options_default(&o);
  struct tracker t;
  tracker_init(&t, &o);
  int track_of[2];
  /* A on the left, B on the right, for a few frames. */
  for (int i = 0; i < 3; i++) {
    struct face_detection two[2] = {det(100, 100, 100), det(160, 100, 100)};
    step(&t, two, 2, i * 200, 0.5, track_of);
  }
  cr_assert_eq(t.tracks[track_of[0]].id, 1);
  /* They cross: both detections now overlap both tracks about equally, and
   * the left box is B. IoU alone would keep the sides; descriptors swap. */
  struct face_detection crossed[2] = {det(128, 100, 100), det(132, 100, 100)};
  struct fake f = {{1, 0}};
  struct tracker_describer describer = {fake_det, fake_track, &f};
  tracker_match(&t, crossed, 2, 600, &describer, track_of);
  cr_assert_eq(t.tracks[track_of[0]].id, 2, "left box should continue B");
  cr_assert_eq(t.tracks[track_of[1]].id, 1, "right box should continue A");
  cr_assert_eq(t.ambiguous_resolved, 2);
  tracker_free(&t);
}

/* Identities by hand: detection i is person identity_of_x[i] (0 = A,
 * 1 = B); track 1 is A, others B. */
static int identity_of_x[2];
static int by_identity(void *ctx, int i, float out[FACE_DESCRIPTOR_SIZE]) {
  (void)ctx;
  memset(out, 0, sizeof(float) * FACE_DESCRIPTOR_SIZE);
  out[identity_of_x[i]] = 1;
  return 0;
}
static int track_identity(void *ctx, struct track *t, float out[FACE_DESCRIPTOR_SIZE]) {
  (void)ctx;
  memset(out, 0, sizeof(float) * FACE_DESCRIPTOR_SIZE);
  out[t->id == 1 ? 0 : 1] = 1;
  return 0;
}

Test(tracker, reidentification_after_occlusion) {
  struct tracker_options o;
  tracker_options_default(&o);
  o.miss_ms = 500;
  o.reid_ms = 2000;
  struct tracker t;
  tracker_init(&t, &o);
  struct tracker_describer describer = {by_identity, track_identity, NULL};
  int track_of[2];
  struct tracker_emit out[4];
  /* A walks on the left for a second. */
  for (int i = 0; i < 5; i++) {
    struct face_detection d = det(100 + i * 10, 100, 80);
    identity_of_x[0] = 0;
    tracker_match(&t, &d, 1, i * 200, &describer, track_of);
    tracker_offer(&t, track_of[0], &frame, &d, 0.5, i * 200, NULL);
  }
  /* Hidden for 1.2 s (past miss_ms), then seen far away: no overlap, but
   * the same descriptor continues the pass. */
  cr_assert_eq(tracker_collect(&t, 2000, 0, out, 4), 0, "ended during the re-id window");
  struct face_detection far = det(450, 100, 80);
  identity_of_x[0] = 0;
  tracker_match(&t, &far, 1, 2000, &describer, track_of);
  cr_assert_eq(t.tracks[track_of[0]].id, 1, "not re-identified");
  cr_assert_eq(t.reidentified, 1);
  /* Someone else (B) appearing there instead starts a new track. */
  struct face_detection other = det(100, 250, 80);
  identity_of_x[0] = 1;
  tracker_match(&t, &other, 1, 2200, &describer, track_of);
  cr_assert_eq(t.tracks[track_of[0]].id, 2);
  cr_assert_eq(t.reidentified, 1);
  int n = tracker_collect(&t, 0, 1, out, 4);
  for (int i = 0; i < n; i++)
    best_shot_free(&out[i].shot);
  tracker_free(&t);
}
