/* engine_internal.h — what the engine and session hold (face.h keeps them opaque). */
#ifndef FOOTFALL_FACE_ENGINE_INTERNAL_H
#define FOOTFALL_FACE_ENGINE_INTERNAL_H

#include "face.h"
#include "nets.h"

#define FACE_MAX_CANDIDATES 5120 /* SSD: 5118 anchors; Tiny: (1024/32)^2 * 5 */

struct face_engine {
  unsigned nets; /* FACE_NET_* bits of the nets loaded */
  struct ssd_net ssd;
  struct tiny_net tiny;
  struct landmark_net landmarks, landmarks_tiny;
  struct recognition_net recognition;
  struct age_gender_net age_gender;
};

struct face_session {
  const struct face_engine *engine;
  /* Scratch planned by liveness. A detector's layer input and output live
   * in ping and pong alternately (each reset when it becomes the target),
   * its strips and small outputs in `arena`. The per-face nets (landmarks,
   * descriptor, age/gender) run after detection, one after another, each in
   * ping: no session memory is kept for them alone. */
  struct arena arena;
  struct arena ping, pong;
  float *boxes;                    /* [FACE_MAX_CANDIDATES][4] */
  float *scores;                   /* [FACE_MAX_CANDIDATES] */
  int *order;                      /* [FACE_MAX_CANDIDATES] */
  double *tiny_boxes; /* [FACE_MAX_CANDIDATES][5] x, y, right, bottom (relative), score */
};

/* FF_OK when the engine holds that net (FACE_NET_* bit), else
 * FF_EUNSUPPORTED naming it. */
int face_engine_require(const struct face_engine *e, unsigned net, const char *what,
                        struct ff_error *err);

#endif
