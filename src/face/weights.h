/* weights.h — TF.js weight manifests (`*-weights_manifest.json` + shards).
 *
 * Promises: every entry of every group is decoded (so offsets stay right),
 * quantized values are dequantized exactly as tfjs-core does, and anything
 * malformed (bad JSON, unknown dtype, shape overflow, shard too short or too
 * long, path tricks in shard names) yields FF_EINVAL/FF_ETOOBIG/FF_EIO with a
 * message naming the entry — never a crash. The loaded set is read-only; nets
 * copy (and fold) what they need at load time and then free it.
 */
#ifndef FOOTFALL_FACE_WEIGHTS_H
#define FOOTFALL_FACE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define WEIGHTS_MAX_RANK 6
#define WEIGHTS_MAX_VALUES (64u * 1024 * 1024) /* summed over all entries */
#define WEIGHTS_MAX_MANIFEST_BYTES (4u * 1024 * 1024)
#define WEIGHTS_MAX_SHARD_BYTES (256u * 1024 * 1024)

enum weights_dtype { WEIGHTS_FLOAT32, WEIGHTS_INT32 };

struct weights_tensor {
  char *name;
  enum weights_dtype dtype;
  int rank;
  int shape[WEIGHTS_MAX_RANK];
  size_t count;  /* product of shape (1 for a scalar) */
  float *values; /* float32 tensors */
  int32_t *ints; /* int32 tensors */
};

struct weights {
  struct weights_tensor *tensors;
  int count;
};

/* Supplies the bytes of one shard named in the manifest. Must set *data to a
 * malloc'd buffer (owned by the caller afterwards) and *size. */
typedef int (*weights_shard_reader)(void *ctx, const char *shard_name, uint8_t **data, size_t *size,
                                    struct ff_error *err);

/* Parses manifest text and decodes all groups, reading shards through `read`.
 * On success *out owns everything; release with weights_free. */
int weights_parse(const char *manifest, size_t manifest_len, weights_shard_reader read, void *ctx,
                  struct weights *out, struct ff_error *err);

/* Loads `<dir>/<model>-weights_manifest.json` and its shards from `dir`. */
int weights_load(const char *dir, const char *model, struct weights *out, struct ff_error *err);

void weights_free(struct weights *w);

/* Looks up a float32 tensor by name and checks its shape (rank dims given).
 * A dims entry of -1 accepts any size. Returns NULL and fills err otherwise. */
const struct weights_tensor *weights_find(const struct weights *w, const char *name, int rank,
                                          const int *dims, struct ff_error *err);

/* Reads a whole file (bounded by max_bytes) into a malloc'd buffer. */
int weights_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                      struct ff_error *err);

#endif
