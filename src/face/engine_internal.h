/* engine_internal.h — what the engine and session hold (face.h keeps them opaque). */
#ifndef FOOTFALL_FACE_ENGINE_INTERNAL_H
#define FOOTFALL_FACE_ENGINE_INTERNAL_H

#include "face.h"
#include "nets.h"

#define FACE_MAX_CANDIDATES 5120 /* SSD: 5118 anchors; Tiny: (1024/32)^2 * 5 */

struct face_engine {
  struct ssd_net ssd;
  struct tiny_net tiny;
  struct landmark_net landmarks, landmarks_tiny;
  struct recognition_net recognition;
  struct age_gender_net age_gender;
};

struct face_session {
  const struct face_engine *engine;
  struct arena arena;
  struct arena ssd_ping, ssd_pong; /* detector activations, alternating */
  float *boxes;                    /* [FACE_MAX_CANDIDATES][4] */
  float *scores;                   /* [FACE_MAX_CANDIDATES] */
  int *order;                      /* [FACE_MAX_CANDIDATES] */
  double *tiny_boxes; /* [FACE_MAX_CANDIDATES][5] x, y, right, bottom (relative), score */
};

#endif
