/* store.h — the object store: where pictures live, a folder or an S3 bucket.
 *
 * Promises:
 * - One interface, two backends chosen by URL (store_open): a local folder
 *   (`file:PATH` or a plain path; the default) and an S3-compatible bucket
 *   (`s3://BUCKET?endpoint=...&region=...&path_style=1`, SigV4 via libcurl,
 *   path-style addressing). Callers never know which one they hold.
 * - Keys are checked before anything touches the store (store_key_check):
 *   1..STORE_KEY_MAX bytes of [A-Za-z0-9._-] in '/'-separated segments; no
 *   leading or trailing '/', no empty segment, no segment starting with '.'
 *   (so no `.` or `..`), no control characters or NUL. Callers prefix keys by
 *   tenant: `t/<tenant id>/visits/2026/11/30/<uuid>.jpg`.
 * - store_put replaces the whole object or leaves the old one: in the folder
 *   it writes a temporary file, fsyncs it, renames it over the key and fsyncs
 *   the folder; a failed put leaves no temporary file behind.
 * - store_get returns FF_ENOTFOUND for a missing key and FF_ETOOBIG (reading
 *   at most max_size + 1 bytes) for an object larger than max_size.
 * - store_delete of a missing key succeeds.
 * - store_list returns keys in byte order, page by page; the page's
 *   next_token (NULL on the last page) continues the listing.
 * - A struct store is used by any number of threads at once. The S3 backend
 *   keeps a small pool of curl handles (and so their connections).
 * Ownership: buffers and pages returned are the caller's, freed with free()
 *   and store_page_free(). Strings passed in are copied or used only during
 *   the call.
 * Failure: FF_OK or a negative FF_E* (status.h), `err` (may be NULL) filled
 *   with what failed: for S3 the HTTP status and S3's error code and message.
 *   FF_EINVAL bad key or option; FF_ENOTFOUND missing object or bucket;
 *   FF_EAUTH credentials refused (wrong key or secret, bad signature);
 *   FF_EFORBIDDEN access denied; FF_ETIMEOUT a request timed out; FF_EBUSY
 *   the service asks to slow down; FF_ECONFLICT the folder has a directory
 *   where the key's file belongs (or a file where a directory belongs);
 *   FF_EIO anything else from the disk or the network.
 * Nothing in this module logs.
 */
#ifndef FOOTFALL_STORE_H
#define FOOTFALL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Longest key accepted, in bytes (S3 allows 1024; file names 255 a part). */
#define STORE_KEY_MAX 512
/* S3 ListObjectsV2 answers at most this many keys a page. */
#define STORE_LIST_PAGE_MAX 1000
/* S3 DeleteObjects takes at most this many keys a request. */
#define STORE_DELETE_BATCH_MAX 1000

struct store;

struct store_options {
  /* "file:PATH", "PATH", or "s3://BUCKET[?endpoint=URL&region=R&path_style=1]"
   * (query values may be %-encoded). Required. */
  const char *url;
  /* S3 settings; each one given here overrides the URL's. */
  const char *s3_bucket;     /* then the URL may be just "s3://" */
  const char *s3_endpoint;   /* "http://127.0.0.1:9000"; default https://s3.REGION.amazonaws.com */
  const char *s3_region;     /* default "us-east-1" */
  const char *s3_access_key; /* required for S3 */
  const char *s3_secret_key; /* required for S3 */
  long request_timeout_ms;   /* whole request; 0 means 30000 */
  long connect_timeout_ms;   /* 0 means 5000 */
  unsigned list_page_size;   /* keys per store_list page, 1..1000; 0 means 1000 */
};

enum store_backend { STORE_FOLDER, STORE_S3 };

struct store_entry {
  char *key;
  uint64_t size;
  int64_t modified_ms; /* last written, ms since the Unix epoch (UTC); 0 if unknown */
};

struct store_page {
  struct store_entry *entries;
  size_t count;
  char *next_token; /* NULL when this was the last page */
};

/* Opens a store. The folder backend creates the folder if missing; the S3
 * backend does not contact the service (the first request does). */
int store_open(struct store **out, const struct store_options *options, struct ff_error *err);
void store_close(struct store *store);
enum store_backend store_backend(const struct store *store);

/* FF_OK when `key` (len bytes, need not be NUL-terminated) is a valid key,
 * FF_EINVAL with the reason otherwise. Every operation below calls it. */
int store_key_check(const char *key, size_t len, struct ff_error *err);

/* Stores len bytes under key, replacing any object there. content_type may be
 * NULL ("application/octet-stream"); at most 200 bytes, no control
 * characters. S3 keeps it; the folder backend does not. */
int store_put(struct store *store, const char *key, const void *data, size_t len,
              const char *content_type, struct ff_error *err);

/* Reads the object into a malloc'd buffer (*data, *len; freed by the caller,
 * NUL-terminated one byte past *len for convenience). */
int store_get(struct store *store, const char *key, size_t max_size, void **data, size_t *len,
              struct ff_error *err);

/* FF_OK and the object's size (size may be NULL), or FF_ENOTFOUND. */
int store_head(struct store *store, const char *key, uint64_t *size, struct ff_error *err);

/* Removes the object; FF_OK also when it was not there. */
int store_delete(struct store *store, const char *key, struct ff_error *err);

/* Removes up to any number of objects (S3: 1000 a request). All keys are
 * checked first; an invalid one fails the call before anything is removed.
 * On a partial failure the first failed key is named in err. */
int store_delete_many(struct store *store, const char *const *keys, size_t count,
                      struct ff_error *err);

/* One page of keys starting with `prefix` (NULL or "" for all; the same
 * characters as keys, and it may end with '/'), after `token` (NULL for the
 * first page, else a previous page's next_token). The page is the caller's
 * even on failure (then empty); free it with store_page_free. */
int store_list(struct store *store, const char *prefix, const char *token, struct store_page *page,
               struct ff_error *err);
void store_page_free(struct store_page *page);

/* Calls fn for every key under prefix, in order, page by page. fn returns
 * FF_OK to go on or anything else to stop (which store_list_all returns). */
typedef int (*store_list_fn)(void *ctx, const struct store_entry *entry);
int store_list_all(struct store *store, const char *prefix, store_list_fn fn, void *ctx,
                   struct ff_error *err);

#endif
