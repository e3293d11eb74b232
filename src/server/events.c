/* events.c — face events in; customers, staff passes and visits out.
 *
 * One batch is one write transaction: the ledger row of every event commits
 * with the changes it caused, so a replayed event finds its row and answers
 * "duplicate" without changing anything, and a failed batch changes nothing
 * (the worker retries it whole). Rules (docs/RECOGNITION.md):
 * 0. a face on the do-not-track list is dropped before anything is stored;
 * 1. the camera must belong to the key's site (or tenant, for a key bound to
 *    no site); 2. quality gate; 3. staff check on the server, whatever the
 *    worker claimed; 4. the nearest customer under the tenant's threshold and
 *    clearly better than the runner-up, else a new anonymous customer;
 * 5. same customer, same site, within the gap and the same local day: the
 *    visit is extended, else a new visit; 6. a bounded, diverse exemplar
 *    gallery per customer; 7. the visit's best crop only, with an expiry.
 */
#include "events.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "access.h"
#include "db.h"
#include "hub.h"
#include "log.h"
#include "recognizer.h"
#include "rollups.h"
#include "server.h"
#include "store.h"
#include "tz.h"
#include "vindex.h"

#define CROP_MAX_BYTES (256 * 1024)
#define CROP_MAX_SIDE 1024
#define FUTURE_TOLERANCE_MS (5 * 60 * 1000LL)
#define STAFF_CLAIM_TOLERANCE 0.05 /* a claimed staff face may be this much further */
#define EXEMPLAR_MIN_SPREAD 0.12   /* exemplars closer than this add nothing */
#define GENDER_SAMPLE 100          /* visits used to derive a customer's gender and age */

struct event {
  char id[40];
  int64_t camera_id;
  int64_t captured_ms;
  float descriptor[DESCRIPTOR_DIM];
  double score, quality;
  double box_width, box_height;
  double age;
  int has_age;
  const char *gender; /* "male", "female" or NULL */
  double gender_probability;
  int64_t staff_claim;
  unsigned char *crop;
  size_t crop_len;
};

struct result {
  const char *outcome;
  char reason[96];
  int64_t customer_id, visit_id, staff_id;
  const char *original_outcome; /* for duplicates */
  int64_t site_id, camera_id, seen_at; /* for the realtime event */
  int new_customer;
};

/* Pictures written in this batch (to delete if it rolls back) and pictures
 * replaced (to delete once it commits). */
struct picture_changes {
  char **added, **replaced;
  int added_count, replaced_count, cap;
};

static void remember(char ***list, int *count, int cap, const char *key) {
  if (*count < cap && key)
    (*list)[(*count)++] = strdup(key);
}

/* --- parsing ------------------------------------------------------------------- */

static int is_uuid(const char *s) {
  if (strlen(s) != 36)
    return 0;
  for (int i = 0; i < 36; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-')
        return 0;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return 0;
    }
  }
  return 1;
}

static const char *const event_fields[] = {
    "id",  "camera_id", "captured_at",        "descriptor", "score",     "quality", "box",
    "age", "gender",    "gender_probability", "staff_id",   "crop_jpeg", NULL};

/* Reads one event; on a problem writes the reason and returns -1. */
static int parse_event(const json_t *o, struct event *e, int64_t now, char *why, size_t why_size) {
  memset(e, 0, sizeof *e);
  if (!json_is_object(o))
    return snprintf(why, why_size, "invalid_event: not an object"), -1;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)o, key, v) {
    int known = 0;
    for (int i = 0; event_fields[i] && !known; i++)
      known = !strcmp(key, event_fields[i]);
    if (!known)
      return snprintf(why, why_size, "unknown_field: %.40s", key), -1;
  }
  const char *id = json_string_value(json_object_get(o, "id"));
  if (!id || !is_uuid(id))
    return snprintf(why, why_size, "invalid_field: id (a UUID)"), -1;
  snprintf(e->id, sizeof e->id, "%s", id);
  for (char *p = e->id; *p; p++)
    if (*p >= 'A' && *p <= 'F')
      *p = (char)(*p + 32);

  json_t *cam = json_object_get(o, "camera_id");
  if (!json_is_integer(cam) || json_integer_value(cam) <= 0)
    return snprintf(why, why_size, "invalid_field: camera_id"), -1;
  e->camera_id = json_integer_value(cam);

  const char *at = json_string_value(json_object_get(o, "captured_at"));
  if (!at || tz_parse_rfc3339(at, &e->captured_ms))
    return snprintf(why, why_size, "invalid_field: captured_at (RFC 3339)"), -1;
  if (e->captured_ms > now + FUTURE_TOLERANCE_MS)
    return snprintf(why, why_size, "invalid_time: captured_at is in the future"), -1;
  if (e->captured_ms < now - EVENTS_PAST_LIMIT_MS)
    return snprintf(why, why_size, "invalid_time: captured_at is more than 30 days old"), -1;

  json_t *d = json_object_get(o, "descriptor");
  if (!json_is_array(d) || json_array_size(d) != DESCRIPTOR_DIM)
    return snprintf(why, why_size, "invalid_descriptor: 128 numbers expected"), -1;
  for (size_t i = 0; i < DESCRIPTOR_DIM; i++) {
    json_t *x = json_array_get(d, i);
    double val = json_number_value(x);
    if (!json_is_number(x) || !isfinite(val) || fabs(val) > 100)
      return snprintf(why, why_size, "invalid_descriptor: element %zu", i), -1;
    e->descriptor[i] = (float)val;
  }

  struct {
    const char *name;
    double *out;
    double lo, hi;
  } unit[] = {{"score", &e->score, 0, 1}, {"quality", &e->quality, 0, 1}};
  for (int i = 0; i < 2; i++) {
    json_t *x = json_object_get(o, unit[i].name);
    if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
        json_number_value(x) < unit[i].lo || json_number_value(x) > unit[i].hi)
      return snprintf(why, why_size, "invalid_field: %s (0..1)", unit[i].name), -1;
    *unit[i].out = json_number_value(x);
  }

  json_t *box = json_object_get(o, "box");
  double bx[4];
  const char *bnames[] = {"x", "y", "width", "height"};
  if (!json_is_object(box) || json_object_size(box) != 4)
    return snprintf(why, why_size, "invalid_field: box {x, y, width, height}"), -1;
  for (int i = 0; i < 4; i++) {
    json_t *x = json_object_get(box, bnames[i]);
    if (!json_is_number(x) || !isfinite(json_number_value(x)) || fabs(json_number_value(x)) > 1e5)
      return snprintf(why, why_size, "invalid_field: box.%s", bnames[i]), -1;
    bx[i] = json_number_value(x);
  }
  if (bx[2] <= 0 || bx[3] <= 0)
    return snprintf(why, why_size, "invalid_field: box size"), -1;
  e->box_width = bx[2];
  e->box_height = bx[3];

  json_t *age = json_object_get(o, "age");
  if (age && !json_is_null(age)) {
    if (!json_is_number(age) || json_number_value(age) < 0 || json_number_value(age) > 120)
      return snprintf(why, why_size, "invalid_field: age (0..120)"), -1;
    e->age = json_number_value(age);
    e->has_age = 1;
  }
  json_t *gender = json_object_get(o, "gender");
  if (gender && !json_is_null(gender)) {
    const char *g = json_string_value(gender);
    if (!g || (strcmp(g, "male") && strcmp(g, "female")))
      return snprintf(why, why_size, "invalid_field: gender (male or female)"), -1;
    e->gender = g;
    json_t *p = json_object_get(o, "gender_probability");
    if (!json_is_number(p) || json_number_value(p) < 0.5 || json_number_value(p) > 1)
      return snprintf(why, why_size, "invalid_field: gender_probability (0.5..1)"), -1;
    e->gender_probability = json_number_value(p);
  }
  json_t *staff = json_object_get(o, "staff_id");
  if (staff && !json_is_null(staff)) {
    if (!json_is_integer(staff) || json_integer_value(staff) <= 0)
      return snprintf(why, why_size, "invalid_field: staff_id"), -1;
    e->staff_claim = json_integer_value(staff);
  }

  const char *crop = json_string_value(json_object_get(o, "crop_jpeg"));
  if (!crop || !*crop)
    return snprintf(why, why_size, "invalid_crop: crop_jpeg is required"), -1;
  size_t b64 = strlen(crop);
  if (b64 > (CROP_MAX_BYTES / 3 + 1) * 4)
    return snprintf(why, why_size, "invalid_crop: larger than %d bytes", CROP_MAX_BYTES), -1;
  e->crop = malloc(b64);
  if (!e->crop || sodium_base642bin(e->crop, b64, crop, b64, "\r\n", &e->crop_len, NULL,
                                    sodium_base64_VARIANT_ORIGINAL)) {
    free(e->crop);
    e->crop = NULL;
    return snprintf(why, why_size, "invalid_crop: not base64"), -1;
  }
  int width = 0, height = 0, sub = 0, space = 0;
  tjhandle tj = tjInitDecompress();
  int bad =
      e->crop_len < 4 || e->crop[0] != 0xFF || e->crop[1] != 0xD8 || !tj ||
      tjDecompressHeader3(tj, e->crop, (unsigned long)e->crop_len, &width, &height, &sub, &space);
  if (tj)
    tjDestroy(tj);
  if (bad || width <= 0 || height <= 0 || width > CROP_MAX_SIDE || height > CROP_MAX_SIDE) {
    free(e->crop);
    e->crop = NULL;
    return snprintf(why, why_size, "invalid_crop: not a JPEG of at most %dx%d", CROP_MAX_SIDE,
                    CROP_MAX_SIDE),
           -1;
  }
  return 0;
}

int events_check(const json_t *item, int64_t now_ms, char *why, size_t why_size) {
  struct event e;
  int rc = parse_event(item, &e, now_ms, why, why_size);
  free(e.crop);
  return rc;
}

/* --- per-event processing ------------------------------------------------------ */

struct batch {
  struct server *s;
  struct db_conn *c;
  int64_t tenant;
  int64_t key_site; /* 0 = the key may serve any site of the tenant */
  int64_t now;
  struct recognizer_settings settings;
  struct vindex *customers, *staff, *optout;
  struct picture_changes pictures;
  int reload_index; /* the index was changed: rebuild it if the batch fails */
  int64_t *galleries; /* customers whose exemplars changed (for other instances) */
  int gallery_count;
  /* Cameras seen in this batch (a worker's batch names few cameras). */
  struct {
    int64_t camera, site;
    char zone[72];
  } cameras[8];
  int camera_count;
};

static int ledger_lookup(struct batch *b, const struct event *e, struct result *r,
                         struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(b->c,
                    "SELECT outcome, reason, customer_id, visit_id, staff_id FROM face_events "
                    "WHERE tenant_id = $1 AND event_id = $2",
                    DB_ARGS(db_int(b->tenant), db_text(e->id)), &rows, err);
  if (rc)
    return rc;
  int found = db_rows_count(rows) == 1;
  if (found) {
    static const char *const outcomes[] = {"new_visit", "visit_extended", "staff", "rejected"};
    r->outcome = "duplicate";
    r->original_outcome = "rejected";
    for (int i = 0; i < 4; i++)
      if (!strcmp(db_rows_text(rows, 0, 0), outcomes[i]))
        r->original_outcome = outcomes[i];
    snprintf(r->reason, sizeof r->reason, "%s",
             db_rows_text(rows, 0, 1) ? db_rows_text(rows, 0, 1) : "");
    r->customer_id = db_rows_int(rows, 0, 2);
    r->visit_id = db_rows_int(rows, 0, 3);
    r->staff_id = db_rows_int(rows, 0, 4);
  }
  db_rows_free(rows);
  return found ? 1 : 0;
}

static int ledger_write(struct batch *b, const struct event *e, int64_t site,
                        const struct result *r, struct ff_error *err) {
  return db_exec(b->c,
                 "INSERT INTO face_events (tenant_id, event_id, site_id, camera_id, captured_at, "
                 "received_at, outcome, reason, customer_id, visit_id, staff_id) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                 DB_ARGS(db_int(b->tenant), db_text(e->id), site ? db_int(site) : db_null(),
                         db_int(e->camera_id), db_int(e->captured_ms), db_int(b->now),
                         db_text(r->outcome), db_text(r->reason[0] ? r->reason : NULL),
                         r->customer_id ? db_int(r->customer_id) : db_null(),
                         r->visit_id ? db_int(r->visit_id) : db_null(),
                         r->staff_id ? db_int(r->staff_id) : db_null()),
                 NULL, err);
}

/* The camera's site and time zone, when the key may use the camera. */
static int camera_site(struct batch *b, int64_t camera, int64_t *site, char *zone, size_t zone_size,
                       struct ff_error *err) {
  for (int i = 0; i < b->camera_count; i++)
    if (b->cameras[i].camera == camera) {
      *site = b->cameras[i].site;
      snprintf(zone, zone_size, "%s", b->cameras[i].zone);
      return 1;
    }
  struct db_rows *rows = NULL;
  int rc = db_query(b->c,
                    "SELECT c.site_id, s.timezone FROM cameras c JOIN sites s ON s.id = c.site_id "
                    "WHERE c.id = $1 AND c.tenant_id = $2 AND ($3 = 0 OR c.site_id = $3)",
                    DB_ARGS(db_int(camera), db_int(b->tenant), db_int(b->key_site)), &rows, err);
  if (rc)
    return rc;
  int found = db_rows_count(rows) == 1;
  if (found) {
    *site = db_rows_int(rows, 0, 0);
    snprintf(zone, zone_size, "%s", db_rows_text(rows, 0, 1));
    if (b->camera_count < (int)(sizeof b->cameras / sizeof b->cameras[0])) {
      b->cameras[b->camera_count].camera = camera;
      b->cameras[b->camera_count].site = *site;
      snprintf(b->cameras[b->camera_count].zone, sizeof b->cameras[0].zone, "%s", zone);
      b->camera_count++;
    }
  }
  db_rows_free(rows);
  return found ? 1 : 0;
}

static char *picture_key(int64_t tenant, const struct event *e) {
  int y, m, d;
  tz_civil_from_days(e->captured_ms / 86400000, &y, &m, &d);
  char *key = malloc(160);
  if (key)
    snprintf(key, 160, "t/%lld/visits/%04d/%02d/%02d/%s.jpg", (long long)tenant, y % 10000, m, d,
             e->id);
  return key;
}

/* Stores the crop; the key goes into b->pictures.added. */
static int store_crop(struct batch *b, const struct event *e, char **key, struct ff_error *err) {
  *key = picture_key(b->tenant, e);
  if (!*key)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  int rc = store_put(b->s->store, *key, e->crop, e->crop_len, "image/jpeg", err);
  if (rc) {
    free(*key);
    *key = NULL;
    return rc;
  }
  remember(&b->pictures.added, &b->pictures.added_count, b->pictures.cap, *key);
  return FF_OK;
}

/* Keeps the customer's gallery bounded and diverse: a new face joins when it
 * adds something (not a near copy of an exemplar); when the gallery is full
 * it replaces the lowest-quality exemplar, if better. */
static int update_gallery(struct batch *b, int64_t customer, const struct event *e,
                          struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(b->c,
                    "SELECT id, quality, descriptor FROM customer_faces WHERE customer_id = $1 "
                    "ORDER BY quality ASC, id ASC",
                    DB_ARGS(db_int(customer)), &rows, err);
  if (rc)
    return rc;
  int n = db_rows_count(rows);
  double nearest = 1e9;
  for (int i = 0; i < n; i++) {
    size_t len;
    const void *blob = db_rows_blob(rows, i, 2, &len);
    float v[DESCRIPTOR_DIM];
    if (!descriptor_unpack(blob, len, v)) {
      double d = vindex_distance(v, e->descriptor);
      if (d < nearest)
        nearest = d;
    }
  }
  int64_t replace = 0;
  int add = nearest >= EXEMPLAR_MIN_SPREAD;
  /* A face that is also close to someone marked "not the same person" would
   * blur the line between them: it does not join the gallery. */
  if (add) {
    db_rows_free(rows);
    rows = NULL;
    rc = db_query(b->c,
                  "SELECT CASE WHEN customer_a = $1 THEN customer_b ELSE customer_a END "
                  "FROM customer_exclusions WHERE customer_a = $1 OR customer_b = $1",
                  DB_ARGS(db_int(customer)), &rows, err);
    if (rc)
      return rc;
    if (db_rows_count(rows)) {
      struct vindex_hit hits[8];
      size_t found = 0;
      if ((rc = vindex_search_labels(b->customers, e->descriptor, 8, NULL, 0, hits, &found, err))) {
        db_rows_free(rows);
        return rc;
      }
      for (size_t k = 0; k < found && add; k++)
        for (int i = 0; i < db_rows_count(rows) && add; i++)
          if (hits[k].label == db_rows_int(rows, i, 0) &&
              hits[k].distance < b->settings.match_threshold)
            add = 0;
    }
    db_rows_free(rows);
    rows = NULL;
    if (add && n >= b->settings.gallery_size) {
      rc = db_query(b->c,
                    "SELECT id, quality FROM customer_faces WHERE customer_id = $1 "
                    "ORDER BY quality ASC, id ASC LIMIT 1",
                    DB_ARGS(db_int(customer)), &rows, err);
      if (rc)
        return rc;
    }
  }
  if (add && n >= b->settings.gallery_size) {
    if (db_rows_count(rows) && db_rows_real(rows, 0, 1) < e->quality)
      replace = db_rows_int(rows, 0, 0);
    else
      add = 0;
  }
  db_rows_free(rows);
  if (!add)
    return FF_OK;
  if (replace) {
    if ((rc = db_exec(b->c, "DELETE FROM customer_faces WHERE id = $1", DB_ARGS(db_int(replace)),
                      NULL, err)))
      return rc;
    vindex_remove(b->customers, replace, NULL);
  }
  unsigned char blob[DESCRIPTOR_BYTES];
  descriptor_pack(e->descriptor, blob);
  rows = NULL;
  rc = db_query(b->c,
                "INSERT INTO customer_faces (tenant_id, customer_id, descriptor, model, quality, "
                "event_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                DB_ARGS(db_int(b->tenant), db_int(customer), db_blob(blob, sizeof blob),
                        db_text(RECOGNITION_MODEL), db_real(e->quality), db_text(e->id),
                        db_int(b->now)),
                &rows, err);
  if (!rc) {
    b->reload_index = 1;
    rc = vindex_add(b->customers, db_rows_int(rows, 0, 0), customer, e->descriptor, err);
  }
  if (!rc && b->galleries && (!b->gallery_count || b->galleries[b->gallery_count - 1] != customer))
    b->galleries[b->gallery_count++] = customer;
  db_rows_free(rows);
  return rc;
}

static int new_customer(struct batch *b, const struct event *e, int64_t *customer,
                        struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(b->c,
                    "INSERT INTO customers (tenant_id, first_seen_at, last_seen_at, visit_count, "
                    "created_at, updated_at) VALUES ($1, $2, $2, 0, $3, $3) RETURNING id",
                    DB_ARGS(db_int(b->tenant), db_int(e->captured_ms), db_int(b->now)), &rows, err);
  if (!rc)
    *customer = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  return rc;
}

/* Finds the customer: nearest under the threshold and clearly better than
 * the runner-up customer; 0 when none. */
static int match_customer(struct batch *b, const struct event *e, int64_t *customer,
                          struct ff_error *err) {
  struct vindex_hit hits[2];
  size_t found = 0;
  int rc = vindex_search_labels(b->customers, e->descriptor, 2, NULL, 0, hits, &found, err);
  if (rc)
    return rc;
  *customer = 0;
  if (found >= 1 && hits[0].distance < b->settings.match_threshold &&
      (found == 1 || hits[1].distance - hits[0].distance >= b->settings.match_margin))
    *customer = hits[0].label;
  return FF_OK;
}

static int record_visit(struct batch *b, const struct event *e, int64_t customer, int64_t site,
                        const char *zone, struct result *r, struct ff_error *err) {
  const struct tz *tz = recognizer_zone(b->s, zone, err);
  if (!tz)
    return FF_EINTERNAL;
  char day[11];
  tz_local_day(tz, e->captured_ms / 1000, day);
  int64_t gap = b->settings.visit_gap_ms;
  struct db_rows *rows = NULL;
  int rc = db_query(b->c,
                    "SELECT id, first_seen_at, last_seen_at, best_quality, picture_key FROM visits "
                    "WHERE customer_id = $1 AND site_id = $2 AND local_day = $3 "
                    "AND last_seen_at >= $4 AND first_seen_at <= $5 "
                    "ORDER BY last_seen_at DESC LIMIT 1",
                    DB_ARGS(db_int(customer), db_int(site), db_text(day),
                            db_int(e->captured_ms - gap), db_int(e->captured_ms + gap)),
                    &rows, err);
  if (rc)
    return rc;
  int extend = db_rows_count(rows) == 1;
  int changed = !extend; /* a new visit, or a better picture with new estimates */
  char *key = NULL;
  struct rollup_visit was;
  if (extend) {
    int64_t visit = db_rows_int(rows, 0, 0);
    rc = rollup_visit_load(b->c, visit, &was, err);
    int better = e->quality > db_rows_real(rows, 0, 3);
    changed = better;
    const char *old_key = db_rows_text(rows, 0, 4);
    if (!rc && better && !(rc = store_crop(b, e, &key, err)) && old_key)
      remember(&b->pictures.replaced, &b->pictures.replaced_count, b->pictures.cap, old_key);
    if (!rc)
      rc = db_exec(
          b->c,
          "UPDATE visits SET first_seen_at = CASE WHEN $2 < first_seen_at THEN $2 ELSE "
          "first_seen_at END, last_seen_at = CASE WHEN $2 > last_seen_at THEN $2 ELSE "
          "last_seen_at END, detections = detections + 1, "
          "best_quality = CASE WHEN $3 = 1 THEN $4 ELSE best_quality END, "
          "best_event_id = CASE WHEN $3 = 1 THEN $5 ELSE best_event_id END, "
          "picture_key = CASE WHEN $3 = 1 THEN $6 ELSE picture_key END, "
          "picture_expires_at = CASE WHEN $3 = 1 THEN $7 ELSE picture_expires_at END, "
          "age = CASE WHEN $3 = 1 AND $8 = 1 THEN $9 ELSE age END, "
          "gender = CASE WHEN $3 = 1 AND $10 = 1 THEN $11 ELSE gender END, "
          "gender_probability = CASE WHEN $3 = 1 AND $10 = 1 THEN $12 ELSE gender_probability END, "
          "updated_at = $13 WHERE id = $1",
          DB_ARGS(db_int(visit), db_int(e->captured_ms), db_int(better), db_real(e->quality),
                  db_text(e->id), db_text(key),
                  db_int(e->captured_ms + (int64_t)b->settings.retention_days * 86400000),
                  db_int(e->has_age), db_real(e->age), db_int(e->gender != NULL),
                  db_text(e->gender), db_real(e->gender_probability), db_int(b->now)),
          NULL, err);
    /* Reports: the visit's hour rollup follows its new duration and estimates. */
    struct rollup_visit now;
    if (!rc)
      rc = rollup_visit_load(b->c, visit, &now, err);
    if (!rc)
      rc = rollup_visit_change(b->s, b->c, tz, &was, &now, err);
    r->outcome = "visit_extended";
    r->visit_id = visit;
  }
  db_rows_free(rows);
  rows = NULL;
  if (!extend) {
    struct db_rows *cust = NULL;
    rc = db_query(b->c, "SELECT visit_count FROM customers WHERE id = $1",
                  DB_ARGS(db_int(customer)), &cust, err);
    int is_new = !rc && db_rows_count(cust) == 1 && db_rows_int(cust, 0, 0) == 0;
    db_rows_free(cust);
    if (!rc)
      rc = store_crop(b, e, &key, err);
    if (!rc)
      rc = db_query(
          b->c,
          "INSERT INTO visits (tenant_id, site_id, customer_id, camera_id, first_seen_at, "
          "last_seen_at, local_day, detections, is_new, age, gender, gender_probability, "
          "best_quality, best_event_id, picture_key, picture_expires_at, created_at, updated_at) "
          "VALUES ($1, $2, $3, $4, $5, $5, $6, 1, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) "
          "RETURNING id",
          DB_ARGS(db_int(b->tenant), db_int(site), db_int(customer), db_int(e->camera_id),
                  db_int(e->captured_ms), db_text(day), db_int(is_new),
                  e->has_age ? db_real(e->age) : db_null(), db_text(e->gender),
                  e->gender ? db_real(e->gender_probability) : db_null(), db_real(e->quality),
                  db_text(e->id), db_text(key),
                  db_int(e->captured_ms + (int64_t)b->settings.retention_days * 86400000),
                  db_int(b->now)),
          &rows, err);
    if (!rc) {
      r->outcome = "new_visit";
      r->visit_id = db_rows_int(rows, 0, 0);
      struct rollup_visit v = {.id = r->visit_id,
                               .tenant_id = b->tenant,
                               .site_id = site,
                               .customer_id = customer,
                               .first_seen_ms = e->captured_ms,
                               .last_seen_ms = e->captured_ms,
                               .has_age = e->has_age,
                               .age = e->age,
                               .gender = !e->gender                   ? 0
                                         : !strcmp(e->gender, "male") ? 1
                                                                      : 2};
      rc = rollup_visit_apply(b->s, b->c, tz, &v, err);
    }
    db_rows_free(rows);
  }
  free(key);
  if (!rc && changed)
    rc = recognizer_refresh_customer(b->c, customer, b->now, err);
  else if (!rc)
    rc = db_exec(b->c,
                 "UPDATE customers SET last_seen_at = CASE WHEN $2 > last_seen_at THEN $2 ELSE "
                 "last_seen_at END, first_seen_at = CASE WHEN $2 < first_seen_at THEN $2 ELSE "
                 "first_seen_at END, updated_at = $3 WHERE id = $1",
                 DB_ARGS(db_int(customer), db_int(e->captured_ms), db_int(b->now)), NULL, err);
  r->customer_id = customer;
  return rc;
}

/* Staff check: the server's own. A worker's claim is accepted only when the
 * claimed person's face is (nearly) the nearest staff face. */
static int check_staff(struct batch *b, const struct event *e, int64_t *staff, int *claim_refused,
                       struct ff_error *err) {
  *staff = 0;
  *claim_refused = 0;
  struct vindex_hit hits[4];
  size_t found = 0;
  int rc = vindex_search_labels(b->staff, e->descriptor, 4, NULL, 0, hits, &found, err);
  if (rc)
    return rc;
  if (found && hits[0].distance < b->settings.staff_threshold)
    *staff = hits[0].label;
  if (e->staff_claim && !*staff) {
    for (size_t i = 0; i < found; i++)
      if (hits[i].label == e->staff_claim &&
          hits[i].distance < b->settings.staff_threshold + STAFF_CLAIM_TOLERANCE)
        *staff = e->staff_claim;
    *claim_refused = !*staff;
  }
  return FF_OK;
}

static int process(struct batch *b, const json_t *item, struct result *r, struct ff_error *err) {
  memset(r, 0, sizeof *r);
  struct event e;
  char why[96];
  int rc = FF_OK;
  if (parse_event(item, &e, b->now, why, sizeof why)) {
    r->outcome = "rejected";
    snprintf(r->reason, sizeof r->reason, "%s", why);
    /* Without a valid id there is nothing to remember it by. */
    if (e.id[0] && e.camera_id) {
      struct result dup;
      memset(&dup, 0, sizeof dup);
      if ((rc = ledger_lookup(b, &e, &dup, err)) == 1)
        *r = dup, rc = FF_OK;
      else if (!rc)
        rc = ledger_write(b, &e, 0, r, err);
    }
    free(e.crop);
    return rc;
  }
  if ((rc = ledger_lookup(b, &e, r, err))) {
    free(e.crop);
    return rc == 1 ? FF_OK : rc;
  }
  /* Do not track: a person who objected is dropped before anything about
   * the event is stored, not even its ledger entry (a replay is judged the
   * same way again). */
  struct vindex_hit hit;
  size_t hits = 0;
  if ((rc = vindex_search_labels(b->optout, e.descriptor, 1, NULL, 0, &hit, &hits, err))) {
    free(e.crop);
    return rc;
  }
  if (hits && hit.distance < b->settings.match_threshold + OPTOUT_MARGIN) {
    r->outcome = "rejected";
    snprintf(r->reason, sizeof r->reason, "opted_out: this person asked not to be tracked");
    free(e.crop);
    return FF_OK;
  }
  int64_t site = 0;
  char zone[72];
  rc = camera_site(b, e.camera_id, &site, zone, sizeof zone, err);
  if (rc == 0) {
    r->outcome = "rejected";
    snprintf(r->reason, sizeof r->reason, "unknown_camera: not a camera of this key's site");
    rc = ledger_write(b, &e, 0, r, err);
  } else if (rc == 1) {
    rc = FF_OK;
    const struct recognizer_settings *set = &b->settings;
    double side = e.box_width < e.box_height ? e.box_width : e.box_height;
    if (side < set->min_face_px)
      snprintf(r->reason, sizeof r->reason, "face_too_small: %.0f px < %d px", side,
               set->min_face_px);
    else if (e.score < set->min_score)
      snprintf(r->reason, sizeof r->reason, "low_detector_score: %.2f < %.2f", e.score,
               set->min_score);
    else if (e.quality < set->min_quality)
      snprintf(r->reason, sizeof r->reason, "low_quality: %.2f < %.2f", e.quality,
               set->min_quality);
    if (r->reason[0]) {
      r->outcome = "rejected";
    } else {
      int64_t staff = 0;
      int refused = 0;
      rc = check_staff(b, &e, &staff, &refused, err);
      if (!rc && refused)
        log_msg(LOG_WARN, "events.staff_claim_refused",
                "event %s: the worker's staff %lld is not confirmed by the server", e.id,
                (long long)e.staff_claim);
      if (!rc && staff) {
        r->outcome = "staff";
        r->staff_id = staff;
        rc = db_exec(b->c,
                     "INSERT INTO staff_passes (tenant_id, site_id, staff_id, camera_id, seen_at, "
                     "event_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                     DB_ARGS(db_int(b->tenant), db_int(site), db_int(staff), db_int(e.camera_id),
                             db_int(e.captured_ms), db_text(e.id), db_int(b->now)),
                     NULL, err);
        const struct tz *tz = rc ? NULL : recognizer_zone(b->s, zone, err);
        if (!rc)
          rc = tz ? rollup_staff_pass(b->c, tz, b->tenant, site, e.captured_ms, err) : FF_EINTERNAL;
      } else if (!rc) {
        int64_t customer = 0;
        rc = match_customer(b, &e, &customer, err);
        if (!rc && !customer) {
          rc = new_customer(b, &e, &customer, err);
          r->new_customer = 1;
        }
        r->site_id = site;
        r->camera_id = e.camera_id;
        r->seen_at = e.captured_ms;
        if (!rc)
          rc = update_gallery(b, customer, &e, err);
        if (!rc)
          rc = record_visit(b, &e, customer, site, zone, r, err);
      }
    }
    if (!rc)
      rc = ledger_write(b, &e, site, r, err);
  }
  free(e.crop);
  return rc;
}

static json_t *result_json(const json_t *item, const struct result *r) {
  const char *id = json_string_value(json_object_get(item, "id"));
  json_t *o = json_pack("{s:s?,s:s}", "id", id, "outcome", r->outcome);
  if (r->original_outcome)
    json_object_set_new(o, "original_outcome", json_string(r->original_outcome));
  if (r->reason[0])
    json_object_set_new(o, "reason", json_string(r->reason));
  if (r->customer_id)
    json_object_set_new(o, "customer_id", json_integer(r->customer_id));
  if (r->visit_id)
    json_object_set_new(o, "visit_id", json_integer(r->visit_id));
  if (r->staff_id)
    json_object_set_new(o, "staff_id", json_integer(r->staff_id));
  return o;
}

/* The batch committed: its new and extended visits go to realtime clients
 * (a replayed event changed nothing and is not published again). */
static void publish_visit(struct server *s, int64_t tenant, const struct result *r) {
  int is_new = !strcmp(r->outcome, "new_visit");
  if (!is_new && strcmp(r->outcome, "visit_extended"))
    return;
  hub_publish(s, tenant, r->site_id, is_new ? "visit.new" : "visit.extended",
              json_pack("{s:I,s:I,s:I,s:I,s:I,s:b}", "visit_id", (json_int_t)r->visit_id,
                        "customer_id", (json_int_t)r->customer_id, "site_id",
                        (json_int_t)r->site_id, "camera_id", (json_int_t)r->camera_id, "seen_at",
                        (json_int_t)r->seen_at, "new_customer", r->new_customer));
}

static void free_keys(char **keys, int n) {
  for (int i = 0; i < n; i++)
    free(keys[i]);
  free(keys);
}

void events_ingest(struct request *rq) {
  json_t *events = json_object_get(rq->body, "events");
  if (json_object_size(rq->body) != 1 || !json_is_array(events)) {
    http_error(rq, 400, "invalid_field", "the body is {\"events\": [...]} and nothing else");
    return;
  }
  size_t n = json_array_size(events);
  if (n == 0 || n > EVENTS_MAX_BATCH) {
    http_error(rq, 400, "invalid_field", "a batch has 1 to %d events", EVENTS_MAX_BATCH);
    return;
  }
  struct server *s = rq->server;
  struct batch b = {
      .s = s, .tenant = rq->who.tenant_id, .key_site = rq->who.site_id, .now = server_now_ms(s)};
  b.pictures.cap = (int)n;
  b.pictures.added = calloc(n, sizeof(char *));
  b.pictures.replaced = calloc(n, sizeof(char *));
  b.galleries = calloc(n, sizeof *b.galleries);
  struct result *results = calloc(n, sizeof *results);
  struct ff_error err = {0};
  int rc = b.pictures.added && b.pictures.replaced && results
               ? FF_OK
               : ff_fail(&err, FF_ENOMEM, "out of memory");
  if (!rc)
    rc = recognizer_customers(s, b.tenant, &b.customers, &err);
  if (!rc)
    rc = recognizer_staff(s, b.tenant, &b.staff, &err);
  if (!rc)
    rc = recognizer_optout(s, b.tenant, &b.optout, &err);
  b.c = rc ? NULL : access_db(rq);
  if (!rc && !b.c) {
    free(results);
    free(b.pictures.added);
    free(b.pictures.replaced);
    free(b.galleries);
    return;
  }
  if (!rc)
    rc = db_begin(b.c, DB_TX_WRITE, &err);
  if (!rc)
    rc = recognizer_settings_load(b.c, b.tenant, &b.settings, &err);
  for (size_t i = 0; !rc && i < n; i++)
    rc = process(&b, json_array_get(events, i), &results[i], &err);
  if (b.c) {
    rc = access_finish(b.c, rc, &err);
    if (rc && b.reload_index) {
      struct ff_error reload = {0};
      if (recognizer_reload_tenant(s, b.c, b.tenant, &reload))
        log_msg(LOG_ERROR, "events.reload_failed", "tenant %lld: %s", (long long)b.tenant,
                reload.message);
    }
    db_release(b.c);
  }
  /* Pictures: a failed batch leaves none behind; a committed one drops the
   * crops its visits no longer use. */
  char **drop = rc ? b.pictures.added : b.pictures.replaced;
  int drop_count = rc ? b.pictures.added_count : b.pictures.replaced_count;
  for (int i = 0; i < drop_count; i++) {
    struct ff_error perr = {0};
    if (store_delete(s->store, drop[i], &perr))
      log_msg(LOG_WARN, "events.picture_delete_failed", "%s: %s (the retention check removes it)",
              drop[i], perr.message);
  }
  if (!rc)
    recognizer_changed(s, RECOGNIZER_CUSTOMERS, b.tenant, b.galleries, b.gallery_count);
  free(b.galleries);
  free_keys(b.pictures.added, b.pictures.added_count);
  free_keys(b.pictures.replaced, b.pictures.replaced_count);
  if (rc) {
    free(results);
    http_fail(rq, rc == FF_EINVAL ? FF_EINTERNAL : rc, &err);
    return;
  }
  json_t *out = json_array();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(out, result_json(json_array_get(events, i), &results[i]));
    metrics_event(&s->metrics, results[i].outcome, results[i].reason);
    publish_visit(s, b.tenant, &results[i]);
  }
  free(results);
  http_json(rq, 200, json_pack("{s:o}", "results", out));
}
