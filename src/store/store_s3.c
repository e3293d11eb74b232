/* store_s3.c — the object store as an S3-compatible bucket, over libcurl.
 *
 * Requests are signed by libcurl (CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3")
 * and addressed path-style (ENDPOINT/BUCKET/KEY), which every S3-compatible
 * service accepts. We send x-amz-content-sha256 ourselves, the SHA-256 of
 * the payload: S3 requires it and libcurl versions differ in whether and
 * how they add it. Query strings are built already in SigV4 canonical form
 * (parameters sorted, RFC 3986 encoded), because libcurl before 8.x signs
 * the query string exactly as written.
 *
 * Threads: the configuration is immutable after open; the only shared
 * mutable state is the pool of idle curl handles, guarded by pool_lock.
 * A handle is used by one request at a time and kept for the next so its
 * connection is reused.
 */
#include "store_internal.h"
#include "s3_xml.h"

#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 8
/* Bounds on what we read back besides an object's bytes. */
#define ERROR_BODY_MAX (16 * 1024)
#define LIST_BODY_MAX (4 * 1024 * 1024)
#define DELETE_BODY_MAX (4 * 1024 * 1024)
#define LISTED_KEY_MAX 1024 /* S3's own limit */
#define S3_ATTEMPTS 3
#define RETRY_PAUSE_MS 50

struct s3 {
  struct s3_config cfg;
  char sigv4[96];            /* "aws:amz:REGION:s3" */
  pthread_mutex_t pool_lock; /* guards idle[] and idle_count */
  CURL *idle[POOL_MAX];
  size_t idle_count;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_status = FF_OK;

/* curl_global_init is not thread-safe and must run once per process; we
 * never call curl_global_cleanup, as other modules may use libcurl too. */
static void global_init(void) {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sodium_init() < 0)
    global_status = FF_EINTERNAL;
}

static struct s3 *s3_of(struct store *store) {
  return store->impl;
}

static CURL *handle_take(struct s3 *s3) {
  CURL *h = NULL;
  pthread_mutex_lock(&s3->pool_lock);
  if (s3->idle_count)
    h = s3->idle[--s3->idle_count];
  pthread_mutex_unlock(&s3->pool_lock);
  return h ? h : curl_easy_init();
}

/* Resets h before it idles, so it holds no pointer into a finished request
 * (error buffer, body, headers); the reset keeps its connections. */
static void handle_give_back(struct s3 *s3, CURL *h) {
  curl_easy_reset(h);
  pthread_mutex_lock(&s3->pool_lock);
  if (s3->idle_count < POOL_MAX) {
    s3->idle[s3->idle_count++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&s3->pool_lock);
  if (h)
    curl_easy_cleanup(h);
}

/* ---- one request ---- */

struct s3_request {
  const char *method; /* GET, HEAD, PUT, POST, DELETE */
  const char *key;    /* NULL for the bucket itself */
  const char *query;  /* canonical form, or NULL */
  const void *body;
  size_t body_len;
  const char *content_type;
  const char *content_md5; /* base64, or NULL */
  size_t max_body;         /* the most of a 2xx answer we accept */
};

struct s3_response {
  long http_status;
  unsigned char *body;
  size_t len;
  size_t cap;
  size_t max;
  int too_big;               /* a 2xx answer exceeded max */
  curl_off_t content_length; /* -1 when the answer did not say */
  CURL *handle;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
  struct s3_response *r = userdata;
  size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(r->handle, CURLINFO_RESPONSE_CODE, &code);
  int ok = code >= 200 && code < 300;
  size_t limit = ok ? r->max : ERROR_BODY_MAX;
  if (r->len + n > limit) {
    if (ok) {
      r->too_big = 1;
      return 0; /* abort the transfer */
    }
    n = limit - r->len; /* an error body: keep its start, drop the rest */
    if (n == 0)
      return size * nmemb;
  }
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n + 1)
      cap *= 2;
    if (cap > limit + 1)
      cap = limit + 1;
    unsigned char *grown = realloc(r->body, cap);
    if (!grown)
      return 0;
    r->body = grown;
    r->cap = cap;
  }
  memcpy(r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
  return size * nmemb;
}

static void response_free(struct s3_response *r) {
  free(r->body);
  r->body = NULL;
  r->len = r->cap = 0;
}

static void sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, data, len);
  sodium_bin2hex(out, 65, digest, sizeof digest);
}

static const char *what_key(const struct s3_request *req) {
  return req->key ? req->key : "(bucket)";
}

/* Performs req once; FF_OK when an HTTP answer came back (whatever its
 * status). */
static int perform_once(struct s3 *s3, const struct s3_request *req, struct s3_response *resp,
                        struct ff_error *err) {
  memset(resp, 0, sizeof *resp);
  resp->max = req->max_body;
  size_t url_len = strlen(s3->cfg.endpoint) + strlen(s3->cfg.bucket) +
                   (req->key ? strlen(req->key) : 0) + (req->query ? strlen(req->query) : 0) + 8;
  char *url = malloc(url_len);
  if (!url)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  /* Keys are [A-Za-z0-9._-/] (checked), so they need no escaping. */
  snprintf(url, url_len, "%s/%s%s%s%s%s", s3->cfg.endpoint, s3->cfg.bucket, req->key ? "/" : "",
           req->key ? req->key : "", req->query ? "?" : "", req->query ? req->query : "");

  char sha_header[32 + 65], type_header[300], md5_header[64];
  char sha[65];
  sha256_hex(req->body ? req->body : "", req->body_len, sha);
  snprintf(sha_header, sizeof sha_header, "x-amz-content-sha256: %s", sha);
  struct curl_slist *headers = NULL, *h;
  int rc = FF_OK;
  if (!(h = curl_slist_append(headers, sha_header)))
    goto oom;
  headers = h;
  if (req->content_type) {
    snprintf(type_header, sizeof type_header, "Content-Type: %s", req->content_type);
    if (!(h = curl_slist_append(headers, type_header)))
      goto oom;
    headers = h;
  }
  if (req->content_md5) {
    snprintf(md5_header, sizeof md5_header, "Content-MD5: %s", req->content_md5);
    if (!(h = curl_slist_append(headers, md5_header)))
      goto oom;
    headers = h;
  }

  CURL *c = handle_take(s3);
  if (!c)
    goto oom;
  resp->handle = c;
  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s3->cfg.request_timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s3->cfg.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "footfall-store");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
  curl_easy_setopt(c, CURLOPT_USERNAME, s3->cfg.access_key);
  curl_easy_setopt(c, CURLOPT_PASSWORD, s3->cfg.secret_key);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  if (!strcmp(req->method, "HEAD")) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (!strcmp(req->method, "PUT") || !strcmp(req->method, "POST")) {
    /* The body as POSTFIELDS under a custom method: libcurl then knows the
     * payload when it signs, whatever its version does with it. */
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  } else if (strcmp(req->method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
  }
  CURLcode cc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->http_status);
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &resp->content_length) != CURLE_OK)
    resp->content_length = -1;
  /* A handle whose transfer was cut off may hold a half-read connection;
   * libcurl closes such connections itself, so the handle stays usable. */
  handle_give_back(s3, c);
  resp->handle = NULL;
  if (cc != CURLE_OK) {
    if (resp->too_big)
      rc = ff_fail(err, FF_ETOOBIG, "S3 %s %s: the answer exceeds the limit of %zu bytes",
                   req->method, what_key(req), req->max_body);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
      rc = ff_fail(err, FF_ETIMEOUT, "S3 %s %s: %s", req->method, what_key(req),
                   curl_error[0] ? curl_error : curl_easy_strerror(cc));
    else if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR)
      rc = ff_fail(err, FF_ENOMEM, "S3 %s %s: out of memory", req->method, what_key(req));
    else
      rc = ff_fail(err, FF_EIO, "S3 %s %s: %s", req->method, what_key(req),
                   curl_error[0] ? curl_error : curl_easy_strerror(cc));
    response_free(resp);
  }
  curl_slist_free_all(headers);
  free(url);
  return rc;
oom:
  curl_slist_free_all(headers);
  free(url);
  return ff_fail(err, FF_ENOMEM, "out of memory");
}

/* Every request we make is idempotent (whole-object PUT, GET, HEAD, DELETE,
 * batch DELETE), so a failed connection or a 500/502/503/504 is retried a
 * few times after a short pause, as S3's documentation asks. Timeouts are
 * not retried: the caller's deadline would multiply. */
static int s3_perform(struct s3 *s3, const struct s3_request *req, struct s3_response *resp,
                      struct ff_error *err) {
  for (int attempt = 1;; attempt++) {
    int rc = perform_once(s3, req, resp, err);
    long http = resp->http_status;
    int transient = (rc == FF_EIO) ||
                    (rc == FF_OK && (http == 500 || http == 502 || http == 503 || http == 504));
    if (!transient || attempt == S3_ATTEMPTS)
      return rc;
    response_free(resp);
    struct timespec pause = {0, RETRY_PAUSE_MS * 1000000L * attempt * attempt};
    nanosleep(&pause, NULL);
  }
}

/* Turns a non-2xx answer into a status and a message naming S3's error. */
static int s3_http_error(const struct s3 *s3, const struct s3_request *req,
                         const struct s3_response *resp, struct ff_error *err) {
  char code[64] = "", message[160] = "";
  if (resp->body) {
    struct xml_span doc = {(const char *)resp->body, resp->len}, error;
    if (xml_element(doc, "Error", &error, NULL) == 1) {
      if (xml_child_text(error, "Code", code, sizeof code) < 0)
        code[0] = '\0';
      if (xml_child_text(error, "Message", message, sizeof message) < 0)
        message[0] = '\0';
    }
  }
  long http = resp->http_status;
  int status;
  if (!strcmp(code, "SignatureDoesNotMatch") || !strcmp(code, "InvalidAccessKeyId") ||
      !strcmp(code, "AuthorizationHeaderMalformed") || !strcmp(code, "ExpiredToken") ||
      !strcmp(code, "InvalidToken") || !strcmp(code, "RequestTimeTooSkewed"))
    status = FF_EAUTH;
  else if (!strcmp(code, "AccessDenied"))
    status = FF_EFORBIDDEN;
  else if (!strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchBucket"))
    status = FF_ENOTFOUND;
  else if (!strcmp(code, "SlowDown") || http == 503 || http == 429)
    status = FF_EBUSY;
  else if (!strcmp(code, "RequestTimeout"))
    status = FF_ETIMEOUT;
  else if (!strcmp(code, "EntityTooLarge") || http == 413)
    status = FF_ETOOBIG;
  else if (http == 401 || (http == 403 && !code[0])) /* HEAD answers carry no body */
    status = FF_EAUTH;
  else if (http == 403)
    status = FF_EFORBIDDEN;
  else if (http == 404)
    status = FF_ENOTFOUND;
  else if (http == 409)
    status = FF_ECONFLICT;
  else if (http == 400)
    status = FF_EINVAL;
  else
    status = FF_EIO;
  return ff_fail(err, status, "S3 %s %s/%s: HTTP %ld%s%s%s%s", req->method, s3->cfg.bucket,
                 what_key(req), http, code[0] ? " " : "", code, message[0] ? ": " : "", message);
}

static int is_2xx(long http) {
  return http >= 200 && http < 300;
}

/* ---- operations ---- */

static int s3_put(struct store *store, const char *key, const void *data, size_t len,
                  const char *content_type, struct ff_error *err) {
  struct s3_request req = {.method = "PUT",
                           .key = key,
                           .body = data,
                           .body_len = len,
                           .content_type = content_type,
                           .max_body = ERROR_BODY_MAX};
  struct s3_response resp;
  int rc = s3_perform(s3_of(store), &req, &resp, err);
  if (rc == FF_OK && !is_2xx(resp.http_status))
    rc = s3_http_error(s3_of(store), &req, &resp, err);
  response_free(&resp);
  return rc;
}

static int s3_get(struct store *store, const char *key, size_t max_size, void **data, size_t *len,
                  struct ff_error *err) {
  struct s3_request req = {.method = "GET", .key = key, .max_body = max_size};
  struct s3_response resp;
  int rc = s3_perform(s3_of(store), &req, &resp, err);
  if (rc == FF_ETOOBIG)
    return ff_fail(err, FF_ETOOBIG, "object '%s' is over the limit of %zu bytes", key, max_size);
  if (rc != FF_OK)
    return rc;
  if (resp.http_status == 404)
    rc = ff_fail(err, FF_ENOTFOUND, "object '%s' not found", key);
  else if (!is_2xx(resp.http_status))
    rc = s3_http_error(s3_of(store), &req, &resp, err);
  if (rc != FF_OK) {
    response_free(&resp);
    return rc;
  }
  if (!resp.body) { /* an empty object */
    resp.body = malloc(1);
    if (!resp.body)
      return ff_fail(err, FF_ENOMEM, "out of memory");
    resp.body[0] = '\0';
  }
  *data = resp.body;
  *len = resp.len;
  return FF_OK;
}

static int s3_head(struct store *store, const char *key, uint64_t *size, struct ff_error *err) {
  struct s3_request req = {.method = "HEAD", .key = key, .max_body = ERROR_BODY_MAX};
  struct s3_response resp;
  struct s3 *s3 = s3_of(store);
  int rc = s3_perform(s3, &req, &resp, err);
  if (rc != FF_OK)
    return rc;
  if (resp.http_status == 404)
    rc = ff_fail(err, FF_ENOTFOUND, "object '%s' not found", key);
  else if (!is_2xx(resp.http_status))
    rc = s3_http_error(s3_of(store), &req, &resp, err);
  else if (resp.content_length < 0)
    rc = ff_fail(err, FF_EIO, "S3 HEAD %s: no Content-Length in the answer", key);
  else
    *size = (uint64_t)resp.content_length;
  response_free(&resp);
  return rc;
}

static int s3_remove(struct store *store, const char *key, struct ff_error *err) {
  struct s3_request req = {.method = "DELETE", .key = key, .max_body = ERROR_BODY_MAX};
  struct s3_response resp;
  int rc = s3_perform(s3_of(store), &req, &resp, err);
  if (rc == FF_OK && !is_2xx(resp.http_status) && resp.http_status != 404)
    rc = s3_http_error(s3_of(store), &req, &resp, err);
  response_free(&resp);
  return rc;
}

static int s3_remove_many(struct store *store, const char *const *keys, size_t count,
                          struct ff_error *err) {
  static const char head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                             "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                             "<Quiet>true</Quiet>";
  static const char tail[] = "</Delete>";
  size_t cap = sizeof head + sizeof tail;
  for (size_t i = 0; i < count; i++)
    cap += strlen(keys[i]) + sizeof "<Object><Key></Key></Object>";
  char *body = malloc(cap);
  if (!body)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  size_t len = 0;
  memcpy(body, head, sizeof head - 1);
  len += sizeof head - 1;
  /* Checked keys hold no character XML would need escaped. */
  for (size_t i = 0; i < count; i++)
    len += (size_t)sprintf(body + len, "<Object><Key>%s</Key></Object>", keys[i]);
  memcpy(body + len, tail, sizeof tail);
  len += sizeof tail - 1;

  /* S3 insists on a Content-MD5 for this one request. */
  unsigned char md5[16];
  char md5_b64[32];
  if (gnutls_hash_fast(GNUTLS_DIG_MD5, body, len, md5) != 0) {
    free(body);
    return ff_fail(err, FF_EINTERNAL, "MD5 unavailable");
  }
  sodium_bin2base64(md5_b64, sizeof md5_b64, md5, sizeof md5, sodium_base64_VARIANT_ORIGINAL);

  struct s3_request req = {.method = "POST",
                           .query = "delete=",
                           .body = body,
                           .body_len = len,
                           .content_type = "application/xml",
                           .content_md5 = md5_b64,
                           .max_body = DELETE_BODY_MAX};
  struct s3_response resp;
  int rc = s3_perform(s3_of(store), &req, &resp, err);
  free(body);
  if (rc != FF_OK)
    return rc;
  if (!is_2xx(resp.http_status)) {
    rc = s3_http_error(s3_of(store), &req, &resp, err);
  } else if (resp.body) {
    /* 200 even when some keys failed: each failure is an <Error>. */
    struct xml_span doc = {(const char *)resp.body, resp.len}, error;
    if (xml_element(doc, "DeleteResult", &doc, NULL) != 1) {
      rc = ff_fail(err, FF_EIO, "S3 POST ?delete: the answer is not a DeleteResult");
    } else if (xml_element(doc, "Error", &error, NULL) == 1) {
      char key[LISTED_KEY_MAX + 1] = "", code[64] = "", message[160] = "";
      xml_child_text(error, "Key", key, sizeof key);
      xml_child_text(error, "Code", code, sizeof code);
      xml_child_text(error, "Message", message, sizeof message);
      rc = ff_fail(err, FF_EIO, "S3 delete of '%s' failed: %s: %s", key, code, message);
    }
  }
  response_free(&resp);
  return rc;
}

/* RFC 3986 encoding as SigV4 wants it in a canonical query string. */
static size_t query_escape(char *out, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = '\0';
  return o;
}

static int parse_size(const char *s, uint64_t *out) {
  if (!*s)
    return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

/* "2026-11-30T05:38:46.123Z" (fraction optional) -> ms since the epoch;
 * 0 when it is not in that form. */
static int64_t parse_iso8601_ms(const char *s) {
  struct tm tm = {0};
  const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest)
    return 0;
  int64_t ms = 0;
  if (*rest == '.') {
    int digits = 0;
    for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
      if (digits < 3)
        ms = ms * 10 + (*rest - '0');
    if (digits == 0)
      return 0;
    for (; digits < 3; digits++)
      ms *= 10;
  }
  if (strcmp(rest, "Z") != 0)
    return 0;
  time_t t = timegm(&tm);
  return t < 0 ? 0 : (int64_t)t * 1000 + ms;
}

static int parse_list(const struct s3_response *resp, struct store_page *page,
                      struct ff_error *err) {
  struct xml_span doc = {(const char *)resp->body, resp->len}, result;
  if (!resp->body || xml_element(doc, "ListBucketResult", &result, NULL) != 1)
    return ff_fail(err, FF_EIO, "S3 list: the answer is not a ListBucketResult");
  char truncated[16] = "";
  if (xml_child_text(result, "IsTruncated", truncated, sizeof truncated) < 0)
    return ff_fail(err, FF_EIO, "S3 list: no IsTruncated in the answer");
  struct xml_span rest = result, contents;
  char key[LISTED_KEY_MAX + 1], size_text[32];
  int found;
  while ((found = xml_element(rest, "Contents", &contents, &rest)) == 1) {
    long key_len = xml_child_text(contents, "Key", key, sizeof key);
    uint64_t size;
    if (key_len <= 0)
      return ff_fail(err, FF_EIO, "S3 list: a missing or malformed Key");
    if (xml_child_text(contents, "Size", size_text, sizeof size_text) < 0 ||
        parse_size(size_text, &size) != 0)
      return ff_fail(err, FF_EIO, "S3 list: a missing or malformed Size for '%s'", key);
    char modified[40];
    int64_t modified_ms = 0;
    if (xml_child_text(contents, "LastModified", modified, sizeof modified) > 0)
      modified_ms = parse_iso8601_ms(modified);
    if (store_page_push(page, key, (size_t)key_len, size, modified_ms) != FF_OK)
      return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  if (found < 0)
    return ff_fail(err, FF_EIO, "S3 list: an unterminated Contents element");
  if (!strcmp(truncated, "true")) {
    char token[4097];
    long n = xml_child_text(result, "NextContinuationToken", token, sizeof token);
    if (n <= 0)
      return ff_fail(err, FF_EIO, "S3 list: truncated answer without NextContinuationToken");
    if (!(page->next_token = strdup(token)))
      return ff_fail(err, FF_ENOMEM, "out of memory");
  } else if (strcmp(truncated, "false") != 0) {
    return ff_fail(err, FF_EIO, "S3 list: IsTruncated is '%s'", truncated);
  }
  return FF_OK;
}

static int s3_list(struct store *store, const char *prefix, const char *token, unsigned page_size,
                   struct store_page *page, struct ff_error *err) {
  /* Parameters in sorted order: continuation-token, list-type, max-keys, prefix. */
  size_t cap = 96 + 3 * strlen(prefix) + (token ? 3 * strlen(token) : 0);
  char *query = malloc(cap);
  if (!query)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  size_t q = 0;
  if (token) {
    q += (size_t)sprintf(query + q, "continuation-token=");
    q += query_escape(query + q, token);
    query[q++] = '&';
  }
  q += (size_t)sprintf(query + q, "list-type=2&max-keys=%u", page_size);
  if (*prefix) {
    q += (size_t)sprintf(query + q, "&prefix=");
    q += query_escape(query + q, prefix);
  }
  struct s3_request req = {.method = "GET", .query = query, .max_body = LIST_BODY_MAX};
  struct s3_response resp;
  int rc = s3_perform(s3_of(store), &req, &resp, err);
  free(query);
  if (rc != FF_OK)
    return rc;
  if (!is_2xx(resp.http_status))
    rc = s3_http_error(s3_of(store), &req, &resp, err);
  else
    rc = parse_list(&resp, page, err);
  response_free(&resp);
  return rc;
}

static void s3_close(struct store *store) {
  struct s3 *s3 = s3_of(store);
  for (size_t i = 0; i < s3->idle_count; i++)
    curl_easy_cleanup(s3->idle[i]);
  pthread_mutex_destroy(&s3->pool_lock);
  free(s3->cfg.endpoint);
  free(s3->cfg.region);
  free(s3->cfg.bucket);
  free(s3->cfg.access_key);
  sodium_memzero(s3->cfg.secret_key, strlen(s3->cfg.secret_key));
  free(s3->cfg.secret_key);
  free(s3);
}

static const struct store_ops s3_ops = {
    .put = s3_put,
    .get = s3_get,
    .head = s3_head,
    .remove = s3_remove,
    .remove_many = s3_remove_many,
    .list = s3_list,
    .close = s3_close,
};

int store_s3_open(struct store *store, struct s3_config *cfg, struct ff_error *err) {
  pthread_once(&global_once, global_init);
  struct s3 *s3 = global_status == FF_OK ? calloc(1, sizeof *s3) : NULL;
  if (!s3) {
    int status = global_status == FF_OK ? FF_ENOMEM : global_status;
    free(cfg->endpoint);
    free(cfg->region);
    free(cfg->bucket);
    free(cfg->access_key);
    if (cfg->secret_key)
      sodium_memzero(cfg->secret_key, strlen(cfg->secret_key));
    free(cfg->secret_key);
    return ff_fail(err, status, status == FF_ENOMEM ? "out of memory" : "libcurl init failed");
  }
  s3->cfg = *cfg;
  memset(cfg, 0, sizeof *cfg);
  snprintf(s3->sigv4, sizeof s3->sigv4, "aws:amz:%s:s3", s3->cfg.region);
  pthread_mutex_init(&s3->pool_lock, NULL);
  store->backend = STORE_S3;
  store->ops = &s3_ops;
  store->impl = s3;
  return FF_OK;
}
