/* arena.h — per-thread scratch memory for inference.
 *
 * Allocation is a pointer bump; arena_reset() makes everything reusable.
 * The first runs of each net grow the arena (extra chunks); a reset then
 * replaces the chunks by one block as large as the high-water mark, so after
 * warm-up an inference allocates nothing. Not thread-safe: one per session.
 */
#ifndef FOOTFALL_FACE_ARENA_H
#define FOOTFALL_FACE_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
  struct arena_chunk *head; /* current chunk; older ones behind it */
  size_t in_use;            /* bytes handed out since the last reset */
  size_t high_water;        /* largest in_use seen */
  int chunk_allocations;    /* malloc calls made, for the no-allocation test */
};

/* 64-byte aligned, uninitialised; NULL only when malloc fails. */
void *arena_alloc(struct arena *a, size_t bytes);
/* Returns a float array of n elements (helper). */
float *arena_floats(struct arena *a, size_t n);
void arena_reset(struct arena *a);

/* Scoped temporaries: everything allocated after arena_mark() is given back
 * by arena_rewind() (chunks added meanwhile are freed: that only happens
 * during warm-up). */
struct arena_mark {
  struct arena_chunk *chunk;
  size_t used, in_use;
};
struct arena_mark arena_mark(const struct arena *a);
void arena_rewind(struct arena *a, struct arena_mark m);
void arena_release(struct arena *a);
/* Bytes the arena's chunks hold. */
size_t arena_capacity(const struct arena *a);

#endif
