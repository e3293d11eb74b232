#include "tenants.h"

#include <stdio.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "retention.h"
#include "server.h"

static int valid_name(const char *name, struct ff_error *err) {
  size_t len = strlen(name);
  const char *p = name;
  while (*p == ' ')
    p++;
  if (!*p || len > TENANT_NAME_MAX || name[len - 1] == ' ')
    return ff_fail(err, FF_EINVAL,
                   "name must be 1-%d characters without leading or trailing spaces",
                   TENANT_NAME_MAX);
  for (p = name; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return ff_fail(err, FF_EINVAL, "name must not contain control characters");
  return FF_OK;
}

int tenants_create(struct server *s, struct db_conn *c, const char *name, int retention_days,
                   int64_t *id, struct ff_error *err) {
  int rc = valid_name(name, err);
  if (rc)
    return rc;
  if (retention_days < 1 || retention_days > RETENTION_DAYS_MAX)
    return ff_fail(err, FF_EINVAL, "retention_days must be from 1 to %d", RETENTION_DAYS_MAX);
  struct db_rows *rows = NULL;
  int64_t now = server_now_ms(s);
  rc = db_query(c,
                "INSERT INTO tenants (name, active, retention_days, created_at, updated_at) "
                "VALUES ($1, 1, $2, $3, $3) RETURNING id",
                DB_ARGS(db_text(name), db_int(retention_days), db_int(now)), &rows, err);
  if (rc == FF_ECONFLICT)
    ff_fail(err, FF_ECONFLICT, "a tenant named '%s' exists already", name);
  if (!rc)
    *id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  return rc;
}

static const char tenant_columns[] =
    "SELECT id, name, active, retention_days, created_at, updated_at, "
    "(SELECT COUNT(*) FROM sites WHERE tenant_id = tenants.id) FROM tenants";

static json_t *tenant_json(const struct db_rows *r, int i) {
  return json_pack("{s:I,s:s,s:b,s:I,s:I,s:I,s:I}", "id", (json_int_t)db_rows_int(r, i, 0), "name",
                   db_rows_text(r, i, 1), "active", (int)db_rows_int(r, i, 2), "retention_days",
                   (json_int_t)db_rows_int(r, i, 3), "created_at_ms",
                   (json_int_t)db_rows_int(r, i, 4), "updated_at_ms",
                   (json_int_t)db_rows_int(r, i, 5), "site_count",
                   (json_int_t)db_rows_int(r, i, 6));
}

static json_t *tenant_json_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return tenant_json(r, i);
}

void tenants_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  char sql[400];
  snprintf(sql, sizeof sql, "%s WHERE id > $1 AND ($2 = 0 OR id = $2) ORDER BY id LIMIT $3",
           tenant_columns);
  access_list_page(rq, sql, DB_ARGS(db_int(cursor), db_int(access_tenant(rq)), db_int(limit)),
                   limit, tenant_json_item);
}

static struct db_rows *load_tenant(struct request *rq, struct db_conn *c, int64_t id) {
  char sql[400];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", tenant_columns);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = id ? db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err) : FF_OK;
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  if (!rows || db_rows_count(rows) != 1 || !access_sees(rq, id, 0)) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no such tenant");
    return NULL;
  }
  return rows;
}

void tenants_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = load_tenant(rq, c, http_param_id(rq, "id"));
  db_release(c);
  if (rows) {
    http_json(rq, 200, tenant_json(rows, 0));
    db_rows_free(rows);
  }
}

static const struct field tenant_fields[] = {
    {"name", FIELD_STRING, 1, TENANT_NAME_MAX, 0},
    {"retention_days", FIELD_INT, 0, 0, 0},
};

void tenants_create_handler(struct request *rq) {
  if (http_validate(rq, tenant_fields, 2))
    return;
  const char *name = json_string_value(json_object_get(rq->body, "name"));
  json_t *days = json_object_get(rq->body, "retention_days");
  int retention = days ? (int)json_integer_value(days) : 30;
  if (days && (json_integer_value(days) < 1 || json_integer_value(days) > RETENTION_DAYS_MAX)) {
    http_error(rq, 400, "invalid_field", "retention_days must be from 1 to %d", RETENTION_DAYS_MAX);
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t id = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = tenants_create(rq->server, c, name, retention, &id, &err);
  char summary[200];
  snprintf(summary, sizeof summary, "created tenant '%s'", name);
  if (!rc)
    rc = audit_record(c, rq, id, "tenant.create", "tenant", id, summary);
  rc = access_finish(c, rc, &err);
  struct db_rows *rows = rc ? NULL : load_tenant(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    http_json(rq, 201, tenant_json(rows, 0));
  db_rows_free(rows);
}

static const struct field tenant_update_fields[] = {
    {"name", FIELD_STRING, 0, TENANT_NAME_MAX, 0},
    {"retention_days", FIELD_INT, 0, 0, 0},
    {"active", FIELD_BOOL, 0, 0, 0},
};

void tenants_update(struct request *rq) {
  if (http_validate(rq, tenant_update_fields, 3))
    return;
  int64_t id = http_param_id(rq, "id");
  json_t *name = json_object_get(rq->body, "name");
  json_t *days = json_object_get(rq->body, "retention_days");
  json_t *active = json_object_get(rq->body, "active");
  struct ff_error err = {0};
  if ((name && valid_name(json_string_value(name), &err)) ||
      (days && (json_integer_value(days) < 1 || json_integer_value(days) > RETENTION_DAYS_MAX) &&
       ff_fail(&err, FF_EINVAL, "retention_days must be from 1 to %d", RETENTION_DAYS_MAX))) {
    http_fail(rq, FF_EINVAL, &err);
    return;
  }
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_tenant(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  int rc = FF_OK;
  db_rows_free(rows);
  /* Kept pictures follow a new retention (shorter: the next retention run
   * deletes what is now past it). */
  if (days)
    rc = retention_reschedule(c, id, (int)json_integer_value(days), &err);
  if (!rc)
    rc = db_exec(c,
                 "UPDATE tenants SET name = COALESCE($2, name), "
                 "retention_days = CASE WHEN $3 > 0 THEN $3 ELSE retention_days END, "
                 "active = CASE WHEN $4 >= 0 THEN $4 ELSE active END, updated_at = $5 "
                 "WHERE id = $1",
                 DB_ARGS(db_int(id), db_text(json_string_value(name)),
                         db_int(days ? json_integer_value(days) : 0),
                         db_int(active ? json_is_true(active) : -1),
                         db_int(server_now_ms(rq->server))),
                 NULL, &err);
  if (rc == FF_ECONFLICT)
    ff_fail(&err, FF_ECONFLICT, "a tenant with that name exists already");
  char summary[200];
  snprintf(summary, sizeof summary, "updated tenant%s%s%s", name ? " (renamed)" : "",
           days ? " (retention changed)" : "",
           active ? (json_is_true(active) ? " (activated)" : " (deactivated)") : "");
  if (!rc)
    rc = audit_record(c, rq, id, "tenant.update", "tenant", id, summary);
  rc = access_finish(c, rc, &err);
  rows = rc ? NULL : load_tenant(rq, c, id);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else if (rows)
    http_json(rq, 200, tenant_json(rows, 0));
  db_rows_free(rows);
}

void tenants_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_tenant(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  char summary[200];
  snprintf(summary, sizeof summary, "deleted tenant '%s'", db_rows_text(rows, 0, 1));
  db_rows_free(rows);
  rc = db_query(c,
                "SELECT (SELECT COUNT(*) FROM sites WHERE tenant_id = $1) + "
                "(SELECT COUNT(*) FROM users WHERE tenant_id = $1) + "
                "(SELECT COUNT(*) FROM api_keys WHERE tenant_id = $1)",
                DB_ARGS(db_int(id)), &rows, &err);
  if (!rc && db_rows_int(rows, 0, 0) > 0)
    rc = ff_fail(&err, FF_ECONFLICT,
                 "the tenant still has sites, users or API keys; remove them first");
  db_rows_free(rows);
  if (!rc)
    rc = db_exec(c, "DELETE FROM tenants WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, id, "tenant.delete", "tenant", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}
