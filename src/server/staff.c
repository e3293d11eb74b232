#include "staff.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "faces.h"
#include "log.h"
#include "recognizer.h"
#include "rollups.h"
#include "server.h"
#include "store.h"
#include "vindex.h"

#define NAME_MAX_LEN 128
#define ENROL_MIN_FACE_PX 60
#define ENROL_MIN_SHARPNESS 0.15
#define ENROL_MIN_SCORE 0.5

/* --- shared helpers --------------------------------------------------------------- */

unsigned char *upload_image(struct request *rq, size_t *size) {
  const char *type = http_header_in(rq, "Content-Type");
  const void *body = rq->raw->binary_body;
  size_t len = rq->raw->binary_body_length;
  if (type && (!strncasecmp(type, "image/jpeg", 10) || !strncasecmp(type, "image/png", 9))) {
    unsigned char *copy = len ? malloc(len) : NULL;
    if (!copy) {
      http_error(rq, 400, "bad_request", "the picture is empty");
      return NULL;
    }
    memcpy(copy, body, len);
    *size = len;
    return copy;
  }
  if (!type || strncasecmp(type, "application/json", 16)) {
    http_error(rq, 415, "unsupported_media_type",
               "send image/jpeg, image/png, or JSON {\"image\": \"<base64>\"}");
    return NULL;
  }
  json_error_t jerr;
  json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  const char *b64 = json_string_value(json_object_get(o, "image"));
  if (!json_is_object(o) || !b64 || json_object_size(o) != 1) {
    json_decref(o);
    http_error(rq, 400, "invalid_field", "the body is {\"image\": \"<base64 JPEG or PNG>\"}");
    return NULL;
  }
  /* A data URL from a browser canvas is accepted as is. */
  const char *comma = !strncmp(b64, "data:", 5) ? strchr(b64, ',') : NULL;
  if (comma)
    b64 = comma + 1;
  size_t b64_len = strlen(b64);
  unsigned char *out = malloc(b64_len + 1);
  if (!out ||
      sodium_base642bin(out, b64_len, b64, b64_len, "\r\n ", size, NULL,
                        sodium_base64_VARIANT_ORIGINAL) ||
      !*size) {
    free(out);
    json_decref(o);
    http_error(rq, 400, "invalid_field", "image is not base64");
    return NULL;
  }
  json_decref(o);
  return out;
}

struct face_result *upload_faces(struct request *rq, int *count, unsigned char **picture,
                                 size_t *picture_size) {
  size_t size = 0;
  unsigned char *image = upload_image(rq, &size);
  if (!image)
    return NULL;
  struct face_result *faces = calloc(UPLOAD_MAX_FACES, sizeof *faces);
  struct ff_error err = {0};
  int rc = faces ? faces_analyze(rq->server, image, size, faces, UPLOAD_MAX_FACES, count, &err)
                 : ff_fail(&err, FF_ENOMEM, "out of memory");
  if (rc) {
    free(faces);
    free(image);
    if (rc == FF_EINVAL || rc == FF_EUNSUPPORTED)
      http_error(rq, 422, "bad_image", "%s", err.message);
    else
      http_fail(rq, rc, &err); /* FF_ETOOBIG answers 413 */
    return NULL;
  }
  if (picture) {
    *picture = image;
    *picture_size = size;
  } else {
    free(image);
  }
  return faces;
}

/* Bumps the staff-list version of every site of the tenant. */
static int bump_staff_version(struct db_conn *c, int64_t tenant, struct ff_error *err) {
  return db_exec(c, "UPDATE sites SET staff_version = staff_version + 1 WHERE tenant_id = $1",
                 DB_ARGS(db_int(tenant)), NULL, err);
}

static const char staff_select[] =
    "SELECT id, tenant_id, home_site_id, name, birth_year, phone, email, gender, active, "
    "created_at, updated_at, (SELECT COUNT(*) FROM staff_faces f WHERE f.staff_id = staff.id) "
    "FROM staff";

static json_t *opt_text(const struct db_rows *r, int i, int col) {
  const char *v = db_rows_text(r, i, col);
  return v ? json_string(v) : json_null();
}

static json_t *opt_int(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_integer(db_rows_int(r, i, col));
}

static json_t *staff_json(const struct db_rows *r, int i) {
  int64_t faces = db_rows_int(r, i, 11);
  json_t *o =
      json_pack("{s:I,s:I,s:s,s:b,s:I,s:b,s:I,s:I}", "id", (json_int_t)db_rows_int(r, i, 0),
                "tenant_id", (json_int_t)db_rows_int(r, i, 1), "name", db_rows_text(r, i, 3),
                "active", (int)db_rows_int(r, i, 8), "face_count", (json_int_t)faces, "ready",
                faces >= STAFF_READY_FACES, "created_at_ms", (json_int_t)db_rows_int(r, i, 9),
                "updated_at_ms", (json_int_t)db_rows_int(r, i, 10));
  json_object_set_new(o, "home_site_id", opt_int(r, i, 2));
  json_object_set_new(o, "birth_year", opt_int(r, i, 4));
  json_object_set_new(o, "phone", opt_text(r, i, 5));
  json_object_set_new(o, "email", opt_text(r, i, 6));
  json_object_set_new(o, "gender", opt_text(r, i, 7));
  return o;
}

static json_t *staff_json_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return staff_json(r, i);
}

void staff_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  char sql[700];
  /* Site-bound callers see the staff of their site (and staff with no home site). */
  snprintf(sql, sizeof sql,
           "%s WHERE ($1 = 0 OR tenant_id = $1) AND ($2 = 0 OR home_site_id = $2 OR "
           "home_site_id IS NULL) AND id > $3 ORDER BY id LIMIT $4",
           staff_select);
  access_list_page(
      rq, sql,
      DB_ARGS(db_int(access_tenant(rq)), db_int(access_site(rq)), db_int(cursor), db_int(limit)),
      limit, staff_json_item);
}

static struct db_rows *load_staff(struct request *rq, struct db_conn *c, int64_t id) {
  char sql[600];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", staff_select);
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
    http_error(rq, 404, "not_found", "no such staff member");
    return NULL;
  }
  return rows;
}

void staff_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  int64_t id = http_param_id(rq, "id");
  struct db_rows *rows = load_staff(rq, c, id);
  if (!rows) {
    db_release(c);
    return;
  }
  json_t *o = staff_json(rows, 0);
  db_rows_free(rows);
  rows = NULL;
  json_t *faces = json_array();
  if (!db_query(c,
                "SELECT id, quality, picture_key IS NOT NULL, created_at FROM staff_faces "
                "WHERE staff_id = $1 ORDER BY id",
                DB_ARGS(db_int(id)), &rows, NULL))
    for (int i = 0; i < db_rows_count(rows); i++)
      json_array_append_new(faces, json_pack("{s:I,s:f,s:b,s:I}", "id",
                                             (json_int_t)db_rows_int(rows, i, 0), "quality",
                                             db_rows_real(rows, i, 1), "has_picture",
                                             (int)db_rows_int(rows, i, 2), "created_at_ms",
                                             (json_int_t)db_rows_int(rows, i, 3)));
  db_rows_free(rows);
  db_release(c);
  json_object_set_new(o, "faces", faces);
  http_json(rq, 200, o);
}

static const struct field staff_fields[] = {
    {"name", FIELD_STRING, 1, NAME_MAX_LEN, 0},
    {"birth_year", FIELD_INT, 0, 0, 1},
    {"phone", FIELD_STRING, 0, 32, 1},
    {"email", FIELD_STRING, 0, 254, 1},
    {"gender", FIELD_STRING, 0, 8, 1},
    {"home_site_id", FIELD_INT, 0, 0, 1},
    {"active", FIELD_BOOL, 0, 0, 0},
    {"tenant_id", FIELD_INT, 0, 0, 0},
};

/* Checks the optional profile fields; replies 400 and returns -1 on a problem. */
static int check_profile(struct request *rq) {
  json_t *b = rq->body;
  const char *name = json_string_value(json_object_get(b, "name"));
  if (name && (!*name || isspace((unsigned char)name[0]))) {
    http_error(rq, 400, "invalid_field", "name must not be empty or start with a space");
    return -1;
  }
  json_t *year = json_object_get(b, "birth_year");
  if (json_is_integer(year) &&
      (json_integer_value(year) < 1900 || json_integer_value(year) > 2100)) {
    http_error(rq, 400, "invalid_field", "birth_year must be from 1900 to 2100");
    return -1;
  }
  const char *phone = json_string_value(json_object_get(b, "phone"));
  if (phone)
    for (const char *p = phone; *p; p++)
      if (!isdigit((unsigned char)*p) && !strchr("+-() .", *p)) {
        http_error(rq, 400, "invalid_field", "phone may hold digits, spaces and + - ( ) .");
        return -1;
      }
  const char *email = json_string_value(json_object_get(b, "email"));
  if (email && (!strchr(email, '@') || strchr(email, ' ') || email[0] == '@')) {
    http_error(rq, 400, "invalid_field", "email is not an address");
    return -1;
  }
  const char *gender = json_string_value(json_object_get(b, "gender"));
  if (gender && strcmp(gender, "male") && strcmp(gender, "female")) {
    http_error(rq, 400, "invalid_field", "gender is male or female (or null)");
    return -1;
  }
  return 0;
}

/* The home site must be in the tenant and visible to the caller. */
static int check_home_site(struct request *rq, struct db_conn *c, int64_t tenant, int64_t site,
                           struct ff_error *err) {
  if (!site)
    return access_site(rq) ? ff_fail(err, FF_EINVAL, "home_site_id must be your site") : FF_OK;
  struct db_rows *rows = NULL;
  int rc = db_query(c, "SELECT 1 FROM sites WHERE id = $1 AND tenant_id = $2",
                    DB_ARGS(db_int(site), db_int(tenant)), &rows, err);
  if (!rc && (db_rows_count(rows) != 1 || !access_sees(rq, tenant, site)))
    rc = ff_fail(err, FF_EINVAL, "home_site_id is not a site you manage");
  db_rows_free(rows);
  return rc;
}

void staff_create(struct request *rq) {
  if (http_validate(rq, staff_fields, sizeof staff_fields / sizeof staff_fields[0]) ||
      check_profile(rq))
    return;
  int64_t tenant = access_target_tenant(rq);
  if (!tenant)
    return;
  json_t *b = rq->body;
  int64_t site = json_integer_value(json_object_get(b, "home_site_id"));
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t id = 0, now = server_now_ms(rq->server);
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = check_home_site(rq, c, tenant, site, &err);
  json_t *year = json_object_get(b, "birth_year"), *active = json_object_get(b, "active");
  if (!rc)
    rc = db_query(c,
                  "INSERT INTO staff (tenant_id, home_site_id, name, birth_year, phone, email, "
                  "gender, active, created_at, updated_at) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                  DB_ARGS(db_int(tenant), site ? db_int(site) : db_null(),
                          db_text(json_string_value(json_object_get(b, "name"))),
                          json_is_integer(year) ? db_int(json_integer_value(year)) : db_null(),
                          db_text(json_string_value(json_object_get(b, "phone"))),
                          db_text(json_string_value(json_object_get(b, "email"))),
                          db_text(json_string_value(json_object_get(b, "gender"))),
                          db_int(active ? json_is_true(active) : 1), db_int(now)),
                  &rows, &err);
  if (!rc)
    id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  if (!rc)
    rc = bump_staff_version(c, tenant, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "staff.create", "staff", id, "created a staff member");
  rc = access_finish(c, rc, &err);
  rows = rc ? NULL : load_staff(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    http_json(rq, 201, staff_json(rows, 0));
  db_rows_free(rows);
}

static const struct field staff_update_fields[] = {
    {"name", FIELD_STRING, 0, NAME_MAX_LEN, 0},
    {"birth_year", FIELD_INT, 0, 0, 1},
    {"phone", FIELD_STRING, 0, 32, 1},
    {"email", FIELD_STRING, 0, 254, 1},
    {"gender", FIELD_STRING, 0, 8, 1},
    {"home_site_id", FIELD_INT, 0, 0, 1},
    {"active", FIELD_BOOL, 0, 0, 0},
};

/* (Re)loads one staff member's faces into the tenant's staff index. */
static int reindex_staff(struct server *s, struct db_conn *c, int64_t tenant, int64_t staff,
                         int active, struct ff_error *err) {
  struct vindex *ix;
  int rc = recognizer_staff(s, tenant, &ix, err);
  if (rc)
    return rc;
  vindex_remove_label(ix, staff, NULL, NULL);
  if (!active)
    return FF_OK;
  struct db_rows *rows = NULL;
  rc = db_query(c, "SELECT id, descriptor FROM staff_faces WHERE staff_id = $1 AND model = $2",
                DB_ARGS(db_int(staff), db_text(RECOGNITION_MODEL)), &rows, err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    size_t len;
    const void *blob = db_rows_blob(rows, i, 1, &len);
    float v[DESCRIPTOR_DIM];
    if (!descriptor_unpack(blob, len, v))
      rc = vindex_add(ix, db_rows_int(rows, i, 0), staff, v, err);
  }
  db_rows_free(rows);
  return rc;
}

void staff_update(struct request *rq) {
  if (http_validate(rq, staff_update_fields,
                    sizeof staff_update_fields / sizeof staff_update_fields[0]) ||
      check_profile(rq))
    return;
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_staff(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  int64_t site = db_rows_int(rows, 0, 2);
  int active = (int)db_rows_int(rows, 0, 8);
  db_rows_free(rows);
  json_t *b = rq->body;
  json_t *site_v = json_object_get(b, "home_site_id");
  if (site_v)
    site = json_is_null(site_v) ? 0 : json_integer_value(site_v);
  if (site_v)
    rc = check_home_site(rq, c, tenant, site, &err);
  json_t *active_v = json_object_get(b, "active");
  if (active_v)
    active = json_is_true(active_v);
  struct {
    const char *name;
    json_t *v;
  } texts[] = {{"name", json_object_get(b, "name")},
               {"phone", json_object_get(b, "phone")},
               {"email", json_object_get(b, "email")},
               {"gender", json_object_get(b, "gender")}};
  json_t *year = json_object_get(b, "birth_year");
  if (!rc)
    rc = db_exec(
        c,
        "UPDATE staff SET name = COALESCE($2, name), "
        "phone = CASE WHEN $3 = 1 THEN $4 ELSE phone END, "
        "email = CASE WHEN $5 = 1 THEN $6 ELSE email END, "
        "gender = CASE WHEN $7 = 1 THEN $8 ELSE gender END, "
        "birth_year = CASE WHEN $9 = 1 THEN $10 ELSE birth_year END, "
        "home_site_id = $11, active = $12, updated_at = $13 WHERE id = $1",
        DB_ARGS(db_int(id), db_text(json_string_value(texts[0].v)), db_int(texts[1].v != NULL),
                db_text(json_string_value(texts[1].v)), db_int(texts[2].v != NULL),
                db_text(json_string_value(texts[2].v)), db_int(texts[3].v != NULL),
                db_text(json_string_value(texts[3].v)), db_int(year != NULL),
                json_is_integer(year) ? db_int(json_integer_value(year)) : db_null(),
                site ? db_int(site) : db_null(), db_int(active), db_int(server_now_ms(rq->server))),
        NULL, &err);
  if (!rc)
    rc = bump_staff_version(c, tenant, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "staff.update", "staff", id,
                      active_v ? (active ? "updated a staff member (active)"
                                         : "updated a staff member (inactive)")
                               : "updated a staff member");
  rc = access_finish(c, rc, &err);
  if (!rc && active_v && !(rc = reindex_staff(rq->server, c, tenant, id, active, &err)))
    recognizer_changed(rq->server, RECOGNIZER_STAFF, tenant, &id, 1);
  rows = rc ? NULL : load_staff(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    http_json(rq, 200, staff_json(rows, 0));
  db_rows_free(rows);
}

void staff_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_staff(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  db_rows_free(rows);
  rows = NULL;
  rc = db_query(c,
                "SELECT picture_key FROM staff_faces WHERE staff_id = $1 AND "
                "picture_key IS NOT NULL",
                DB_ARGS(db_int(id)), &rows, &err);
  /* Their staff passes go with them: the reports' staff counts follow. */
  struct rollup_days days = {0};
  if (!rc)
    rc = rollup_touch_staff(&days, rq->server, c, id, &err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM staff WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = rollup_rebuild(&days, rq->server, c, &err);
  rollup_days_free(&days);
  if (!rc)
    rc = bump_staff_version(c, tenant, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "staff.delete", "staff", id,
                      "deleted a staff member with their face pictures");
  rc = access_finish(c, rc, &err);
  if (!rc) {
    reindex_staff(rq->server, c, tenant, id, 0, NULL);
    recognizer_changed(rq->server, RECOGNIZER_STAFF, tenant, &id, 1);
    for (int i = 0; i < db_rows_count(rows); i++)
      store_delete(rq->server->store, db_rows_text(rows, i, 0), NULL);
  }
  db_rows_free(rows);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}

/* Picks the one usable face of an enrolment picture; replies 422 with a
 * stable code otherwise. */
const struct face_result *upload_single_face(struct request *rq, const struct face_result *faces,
                                             int count) {
  const struct face_result *best = NULL;
  int usable = 0;
  for (int i = 0; i < count; i++)
    if (faces[i].detection.score > ENROL_MIN_SCORE) {
      usable++;
      if (!best)
        best = &faces[i];
    }
  if (!usable) {
    http_error(rq, 422, "no_face", "no face was found in the picture");
    return NULL;
  }
  if (usable > 1) {
    http_error(rq, 422, "several_faces",
               "the picture shows %d faces; use a picture of this person alone", usable);
    return NULL;
  }
  if (best->quality.face_size < ENROL_MIN_FACE_PX) {
    http_error(rq, 422, "face_too_small", "the face is %.0f pixels wide; at least %d are needed",
               best->quality.face_size, ENROL_MIN_FACE_PX);
    return NULL;
  }
  if (best->quality.sharpness_score < ENROL_MIN_SHARPNESS) {
    http_error(rq, 422, "too_blurry", "the face is too blurry (sharpness %.2f)",
               best->quality.sharpness_score);
    return NULL;
  }
  return best;
}

void staff_add_face(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = load_staff(rq, c, id);
  db_release(c);
  if (!rows)
    return;
  int64_t tenant = db_rows_int(rows, 0, 1);
  int active = (int)db_rows_int(rows, 0, 8);
  db_rows_free(rows);

  size_t size = 0;
  unsigned char *picture = NULL;
  int count = 0;
  struct face_result *faces = upload_faces(rq, &count, &picture, &size);
  if (!faces)
    return;
  struct ff_error err = {0};
  int rc;
  const struct face_result *face = upload_single_face(rq, faces, count);
  if (!face) {
    free(picture);
    free(faces);
    return;
  }
  unsigned char blob[DESCRIPTOR_BYTES];
  descriptor_pack(face->descriptor, blob);
  char key[160];
  unsigned char rnd[8];
  char hex[17];
  randombytes_buf(rnd, sizeof rnd);
  sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
  snprintf(key, sizeof key, "t/%lld/staff/%lld/%s.jpg", (long long)tenant, (long long)id, hex);
  /* The enrolment picture as uploaded (JPEG or PNG bytes). */
  rc = store_put(rq->server->store, key, picture, size, NULL, &err);
  free(picture);
  int64_t face_id = 0;
  c = rc ? NULL : access_db(rq);
  if (!rc && !c) {
    store_delete(rq->server->store, key, NULL);
    free(faces);
    return;
  }
  if (!rc)
    rc = db_begin(c, DB_TX_WRITE, &err);
  rows = NULL;
  if (!rc)
    rc = db_query(c,
                  "INSERT INTO staff_faces (tenant_id, staff_id, descriptor, model, quality, "
                  "picture_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                  DB_ARGS(db_int(tenant), db_int(id), db_blob(blob, sizeof blob),
                          db_text(RECOGNITION_MODEL), db_real(face->quality.score), db_text(key),
                          db_int(server_now_ms(rq->server))),
                  &rows, &err);
  if (!rc)
    face_id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  if (!rc)
    rc = bump_staff_version(c, tenant, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "staff.face_add", "staff", id, "added a face picture");
  if (c)
    rc = access_finish(c, rc, &err);
  if (!rc && active) {
    struct vindex *ix;
    if (!(rc = recognizer_staff(rq->server, tenant, &ix, &err)))
      rc = vindex_add(ix, face_id, id, face->descriptor, &err);
    recognizer_changed(rq->server, RECOGNIZER_STAFF, tenant, &id, 1);
  } else if (rc) {
    store_delete(rq->server->store, key, NULL);
  }
  json_t *out = rc ? NULL
                   : json_pack("{s:I,s:I,s:f,s:{s:f,s:f,s:f,s:f}}", "id", (json_int_t)face_id,
                               "staff_id", (json_int_t)id, "quality", face->quality.score, "box",
                               "x", face->detection.box.x, "y", face->detection.box.y, "width",
                               face->detection.box.width, "height", face->detection.box.height);
  free(faces);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_json(rq, 201, out);
}

void staff_delete_face(struct request *rq) {
  int64_t id = http_param_id(rq, "id"), face = http_param_id(rq, "face_id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_staff(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  db_rows_free(rows);
  rows = NULL;
  rc = db_query(c, "SELECT picture_key FROM staff_faces WHERE id = $1 AND staff_id = $2",
                DB_ARGS(db_int(face), db_int(id)), &rows, &err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(&err, FF_ENOTFOUND, "no such face picture");
  if (!rc)
    rc = db_exec(c, "DELETE FROM staff_faces WHERE id = $1", DB_ARGS(db_int(face)), NULL, &err);
  if (!rc)
    rc = bump_staff_version(c, tenant, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "staff.face_delete", "staff", id, "removed a face picture");
  rc = access_finish(c, rc, &err);
  if (!rc) {
    struct vindex *ix;
    if (!recognizer_staff(rq->server, tenant, &ix, NULL))
      vindex_remove(ix, face, NULL);
    recognizer_changed(rq->server, RECOGNIZER_STAFF, tenant, &id, 1);
    if (db_rows_text(rows, 0, 0))
      store_delete(rq->server->store, db_rows_text(rows, 0, 0), NULL);
  }
  db_rows_free(rows);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}

/* An enrolment picture as it was uploaded (JPEG or PNG), to the users who see
 * the staff member; never by a token in the URL. */
void staff_face_picture(struct request *rq) {
  int64_t id = http_param_id(rq, "id"), face = http_param_id(rq, "face_id");
  if (!id || !face) {
    http_error(rq, 400, "invalid_field", "the staff and face ids are positive integers");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = load_staff(rq, c, id);
  if (!rows) {
    db_release(c);
    return;
  }
  db_rows_free(rows);
  rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT picture_key FROM staff_faces WHERE id = $1 AND staff_id = $2",
                    DB_ARGS(db_int(face), db_int(id)), &rows, &err);
  db_release(c);
  if (!rc && (db_rows_count(rows) != 1 || !db_rows_text(rows, 0, 0)))
    rc = ff_fail(&err, FF_ENOTFOUND, "no picture for this face");
  void *data = NULL;
  size_t len = 0;
  if (!rc)
    rc = store_get(rq->server->store, db_rows_text(rows, 0, 0),
                   (size_t)rq->server->cfg.max_upload_bytes, &data, &len, &err);
  db_rows_free(rows);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  int png = len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8);
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, data, len);
  free(data);
  http_header(rq, "Content-Type", png ? "image/png" : "image/jpeg");
  http_header(rq, "Cache-Control", "private, max-age=300");
}

void staff_recognize(struct request *rq) {
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
  struct vindex *ix;
  struct db_conn *c = NULL;
  struct recognizer_settings set;
  if ((rc = recognizer_staff(rq->server, tenant, &ix, &err))) {
    free(faces);
    http_fail(rq, rc, &err);
    return;
  }
  if (!(c = access_db(rq))) {
    free(faces);
    return;
  }
  rc = recognizer_settings_load(c, tenant, &set, &err);
  json_t *out = json_array();
  for (int i = 0; !rc && i < count; i++) {
    struct vindex_hit hits[5];
    size_t found = 0;
    rc = vindex_search_labels(ix, faces[i].descriptor, 5, NULL, 0, hits, &found, &err);
    json_t *matches = json_array();
    for (size_t k = 0; !rc && k < found; k++) {
      struct db_rows *rows = NULL;
      const char *name = NULL;
      if (!db_query(c, "SELECT name FROM staff WHERE id = $1 AND tenant_id = $2",
                    DB_ARGS(db_int(hits[k].label), db_int(tenant)), &rows, NULL) &&
          db_rows_count(rows) == 1)
        name = db_rows_text(rows, 0, 0);
      json_array_append_new(matches,
                            json_pack("{s:I,s:s?,s:f,s:b}", "staff_id", (json_int_t)hits[k].label,
                                      "name", name, "distance", (double)hits[k].distance, "match",
                                      hits[k].distance < set.staff_threshold));
      db_rows_free(rows);
    }
    json_array_append_new(
        out, json_pack("{s:{s:f,s:f,s:f,s:f},s:f,s:f,s:o}", "box", "x", faces[i].detection.box.x,
                       "y", faces[i].detection.box.y, "width", faces[i].detection.box.width,
                       "height", faces[i].detection.box.height, "score", faces[i].detection.score,
                       "quality", faces[i].quality.score, "matches", matches));
  }
  db_release(c);
  free(faces);
  if (rc) {
    json_decref(out);
    http_fail(rq, rc, &err);
    return;
  }
  http_json(rq, 200, json_pack("{s:o,s:f}", "faces", out, "threshold", set.staff_threshold));
}

void staff_for_worker(struct request *rq) {
  int64_t tenant = rq->who.tenant_id, site = rq->who.site_id;
  const char *q = http_query(rq, "site_id");
  if (!site && q) {
    char *end;
    site = strtoll(q, &end, 10);
    if (*end || site <= 0) {
      http_error(rq, 400, "invalid_field", "site_id must be a site id");
      return;
    }
  }
  if (!site) {
    http_error(rq, 400, "missing_field", "this key is bound to no site: pass site_id");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT staff_version FROM sites WHERE id = $1 AND tenant_id = $2",
                    DB_ARGS(db_int(site), db_int(tenant)), &rows, &err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(&err, FF_ENOTFOUND, "no such site");
  int64_t version = rc ? 0 : db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  rows = NULL;
  /* Staff may be seen at any store of the chain, so every active staff
   * member of the tenant is on every site's list. */
  if (!rc)
    rc = db_query(c,
                  "SELECT m.id, m.name, f.descriptor FROM staff m JOIN staff_faces f ON "
                  "f.staff_id = m.id WHERE m.tenant_id = $1 AND m.active = 1 AND f.model = $2 "
                  "ORDER BY m.id, f.id",
                  DB_ARGS(db_int(tenant), db_text(RECOGNITION_MODEL)), &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  json_t *staff = json_array(), *current = NULL;
  int64_t current_id = 0;
  for (int i = 0; i < db_rows_count(rows); i++) {
    if (!current || db_rows_int(rows, i, 0) != current_id) {
      current_id = db_rows_int(rows, i, 0);
      current = json_pack("{s:I,s:s,s:[]}", "id", (json_int_t)current_id, "name",
                          db_rows_text(rows, i, 1), "descriptors");
      json_array_append_new(staff, current);
    }
    size_t len = 0;
    const void *blob = db_rows_blob(rows, i, 2, &len); /* sets len: call it first */
    float v[DESCRIPTOR_DIM];
    if (descriptor_unpack(blob, len, v))
      continue;
    json_t *d = json_array();
    for (int k = 0; k < DESCRIPTOR_DIM; k++)
      json_array_append_new(d, json_real(v[k]));
    json_array_append_new(json_object_get(current, "descriptors"), d);
  }
  db_rows_free(rows);
  http_json(rq, 200,
            json_pack("{s:I,s:I,s:s,s:o}", "site_id", (json_int_t)site, "version",
                      (json_int_t)version, "model", RECOGNITION_MODEL, "staff", staff));
}
