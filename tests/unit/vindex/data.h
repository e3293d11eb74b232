/* data.h — test data for vindex: clustered descriptors shaped like
 * face-api's (norm ~1.4, people ~0.4 apart within, ~1.0 between), and a
 * naive exact search to compare with. */
#ifndef FOOTFALL_TEST_VINDEX_DATA_H
#define FOOTFALL_TEST_VINDEX_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vindex.h"

struct rng {
  uint64_t state;
};

uint64_t rng_next(struct rng *r);
double rng_uniform(struct rng *r); /* [0, 1) */
double rng_normal(struct rng *r);

/* A person's centre, and an exemplar of a person. */
void data_person(struct rng *r, float out[VINDEX_DIM]);
void data_exemplar(struct rng *r, const float centre[VINDEX_DIM], float out[VINDEX_DIM]);

struct entry {
  int64_t id, label;
  float v[VINDEX_DIM];
};

/* Naive exact search over entries: ascending (distance, id), optionally one
 * per label, skipping excluded labels. Returns the number of hits. */
size_t naive_search(const struct entry *entries, size_t n, const float *query, size_t k,
                    bool per_label, const int64_t *exclude, size_t exclude_count,
                    struct vindex_hit *out);

#endif
