/* engine.c — loading the models and creating per-thread sessions. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

const char *face_default_models_dir(void) {
  const char *env = getenv("FOOTFALL_MODELS_DIR");
  return env && *env ? env : "./data/models";
}

typedef int (*net_loader_fn)(struct weights *w, void *net, struct ff_error *err);

static int load_ssd(struct weights *w, void *n, struct ff_error *e) {
  return ssd_load(w, n, e);
}
static int load_tiny(struct weights *w, void *n, struct ff_error *e) {
  return tiny_load(w, n, e);
}
static int load_landmarks(struct weights *w, void *n, struct ff_error *e) {
  return landmark_load(w, 0, n, e);
}
static int load_landmarks_tiny(struct weights *w, void *n, struct ff_error *e) {
  return landmark_load(w, 1, n, e);
}
static int load_recognition(struct weights *w, void *n, struct ff_error *e) {
  return recognition_load(w, n, e);
}
static int load_age_gender(struct weights *w, void *n, struct ff_error *e) {
  return age_gender_load(w, n, e);
}

void face_engine_free(struct face_engine *e) {
  if (!e)
    return;
  ssd_free(&e->ssd);
  tiny_free(&e->tiny);
  landmark_free(&e->landmarks);
  landmark_free(&e->landmarks_tiny);
  recognition_free(&e->recognition);
  age_gender_free(&e->age_gender);
  free(e);
}

int face_engine_load(const char *dir, struct face_engine **out, struct ff_error *err) {
  return face_engine_load_nets(dir, FACE_NET_ALL, out, err);
}

int face_engine_load_nets(const char *dir, unsigned nets, struct face_engine **out,
                          struct ff_error *err) {
  *out = NULL;
  struct face_engine *e = calloc(1, sizeof *e);
  if (!e)
    return ff_fail(err, FF_ENOMEM, "face: out of memory");
  const struct {
    unsigned bit;
    const char *model;
    net_loader_fn load;
    void *net;
  } models[] = {
      {FACE_NET_SSD, "ssd_mobilenetv1_model", load_ssd, &e->ssd},
      {FACE_NET_TINY, "tiny_face_detector_model", load_tiny, &e->tiny},
      {FACE_NET_LANDMARKS, "face_landmark_68_model", load_landmarks, &e->landmarks},
      {FACE_NET_LANDMARKS_TINY, "face_landmark_68_tiny_model", load_landmarks_tiny,
       &e->landmarks_tiny},
      {FACE_NET_RECOGNITION, "face_recognition_model", load_recognition, &e->recognition},
      {FACE_NET_AGE_GENDER, "age_gender_model", load_age_gender, &e->age_gender},
  };
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    if (!(nets & models[i].bit))
      continue;
    struct weights w;
    int rc = weights_load(dir, models[i].model, &w, err);
    if (rc == FF_OK) {
      rc = models[i].load(&w, models[i].net, err);
      if (rc != FF_OK && err) {
        char inner[FF_ERROR_MESSAGE_MAX];
        memcpy(inner, err->message, sizeof inner);
        ff_fail(err, rc, "%s: %s", models[i].model, inner);
      }
    }
    weights_free(&w); /* what the net did not take (unused graph constants) */
    if (rc != FF_OK) {
      face_engine_free(e);
      return rc;
    }
    e->nets |= models[i].bit;
  }
  malloc_trim(0); /* give back the heap the unpacked / unused weights held */
  *out = e;
  return FF_OK;
}

void face_session_free(struct face_session *s) {
  if (!s)
    return;
  arena_release(&s->arena);
  arena_release(&s->ping);
  arena_release(&s->pong);
  free(s->boxes);
  free(s->scores);
  free(s->order);
  free(s->tiny_boxes);
  free(s);
}

size_t face_session_scratch_bytes(const struct face_session *s) {
  return arena_capacity(&s->arena) + arena_capacity(&s->ping) + arena_capacity(&s->pong) +
         FACE_MAX_CANDIDATES * (4 * sizeof(float) + sizeof(float) + sizeof(int) + 5 * sizeof(double));
}

int face_engine_require(const struct face_engine *e, unsigned net, const char *what,
                        struct ff_error *err) {
  if (e->nets & net)
    return FF_OK;
  return ff_fail(err, FF_EUNSUPPORTED, "face: the %s model was not loaded", what);
}

int face_session_new(const struct face_engine *engine, struct face_session **out,
                     struct ff_error *err) {
  *out = NULL;
  struct face_session *s = calloc(1, sizeof *s);
  if (!s)
    return ff_fail(err, FF_ENOMEM, "face: out of memory");
  s->engine = engine;
  s->boxes = malloc(FACE_MAX_CANDIDATES * 4 * sizeof(float));
  s->scores = malloc(FACE_MAX_CANDIDATES * sizeof(float));
  s->order = malloc(FACE_MAX_CANDIDATES * sizeof(int));
  s->tiny_boxes = malloc(FACE_MAX_CANDIDATES * 5 * sizeof(double));
  if (!s->boxes || !s->scores || !s->order || !s->tiny_boxes) {
    face_session_free(s);
    return ff_fail(err, FF_ENOMEM, "face: out of memory");
  }
  *out = s;
  return FF_OK;
}
