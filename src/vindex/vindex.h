/* vindex.h — exact nearest-neighbour search over 128-d face descriptors.
 *
 * One index per tenant holds the customer gallery: entries (id = exemplar id,
 * label = customer id, 128 float32 values). Distances are Euclidean, as
 * face-api computes them. Results are exact: the same ids and distances as a
 * naive scan that calls vindex_distance() on every entry and orders by
 * (distance, id). Internally a compact int8 copy is scanned with SIMD and only
 * the few candidates its error bounds cannot rule out are re-scored on the
 * float32 copy (docs/VINDEX.md explains the bounds and the measurements).
 *
 * Threads: every function may be called from any thread. Searches, vindex_get,
 * vindex_count and vindex_memory share a read lock and run concurrently;
 * add/remove/relabel/clear/reserve take the write lock (writer-preferring, so a
 * stream of searches cannot starve a writer; a writer waits for the searches
 * in flight, each a few milliseconds at 1 M entries).
 *
 * Memory: the index copies what it is given; results go to caller-owned
 * arrays. Functions that fail leave the index unchanged.
 */
#ifndef FOOTFALL_VINDEX_H
#define FOOTFALL_VINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define VINDEX_DIM 128
/* Largest |component| accepted: keeps every squared norm far from float
 * overflow. face-api descriptors stay well under 1. */
#define VINDEX_COMPONENT_MAX 1000.0f
/* Largest k a search accepts, and most queries in one batch. */
#define VINDEX_K_MAX 1024
#define VINDEX_BATCH_MAX 256

struct vindex;

struct vindex_hit {
  int64_t id;     /* exemplar id */
  int64_t label;  /* customer id */
  float distance; /* Euclidean, == vindex_distance(query, stored vector) */
};

/* Creates an empty index. *out is the caller's to vindex_destroy(). */
int vindex_create(struct vindex **out, struct ff_error *err);
void vindex_destroy(struct vindex *ix);

/* Sizes the id table for n entries so a start-up rebuild does not rehash. */
int vindex_reserve(struct vindex *ix, size_t n, struct ff_error *err);

/* Adds one entry. FF_EINVAL: a component is NaN, infinite or larger than
 * VINDEX_COMPONENT_MAX in magnitude. FF_ECONFLICT: id already present.
 * FF_ETOOBIG: the index is full (2^32 - 2 entries). FF_ENOMEM. */
int vindex_add(struct vindex *ix, int64_t id, int64_t label, const float vector[VINDEX_DIM],
               struct ff_error *err);

/* Removes one entry, O(1) (the last entry moves into its place).
 * FF_ENOTFOUND if absent. */
int vindex_remove(struct vindex *ix, int64_t id, struct ff_error *err);

/* Removes every entry of a label (customer erased); O(count). *removed (may be
 * NULL) receives how many went; removing none is not an error. */
int vindex_remove_label(struct vindex *ix, int64_t label, size_t *removed, struct ff_error *err);

/* Relabels every entry of `from` as `to` (customer merge); O(count).
 * *changed (may be NULL) receives how many. */
int vindex_relabel(struct vindex *ix, int64_t from, int64_t to, size_t *changed,
                   struct ff_error *err);

/* Removes everything and releases the storage (tenant deleted). */
void vindex_clear(struct vindex *ix);

/* Copies one entry out (label and/or vector may be NULL). FF_ENOTFOUND. */
int vindex_get(struct vindex *ix, int64_t id, int64_t *label, float vector[VINDEX_DIM],
               struct ff_error *err);

size_t vindex_count(struct vindex *ix);

/* Bytes held by the index (storage blocks, id table, the struct itself). */
size_t vindex_memory(struct vindex *ix);

/* The k nearest entries to query, ascending by (distance, id), skipping
 * entries whose label is in exclude[0..exclude_count) (may be NULL/0).
 * out must hold k hits; *found receives min(k, eligible entries).
 * FF_EINVAL: bad query (as for vindex_add). FF_ETOOBIG: k > VINDEX_K_MAX.
 * FF_ENOMEM: scratch memory could not be allocated. */
int vindex_search(struct vindex *ix, const float query[VINDEX_DIM], size_t k,
                  const int64_t *exclude, size_t exclude_count, struct vindex_hit *out,
                  size_t *found, struct ff_error *err);

/* As vindex_search, but at most one hit per label: each label's nearest entry
 * (smallest (distance, id)), the k best labels in that order. This is what
 * "best customer vs runner-up customer" needs. */
int vindex_search_labels(struct vindex *ix, const float query[VINDEX_DIM], size_t k,
                         const int64_t *exclude, size_t exclude_count, struct vindex_hit *out,
                         size_t *found, struct ff_error *err);

/* count queries (count * VINDEX_DIM floats) in one pass over the index, as
 * vindex_search (or vindex_search_labels when per_label) would answer each:
 * query q's hits go to out[q * k ...], their number to found[q]. Each block
 * of the index is read from memory once for the whole batch, so a batch of 50
 * costs far less than 50 searches (docs/VINDEX.md). The exclusion list applies
 * to every query. FF_EINVAL names the first bad query; FF_ETOOBIG also when
 * count > VINDEX_BATCH_MAX. On failure every found[q] is 0. */
int vindex_search_batch(struct vindex *ix, const float *queries, size_t count, size_t k,
                        bool per_label, const int64_t *exclude, size_t exclude_count,
                        struct vindex_hit *out, size_t *found, struct ff_error *err);

/* The distance every result reports: the square root of the sum of squared
 * component differences, accumulated in double in index order, rounded to
 * float. Deterministic and independent of the SIMD kernel. */
float vindex_distance(const float a[VINDEX_DIM], const float b[VINDEX_DIM]);

/* Name of the scan kernel chosen for this CPU: "avx512", "avx2" or "scalar".
 * The environment variable FOOTFALL_VINDEX_KERNEL (same names) may force a
 * lesser one, for tests and benchmarks. */
const char *vindex_kernel_name(void);

/* ---- Per-tenant registry --------------------------------------------------
 * The server keeps one index per tenant. The registry owns them; an index it
 * hands out lives until vindex_registry_destroy(), so callers may keep the
 * pointer without reference counting. A deleted tenant's index is emptied
 * with vindex_clear(), not freed. */

struct vindex_registry;

int vindex_registry_create(struct vindex_registry **out, struct ff_error *err);
/* Frees the registry and every index in it; no other thread may use them. */
void vindex_registry_destroy(struct vindex_registry *reg);

/* The tenant's index, created empty on first use. FF_ENOMEM. */
int vindex_registry_get(struct vindex_registry *reg, int64_t tenant_id, struct vindex **out,
                        struct ff_error *err);

/* The tenant's index if it exists, else NULL (never creates). */
struct vindex *vindex_registry_find(struct vindex_registry *reg, int64_t tenant_id);

/* Number of tenants and the sum of vindex_memory() over them. */
size_t vindex_registry_count(struct vindex_registry *reg);
size_t vindex_registry_memory(struct vindex_registry *reg);

#endif
