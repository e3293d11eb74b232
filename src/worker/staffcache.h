/* staffcache.h — the site's staff faces, kept locally.
 *
 * GET SERVER/v1/worker/staff (worker key) answers
 *   {"site_id": N, "version": V, "staff": [{"id": N, "name": "...",
 *     "descriptors": [[128 numbers], ...]}, ...]}
 * The answer is validated strictly (staff_list_parse: bounded sizes,
 * positive ids, 128 finite numbers per descriptor; other members such as
 * "model" are ignored; names longer than STAFF_NAME_MAX - 1 bytes are cut
 * at a character boundary), then written to disk
 * atomically (atomic_file.h) and swapped in, so a worker starts with the
 * last good list even when the server is down. A refresh that fails leaves
 * the current list in place.
 *
 * Threads: staffcache_* functions may be called from any thread; the list
 * is swapped under a lock and matching holds that lock briefly.
 */
#ifndef FOOTFALL_WORKER_STAFFCACHE_H
#define FOOTFALL_WORKER_STAFFCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define STAFF_MAX_MEMBERS 10000
#define STAFF_MAX_DESCRIPTORS 256
#define STAFF_NAME_MAX 128
#define STAFF_MAX_BYTES (64 * 1024 * 1024)

struct staff_member {
  int64_t id;
  char name[STAFF_NAME_MAX];
  int descriptor_count;
  float (*descriptors)[128];
};

struct staff_list {
  int64_t site_id, version;
  struct staff_member *members;
  int count;
};

/* FF_EINVAL with a message for anything malformed; out is untouched then. */
int staff_list_parse(const char *json, size_t len, struct staff_list *out, struct ff_error *err);
void staff_list_free(struct staff_list *list);

struct staffcache;

/* Loads path when it exists (a broken file is reported and ignored). */
int staffcache_open(const char *path, struct staffcache **out, struct ff_error *err);
void staffcache_close(struct staffcache *sc);

/* Fetches, validates, stores and swaps in the server's list. */
int staffcache_refresh(struct staffcache *sc, const char *server_url, const char *api_key,
                       int timeout_ms, struct ff_error *err);

/* Nearest staff member under max_distance: returns 1 and fills id, name
 * (may be NULL) and distance; 0 when nobody is that close. */
int staffcache_match(struct staffcache *sc, const float descriptor[128], double max_distance,
                     int64_t *id, char name[STAFF_NAME_MAX], double *distance);

struct staffcache_info {
  int64_t site_id, version;
  int members, descriptors;
  int64_t refreshed_wall_ms; /* 0 = loaded from disk or never */
  int refresh_failures;
  char last_error[256];
};
void staffcache_get_info(struct staffcache *sc, struct staffcache_info *out);

#endif
