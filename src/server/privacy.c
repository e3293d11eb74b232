/* privacy.c — the do-not-track list and the subject-access export.
 *
 * Do not track: a person who objects is enrolled once from a photo. Only the
 * face descriptor is kept (the photo is analysed and discarded); ingestion
 * drops any later event within the tenant's match_threshold + OPTOUT_MARGIN
 * of it before storing anything (events.c). Entries are per tenant.
 *
 * Export: everything held about one customer, as a zip of customer.json and
 * the visits' pictures. Every enrolment, withdrawal and export is audited.
 */
#include "privacy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "log.h"
#include "recognizer.h"
#include "server.h"
#include "staff.h"
#include "store.h"
#include "tz.h"
#include "vindex.h"
#include "zip.h"

#define NOTE_MAX 200
#define EXPORT_PICTURE_MAX (512 * 1024)

static json_t *opt_int(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_integer(db_rows_int(r, i, col));
}
static json_t *opt_text(const struct db_rows *r, int i, int col) {
  const char *v = db_rows_text(r, i, col);
  return v ? json_string(v) : json_null();
}
static json_t *opt_real(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_real(db_rows_real(r, i, col));
}

/* --- do not track ------------------------------------------------------------------ */

static json_t *optout_json(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  json_t *o = json_pack("{s:I,s:I,s:s,s:I}", "id", (json_int_t)db_rows_int(r, i, 0), "tenant_id",
                        (json_int_t)db_rows_int(r, i, 1), "model", db_rows_text(r, i, 2),
                        "created_at_ms", (json_int_t)db_rows_int(r, i, 5));
  json_object_set_new(o, "note", opt_text(r, i, 3));
  json_object_set_new(o, "created_by", opt_int(r, i, 4));
  return o;
}

static const char optout_select[] =
    "SELECT id, tenant_id, model, note, created_by, created_at FROM do_not_track";

void privacy_optout_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  char sql[300];
  snprintf(sql, sizeof sql, "%s WHERE ($1 = 0 OR tenant_id = $1) AND id > $2 ORDER BY id LIMIT $3",
           optout_select);
  access_list_page(rq, sql, DB_ARGS(db_int(access_tenant(rq)), db_int(cursor), db_int(limit)),
                   limit, optout_json);
}

void privacy_optout_enrol(struct request *rq) {
  int64_t tenant = access_tenant(rq);
  if (!tenant) {
    http_error(rq, 400, "missing_field", "switch into a tenant first");
    return;
  }
  const char *note = http_query(rq, "note");
  if (note && (strlen(note) > NOTE_MAX || !*note)) {
    http_error(rq, 400, "invalid_field", "note is 1 to %d characters", NOTE_MAX);
    return;
  }
  int count = 0;
  struct face_result *faces = upload_faces(rq, &count, NULL, NULL); /* the photo is not kept */
  if (!faces)
    return;
  const struct face_result *face = upload_single_face(rq, faces, count);
  if (!face) {
    free(faces);
    return;
  }
  float descriptor[DESCRIPTOR_DIM];
  memcpy(descriptor, face->descriptor, sizeof descriptor);
  free(faces);
  unsigned char blob[DESCRIPTOR_BYTES];
  descriptor_pack(descriptor, blob);

  struct server *s = rq->server;
  struct ff_error err = {0};
  struct vindex *optout = NULL, *customers = NULL;
  int rc = recognizer_optout(s, tenant, &optout, &err);
  if (!rc)
    rc = recognizer_customers(s, tenant, &customers, &err);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct recognizer_settings set;
  struct db_rows *rows = NULL;
  int64_t now = server_now_ms(s), id = 0;
  rc = recognizer_settings_load(c, tenant, &set, &err);
  if (!rc)
    rc = db_query(c,
                  "INSERT INTO do_not_track (tenant_id, descriptor, model, note, created_by, "
                  "created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                  DB_ARGS(db_int(tenant), db_blob(blob, sizeof blob), db_text(RECOGNITION_MODEL),
                          db_text(note), rq->who.user_id ? db_int(rq->who.user_id) : db_null(),
                          db_int(now)),
                  &rows, &err);
  if (!rc)
    id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  rows = NULL;
  if (!rc)
    rc = audit_record(c, rq, tenant, "optout.enrol", "do_not_track", id,
                      "added a person to the do-not-track list");
  if (!rc)
    rc = vindex_add(optout, id, id, descriptor, &err);
  rc = access_finish(c, rc, &err);
  if (rc) {
    vindex_remove(optout, id, NULL);
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  recognizer_changed(s, RECOGNIZER_OPTOUT, tenant, &id, 1);
  /* Customers already recorded who look like this person: the operator
   * decides whether to erase them (a match is a likelihood, not a proof). */
  double threshold = set.match_threshold + OPTOUT_MARGIN;
  struct vindex_hit hits[10];
  size_t found = 0;
  json_t *matching = json_array();
  if (!vindex_search_labels(customers, descriptor, 10, NULL, 0, hits, &found, NULL))
    for (size_t i = 0; i < found; i++)
      if (hits[i].distance < threshold)
        json_array_append_new(matching,
                              json_pack("{s:I,s:f}", "customer_id", (json_int_t)hits[i].label,
                                        "distance", (double)hits[i].distance));
  rc = db_query(c,
                "SELECT id, tenant_id, model, note, created_by, created_at FROM do_not_track "
                "WHERE id = $1",
                DB_ARGS(db_int(id)), &rows, &err);
  db_release(c);
  if (rc || db_rows_count(rows) != 1) {
    json_decref(matching);
    db_rows_free(rows);
    http_fail(rq, rc ? rc : FF_EINTERNAL, &err);
    return;
  }
  json_t *out = optout_json(rq, rows, 0);
  db_rows_free(rows);
  json_object_set_new(out, "threshold", json_real(threshold));
  json_object_set_new(out, "matching_customers", matching);
  http_json(rq, 201, out);
}

/* The tenant of a row (sql selects tenant_id by $1) the caller may see,
 * inside the caller's transaction; 0 after replying 404 (and abandoning the
 * transaction), -1 on a database error (in err). */
static int64_t visible_tenant(struct request *rq, struct db_conn *c, const char *sql, int64_t id,
                              const char *what, struct ff_error *err) {
  struct db_rows *rows = NULL;
  if (db_query(c, sql, DB_ARGS(db_int(id)), &rows, err))
    return -1;
  int64_t tenant = db_rows_count(rows) == 1 ? db_rows_int(rows, 0, 0) : 0;
  db_rows_free(rows);
  if (!tenant || !access_sees(rq, tenant, 0)) {
    access_abandon(c);
    http_error(rq, 404, "not_found", "no such %s", what);
    return 0;
  }
  return tenant;
}

void privacy_optout_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t tenant = visible_tenant(rq, c, "SELECT tenant_id FROM do_not_track WHERE id = $1", id,
                                  "do-not-track entry", &err);
  if (!tenant)
    return;
  int rc = tenant < 0 ? FF_EDB : FF_OK;
  if (!rc)
    rc = db_exec(c, "DELETE FROM do_not_track WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "optout.withdraw", "do_not_track", id,
                      "removed a person from the do-not-track list");
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  struct vindex *optout;
  if (!recognizer_optout(rq->server, tenant, &optout, NULL))
    vindex_remove(optout, id, NULL);
  recognizer_changed(rq->server, RECOGNIZER_OPTOUT, tenant, &id, 1);
  http_empty(rq, 204);
}

/* --- subject-access export ------------------------------------------------------------ */

/* Rows of one query as an array of objects named by the columns. */
static int rows_json(struct db_conn *c, const char *sql, int64_t id, json_t *into, const char *key,
                     struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &rows, err);
  if (rc)
    return rc;
  json_t *list = json_array();
  for (int i = 0; i < db_rows_count(rows); i++) {
    json_t *o = json_object();
    for (int k = 0; k < db_rows_columns(rows); k++) {
      const char *name = db_rows_name(rows, k);
      size_t n = strlen(name);
      char word[72];
      snprintf(word, sizeof word, " %s ", name);
      json_t *v;
      if (strstr(" age gender_probability gender_confidence best_quality quality ", word))
        v = opt_real(rows, i, k);
      else if ((n > 3 && (!strcmp(name + n - 3, "_at") || !strcmp(name + n - 3, "_id"))) ||
               strstr(" id detections is_new visit_count age_manual ", word))
        v = opt_int(rows, i, k);
      else
        v = opt_text(rows, i, k);
      json_object_set_new(o, name, v);
    }
    json_array_append_new(list, o);
  }
  db_rows_free(rows);
  json_object_set_new(into, key, list);
  return FF_OK;
}

static int export_descriptors(struct db_conn *c, int64_t id, json_t *into, struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT id, model, quality, created_at, descriptor FROM customer_faces "
                    "WHERE customer_id = $1 ORDER BY id",
                    DB_ARGS(db_int(id)), &rows, err);
  if (rc)
    return rc;
  json_t *list = json_array();
  for (int i = 0; i < db_rows_count(rows); i++) {
    size_t len = 0;
    const void *blob = db_rows_blob(rows, i, 4, &len);
    float v[DESCRIPTOR_DIM];
    json_t *d = json_array();
    if (!descriptor_unpack(blob, len, v))
      for (int k = 0; k < DESCRIPTOR_DIM; k++)
        json_array_append_new(d, json_real(v[k]));
    json_array_append_new(
        list, json_pack("{s:I,s:s,s:f,s:I,s:o}", "id", (json_int_t)db_rows_int(rows, i, 0), "model",
                        db_rows_text(rows, i, 1), "quality", db_rows_real(rows, i, 2), "created_at",
                        (json_int_t)db_rows_int(rows, i, 3), "descriptor", d));
  }
  db_rows_free(rows);
  json_object_set_new(into, "face_descriptors", list);
  return FF_OK;
}

/* Adds each visit's picture to the zip; names them in the visit records. */
static int export_pictures(struct server *s, json_t *visits, struct zip *z, json_t *missing) {
  size_t i;
  json_t *v;
  json_array_foreach(visits, i, v) {
    const char *key = json_string_value(json_object_get(v, "picture_key"));
    json_object_set_new(v, "picture", json_null());
    if (!key)
      continue;
    char stored[200];
    snprintf(stored, sizeof stored, "%s", key);
    key = stored;
    json_object_del(v, "picture_key"); /* the store's key is ours, not theirs */
    void *data = NULL;
    size_t len = 0;
    struct ff_error err = {0};
    int rc = store_get(s->store, key, EXPORT_PICTURE_MAX, &data, &len, &err);
    if (rc) {
      json_array_append_new(missing,
                            json_pack("{s:s,s:s}", "picture_key", key, "why", err.message));
      continue;
    }
    char name[64];
    snprintf(name, sizeof name, "pictures/visit-%lld.jpg",
             (long long)json_integer_value(json_object_get(v, "id")));
    int64_t at = json_integer_value(json_object_get(v, "last_seen_at"));
    rc = zip_add(z, name, data, len, at);
    free(data);
    if (rc)
      return rc;
    json_object_set_new(v, "picture", json_string(name));
  }
  return FF_OK;
}

void privacy_export(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct server *s = rq->server;
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t tenant =
      visible_tenant(rq, c, "SELECT tenant_id FROM customers WHERE id = $1 AND erased_at IS NULL",
                     id, "customer", &err);
  if (!tenant)
    return;
  int rc = tenant < 0 ? FF_EDB : FF_OK;
  int64_t now = server_now_ms(s);
  char at[25];
  tz_format_rfc3339(now, at);
  json_t *doc = json_pack("{s:s,s:I,s:I,s:s}", "exported_at", at, "customer_id", (json_int_t)id,
                          "tenant_id", (json_int_t)tenant, "about",
                          "Everything Footfall holds about this customer: profile, visits "
                          "(with their pictures in pictures/), face descriptors, the events "
                          "that were matched to them, corrections and the audit trail.");
  json_t *profile = json_object();
  if (!rc)
    rc = rows_json(c,
                   "SELECT id, tenant_id, name, phone, email, notes, gender_manual, age_manual, "
                   "gender, gender_confidence, age, first_seen_at, last_seen_at, visit_count, "
                   "created_at, updated_at FROM customers WHERE id = $1",
                   id, profile, "rows", &err);
  if (!rc)
    json_object_set(doc, "customer", json_array_get(json_object_get(profile, "rows"), 0));
  json_decref(profile);
  if (!rc)
    rc = rows_json(c,
                   "SELECT v.id, v.site_id, s.name AS site_name, s.timezone, v.camera_id, "
                   "v.first_seen_at, v.last_seen_at, v.local_day, v.detections, v.is_new, v.age, "
                   "v.gender, v.gender_probability, v.best_quality, v.picture_key, "
                   "v.picture_expires_at FROM visits v JOIN sites s ON s.id = v.site_id "
                   "WHERE v.customer_id = $1 ORDER BY v.first_seen_at",
                   id, doc, "visits", &err);
  if (!rc)
    rc = export_descriptors(c, id, doc, &err);
  if (!rc)
    rc = rows_json(c,
                   "SELECT event_id, site_id, camera_id, captured_at, received_at, outcome, "
                   "visit_id FROM face_events WHERE customer_id = $1 ORDER BY captured_at",
                   id, doc, "events", &err);
  if (!rc)
    rc = rows_json(c,
                   "SELECT CASE WHEN customer_a = $1 THEN customer_b ELSE customer_a END AS "
                   "other_customer_id, created_at FROM customer_exclusions "
                   "WHERE customer_a = $1 OR customer_b = $1",
                   id, doc, "not_the_same_person_as", &err);
  char target[24];
  snprintf(target, sizeof target, "%lld", (long long)id);
  if (!rc) {
    struct db_rows *audit = NULL;
    rc = db_query(c,
                  "SELECT id, actor_name, action, summary, created_at FROM audit_log WHERE "
                  "target_type = 'customer' AND target_id = $1 AND tenant_id = $2 ORDER BY id",
                  DB_ARGS(db_text(target), db_int(tenant)), &audit, &err);
    json_t *list = json_array();
    for (int i = 0; !rc && i < db_rows_count(audit); i++)
      json_array_append_new(
          list,
          json_pack("{s:I,s:o,s:s,s:o,s:I}", "id", (json_int_t)db_rows_int(audit, i, 0), "actor",
                    opt_text(audit, i, 1), "action", db_rows_text(audit, i, 2), "summary",
                    opt_text(audit, i, 3), "created_at", (json_int_t)db_rows_int(audit, i, 4)));
    db_rows_free(audit);
    json_object_set_new(doc, "audit", list);
  }
  if (!rc)
    rc = audit_record(c, rq, tenant, "customer.export", "customer", id,
                      "exported everything held about a customer (subject access)");
  rc = access_finish(c, rc, &err);
  db_release(c);
  struct zip z = {0};
  json_t *missing = json_array();
  if (!rc && (rc = export_pictures(s, json_object_get(doc, "visits"), &z, missing)))
    ff_fail(&err, rc, rc == FF_ETOOBIG ? "the export is larger than 1 GiB" : "out of memory");
  json_object_set_new(doc, "missing_pictures", missing);
  char *text = rc ? NULL : json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(doc);
  if (!rc && !text)
    rc = ff_fail(&err, FF_ENOMEM, "out of memory");
  if (!rc && !(rc = zip_add(&z, "customer.json", text, strlen(text), now)))
    rc = zip_finish(&z);
  free(text);
  if (rc) {
    zip_free(&z);
    http_fail(rq, rc, &err);
    return;
  }
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, (const char *)z.data, z.len);
  zip_free(&z);
  char disposition[80];
  snprintf(disposition, sizeof disposition, "attachment; filename=\"customer-%lld.zip\"",
           (long long)id);
  http_header(rq, "Content-Type", "application/zip");
  http_header(rq, "Content-Disposition", disposition);
  http_header(rq, "Cache-Control", "no-store");
}
