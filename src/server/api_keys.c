#include "api_keys.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "server.h"

#define KEY_NAME_MAX 128

int api_keys_create(struct server *s, struct db_conn *c, int64_t tenant_id, int64_t site_id,
                    const char *name, int64_t expires_at_ms, int64_t created_by, int64_t *id,
                    char *secret, size_t secret_size, struct ff_error *err) {
  if (!name || !*name || strlen(name) > KEY_NAME_MAX)
    return ff_fail(err, FF_EINVAL, "name must be 1-%d characters", KEY_NAME_MAX);
  int64_t now = server_now_ms(s);
  if (expires_at_ms && expires_at_ms <= now)
    return ff_fail(err, FF_EINVAL, "expires_at_ms must be in the future");
  struct db_rows *rows = NULL;
  int rc =
      db_query(c, "SELECT 1 FROM tenants WHERE id = $1", DB_ARGS(db_int(tenant_id)), &rows, err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(err, FF_ENOTFOUND, "no such tenant");
  db_rows_free(rows);
  rows = NULL;
  if (!rc && site_id) {
    rc = db_query(c, "SELECT 1 FROM sites WHERE id = $1 AND tenant_id = $2",
                  DB_ARGS(db_int(site_id), db_int(tenant_id)), &rows, err);
    if (!rc && db_rows_count(rows) != 1)
      rc = ff_fail(err, FF_EINVAL, "site %lld does not exist in this tenant", (long long)site_id);
    db_rows_free(rows);
    rows = NULL;
  }
  /* The 32-bit lookup prefix may collide: draw again. */
  for (int attempt = 0; !rc && attempt < 5; attempt++) {
    unsigned char raw[4];
    char prefix[9], body[64], digest[65];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(prefix, sizeof prefix, raw, sizeof raw);
    secret_generate("", body, sizeof body);
    snprintf(secret, secret_size, "ffk_%s_%s", prefix, body);
    secret_digest(s, secret, digest);
    rc = db_query(c,
                  "INSERT INTO api_keys (tenant_id, site_id, name, prefix, secret_hash, role, "
                  "created_by, created_at, expires_at) "
                  "VALUES ($1, $2, $3, $4, $5, 'worker', $6, $7, $8) RETURNING id",
                  DB_ARGS(db_int(tenant_id), site_id ? db_int(site_id) : db_null(), db_text(name),
                          db_text(prefix), db_text(digest),
                          created_by ? db_int(created_by) : db_null(), db_int(now),
                          expires_at_ms ? db_int(expires_at_ms) : db_null()),
                  &rows, err);
    if (rc == FF_ECONFLICT) {
      rc = FF_OK;
      continue;
    }
    if (!rc)
      *id = db_rows_int(rows, 0, 0);
    db_rows_free(rows);
    return rc;
  }
  return rc ? rc : ff_fail(err, FF_EINTERNAL, "could not draw a unique key prefix");
}

static const char key_select[] =
    "SELECT id, tenant_id, site_id, name, prefix, role, created_by, created_at, expires_at, "
    "revoked_at, last_used_at FROM api_keys";

static json_t *opt_int(const struct db_rows *r, int i, int col) {
  return db_rows_is_null(r, i, col) ? json_null() : json_integer(db_rows_int(r, i, col));
}

static json_t *key_json(const struct db_rows *r, int i) {
  json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)db_rows_int(r, i, 0),
                        "tenant_id", (json_int_t)db_rows_int(r, i, 1), "name",
                        db_rows_text(r, i, 3), "prefix", db_rows_text(r, i, 4), "role",
                        db_rows_text(r, i, 5), "created_at_ms", (json_int_t)db_rows_int(r, i, 7));
  json_object_set_new(o, "site_id", opt_int(r, i, 2));
  json_object_set_new(o, "created_by", opt_int(r, i, 6));
  json_object_set_new(o, "expires_at_ms", opt_int(r, i, 8));
  json_object_set_new(o, "revoked_at_ms", opt_int(r, i, 9));
  json_object_set_new(o, "last_used_at_ms", opt_int(r, i, 10));
  return o;
}

static json_t *key_json_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return key_json(r, i);
}

void api_keys_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  char sql[400];
  snprintf(sql, sizeof sql, "%s WHERE ($1 = 0 OR tenant_id = $1) AND id > $2 ORDER BY id LIMIT $3",
           key_select);
  access_list_page(rq, sql, DB_ARGS(db_int(access_tenant(rq)), db_int(cursor), db_int(limit)),
                   limit, key_json_item);
}

static struct db_rows *load_key(struct request *rq, struct db_conn *c, int64_t id) {
  char sql[300];
  snprintf(sql, sizeof sql, "%s WHERE id = $1", key_select);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = id ? db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err) : FF_OK;
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  if (!rows || db_rows_count(rows) != 1 || !access_sees(rq, db_rows_int(rows, 0, 1), 0)) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no such API key");
    return NULL;
  }
  return rows;
}

void api_keys_get(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = load_key(rq, c, http_param_id(rq, "id"));
  db_release(c);
  if (rows) {
    http_json(rq, 200, key_json(rows, 0));
    db_rows_free(rows);
  }
}

static const struct field key_fields[] = {
    {"name", FIELD_STRING, 1, KEY_NAME_MAX, 0}, {"site_id", FIELD_INT, 0, 0, 1},
    {"expires_at_ms", FIELD_INT, 0, 0, 1},      {"role", FIELD_STRING, 0, 32, 0},
    {"tenant_id", FIELD_INT, 0, 0, 0},
};

void api_keys_create_handler(struct request *rq) {
  if (http_validate(rq, key_fields, sizeof key_fields / sizeof key_fields[0]))
    return;
  const char *role = json_string_value(json_object_get(rq->body, "role"));
  if (role && strcmp(role, "worker")) {
    http_error(rq, 400, "invalid_field", "API keys always have the role 'worker'");
    return;
  }
  int64_t tenant = access_target_tenant(rq);
  if (!tenant)
    return;
  const char *name = json_string_value(json_object_get(rq->body, "name"));
  int64_t site = json_integer_value(json_object_get(rq->body, "site_id"));
  int64_t expires = json_integer_value(json_object_get(rq->body, "expires_at_ms"));
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  char secret[128];
  int64_t id = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = api_keys_create(rq->server, c, tenant, site, name, expires, rq->who.user_id, &id, secret,
                         sizeof secret, &err);
  char summary[200];
  snprintf(summary, sizeof summary, "created worker API key '%s'", name);
  if (!rc)
    rc = audit_record(c, rq, tenant, "api_key.create", "api_key", id, summary);
  rc = access_finish(c, rc, &err);
  struct db_rows *rows = rc ? NULL : load_key(rq, c, id);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
  } else if (rows) {
    json_t *o = key_json(rows, 0);
    json_object_set_new(o, "secret", json_string(secret));
    http_json(rq, 201, o);
  }
  db_rows_free(rows);
  sodium_memzero(secret, sizeof secret);
}

void api_keys_revoke(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_key(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  int64_t tenant = db_rows_int(rows, 0, 1);
  char summary[200];
  snprintf(summary, sizeof summary, "revoked worker API key '%s'", db_rows_text(rows, 0, 3));
  db_rows_free(rows);
  rc = db_exec(c, "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
               DB_ARGS(db_int(id), db_int(server_now_ms(rq->server))), NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "api_key.revoke", "api_key", id, summary);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}
