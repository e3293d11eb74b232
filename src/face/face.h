/* face.h — the face engine: face-api 1.7.15's pretrained nets in C.
 *
 * Load once, share everywhere: a face_engine holds every model, read-only
 * after face_engine_load, and may be used by any number of threads at once.
 * Each thread creates its own face_session (scratch memory); a session is
 * not thread-safe, and after its first inference of each kind it allocates
 * nothing more. Detection and the per-face nets are separate calls, so the
 * worker can detect on every frame and describe only its best shot.
 *
 * Ownership: images belong to the caller (see image.h); results are written
 * into caller-provided structs. Errors: FF_OK or a negative FF_E* code, with
 * a message in *err when err is not NULL. Coordinates are image pixels,
 * floats, origin top-left.
 */
#ifndef FOOTFALL_FACE_H
#define FOOTFALL_FACE_H

#include <stddef.h>

#include "image.h"
#include "status.h"

#define FACE_DESCRIPTOR_SIZE 128
#define FACE_LANDMARK_COUNT 68
/* face-api's FaceMatcher default: distance < 0.6 means "same person". */
#define FACE_DEFAULT_MATCH_THRESHOLD 0.6

struct face_engine;
struct face_session;

/* Loads all six models from models_dir (face-api manifests + .bin shards). */
int face_engine_load(const char *models_dir, struct face_engine **out, struct ff_error *err);
/* Only the nets in `nets` (FACE_NET_* bits): a process that runs one
 * detector need not hold the other's weights (SSD: 22 MB as floats).
 * Calling a net that was not loaded fails with FF_EUNSUPPORTED. */
enum {
  FACE_NET_SSD = 1 << 0,
  FACE_NET_TINY = 1 << 1,
  FACE_NET_LANDMARKS = 1 << 2,
  FACE_NET_LANDMARKS_TINY = 1 << 3,
  FACE_NET_RECOGNITION = 1 << 4,
  FACE_NET_AGE_GENDER = 1 << 5,
  FACE_NET_ALL = (1 << 6) - 1,
};
int face_engine_load_nets(const char *models_dir, unsigned nets, struct face_engine **out,
                          struct ff_error *err);
void face_engine_free(struct face_engine *engine);
/* The models folder to use when none is given: $FOOTFALL_MODELS_DIR, else ./data/models. */
const char *face_default_models_dir(void);

int face_session_new(const struct face_engine *engine, struct face_session **out,
                     struct ff_error *err);
void face_session_free(struct face_session *session);
/* Bytes of scratch the session holds now (its arenas' blocks and the
 * detector's candidate arrays): after one inference of each kind, what it
 * keeps for good. */
size_t face_session_scratch_bytes(const struct face_session *session);

enum face_detector { FACE_DETECTOR_SSD, FACE_DETECTOR_TINY };

struct face_detect_options {
  enum face_detector detector;
  int tiny_input_size; /* multiple of 32 in 32..1024; face-api default 416 */
  float min_score;     /* SSD 0.5, Tiny 0.5 by default (strict >) */
  int max_faces;       /* SSD keeps at most this many, 1..100 (face-api: 100; more is clamped) */
};
void face_detect_options_default(struct face_detect_options *options);

struct face_box {
  double x, y, width, height;
};
struct face_point {
  double x, y;
};
struct face_rect { /* integer pixel rectangle, inside the image */
  int x, y, width, height;
};

struct face_detection {
  struct face_box box;
  double score;
};

/* Finds faces, best first (face-api's order). Writes up to `capacity`
 * detections, sets *count to how many were written. */
int face_detect(struct face_session *session, const struct face_image *image,
                const struct face_detect_options *options, struct face_detection *out, int capacity,
                int *count, struct ff_error *err);

enum face_landmark_model { FACE_LANDMARKS_FULL, FACE_LANDMARKS_TINY };
/* 68 iBUG points for a detection box. */
int face_landmarks(struct face_session *session, const struct face_image *image,
                   const struct face_box *box, enum face_landmark_model model,
                   struct face_point points[FACE_LANDMARK_COUNT], struct ff_error *err);

/* The crops face-api feeds the descriptor and age/gender nets (spec section 3). */
int face_descriptor_rect(const struct face_image *image, const struct face_box *detection,
                         const struct face_point points[FACE_LANDMARK_COUNT],
                         struct face_rect *out);
int face_age_gender_rect(const struct face_image *image,
                         const struct face_point points[FACE_LANDMARK_COUNT],
                         struct face_rect *out);

/* 128-d descriptor of a crop (resized to 150x150 with centred zero padding). */
int face_describe(struct face_session *session, const struct face_image *image,
                  const struct face_rect *crop, float descriptor[FACE_DESCRIPTOR_SIZE],
                  struct ff_error *err);
/* Age in years and probability that the face is male, from a crop. */
int face_age_gender(struct face_session *session, const struct face_image *image,
                    const struct face_rect *crop, float *age, float *male_probability,
                    struct ff_error *err);

/* Best-shot quality: every component plus a combined 0..1 score. */
struct face_quality {
  double face_size;      /* shorter side of the detection box, pixels */
  double sharpness;      /* variance of the Laplacian of the face, resampled to 112x112 gray */
  double yaw_degrees;    /* from nose vs jaw landmarks, 0 = frontal */
  double roll_degrees;   /* eye line angle, 0 = level */
  double detector_score; /* the detector's confidence */
  double size_score, sharpness_score, pose_score; /* each 0..1 */
  double score;                                   /* weighted combination, 0..1 */
};
int face_quality(const struct face_image *image, const struct face_detection *detection,
                 const struct face_point points[FACE_LANDMARK_COUNT], struct face_quality *out);

/* The full chain per face, as face-api's
 * detectAllFaces().withFaceLandmarks().withFaceDescriptors().withAgeAndGender(). */
struct face_result {
  struct face_detection detection;
  struct face_point landmarks[FACE_LANDMARK_COUNT];
  struct face_rect descriptor_rect, age_gender_rect;
  float descriptor[FACE_DESCRIPTOR_SIZE];
  float age;
  int is_male;
  float gender_probability; /* of the reported gender, 0.5..1 */
  struct face_quality quality;
};
int face_analyze(struct face_session *session, const struct face_image *image,
                 const struct face_detect_options *options, struct face_result *out, int capacity,
                 int *count, struct ff_error *err);
/* The per-face part of that chain for one detection (the worker's best
 * shot): landmarks, both crops, descriptor, age, gender, quality.
 * FF_EINVAL when the box or its crops fall outside the image. */
int face_analyze_detection(struct face_session *session, const struct face_image *image,
                           const struct face_detection *detection, struct face_result *out,
                           struct ff_error *err);

/* Euclidean distance between descriptors (no normalisation, as face-api). */
double face_distance(const float a[FACE_DESCRIPTOR_SIZE], const float b[FACE_DESCRIPTOR_SIZE]);

#endif
