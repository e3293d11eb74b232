/* sites.c — the stores of a tenant, each with its IANA time zone. */
#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "rollups.h"
#include "server.h"
#include "tenants.h"

#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define SITE_NAME_MAX 128
#define ADDRESS_MAX 512

int timezone_valid(const char *name) {
  size_t len = strlen(name);
  if (!len || len > 64 || name[0] == '/' || strstr(name, "..") || !strncmp(name, "posix/", 6) ||
      !strncmp(name, "right/", 6))
    return 0;
  for (const char *p = name; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
      return 0;
  char path[128];
  snprintf(path, sizeof path, ZONEINFO_DIR "/%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char magic[4];
  int ok = read(fd, magic, 4) == 4 && !memcmp(magic, "TZif", 4);
  close(fd);
  return ok;
}

/* opening_hours: {"mon": [["09:00","21:00"], ...], ..., "sun": []} */
static int valid_time(const char *t) {
  return t && strlen(t) == 5 && isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) &&
         t[2] == ':' && isdigit((unsigned char)t[3]) && isdigit((unsigned char)t[4]) &&
         ((t[0] - '0') * 10 + (t[1] - '0') <= 24) && ((t[3] - '0') * 10 + (t[4] - '0') < 60) &&
         (strcmp(t, "24:00") <= 0);
}

int sites_check_opening_hours(const json_t *hours, struct ff_error *err) {
  static const char *days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  const char *key;
  json_t *ranges;
  json_object_foreach((json_t *)hours, key, ranges) {
    int known = 0;
    for (int d = 0; d < 7; d++)
      known |= !strcmp(key, days[d]);
    if (!known)
      return ff_fail(err, FF_EINVAL, "opening_hours: '%.8s' is not a day (mon..sun)", key);
    if (!json_is_array(ranges) || json_array_size(ranges) > 4)
      return ff_fail(err, FF_EINVAL, "opening_hours.%s must be a list of at most 4 ranges", key);
    size_t i;
    json_t *range;
    json_array_foreach(ranges, i, range) {
      const char *open = json_string_value(json_array_get(range, 0));
      const char *close = json_string_value(json_array_get(range, 1));
      if (!json_is_array(range) || json_array_size(range) != 2 || !valid_time(open) ||
          !valid_time(close) || strcmp(open, close) >= 0)
        return ff_fail(err, FF_EINVAL,
                       "opening_hours.%s: each range is [\"HH:MM\", \"HH:MM\"], opening first",
                       key);
    }
  }
  return FF_OK;
}

#define SITE_SELECT                                                                                \
  "SELECT id, tenant_id, name, address, timezone, opening_hours, created_at, updated_at FROM sites"

/* A site as the API shows it: the columns of SITE_SELECT, in this order;
 * opening_hours is stored as JSON text. */
#define KEY(name) "\"" name "\":", sizeof(name) + 2 /* as JSON_OUT_NAME writes it */
static const struct {
  const char *key; /* "\"id\":" */
  size_t key_len;
  int column;
  enum { AS_INT, AS_TEXT, AS_JSON } as;
} site_shape[] = {
    {KEY("id"), 0, AS_INT},
    {KEY("tenant_id"), 1, AS_INT},
    {KEY("name"), 2, AS_TEXT},
    {KEY("timezone"), 4, AS_TEXT},
    {KEY("created_at_ms"), 6, AS_INT},
    {KEY("updated_at_ms"), 7, AS_INT},
    {KEY("address"), 3, AS_TEXT},
    {KEY("opening_hours"), 5, AS_JSON},
};
#undef KEY

static void site_write(const struct request *rq, const struct db_rows *r, int i,
                       struct json_out *o) {
  (void)rq;
  json_out_open(o, '{');
  for (size_t f = 0; f < sizeof site_shape / sizeof *site_shape; f++) {
    int col = site_shape[f].column;
    json_out_name(o, site_shape[f].key, site_shape[f].key_len);
    if (site_shape[f].as == AS_INT) {
      json_out_int(o, db_rows_int(r, i, col));
    } else if (site_shape[f].as == AS_TEXT) {
      json_out_str(o, db_rows_text(r, i, col));
    } else {
      const char *text = db_rows_text(r, i, col);
      json_t *tree = text ? json_loads(text, 0, NULL) : NULL;
      json_out_tree(o, tree);
      json_decref(tree);
    }
  }
  json_out_close(o, '}');
}

static void site_reply(struct request *rq, int status, const struct db_rows *r) {
  struct json_out o = {0};
  site_write(rq, r, 0, &o);
  http_json_out(rq, status, &o);
}

void sites_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  const char *sql = SITE_SELECT " WHERE ($1 = 0 OR tenant_id = $1) AND ($2 = 0 OR id = $2) "
                                "AND id > $3 ORDER BY id LIMIT $4";
  access_list_page_out(
      rq, sql,
      DB_ARGS(db_int(access_tenant(rq)), db_int(access_site(rq)), db_int(cursor), db_int(limit)),
      limit, site_write);
}

static struct db_rows *load_site(struct request *rq, struct db_conn *c, int64_t id) {
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = id ? db_query(c, SITE_SELECT " WHERE id = $1", DB_ARGS(db_int(id)), &rows, &err) : FF_OK;
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  if (!rows || db_rows_count(rows) != 1 || !access_sees(rq, db_rows_int(rows, 0, 1), id)) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no such site");
    return NULL;
  }
  return rows;
}

void sites_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = load_site(rq, c, http_param_id(rq, "id"));
  db_release(c);
  if (rows) {
    site_reply(rq, 200, rows);
    db_rows_free(rows);
  }
}

static const struct field site_fields[] = {
    {"name", FIELD_STRING, 1, SITE_NAME_MAX, 0}, {"address", FIELD_STRING, 0, ADDRESS_MAX, 1},
    {"timezone", FIELD_STRING, 1, 64, 0},        {"opening_hours", FIELD_OBJECT, 0, 0, 1},
    {"tenant_id", FIELD_INT, 0, 0, 0},
};

/* Checks the optional fields shared by create and update. */
static int check_site_fields(struct request *rq, struct ff_error *err) {
  json_t *name = json_object_get(rq->body, "name");
  json_t *tz = json_object_get(rq->body, "timezone");
  json_t *hours = json_object_get(rq->body, "opening_hours");
  if (name) {
    const char *n = json_string_value(name);
    if (!*n || n[0] == ' ' || n[strlen(n) - 1] == ' ')
      return ff_fail(err, FF_EINVAL, "name must not be empty or padded with spaces");
  }
  if (tz && !timezone_valid(json_string_value(tz)))
    return ff_fail(err, FF_EINVAL,
                   "timezone '%.64s' is not an IANA time zone known to this system "
                   "(for example Europe/Paris or Asia/Ho_Chi_Minh)",
                   json_string_value(tz));
  if (hours && json_is_object(hours))
    return sites_check_opening_hours(hours, err);
  return FF_OK;
}

static char *hours_text(const json_t *body) {
  json_t *hours = json_object_get(body, "opening_hours");
  return hours && json_is_object(hours) ? json_dumps(hours, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

void sites_create(struct request *rq) {
  if (http_validate(rq, site_fields, sizeof site_fields / sizeof site_fields[0]))
    return;
  struct ff_error err = {0};
  if (check_site_fields(rq, &err)) {
    http_fail(rq, FF_EINVAL, &err);
    return;
  }
  int64_t tenant = access_target_tenant(rq);
  if (!tenant)
    return;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  const char *name = json_string_value(json_object_get(rq->body, "name"));
  char *hours = hours_text(rq->body);
  int64_t now = server_now_ms(rq->server), id = 0;
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc) {
    rc = db_query(c, "SELECT 1 FROM tenants WHERE id = $1", DB_ARGS(db_int(tenant)), &rows, &err);
    if (!rc && db_rows_count(rows) != 1)
      rc = ff_fail(&err, FF_ENOTFOUND, "no such tenant");
    db_rows_free(rows);
    rows = NULL;
  }
  if (!rc)
    rc = db_query(c,
                  "INSERT INTO sites (tenant_id, name, address, timezone, opening_hours, "
                  "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                  DB_ARGS(db_int(tenant), db_text(name),
                          db_text(json_string_value(json_object_get(rq->body, "address"))),
                          db_text(json_string_value(json_object_get(rq->body, "timezone"))),
                          db_text(hours), db_int(now)),
                  &rows, &err);
  free(hours);
  if (rc == FF_ECONFLICT)
    ff_fail(&err, FF_ECONFLICT, "this tenant has a site named '%s' already", name);
  if (!rc)
    id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  char summary[200];
  snprintf(summary, sizeof summary, "created site '%s'", name);
  if (!rc)
    rc = audit_record(c, rq, tenant, "site.create", "site", id, summary);
  rc = access_finish(c, rc, &err);
  rows = rc ? NULL : load_site(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    site_reply(rq, 201, rows);
  db_rows_free(rows);
}

static const struct field site_update_fields[] = {
    {"name", FIELD_STRING, 0, SITE_NAME_MAX, 0},
    {"address", FIELD_STRING, 0, ADDRESS_MAX, 1},
    {"timezone", FIELD_STRING, 0, 64, 0},
    {"opening_hours", FIELD_OBJECT, 0, 0, 1},
};

void sites_update(struct request *rq) {
  if (http_validate(rq, site_update_fields, 4))
    return;
  struct ff_error err = {0};
  if (check_site_fields(rq, &err)) {
    http_fail(rq, FF_EINVAL, &err);
    return;
  }
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_site(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  const char *zone = json_string_value(json_object_get(rq->body, "timezone"));
  int new_zone = zone && strcmp(zone, db_rows_text(rows, 0, 4));
  db_rows_free(rows);
  json_t *b = rq->body;
  json_t *address = json_object_get(b, "address"), *hours = json_object_get(b, "opening_hours");
  char *hours_json = hours_text(b);
  rc = db_exec(c,
               "UPDATE sites SET name = COALESCE($2, name), timezone = COALESCE($3, timezone), "
               "address = CASE WHEN $4 = 1 THEN $5 ELSE address END, "
               "opening_hours = CASE WHEN $6 = 1 THEN $7 ELSE opening_hours END, "
               "updated_at = $8 WHERE id = $1",
               DB_ARGS(db_int(id), db_text(json_string_value(json_object_get(b, "name"))),
                       db_text(json_string_value(json_object_get(b, "timezone"))),
                       db_int(address != NULL), db_text(json_string_value(address)),
                       db_int(hours != NULL), db_text(hours_json),
                       db_int(server_now_ms(rq->server))),
               NULL, &err);
  free(hours_json);
  if (rc == FF_ECONFLICT)
    ff_fail(&err, FF_ECONFLICT, "this tenant has a site with that name already");
  /* Reports bucket in the site's local time: a new zone recomputes them. */
  if (!rc && new_zone)
    rc = rollup_rebuild_site(rq->server, c, id, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "site.update", "site", id, "updated site");
  rc = access_finish(c, rc, &err);
  rows = rc ? NULL : load_site(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    site_reply(rq, 200, rows);
  db_rows_free(rows);
}

void sites_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_site(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  char summary[200];
  snprintf(summary, sizeof summary, "deleted site '%s'", db_rows_text(rows, 0, 2));
  db_rows_free(rows);
  rc = db_query(c,
                "SELECT (SELECT COUNT(*) FROM users WHERE site_id = $1) + "
                "(SELECT COUNT(*) FROM api_keys WHERE site_id = $1 AND revoked_at IS NULL) + "
                "(SELECT COUNT(*) FROM cameras WHERE site_id = $1)",
                DB_ARGS(db_int(id)), &rows, &err);
  if (!rc && db_rows_int(rows, 0, 0) > 0)
    rc = ff_fail(
        &err, FF_ECONFLICT,
        "users, API keys or cameras are still bound to this site; move or remove them first");
  db_rows_free(rows);
  if (!rc)
    rc = db_exec(c, "DELETE FROM sites WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "site.delete", "site", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}
