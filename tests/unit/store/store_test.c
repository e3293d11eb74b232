/* The object store's tests: one suite, run once per backend.
 *
 * FOOTFALL_STORE_BACKEND=folder (default): a fresh temporary folder per test.
 * FOOTFALL_STORE_BACKEND=s3: the bucket of the s3rver that the CTest fixture
 * started; its endpoint is in the file FOOTFALL_S3_ENDPOINT_FILE names. Tests
 * run in parallel processes, so each one works under its own random tenant
 * prefix "t/<random>/".
 */
#include "store.h"
#include "store_internal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define S3_ACCESS_KEY "S3RVER"
#define S3_SECRET_KEY "S3RVER"
#define MAX_GET (16u * 1024 * 1024)

static struct store *st;
static char tmp_dir[256];     /* folder backend: the test's temporary folder */
static char folder_root[300]; /* the store's root inside it */
static char s3_endpoint[128];
static char prefix[48]; /* "t/<random>/" */

static int is_s3(void) {
  const char *b = getenv("FOOTFALL_STORE_BACKEND");
  return b && !strcmp(b, "s3");
}

static const char *bucket(void) {
  const char *b = getenv("FOOTFALL_S3_BUCKET");
  return b && *b ? b : "footfall-test";
}

static void read_endpoint(void) {
  const char *path = getenv("FOOTFALL_S3_ENDPOINT_FILE");
  cr_assert(path && *path, "FOOTFALL_S3_ENDPOINT_FILE is not set (run through ctest)");
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot read %s: %s (did the s3 fixture start?)", path, strerror(errno));
  cr_assert(fgets(s3_endpoint, sizeof s3_endpoint, f), "empty endpoint file %s", path);
  fclose(f);
  s3_endpoint[strcspn(s3_endpoint, "\r\n")] = '\0';
}

/* Opens a store on this test's backend with the given page size and
 * secret (NULL: the right one). */
static int open_store(struct store **out, unsigned page_size, const char *access_key,
                      const char *secret, struct ff_error *err) {
  char url[512];
  struct store_options o = {.list_page_size = page_size, .request_timeout_ms = 60000};
  if (is_s3()) {
    snprintf(url, sizeof url, "s3://%s?endpoint=%s&region=us-east-1&path_style=1", bucket(),
             s3_endpoint);
    o.s3_access_key = access_key ? access_key : S3_ACCESS_KEY;
    o.s3_secret_key = secret ? secret : S3_SECRET_KEY;
  } else {
    snprintf(url, sizeof url, "file:%s", folder_root);
  }
  o.url = url;
  return store_open(out, &o, err);
}

static void setup(void) {
  if (is_s3()) {
    read_endpoint();
  } else {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/footfall-store-test-XXXXXX");
    cr_assert(mkdtemp(tmp_dir), "mkdtemp: %s", strerror(errno));
    snprintf(folder_root, sizeof folder_root, "%s/pictures/store", tmp_dir);
  }
  unsigned r;
  cr_assert(getrandom(&r, sizeof r, 0) == sizeof r);
  snprintf(prefix, sizeof prefix, "t/%u/", r % 1000000000u);
  struct ff_error err = {0};
  int rc = open_store(&st, 0, NULL, NULL, &err);
  cr_assert(rc == FF_OK, "store_open: %s", err.message);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  return remove(path);
}

static void leak_check(void) {
#if defined(__SANITIZE_ADDRESS__)
  /* Criterion ignores what LeakSanitizer prints when a test process exits,
   * and failed assertions in .fini, so a leak crashes the test here. */
  if (__lsan_do_recoverable_leak_check() != 0) {
    fprintf(stderr, "memory leaked (see LeakSanitizer above)\n");
    abort();
  }
#endif
}

static void teardown(void) {
  store_close(st);
  st = NULL;
  if (tmp_dir[0])
    nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  tmp_dir[0] = '\0';
  leak_check();
}

/* cr_skip_test ends the test without running .fini: clean up first. */
#define SKIP_UNLESS(condition, why)                                                                \
  do {                                                                                             \
    if (!(condition)) {                                                                            \
      teardown();                                                                                  \
      cr_skip_test(why);                                                                           \
    }                                                                                              \
  } while (0)

TestSuite(store, .init = setup, .fini = teardown);

/* prefix + name, in a static rotating buffer (enough for one statement). */
static const char *K(const char *name) {
  static char bufs[8][STORE_KEY_MAX + 64];
  static int next;
  char *b = bufs[next++ % 8];
  snprintf(b, sizeof bufs[0], "%s%s", prefix, name);
  return b;
}

static void put_ok(const char *key, const void *data, size_t len) {
  struct ff_error err = {0};
  int rc = store_put(st, key, data, len, "image/jpeg", &err);
  cr_assert(rc == FF_OK, "put %s: %s (%s)", key, ff_status_name(rc), err.message);
}

static void expect_content(const char *key, const void *data, size_t len) {
  struct ff_error err = {0};
  void *got = NULL;
  size_t got_len = 0;
  int rc = store_get(st, key, MAX_GET, &got, &got_len, &err);
  cr_assert(rc == FF_OK, "get %s: %s (%s)", key, ff_status_name(rc), err.message);
  cr_assert(got_len == len, "get %s: %zu bytes, expected %zu", key, got_len, len);
  cr_assert(memcmp(got, data, len) == 0, "get %s: content differs", key);
  free(got);
}

Test(store, put_get_overwrite) {
  put_ok(K("visits/2026/11/30/a.jpg"), "hello", 5);
  expect_content(K("visits/2026/11/30/a.jpg"), "hello", 5);
  uint64_t size = 0;
  cr_assert(store_head(st, K("visits/2026/11/30/a.jpg"), &size, NULL) == FF_OK);
  cr_assert(size == 5);

  put_ok(K("visits/2026/11/30/a.jpg"), "a longer picture", 16);
  expect_content(K("visits/2026/11/30/a.jpg"), "a longer picture", 16);
  put_ok(K("visits/2026/11/30/a.jpg"), "xy", 2);
  expect_content(K("visits/2026/11/30/a.jpg"), "xy", 2);
  cr_assert(store_head(st, K("visits/2026/11/30/a.jpg"), &size, NULL) == FF_OK);
  cr_assert(size == 2);
}

Test(store, binary_bytes_with_nuls_and_empty_objects) {
  size_t len = 300 * 1024;
  unsigned char *data = malloc(len);
  cr_assert(data);
  for (size_t i = 0; i < len; i++)
    data[i] = (unsigned char)(i % 7 == 0 ? 0 : (i * 131) >> 3);
  put_ok(K("bin/all-bytes"), data, len);
  expect_content(K("bin/all-bytes"), data, len);
  free(data);

  unsigned char every[256];
  for (int i = 0; i < 256; i++)
    every[i] = (unsigned char)i;
  put_ok(K("bin/every-byte"), every, sizeof every);
  expect_content(K("bin/every-byte"), every, sizeof every);

  put_ok(K("bin/empty"), "", 0);
  expect_content(K("bin/empty"), "", 0);
  uint64_t size = 99;
  cr_assert(store_head(st, K("bin/empty"), &size, NULL) == FF_OK);
  cr_assert(size == 0);
}

Test(store, missing_key_is_not_found) {
  struct ff_error err = {0};
  void *data = (void *)1;
  size_t len = 7;
  int rc = store_get(st, K("visits/none.jpg"), MAX_GET, &data, &len, &err);
  cr_assert(rc == FF_ENOTFOUND, "get: %s (%s)", ff_status_name(rc), err.message);
  cr_assert(err.status == FF_ENOTFOUND);
  cr_assert(data == NULL && len == 0);
  rc = store_head(st, K("visits/none.jpg"), NULL, &err);
  cr_assert(rc == FF_ENOTFOUND, "head: %s (%s)", ff_status_name(rc), err.message);

  /* A key that is only a prefix of others is not an object. */
  put_ok(K("dir/file.jpg"), "x", 1);
  cr_assert(store_get(st, K("dir"), MAX_GET, &data, &len, NULL) == FF_ENOTFOUND);
  cr_assert(store_head(st, K("dir"), NULL, NULL) == FF_ENOTFOUND);
}

Test(store, delete_is_idempotent) {
  put_ok(K("d/a.jpg"), "abc", 3);
  struct ff_error err = {0};
  cr_assert(store_delete(st, K("d/a.jpg"), &err) == FF_OK, "%s", err.message);
  cr_assert(store_head(st, K("d/a.jpg"), NULL, NULL) == FF_ENOTFOUND);
  cr_assert(store_delete(st, K("d/a.jpg"), &err) == FF_OK, "second delete: %s", err.message);
  cr_assert(store_delete(st, K("never/was.jpg"), &err) == FF_OK, "%s", err.message);

  /* Deleting one key leaves its neighbours alone, and the key can come back. */
  put_ok(K("d/b.jpg"), "b", 1);
  put_ok(K("d/c.jpg"), "c", 1);
  cr_assert(store_delete(st, K("d/b.jpg"), NULL) == FF_OK);
  expect_content(K("d/c.jpg"), "c", 1);
  put_ok(K("d/b.jpg"), "again", 5);
  expect_content(K("d/b.jpg"), "again", 5);
}

/* Lists all keys under p into a NULL-terminated array (caller frees). */
struct collected {
  char **keys;
  uint64_t *sizes;
  int64_t *modified;
  size_t count, pages;
};

static struct collected list_pages(struct store *s, const char *p) {
  struct collected c = {0};
  char *token = NULL;
  do {
    struct store_page page;
    struct ff_error err = {0};
    int rc = store_list(s, p, token, &page, &err);
    cr_assert(rc == FF_OK, "list '%s': %s (%s)", p, ff_status_name(rc), err.message);
    free(token);
    token = page.next_token;
    page.next_token = NULL;
    c.pages++;
    c.keys = realloc(c.keys, (c.count + page.count + 1) * sizeof *c.keys);
    c.sizes = realloc(c.sizes, (c.count + page.count + 1) * sizeof *c.sizes);
    c.modified = realloc(c.modified, (c.count + page.count + 1) * sizeof *c.modified);
    for (size_t i = 0; i < page.count; i++) {
      c.modified[c.count] = page.entries[i].modified_ms;
      c.keys[c.count] = strdup(page.entries[i].key);
      c.sizes[c.count++] = page.entries[i].size;
    }
    c.keys[c.count] = NULL;
    store_page_free(&page);
    cr_assert(c.pages < 10000, "listing does not end");
  } while (token);
  return c;
}

static void collected_free(struct collected *c) {
  for (size_t i = 0; i < c->count; i++)
    free(c->keys[i]);
  free(c->keys);
  free(c->sizes);
  free(c->modified);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t test_started_ms;

static int strcmp_ptr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists prefix + sub with page size `page_size` and checks the answer is
 * exactly the names (under prefix) starting with sub, in byte order. */
static void expect_listing(unsigned page_size, const char *const *names, size_t n, const char *sub,
                           size_t expected_pages) {
  char *want[16];
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (!strncmp(names[i], sub, strlen(sub)))
      want[w++] = strdup(K(names[i]));
  qsort(want, w, sizeof *want, strcmp_ptr);
  struct store *s;
  cr_assert(open_store(&s, page_size, NULL, NULL, NULL) == FF_OK);
  struct collected c = list_pages(s, K(sub));
  cr_assert(c.count == w, "'%s' (page size %u): %zu keys, expected %zu", sub, page_size, c.count,
            w);
  for (size_t i = 0; i < w; i++) {
    cr_assert_str_eq(c.keys[i], want[i], "'%s' (page size %u), key %zu", sub, page_size, i);
    /* Each object's content is its name, so its size is the name's length. */
    cr_assert(c.sizes[i] == strlen(want[i]) - strlen(prefix), "size of %s", want[i]);
    /* Written during this test (a few seconds of slack for clocks). */
    cr_assert(c.modified[i] > test_started_ms - 5000 && c.modified[i] < now_ms() + 5000,
              "modified time of %s: %lld, test started at %lld", want[i], (long long)c.modified[i],
              (long long)test_started_ms);
    free(want[i]);
  }
  if (expected_pages)
    cr_assert(c.pages == expected_pages, "'%s': %zu pages, expected %zu", sub, c.pages,
              expected_pages);
  collected_free(&c);
  store_close(s);
}

Test(store, list_by_prefix_and_nested_prefixes) {
  /* Put in scrambled order; listings come back in byte order, where '-'
   * sorts before '/' ("visits-archive/" before "visits/"). s3rver 4.0.4
   * lists in folder-walk order instead (and its continuation tokens then
   * skip keys), unlike S3 itself, so that one name is folder-only. */
  const char *names[] = {"visits/2026/12/01/c.jpg", "exemplars/x.jpg", "visits/2026/11/30/b.jpg",
                         "visits/2026/11/30/a.jpg", "visits0.jpg",     "visits/2026/11/3.jpg",
                         "visits-archive/y.jpg"};
  size_t n = sizeof names / sizeof names[0] - (is_s3() ? 1 : 0);
  test_started_ms = now_ms();
  for (size_t i = 0; i < n; i++)
    put_ok(K(names[i]), names[i], strlen(names[i]));

  const char *subs[] = {"",
                        "visits/",
                        "visits",
                        "visits/2026/11/",
                        "visits/2026/11/3",
                        "visits/2026/11/30/",
                        "exemplars/x.jpg",
                        "nothing/here/",
                        "v"};
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
    expect_listing(0, names, n, subs[i], 1);
  /* Small pages walk the same keys: 3 pages of 2, 7 of 1. */
  expect_listing(2, names, n, "", (n + 1) / 2);
  expect_listing(1, names, n, "", n);
  expect_listing(2, names, n, "visits/", 2);
}

struct bulk_put {
  size_t from, to;
  int failures;
  char message[FF_ERROR_MESSAGE_MAX];
};

static void *bulk_put_thread(void *arg) {
  struct bulk_put *b = arg;
  for (size_t i = b->from; i < b->to; i++) {
    char key[96], body[32];
    snprintf(key, sizeof key, "%sbulk/%05zu.jpg", prefix, i);
    int len = snprintf(body, sizeof body, "object %zu", i);
    struct ff_error err = {0};
    if (store_put(st, key, body, (size_t)len, "image/jpeg", &err) != FF_OK) {
      if (!b->failures++)
        snprintf(b->message, sizeof b->message, "%s", err.message);
    }
  }
  return NULL;
}

static int count_entry(void *ctx, const struct store_entry *e) {
  size_t *n = ctx;
  return ++*n == 5 ? FF_ECONFLICT : FF_OK; /* stop after 5 */
}

Test(store, list_pagination_over_a_thousand_keys, .timeout = 240) {
  enum { KEYS = 1100, THREADS = 4 };
  pthread_t threads[THREADS];
  struct bulk_put parts[THREADS];
  for (int t = 0; t < THREADS; t++) {
    parts[t] = (struct bulk_put){.from = (size_t)t * KEYS / THREADS,
                                 .to = (size_t)(t + 1) * KEYS / THREADS};
    cr_assert(pthread_create(&threads[t], NULL, bulk_put_thread, &parts[t]) == 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(threads[t], NULL);
    cr_assert(parts[t].failures == 0, "%d puts failed: %s", parts[t].failures, parts[t].message);
  }

  /* Default page size: S3's 1000, so two pages. */
  struct collected c = list_pages(st, K("bulk/"));
  cr_assert(c.count == KEYS, "%zu keys listed", c.count);
  cr_assert(c.pages == 2, "%zu pages", c.pages);
  for (size_t i = 0; i < KEYS; i++) {
    char want[96];
    snprintf(want, sizeof want, "%sbulk/%05zu.jpg", prefix, i);
    cr_assert_str_eq(c.keys[i], want);
  }
  collected_free(&c);

  /* A smaller page size: more pages, same keys, each exactly once. */
  struct store *small;
  cr_assert(open_store(&small, 300, NULL, NULL, NULL) == FF_OK);
  c = list_pages(small, K("bulk/"));
  cr_assert(c.count == KEYS && c.pages == 4, "%zu keys in %zu pages", c.count, c.pages);
  for (size_t i = 1; i < KEYS; i++)
    cr_assert(strcmp(c.keys[i - 1], c.keys[i]) < 0, "order at %zu", i);
  collected_free(&c);

  /* store_list_all stops when the callback says so, and passes its status on. */
  size_t seen = 0;
  cr_assert(store_list_all(small, K("bulk/"), count_entry, &seen, NULL) == FF_ECONFLICT);
  cr_assert(seen == 5);
  store_close(small);

  /* Batch delete across the 1000-key request limit. */
  char **keys = malloc(KEYS * sizeof *keys);
  for (size_t i = 0; i < KEYS; i++) {
    keys[i] = malloc(96);
    snprintf(keys[i], 96, "%sbulk/%05zu.jpg", prefix, i);
  }
  struct ff_error err = {0};
  int rc = store_delete_many(st, (const char *const *)keys, KEYS, &err);
  cr_assert(rc == FF_OK, "delete_many: %s (%s)", ff_status_name(rc), err.message);
  for (size_t i = 0; i < KEYS; i++)
    free(keys[i]);
  free(keys);
  c = list_pages(st, K("bulk/"));
  cr_assert(c.count == 0, "%zu keys left after delete_many", c.count);
  collected_free(&c);
}

Test(store, delete_many_checks_every_key_first) {
  put_ok(K("m/a.jpg"), "a", 1);
  put_ok(K("m/b.jpg"), "b", 1);
  const char *with_bad[] = {K("m/a.jpg"), "../escape", K("m/b.jpg")};
  cr_assert(store_delete_many(st, with_bad, 3, NULL) == FF_EINVAL);
  expect_content(K("m/a.jpg"), "a", 1);
  expect_content(K("m/b.jpg"), "b", 1);

  const char *good[] = {K("m/a.jpg"), K("m/missing.jpg"), K("m/b.jpg")};
  struct ff_error err = {0};
  cr_assert(store_delete_many(st, good, 3, &err) == FF_OK, "%s", err.message);
  cr_assert(store_head(st, K("m/a.jpg"), NULL, NULL) == FF_ENOTFOUND);
  cr_assert(store_head(st, K("m/b.jpg"), NULL, NULL) == FF_ENOTFOUND);
  cr_assert(store_delete_many(st, good, 0, NULL) == FF_OK);
}

/* Every key the whole store holds must be under "t/<tenant>/": a hostile
 * key that slipped through would show up elsewhere (at the bucket root,
 * or, for the folder, outside it). */
static int outside_tenant(void *ctx, const struct store_entry *e) {
  return strncmp(e->key, "t/", 2) != 0 ? ff_fail(ctx, FF_EINTERNAL, "stray key '%s'", e->key)
                                       : FF_OK;
}

Test(store, hostile_keys_are_refused_without_touching_the_store) {
  char overlong[STORE_KEY_MAX + 2];
  memset(overlong, 'a', sizeof overlong - 1);
  overlong[sizeof overlong - 1] = '\0';
  for (size_t i = 50; i < sizeof overlong - 1; i += 50)
    overlong[i] = '/';
  char long_part[260];
  snprintf(long_part, sizeof long_part, "t/1/%0250d", 7);
  const char *hostile[] = {
      "../x",     "t/1/../../x", "t/1/..",       "/etc/passwd", "/x",       "",
      "t//x",     "t/1/",        ".hidden",      "t/1/.tmp.x",  "t/1/./x",  "t/1/a b",
      "t/1/a\nb", "t/1/a\rb",    "t/1/\x01x",    "t/1/\x7f",    "t/1/a\\b", "t/1/a%2Fb",
      "t/1/a?b",  "t/1/a#b",     "t/1/\xc3\xa9", "t/1/a:b",     overlong,   long_part,
      "t/1/a&b"};
  size_t n = sizeof hostile / sizeof hostile[0];
  for (size_t i = 0; i < n; i++) {
    const char *key = hostile[i];
    struct ff_error err = {0};
    void *data = NULL;
    size_t len = 0;
    cr_assert(store_put(st, key, "evil", 4, NULL, &err) == FF_EINVAL, "put accepted hostile #%zu",
              i);
    cr_assert(err.status == FF_EINVAL && err.message[0], "no message for hostile #%zu", i);
    cr_assert(store_get(st, key, MAX_GET, &data, &len, NULL) == FF_EINVAL, "get #%zu", i);
    cr_assert(store_head(st, key, NULL, NULL) == FF_EINVAL, "head #%zu", i);
    cr_assert(store_delete(st, key, NULL) == FF_EINVAL, "delete #%zu", i);
  }
  cr_assert(store_put(st, NULL, "x", 1, NULL, NULL) == FF_EINVAL);
  /* A content type cannot smuggle in a header. */
  cr_assert(store_put(st, K("ok.jpg"), "x", 1, "image/jpeg\r\nX-Evil: 1", NULL) == FF_EINVAL);
  cr_assert(store_head(st, K("ok.jpg"), NULL, NULL) == FF_ENOTFOUND);

  /* Keys given with a length may carry a NUL; it is refused. */
  struct ff_error err = {0};
  cr_assert(store_key_check("t/1/a\0b.jpg", 11, &err) == FF_EINVAL);
  cr_assert(strstr(err.message, "NUL"), "%s", err.message);
  cr_assert(store_key_check("t/1/ab.jpg", 10, NULL) == FF_OK);
  cr_assert(store_key_check(overlong, STORE_KEY_MAX, NULL) == FF_OK, "512 bytes are allowed");

  /* Prefixes and tokens are checked too. */
  struct store_page page;
  cr_assert(store_list(st, "../", NULL, &page, NULL) == FF_EINVAL);
  cr_assert(page.count == 0 && page.entries == NULL);
  cr_assert(store_list(st, "/t", NULL, &page, NULL) == FF_EINVAL);
  cr_assert(store_list(st, "t/../", NULL, &page, NULL) == FF_EINVAL);
  cr_assert(store_list(st, prefix, "bad token", &page, NULL) == FF_EINVAL);

  /* Nothing reached the store. */
  if (is_s3()) {
    cr_assert(store_list_all(st, "", outside_tenant, &err, NULL) == FF_OK, "%s", err.message);
  } else {
    int entries = 0;
    char root_parent[300];
    snprintf(root_parent, sizeof root_parent, "%s/pictures", tmp_dir);
    for (const char *dir_path = folder_root; dir_path;
         dir_path = dir_path == folder_root ? root_parent : NULL) {
      DIR *dir = opendir(dir_path);
      cr_assert(dir);
      struct dirent *de;
      while ((de = readdir(dir)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "store"))
          entries++;
      closedir(dir);
    }
    cr_assert(entries == 0, "%d entries appeared in the folder", entries);
  }
}

Test(store, get_honours_max_size) {
  size_t len = 1000;
  unsigned char *data = calloc(1, len);
  put_ok(K("big.jpg"), data, len);
  void *got = (void *)1;
  size_t got_len = 1;
  struct ff_error err = {0};
  int rc = store_get(st, K("big.jpg"), len - 1, &got, &got_len, &err);
  cr_assert(rc == FF_ETOOBIG, "%s (%s)", ff_status_name(rc), err.message);
  cr_assert(got == NULL && got_len == 0);
  cr_assert(store_get(st, K("big.jpg"), len, &got, &got_len, NULL) == FF_OK);
  cr_assert(got_len == len);
  free(got);
  free(data);

  /* A large object is cut off early, and the store stays usable. */
  len = 4 * 1024 * 1024;
  data = malloc(len);
  memset(data, 0xab, len);
  put_ok(K("huge.jpg"), data, len);
  rc = store_get(st, K("huge.jpg"), 64 * 1024, &got, &got_len, &err);
  cr_assert(rc == FF_ETOOBIG, "%s (%s)", ff_status_name(rc), err.message);
  expect_content(K("huge.jpg"), data, len);
  free(data);

  put_ok(K("empty.jpg"), "", 0);
  cr_assert(store_get(st, K("empty.jpg"), 0, &got, &got_len, NULL) == FF_OK);
  cr_assert(got_len == 0);
  free(got);
}

enum { WORKERS = 8, ROUNDS = 25 };

struct worker {
  int id;
  int failures;
  char message[FF_ERROR_MESSAGE_MAX];
};

static void *worker_thread(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < ROUNDS; i++) {
    char key[96], body[128];
    snprintf(key, sizeof key, "%sconcurrent/w%d/%d.jpg", prefix, w->id, i % 5);
    int len = snprintf(body, sizeof body, "worker %d round %d %0*d", w->id, i, 40 + i, i);
    struct ff_error err = {0};
    void *got = NULL;
    size_t got_len = 0;
    int rc = store_put(st, key, body, (size_t)len, "image/jpeg", &err);
    if (rc == FF_OK)
      rc = store_get(st, key, MAX_GET, &got, &got_len, &err);
    if (rc == FF_OK && (got_len != (size_t)len || memcmp(got, body, got_len) != 0))
      rc = ff_fail(&err, FF_EINTERNAL, "%s: read back something else", key);
    free(got);
    /* Everybody also reads the shared object. */
    if (rc == FF_OK)
      rc = store_get(st, K("concurrent/shared.jpg"), MAX_GET, &got, &got_len, &err);
    if (rc == FF_OK && (got_len != 6 || memcmp(got, "shared", 6) != 0))
      rc = ff_fail(&err, FF_EINTERNAL, "shared object differs");
    if (rc == FF_OK)
      free(got);
    if (rc != FF_OK && !w->failures++)
      snprintf(w->message, sizeof w->message, "%s", err.message);
  }
  return NULL;
}

Test(store, concurrent_puts_and_gets_on_one_handle, .timeout = 120) {
  put_ok(K("concurrent/shared.jpg"), "shared", 6);
  pthread_t threads[WORKERS];
  struct worker workers[WORKERS];
  for (int t = 0; t < WORKERS; t++) {
    workers[t] = (struct worker){.id = t};
    cr_assert(pthread_create(&threads[t], NULL, worker_thread, &workers[t]) == 0);
  }
  for (int t = 0; t < WORKERS; t++) {
    pthread_join(threads[t], NULL);
    cr_assert(workers[t].failures == 0, "worker %d: %d failures, first: %s", t, workers[t].failures,
              workers[t].message);
  }
  struct collected c = list_pages(st, K("concurrent/"));
  cr_assert(c.count == WORKERS * 5 + 1, "%zu keys", c.count);
  collected_free(&c);
}

Test(store, s3_wrong_secret_is_refused) {
  SKIP_UNLESS(is_s3(), "S3 only");
  struct store *bad;
  struct ff_error err = {0};
  cr_assert(open_store(&bad, 0, NULL, "not-the-secret", &err) == FF_OK, "%s", err.message);
  int rc = store_put(bad, K("auth/x.jpg"), "x", 1, NULL, &err);
  cr_assert(rc == FF_EAUTH, "put with a wrong secret: %s (%s)", ff_status_name(rc), err.message);
  cr_assert(strstr(err.message, "403") && strstr(err.message, "SignatureDoesNotMatch"),
            "message: %s", err.message);
  /* Nothing was written. */
  cr_assert(store_head(st, K("auth/x.jpg"), NULL, NULL) == FF_ENOTFOUND);

  /* Reads are refused too, not mistaken for "not found". */
  put_ok(K("auth/y.jpg"), "y", 1);
  void *data = NULL;
  size_t len = 0;
  rc = store_get(bad, K("auth/y.jpg"), MAX_GET, &data, &len, &err);
  cr_assert(rc == FF_EAUTH, "get: %s (%s)", ff_status_name(rc), err.message);
  rc = store_head(bad, K("auth/y.jpg"), NULL, &err);
  cr_assert(rc == FF_EAUTH, "head: %s (%s)", ff_status_name(rc), err.message);
  struct store_page page;
  rc = store_list(bad, prefix, NULL, &page, &err);
  cr_assert(rc == FF_EAUTH, "list: %s (%s)", ff_status_name(rc), err.message);
  rc = store_delete(bad, K("auth/y.jpg"), &err);
  cr_assert(rc == FF_EAUTH, "delete: %s (%s)", ff_status_name(rc), err.message);
  expect_content(K("auth/y.jpg"), "y", 1);
  store_close(bad);

  /* An unknown access key likewise. */
  cr_assert(open_store(&bad, 0, "NOBODY", NULL, &err) == FF_OK);
  rc = store_put(bad, K("auth/z.jpg"), "z", 1, NULL, &err);
  cr_assert(rc == FF_EAUTH, "unknown key: %s (%s)", ff_status_name(rc), err.message);
  cr_assert(strstr(err.message, "InvalidAccessKeyId"), "message: %s", err.message);
  store_close(bad);

  /* The right credentials work (so the refusals above were about them). */
  put_ok(K("auth/z.jpg"), "z", 1);
  expect_content(K("auth/z.jpg"), "z", 1);
}

Test(store, s3_unreachable_endpoint_is_an_io_error) {
  SKIP_UNLESS(is_s3(), "S3 only");
  struct store *down;
  struct store_options o = {.url = "s3://footfall-test?endpoint=http://127.0.0.1:1&path_style=1",
                            .s3_access_key = S3_ACCESS_KEY,
                            .s3_secret_key = S3_SECRET_KEY,
                            .connect_timeout_ms = 2000};
  struct ff_error err = {0};
  cr_assert(store_open(&down, &o, &err) == FF_OK, "%s", err.message);
  int rc = store_put(down, K("x.jpg"), "x", 1, NULL, &err);
  cr_assert(rc == FF_EIO, "%s (%s)", ff_status_name(rc), err.message);
  cr_assert(strstr(err.message, "S3 PUT"), "%s", err.message);
  store_close(down);
}

static int count_temp_files(const char *root) {
  int found = 0;
  char path[1024];
  DIR *dir = opendir(root);
  if (!dir)
    return 0;
  struct dirent *de;
  while ((de = readdir(dir))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
      continue;
    if (!strncmp(de->d_name, ".tmp", 4))
      found++;
    snprintf(path, sizeof path, "%s/%s", root, de->d_name);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
      found += count_temp_files(path);
  }
  closedir(dir);
  return found;
}

Test(store, folder_failed_put_leaves_no_temporary_file) {
  SKIP_UNLESS(!is_s3(), "folder only");
  struct ff_error err = {0};

  /* The rename fails: a folder stands where the file should go. */
  put_ok(K("clash/below/x.jpg"), "x", 1);
  int rc = store_put(st, K("clash/below"), "data", 4, NULL, &err);
  cr_assert(rc == FF_ECONFLICT, "%s (%s)", ff_status_name(rc), err.message);
  cr_assert(count_temp_files(folder_root) == 0, "a temporary file was left behind");

  /* The write fails half-way (file size limit): the old object survives. */
  put_ok(K("full/a.jpg"), "old", 3);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
  cr_assert(setrlimit(RLIMIT_FSIZE, &small) == 0);
  size_t len = 64 * 1024;
  char *big = calloc(1, len);
  rc = store_put(st, K("full/a.jpg"), big, len, NULL, &err);
  struct rlimit unlimited = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};
  setrlimit(RLIMIT_FSIZE, &unlimited);
  free(big);
  cr_assert(rc == FF_EIO, "%s (%s)", ff_status_name(rc), err.message);
  cr_assert(strstr(err.message, "full/a.jpg"), "%s", err.message);
  cr_assert(count_temp_files(folder_root) == 0, "a temporary file was left behind");
  expect_content(K("full/a.jpg"), "old", 3);

  /* A file where a folder belongs. */
  put_ok(K("file"), "f", 1);
  rc = store_put(st, K("file/inside.jpg"), "x", 1, NULL, &err);
  cr_assert(rc == FF_ECONFLICT, "%s (%s)", ff_status_name(rc), err.message);
  cr_assert(count_temp_files(folder_root) == 0);
}

Test(store, folder_delete_prunes_empty_folders) {
  SKIP_UNLESS(!is_s3(), "folder only");
  put_ok(K("visits/2026/11/30/a.jpg"), "a", 1);
  put_ok(K("visits/2026/11/29/b.jpg"), "b", 1);
  cr_assert(store_delete(st, K("visits/2026/11/30/a.jpg"), NULL) == FF_OK);
  char path[600];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%svisits/2026/11/30", folder_root, prefix);
  cr_assert(stat(path, &sb) != 0, "empty folder %s kept", path);
  snprintf(path, sizeof path, "%s/%svisits/2026/11/29", folder_root, prefix);
  cr_assert(stat(path, &sb) == 0, "non-empty folder removed");
  cr_assert(stat(folder_root, &sb) == 0, "the root itself must stay");
}

/* ---- backend-independent: opening, configuration, timeouts ---- */

TestSuite(store_open, .fini = leak_check);

Test(store_open, s3_request_timeout) {
  /* A listener that never accepts: the connection completes (backlog), the
   * request goes out, no answer ever comes. */
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0);
  cr_assert(listen(listener, 4) == 0);
  socklen_t addr_len = sizeof addr;
  cr_assert(getsockname(listener, (struct sockaddr *)&addr, &addr_len) == 0);
  char endpoint[64];
  snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", ntohs(addr.sin_port));
  struct store_options o = {.url = "s3://footfall-test",
                            .s3_endpoint = endpoint,
                            .s3_access_key = "k",
                            .s3_secret_key = "s",
                            .request_timeout_ms = 300};
  struct store *s;
  struct ff_error err = {0};
  cr_assert(store_open(&s, &o, &err) == FF_OK, "%s", err.message);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = store_put(s, "t/1/x.jpg", "x", 1, NULL, &err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  cr_assert(rc == FF_ETIMEOUT, "%s (%s)", ff_status_name(rc), err.message);
  double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  cr_assert(seconds < 5, "took %.1f s: the timeout was retried or ignored", seconds);
  store_close(s);
  close(listener);
}

Test(store_open, url_forms_and_bad_options) {
  struct store *s = NULL;
  struct ff_error err = {0};
  char dir[] = "/tmp/footfall-store-open-XXXXXX";
  cr_assert(mkdtemp(dir));
  char url[128];

  struct store_options o = {.url = dir};
  cr_assert(store_open(&s, &o, &err) == FF_OK, "plain path: %s", err.message);
  cr_assert(store_backend(s) == STORE_FOLDER);
  store_close(s);
  snprintf(url, sizeof url, "file:%s/a", dir);
  o.url = url;
  cr_assert(store_open(&s, &o, &err) == FF_OK, "file: %s", err.message);
  store_close(s);
  snprintf(url, sizeof url, "file://%s/b", dir);
  cr_assert(store_open(&s, &o, &err) == FF_OK, "file://: %s", err.message);
  store_close(s);

  struct {
    const char *url;
    int status;
  } bad[] = {
      {"", FF_EINVAL},
      {"ftp://host/x", FF_EUNSUPPORTED},
      {"file://relative", FF_EINVAL},
      {"s3://Bad_Bucket?endpoint=http://127.0.0.1:9", FF_EINVAL},
      {"s3://ab", FF_EINVAL},
      {"s3://bucket/some/path", FF_EINVAL},
      {"s3://bucket?path_style=0", FF_EUNSUPPORTED},
      {"s3://bucket?colour=blue", FF_EINVAL},
      {"s3://bucket?endpoint=ftp://x", FF_EINVAL},
      {"s3://bucket?endpoint=http://h/path", FF_EINVAL},
      {"s3://bucket?endpoint=http%3A%2F%2Fh%00", FF_EINVAL},
      {"s3://bucket?region=us east", FF_EINVAL},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct store_options b = {.url = bad[i].url, .s3_access_key = "k", .s3_secret_key = "s"};
    s = (struct store *)1;
    int rc = store_open(&s, &b, &err);
    cr_assert(rc == bad[i].status, "'%s': %s (%s)", bad[i].url, ff_status_name(rc), err.message);
    cr_assert(s == NULL);
  }
  struct store_options none = {0};
  cr_assert(store_open(&s, &none, NULL) == FF_EINVAL);

  struct store_options nocred = {.url = "s3://bucket?endpoint=http://127.0.0.1:9"};
  cr_assert(store_open(&s, &nocred, &err) == FF_EAUTH, "%s", err.message);

  struct store_options page = {.url = dir, .list_page_size = 1001};
  cr_assert(store_open(&s, &page, NULL) == FF_EINVAL);

  /* Separate options override the URL's; %-encoded values are decoded. */
  struct store_options sep = {
      .url = "s3://my-bucket?endpoint=http%3A%2F%2F127.0.0.1%3A9&region=eu-west-1",
      .s3_endpoint = "http://127.0.0.1:10/",
      .s3_access_key = "k",
      .s3_secret_key = "s"};
  cr_assert(store_open(&s, &sep, &err) == FF_OK, "%s", err.message);
  cr_assert(store_backend(s) == STORE_S3);
  store_close(s);
  sep.s3_endpoint = NULL;
  cr_assert(store_open(&s, &sep, &err) == FF_OK, "%s", err.message);
  store_close(s);

  /* The bucket as an option; the URL may then omit it. */
  struct store_options by_option = {.url = "s3://?endpoint=http://127.0.0.1:9",
                                    .s3_bucket = "my-bucket",
                                    .s3_access_key = "k",
                                    .s3_secret_key = "s"};
  cr_assert(store_open(&s, &by_option, &err) == FF_OK, "%s", err.message);
  store_close(s);
  by_option.url = "s3://?endpoint=http://127.0.0.1:9";
  by_option.s3_bucket = "Not_Valid";
  cr_assert(store_open(&s, &by_option, &err) == FF_EINVAL);
  by_option.s3_bucket = NULL;
  cr_assert(store_open(&s, &by_option, &err) == FF_EINVAL, "no bucket at all");
  nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
