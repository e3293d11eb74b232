/* idmap.h — internal to vindex: a hash table from int64 id to uint32 slot
 * (open addressing, linear probing, backward-shift deletion, load <= 3/4).
 * Not thread-safe; vindex guards it with its lock. */
#ifndef FOOTFALL_VINDEX_IDMAP_H
#define FOOTFALL_VINDEX_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDMAP_EMPTY UINT32_MAX

struct idmap_entry {
  int64_t id;
  uint32_t slot; /* IDMAP_EMPTY marks a free entry */
};

struct idmap {
  struct idmap_entry *entries;
  size_t capacity; /* 0 or a power of two */
  size_t count;
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m);
/* Makes room for n ids without rehashing; false when out of memory. */
bool idmap_reserve(struct idmap *m, size_t n);
/* The slot of id, or IDMAP_EMPTY. */
uint32_t idmap_find(const struct idmap *m, int64_t id);
/* Inserts an id known to be absent; false when out of memory. */
bool idmap_insert(struct idmap *m, int64_t id, uint32_t slot);
/* Changes the slot of a present id. */
void idmap_update(struct idmap *m, int64_t id, uint32_t slot);
/* Removes a present id. */
void idmap_erase(struct idmap *m, int64_t id);
size_t idmap_memory(const struct idmap *m);

#endif
