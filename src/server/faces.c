#include "faces.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "server.h"

#define MAX_SESSIONS 8

struct face_pool {
  pthread_mutex_t lock; /* guards busy[] */
  pthread_cond_t free_session;
  struct face_engine *engine;
  struct face_session *sessions[MAX_SESSIONS];
  int busy[MAX_SESSIONS];
  int count;
};

static pthread_mutex_t pool_init_lock = PTHREAD_MUTEX_INITIALIZER;

static int pool_create(struct server *s, struct face_pool **out, struct ff_error *err) {
  struct face_pool *p = calloc(1, sizeof *p);
  if (!p)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  p->count = cores < 1 ? 1 : cores > MAX_SESSIONS ? MAX_SESSIONS : (int)cores;
  int rc = face_engine_load(s->cfg.models_dir, &p->engine, err);
  for (int i = 0; !rc && i < p->count; i++)
    rc = face_session_new(p->engine, &p->sessions[i], err);
  if (rc) {
    for (int i = 0; i < p->count; i++)
      face_session_free(p->sessions[i]);
    face_engine_free(p->engine);
    free(p);
    return rc;
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->free_session, NULL);
  *out = p;
  return FF_OK;
}

static int pool_get(struct server *s, struct face_pool **out, struct ff_error *err) {
  pthread_mutex_lock(&pool_init_lock);
  int rc = s->faces ? FF_OK : pool_create(s, &s->faces, err);
  *out = s->faces;
  pthread_mutex_unlock(&pool_init_lock);
  return rc;
}

int faces_analyze(struct server *s, const void *data, size_t size, struct face_result *out,
                  int capacity, int *count, struct ff_error *err) {
  struct face_pool *p;
  struct ff_error why = {0};
  if (pool_get(s, &p, &why))
    return ff_fail(err, FF_EBUSY, "the face models are not available: %s", why.message);
  int rc;
  struct face_image_limits limits = face_image_default_limits();
  limits.max_pixels = UPLOAD_MAX_PIXELS;
  limits.max_file_bytes = (size_t)s->cfg.max_upload_bytes;
  struct face_image image;
  if ((rc = face_image_decode(data, size, &limits, &image, err)))
    return rc;
  pthread_mutex_lock(&p->lock);
  int slot = -1;
  while (slot < 0) {
    for (int i = 0; i < p->count && slot < 0; i++)
      if (!p->busy[i])
        slot = i;
    if (slot < 0)
      pthread_cond_wait(&p->free_session, &p->lock);
  }
  p->busy[slot] = 1;
  pthread_mutex_unlock(&p->lock);

  struct face_detect_options options;
  face_detect_options_default(&options);
  rc = face_analyze(p->sessions[slot], &image, &options, out, capacity, count, err);

  pthread_mutex_lock(&p->lock);
  p->busy[slot] = 0;
  pthread_cond_signal(&p->free_session);
  pthread_mutex_unlock(&p->lock);
  face_image_free(&image);
  return rc;
}

void faces_free(struct server *s) {
  struct face_pool *p = s->faces;
  if (!p)
    return;
  for (int i = 0; i < p->count; i++)
    face_session_free(p->sessions[i]);
  face_engine_free(p->engine);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->free_session);
  free(p);
  s->faces = NULL;
}
