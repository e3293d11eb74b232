#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t rng_next(struct rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double rng_uniform(struct rng *r) {
  return (double)(rng_next(r) >> 11) * 0x1p-53;
}

double rng_normal(struct rng *r) {
  double u = rng_uniform(r), v = rng_uniform(r);
  return sqrt(-2.0 * log(u + 0x1p-60)) * cos(2.0 * M_PI * v);
}

/* A fixed mean shared by everyone (norm ~1.2) plus a personal direction of
 * length ~0.7: centres are ~1.0 apart and have norm ~1.4. */
void data_person(struct rng *r, float out[VINDEX_DIM]) {
  struct rng mean_rng = {12345};
  double sum = 0;
  float dir[VINDEX_DIM];
  for (int d = 0; d < VINDEX_DIM; d++) {
    dir[d] = (float)rng_normal(r);
    sum += (double)dir[d] * dir[d];
  }
  for (int d = 0; d < VINDEX_DIM; d++)
    out[d] = (float)(rng_normal(&mean_rng) * 1.2 / sqrt(VINDEX_DIM) + dir[d] * 0.7 / sqrt(sum));
}

void data_exemplar(struct rng *r, const float centre[VINDEX_DIM], float out[VINDEX_DIM]) {
  for (int d = 0; d < VINDEX_DIM; d++)
    out[d] = centre[d] + (float)(rng_normal(r) * 0.3 / sqrt(VINDEX_DIM));
}

static int by_distance_then_id(const void *a, const void *b) {
  const struct vindex_hit *x = a, *y = b;
  if (x->distance != y->distance)
    return x->distance < y->distance ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

size_t naive_search(const struct entry *entries, size_t n, const float *query, size_t k,
                    bool per_label, const int64_t *exclude, size_t exclude_count,
                    struct vindex_hit *out) {
  struct vindex_hit *all = malloc((n ? n : 1) * sizeof *all);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    bool skip = false;
    for (size_t e = 0; e < exclude_count; e++)
      skip |= entries[i].label == exclude[e];
    if (skip)
      continue;
    all[m].id = entries[i].id;
    all[m].label = entries[i].label;
    all[m].distance = vindex_distance(query, entries[i].v);
    m++;
  }
  qsort(all, m, sizeof *all, by_distance_then_id);
  size_t found = 0;
  for (size_t i = 0; i < m && found < k; i++) {
    bool seen = false;
    for (size_t j = 0; per_label && j < found; j++)
      seen |= out[j].label == all[i].label;
    if (!seen)
      out[found++] = all[i];
  }
  free(all);
  return found;
}
