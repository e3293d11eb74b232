/* Identity on ../shared/data/faces-bbt (8 people x 5 tight 150x150 gray crops).
 * Skips when the folder is absent (a user's clone). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "calibrate.h"

static const char *const people[8] = {"amy",   "bernadette", "howard",  "leonard",
                                      "penny", "raj",        "sheldon", "stuart"};
static const int is_male_person[8] = {0, 0, 1, 1, 0, 1, 1, 1};

static struct face_engine *engine;
static struct face_session *session;

static const char *bbt_dir(void) {
  const char *d = getenv("FOOTFALL_FACES_BBT");
  struct stat st;
  if (!d || stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
    return NULL;
  return d;
}

static void setup(void) {
  if (!bbt_dir())
    return;
  struct ff_error err = {0};
  cr_assert_eq(face_engine_load(face_default_models_dir(), &engine, &err), FF_OK, "%s",
               err.message);
  cr_assert_eq(face_session_new(engine, &session, &err), FF_OK);
}

static void teardown(void) {
  face_session_free(session);
  face_engine_free(engine);
}

/* Enrols all 40 crops; returns how many got a descriptor. */
static int enrol_all(const struct enrol_options *o, float (*desc)[128], int *label, int *gender_ok,
                     int *detected) {
  int n = 0;
  *gender_ok = *detected = 0;
  for (int p = 0; p < 8; p++)
    for (int k = 1; k <= 5; k++) {
      char path[1024];
      snprintf(path, sizeof path, "%s/%s/%s%d.png", bbt_dir(), people[p], people[p], k);
      struct face_image img;
      struct ff_error err = {0};
      struct enrol_result r;
      cr_assert_eq(face_image_load(path, NULL, &img, &err), FF_OK, "%s: %s", path, err.message);
      cr_assert_eq(enrol_picture(session, &img, o, &r, &err), FF_OK, "%s", err.message);
      face_image_free(&img);
      if (!r.found)
        continue;
      *detected += r.found == 1;
      *gender_ok += r.is_male == is_male_person[p];
      memcpy(desc[n], r.descriptor, sizeof desc[n]);
      label[n++] = p;
    }
  return n;
}

static void report(const char *mode, int n, int detected, int gender_ok,
                   const struct calibration *c) {
  printf("faces-bbt %s: %d/40 described (%d detected), gender %d/%d; same median %.3f "
         "(max %.3f), different median %.3f (min %.3f); EER threshold %.3f, pair accuracy "
         "%.4f; best threshold %.3f, pair accuracy %.4f\n",
         mode, n, detected, gender_ok, n, c->same.median, c->same.max, c->different.median,
         c->different.min, c->eer_threshold, c->accuracy_at_eer, c->best_threshold,
         c->best_accuracy);
}

Test(identity, bare_crop_descriptors_separate_people, .init = setup, .fini = teardown,
     .timeout = 600) {
  if (!bbt_dir())
    cr_skip("faces-bbt not found (FOOTFALL_FACES_BBT): identity test skipped");
  /* the whole 150x150 crop is the descriptor's input, no detection */
  struct enrol_options o = {0};
  face_detect_options_default(&o.detect);
  o.bare_crop_only = 1;
  float desc[40][128];
  int label[40], gender_ok, detected;
  int n = enrol_all(&o, desc, label, &gender_ok, &detected);
  cr_assert_eq(n, 40);
  struct calibration c;
  cr_assert_eq(calibrate((const float(*)[128])desc, label, n, &c, NULL), FF_OK);
  report("bare crop", n, detected, gender_ok, &c);
  cr_expect_geq(c.accuracy_at_eer, 0.95, "pair accuracy %.4f", c.accuracy_at_eer);
  cr_expect_lt(c.same.median, c.different.median);
  cr_expect_geq(gender_ok, 36, "gender right on %d of 40", gender_ok);
}

Test(identity, border_then_detection, .init = setup, .fini = teardown, .timeout = 600) {
  if (!bbt_dir())
    cr_skip("faces-bbt not found (FOOTFALL_FACES_BBT): identity test skipped");
  struct enrol_options o = {0};
  face_detect_options_default(&o.detect);
  o.border = 75;
  float desc[40][128];
  int label[40], gender_ok, detected;
  int n = enrol_all(&o, desc, label, &gender_ok, &detected);
  /* the reference finds 36 of 40 this way */
  cr_expect_geq(detected, 34, "only %d of 40 detected with a 75 px border", detected);
  struct calibration c;
  cr_assert_eq(calibrate((const float(*)[128])desc, label, n, &c, NULL), FF_OK);
  report("75 px border", n, detected, gender_ok, &c);
  cr_expect_geq(c.accuracy_at_eer, 0.95, "pair accuracy %.4f", c.accuracy_at_eer);
  cr_expect_geq(gender_ok, (int)(0.9 * n), "gender right on %d of %d", gender_ok, n);
}

Test(identity, calibration_statistics_on_known_distances) {
  /* 1-d descriptors along one axis: same-person distances 0.1 and 0.1,
   * different-people distances 0.9, 1.0, 1.0, 1.1 */
  static float d[4][128];
  const float pos[4] = {0.0f, 0.1f, 1.0f, 1.1f};
  const int person[4] = {0, 0, 1, 1};
  for (int i = 0; i < 4; i++)
    d[i][0] = pos[i];
  struct calibration c;
  cr_assert_eq(calibrate((const float(*)[128])d, person, 4, &c, NULL), FF_OK);
  cr_expect_eq(c.same.count, 2);
  cr_expect_eq(c.different.count, 4);
  cr_expect_float_eq(c.same.max, 0.1, 1e-6);
  cr_expect_float_eq(c.different.min, 0.9, 1e-6);
  cr_expect_float_eq(c.eer_threshold, 0.9, 1e-6); /* first threshold with no errors */
  cr_expect_float_eq(c.eer, 0.0, 1e-12);
  cr_expect_float_eq(c.best_accuracy, 1.0, 1e-12);
  cr_expect_float_eq(c.best_threshold, 0.5, 1e-6);
  cr_expect_float_eq(c.threshold_fmr_1e2, 0.9, 1e-6);
  cr_expect_float_eq(pair_accuracy((const float(*)[128])d, person, 4, 0.95), 5.0 / 6, 1e-12);
  /* one person only: refused */
  const int one[4] = {0, 0, 0, 0};
  struct ff_error err = {0};
  cr_expect_eq(calibrate((const float(*)[128])d, one, 4, &c, &err), FF_EINVAL);
}
