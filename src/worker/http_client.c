#include "http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sink {
  char *buf;
  size_t len, cap, max;
  int overflow;
};

static size_t on_data(char *data, size_t size, size_t count, void *arg) {
  struct sink *s = arg;
  size_t n = size * count;
  if (s->len + n > s->max) {
    s->overflow = 1;
    return 0; /* aborts the transfer */
  }
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + n + 1)
      cap *= 2;
    char *grown = realloc(s->buf, cap);
    if (!grown)
      return 0;
    s->buf = grown;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, data, n);
  s->len += n;
  s->buf[s->len] = 0;
  return n;
}

static void global_init(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  return atomic_load((const atomic_int *)arg) != 0; /* non-zero aborts the transfer */
}

int http_request(const char *method, const char *url, const char *bearer, const char *body,
                 size_t body_len, int timeout_ms, size_t max_response, struct http_response *out,
                 struct ff_error *err) {
  return http_request_cancellable(method, url, bearer, body, body_len, timeout_ms, max_response,
                                  NULL, out, err);
}

int http_request_cancellable(const char *method, const char *url, const char *bearer,
                             const char *body, size_t body_len, int timeout_ms, size_t max_response,
                             const atomic_int *cancel, struct http_response *out,
                             struct ff_error *err) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, global_init);
  memset(out, 0, sizeof *out);
  CURL *curl = curl_easy_init();
  if (!curl)
    return ff_fail(err, FF_ENOMEM, "cannot create a curl handle");
  struct sink sink = {.max = max_response};
  struct curl_slist *headers = NULL;
  char auth[600];
  if (bearer && *bearer) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    headers = curl_slist_append(headers, auth);
  }
  if (body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  }
  headers = curl_slist_append(headers, "Accept: application/json");
  headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "footfall-worker");
  if (cancel) {
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)cancel);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }
  CURLcode cc = curl_easy_perform(curl);
  int rc = FF_OK;
  if (sink.overflow)
    rc = ff_fail(err, FF_ETOOBIG, "answer of %s larger than %zu bytes", url, max_response);
  else if (cc == CURLE_ABORTED_BY_CALLBACK)
    rc = ff_fail(err, FF_EIO, "%s %s: given up, the worker is stopping", method, url);
  else if (cc == CURLE_OPERATION_TIMEDOUT)
    rc = ff_fail(err, FF_ETIMEOUT, "%s %s: no answer within %d ms", method, url, timeout_ms);
  else if (cc != CURLE_OK)
    rc = ff_fail(err, FF_EIO, "%s %s: %s", method, url, curl_easy_strerror(cc));
  if (rc == FF_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    out->body = sink.buf ? sink.buf : calloc(1, 1);
    out->len = sink.len;
    sink.buf = NULL;
  }
  free(sink.buf);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return rc;
}

void http_response_free(struct http_response *r) {
  free(r->body);
  r->body = NULL;
  r->len = 0;
}
