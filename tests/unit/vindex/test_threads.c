/* Concurrent searches while a writer churns: every search sees a consistent
 * index. The churned entries live far from the queries and are moved by
 * swap-with-last removals, so the stable entries change slots under the
 * readers' feet. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "vindex.h"

#define STABLE 3000
#define CHURN_MAX 2000
#define READERS 3
#define QUERIES 24
#define K 5

struct shared {
  struct vindex *ix;
  struct entry stable[STABLE];
  float queries[QUERIES][VINDEX_DIM];
  struct vindex_hit want[QUERIES][K];
  struct vindex_hit want_labels[QUERIES][K];
  atomic_int stop;
  atomic_int failures;
  atomic_long searches;
};

static void *reader(void *arg) {
  struct shared *s = arg;
  struct vindex_hit hits[K];
  for (long i = 0; !atomic_load(&s->stop) && i < 100000; i++) {
    int q = (int)(i % QUERIES);
    size_t found = 0;
    bool labels = i % 2;
    int rc = labels ? vindex_search_labels(s->ix, s->queries[q], K, NULL, 0, hits, &found, NULL)
                    : vindex_search(s->ix, s->queries[q], K, NULL, 0, hits, &found, NULL);
    const struct vindex_hit *want = labels ? s->want_labels[q] : s->want[q];
    bool ok = rc == FF_OK && found == K;
    for (int j = 0; ok && j < K; j++)
      ok = hits[j].id == want[j].id && hits[j].distance == want[j].distance;
    size_t n = vindex_count(s->ix);
    ok = ok && n >= STABLE && n <= STABLE + CHURN_MAX;
    if (!ok)
      atomic_fetch_add(&s->failures, 1);
    atomic_fetch_add(&s->searches, 1);
  }
  return NULL;
}

Test(vindex_threads, readers_and_a_writer, .timeout = 120) {
  struct shared *s = calloc(1, sizeof *s);
  struct rng r = {555};
  cr_assert_eq(vindex_create(&s->ix, NULL), FF_OK);
  float c[VINDEX_DIM];
  for (int i = 0; i < STABLE; i++) {
    if (i % 5 == 0)
      data_person(&r, c);
    s->stable[i].id = i;
    s->stable[i].label = i / 5;
    data_exemplar(&r, c, s->stable[i].v);
    cr_assert_eq(vindex_add(s->ix, i, i / 5, s->stable[i].v, NULL), FF_OK);
  }
  for (int q = 0; q < QUERIES; q++) {
    data_exemplar(&r, s->stable[(q * 131) % STABLE].v, s->queries[q]);
    naive_search(s->stable, STABLE, s->queries[q], K, false, NULL, 0, s->want[q]);
    naive_search(s->stable, STABLE, s->queries[q], K, true, NULL, 0, s->want_labels[q]);
  }
  pthread_t threads[READERS];
  for (int t = 0; t < READERS; t++)
    cr_assert_eq(pthread_create(&threads[t], NULL, reader, s), 0);

  /* Far away: every component shifted by 5, distance > 50 from any query. */
  int64_t live[CHURN_MAX];
  int n_live = 0;
  int64_t next = 1000000;
  for (int step = 0; step < 20000; step++) {
    unsigned op = (unsigned)(rng_next(&r) % 10);
    if (op < 5 && n_live < CHURN_MAX) {
      float v[VINDEX_DIM];
      data_person(&r, v);
      for (int d = 0; d < VINDEX_DIM; d++)
        v[d] += 5.0f;
      cr_assert_eq(vindex_add(s->ix, next, 1000 + step % 7, v, NULL), FF_OK);
      live[n_live++] = next++;
    } else if (op < 8 && n_live) {
      int i = (int)(rng_next(&r) % (uint64_t)n_live);
      cr_assert_eq(vindex_remove(s->ix, live[i], NULL), FF_OK);
      live[i] = live[--n_live];
    } else if (op < 9) {
      cr_assert_eq(vindex_relabel(s->ix, 1000 + step % 7, 1000 + (step + 1) % 7, NULL, NULL),
                   FF_OK);
    } else {
      /* Removes a label of churned entries: refresh the list of the living. */
      size_t removed;
      cr_assert_eq(vindex_remove_label(s->ix, 1000 + step % 7, &removed, NULL), FF_OK);
      int kept = 0;
      for (int i = 0; i < n_live; i++)
        if (vindex_get(s->ix, live[i], NULL, NULL, NULL) == FF_OK)
          live[kept++] = live[i];
      cr_assert_eq((size_t)(n_live - kept), removed);
      n_live = kept;
    }
  }
  atomic_store(&s->stop, 1);
  for (int t = 0; t < READERS; t++)
    pthread_join(threads[t], NULL);
  cr_assert_eq(atomic_load(&s->failures), 0, "%d inconsistent searches of %ld",
               atomic_load(&s->failures), atomic_load(&s->searches));
  cr_assert_gt(atomic_load(&s->searches), READERS);
  cr_assert_eq(vindex_count(s->ix), (size_t)(STABLE + n_live));
  vindex_destroy(s->ix);
  free(s);
}

static void *get_tenant(void *arg) {
  struct vindex_registry *reg = arg;
  struct vindex *ix = NULL;
  for (int64_t t = 0; t < 200; t++) {
    if (vindex_registry_get(reg, t, &ix, NULL) != FF_OK)
      return NULL;
    float v[VINDEX_DIM] = {(float)t};
    vindex_add(ix, (int64_t)pthread_self() % 100000 + t * 1000000, t, v, NULL);
  }
  return ix;
}

Test(vindex_threads, registry_creates_each_tenant_once) {
  struct vindex_registry *reg;
  cr_assert_eq(vindex_registry_create(&reg, NULL), FF_OK);
  pthread_t threads[4];
  for (int t = 0; t < 4; t++)
    pthread_create(&threads[t], NULL, get_tenant, reg);
  for (int t = 0; t < 4; t++) {
    void *ret;
    pthread_join(threads[t], &ret);
    cr_assert_not_null(ret);
  }
  cr_assert_eq(vindex_registry_count(reg), 200);
  for (int64_t t = 0; t < 200; t++) {
    struct vindex *ix = vindex_registry_find(reg, t);
    cr_assert_not_null(ix);
    cr_assert_leq(vindex_count(ix), 4);
    cr_assert_geq(vindex_count(ix), 1);
  }
  vindex_registry_destroy(reg);
}
