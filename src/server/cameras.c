#include "cameras.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "server.h"
#include "vault.h"

#define CAMERA_NAME_MAX 128
#define SOURCE_MAX 1024

static const char *kind_names[CAMERA_KIND_COUNT] = {"rtsp", "mjpeg", "file", "v4l2"};

int camera_kind_parse(const char *name, enum camera_kind *out) {
  for (int k = 0; name && k < CAMERA_KIND_COUNT; k++)
    if (!strcmp(name, kind_names[k])) {
      *out = (enum camera_kind)k;
      return 0;
    }
  return -1;
}

/* scheme://[user[:password]@]host[:port][/...]: the host must be there. */
static int has_host(const char *after_scheme) {
  const char *end = after_scheme + strcspn(after_scheme, "/?#");
  const char *at = NULL;
  for (const char *p = after_scheme; p < end; p++)
    if (*p == '@')
      at = p;
  const char *host = at ? at + 1 : after_scheme;
  return host < end && *host != ':';
}

int camera_source_check(enum camera_kind kind, const char *source, struct ff_error *err) {
  size_t len = strlen(source);
  if (!len || len > SOURCE_MAX)
    return ff_fail(err, FF_EINVAL, "the source must be 1-%d characters", SOURCE_MAX);
  for (const unsigned char *p = (const unsigned char *)source; *p; p++)
    if (*p <= ' ' || *p == 0x7f)
      return ff_fail(err, FF_EINVAL, "the source must not contain spaces or control characters");
  switch (kind) {
  case CAMERA_RTSP:
    if (!strncasecmp(source, "rtsp://", 7) && has_host(source + 7))
      return FF_OK;
    if (!strncasecmp(source, "rtsps://", 8) && has_host(source + 8))
      return FF_OK;
    return ff_fail(err, FF_EINVAL,
                   "an rtsp camera needs a url like rtsp://user:pass@host:554/path");
  case CAMERA_MJPEG:
    if ((!strncasecmp(source, "http://", 7) && has_host(source + 7)) ||
        (!strncasecmp(source, "https://", 8) && has_host(source + 8)))
      return FF_OK;
    return ff_fail(err, FF_EINVAL, "an mjpeg camera needs an http:// or https:// url");
  case CAMERA_FILE: {
    const char *path = !strncmp(source, "file://", 7) ? source + 7 : source;
    if (path[0] == '/' && !strstr(path, "/../") && !strstr(path, "/./"))
      return FF_OK;
    return ff_fail(err, FF_EINVAL, "a file camera needs an absolute path on the worker");
  }
  case CAMERA_V4L2: {
    static const char *const prefixes[] = {"/dev/video", "/dev/v4l/by-id/", "/dev/v4l/by-path/"};
    for (int i = 0; i < 3; i++) {
      size_t n = strlen(prefixes[i]);
      if (!strncmp(source, prefixes[i], n) && source[n] && !strstr(source, ".."))
        return i || strspn(source + n, "0123456789") == strlen(source + n)
                   ? FF_OK
                   : ff_fail(err, FF_EINVAL, "a v4l2 device is /dev/videoN or /dev/v4l/...");
    }
    return ff_fail(err, FF_EINVAL, "a v4l2 camera needs a device like /dev/video0");
  }
  default: return ff_fail(err, FF_EINVAL, "unknown camera kind");
  }
}

static int secret_query_key(const char *key, size_t len) {
  static const char *const words[] = {"pass", "pwd", "token", "secret", "key", "auth"};
  char lower[64];
  if (len >= sizeof lower)
    len = sizeof lower - 1;
  for (size_t i = 0; i < len; i++)
    lower[i] = (char)tolower((unsigned char)key[i]);
  lower[len] = 0;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strstr(lower, words[i]))
      return 1;
  return 0;
}

void camera_source_mask(const char *source, char *out, size_t size) {
  size_t n = 0;
  /* The argument is evaluated once, whether or not there is room. */
#define PUT(c)                                                                                     \
  do {                                                                                             \
    char put_char = (c);                                                                           \
    if (n + 1 < size)                                                                              \
      out[n++] = put_char;                                                                         \
  } while (0)
  const char *scheme = strstr(source, "://");
  const char *p = source;
  if (scheme) {
    const char *auth = scheme + 3;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *q = auth; q < end; q++)
      if (*q == '@')
        at = q;
    while (p < auth)
      PUT(*p++);
    if (at) {
      const char *colon = memchr(auth, ':', (size_t)(at - auth));
      for (const char *q = auth; q < (colon ? colon : at); q++)
        PUT(*q);
      if (colon) {
        PUT(':');
        for (int i = 0; i < 4; i++)
          PUT('*');
      }
      PUT('@');
      p = at + 1;
    }
  }
  /* Copy the rest, masking values of password-like query parameters. */
  int in_query = 0;
  while (*p) {
    if (*p == '?' || (in_query && *p == '&')) {
      in_query = 1;
      PUT(*p++);
      const char *key = p;
      size_t klen = strcspn(p, "=&#");
      for (size_t i = 0; i < klen; i++)
        PUT(*p++);
      if (*p == '=') {
        PUT(*p++);
        if (secret_query_key(key, klen)) {
          p += strcspn(p, "&#");
          for (int i = 0; i < 4; i++)
            PUT('*');
        }
      }
      continue;
    }
    if (*p == '#')
      in_query = 0;
    PUT(*p++);
  }
  out[n] = 0;
#undef PUT
}

/* --- handlers ----------------------------------------------------------------- */

/* With the camera's placement (fleet.c): a derived table named like the
 * real one, so the callers' WHERE clauses stay unqualified. */
static const char camera_select[] =
    "SELECT id, tenant_id, site_id, name, kind, source_masked, enabled, processing, sample_fps, "
    "entrance, created_at, updated_at, source_sealed, lease_worker, lease_generation, "
    "lease_expires, lease_manual, lease_state, lease_reason, lease_state_at FROM (SELECT c.*, "
    "l.worker_id AS lease_worker, l.generation AS lease_generation, l.expires_at AS lease_expires, "
    "l.manual AS lease_manual, l.state AS lease_state, l.reason AS lease_reason, "
    "l.state_at AS lease_state_at FROM cameras c LEFT JOIN camera_leases l "
    "ON l.camera_id = c.id) cameras";

static json_t *camera_json(const struct server *s, const struct db_rows *r, int i) {
  const char *kind = db_rows_text(r, i, 4);
  json_t *o = json_pack(
      "{s:I,s:I,s:I,s:s,s:s,s:b,s:b,s:f,s:b,s:I,s:I}", "id", (json_int_t)db_rows_int(r, i, 0),
      "tenant_id", (json_int_t)db_rows_int(r, i, 1), "site_id", (json_int_t)db_rows_int(r, i, 2),
      "name", db_rows_text(r, i, 3), "kind", kind, "enabled", (int)db_rows_int(r, i, 6),
      "processing", (int)db_rows_int(r, i, 7), "sample_fps", db_rows_real(r, i, 8), "entrance",
      (int)db_rows_int(r, i, 9), "created_at_ms", (json_int_t)db_rows_int(r, i, 10),
      "updated_at_ms", (json_int_t)db_rows_int(r, i, 11));
  const char *masked = db_rows_text(r, i, 5);
  json_object_set_new(o, strcmp(kind, "v4l2") ? "url" : "device", json_string(masked));
  /* Whether the sealed source differs from what is shown: credentials. */
  char *plain = vault_open(s, db_rows_text(r, i, 12));
  json_object_set_new(o, "has_credentials", json_boolean(plain && strcmp(plain, masked)));
  free(plain);
  /* Where it runs and what its worker reported; null when never placed. */
  json_t *status = json_null();
  if (!db_rows_is_null(r, i, 14))
    status =
        json_pack("{s:o,s:I,s:I,s:b,s:s?,s:s?,s:o}", "worker_id",
                  db_rows_is_null(r, i, 13) ? json_null() : json_integer(db_rows_int(r, i, 13)),
                  "lease_generation", (json_int_t)db_rows_int(r, i, 14), "lease_expires_at_ms",
                  (json_int_t)db_rows_int(r, i, 15), "manual", (int)db_rows_int(r, i, 16), "state",
                  db_rows_text(r, i, 17), "reason", db_rows_text(r, i, 18), "state_at_ms",
                  db_rows_is_null(r, i, 19) ? json_null() : json_integer(db_rows_int(r, i, 19)));
  json_object_set_new(o, "status", status);
  return o;
}

static json_t *camera_json_item(const struct request *rq, const struct db_rows *r, int i) {
  return camera_json(rq->server, r, i);
}

void cameras_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  int64_t site = 0;
  const char *site_q = http_query(rq, "site_id");
  if (site_q) {
    char *end;
    site = strtoll(site_q, &end, 10);
    if (*end || site <= 0) {
      http_error(rq, 400, "invalid_field", "site_id must be a site id");
      return;
    }
  }
  char sql[1200];
  snprintf(sql, sizeof sql,
           "%s WHERE ($1 = 0 OR tenant_id = $1) AND ($2 = 0 OR site_id = $2) AND "
           "($3 = 0 OR site_id = $3) AND id > $4 ORDER BY id LIMIT $5",
           camera_select);
  access_list_page(rq, sql,
                   DB_ARGS(db_int(access_tenant(rq)), db_int(access_site(rq)), db_int(site),
                           db_int(cursor), db_int(limit)),
                   limit, camera_json_item);
}

static struct db_rows *load_camera(struct request *rq, struct db_conn *c, int64_t id) {
  char sql[1200];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", camera_select);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = id ? db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err) : FF_OK;
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  if (!rows || db_rows_count(rows) != 1 ||
      !access_sees(rq, db_rows_int(rows, 0, 1), db_rows_int(rows, 0, 2))) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no such camera");
    return NULL;
  }
  return rows;
}

void cameras_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = load_camera(rq, c, http_param_id(rq, "id"));
  db_release(c);
  if (rows) {
    http_json(rq, 200, camera_json(rq->server, rows, 0));
    db_rows_free(rows);
  }
}

static const struct field camera_fields[] = {
    {"site_id", FIELD_INT, 1, 0, 0},     {"name", FIELD_STRING, 1, CAMERA_NAME_MAX, 0},
    {"kind", FIELD_STRING, 1, 16, 0},    {"url", FIELD_STRING, 0, SOURCE_MAX, 0},
    {"device", FIELD_STRING, 0, 256, 0}, {"enabled", FIELD_BOOL, 0, 0, 0},
    {"processing", FIELD_BOOL, 0, 0, 0}, {"sample_fps", FIELD_NUMBER, 0, 0, 0},
    {"entrance", FIELD_BOOL, 0, 0, 0},
};

/* The source of the body for its kind: "device" for v4l2, else "url".
 * Replies 400 and returns NULL when it is missing, misplaced or invalid. */
static const char *body_source(struct request *rq, enum camera_kind kind, int required) {
  const char *want = kind == CAMERA_V4L2 ? "device" : "url";
  const char *other = kind == CAMERA_V4L2 ? "url" : "device";
  if (json_object_get(rq->body, other)) {
    http_error(rq, 400, "invalid_field", "a %s camera takes '%s', not '%s'", kind_names[kind], want,
               other);
    return NULL;
  }
  const char *source = json_string_value(json_object_get(rq->body, want));
  if (!source) {
    if (required)
      http_error(rq, 400, "missing_field", "field '%s' is required for a %s camera", want,
                 kind_names[kind]);
    return NULL;
  }
  struct ff_error err = {0};
  if (camera_source_check(kind, source, &err)) {
    http_fail(rq, FF_EINVAL, &err);
    return NULL;
  }
  return source;
}

static int check_fps(struct request *rq) {
  json_t *fps = json_object_get(rq->body, "sample_fps");
  if (fps && (json_number_value(fps) <= 0 || json_number_value(fps) > 30)) {
    http_error(rq, 400, "invalid_field", "sample_fps must be above 0 and at most 30");
    return -1;
  }
  return 0;
}

static int flag(const json_t *body, const char *name, int fallback) {
  json_t *v = json_object_get(body, name);
  return v ? json_is_true(v) : fallback;
}

void cameras_create(struct request *rq) {
  if (http_validate(rq, camera_fields, sizeof camera_fields / sizeof camera_fields[0]) ||
      check_fps(rq))
    return;
  enum camera_kind kind;
  if (camera_kind_parse(json_string_value(json_object_get(rq->body, "kind")), &kind)) {
    http_error(rq, 400, "invalid_field", "kind must be rtsp, mjpeg, file or v4l2");
    return;
  }
  const char *source = body_source(rq, kind, 1);
  if (!source)
    return;
  const char *name = json_string_value(json_object_get(rq->body, "name"));
  if (!*name) {
    http_error(rq, 400, "invalid_field", "name must not be empty");
    return;
  }
  int64_t site = json_integer_value(json_object_get(rq->body, "site_id"));
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  int64_t tenant = 0, id = 0;
  if (!rc)
    rc = db_query(c, "SELECT tenant_id FROM sites WHERE id = $1", DB_ARGS(db_int(site)), &rows,
                  &err);
  if (!rc && (db_rows_count(rows) != 1 || !access_sees(rq, db_rows_int(rows, 0, 0), site)))
    rc = ff_fail(&err, FF_ENOTFOUND, "no such site");
  if (!rc)
    tenant = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  rows = NULL;
  char masked[SOURCE_MAX + 16];
  camera_source_mask(source, masked, sizeof masked);
  char *sealed = rc ? NULL : vault_seal(rq->server, source);
  if (!rc && !sealed)
    rc = ff_fail(&err, FF_ENOMEM, "out of memory");
  json_t *fps = json_object_get(rq->body, "sample_fps");
  int64_t now = server_now_ms(rq->server);
  if (!rc)
    rc = db_query(c,
                  "INSERT INTO cameras (tenant_id, site_id, name, kind, source_sealed, "
                  "source_masked, enabled, processing, sample_fps, entrance, created_at, "
                  "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) "
                  "RETURNING id",
                  DB_ARGS(db_int(tenant), db_int(site), db_text(name), db_text(kind_names[kind]),
                          db_text(sealed), db_text(masked), db_int(flag(rq->body, "enabled", 1)),
                          db_int(flag(rq->body, "processing", 1)),
                          db_real(fps ? json_number_value(fps) : 5.0),
                          db_int(flag(rq->body, "entrance", 1)), db_int(now)),
                  &rows, &err);
  free(sealed);
  if (rc == FF_ECONFLICT)
    ff_fail(&err, FF_ECONFLICT, "this site has a camera named '%s' already", name);
  if (!rc)
    id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  char summary[200];
  snprintf(summary, sizeof summary, "created %s camera '%s'", kind_names[kind], name);
  if (!rc)
    rc = audit_record(c, rq, tenant, "camera.create", "camera", id, summary);
  rc = access_finish(c, rc, &err);
  rows = rc ? NULL : load_camera(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    http_json(rq, 201, camera_json(rq->server, rows, 0));
  db_rows_free(rows);
}

static const struct field camera_update_fields[] = {
    {"name", FIELD_STRING, 0, CAMERA_NAME_MAX, 0},
    {"kind", FIELD_STRING, 0, 16, 0},
    {"url", FIELD_STRING, 0, SOURCE_MAX, 0},
    {"device", FIELD_STRING, 0, 256, 0},
    {"enabled", FIELD_BOOL, 0, 0, 0},
    {"processing", FIELD_BOOL, 0, 0, 0},
    {"sample_fps", FIELD_NUMBER, 0, 0, 0},
    {"entrance", FIELD_BOOL, 0, 0, 0},
};

void cameras_update(struct request *rq) {
  if (http_validate(rq, camera_update_fields,
                    sizeof camera_update_fields / sizeof camera_update_fields[0]) ||
      check_fps(rq))
    return;
  const char *name = json_string_value(json_object_get(rq->body, "name"));
  if (name && !*name) {
    http_error(rq, 400, "invalid_field", "name must not be empty");
    return;
  }
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_camera(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  enum camera_kind kind = CAMERA_RTSP, old_kind = CAMERA_RTSP;
  camera_kind_parse(db_rows_text(rows, 0, 4), &old_kind);
  kind = old_kind;
  db_rows_free(rows);
  const char *kind_name = json_string_value(json_object_get(rq->body, "kind"));
  if (kind_name && camera_kind_parse(kind_name, &kind)) {
    db_rollback(c);
    db_release(c);
    http_error(rq, 400, "invalid_field", "kind must be rtsp, mjpeg, file or v4l2");
    return;
  }
  int has_source = json_object_get(rq->body, "url") || json_object_get(rq->body, "device");
  const char *source = NULL;
  if (has_source || kind != old_kind) {
    source = body_source(rq, kind, 1);
    if (!source) {
      db_rollback(c);
      db_release(c);
      return;
    }
  }
  char masked[SOURCE_MAX + 16] = "";
  char *sealed = NULL;
  if (source) {
    camera_source_mask(source, masked, sizeof masked);
    if (!(sealed = vault_seal(rq->server, source)))
      rc = ff_fail(&err, FF_ENOMEM, "out of memory");
  }
  json_t *b = rq->body, *fps = json_object_get(b, "sample_fps");
  if (!rc)
    rc = db_exec(c,
                 "UPDATE cameras SET name = COALESCE($2, name), kind = $3, "
                 "source_sealed = COALESCE($4, source_sealed), "
                 "source_masked = COALESCE($5, source_masked), "
                 "enabled = CASE WHEN $6 >= 0 THEN $6 ELSE enabled END, "
                 "processing = CASE WHEN $7 >= 0 THEN $7 ELSE processing END, "
                 "sample_fps = CASE WHEN $8 > 0 THEN $8 ELSE sample_fps END, "
                 "entrance = CASE WHEN $9 >= 0 THEN $9 ELSE entrance END, updated_at = $10 "
                 "WHERE id = $1",
                 DB_ARGS(db_int(id), db_text(name), db_text(kind_names[kind]), db_text(sealed),
                         db_text(source ? masked : NULL), db_int(flag(b, "enabled", -1)),
                         db_int(flag(b, "processing", -1)),
                         db_real(fps ? json_number_value(fps) : 0), db_int(flag(b, "entrance", -1)),
                         db_int(server_now_ms(rq->server))),
                 NULL, &err);
  free(sealed);
  if (rc == FF_ECONFLICT)
    ff_fail(&err, FF_ECONFLICT, "this site has a camera with that name already");
  if (!rc)
    rc = audit_record(c, rq, tenant, "camera.update", "camera", id,
                      source ? "updated camera (source changed)" : "updated camera");
  rc = access_finish(c, rc, &err);
  rows = rc ? NULL : load_camera(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    http_json(rq, 200, camera_json(rq->server, rows, 0));
  db_rows_free(rows);
}

void cameras_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_camera(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  char summary[200];
  snprintf(summary, sizeof summary, "deleted camera '%s'", db_rows_text(rows, 0, 3));
  db_rows_free(rows);
  rc = db_exec(c, "DELETE FROM cameras WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "camera.delete", "camera", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}
