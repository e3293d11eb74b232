/* idmap.c — see idmap.h. */
#include "idmap.h"

#include <stdlib.h>

/* splitmix64's finaliser: ids are often sequential, which linear probing
 * would otherwise cluster. */
static size_t home(const struct idmap *m, int64_t id) {
  uint64_t z = (uint64_t)id + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (size_t)z & (m->capacity - 1);
}

void idmap_init(struct idmap *m) {
  m->entries = NULL;
  m->capacity = 0;
  m->count = 0;
}

void idmap_free(struct idmap *m) {
  free(m->entries);
  idmap_init(m);
}

static bool rehash(struct idmap *m, size_t capacity) {
  struct idmap_entry *entries = malloc(capacity * sizeof *entries);
  if (!entries)
    return false;
  for (size_t i = 0; i < capacity; i++)
    entries[i].slot = IDMAP_EMPTY;
  struct idmap old = *m;
  m->entries = entries;
  m->capacity = capacity;
  for (size_t i = 0; i < old.capacity; i++) {
    if (old.entries[i].slot == IDMAP_EMPTY)
      continue;
    size_t j = home(m, old.entries[i].id);
    while (m->entries[j].slot != IDMAP_EMPTY)
      j = (j + 1) & (capacity - 1);
    m->entries[j] = old.entries[i];
  }
  free(old.entries);
  return true;
}

bool idmap_reserve(struct idmap *m, size_t n) {
  size_t capacity = m->capacity ? m->capacity : 16;
  while (n > capacity / 4 * 3) {
    if (capacity > SIZE_MAX / 2 / sizeof(struct idmap_entry))
      return false;
    capacity *= 2;
  }
  return capacity == m->capacity || rehash(m, capacity);
}

uint32_t idmap_find(const struct idmap *m, int64_t id) {
  if (m->capacity == 0)
    return IDMAP_EMPTY;
  for (size_t i = home(m, id);; i = (i + 1) & (m->capacity - 1)) {
    if (m->entries[i].slot == IDMAP_EMPTY)
      return IDMAP_EMPTY;
    if (m->entries[i].id == id)
      return m->entries[i].slot;
  }
}

bool idmap_insert(struct idmap *m, int64_t id, uint32_t slot) {
  if (!idmap_reserve(m, m->count + 1))
    return false;
  size_t i = home(m, id);
  while (m->entries[i].slot != IDMAP_EMPTY)
    i = (i + 1) & (m->capacity - 1);
  m->entries[i].id = id;
  m->entries[i].slot = slot;
  m->count++;
  return true;
}

static size_t position(const struct idmap *m, int64_t id) {
  size_t i = home(m, id);
  while (m->entries[i].id != id || m->entries[i].slot == IDMAP_EMPTY)
    i = (i + 1) & (m->capacity - 1);
  return i;
}

void idmap_update(struct idmap *m, int64_t id, uint32_t slot) {
  m->entries[position(m, id)].slot = slot;
}

void idmap_erase(struct idmap *m, int64_t id) {
  size_t mask = m->capacity - 1;
  size_t hole = position(m, id);
  /* Shift back every later entry of the run whose home is not between the
   * hole and itself, so lookups never stop early at the hole. */
  for (size_t j = (hole + 1) & mask; m->entries[j].slot != IDMAP_EMPTY; j = (j + 1) & mask) {
    size_t h = home(m, m->entries[j].id);
    size_t dist_home = (j - h) & mask, dist_hole = (j - hole) & mask;
    if (dist_home >= dist_hole) {
      m->entries[hole] = m->entries[j];
      hole = j;
    }
  }
  m->entries[hole].slot = IDMAP_EMPTY;
  m->count--;
}

size_t idmap_memory(const struct idmap *m) {
  return m->capacity * sizeof(struct idmap_entry);
}
