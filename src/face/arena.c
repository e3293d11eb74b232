/* arena.c — see arena.h. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

struct arena_chunk {
  struct arena_chunk *next;
  size_t capacity, used;
  unsigned char *data;
};

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK (1u << 20)

static struct arena_chunk *chunk_new(struct arena *a, size_t capacity) {
  struct arena_chunk *c = malloc(sizeof *c);
  if (!c)
    return NULL;
  c->data = aligned_alloc(ARENA_ALIGN, (capacity + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
  if (!c->data) {
    free(c);
    return NULL;
  }
  c->capacity = capacity;
  c->used = 0;
  c->next = NULL;
  a->chunk_allocations++;
  return c;
}

void *arena_alloc(struct arena *a, size_t bytes) {
  size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
  if (need < bytes)
    return NULL;
  struct arena_chunk *c = a->head;
  if (!c || c->capacity - c->used < need) {
    size_t cap = need > ARENA_MIN_CHUNK ? need : ARENA_MIN_CHUNK;
    struct arena_chunk *n = chunk_new(a, cap);
    if (!n)
      return NULL;
    n->next = c;
    a->head = c = n;
  }
  void *p = c->data + c->used;
  c->used += need;
  a->in_use += need;
  if (a->in_use > a->high_water)
    a->high_water = a->in_use;
  return p;
}

float *arena_floats(struct arena *a, size_t n) {
  if (n > SIZE_MAX / sizeof(float))
    return NULL;
  return arena_alloc(a, n * sizeof(float));
}

void arena_reset(struct arena *a) {
  a->in_use = 0;
  if (a->head && !a->head->next && a->head->capacity >= a->high_water) {
    a->head->used = 0;
    return;
  }
  /* Several chunks were needed: replace them by one that fits everything. */
  arena_release(a);
  a->head = chunk_new(a, a->high_water ? a->high_water : ARENA_MIN_CHUNK);
}

void arena_release(struct arena *a) {
  struct arena_chunk *c = a->head;
  while (c) {
    struct arena_chunk *next = c->next;
    free(c->data);
    free(c);
    c = next;
  }
  a->head = NULL;
  a->in_use = 0;
}

struct arena_mark arena_mark(const struct arena *a) {
  struct arena_mark m = {a->head, a->head ? a->head->used : 0, a->in_use};
  return m;
}

void arena_rewind(struct arena *a, struct arena_mark m) {
  /* Chunks added since the mark (warm-up growth) are dropped, so the
   * high-water mark stays the true peak and the next reset sizes the one
   * block right. */
  while (a->head && a->head != m.chunk) {
    struct arena_chunk *c = a->head;
    a->head = c->next;
    free(c->data);
    free(c);
  }
  if (a->head)
    a->head->used = m.used;
  a->in_use = m.in_use;
}

size_t arena_capacity(const struct arena *a) {
  size_t n = 0;
  for (const struct arena_chunk *c = a->head; c; c = c->next)
    n += c->capacity;
  return n;
}
