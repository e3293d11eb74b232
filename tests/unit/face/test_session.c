/* Engine and session promises: clean load errors, no allocation after
 * warm-up, several threads on one engine giving identical results. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static struct face_engine *engine;
static struct face_image img;

static void setup(void) {
  struct ff_error err = {0};
  cr_assert_eq(face_engine_load(face_default_models_dir(), &engine, &err), FF_OK, "%s",
               err.message);
  char path[512];
  snprintf(path, sizeof path, "%s/sample3.jpg", getenv("FOOTFALL_SAMPLES_DIR"));
  cr_assert_eq(face_image_load(path, NULL, &img, &err), FF_OK, "%s", err.message);
}

static void teardown(void) {
  face_image_free(&img);
  face_engine_free(engine);
}

Test(session, missing_models_give_a_clear_error) {
  struct face_engine *e = NULL;
  struct ff_error err = {0};
  cr_expect_eq(face_engine_load("/nonexistent-models", &e, &err), FF_ENOTFOUND);
  cr_expect_null(e);
  cr_expect(strstr(err.message, "ssd_mobilenetv1_model") != NULL, "%s", err.message);
}

Test(session, no_allocation_after_warm_up, .init = setup, .fini = teardown) {
  struct face_session *s;
  cr_assert_eq(face_session_new(engine, &s, NULL), FF_OK);
  static struct face_result r[10];
  int n;
  struct face_detect_options tiny;
  face_detect_options_default(&tiny);
  tiny.detector = FACE_DETECTOR_TINY;
  for (int round = 0; round < 3; round++) {
    int before =
        s->arena.chunk_allocations + s->ping.chunk_allocations + s->pong.chunk_allocations;
    cr_assert_eq(face_analyze(s, &img, NULL, r, 10, &n, NULL), FF_OK);
    cr_assert_eq(face_analyze(s, &img, &tiny, r, 10, &n, NULL), FF_OK);
    if (round == 2)
      cr_expect_eq(s->arena.chunk_allocations + s->ping.chunk_allocations +
                       s->pong.chunk_allocations,
                   before, "scratch grew after warm-up");
  }
  face_session_free(s);
}

struct worker {
  struct face_result r[10];
  int n, rc;
};

static void *run(void *arg) {
  struct worker *w = arg;
  struct face_session *s;
  w->rc = face_session_new(engine, &s, NULL);
  if (w->rc == FF_OK) {
    for (int i = 0; i < 2 && w->rc == FF_OK; i++)
      w->rc = face_analyze(s, &img, NULL, w->r, 10, &w->n, NULL);
    face_session_free(s);
  }
  return NULL;
}

Test(session, threads_share_one_engine, .init = setup, .fini = teardown, .timeout = 120) {
  static struct worker w[3];
  pthread_t t[3];
  for (int i = 0; i < 3; i++)
    pthread_create(&t[i], NULL, run, &w[i]);
  for (int i = 0; i < 3; i++)
    pthread_join(t[i], NULL);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(w[i].rc, FF_OK);
    cr_assert_eq(w[i].n, 3);
  }
  for (int f = 0; f < 3; f++) {
    cr_expect_eq(face_distance(w[0].r[f].descriptor, w[1].r[f].descriptor), 0.0);
    cr_expect_eq(face_distance(w[0].r[f].descriptor, w[2].r[f].descriptor), 0.0);
  }
}

Test(session, quality_drops_on_a_blurred_copy, .init = setup, .fini = teardown) {
  struct face_session *s;
  cr_assert_eq(face_session_new(engine, &s, NULL), FF_OK);
  static struct face_result r[10];
  int n;
  cr_assert_eq(face_analyze(s, &img, NULL, r, 10, &n, NULL), FF_OK);
  cr_assert_gt(n, 0);
  /* 9x9 box blur of the whole picture */
  uint8_t *blur = malloc((size_t)img.width * img.height * 3);
  for (int y = 0; y < img.height; y++)
    for (int x = 0; x < img.width; x++)
      for (int c = 0; c < 3; c++) {
        int sum = 0, cnt = 0;
        for (int dy = -4; dy <= 4; dy++)
          for (int dx = -4; dx <= 4; dx++) {
            int yy = y + dy, xx = x + dx;
            if (yy >= 0 && yy < img.height && xx >= 0 && xx < img.width) {
              sum += img.rgb[(size_t)yy * img.stride + xx * 3 + c];
              cnt++;
            }
          }
        blur[((size_t)y * img.width + x) * 3 + c] = (uint8_t)(sum / cnt);
      }
  struct face_image b;
  face_image_wrap(blur, img.width, img.height, (size_t)img.width * 3, &b, NULL);
  struct face_quality q;
  face_quality(&b, &r[0].detection, r[0].landmarks, &q);
  cr_expect_lt(q.sharpness, r[0].quality.sharpness / 2, "sharpness %g vs %g", q.sharpness,
               r[0].quality.sharpness);
  cr_expect_lt(q.score, r[0].quality.score);
  /* a frontal face's pose beats a turned one: mirror the landmarks' nose */
  struct face_point turned[68];
  memcpy(turned, r[0].landmarks, sizeof turned);
  turned[30].x = turned[0].x + 0.05 * (turned[16].x - turned[0].x);
  face_quality(&img, &r[0].detection, turned, &q);
  cr_expect_gt(fabs(q.yaw_degrees), 40);
  cr_expect_lt(q.pose_score, r[0].quality.pose_score);
  free(blur);
  face_session_free(s);
}

/* Scratch planned by liveness: after warm-up an SSD session keeps about two
 * 8 MB activations (the 512x512 input's largest layers) and strips, a Tiny
 * one less; the per-face nets add nothing. Before planning: 38 MB and 18 MB. */
Test(session, scratch_is_the_live_tensors_not_the_sum, .init = setup, .fini = teardown) {
  static struct face_result r[10];
  int n;
  struct face_session *s;
  cr_assert_eq(face_session_new(engine, &s, NULL), FF_OK);
  cr_assert_eq(face_analyze(s, &img, NULL, r, 10, &n, NULL), FF_OK);
  cr_assert_gt(n, 0);
  size_t ssd = face_session_scratch_bytes(s);
  cr_expect_lt(ssd, (size_t)20 << 20, "SSD session scratch %zu bytes", ssd);
  face_session_free(s);
  struct face_detect_options tiny;
  face_detect_options_default(&tiny);
  tiny.detector = FACE_DETECTOR_TINY;
  cr_assert_eq(face_session_new(engine, &s, NULL), FF_OK);
  cr_assert_eq(face_analyze(s, &img, &tiny, r, 10, &n, NULL), FF_OK);
  size_t t = face_session_scratch_bytes(s);
  cr_expect_lt(t, (size_t)10 << 20, "Tiny session scratch %zu bytes", t);
  face_session_free(s);
}

/* An engine with some nets only: those run, the others fail clearly. */
Test(session, engine_with_some_nets) {
  struct face_engine *e = NULL;
  struct ff_error err = {0};
  cr_assert_eq(face_engine_load_nets(face_default_models_dir(),
                                     FACE_NET_TINY | FACE_NET_LANDMARKS | FACE_NET_RECOGNITION, &e,
                                     &err),
               FF_OK, "%s", err.message);
  char path[512];
  snprintf(path, sizeof path, "%s/sample3.jpg", getenv("FOOTFALL_SAMPLES_DIR"));
  struct face_image image;
  cr_assert_eq(face_image_load(path, NULL, &image, &err), FF_OK, "%s", err.message);
  struct face_session *s;
  cr_assert_eq(face_session_new(e, &s, NULL), FF_OK);
  struct face_detection d[10];
  int n = 0;
  struct face_detect_options o;
  face_detect_options_default(&o);
  cr_expect_eq(face_detect(s, &image, &o, d, 10, &n, &err), FF_EUNSUPPORTED);
  cr_expect(strstr(err.message, "ssd_mobilenetv1") != NULL, "%s", err.message);
  o.detector = FACE_DETECTOR_TINY;
  cr_assert_eq(face_detect(s, &image, &o, d, 10, &n, &err), FF_OK, "%s", err.message);
  cr_assert_gt(n, 0);
  struct face_result r;
  cr_expect_eq(face_analyze_detection(s, &image, &d[0], &r, &err), FF_EUNSUPPORTED,
               "no age/gender net");
  cr_expect(strstr(err.message, "age_gender") != NULL, "%s", err.message);
  face_session_free(s);
  face_image_free(&image);
  face_engine_free(e);
}
