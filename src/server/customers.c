#include "customers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "faces.h"
#include "log.h"
#include "recognizer.h"
#include "retention.h"
#include "rollups.h"
#include "staff.h"
#include "store.h"
#include "vindex.h"
#include "server.h"
#include "tenants.h"
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

static json_t *customer_json_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return customer_json(r, i);
}

void customers_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  char sql[900];
  /* Site-bound callers see the customers who visited their site. */
  snprintf(sql, sizeof sql,
           "%s WHERE erased_at IS NULL AND ($1 = 0 OR tenant_id = $1) AND id > $2 AND "
           "($3 = 0 OR EXISTS (SELECT 1 FROM visits v WHERE v.customer_id = customers.id AND "
           "v.site_id = $3)) ORDER BY id LIMIT $4",
           customer_select);
  access_list_page(
      rq, sql,
      DB_ARGS(db_int(access_tenant(rq)), db_int(cursor), db_int(access_site(rq)), db_int(limit)),
      limit, customer_json_item);
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

static json_t *visit_json_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return visit_json(r, i);
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
  char sql[1200];
  /* Newest first; the cursor is the last id of the previous page. */
  snprintf(sql, sizeof sql,
           "%s WHERE ($1 = 0 OR v.tenant_id = $1) AND ($2 = 0 OR v.site_id = $2) AND "
           "($3 = 0 OR v.site_id = $3) AND ($4 = 0 OR v.customer_id = $4) AND "
           "($5 = 0 OR v.camera_id = $5) AND ($6 < 0 OR v.first_seen_at >= $6) AND "
           "($7 < 0 OR v.first_seen_at < $7) AND ($8 < 0 OR v.is_new = $8) AND "
           "($9 = 0 OR v.id < $9) ORDER BY v.id DESC LIMIT $10",
           visit_select);
  access_list_page(rq, sql,
                   DB_ARGS(db_int(access_tenant(rq)), db_int(access_site(rq)), db_int(site),
                           db_int(customer), db_int(camera), db_int(from), db_int(to),
                           db_int(is_new), db_int(cursor), db_int(limit)),
                   limit, visit_json_item);
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
  return json_pack("{s:f,s:f,s:f,s:I,s:i,s:i,s:f,s:f,s:i,s:i}", "match_threshold",
                   s->match_threshold, "match_margin", s->match_margin, "staff_threshold",
                   s->staff_threshold, "visit_gap_s", (json_int_t)(s->visit_gap_ms / 1000),
                   "gallery_size", s->gallery_size, "min_face_px", s->min_face_px, "min_score",
                   s->min_score, "min_quality", s->min_quality, "retention_days", s->retention_days,
                   "returning_lookback_days", s->returning_lookback_days);
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
    {"retention_days", FIELD_INT, 0, 0, 0},
    {"returning_lookback_days", FIELD_INT, 0, 0, 0},
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
  } ranges[] = {{"match_threshold", 0.1, 1.5},
                {"match_margin", 0, 0.5},
                {"staff_threshold", 0.1, 1.5},
                {"visit_gap_s", 60, 86400},
                {"gallery_size", 1, 50},
                {"min_face_px", 8, 1024},
                {"min_score", 0, 1},
                {"min_quality", 0, 1},
                {"retention_days", 1, RETENTION_DAYS_MAX},
                {"returning_lookback_days", 1, 730}};
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
  TAKE(retention_days, "retention_days", (int)json_integer_value);
  TAKE(returning_lookback_days, "returning_lookback_days", (int)json_integer_value);
#undef TAKE
  int64_t now = server_now_ms(rq->server);
  /* Retention lives on the tenant; kept pictures follow the new value. */
  if (!rc && json_object_get(b, "retention_days"))
    rc = retention_reschedule(c, tenant, s.retention_days, &err);
  if (!rc && json_object_get(b, "retention_days"))
    rc = db_exec(c, "UPDATE tenants SET retention_days = $2, updated_at = $3 WHERE id = $1",
                 DB_ARGS(db_int(tenant), db_int(s.retention_days), db_int(now)), NULL, &err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM tenant_settings WHERE tenant_id = $1", DB_ARGS(db_int(tenant)),
                 NULL, &err);
  if (!rc)
    rc = db_exec(c,
                 "INSERT INTO tenant_settings (tenant_id, match_threshold, match_margin, "
                 "staff_threshold, visit_gap_s, gallery_size, min_face_px, min_score, "
                 "min_quality, updated_at, returning_lookback_days) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                 DB_ARGS(db_int(tenant), db_real(s.match_threshold), db_real(s.match_margin),
                         db_real(s.staff_threshold), db_int(s.visit_gap_ms / 1000),
                         db_int(s.gallery_size), db_int(s.min_face_px), db_real(s.min_score),
                         db_real(s.min_quality), db_int(now), db_int(s.returning_lookback_days)),
                 NULL, &err);
  char summary[200];
  snprintf(summary, sizeof summary,
           "recognition settings: match %.3f margin %.3f staff %.3f retention %d days",
           s.match_threshold, s.match_margin, s.staff_threshold, s.retention_days);
  if (!rc)
    rc = audit_record(c, rq, tenant, "tenant.settings", "tenant", tenant, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_json(rq, 200, settings_json(&s));
}

/* --- pictures ------------------------------------------------------------------------ */

#define PICTURE_MAX_BYTES (512 * 1024)

void visits_picture(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT tenant_id, site_id, picture_key FROM visits WHERE id = $1",
                    DB_ARGS(db_int(id)), &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  if (db_rows_count(rows) != 1 ||
      !access_sees(rq, db_rows_int(rows, 0, 0), db_rows_int(rows, 0, 1)) ||
      !db_rows_text(rows, 0, 2)) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no picture for this visit (none, expired or erased)");
    return;
  }
  void *data = NULL;
  size_t len = 0;
  rc = store_get(rq->server->store, db_rows_text(rows, 0, 2), PICTURE_MAX_BYTES, &data, &len, &err);
  db_rows_free(rows);
  if (rc == FF_ENOTFOUND) {
    http_error(rq, 404, "not_found", "the picture is gone (retention)");
    return;
  }
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, data, len);
  free(data);
  http_header(rq, "Content-Type", "image/jpeg");
  http_header(rq, "Cache-Control", "private, max-age=300");
}

/* --- editing a customer ------------------------------------------------------------ */

static const struct field customer_fields[] = {
    {"name", FIELD_STRING, 0, 128, 1},  {"phone", FIELD_STRING, 0, 32, 1},
    {"email", FIELD_STRING, 0, 254, 1}, {"notes", FIELD_STRING, 0, 2000, 1},
    {"gender", FIELD_STRING, 0, 8, 1},  {"age", FIELD_INT, 0, 0, 1},
};

/* Loads a customer the caller may see, inside the caller's transaction. */
static int visible_customer(struct request *rq, struct db_conn *c, int64_t id, int64_t *tenant,
                            struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c, "SELECT tenant_id FROM customers WHERE id = $1 AND erased_at IS NULL",
                    DB_ARGS(db_int(id)), &rows, err);
  if (!rc && (db_rows_count(rows) != 1 || !access_sees(rq, db_rows_int(rows, 0, 0), 0)))
    rc = ff_fail(err, FF_ENOTFOUND, "no such customer");
  if (!rc)
    *tenant = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  return rc;
}

void customers_update(struct request *rq) {
  if (http_validate(rq, customer_fields, sizeof customer_fields / sizeof customer_fields[0]))
    return;
  json_t *b = rq->body;
  const char *gender = json_string_value(json_object_get(b, "gender"));
  json_t *age = json_object_get(b, "age");
  if ((gender && strcmp(gender, "male") && strcmp(gender, "female")) ||
      (json_is_integer(age) && (json_integer_value(age) < 0 || json_integer_value(age) > 120))) {
    http_error(rq, 400, "invalid_field", "gender is male or female; age 0..120 (null: estimated)");
    return;
  }
  int64_t id = http_param_id(rq, "id"), tenant = 0;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = visible_customer(rq, c, id, &tenant, &err);
  const char *names[] = {"name", "phone", "email", "notes"};
  for (int i = 0; !rc && i < 4; i++) {
    json_t *v = json_object_get(b, names[i]);
    if (!v)
      continue;
    char sql[96];
    snprintf(sql, sizeof sql, "UPDATE customers SET %s = $2 WHERE id = $1", names[i]);
    rc = db_exec(c, sql, DB_ARGS(db_int(id), db_text(json_string_value(v))), NULL, &err);
  }
  if (!rc && json_object_get(b, "gender"))
    rc = db_exec(c, "UPDATE customers SET gender_manual = $2 WHERE id = $1",
                 DB_ARGS(db_int(id), db_text(gender)), NULL, &err);
  if (!rc && age)
    rc = db_exec(
        c, "UPDATE customers SET age_manual = $2 WHERE id = $1",
        DB_ARGS(db_int(id), json_is_integer(age) ? db_int(json_integer_value(age)) : db_null()),
        NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "customer.update", "customer", id, "edited a customer");
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    customers_get(rq);
}

static int excluded(struct db_conn *c, int64_t a, int64_t b, struct ff_error *err);

/* --- merge -------------------------------------------------------------------------------- */

static const struct field merge_fields[] = {
    {"target_id", FIELD_INT, 1, 0, 0},
    {"source_ids", FIELD_ARRAY, 1, 0, 0},
};

#define MERGE_MAX 50

void customers_merge(struct request *rq) {
  if (http_validate(rq, merge_fields, 2))
    return;
  int64_t target = json_integer_value(json_object_get(rq->body, "target_id"));
  json_t *sources = json_object_get(rq->body, "source_ids");
  size_t n = json_array_size(sources);
  if (!n || n > MERGE_MAX) {
    http_error(rq, 400, "invalid_field", "source_ids holds 1 to %d customer ids", MERGE_MAX);
    return;
  }
  int64_t ids[MERGE_MAX];
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(sources, i);
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) == target) {
      http_error(rq, 400, "invalid_field", "source_ids are customer ids other than target_id");
      return;
    }
    ids[i] = json_integer_value(v);
    for (size_t k = 0; k < i; k++)
      if (ids[k] == ids[i]) {
        http_error(rq, 400, "invalid_field", "source_ids repeats %lld", (long long)ids[i]);
        return;
      }
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t tenant = 0, now = server_now_ms(rq->server);
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = visible_customer(rq, c, target, &tenant, &err);
  for (size_t i = 0; !rc && i < n; i++) {
    int64_t t = 0;
    rc = visible_customer(rq, c, ids[i], &t, &err);
    if (!rc && t != tenant)
      rc = ff_fail(&err, FF_ENOTFOUND, "no such customer");
  }
  for (size_t i = 0; !rc && i <= n; i++)
    for (size_t k = i + 1; !rc && k <= n; k++) {
      int64_t a = i == n ? target : ids[i], b = k == n ? target : ids[k];
      int marked = excluded(c, a, b, &err);
      if (marked < 0)
        rc = marked;
      else if (marked)
        rc = ff_fail(&err, FF_ECONFLICT,
                     "customers %lld and %lld were marked as not the same person", (long long)a,
                     (long long)b);
    }
  /* Reports: the site-days of the sources' visits get the target as visitor;
   * the target's visits interleave with theirs (previous visits change). */
  struct rollup_days days = {0};
  for (size_t i = 0; !rc && i < n; i++)
    rc = rollup_touch_customer(&days, rq->server, c, ids[i], &err);
  if (!rc)
    rc = rollup_touch_customer(&days, rq->server, c, target, &err);
  for (size_t i = 0; !rc && i < n; i++) {
    rc = db_exec(c,
                 "INSERT INTO customer_exclusions (tenant_id, customer_a, customer_b, created_at) "
                 "SELECT tenant_id, CASE WHEN other < $2 THEN other ELSE $2 END, "
                 "CASE WHEN other < $2 THEN $2 ELSE other END, $3 FROM (SELECT tenant_id, "
                 "CASE WHEN customer_a = $1 THEN customer_b ELSE customer_a END AS other "
                 "FROM customer_exclusions WHERE customer_a = $1 OR customer_b = $1) x "
                 "WHERE other <> $2 ON CONFLICT DO NOTHING",
                 DB_ARGS(db_int(ids[i]), db_int(target), db_int(now)), NULL, &err);
    if (!rc)
      rc = db_exec(c, "UPDATE visits SET customer_id = $2 WHERE customer_id = $1",
                   DB_ARGS(db_int(ids[i]), db_int(target)), NULL, &err);
    if (!rc)
      rc = db_exec(c, "UPDATE customer_faces SET customer_id = $2 WHERE customer_id = $1",
                   DB_ARGS(db_int(ids[i]), db_int(target)), NULL, &err);
    if (!rc)
      rc = db_exec(c, "UPDATE face_events SET customer_id = $2 WHERE customer_id = $1",
                   DB_ARGS(db_int(ids[i]), db_int(target)), NULL, &err);
    if (!rc)
      rc = db_exec(c, "DELETE FROM customers WHERE id = $1", DB_ARGS(db_int(ids[i])), NULL, &err);
  }
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  /* The merged gallery keeps its best exemplars only. */
  struct recognizer_settings set;
  if (!rc)
    rc = recognizer_settings_load(c, tenant, &set, &err);
  if (!rc)
    rc = db_exec(c,
                 "DELETE FROM customer_faces WHERE customer_id = $1 AND id NOT IN (SELECT id FROM "
                 "customer_faces WHERE customer_id = $1 ORDER BY quality DESC, id LIMIT $2)",
                 DB_ARGS(db_int(target), db_int(set.gallery_size)), NULL, &err);
  /* Visit counts and "new" flags follow the merged history. */
  if (!rc)
    rc = db_exec(c, "UPDATE visits SET is_new = 0 WHERE customer_id = $1", DB_ARGS(db_int(target)),
                 NULL, &err);
  if (!rc)
    rc = db_exec(c,
                 "UPDATE visits SET is_new = 1 WHERE id = (SELECT id FROM visits WHERE "
                 "customer_id = $1 ORDER BY first_seen_at, id LIMIT 1)",
                 DB_ARGS(db_int(target)), NULL, &err);
  if (!rc)
    rc = recognizer_refresh_customer(c, target, now, &err);
  char summary[200];
  snprintf(summary, sizeof summary, "merged %zu customer(s) into %lld", n, (long long)target);
  if (!rc)
    rc = audit_record(c, rq, tenant, "customer.merge", "customer", target, summary);
  rc = access_finish(c, rc, &err);
  if (!rc)
    rc = recognizer_reload_tenant(rq->server, c, tenant, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  recognizer_changed(rq->server, RECOGNIZER_TENANT, tenant, NULL, 0);
  struct request *r = rq;
  r->nparams = 1;
  snprintf(r->params[0].name, sizeof r->params[0].name, "id");
  snprintf(r->params[0].value, sizeof r->params[0].value, "%lld", (long long)target);
  customers_get(r);
}

/* --- erase ------------------------------------------------------------------------------ */

void customers_erase(struct request *rq) {
  int64_t id = http_param_id(rq, "id"), tenant = 0, now = server_now_ms(rq->server);
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *pictures = NULL, *counts = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = visible_customer(rq, c, id, &tenant, &err);
  if (!rc)
    rc = db_query(c,
                  "SELECT picture_key FROM visits WHERE customer_id = $1 AND "
                  "picture_key IS NOT NULL",
                  DB_ARGS(db_int(id)), &pictures, &err);
  if (!rc)
    rc = db_query(c,
                  "SELECT (SELECT COUNT(*) FROM customer_faces WHERE customer_id = $1), "
                  "(SELECT COUNT(*) FROM visits WHERE customer_id = $1)",
                  DB_ARGS(db_int(id)), &counts, &err);
  /* Pictures leave through the deletion queue: if deleting one fails below,
   * the retention job deletes it later. */
  for (int i = 0; !rc && i < db_rows_count(pictures); i++)
    rc = retention_queue(c, tenant, db_rows_text(pictures, i, 0), "erasure", now, &err);
  struct rollup_days days = {0};
  if (!rc)
    rc = rollup_touch_customer(&days, rq->server, c, id, &err);
  /* Visits stay as anonymous counts: no customer, no picture, no estimates. */
  if (!rc)
    rc = db_exec(c,
                 "UPDATE visits SET customer_id = NULL, picture_key = NULL, "
                 "picture_expires_at = NULL, best_event_id = NULL, age = NULL, gender = NULL, "
                 "gender_probability = NULL, updated_at = $2 WHERE customer_id = $1",
                 DB_ARGS(db_int(id), db_int(now)), NULL, &err);
  if (!rc)
    rc = db_exec(c, "UPDATE face_events SET customer_id = NULL WHERE customer_id = $1",
                 DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM customers WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  int64_t exemplars = rc ? 0 : db_rows_int(counts, 0, 0);
  int64_t visits = rc ? 0 : db_rows_int(counts, 0, 1);
  int npictures = rc ? 0 : db_rows_count(pictures);
  char summary[200];
  snprintf(summary, sizeof summary,
           "erased customer: %lld descriptors, %d pictures, %lld visits anonymised",
           (long long)exemplars, npictures, (long long)visits);
  if (!rc)
    rc = audit_record(c, rq, tenant, "customer.erase", "customer", id, summary);
  rc = access_finish(c, rc, &err);
  int removed = 0;
  if (!rc) {
    struct vindex *ix;
    if (!recognizer_customers(rq->server, tenant, &ix, NULL))
      vindex_remove_label(ix, id, NULL, NULL);
    recognizer_changed(rq->server, RECOGNIZER_CUSTOMERS, tenant, &id, 1);
    for (int i = 0; i < npictures; i++) {
      struct ff_error perr = {0};
      if (!retention_delete_now(rq->server, c, db_rows_text(pictures, i, 0), &perr))
        removed++;
      else
        log_msg(LOG_ERROR, "customers.erase_picture", "%s: %s (queued: the retention job retries)",
                db_rows_text(pictures, i, 0), perr.message);
    }
  }
  db_rows_free(pictures);
  db_rows_free(counts);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  char at[25];
  tz_format_rfc3339(now, at);
  http_json(rq, 200,
            json_pack("{s:I,s:s,s:I,s:i,s:i,s:I,s:b}", "customer_id", (json_int_t)id, "erased_at",
                      at, "descriptors_removed", (json_int_t)exemplars, "pictures_removed", removed,
                      "pictures_found", npictures, "visits_anonymised", (json_int_t)visits,
                      "complete", removed == npictures));
}

/* --- search by photo ----------------------------------------------------------------- */

void customers_search_photo(struct request *rq) {
  int64_t tenant = access_tenant(rq);
  if (!tenant) {
    http_error(rq, 400, "missing_field", "switch into a tenant first");
    return;
  }
  int count = 0;
  struct face_result *faces = upload_faces(rq, &count, NULL, NULL);
  if (!faces)
    return;
  struct ff_error err = {0};
  int rc = FF_OK;
  struct vindex *ix = NULL;
  struct db_conn *c = NULL;
  struct recognizer_settings set;
  rc = recognizer_customers(rq->server, tenant, &ix, &err);
  if (!rc && !(c = access_db(rq))) {
    free(faces);
    return;
  }
  if (!rc)
    rc = recognizer_settings_load(c, tenant, &set, &err);
  json_t *out = json_array();
  for (int i = 0; !rc && i < count; i++) {
    struct vindex_hit hits[5];
    size_t found = 0;
    rc = vindex_search_labels(ix, faces[i].descriptor, 5, NULL, 0, hits, &found, &err);
    json_t *matches = json_array();
    for (size_t k = 0; !rc && k < found; k++) {
      struct db_rows *rows = NULL;
      if (db_query(c,
                   "SELECT visit_count, last_seen_at FROM customers WHERE id = $1 AND "
                   "tenant_id = $2",
                   DB_ARGS(db_int(hits[k].label), db_int(tenant)), &rows, NULL) ||
          db_rows_count(rows) != 1) {
        db_rows_free(rows);
        continue;
      }
      json_t *m =
          json_pack("{s:I,s:f,s:b,s:I,s:I}", "customer_id", (json_int_t)hits[k].label, "distance",
                    (double)hits[k].distance, "match", hits[k].distance < set.match_threshold,
                    "visit_count", (json_int_t)db_rows_int(rows, 0, 0), "last_seen_at_ms",
                    (json_int_t)db_rows_int(rows, 0, 1));
      db_rows_free(rows);
      rows = NULL;
      json_t *last = json_array();
      if (!db_query(c,
                    "SELECT id, site_id, first_seen_at FROM visits WHERE customer_id = $1 "
                    "ORDER BY first_seen_at DESC LIMIT 3",
                    DB_ARGS(db_int(hits[k].label)), &rows, NULL))
        for (int v = 0; v < db_rows_count(rows); v++)
          json_array_append_new(
              last, json_pack("{s:I,s:I,s:I}", "visit_id", (json_int_t)db_rows_int(rows, v, 0),
                              "site_id", (json_int_t)db_rows_int(rows, v, 1), "first_seen_at_ms",
                              (json_int_t)db_rows_int(rows, v, 2)));
      db_rows_free(rows);
      json_object_set_new(m, "last_visits", last);
      json_array_append_new(matches, m);
    }
    json_array_append_new(out, json_pack("{s:{s:f,s:f,s:f,s:f},s:f,s:o}", "box", "x",
                                         faces[i].detection.box.x, "y", faces[i].detection.box.y,
                                         "width", faces[i].detection.box.width, "height",
                                         faces[i].detection.box.height, "score",
                                         faces[i].detection.score, "matches", matches));
  }
  if (c)
    db_release(c);
  free(faces);
  if (rc) {
    json_decref(out);
    http_fail(rq, rc, &err);
    return;
  }
  http_json(rq, 200, json_pack("{s:o,s:f}", "faces", out, "threshold", set.match_threshold));
}

/* --- visit corrections ------------------------------------------------------------- */

void visits_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc =
        db_query(c, "SELECT tenant_id, site_id, customer_id, picture_key FROM visits WHERE id = $1",
                 DB_ARGS(db_int(id)), &rows, &err);
  if (!rc && (db_rows_count(rows) != 1 ||
              !access_sees(rq, db_rows_int(rows, 0, 0), db_rows_int(rows, 0, 1))))
    rc = ff_fail(&err, FF_ENOTFOUND, "no such visit");
  int64_t tenant = rc ? 0 : db_rows_int(rows, 0, 0), customer = rc ? 0 : db_rows_int(rows, 0, 2);
  struct rollup_days days = {0};
  if (!rc)
    rc = rollup_touch_visit(&days, rq->server, c, id, &err);
  if (!rc)
    rc = db_exec(c, "UPDATE face_events SET visit_id = NULL WHERE visit_id = $1",
                 DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM visits WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  if (!rc && customer)
    rc = recognizer_refresh_customer(c, customer, server_now_ms(rq->server), &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "visit.delete", "visit", id, "deleted a visit");
  rc = access_finish(c, rc, &err);
  if (!rc && db_rows_text(rows, 0, 3))
    store_delete(rq->server->store, db_rows_text(rows, 0, 3), NULL);
  db_rows_free(rows);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}

static const struct field reassign_fields[] = {{"customer_id", FIELD_INT, 1, 0, 0}};

void visits_reassign(struct request *rq) {
  if (http_validate(rq, reassign_fields, 1))
    return;
  int64_t id = http_param_id(rq, "id");
  int64_t to = json_integer_value(json_object_get(rq->body, "customer_id"));
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int64_t now = server_now_ms(rq->server), to_tenant = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = db_query(c, "SELECT tenant_id, site_id, customer_id FROM visits WHERE id = $1",
                  DB_ARGS(db_int(id)), &rows, &err);
  if (!rc && (db_rows_count(rows) != 1 ||
              !access_sees(rq, db_rows_int(rows, 0, 0), db_rows_int(rows, 0, 1))))
    rc = ff_fail(&err, FF_ENOTFOUND, "no such visit");
  int64_t tenant = rc ? 0 : db_rows_int(rows, 0, 0), from = rc ? 0 : db_rows_int(rows, 0, 2);
  db_rows_free(rows);
  if (!rc)
    rc = visible_customer(rq, c, to, &to_tenant, &err);
  if (!rc && to_tenant != tenant)
    rc = ff_fail(&err, FF_ENOTFOUND, "no such customer");
  struct rollup_days days = {0};
  if (!rc)
    rc = rollup_touch_visit(&days, rq->server, c, id, &err);
  if (!rc)
    rc = db_exec(c, "UPDATE visits SET customer_id = $2, updated_at = $3 WHERE id = $1",
                 DB_ARGS(db_int(id), db_int(to), db_int(now)), NULL, &err);
  /* ...and the visits after it in its new customer's chain. */
  if (!rc)
    rc = rollup_touch_visit(&days, rq->server, c, id, &err);
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  if (!rc)
    rc = db_exec(c, "UPDATE face_events SET customer_id = $2 WHERE visit_id = $1",
                 DB_ARGS(db_int(id), db_int(to)), NULL, &err);
  if (!rc && from)
    rc = recognizer_refresh_customer(c, from, now, &err);
  if (!rc)
    rc = recognizer_refresh_customer(c, to, now, &err);
  char summary[160];
  snprintf(summary, sizeof summary, "moved the visit from customer %lld to %lld", (long long)from,
           (long long)to);
  if (!rc)
    rc = audit_record(c, rq, tenant, "visit.reassign", "visit", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    visits_get(rq);
}

/* Each customer's earliest visit is their "new" one. */
static int mark_first_visit_new(struct db_conn *c, int64_t customer, struct ff_error *err) {
  int rc = db_exec(c, "UPDATE visits SET is_new = 0 WHERE customer_id = $1",
                   DB_ARGS(db_int(customer)), NULL, err);
  return rc ? rc
            : db_exec(c,
                      "UPDATE visits SET is_new = 1 WHERE id = (SELECT id FROM visits WHERE "
                      "customer_id = $1 ORDER BY first_seen_at, id LIMIT 1)",
                      DB_ARGS(db_int(customer)), NULL, err);
}

#define MERGE_MAX 50

static const struct field visit_merge_fields[] = {{"visit_ids", FIELD_ARRAY, 1, 0, 0}};

/* Folds other visits of the same site and local day into this one: one pass
 * of a person that was recorded as several (they stayed longer than the visit
 * gap, or were not recognised at once). The visit keeps the earliest first
 * sighting, the latest last one, every detection, and the best picture with
 * its estimates; the others' face events move to it, the other pictures are
 * deleted, and each customer involved is recomputed. */
void visits_merge(struct request *rq) {
  if (http_validate(rq, visit_merge_fields, 1))
    return;
  json_t *list = json_object_get(rq->body, "visit_ids");
  size_t n = json_array_size(list);
  if (n == 0 || n > MERGE_MAX) {
    http_error(rq, 400, "invalid_field", "visit_ids must name 1 to 50 other visits");
    return;
  }
  int64_t id = http_param_id(rq, "id"), others[MERGE_MAX], customers[MERGE_MAX + 1];
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_array_get(list, i);
    others[i] = json_is_integer(v) ? json_integer_value(v) : 0;
    int repeated = others[i] == id;
    for (size_t k = 0; k < i; k++)
      repeated |= others[k] == others[i];
    if (others[i] <= 0 || repeated) {
      http_error(rq, 400, "invalid_field",
                 "visit_ids must be positive integers, each once, without the visit itself");
      return;
    }
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  char *doomed[MERGE_MAX] = {0}; /* pictures no visit shows any more */
  int ndoomed = 0, ncustomers = 0;
  int64_t now = server_now_ms(rq->server), tenant = 0, site = 0;
  char day[16] = "";
  double best = 0;
  const char *select = "SELECT tenant_id, site_id, customer_id, local_day, best_quality, "
                       "picture_key FROM visits WHERE id = $1";
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = db_query(c, select, DB_ARGS(db_int(id)), &rows, &err);
  if (!rc && (db_rows_count(rows) != 1 ||
              !access_sees(rq, db_rows_int(rows, 0, 0), db_rows_int(rows, 0, 1))))
    rc = ff_fail(&err, FF_ENOTFOUND, "no such visit");
  if (!rc) {
    tenant = db_rows_int(rows, 0, 0), site = db_rows_int(rows, 0, 1);
    snprintf(day, sizeof day, "%s", db_rows_text(rows, 0, 3));
    best = db_rows_real(rows, 0, 4);
    if (db_rows_int(rows, 0, 2))
      customers[ncustomers++] = db_rows_int(rows, 0, 2);
  }
  char *kept = rc || !db_rows_text(rows, 0, 5) ? NULL : strdup(db_rows_text(rows, 0, 5));
  db_rows_free(rows);
  rows = NULL;
  struct rollup_days days = {0};
  if (!rc)
    rc = rollup_touch_visit(&days, rq->server, c, id, &err);
  for (size_t i = 0; !rc && i < n; i++) {
    rc = db_query(c, select, DB_ARGS(db_int(others[i])), &rows, &err);
    if (!rc && (db_rows_count(rows) != 1 || db_rows_int(rows, 0, 0) != tenant ||
                !access_sees(rq, tenant, db_rows_int(rows, 0, 1))))
      rc = ff_fail(&err, FF_ENOTFOUND, "no such visit %lld", (long long)others[i]);
    if (!rc && (db_rows_int(rows, 0, 1) != site || strcmp(db_rows_text(rows, 0, 3), day)))
      rc = ff_fail(&err, FF_EINVAL,
                   "visit %lld is at another site or on another local day: only visits of one "
                   "site and day merge",
                   (long long)others[i]);
    if (!rc) {
      int64_t who = db_rows_int(rows, 0, 2);
      int known = !who;
      for (int k = 0; k < ncustomers; k++)
        known |= customers[k] == who;
      if (!known)
        customers[ncustomers++] = who;
      /* Whichever of the two pictures loses is deleted after the commit. */
      int better = db_rows_real(rows, 0, 4) > best;
      const char *key = db_rows_text(rows, 0, 5);
      char *loser = better ? kept : (key ? strdup(key) : NULL);
      if (better) {
        best = db_rows_real(rows, 0, 4);
        kept = key ? strdup(key) : NULL;
      }
      if (loser)
        doomed[ndoomed++] = loser;
    }
    db_rows_free(rows);
    rows = NULL;
    if (!rc)
      rc = rollup_touch_visit(&days, rq->server, c, others[i], &err);
    if (!rc)
      rc = db_exec(
          c,
          "UPDATE visits SET "
          "first_seen_at = CASE WHEN a.first_seen_at < visits.first_seen_at THEN a.first_seen_at "
          "ELSE visits.first_seen_at END, "
          "last_seen_at = CASE WHEN a.last_seen_at > visits.last_seen_at THEN a.last_seen_at "
          "ELSE visits.last_seen_at END, "
          "detections = visits.detections + a.detections, "
          "best_event_id = CASE WHEN a.best_quality > visits.best_quality THEN a.best_event_id "
          "ELSE visits.best_event_id END, "
          "picture_key = CASE WHEN a.best_quality > visits.best_quality THEN a.picture_key "
          "ELSE visits.picture_key END, "
          "picture_expires_at = CASE WHEN a.best_quality > visits.best_quality THEN "
          "a.picture_expires_at ELSE visits.picture_expires_at END, "
          "age = CASE WHEN a.best_quality > visits.best_quality THEN a.age ELSE visits.age END, "
          "gender = CASE WHEN a.best_quality > visits.best_quality THEN a.gender "
          "ELSE visits.gender END, "
          "gender_probability = CASE WHEN a.best_quality > visits.best_quality THEN "
          "a.gender_probability ELSE visits.gender_probability END, "
          "best_quality = CASE WHEN a.best_quality > visits.best_quality THEN a.best_quality "
          "ELSE visits.best_quality END, "
          "updated_at = $3 FROM visits a WHERE visits.id = $1 AND a.id = $2",
          DB_ARGS(db_int(id), db_int(others[i]), db_int(now)), NULL, &err);
    if (!rc)
      rc = db_exec(c,
                   "UPDATE face_events SET visit_id = $1, customer_id = (SELECT customer_id FROM "
                   "visits WHERE id = $1) WHERE visit_id = $2",
                   DB_ARGS(db_int(id), db_int(others[i])), NULL, &err);
    if (!rc)
      rc = db_exec(c, "DELETE FROM visits WHERE id = $1", DB_ARGS(db_int(others[i])), NULL, &err);
  }
  /* ...and the visits after its new first sighting in its customer's chain. */
  if (!rc)
    rc = rollup_touch_visit(&days, rq->server, c, id, &err);
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  for (int k = 0; !rc && k < ncustomers; k++) {
    rc = mark_first_visit_new(c, customers[k], &err);
    if (!rc)
      rc = recognizer_refresh_customer(c, customers[k], now, &err);
  }
  char summary[160];
  snprintf(summary, sizeof summary, "merged %zu visit(s) into this one", n);
  if (!rc)
    rc = audit_record(c, rq, tenant, "visit.merge", "visit", id, summary);
  rc = access_finish(c, rc, &err);
  for (int k = 0; k < ndoomed; k++) {
    if (!rc)
      store_delete(rq->server->store, doomed[k], NULL);
    free(doomed[k]);
  }
  free(kept);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    visits_get(rq);
}

/* --- "not the same person", split, similar ----------------------------------------- */

/* 1 when the two customers were marked as different people. */
static int excluded(struct db_conn *c, int64_t a, int64_t b, struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc =
      db_query(c, "SELECT 1 FROM customer_exclusions WHERE customer_a = $1 AND customer_b = $2",
               DB_ARGS(db_int(a < b ? a : b), db_int(a < b ? b : a)), &rows, err);
  int found = !rc && db_rows_count(rows) == 1;
  db_rows_free(rows);
  return rc ? rc : found;
}

static int exclude(struct db_conn *c, int64_t tenant, int64_t a, int64_t b, int64_t now,
                   struct ff_error *err) {
  return db_exec(c,
                 "INSERT INTO customer_exclusions (tenant_id, customer_a, customer_b, created_at) "
                 "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                 DB_ARGS(db_int(tenant), db_int(a < b ? a : b), db_int(a < b ? b : a), db_int(now)),
                 NULL, err);
}

static const struct field not_same_fields[] = {{"other_customer_id", FIELD_INT, 1, 0, 0}};

void customers_not_same(struct request *rq) {
  if (http_validate(rq, not_same_fields, 1))
    return;
  int64_t id = http_param_id(rq, "id");
  int64_t other = json_integer_value(json_object_get(rq->body, "other_customer_id"));
  if (other == id) {
    http_error(rq, 400, "invalid_field", "a customer is always the same person as themselves");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t tenant = 0, other_tenant = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = visible_customer(rq, c, id, &tenant, &err);
  if (!rc)
    rc = visible_customer(rq, c, other, &other_tenant, &err);
  if (!rc && other_tenant != tenant)
    rc = ff_fail(&err, FF_ENOTFOUND, "no such customer");
  if (!rc)
    rc = exclude(c, tenant, id, other, server_now_ms(rq->server), &err);
  char summary[160];
  snprintf(summary, sizeof summary, "customers %lld and %lld are not the same person",
           (long long)id, (long long)other);
  if (!rc)
    rc = audit_record(c, rq, tenant, "customer.not_same", "customer", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_json(rq, 201,
              json_pack("{s:I,s:I}", "customer_id", (json_int_t)id, "other_customer_id",
                        (json_int_t)other));
}

static const struct field split_fields[] = {
    {"exemplar_ids", FIELD_ARRAY, 0, 0, 0},
    {"visit_ids", FIELD_ARRAY, 0, 0, 0},
};

/* Moves the listed rows of `table` (ids in `list`) from one customer to another. */
static int move_rows(struct db_conn *c, const char *table, json_t *list, int64_t from, int64_t to,
                     int64_t *moved, struct ff_error *err) {
  size_t i;
  json_t *v;
  char sql[160];
  snprintf(sql, sizeof sql, "UPDATE %s SET customer_id = $3 WHERE id = $1 AND customer_id = $2",
           table);
  json_array_foreach(list, i, v) {
    if (!json_is_integer(v))
      return ff_fail(err, FF_EINVAL, "ids must be integers");
    int64_t changes = 0;
    int rc = db_exec(c, sql, DB_ARGS(db_int(json_integer_value(v)), db_int(from), db_int(to)),
                     &changes, err);
    if (rc)
      return rc;
    if (changes != 1)
      return ff_fail(err, FF_EINVAL, "%s %lld does not belong to customer %lld", table,
                     (long long)json_integer_value(v), (long long)from);
    (*moved)++;
  }
  return FF_OK;
}

void customers_split(struct request *rq) {
  if (http_validate(rq, split_fields, 2))
    return;
  json_t *exemplars = json_object_get(rq->body, "exemplar_ids");
  json_t *visits = json_object_get(rq->body, "visit_ids");
  if (json_array_size(exemplars) + json_array_size(visits) == 0) {
    http_error(rq, 400, "missing_field", "name the exemplar_ids and/or visit_ids to split off");
    return;
  }
  int64_t id = http_param_id(rq, "id"), tenant = 0, now = server_now_ms(rq->server), fresh = 0;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int64_t moved_faces = 0, moved_visits = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = visible_customer(rq, c, id, &tenant, &err);
  if (!rc)
    rc = db_query(c,
                  "INSERT INTO customers (tenant_id, visit_count, created_at, updated_at) "
                  "VALUES ($1, 0, $2, $2) RETURNING id",
                  DB_ARGS(db_int(tenant), db_int(now)), &rows, &err);
  if (!rc)
    fresh = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  struct rollup_days days = {0};
  if (!rc && visits)
    rc = rollup_touch_customer(&days, rq->server, c, id, &err);
  if (!rc && exemplars)
    rc = move_rows(c, "customer_faces", exemplars, id, fresh, &moved_faces, &err);
  if (!rc && visits)
    rc = move_rows(c, "visits", visits, id, fresh, &moved_visits, &err);
  if (!rc && visits)
    rc = db_exec(c,
                 "UPDATE face_events SET customer_id = $2 WHERE visit_id IN (SELECT id FROM "
                 "visits WHERE customer_id = $2) AND customer_id = $1",
                 DB_ARGS(db_int(id), db_int(fresh)), NULL, &err);
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  /* Each side's first visit is its "new" one. */
  for (int side = 0; !rc && side < 2; side++) {
    int64_t who = side ? fresh : id;
    rc = mark_first_visit_new(c, who, &err);
    if (!rc)
      rc = recognizer_refresh_customer(c, who, now, &err);
  }
  /* What was split apart stays apart. */
  if (!rc)
    rc = exclude(c, tenant, id, fresh, now, &err);
  char summary[200];
  snprintf(summary, sizeof summary, "split %lld exemplar(s) and %lld visit(s) into customer %lld",
           (long long)moved_faces, (long long)moved_visits, (long long)fresh);
  if (!rc)
    rc = audit_record(c, rq, tenant, "customer.split", "customer", id, summary);
  rc = access_finish(c, rc, &err);
  if (!rc)
    rc = recognizer_reload_tenant(rq->server, c, tenant, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  recognizer_changed(rq->server, RECOGNIZER_TENANT, tenant, NULL, 0);
  rq->nparams = 1;
  snprintf(rq->params[0].value, sizeof rq->params[0].value, "%lld", (long long)fresh);
  customers_get(rq);
  if (rq->status == 200)
    rq->status = 201, rq->res->status = 201;
}

void customers_similar(struct request *rq) {
  int64_t id = http_param_id(rq, "id"), tenant = 0;
  int limit = access_limit(rq);
  if (limit < 0)
    return;
  if (limit > 50)
    limit = 50;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = visible_customer(rq, c, id, &tenant, &err);
  if (!rc)
    rc = db_query(c, "SELECT descriptor FROM customer_faces WHERE customer_id = $1",
                  DB_ARGS(db_int(id)), &rows, &err);
  struct vindex *ix = NULL;
  if (!rc)
    rc = recognizer_customers(rq->server, tenant, &ix, &err);
  /* The nearest other customers over all of this customer's exemplars. */
  struct {
    int64_t id;
    float distance;
  } best[64];
  int nbest = 0;
  int64_t self[1] = {id};
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    size_t len = 0;
    const void *blob = db_rows_blob(rows, i, 0, &len);
    float v[DESCRIPTOR_DIM];
    if (descriptor_unpack(blob, len, v))
      continue;
    struct vindex_hit hits[50];
    size_t found = 0;
    rc = vindex_search_labels(ix, v, (size_t)limit, self, 1, hits, &found, &err);
    for (size_t k = 0; !rc && k < found; k++) {
      int j = 0;
      while (j < nbest && best[j].id != hits[k].label)
        j++;
      if (j == nbest && nbest < 64)
        best[nbest++] = (typeof(best[0])){hits[k].label, hits[k].distance};
      else if (j < nbest && hits[k].distance < best[j].distance)
        best[j].distance = hits[k].distance;
    }
  }
  db_rows_free(rows);
  json_t *items = json_array();
  for (int n = 0; !rc && n < nbest && (int)json_array_size(items) < limit; n++) {
    int m = n;
    for (int j = n + 1; j < nbest; j++)
      if (best[j].distance < best[m].distance)
        m = j;
    typeof(best[0]) t = best[n];
    best[n] = best[m];
    best[m] = t;
    int marked = excluded(c, id, best[n].id, NULL) == 1;
    json_array_append_new(items, json_pack("{s:I,s:f,s:b}", "customer_id", (json_int_t)best[n].id,
                                           "distance", (double)best[n].distance, "not_same_person",
                                           marked));
  }
  db_release(c);
  if (rc) {
    json_decref(items);
    http_fail(rq, rc, &err);
    return;
  }
  http_json(rq, 200, json_pack("{s:o}", "items", items));
}

/* The customer's face exemplars, for a split by face: when each was captured
 * (from the event ledger, while it keeps the event) and a visit whose picture
 * shows it: the visit whose best picture is the exemplar's own face, else the
 * visit the exemplar's event belonged to (its best frame of the same pass);
 * only visits with a stored picture the caller may see. */
void customers_faces(struct request *rq) {
  int64_t id = http_param_id(rq, "id"), tenant = 0;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = visible_customer(rq, c, id, &tenant, &err);
  if (!rc && access_site(rq)) {
    rc = db_query(c, "SELECT 1 FROM visits WHERE customer_id = $1 AND site_id = $2 LIMIT 1",
                  DB_ARGS(db_int(id), db_int(access_site(rq))), &rows, &err);
    if (!rc && db_rows_count(rows) != 1)
      rc = ff_fail(&err, FF_ENOTFOUND, "no such customer");
    db_rows_free(rows);
    rows = NULL;
  }
  if (!rc)
    rc = db_query(c,
                  "SELECT f.id, f.quality, f.created_at, e.captured_at, e.camera_id, "
                  "(SELECT MIN(v.id) FROM visits v WHERE v.customer_id = f.customer_id AND "
                  "v.best_event_id = f.event_id AND v.picture_key IS NOT NULL AND "
                  "($3 = 0 OR v.site_id = $3)), (SELECT v.id FROM visits v WHERE v.id = "
                  "e.visit_id AND v.customer_id = f.customer_id AND v.picture_key IS NOT NULL "
                  "AND ($3 = 0 OR v.site_id = $3)) FROM customer_faces f LEFT JOIN "
                  "face_events e ON e.tenant_id = f.tenant_id AND e.event_id = f.event_id "
                  "WHERE f.customer_id = $1 AND f.tenant_id = $2 ORDER BY f.id",
                  DB_ARGS(db_int(id), db_int(tenant), db_int(access_site(rq))), &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  json_t *items = json_array();
  for (int i = 0; i < db_rows_count(rows); i++) {
    json_t *o = json_pack("{s:I,s:f,s:I}", "id", (json_int_t)db_rows_int(rows, i, 0), "quality",
                          db_rows_real(rows, i, 1), "created_at_ms",
                          (json_int_t)db_rows_int(rows, i, 2));
    json_object_set_new(o, "captured_at_ms", opt_int(rows, i, 3));
    json_object_set_new(o, "camera_id", opt_int(rows, i, 4));
    int exact = !db_rows_is_null(rows, i, 5);
    json_object_set_new(o, "picture_visit_id", opt_int(rows, i, exact ? 5 : 6));
    json_object_set_new(o, "picture_is_exemplar", json_boolean(exact));
    json_array_append_new(items, o);
  }
  db_rows_free(rows);
  http_json(rq, 200, json_pack("{s:o}", "items", items));
}
