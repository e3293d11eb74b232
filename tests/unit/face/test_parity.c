/* Parity with face-api 1.7.15 on tfjs-wasm: tests/golden/face/sample*.json were
 * produced by tools/face-reference from the exact pixels our decoder writes
 * (`footfall face decode`), so tolerances can be tight. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "face.h"

#define BOX_IOU_MIN 0.99
#define LANDMARK_MAX_PX 0.5
#define DESCRIPTOR_MAX_DISTANCE 1e-3
#define AGE_MAX_YEARS 0.1
#define GENDER_PROBABILITY_MAX 1e-3

static struct face_engine *engine;
static struct face_session *session;

static void setup(void) {
  struct ff_error err = {0};
  cr_assert_eq(face_engine_load(face_default_models_dir(), &engine, &err), FF_OK, "%s",
               err.message);
  cr_assert_eq(face_session_new(engine, &session, &err), FF_OK);
}

static void teardown(void) {
  face_session_free(session);
  face_engine_free(engine);
}

static double iou(const struct face_box *a, const struct face_box *b) {
  double w = fmin(a->x + a->width, b->x + b->width) - fmax(a->x, b->x);
  double h = fmin(a->y + a->height, b->y + b->height) - fmax(a->y, b->y);
  double inter = w > 0 && h > 0 ? w * h : 0;
  return inter / (a->width * a->height + b->width * b->height - inter);
}

static double num(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  cr_assert(json_is_number(v), "golden field %s missing", k);
  return json_number_value(v);
}

static double worst_landmark(json_t *arr, const struct face_point *p) {
  cr_assert_eq(json_array_size(arr), 68u);
  double worst = 0;
  for (int i = 0; i < 68; i++) {
    json_t *pt = json_array_get(arr, (size_t)i);
    double dx = json_number_value(json_array_get(pt, 0)) - p[i].x;
    double dy = json_number_value(json_array_get(pt, 1)) - p[i].y;
    worst = fmax(worst, hypot(dx, dy));
  }
  return worst;
}

static void expect_rect(json_t *g, const struct face_rect *r, const char *what, const char *ctx) {
  cr_expect(num(g, "x") == r->x && num(g, "y") == r->y && num(g, "width") == r->width &&
                num(g, "height") == r->height,
            "%s: %s rect %d,%d %dx%d differs from face-api's %g,%g %gx%g", ctx, what, r->x, r->y,
            r->width, r->height, num(g, "x"), num(g, "y"), num(g, "width"), num(g, "height"));
}

/* Runs one detector on the six samples and compares every face. */
static void check_detector(const char *key, enum face_detector detector) {
  const char *golden_dir = getenv("FOOTFALL_GOLDEN_DIR");
  const char *samples = getenv("FOOTFALL_SAMPLES_DIR");
  cr_assert(golden_dir && samples, "FOOTFALL_GOLDEN_DIR / FOOTFALL_SAMPLES_DIR not set");
  int faces_checked = 0;
  double worst_iou = 1, worst_lm = 0, worst_lm_tiny = 0, worst_desc = 0, worst_age = 0,
         worst_gp = 0;
  for (int k = 1; k <= 6; k++) {
    char path[512], ctx[64];
    snprintf(path, sizeof path, "%s/sample%d.json", golden_dir, k);
    json_error_t jerr;
    json_t *golden = json_load_file(path, 0, &jerr);
    cr_assert_not_null(golden, "%s: %s", path, jerr.text);
    json_t *gfaces = json_object_get(json_object_get(golden, key), "faces");
    cr_assert(json_is_array(gfaces));
    snprintf(path, sizeof path, "%s/sample%d.jpg", samples, k);
    struct face_image img;
    struct ff_error err = {0};
    cr_assert_eq(face_image_load(path, NULL, &img, &err), FF_OK, "%s", err.message);
    cr_expect_eq(img.width, (int)num(golden, "width"));
    cr_expect_eq(img.height, (int)num(golden, "height"));
    struct face_detect_options opt;
    face_detect_options_default(&opt);
    opt.detector = detector;
    struct face_detection dets[100];
    int n = 0;
    cr_assert_eq(face_detect(session, &img, &opt, dets, 100, &n, &err), FF_OK, "%s", err.message);
    cr_assert_eq((size_t)n, json_array_size(gfaces), "sample%d %s: %d faces, face-api %zu", k, key,
                 n, json_array_size(gfaces));
    for (int i = 0; i < n; i++) {
      snprintf(ctx, sizeof ctx, "sample%d %s face %d", k, key, i);
      json_t *g = json_array_get(gfaces, (size_t)i);
      json_t *gb = json_object_get(g, "box");
      struct face_box ref = {num(gb, "x"), num(gb, "y"), num(gb, "width"), num(gb, "height")};
      double o = iou(&ref, &dets[i].box);
      worst_iou = fmin(worst_iou, o);
      cr_expect_geq(o, BOX_IOU_MIN, "%s: box IoU %g", ctx, o);
      cr_expect_lt(fabs(num(g, "score") - dets[i].score), 1e-3, "%s: score", ctx);

      struct face_point lm[68], lm_tiny[68];
      cr_assert_eq(face_landmarks(session, &img, &dets[i].box, FACE_LANDMARKS_FULL, lm, &err),
                   FF_OK);
      cr_assert_eq(face_landmarks(session, &img, &dets[i].box, FACE_LANDMARKS_TINY, lm_tiny, &err),
                   FF_OK);
      double d = worst_landmark(json_object_get(g, "landmarks"), lm);
      worst_lm = fmax(worst_lm, d);
      cr_expect_leq(d, LANDMARK_MAX_PX, "%s: landmarks off by %g px", ctx, d);
      d = worst_landmark(json_object_get(g, "landmarks_tiny"), lm_tiny);
      worst_lm_tiny = fmax(worst_lm_tiny, d);
      cr_expect_leq(d, LANDMARK_MAX_PX, "%s: tiny landmarks off by %g px", ctx, d);

      struct face_rect drect, arect;
      cr_assert_eq(face_descriptor_rect(&img, &dets[i].box, lm, &drect), FF_OK);
      cr_assert_eq(face_age_gender_rect(&img, lm, &arect), FF_OK);
      expect_rect(json_object_get(g, "descriptor_rect"), &drect, "descriptor", ctx);
      expect_rect(json_object_get(g, "age_gender_rect"), &arect, "age/gender", ctx);

      float desc[128], ref_desc[128], age, p_male;
      cr_assert_eq(face_describe(session, &img, &drect, desc, &err), FF_OK);
      json_t *gd = json_object_get(g, "descriptor");
      cr_assert_eq(json_array_size(gd), 128u);
      for (int j = 0; j < 128; j++)
        ref_desc[j] = (float)json_number_value(json_array_get(gd, (size_t)j));
      d = face_distance(desc, ref_desc);
      worst_desc = fmax(worst_desc, d);
      cr_expect_leq(d, DESCRIPTOR_MAX_DISTANCE, "%s: descriptor distance %g", ctx, d);

      cr_assert_eq(face_age_gender(session, &img, &arect, &age, &p_male, &err), FF_OK);
      d = fabs(age - num(g, "age"));
      worst_age = fmax(worst_age, d);
      cr_expect_leq(d, AGE_MAX_YEARS, "%s: age %g vs %g", ctx, age, num(g, "age"));
      const char *gender = json_string_value(json_object_get(g, "gender"));
      int male = p_male > 0.5f;
      cr_expect_str_eq(male ? "male" : "female", gender, "%s: gender", ctx);
      d = fabs((male ? p_male : 1 - p_male) - num(g, "gender_probability"));
      worst_gp = fmax(worst_gp, d);
      cr_expect_leq(d, GENDER_PROBABILITY_MAX, "%s: gender probability", ctx);
      faces_checked++;
    }
    face_image_free(&img);
    json_decref(golden);
  }
  cr_log_info("%s: %d faces; worst IoU %.6f, landmarks %.2e px (tiny %.2e), descriptor %.2e, "
              "age %.2e y, gender p %.2e",
              key, faces_checked, worst_iou, worst_lm, worst_lm_tiny, worst_desc, worst_age,
              worst_gp);
  printf("parity %s: %d faces; worst IoU %.6f, landmarks %.2e px (tiny %.2e), descriptor "
         "distance %.2e, age %.2e years, gender probability %.2e\n",
         key, faces_checked, worst_iou, worst_lm, worst_lm_tiny, worst_desc, worst_age, worst_gp);
  cr_expect_gt(faces_checked, 0);
}

Test(parity, ssd_pipeline_matches_face_api, .init = setup, .fini = teardown, .timeout = 300) {
  check_detector("ssd", FACE_DETECTOR_SSD);
}

Test(parity, tiny_pipeline_matches_face_api, .init = setup, .fini = teardown, .timeout = 300) {
  check_detector("tiny", FACE_DETECTOR_TINY);
}

Test(parity, analyze_chain_equals_separate_calls, .init = setup, .fini = teardown) {
  char path[512];
  snprintf(path, sizeof path, "%s/sample1.jpg", getenv("FOOTFALL_SAMPLES_DIR"));
  struct face_image img;
  struct ff_error err = {0};
  cr_assert_eq(face_image_load(path, NULL, &img, &err), FF_OK);
  static struct face_result r[10];
  int n;
  cr_assert_eq(face_analyze(session, &img, NULL, r, 10, &n, &err), FF_OK);
  cr_assert_eq(n, 3);
  for (int i = 0; i < n; i++) {
    float d[128];
    cr_assert_eq(face_describe(session, &img, &r[i].descriptor_rect, d, &err), FF_OK);
    cr_expect_eq(face_distance(d, r[i].descriptor), 0.0);
    cr_expect(r[i].quality.score > 0 && r[i].quality.score <= 1);
    cr_expect(r[i].quality.face_size > 100);
    struct face_result one;
    cr_assert_eq(face_analyze_detection(session, &img, &r[i].detection, &one, &err), FF_OK);
    cr_expect_eq(face_distance(one.descriptor, r[i].descriptor), 0.0);
    cr_expect_eq(one.age, r[i].age);
  }
  struct face_detection outside = {{5000, 5000, 100, 100}, 0.9};
  struct face_result none;
  cr_expect_eq(face_analyze_detection(session, &img, &outside, &none, &err), FF_EINVAL);
  face_image_free(&img);
}
