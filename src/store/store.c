/* store.c — the store's front door: URL parsing, key rules, dispatch to the
 * folder or S3 backend. */
#include "store_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A segment becomes a file name, and the folder backend's temporary file
 * adds a few bytes to it: stay well under NAME_MAX (255). */
#define STORE_SEGMENT_MAX 200
/* S3 continuation tokens are opaque but short; refuse anything absurd. */
#define STORE_TOKEN_MAX 4096

#define CONTENT_TYPE_MAX 200

#define DEFAULT_REQUEST_TIMEOUT_MS 30000
#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_REGION "us-east-1"

static int key_char_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-' || c == '/';
}

/* Shared by keys and prefixes: a prefix may end with '/' or in the middle of
 * a segment, a key may not end with '/'. */
static int check_path(const char *what, const char *s, size_t len, int is_prefix,
                      struct ff_error *err) {
  if (len > STORE_KEY_MAX)
    return ff_fail(err, FF_EINVAL, "%s is longer than %d bytes", what, STORE_KEY_MAX);
  if (len == 0)
    return is_prefix ? FF_OK : ff_fail(err, FF_EINVAL, "%s is empty", what);
  if (s[0] == '/')
    return ff_fail(err, FF_EINVAL, "%s starts with '/'", what);
  size_t segment_start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\0')
      return ff_fail(err, FF_EINVAL, "%s contains a NUL byte at %zu", what, i);
    if (c < 0x20 || c == 0x7f)
      return ff_fail(err, FF_EINVAL, "%s contains control character 0x%02x at %zu", what, c, i);
    if (!key_char_ok(c))
      return ff_fail(err, FF_EINVAL, "%s contains '%c' at %zu (allowed: A-Z a-z 0-9 . _ - /)", what,
                     c, i);
    if (i == segment_start && c == '.')
      return ff_fail(err, FF_EINVAL, "%s has a part starting with '.' at %zu", what, i);
    if (c == '/') {
      if (i == segment_start)
        return ff_fail(err, FF_EINVAL, "%s has an empty part at %zu", what, i);
      segment_start = i + 1;
    } else if (i - segment_start + 1 > STORE_SEGMENT_MAX) {
      return ff_fail(err, FF_EINVAL, "%s has a part longer than %d bytes", what, STORE_SEGMENT_MAX);
    }
  }
  if (!is_prefix && s[len - 1] == '/')
    return ff_fail(err, FF_EINVAL, "%s ends with '/'", what);
  return FF_OK;
}

int store_key_check(const char *key, size_t len, struct ff_error *err) {
  if (!key)
    return ff_fail(err, FF_EINVAL, "key is missing");
  return check_path("key", key, len, 0, err);
}

int store_prefix_check(const char *prefix, struct ff_error *err) {
  return check_path("prefix", prefix, strnlen(prefix, STORE_KEY_MAX + 1), 1, err);
}

/* Keys arrive as C strings here; strnlen keeps an unterminated monster from
 * being walked further than the limit. */
static int check_key_string(const char *key, struct ff_error *err) {
  if (!key)
    return ff_fail(err, FF_EINVAL, "key is missing");
  return store_key_check(key, strnlen(key, STORE_KEY_MAX + 1), err);
}

int store_page_push(struct store_page *page, const char *key, size_t len, uint64_t size,
                    int64_t modified_ms) {
  /* Capacity is implied by count: 16, then doubling whenever count reaches a
   * power of two from 16 on. */
  size_t n = page->count;
  if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) {
    size_t cap = n == 0 ? 16 : n * 2;
    struct store_entry *grown = realloc(page->entries, cap * sizeof *grown);
    if (!grown)
      return FF_ENOMEM;
    page->entries = grown;
  }
  char *copy = malloc(len + 1);
  if (!copy)
    return FF_ENOMEM;
  memcpy(copy, key, len);
  copy[len] = '\0';
  page->entries[n].key = copy;
  page->entries[n].size = size;
  page->entries[n].modified_ms = modified_ms;
  page->count = n + 1;
  return FF_OK;
}

void store_page_free(struct store_page *page) {
  if (!page)
    return;
  for (size_t i = 0; i < page->count; i++)
    free(page->entries[i].key);
  free(page->entries);
  free(page->next_token);
  memset(page, 0, sizeof *page);
}

/* ---- URL parsing ---- */

static int hex_value(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* A malloc'd, %-decoded copy of s[0..len); NULL on bad encoding (or an
 * encoded NUL) or when out of memory. */
static char *percent_decode(const char *s, size_t len) {
  char *out = malloc(len + 1);
  if (!out)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] != '%') {
      out[o++] = s[i];
      continue;
    }
    int hi = i + 1 < len ? hex_value((unsigned char)s[i + 1]) : -1;
    int lo = i + 2 < len ? hex_value((unsigned char)s[i + 2]) : -1;
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
      free(out);
      return NULL;
    }
    out[o++] = (char)(hi * 16 + lo);
    i += 2;
  }
  out[o] = '\0';
  return out;
}

static int bucket_name_ok(const char *b, size_t len) {
  if (len < 3 || len > 63)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char c = b[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return 0;
  }
  return b[0] != '-' && b[0] != '.' && b[len - 1] != '-' && b[len - 1] != '.';
}

static int replace_string(char **slot, const char *value) {
  char *copy = strdup(value);
  if (!copy)
    return FF_ENOMEM;
  free(*slot);
  *slot = copy;
  return FF_OK;
}

static void s3_config_free(struct s3_config *cfg) {
  free(cfg->endpoint);
  free(cfg->region);
  free(cfg->bucket);
  free(cfg->access_key);
  if (cfg->secret_key) {
    memset(cfg->secret_key, 0, strlen(cfg->secret_key));
    free(cfg->secret_key);
  }
  memset(cfg, 0, sizeof *cfg);
}

static int parse_s3_query(struct s3_config *cfg, const char *q, struct ff_error *err) {
  while (*q) {
    size_t len = strcspn(q, "&");
    const char *eq = memchr(q, '=', len);
    size_t name_len = eq ? (size_t)(eq - q) : len;
    char *value = eq ? percent_decode(eq + 1, len - name_len - 1) : strdup("");
    if (!value)
      return ff_fail(err, FF_EINVAL, "store URL: bad %%-encoding in '%.*s'", (int)len, q);
    int rc = FF_OK;
    if (name_len == 8 && !memcmp(q, "endpoint", 8)) {
      rc = replace_string(&cfg->endpoint, value);
    } else if (name_len == 6 && !memcmp(q, "region", 6)) {
      rc = replace_string(&cfg->region, value);
    } else if (name_len == 10 && !memcmp(q, "path_style", 10)) {
      if (strcmp(value, "1") != 0 && strcmp(value, "true") != 0)
        rc = ff_fail(err, FF_EUNSUPPORTED,
                     "store URL: only path-style addressing is supported (path_style=1)");
    } else {
      rc = ff_fail(err, FF_EINVAL, "store URL: unknown option '%.*s'", (int)name_len, q);
    }
    free(value);
    if (rc == FF_ENOMEM)
      return ff_fail(err, FF_ENOMEM, "out of memory");
    if (rc != FF_OK)
      return rc;
    q += len;
    if (*q == '&')
      q++;
  }
  return FF_OK;
}

/* scheme://host[:port] with nothing after but an optional '/'. */
static int endpoint_check(char *endpoint, struct ff_error *err) {
  size_t len = strlen(endpoint);
  if (len && endpoint[len - 1] == '/')
    endpoint[--len] = '\0';
  const char *host;
  if (!strncmp(endpoint, "http://", 7))
    host = endpoint + 7;
  else if (!strncmp(endpoint, "https://", 8))
    host = endpoint + 8;
  else
    return ff_fail(err, FF_EINVAL, "S3 endpoint '%s' is not an http:// or https:// URL", endpoint);
  if (!*host || strpbrk(host, "/?#@ \t\r\n"))
    return ff_fail(err, FF_EINVAL, "S3 endpoint '%s' must be scheme://host[:port]", endpoint);
  return FF_OK;
}

static int open_s3(struct store *store, const char *url, const struct store_options *o,
                   struct ff_error *err) {
  struct s3_config cfg = {0};
  const char *url_bucket = url + 5;
  size_t url_bucket_len = strcspn(url_bucket, "?/");
  int rc;
  if (url_bucket[url_bucket_len] == '/' && url_bucket[url_bucket_len + 1] != '\0' &&
      url_bucket[url_bucket_len + 1] != '?') {
    rc = ff_fail(err, FF_EINVAL, "store URL: a path after the bucket is not supported");
    goto fail;
  }
  /* The s3_bucket option, when given, overrides the URL's (which may then
   * be just "s3://"). */
  const char *bucket = o->s3_bucket && *o->s3_bucket ? o->s3_bucket : url_bucket;
  size_t bucket_len = bucket == url_bucket ? url_bucket_len : strlen(bucket);
  if (!bucket_name_ok(bucket, bucket_len)) {
    rc = ff_fail(err, FF_EINVAL, "S3 bucket name '%.*s' is not valid (3-63 of a-z 0-9 . -)",
                 (int)(bucket_len > 63 ? 63 : bucket_len), bucket);
    goto fail;
  }
  if (!(cfg.bucket = strndup(bucket, bucket_len)))
    goto oom;
  const char *q = strchr(url_bucket, '?');
  if (q && (rc = parse_s3_query(&cfg, q + 1, err)) != FF_OK)
    goto fail;
  if (o->s3_endpoint && *o->s3_endpoint && replace_string(&cfg.endpoint, o->s3_endpoint))
    goto oom;
  if (o->s3_region && *o->s3_region && replace_string(&cfg.region, o->s3_region))
    goto oom;
  if (!cfg.region && replace_string(&cfg.region, DEFAULT_REGION))
    goto oom;
  for (const char *r = cfg.region; *r; r++) {
    if ((!isalnum((unsigned char)*r) && *r != '-') || r - cfg.region >= 32) {
      rc = ff_fail(err, FF_EINVAL, "S3 region '%s' is not valid", cfg.region);
      goto fail;
    }
  }
  if (!cfg.endpoint) {
    size_t n = strlen(cfg.region) + 32;
    if (!(cfg.endpoint = malloc(n)))
      goto oom;
    snprintf(cfg.endpoint, n, "https://s3.%s.amazonaws.com", cfg.region);
  }
  if ((rc = endpoint_check(cfg.endpoint, err)) != FF_OK)
    goto fail;
  if (!o->s3_access_key || !*o->s3_access_key || !o->s3_secret_key || !*o->s3_secret_key) {
    rc = ff_fail(err, FF_EAUTH, "S3 store needs an access key and a secret key");
    goto fail;
  }
  if (strchr(o->s3_access_key, ':') || strpbrk(o->s3_access_key, "\r\n")) {
    rc = ff_fail(err, FF_EINVAL, "S3 access key contains ':' or a line break");
    goto fail;
  }
  if (!(cfg.access_key = strdup(o->s3_access_key)) || !(cfg.secret_key = strdup(o->s3_secret_key)))
    goto oom;
  cfg.request_timeout_ms =
      o->request_timeout_ms > 0 ? o->request_timeout_ms : DEFAULT_REQUEST_TIMEOUT_MS;
  cfg.connect_timeout_ms =
      o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  return store_s3_open(store, &cfg, err);
oom:
  rc = ff_fail(err, FF_ENOMEM, "out of memory");
fail:
  s3_config_free(&cfg);
  return rc;
}

int store_open(struct store **out, const struct store_options *options, struct ff_error *err) {
  *out = NULL;
  const char *url = options ? options->url : NULL;
  if (!url || !*url)
    return ff_fail(err, FF_EINVAL, "no store URL given");
  if (options->list_page_size > STORE_LIST_PAGE_MAX)
    return ff_fail(err, FF_EINVAL, "list page size %u is over %d", options->list_page_size,
                   STORE_LIST_PAGE_MAX);
  struct store *store = calloc(1, sizeof *store);
  if (!store)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  store->list_page_size = options->list_page_size ? options->list_page_size : STORE_LIST_PAGE_MAX;
  int rc;
  if (!strncmp(url, "s3://", 5)) {
    rc = open_s3(store, url, options, err);
  } else if (!strncmp(url, "file://", 7)) {
    rc = url[7] == '/' ? store_folder_open(store, url + 7, err)
                       : ff_fail(err, FF_EINVAL, "store URL: file:// needs an absolute path");
  } else if (!strncmp(url, "file:", 5)) {
    rc = url[5] ? store_folder_open(store, url + 5, err)
                : ff_fail(err, FF_EINVAL, "store URL: file: needs a path");
  } else if (strstr(url, "://")) {
    rc = ff_fail(err, FF_EUNSUPPORTED, "store URL: unknown scheme in '%s' (file: or s3://)", url);
  } else {
    rc = store_folder_open(store, url, err);
  }
  if (rc != FF_OK) {
    free(store);
    return rc;
  }
  *out = store;
  return FF_OK;
}

void store_close(struct store *store) {
  if (!store)
    return;
  store->ops->close(store);
  free(store);
}

enum store_backend store_backend(const struct store *store) {
  return store->backend;
}

/* ---- operations: check, then dispatch ---- */

int store_put(struct store *store, const char *key, const void *data, size_t len,
              const char *content_type, struct ff_error *err) {
  int rc = check_key_string(key, err);
  if (rc != FF_OK)
    return rc;
  if (!data && len)
    return ff_fail(err, FF_EINVAL, "no data");
  if (!content_type || !*content_type)
    content_type = "application/octet-stream";
  if (strnlen(content_type, CONTENT_TYPE_MAX + 1) > CONTENT_TYPE_MAX)
    return ff_fail(err, FF_EINVAL, "content type is longer than %d bytes", CONTENT_TYPE_MAX);
  for (const char *c = content_type; *c; c++)
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      return ff_fail(err, FF_EINVAL, "content type contains a control character");
  return store->ops->put(store, key, data ? data : "", len, content_type, err);
}

int store_get(struct store *store, const char *key, size_t max_size, void **data, size_t *len,
              struct ff_error *err) {
  *data = NULL;
  *len = 0;
  int rc = check_key_string(key, err);
  if (rc != FF_OK)
    return rc;
  return store->ops->get(store, key, max_size, data, len, err);
}

int store_head(struct store *store, const char *key, uint64_t *size, struct ff_error *err) {
  uint64_t ignored;
  int rc = check_key_string(key, err);
  if (rc != FF_OK)
    return rc;
  return store->ops->head(store, key, size ? size : &ignored, err);
}

int store_delete(struct store *store, const char *key, struct ff_error *err) {
  int rc = check_key_string(key, err);
  if (rc != FF_OK)
    return rc;
  return store->ops->remove(store, key, err);
}

int store_delete_many(struct store *store, const char *const *keys, size_t count,
                      struct ff_error *err) {
  for (size_t i = 0; i < count; i++) {
    int rc = check_key_string(keys[i], err);
    if (rc != FF_OK)
      return rc;
  }
  for (size_t i = 0; i < count; i += STORE_DELETE_BATCH_MAX) {
    size_t n = count - i < STORE_DELETE_BATCH_MAX ? count - i : STORE_DELETE_BATCH_MAX;
    int rc = store->ops->remove_many(store, keys + i, n, err);
    if (rc != FF_OK)
      return rc;
  }
  return FF_OK;
}

int store_list(struct store *store, const char *prefix, const char *token, struct store_page *page,
               struct ff_error *err) {
  memset(page, 0, sizeof *page);
  if (!prefix)
    prefix = "";
  int rc = store_prefix_check(prefix, err);
  if (rc != FF_OK)
    return rc;
  if (token) {
    size_t n = strnlen(token, STORE_TOKEN_MAX + 1);
    if (n == 0 || n > STORE_TOKEN_MAX)
      return ff_fail(err, FF_EINVAL, "list token is empty or too long");
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)token[i] <= 0x20 || token[i] == 0x7f)
        return ff_fail(err, FF_EINVAL, "list token contains a control character or space");
  }
  rc = store->ops->list(store, prefix, token, store->list_page_size, page, err);
  if (rc != FF_OK)
    store_page_free(page);
  return rc;
}

int store_list_all(struct store *store, const char *prefix, store_list_fn fn, void *ctx,
                   struct ff_error *err) {
  struct store_page page;
  char *token = NULL;
  int rc;
  do {
    rc = store_list(store, prefix, token, &page, err);
    free(token);
    token = NULL;
    if (rc != FF_OK)
      return rc;
    for (size_t i = 0; i < page.count && rc == FF_OK; i++)
      rc = fn(ctx, &page.entries[i]);
    token = page.next_token;
    page.next_token = NULL;
    store_page_free(&page);
  } while (rc == FF_OK && token);
  free(token);
  return rc;
}
