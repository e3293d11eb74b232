/* Fuzzes the TF.js weight loader: the input is "manifest JSON \0 shard bytes";
 * every shard the manifest names reads the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nets.h"
#include "weights.h"

struct blob {
  const uint8_t *data;
  size_t size;
};

static int read_blob(void *ctx, const char *name, uint8_t **data, size_t *size,
                     struct ff_error *err) {
  const struct blob *b = ctx;
  *data = malloc(b->size ? b->size : 1);
  if (!*data)
    return ff_fail(err, FF_ENOMEM, "oom");
  memcpy(*data, b->data, b->size);
  *size = b->size;
  return FF_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t json_len = nul ? (size_t)(nul - data) : size;
  struct blob shard = {nul ? nul + 1 : data + size, nul ? size - json_len - 1 : 0};
  struct weights w;
  struct ff_error err;
  if (weights_parse((const char *)data, json_len, read_blob, &shard, &w, &err) != FF_OK)
    return 0;
  /* a net taking tensors from whatever was decoded must fail cleanly too */
  struct tiny_net tiny;
  if (tiny_load(&w, &tiny, &err) == FF_OK)
    tiny_free(&tiny);
  weights_free(&w);
  return 0;
}
