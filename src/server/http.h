/* http.h — the HTTP layer: one route table, one dispatcher, JSON replies.
 *
 * Every request passes through http_dispatch(): it assigns a request id,
 * matches the route table (ours, not ulfius's, so 404 and 405 are told apart
 * and metrics are labelled by route template), checks the body size against
 * the route's limit before touching the body (413), authenticates the caller
 * and checks the route's roles, parses a JSON body, calls the handler, adds
 * the security headers, records metrics and writes one access-log line.
 *
 * Handlers never build error JSON by hand: http_error() writes
 *   {"error": {"code": "<stable code>", "message": "<for humans>"}}
 * Stable codes: bad_request, invalid_field, missing_field, unknown_field,
 * unauthorized, forbidden, not_found, method_not_allowed, conflict,
 * payload_too_large, unsupported_media_type, rate_limited, unavailable,
 * internal; reports add invalid_range and range_too_large.
 *
 * Memory: a struct request lives for one call of http_dispatch(); the body
 * JSON it holds is released at the end. http_json() takes ownership of the
 * json_t it is given.
 */
#ifndef FOOTFALL_HTTP_H
#define FOOTFALL_HTTP_H

#include <jansson.h>
#include <stdint.h>
#include <ulfius.h>

#include "auth.h"
#include "json_text.h"

struct server;
struct request;

typedef void (*http_handler)(struct request *rq);

enum body_kind {
  BODY_NONE,       /* no body expected; one present is refused */
  BODY_JSON,       /* a JSON object, at most max-body-bytes */
  BODY_UPLOAD,     /* pictures: the handler reads the body, at most max-upload-bytes */
  BODY_JSON_LARGE, /* a JSON object of at most max-upload-bytes (event batches) */
};

enum route_flags {
  ROUTE_PUBLIC = 1 << 0, /* no authentication */
  ROUTE_TICKET = 1 << 1, /* a stream ticket in ?ticket= is accepted for this path */
  ROUTE_HIDDEN = 1 << 2, /* not in the OpenAPI document (static files) */
  ROUTE_WEBSOCKET = 1 << 3, /* a GET that upgrades to a WebSocket: the handler calls
                               ws_accept() (websocket.h) or answers an error */
};

struct route {
  const char *method;  /* GET, POST, PUT, PATCH, DELETE */
  const char *pattern; /* "/v1/sites/{id}": {name} matches one path segment */
  http_handler handler;
  unsigned roles; /* bit set of (1 << enum role) allowed; 0 with ROUTE_PUBLIC */
  enum body_kind body;
  unsigned flags;
};

#define HTTP_MAX_PATH_PARAMS 4
#define HTTP_MAX_HEADERS 24    /* response headers kept in the request ... */
#define HTTP_HEADER_BYTES 1536 /* ... with their names and values; more go to ulfius at once */

struct request {
  struct server *server;
  const struct _u_request *raw;
  struct _u_response *res;
  const struct route *route;
  int route_index;
  char id[40];
  struct principal who;
  json_t *body; /* parsed JSON object for BODY_JSON routes */
  int nparams;
  struct {
    char name[24];
    char value[128];
  } params[HTTP_MAX_PATH_PARAMS];
  int status;
  int changed; /* an audited change was made: cached principals are stale */
  /* Response headers, handed to the framework in one pass at the end (see
   * http_header); last in the struct, so a request can be cleared up to
   * header_bytes (offsetof) without touching the text. */
  int nheaders;
  size_t header_used;
  struct {
    const char *name, *value; /* in header_bytes */
    size_t name_len;
  } headers[HTTP_MAX_HEADERS];
  char header_bytes[HTTP_HEADER_BYTES];
};

/* The route table (routes.c). */
extern const struct route http_routes[];
extern const int http_route_count;

/* Does path match a route pattern? Fills rq's path parameters. */
int http_path_matches(const char *pattern, const char *path, struct request *rq);

int http_start(struct server *s, struct ff_error *err);
/* Stops taking new connections, waits up to grace_ms for in-flight requests,
 * then stops the framework. */
void http_stop(struct server *s, int grace_ms);
int http_bound_port(struct server *s);

/* --- replies ------------------------------------------------------------ */
void http_json(struct request *rq, int status, json_t *body); /* takes ownership */
/* Replies with the text written into o (json_text.h), and resets o. */
void http_json_out(struct request *rq, int status, struct json_out *o);
void http_empty(struct request *rq, int status);
void http_error(struct request *rq, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a status.h code to an HTTP reply with err's message. */
void http_fail(struct request *rq, int status, const struct ff_error *err);
/* Sets a response header (names compare without case; setting one again
 * replaces it). The value is copied. */
void http_header(struct request *rq, const char *name, const char *value);
/* The dispatcher's last step: the security headers (and, for api paths,
 * no-store and a strict CSP) the handler has not set itself, then every
 * header into the framework's response. */
void http_headers_finish(struct request *rq, int api);

/* --- request accessors --------------------------------------------------- */
const char *http_param(const struct request *rq, const char *name);
/* Path parameter as a positive id; 0 when it is not one (answer 404). */
int64_t http_param_id(const struct request *rq, const char *name);
const char *http_query(const struct request *rq, const char *name);
const char *http_header_in(const struct request *rq, const char *name);
/* Client address as text (no port). */
void http_client_address(const struct request *rq, char *out, size_t size);

/* --- JSON body validation -------------------------------------------------
 * Describes the fields a body may have. Unknown fields, wrong types, missing
 * required fields and overlong strings are refused with a message naming the
 * field; on refusal the reply is already written and the function returns -1.
 */
enum field_type { FIELD_STRING, FIELD_INT, FIELD_BOOL, FIELD_NUMBER, FIELD_OBJECT, FIELD_ARRAY };
struct field {
  const char *name;
  enum field_type type;
  int required;
  size_t max_length; /* strings: bytes, 0 = 255 */
  int nullable;      /* JSON null accepted (means "clear") */
};
int http_validate(struct request *rq, const struct field *fields, int count);

/* --- streamed responses -----------------------------------------------------
 * A handler answers with a long-lived stream (Server-Sent Events, MJPEG) by
 * calling http_stream(): the handler returns at once, so the request is
 * counted and logged then and holds no database connection; the stream's
 * read function then runs on the connection's own thread (one thread per
 * connection) and may block until it has bytes to send. The socket's send
 * buffer is kept small (send_buffer bytes; 0 = HTTP_STREAM_SNDBUF), so a
 * client that stops reading shows up as a backlog in the producer's bounded
 * queue instead of megabytes of kernel memory. On SIGTERM every stream is woken (ops->wake) and ended
 * before the framework stops; read() sees http_stream_closing().
 */
struct http_stream;
struct http_stream_ops {
  /* Writes up to max bytes into buf and returns their number; 0 ends the
   * stream. Blocks while there is nothing to send (and wakes up by itself
   * for keep-alives). */
  size_t (*read)(void *state, struct http_stream *st, char *buf, size_t max);
  /* Makes a blocked read() return soon; any thread. */
  void (*wake)(void *state);
  /* The connection is gone: release state. */
  void (*release)(void *state);
};
#define HTTP_STREAM_SNDBUF (32 * 1024)
/* Answers 200 with a stream; on failure (out of memory) replies 500 and
 * releases state. Returns the stream (valid until ops->release runs). */
struct http_stream *http_stream(struct request *rq, const char *content_type, int send_buffer,
                                const struct http_stream_ops *ops, void *state);
/* Closes the stream's connection now (a client too slow to keep up): the
 * socket is shut down, the framework then ends the response. Any thread,
 * until ops->release has run. */
void http_stream_cut(struct http_stream *st);
/* The server is shutting down: read() should end the stream. */
int http_stream_closing(const struct http_stream *st);
/* Streams open now (for /metrics). */
int http_stream_count(const struct server *s);

#endif
