#include "http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "json_text.h"
#include "log.h"
#include "server.h"
#include "static.h"

#define UNMATCHED_ROUTE (METRICS_MAX_ROUTES - 1)
#define DRAIN_QUIET_MS 150
#define HTTP_CONNECTION_MEMORY (16 * 1024)

static uint64_t monotonic_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* --- replies ----------------------------------------------------------- */

/* Response headers are kept in the request and given to ulfius once, at the
 * end of dispatch: u_map_put reallocates the map's three arrays and compares
 * every key on each call, which cost more than the rest of a small JSON
 * answer. A header that does not fit goes to ulfius's map at once. */
static int header_index(const struct request *rq, const char *name, size_t len) {
  for (int i = 0; i < rq->nheaders; i++) {
    if (rq->headers[i].name_len != len)
      continue;
    const char *a = rq->headers[i].name;
    size_t k = 0;
    while (k < len && (a[k] | 0x20) == (name[k] | 0x20)) /* names are letters, digits, '-' */
      k++;
    if (k == len)
      return i;
  }
  return -1;
}

static const char *header_copy(struct request *rq, const char *text, size_t len) {
  if (len + 1 > sizeof rq->header_bytes - rq->header_used)
    return NULL;
  char *copy = rq->header_bytes + rq->header_used;
  memcpy(copy, text, len + 1);
  rq->header_used += len + 1;
  return copy;
}

static void header_set(struct request *rq, const char *name, size_t name_len, int i,
                       const char *value) {
  const char *v = header_copy(rq, value, strlen(value));
  if (v && i >= 0) {
    rq->headers[i].value = v;
    return;
  }
  const char *n = v && rq->nheaders < HTTP_MAX_HEADERS ? header_copy(rq, name, name_len) : NULL;
  if (!n) {
    if (i >= 0) /* cannot replace it here: drop the kept one */
      rq->headers[i] = rq->headers[--rq->nheaders];
    u_map_put(rq->res->map_header, name, value);
    return;
  }
  rq->headers[rq->nheaders].name = n;
  rq->headers[rq->nheaders].value = v;
  rq->headers[rq->nheaders].name_len = name_len;
  rq->nheaders++;
}

void http_header(struct request *rq, const char *name, const char *value) {
  size_t len = strlen(name);
  header_set(rq, name, len, header_index(rq, name, len), value);
}

/* A header the handler has not set itself. */
static void header_default(struct request *rq, const char *name, const char *value) {
  size_t len = strlen(name);
  if (header_index(rq, name, len) < 0 &&
      (!rq->res->map_header->nb_values || !u_map_get_case(rq->res->map_header, name)))
    header_set(rq, name, len, -1, value);
}

/* Writes the kept headers into the response's map. When it is still empty
 * (the usual case) its arrays are sized once and filled as u_map_put would
 * (ulfius.h documents struct _u_map; every key and value is allocated with
 * orcania's o_malloc, as u_map_clean frees them with o_free, and a value's
 * length counts its terminating zero). */
static void headers_flush(struct request *rq) {
  struct _u_map *map = rq->res->map_header;
  int n = rq->nheaders;
  rq->nheaders = 0;
  if (!n)
    return;
  if (map->nb_values) {
    for (int i = 0; i < n; i++)
      u_map_put(map, rq->headers[i].name, rq->headers[i].value);
    return;
  }
  char **keys = o_realloc(map->keys, (size_t)(n + 1) * sizeof *keys);
  if (keys)
    map->keys = keys;
  char **values = keys ? o_realloc(map->values, (size_t)(n + 1) * sizeof *values) : NULL;
  if (values)
    map->values = values;
  size_t *lengths = values ? o_realloc(map->lengths, (size_t)(n + 1) * sizeof *lengths) : NULL;
  if (!lengths) {
    log_msg(LOG_ERROR, "http.headers", "request %s: out of memory for the response headers",
            rq->id);
    return;
  }
  map->lengths = lengths;
  int filled = 0;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(rq->headers[i].value);
    char *key = o_strdup(rq->headers[i].name);
    char *value = key ? o_malloc(len + 1) : NULL;
    if (!value) {
      o_free(key);
      log_msg(LOG_ERROR, "http.headers", "request %s: out of memory for the response headers",
              rq->id);
      break;
    }
    memcpy(value, rq->headers[i].value, len + 1);
    keys[filled] = key;
    values[filled] = value;
    lengths[filled] = len + 1;
    filled++;
  }
  keys[filled] = NULL;
  values[filled] = NULL;
  lengths[filled] = 0;
  map->nb_values = filled;
}

static void reply_text(struct request *rq, int status, char *text, size_t len) {
  if (!text) {
    rq->status = 500;
    ulfius_set_string_body_response(
        rq->res, 500, "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    return;
  }
  rq->status = status;
  /* The response takes the text as it is (ulfius frees its body with
   * o_free, malloc's free here): ulfius_set_binary_body_response would copy
   * it once more. */
  o_free(rq->res->binary_body);
  rq->res->binary_body = text;
  rq->res->binary_body_length = len;
  rq->res->status = (long)status;
  http_header(rq, "Content-Type", "application/json; charset=utf-8");
}

void http_json(struct request *rq, int status, json_t *body) {
  size_t len = 0;
  char *text = json_text(body, &len);
  json_decref(body);
  reply_text(rq, status, text, len);
}

void http_json_out(struct request *rq, int status, struct json_out *o) {
  size_t len = 0;
  char *text = json_out_finish(o, &len);
  reply_text(rq, status, text, len);
}

void http_empty(struct request *rq, int status) {
  rq->status = status;
  ulfius_set_empty_body_response(rq->res, (unsigned)status);
}

void http_error(struct request *rq, int status, const char *code, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  http_json(rq, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

void http_fail(struct request *rq, int status, const struct ff_error *err) {
  const char *message = err && err->message[0] ? err->message : ff_status_name(status);
  switch (status) {
  case FF_EINVAL: http_error(rq, 400, "invalid_field", "%s", message); return;
  case FF_ENOTFOUND: http_error(rq, 404, "not_found", "%s", message); return;
  case FF_ECONFLICT: http_error(rq, 409, "conflict", "%s", message); return;
  case FF_ETOOBIG: http_error(rq, 413, "payload_too_large", "%s", message); return;
  case FF_EAUTH: http_error(rq, 401, "unauthorized", "%s", message); return;
  case FF_EFORBIDDEN: http_error(rq, 403, "forbidden", "%s", message); return;
  case FF_EBUSY: http_error(rq, 503, "unavailable", "%s", message); return;
  case FF_EUNSUPPORTED: http_error(rq, 400, "bad_request", "%s", message); return;
  default:
    log_msg(LOG_ERROR, "http.failure", "request %s: %s (%s)", rq->id, message,
            ff_status_name(status));
    http_error(rq, 500, "internal", "internal error (request %s)", rq->id);
  }
}

/* --- request accessors ------------------------------------------------- */

const char *http_param(const struct request *rq, const char *name) {
  for (int i = 0; i < rq->nparams; i++)
    if (!strcmp(rq->params[i].name, name))
      return rq->params[i].value;
  return NULL;
}

int64_t http_param_id(const struct request *rq, const char *name) {
  const char *v = http_param(rq, name);
  if (!v || !*v || strlen(v) > 18)
    return 0;
  int64_t id = 0;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9')
      return 0;
    id = id * 10 + (*p - '0');
  }
  return id;
}

const char *http_query(const struct request *rq, const char *name) {
  return u_map_get(rq->raw->map_url, name);
}

const char *http_header_in(const struct request *rq, const char *name) {
  return u_map_get_case(rq->raw->map_header, name);
}

void http_client_address(const struct request *rq, char *out, size_t size) {
  const struct sockaddr *sa = rq->raw->client_address;
  out[0] = 0;
  if (!sa)
    return;
  if (sa->sa_family == AF_INET && size >= INET_ADDRSTRLEN) {
    /* By hand: inet_ntop formats each byte with sprintf, on every request. */
    const unsigned char *b = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
    char *o = out;
    for (int i = 0; i < 4; i++) {
      if (i)
        *o++ = '.';
      if (b[i] >= 100)
        *o++ = (char)('0' + b[i] / 100);
      if (b[i] >= 10)
        *o++ = (char)('0' + b[i] / 10 % 10);
      *o++ = (char)('0' + b[i] % 10);
    }
    *o = 0;
  } else if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

/* --- JSON validation ---------------------------------------------------- */

static const char *type_name(enum field_type t) {
  static const char *names[] = {"a string", "an integer", "true or false",
                                "a number", "an object",  "an array"};
  return names[t];
}

static int type_matches(enum field_type t, const json_t *v) {
  switch (t) {
  case FIELD_STRING: return json_is_string(v);
  case FIELD_INT: return json_is_integer(v);
  case FIELD_BOOL: return json_is_boolean(v);
  case FIELD_NUMBER: return json_is_number(v);
  case FIELD_OBJECT: return json_is_object(v);
  case FIELD_ARRAY: return json_is_array(v);
  }
  return 0;
}

int http_validate(struct request *rq, const struct field *fields, int count) {
  const char *key;
  json_t *value;
  json_object_foreach(rq->body, key, value) {
    const struct field *f = NULL;
    for (int i = 0; i < count && !f; i++)
      if (!strcmp(fields[i].name, key))
        f = &fields[i];
    if (!f) {
      http_error(rq, 400, "unknown_field", "unknown field '%.64s'", key);
      return -1;
    }
    if (json_is_null(value)) {
      if (f->nullable)
        continue;
      http_error(rq, 400, "invalid_field", "field '%s' must not be null", f->name);
      return -1;
    }
    if (!type_matches(f->type, value)) {
      http_error(rq, 400, "invalid_field", "field '%s' must be %s", f->name, type_name(f->type));
      return -1;
    }
    if (f->type == FIELD_STRING) {
      size_t max = f->max_length ? f->max_length : 255;
      size_t len = json_string_length(value);
      if (len > max) {
        http_error(rq, 400, "invalid_field", "field '%s' is longer than %zu bytes", f->name, max);
        return -1;
      }
      if (strlen(json_string_value(value)) != len) {
        http_error(rq, 400, "invalid_field", "field '%s' contains a NUL character", f->name);
        return -1;
      }
    }
  }
  for (int i = 0; i < count; i++)
    if (fields[i].required && !json_object_get(rq->body, fields[i].name)) {
      http_error(rq, 400, "missing_field", "field '%s' is required", fields[i].name);
      return -1;
    }
  return 0;
}

/* --- routing -------------------------------------------------------------- */

/* Matches path against a pattern; fills rq->params. */
int http_path_matches(const char *pattern, const char *path, struct request *rq) {
  int n = 0;
  const char *p = pattern, *q = path;
  while (*p && *q) {
    if (*p == '{') {
      const char *close = strchr(p, '}');
      const char *end = strchr(q, '/');
      size_t vlen = end ? (size_t)(end - q) : strlen(q);
      size_t nlen = (size_t)(close - p - 1);
      if (!vlen || vlen >= sizeof rq->params[0].value || n >= HTTP_MAX_PATH_PARAMS ||
          nlen >= sizeof rq->params[0].name)
        return 0;
      memcpy(rq->params[n].name, p + 1, nlen);
      rq->params[n].name[nlen] = 0;
      memcpy(rq->params[n].value, q, vlen);
      rq->params[n].value[vlen] = 0;
      n++;
      p = close + 1;
      q += vlen;
    } else if (*p++ != *q++) {
      return 0;
    }
  }
  if (*p || *q)
    return 0;
  rq->nparams = n;
  return 1;
}

/* Returns the route index, -1 when no path matches, -2 when the path exists
 * with other methods (405; *allow lists them). */
static int route_find(struct request *rq, const char *method, const char *path, char *allow,
                      size_t allow_size) {
  int path_seen = 0;
  allow[0] = 0;
  for (int i = 0; i < http_route_count; i++) {
    if (!http_path_matches(http_routes[i].pattern, path, rq))
      continue;
    if (!strcmp(http_routes[i].method, method) ||
        (!strcmp(method, "HEAD") && !strcmp(http_routes[i].method, "GET")))
      return i;
    path_seen = 1;
    size_t len = strlen(allow);
    snprintf(allow + len, allow_size - len, "%s%s", len ? ", " : "", http_routes[i].method);
  }
  rq->nparams = 0;
  return path_seen ? -2 : -1;
}

static int is_api_path(const char *path) {
  return !strncmp(path, "/v1/", 4) || !strcmp(path, "/v1") || !strcmp(path, "/healthz") ||
         !strcmp(path, "/readyz") || !strcmp(path, "/metrics");
}

/* --- cross-origin ------------------------------------------------------ */

static int origin_allowed(const struct server *s, const char *origin) {
  const char *list = s->cfg.cors_origins;
  if (!origin || !list || !*list)
    return 0;
  size_t olen = strlen(origin);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *end = p;
    while (*end && *end != ',')
      end++;
    const char *trim = end;
    while (trim > p && trim[-1] == ' ')
      trim--;
    if ((size_t)(trim - p) == olen && !strncmp(p, origin, olen))
      return 1;
    p = end;
  }
  return 0;
}

/* The headers every answer carries unless its handler set them itself. */
static void common_headers(struct request *rq, int api) {
  header_default(rq, "X-Request-Id", rq->id);
  header_default(rq, "X-Content-Type-Options", "nosniff");
  header_default(rq, "X-Frame-Options", "DENY");
  header_default(rq, "Referrer-Policy", "no-referrer");
  header_default(rq, "Cross-Origin-Opener-Policy", "same-origin");
  header_default(rq, "Cross-Origin-Resource-Policy", "same-origin");
  header_default(rq, "Permissions-Policy", "camera=(self), microphone=(), geolocation=()");
  if (api) {
    header_default(rq, "Cache-Control", "no-store");
    header_default(rq, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  }
  const char *origin = rq->server->cfg.cors_origins ? http_header_in(rq, "Origin") : NULL;
  if (origin_allowed(rq->server, origin)) {
    http_header(rq, "Access-Control-Allow-Origin", origin);
    http_header(rq, "Access-Control-Allow-Credentials", "true");
    http_header(rq, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
    http_header(rq, "Vary", "Origin");
  }
}

void http_headers_finish(struct request *rq, int api) {
  common_headers(rq, api);
  headers_flush(rq);
}

/* --- the dispatcher ----------------------------------------------------- */

/* Request ids: a random per-process prefix and a counter: unique, and no
 * system call per request. */
static uint32_t request_prefix;
static pthread_once_t request_prefix_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t request_counter;
static void pick_prefix(void) {
  request_prefix = randombytes_random();
}

static void request_id(struct request *rq) {
  const char *given = http_header_in(rq, "X-Request-Id");
  if (given) {
    size_t len = strlen(given);
    int ok = len > 0 && len < sizeof rq->id;
    for (size_t i = 0; ok && i < len; i++) {
      char c = given[i];
      ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == '.';
    }
    if (ok) {
      memcpy(rq->id, given, len + 1);
      return;
    }
  }
  pthread_once(&request_prefix_once, pick_prefix);
  /* "%08x%08x" of the prefix and the counter's low 32 bits, by hand. */
  static const char hex[] = "0123456789abcdef";
  uint64_t v = (uint64_t)request_prefix << 32 |
               (atomic_fetch_add(&request_counter, 1) & 0xffffffffu);
  for (int i = 15; i >= 0; i--, v >>= 4)
    rq->id[i] = hex[v & 15];
  rq->id[16] = 0;
}

static int64_t content_length(const struct request *rq) {
  const char *v = http_header_in(rq, "Content-Length");
  if (!v)
    return -1;
  errno = 0;
  char *end;
  long long n = strtoll(v, &end, 10);
  if (errno || end == v || *end || n < 0)
    return -2;
  return n;
}

static int body_within_limit(struct request *rq) {
  const struct config *c = &rq->server->cfg;
  int64_t limit =
      rq->route && rq->route->body == BODY_UPLOAD ? c->max_upload_bytes : c->max_body_bytes;
  int64_t declared = content_length(rq);
  if (declared == -2) {
    http_error(rq, 400, "bad_request", "Content-Length is not a number");
    return 0;
  }
  /* ulfius keeps at most limit+1 bytes of a body (see http_start), so a
   * chunked body longer than the limit shows as limit+1 bytes here. */
  if (declared > limit || (int64_t)rq->raw->binary_body_length > limit) {
    http_error(rq, 413, "payload_too_large", "request body larger than %lld bytes",
               (long long)limit);
    return 0;
  }
  return 1;
}

static int parse_json_body(struct request *rq) {
  const char *type = http_header_in(rq, "Content-Type");
  if (!type || strncasecmp(type, "application/json", 16) ||
      (type[16] && type[16] != ';' && type[16] != ' ')) {
    http_error(rq, 415, "unsupported_media_type", "send the body as application/json");
    return 0;
  }
  json_error_t jerr;
  rq->body =
      json_loadb(rq->raw->binary_body, rq->raw->binary_body_length, JSON_REJECT_DUPLICATES, &jerr);
  if (!rq->body) {
    http_error(rq, 400, "bad_request", "malformed JSON at line %d column %d: %s", jerr.line,
               jerr.column, jerr.text);
    return 0;
  }
  if (!json_is_object(rq->body)) {
    http_error(rq, 400, "bad_request", "the body must be a JSON object");
    return 0;
  }
  return 1;
}

static int authorize(struct request *rq) {
  const struct route *r = rq->route;
  if (r->flags & ROUTE_PUBLIC)
    return 1;
  struct ff_error err = {0};
  const char *ticket = (r->flags & ROUTE_TICKET) ? http_query(rq, "ticket") : NULL;
  int rc = auth_resolve(rq->server, http_header_in(rq, "Authorization"), ticket, rq->raw->url_path,
                        &rq->who, &err);
  if (rc) {
    if (rc == FF_EAUTH) {
      http_header(rq, "WWW-Authenticate", "Bearer");
      http_error(rq, 401, "unauthorized", "%s", err.message[0] ? err.message : "sign in first");
    } else {
      http_fail(rq, rc, &err);
    }
    return 0;
  }
  if (!(r->roles & ROLE_BIT(rq->who.role))) {
    http_error(rq, 403, "forbidden", "a %s may not do this", role_name(rq->who.role));
    return 0;
  }
  return 1;
}

static void access_log(struct request *rq, const char *path, uint64_t elapsed_us) {
  struct log_line l;
  log_begin(&l, LOG_INFO, "http.request");
  log_str(&l, "id", rq->id);
  log_str(&l, "method", rq->raw->http_verb);
  log_str(&l, "path", path);
  if (rq->route)
    log_str(&l, "route", rq->route->pattern);
  log_int(&l, "status", rq->status);
  log_num(&l, "ms", (double)elapsed_us / 1000.0);
  if (rq->who.role) {
    log_str(&l, "role", role_name(rq->who.role));
    if (rq->who.user_id)
      log_int(&l, "user", rq->who.user_id);
    if (rq->who.key_id)
      log_int(&l, "key", rq->who.key_id);
  }
  char addr[64];
  http_client_address(rq, addr, sizeof addr);
  log_str(&l, "client", addr);
  log_end(&l);
}

static int dispatch(const struct _u_request *raw, struct _u_response *res, void *user_data) {
  struct server *s = user_data;
  uint64_t start = monotonic_us();
  atomic_fetch_add(&s->in_flight, 1);
  atomic_store(&s->last_dispatch_us, (long long)start);

  struct request rq;
  memset(&rq, 0, offsetof(struct request, header_bytes));
  rq.server = s;
  rq.raw = raw;
  rq.res = res;
  rq.route_index = UNMATCHED_ROUTE;
  request_id(&rq);

  const char *path = raw->url_path ? raw->url_path : "/";
  const char *method = raw->http_verb ? raw->http_verb : "";
  int api = is_api_path(path);
  char allow[96];
  int index = route_find(&rq, method, path, allow, sizeof allow);

  if (!strcmp(method, "OPTIONS")) {
    if (origin_allowed(s, http_header_in(&rq, "Origin"))) {
      http_header(&rq, "Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE");
      http_header(&rq, "Access-Control-Allow-Headers",
                  "Authorization, Content-Type, X-Request-Id, Last-Event-ID");
      http_header(&rq, "Access-Control-Max-Age", "600");
      http_empty(&rq, 204);
    } else {
      http_error(&rq, 405, "method_not_allowed", "cross-origin requests are not allowed");
    }
  } else if (atomic_load(&s->draining) && strcmp(path, "/healthz")) {
    http_header(&rq, "Retry-After", "5");
    http_error(&rq, 503, "unavailable", "the server is shutting down");
  } else if (index >= 0) {
    rq.route = &http_routes[index];
    rq.route_index = index < UNMATCHED_ROUTE ? index : UNMATCHED_ROUTE;
    if (body_within_limit(&rq) && authorize(&rq) &&
        ((rq.route->body != BODY_JSON && rq.route->body != BODY_JSON_LARGE) ||
         parse_json_body(&rq))) {
      rq.route->handler(&rq);
      if (rq.changed)
        auth_cache_invalidate(s);
      if (!rq.status)
        http_error(&rq, 500, "internal", "the handler gave no answer (request %s)", rq.id);
    }
  } else if (index == -2) {
    http_header(&rq, "Allow", allow);
    http_error(&rq, 405, "method_not_allowed", "%s is not allowed here; use %s", method, allow);
  } else if (api) {
    http_error(&rq, 404, "not_found", "no such endpoint: %s %s", method, path);
  } else if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
    static_serve(&rq, path);
  } else {
    http_error(&rq, 405, "method_not_allowed", "only GET here");
  }

  http_headers_finish(&rq, api);
  json_decref(rq.body);
  uint64_t elapsed = monotonic_us() - start;
  metrics_record(&s->metrics, rq.route_index, rq.status, elapsed);
  access_log(&rq, path, elapsed);
  atomic_fetch_sub(&s->in_flight, 1);
  return U_CALLBACK_COMPLETE;
}

/* --- streamed responses ------------------------------------------------- */

#define STREAM_BLOCK_BYTES (16 * 1024)
#define STREAM_END_WAIT_MS 2000

struct http_stream {
  struct server *server;
  const struct http_stream_ops *ops;
  void *state;
  int fd;             /* the connection's socket, -1 when not found */
  atomic_int cut;     /* http_stream_cut was called */
  atomic_int reading; /* inside ops->read */
  atomic_int ended;   /* read returned the end */
  struct http_stream *next, *prev; /* server->streams, guarded by streams_lock */
};

static int same_address(const struct sockaddr *a, const struct sockaddr_storage *b) {
  if (a->sa_family != b->ss_family)
    return 0;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && !memcmp(&x->sin6_addr, &y->sin6_addr, 16);
  }
  return 0;
}

/* The framework does not hand out a connection's socket, so it is found by
 * its ends: the one open socket whose local port is ours and whose peer is
 * this request's client (address and port name one live TCP connection). */
static int stream_socket(const struct request *rq) {
  const struct sockaddr *peer = rq->raw->client_address;
  if (!peer)
    return -1;
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return -1;
  int found = -1;
  struct dirent *e;
  while (found < 0 && (e = readdir(d))) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end || end == e->d_name || fd == dirfd(d))
      continue;
    struct sockaddr_storage local, remote;
    socklen_t llen = sizeof local, rlen = sizeof remote;
    if (getsockname((int)fd, (struct sockaddr *)&local, &llen) ||
        getpeername((int)fd, (struct sockaddr *)&remote, &rlen))
      continue;
    int port = local.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&local)->sin_port)
               : local.ss_family == AF_INET6
                   ? ntohs(((struct sockaddr_in6 *)&local)->sin6_port)
                   : -1;
    if (port == rq->server->port && same_address(peer, &remote))
      found = (int)fd;
  }
  closedir(d);
  return found;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  struct http_stream *st = cls;
  if (atomic_load(&st->cut) || atomic_load(&st->ended))
    return U_STREAM_END;
  atomic_store(&st->reading, 1);
  size_t n = http_stream_closing(st) ? 0 : st->ops->read(st->state, st, buf, max);
  atomic_store(&st->reading, 0);
  if (!n) {
    atomic_store(&st->ended, 1);
    return U_STREAM_END;
  }
  return (ssize_t)n;
}

static void stream_free(void *cls) {
  struct http_stream *st = cls;
  struct server *s = st->server;
  pthread_mutex_lock(&s->streams_lock);
  if (st->prev)
    st->prev->next = st->next;
  else
    s->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
  pthread_mutex_unlock(&s->streams_lock);
  atomic_fetch_sub(&s->stream_count, 1);
  st->ops->release(st->state);
  free(st);
}

struct http_stream *http_stream(struct request *rq, const char *content_type, int send_buffer,
                                const struct http_stream_ops *ops, void *state) {
  struct server *s = rq->server;
  struct http_stream *st = calloc(1, sizeof *st);
  if (!st) {
    ops->release(state);
    http_error(rq, 500, "internal", "out of memory");
    return NULL;
  }
  st->server = s;
  st->ops = ops;
  st->state = state;
  st->fd = stream_socket(rq);
  if (st->fd >= 0) {
    int size = send_buffer > 0 ? send_buffer : HTTP_STREAM_SNDBUF;
    setsockopt(st->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  if (ulfius_set_stream_response(rq->res, 200, stream_read, stream_free, U_STREAM_SIZE_UNKNOWN,
                                 STREAM_BLOCK_BYTES, st) != U_OK) {
    ops->release(state);
    free(st);
    http_error(rq, 500, "internal", "cannot start the stream");
    return NULL;
  }
  rq->status = 200;
  http_header(rq, "Content-Type", content_type);
  http_header(rq, "X-Accel-Buffering", "no"); /* reverse proxies: do not buffer */
  pthread_mutex_lock(&s->streams_lock);
  st->next = s->streams;
  if (s->streams)
    s->streams->prev = st;
  s->streams = st;
  pthread_mutex_unlock(&s->streams_lock);
  atomic_fetch_add(&s->stream_count, 1);
  return st;
}

void http_stream_cut(struct http_stream *st) {
  if (atomic_exchange(&st->cut, 1))
    return;
  if (st->fd >= 0)
    shutdown(st->fd, SHUT_RDWR);
  st->ops->wake(st->state);
}

int http_stream_closing(const struct http_stream *st) {
  return atomic_load(&st->server->draining) || atomic_load(&st->cut);
}

int http_stream_count(const struct server *s) {
  return atomic_load(&s->stream_count);
}

/* On shutdown: wakes every stream and waits (a bounded time) until none is
 * inside its read function, so the framework's stop does not wait on one. */
static void streams_end(struct server *s) {
  for (int waited = 0; waited < STREAM_END_WAIT_MS; waited += 10) {
    int busy = 0;
    pthread_mutex_lock(&s->streams_lock);
    for (struct http_stream *st = s->streams; st; st = st->next) {
      st->ops->wake(st->state);
      busy += atomic_load(&st->reading);
    }
    pthread_mutex_unlock(&s->streams_lock);
    if (!busy)
      return;
    usleep(10 * 1000);
  }
  log_msg(LOG_WARN, "http.drain", "streams still sending after %d ms", STREAM_END_WAIT_MS);
}

/* --- lifecycle ------------------------------------------------------------ */

/* A port the kernel considers free now (for --port 0). ulfius cannot bind
 * port 0 itself, so there is a small window in which another process could
 * take it; http_start() retries with a new one if so. */
static int free_port(struct in_addr address) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr = address;
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int start_on(struct server *s, struct sockaddr_in *addr, struct ff_error *err);

int http_start(struct server *s, struct ff_error *err) {
  pthread_mutex_init(&s->streams_lock, NULL);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, s->cfg.listen, &addr.sin_addr) != 1)
    return ff_fail(err, FF_EINVAL, "listen address '%s' is not an IPv4 address", s->cfg.listen);
  if (s->cfg.port) {
    addr.sin_port = htons((uint16_t)s->cfg.port);
    return start_on(s, &addr, err);
  }
  int rc = FF_EIO;
  for (int attempt = 0; attempt < 5 && rc == FF_EIO; attempt++) {
    int port = free_port(addr.sin_addr);
    if (port <= 0)
      return ff_fail(err, FF_EIO, "no free port on %s", s->cfg.listen);
    addr.sin_port = htons((uint16_t)port);
    rc = start_on(s, &addr, err);
  }
  return rc;
}

static int start_on(struct server *s, struct sockaddr_in *addr, struct ff_error *err) {
  int port = ntohs(addr->sin_port);
  s->http = calloc(1, sizeof *s->http);
  if (!s->http)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  if (ulfius_init_instance(s->http, (unsigned)port, addr, NULL) != U_OK) {
    free(s->http);
    s->http = NULL;
    return ff_fail(err, FF_EINTERNAL, "cannot initialise the HTTP framework");
  }
  int64_t limit = s->cfg.max_body_bytes > s->cfg.max_upload_bytes ? s->cfg.max_body_bytes
                                                                  : s->cfg.max_upload_bytes;
  s->http->max_post_body_size = (size_t)limit + 1;
  ulfius_set_default_endpoint(s->http, dispatch, s);
  /* ulfius refuses to start without an endpoint list; routing is ours, so
   * the one entry sends to the same dispatcher. */
  ulfius_add_endpoint_by_val(s->http, "FOOTFALL", "/", NULL, 0, dispatch, s);

  /* The daemon ulfius_start_framework would start (a thread per connection,
   * which streamed responses and WebSockets require, and the two callbacks
   * ulfius needs), with a smaller memory pool per connection: MHD keeps a
   * request's line and headers in it and clears all of it after every
   * request, and 32 KB (its default) made that clearing a visible part of a
   * small answer. HTTP_CONNECTION_MEMORY still takes about 15 KB of request
   * line and headers (431 beyond; web servers commonly allow 8 KB), and
   * bodies are read in pieces. Each connection's thread waits with poll(). */
  struct MHD_OptionItem options[] = {
      {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL},
      {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL},
      {MHD_OPTION_SOCK_ADDR, 0, addr},
      {MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL}, /* idle keep-alive connections: 2 minutes */
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONNECTION_MEMORY, NULL},
      {MHD_OPTION_END, 0, NULL},
  };
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_ALLOW_UPGRADE | MHD_USE_POLL;
  if (ulfius_start_framework_with_mhd_options(s->http, flags, options) != U_OK) {
    ulfius_clean_instance(s->http);
    free(s->http);
    s->http = NULL;
    return ff_fail(err, FF_EIO, "cannot listen on %s:%d (port in use?)", s->cfg.listen, port);
  }
  s->port = port;
  return FF_OK;
}

int http_bound_port(struct server *s) {
  return s->port;
}

void http_stop(struct server *s, int grace_ms) {
  if (!s->http)
    return;
  atomic_store(&s->draining, 1);
  /* From here new requests are answered 503 (see dispatch) while the ones
   * in flight finish. ulfius calls us only once a request's body has
   * arrived, so we also wait until no request has reached the dispatcher
   * for DRAIN_QUIET_MS: one still arriving gets its 503 rather than a
   * closed connection. */
  for (int waited = 0; waited < grace_ms; waited += 10) {
    long long quiet_us = (long long)monotonic_us() - atomic_load(&s->last_dispatch_us);
    if (atomic_load(&s->in_flight) == 0 && quiet_us >= DRAIN_QUIET_MS * 1000)
      break;
    usleep(10 * 1000);
  }
  int left = atomic_load(&s->in_flight);
  if (left)
    log_msg(LOG_WARN, "http.drain", "%d requests still running after %d ms", left, grace_ms);
  streams_end(s);
  ulfius_stop_framework(s->http);
  ulfius_clean_instance(s->http);
  free(s->http);
  s->http = NULL;
}
