/* registry.c — one index per tenant, created on first use. */
#include "vindex.h"

#include <pthread.h>
#include <stdlib.h>

#include "idmap.h"

struct vindex_registry {
  /* Guards tenants and indexes (not the indexes' contents: each has its own
   * lock). Held only for a lookup or an insertion. */
  pthread_mutex_t lock;
  struct idmap tenants; /* tenant id -> position in indexes */
  struct vindex **indexes;
  size_t count, capacity;
};

int vindex_registry_create(struct vindex_registry **out, struct ff_error *err) {
  struct vindex_registry *reg = calloc(1, sizeof *reg);
  if (!reg)
    return ff_fail(err, FF_ENOMEM, "vindex: out of memory");
  pthread_mutex_init(&reg->lock, NULL);
  idmap_init(&reg->tenants);
  *out = reg;
  return FF_OK;
}

void vindex_registry_destroy(struct vindex_registry *reg) {
  if (!reg)
    return;
  for (size_t i = 0; i < reg->count; i++)
    vindex_destroy(reg->indexes[i]);
  free(reg->indexes);
  idmap_free(&reg->tenants);
  pthread_mutex_destroy(&reg->lock);
  free(reg);
}

int vindex_registry_get(struct vindex_registry *reg, int64_t tenant_id, struct vindex **out,
                        struct ff_error *err) {
  int rc = FF_OK;
  pthread_mutex_lock(&reg->lock);
  uint32_t at = idmap_find(&reg->tenants, tenant_id);
  if (at != IDMAP_EMPTY) {
    *out = reg->indexes[at];
    pthread_mutex_unlock(&reg->lock);
    return FF_OK;
  }
  struct vindex *ix = NULL;
  if (reg->count == reg->capacity) {
    size_t capacity = reg->capacity ? reg->capacity * 2 : 8;
    struct vindex **indexes = realloc(reg->indexes, capacity * sizeof *indexes);
    if (!indexes) {
      rc = ff_fail(err, FF_ENOMEM, "vindex: out of memory adding tenant");
      goto done;
    }
    reg->indexes = indexes;
    reg->capacity = capacity;
  }
  rc = vindex_create(&ix, err);
  if (rc != FF_OK)
    goto done;
  if (!idmap_insert(&reg->tenants, tenant_id, (uint32_t)reg->count)) {
    vindex_destroy(ix);
    rc = ff_fail(err, FF_ENOMEM, "vindex: out of memory adding tenant");
    goto done;
  }
  reg->indexes[reg->count++] = ix;
  *out = ix;
done:
  pthread_mutex_unlock(&reg->lock);
  return rc;
}

struct vindex *vindex_registry_find(struct vindex_registry *reg, int64_t tenant_id) {
  pthread_mutex_lock(&reg->lock);
  uint32_t at = idmap_find(&reg->tenants, tenant_id);
  struct vindex *ix = at == IDMAP_EMPTY ? NULL : reg->indexes[at];
  pthread_mutex_unlock(&reg->lock);
  return ix;
}

size_t vindex_registry_count(struct vindex_registry *reg) {
  pthread_mutex_lock(&reg->lock);
  size_t n = reg->count;
  pthread_mutex_unlock(&reg->lock);
  return n;
}

size_t vindex_registry_memory(struct vindex_registry *reg) {
  pthread_mutex_lock(&reg->lock);
  size_t bytes = sizeof *reg + reg->capacity * sizeof *reg->indexes + idmap_memory(&reg->tenants);
  for (size_t i = 0; i < reg->count; i++)
    bytes += vindex_memory(reg->indexes[i]);
  pthread_mutex_unlock(&reg->lock);
  return bytes;
}
