#include "customers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "recognizer.h"
#include "server.h"
#include "tz.h"

static json_t *opt_text(const struct db_rows *r, int i, int col) {
  const char *v = db_rows_text(r, i, col);
  return v ? json_string(v) : json_null();
}
static json_t *opt_int(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_integer(db_rows_int(r, i, col));
}
static json_t *opt_real(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_real(db_rows_real(r, i, col));
}

/* Optional positive integer query parameter; -1 after replying 400. */
static int64_t query_id(struct request *rq, const char *name) {
  const char *v = http_query(rq, name);
  if (!v)
    return 0;
  char *end;
  long long n = strtoll(v, &end, 10);
  if (!*v || *end || n <= 0) {
    http_error(rq, 400, "invalid_field", "%s must be a positive id", name);
    return -1;
  }
  return n;
}

/* Optional time bound: epoch ms or RFC 3339; -2 after replying 400, -1 absent. */
static int64_t query_time(struct request *rq, const char *name) {
  const char *v = http_query(rq, name);
  if (!v)
    return -1;
  int64_t t;
  char *end;
  long long ms = strtoll(v, &end, 10);
  if (*v && !*end && ms >= 0)
    return ms;
  if (!tz_parse_rfc3339(v, &t))
    return t;
  http_error(rq, 400, "invalid_field", "%s must be epoch milliseconds or an RFC 3339 time", name);
  return -2;
}

/* --- customers ---------------------------------------------------------------------- */

static const char customer_select[] =
    "SELECT id, tenant_id, name, phone, email, notes, gender_manual, age_manual, gender, "
    "gender_confidence, age, first_seen_at, last_seen_at, visit_count, created_at, "
    "(SELECT COUNT(*) FROM customer_faces f WHERE f.customer_id = customers.id) FROM customers";

static json_t *customer_json(const struct db_rows *r, int i) {
  json_t *o =
      json_pack("{s:I,s:I,s:I,s:I,s:I}", "id", (json_int_t)db_rows_int(r, i, 0), "tenant_id",
                (json_int_t)db_rows_int(r, i, 1), "visit_count", (json_int_t)db_rows_int(r, i, 13),
                "exemplar_count", (json_int_t)db_rows_int(r, i, 15), "created_at_ms",
                (json_int_t)db_rows_int(r, i, 14));
  json_object_set_new(o, "name", opt_text(r, i, 2));
  json_object_set_new(o, "phone", opt_text(r, i, 3));
  json_object_set_new(o, "email", opt_text(r, i, 4));
  json_object_set_new(o, "notes", opt_text(r, i, 5));
  /* A value set by hand wins over the estimate from visits. */
  int manual_gender = !db_rows_is_null(r, i, 6);
  json_object_set_new(o, "gender", manual_gender ? opt_text(r, i, 6) : opt_text(r, i, 8));
  json_object_set_new(o, "gender_source", json_string(manual_gender ? "manual" : "estimated"));
  json_object_set_new(o, "gender_confidence", manual_gender ? json_null() : opt_real(r, i, 9));
  int manual_age = !db_rows_is_null(r, i, 7);
  json_object_set_new(o, "age", manual_age ? opt_int(r, i, 7) : opt_real(r, i, 10));
  json_object_set_new(o, "age_source", json_string(manual_age ? "manual" : "estimated"));
  json_object_set_new(o, "first_seen_at_ms", opt_int(r, i, 11));
  json_object_set_new(o, "last_seen_at_ms", opt_int(r, i, 12));
  return o;
}

void customers_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  int64_t tenant = access_tenant(rq);
  int64_t site = access_site(rq);
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  char sql[900];
  /* Site-bound callers see the customers who visited their site. */
  snprintf(sql, sizeof sql,
           "%s WHERE erased_at IS NULL AND ($1 = 0 OR tenant_id = $1) AND id > $2 AND "
           "($3 = 0 OR EXISTS (SELECT 1 FROM visits v WHERE v.customer_id = customers.id AND "
           "v.site_id = $3)) ORDER BY id LIMIT $4",
           customer_select);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(tenant), db_int(cursor), db_int(site), db_int(limit)),
                    &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  json_t *items = json_array();
  int n = db_rows_count(rows);
  for (int i = 0; i < n; i++)
    json_array_append_new(items, customer_json(rows, i));
  json_t *next = n == limit ? json_integer(db_rows_int(rows, n - 1, 0)) : json_null();
  db_rows_free(rows);
  http_json(rq, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

void customers_get(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  char sql[700];
  snprintf(sql, sizeof sql, "%s WHERE id = $1 AND erased_at IS NULL", customer_select);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err);
  int visible = !rc && db_rows_count(rows) == 1 && access_sees(rq, db_rows_int(rows, 0, 1), 0);
  if (visible && access_site(rq)) {
    struct db_rows *v = NULL;
    visible = !db_query(c, "SELECT 1 FROM visits WHERE customer_id = $1 AND site_id = $2 LIMIT 1",
                        DB_ARGS(db_int(id), db_int(access_site(rq))), &v, NULL) &&
              db_rows_count(v) == 1;
    db_rows_free(v);
  }
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (!visible)
    http_error(rq, 404, "not_found", "no such customer");
  else
    http_json(rq, 200, customer_json(rows, 0));
  db_rows_free(rows);
}

/* --- visits ---------------------------------------------------------------------------- */

static const char visit_select[] =
    "SELECT v.id, v.tenant_id, v.site_id, v.customer_id, v.camera_id, v.first_seen_at, "
    "v.last_seen_at, v.local_day, v.detections, v.is_new, v.age, v.gender, "
    "v.gender_probability, v.best_quality, v.picture_key IS NOT NULL, v.picture_expires_at, "
    "s.timezone FROM visits v JOIN sites s ON s.id = v.site_id";

static json_t *visit_json(const struct db_rows *r, int i) {
  json_t *o = json_pack(
      "{s:I,s:I,s:I,s:I,s:I,s:s,s:I,s:b,s:f,s:b,s:s,s:I}", "id", (json_int_t)db_rows_int(r, i, 0),
      "tenant_id", (json_int_t)db_rows_int(r, i, 1), "site_id", (json_int_t)db_rows_int(r, i, 2),
      "first_seen_at_ms", (json_int_t)db_rows_int(r, i, 5), "last_seen_at_ms",
      (json_int_t)db_rows_int(r, i, 6), "local_day", db_rows_text(r, i, 7), "detections",
      (json_int_t)db_rows_int(r, i, 8), "is_new", (int)db_rows_int(r, i, 9), "best_quality",
      db_rows_real(r, i, 13), "has_picture", (int)db_rows_int(r, i, 14), "timezone",
      db_rows_text(r, i, 16), "duration_ms",
      (json_int_t)(db_rows_int(r, i, 6) - db_rows_int(r, i, 5)));
  json_object_set_new(o, "customer_id", opt_int(r, i, 3));
  json_object_set_new(o, "camera_id", opt_int(r, i, 4));
  json_object_set_new(o, "age", opt_real(r, i, 10));
  json_object_set_new(o, "gender", opt_text(r, i, 11));
  json_object_set_new(o, "gender_probability", opt_real(r, i, 12));
  json_object_set_new(o, "picture_expires_at_ms", opt_int(r, i, 15));
  return o;
}

void visits_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  int64_t site = query_id(rq, "site_id"), customer = query_id(rq, "customer_id");
  int64_t camera = query_id(rq, "camera_id");
  int64_t from = query_time(rq, "from"), to = query_time(rq, "to");
  const char *kind = http_query(rq, "kind");
  if (limit < 0 || cursor < 0 || site < 0 || customer < 0 || camera < 0 || from == -2 || to == -2)
    return;
  int is_new = -1;
  if (kind) {
    if (!strcmp(kind, "new"))
      is_new = 1;
    else if (!strcmp(kind, "returning"))
      is_new = 0;
    else {
      http_error(rq, 400, "invalid_field", "kind is new or returning");
      return;
    }
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  char sql[1200];
  /* Newest first; the cursor is the last id of the previous page. */
  snprintf(sql, sizeof sql,
           "%s WHERE ($1 = 0 OR v.tenant_id = $1) AND ($2 = 0 OR v.site_id = $2) AND "
           "($3 = 0 OR v.site_id = $3) AND ($4 = 0 OR v.customer_id = $4) AND "
           "($5 = 0 OR v.camera_id = $5) AND ($6 < 0 OR v.first_seen_at >= $6) AND "
           "($7 < 0 OR v.first_seen_at < $7) AND ($8 < 0 OR v.is_new = $8) AND "
           "($9 = 0 OR v.id < $9) ORDER BY v.id DESC LIMIT $10",
           visit_select);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql,
                    DB_ARGS(db_int(access_tenant(rq)), db_int(access_site(rq)), db_int(site),
                            db_int(customer), db_int(camera), db_int(from), db_int(to),
                            db_int(is_new), db_int(cursor), db_int(limit)),
                    &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  json_t *items = json_array();
  int n = db_rows_count(rows);
  for (int i = 0; i < n; i++)
    json_array_append_new(items, visit_json(rows, i));
  json_t *next = n == limit ? json_integer(db_rows_int(rows, n - 1, 0)) : json_null();
  db_rows_free(rows);
  http_json(rq, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

void visits_get(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  char sql[600];
  snprintf(sql, sizeof sql, "%s WHERE v.id = $1", visit_select);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (db_rows_count(rows) != 1 ||
           !access_sees(rq, db_rows_int(rows, 0, 1), db_rows_int(rows, 0, 2)))
    http_error(rq, 404, "not_found", "no such visit");
  else
    http_json(rq, 200, visit_json(rows, 0));
  db_rows_free(rows);
}

/* --- recognition settings of a tenant --------------------------------------------- */

static json_t *settings_json(const struct recognizer_settings *s) {
  return json_pack("{s:f,s:f,s:f,s:I,s:i,s:i,s:f,s:f,s:i}", "match_threshold", s->match_threshold,
                   "match_margin", s->match_margin, "staff_threshold", s->staff_threshold,
                   "visit_gap_s", (json_int_t)(s->visit_gap_ms / 1000), "gallery_size",
                   s->gallery_size, "min_face_px", s->min_face_px, "min_score", s->min_score,
                   "min_quality", s->min_quality, "retention_days", s->retention_days);
}

void settings_get(struct request *rq) {
  int64_t tenant = http_param_id(rq, "id");
  if (!tenant || !access_sees(rq, tenant, 0)) {
    http_error(rq, 404, "not_found", "no such tenant");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct recognizer_settings s;
  struct ff_error err = {0};
  int rc = recognizer_settings_load(c, tenant, &s, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_json(rq, 200, settings_json(&s));
}

static const struct field settings_fields[] = {
    {"match_threshold", FIELD_NUMBER, 0, 0, 0}, {"match_margin", FIELD_NUMBER, 0, 0, 0},
    {"staff_threshold", FIELD_NUMBER, 0, 0, 0}, {"visit_gap_s", FIELD_INT, 0, 0, 0},
    {"gallery_size", FIELD_INT, 0, 0, 0},       {"min_face_px", FIELD_INT, 0, 0, 0},
    {"min_score", FIELD_NUMBER, 0, 0, 0},       {"min_quality", FIELD_NUMBER, 0, 0, 0},
};

void settings_update(struct request *rq) {
  if (http_validate(rq, settings_fields, sizeof settings_fields / sizeof settings_fields[0]))
    return;
  int64_t tenant = http_param_id(rq, "id");
  if (!tenant || !access_sees(rq, tenant, 0)) {
    http_error(rq, 404, "not_found", "no such tenant");
    return;
  }
  static const struct {
    const char *name;
    double lo, hi;
  } ranges[] = {{"match_threshold", 0.1, 1.5}, {"match_margin", 0, 0.5},
                {"staff_threshold", 0.1, 1.5}, {"visit_gap_s", 60, 86400},
                {"gallery_size", 1, 50},       {"min_face_px", 8, 1024},
                {"min_score", 0, 1},           {"min_quality", 0, 1}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    json_t *v = json_object_get(rq->body, ranges[i].name);
    if (v && (json_number_value(v) < ranges[i].lo || json_number_value(v) > ranges[i].hi)) {
      http_error(rq, 400, "invalid_field", "%s must be from %g to %g", ranges[i].name, ranges[i].lo,
                 ranges[i].hi);
      return;
    }
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct recognizer_settings s;
  struct ff_error err = {0};
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = recognizer_settings_load(c, tenant, &s, &err);
  json_t *b = rq->body;
#define TAKE(field, name, conv)                                                                    \
  if (json_object_get(b, name))                                                                    \
  s.field = conv(json_object_get(b, name))
  TAKE(match_threshold, "match_threshold", json_number_value);
  TAKE(match_margin, "match_margin", json_number_value);
  TAKE(staff_threshold, "staff_threshold", json_number_value);
  TAKE(visit_gap_ms, "visit_gap_s", 1000 * json_integer_value);
  TAKE(gallery_size, "gallery_size", (int)json_integer_value);
  TAKE(min_face_px, "min_face_px", (int)json_integer_value);
  TAKE(min_score, "min_score", json_number_value);
  TAKE(min_quality, "min_quality", json_number_value);
#undef TAKE
  int64_t now = server_now_ms(rq->server);
  if (!rc)
    rc = db_exec(c, "DELETE FROM tenant_settings WHERE tenant_id = $1", DB_ARGS(db_int(tenant)),
                 NULL, &err);
  if (!rc)
    rc = db_exec(c,
                 "INSERT INTO tenant_settings (tenant_id, match_threshold, match_margin, "
                 "staff_threshold, visit_gap_s, gallery_size, min_face_px, min_score, "
                 "min_quality, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                 DB_ARGS(db_int(tenant), db_real(s.match_threshold), db_real(s.match_margin),
                         db_real(s.staff_threshold), db_int(s.visit_gap_ms / 1000),
                         db_int(s.gallery_size), db_int(s.min_face_px), db_real(s.min_score),
                         db_real(s.min_quality), db_int(now)),
                 NULL, &err);
  char summary[200];
  snprintf(summary, sizeof summary, "recognition settings: match %.3f margin %.3f staff %.3f",
           s.match_threshold, s.match_margin, s.staff_threshold);
  if (!rc)
    rc = audit_record(c, rq, tenant, "tenant.settings", "tenant", tenant, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_json(rq, 200, settings_json(&s));
}
