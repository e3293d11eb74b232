/* http_client.h — one blocking HTTP request with libcurl, bounded.
 *
 * Every request has a total timeout and a response size limit (larger
 * answers are cut off with FF_ETOOBIG, never buffered without bound).
 * Network failures and timeouts are FF_EIO / FF_ETIMEOUT; any HTTP status is
 * FF_OK with the status in the response — the caller judges it.
 * Thread-safe (one curl easy handle per call).
 */
#ifndef FOOTFALL_WORKER_HTTP_CLIENT_H
#define FOOTFALL_WORKER_HTTP_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>

#include "status.h"

struct http_response {
  long status;
  char *body; /* malloc'd, NUL-terminated; free with http_response_free */
  size_t len;
};

int http_request(const char *method, const char *url, const char *bearer, const char *body,
                 size_t body_len, int timeout_ms, size_t max_response, struct http_response *out,
                 struct ff_error *err);
/* The same, given up within about a second of *cancel
 * becoming non-zero (FF_EIO): a stopping process does not wait out a timeout. */
int http_request_cancellable(const char *method, const char *url, const char *bearer,
                             const char *body, size_t body_len, int timeout_ms, size_t max_response,
                             const atomic_int *cancel, struct http_response *out,
                             struct ff_error *err);
void http_response_free(struct http_response *r);

#endif
