/* calibrate.h — same/different distance statistics and thresholds from a
 * labelled set of descriptors (`footfall face calibrate`, identity tests). */
#ifndef FOOTFALL_FACE_CALIBRATE_H
#define FOOTFALL_FACE_CALIBRATE_H

#include "face.h"

struct distance_stats {
  int count;
  double min, p05, median, p95, max, mean;
};

struct calibration {
  struct distance_stats same, different;
  double eer_threshold;     /* where false-match and false-non-match rates cross */
  double eer;               /* the rate there */
  double threshold_fmr_1e2; /* largest threshold with false-match rate <= 1e-2 */
  double threshold_fmr_1e3; /* ... <= 1e-3 */
  double accuracy_at_eer;   /* fraction of all pairs decided right at eer_threshold */
  double best_threshold;    /* the threshold deciding the most pairs right (in-sample) */
  double best_accuracy;
};

/* descriptors[n][128] with person labels; needs at least one pair of each kind. */
int calibrate(const float (*descriptors)[FACE_DESCRIPTOR_SIZE], const int *person, int n,
              struct calibration *out, struct ff_error *err);
/* Fraction of pairs decided right with "same" = distance < threshold. */
double pair_accuracy(const float (*descriptors)[FACE_DESCRIPTOR_SIZE], const int *person, int n,
                     double threshold);

/* How a (possibly tight) face crop is turned into a descriptor. */
struct enrol_options {
  int border;             /* neutral gray border added before detection, pixels */
  int bare_crop_fallback; /* no face found: describe the whole picture as the crop */
  int bare_crop_only;     /* skip detection: the whole picture is the crop */
  struct face_detect_options detect;
};
struct enrol_result {
  int found; /* 1 detected, 2 bare-crop fallback, 0 nothing */
  float descriptor[FACE_DESCRIPTOR_SIZE];
  float age;
  int is_male;
  float gender_probability;
};
int enrol_picture(struct face_session *s, const struct face_image *img,
                  const struct enrol_options *o, struct enrol_result *out, struct ff_error *err);

#endif
