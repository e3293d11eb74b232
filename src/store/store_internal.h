/* store_internal.h — what store.c shares with its two backends. Not for use
 * outside src/store/ (the unit tests excepted). */
#ifndef FOOTFALL_STORE_INTERNAL_H
#define FOOTFALL_STORE_INTERNAL_H

#include "store.h"

/* Every entry point below receives keys and prefixes already checked. */
struct store_ops {
  int (*put)(struct store *store, const char *key, const void *data, size_t len,
             const char *content_type, struct ff_error *err);
  int (*get)(struct store *store, const char *key, size_t max_size, void **data, size_t *len,
             struct ff_error *err);
  int (*head)(struct store *store, const char *key, uint64_t *size, struct ff_error *err);
  int (*remove)(struct store *store, const char *key, struct ff_error *err);
  /* count <= STORE_DELETE_BATCH_MAX */
  int (*remove_many)(struct store *store, const char *const *keys, size_t count,
                     struct ff_error *err);
  int (*list)(struct store *store, const char *prefix, const char *token, unsigned page_size,
              struct store_page *page, struct ff_error *err);
  void (*close)(struct store *store);
};

struct s3_config {
  char *endpoint; /* scheme://host[:port], no trailing '/' */
  char *region;
  char *bucket;
  char *access_key;
  char *secret_key;
  long request_timeout_ms;
  long connect_timeout_ms;
};

struct store {
  enum store_backend backend;
  const struct store_ops *ops;
  unsigned list_page_size;
  void *impl; /* the backend's state, immutable after open unless it says otherwise */
};

int store_folder_open(struct store *store, const char *root, struct ff_error *err);
/* Takes ownership of cfg's strings, also on failure. */
int store_s3_open(struct store *store, struct s3_config *cfg, struct ff_error *err);

/* Appends a copy of key (len bytes) to page. */
int store_page_push(struct store_page *page, const char *key, size_t len, uint64_t size,
                    int64_t modified_ms);

/* prefix: "" or key characters, may end with '/'. */
int store_prefix_check(const char *prefix, struct ff_error *err);

#endif
