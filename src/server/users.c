#include "users.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "server.h"

#define USERNAME_MAX 64

int users_valid_username(const char *name) {
  size_t len = strlen(name);
  if (len < 3 || len > USERNAME_MAX)
    return 0;
  for (const char *p = name; *p; p++)
    if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr("._-@", *p))
      return 0;
  return 1;
}

static int valid_password(const char *pw, struct ff_error *err) {
  size_t len = strlen(pw);
  if (len < PASSWORD_MIN_LENGTH)
    return ff_fail(err, FF_EINVAL, "the password must have at least %d characters",
                   PASSWORD_MIN_LENGTH);
  if (len > PASSWORD_MAX_LENGTH)
    return ff_fail(err, FF_EINVAL, "the password must have at most %d characters",
                   PASSWORD_MAX_LENGTH);
  return FF_OK;
}

/* The site must exist in the tenant. */
static int check_site(struct db_conn *c, int64_t tenant, int64_t site, struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c, "SELECT 1 FROM sites WHERE id = $1 AND tenant_id = $2",
                    DB_ARGS(db_int(site), db_int(tenant)), &rows, err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(err, FF_EINVAL, "site %lld does not exist in this tenant", (long long)site);
  db_rows_free(rows);
  return rc;
}

static int check_binding(struct db_conn *c, enum role role, int64_t tenant, int64_t site,
                         struct ff_error *err) {
  if (role == ROLE_NONE)
    return ff_fail(err, FF_EINVAL,
                   "role must be system_admin, tenant_admin, site_manager or viewer");
  if (role == ROLE_SYSTEM_ADMIN)
    return tenant || site ? ff_fail(err, FF_EINVAL, "a system admin belongs to no tenant") : FF_OK;
  if (!tenant)
    return ff_fail(err, FF_EINVAL, "field 'tenant_id' is required for this role");
  if (role == ROLE_SITE_MANAGER && !site)
    return ff_fail(err, FF_EINVAL, "a site manager needs a 'site_id'");
  if (role == ROLE_TENANT_ADMIN && site)
    return ff_fail(err, FF_EINVAL, "a tenant admin is not bound to a site");
  return site ? check_site(c, tenant, site, err) : FF_OK;
}

int users_create(struct server *s, struct db_conn *c, const struct user_spec *spec, int64_t *id,
                 struct ff_error *err) {
  if (!spec->username || !users_valid_username(spec->username))
    return ff_fail(err, FF_EINVAL,
                   "username must be 3-64 characters: lower-case letters, digits, . _ - @");
  int rc = valid_password(spec->password ? spec->password : "", err);
  if (rc || (rc = check_binding(c, spec->role, spec->tenant_id, spec->site_id, err)))
    return rc;
  if (spec->tenant_id) {
    struct db_rows *rows = NULL;
    rc = db_query(c, "SELECT 1 FROM tenants WHERE id = $1", DB_ARGS(db_int(spec->tenant_id)), &rows,
                  err);
    if (!rc && db_rows_count(rows) != 1)
      rc = ff_fail(err, FF_ENOTFOUND, "no such tenant");
    db_rows_free(rows);
    if (rc)
      return rc;
  }
  char hash[crypto_pwhash_STRBYTES];
  if (password_hash(spec->password, hash, sizeof hash))
    return ff_fail(err, FF_ENOMEM, "cannot hash the password (out of memory)");
  int64_t now = server_now_ms(s);
  struct db_rows *rows = NULL;
  rc = db_query(c,
                "INSERT INTO users (tenant_id, site_id, username, display_name, password_hash, "
                "role, active, created_at, updated_at, password_changed_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $7) RETURNING id",
                DB_ARGS(spec->tenant_id ? db_int(spec->tenant_id) : db_null(),
                        spec->site_id ? db_int(spec->site_id) : db_null(), db_text(spec->username),
                        db_text(spec->display_name), db_text(hash), db_text(role_name(spec->role)),
                        db_int(now)),
                &rows, err);
  if (rc == FF_ECONFLICT)
    ff_fail(err, FF_ECONFLICT, "the username '%s' is taken", spec->username);
  if (!rc)
    *id = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  return rc;
}

/* --- handlers ----------------------------------------------------------------- */

static const char user_columns[] =
    "id, tenant_id, site_id, username, display_name, role, active, created_at, updated_at, "
    "last_login_at";

static json_t *user_json(const struct db_rows *r, int i) {
  json_t *o =
      json_pack("{s:I,s:s,s:s,s:b,s:I,s:I}", "id", (json_int_t)db_rows_int(r, i, 0), "username",
                db_rows_text(r, i, 3), "role", db_rows_text(r, i, 5), "active",
                (int)db_rows_int(r, i, 6), "created_at_ms", (json_int_t)db_rows_int(r, i, 7),
                "updated_at_ms", (json_int_t)db_rows_int(r, i, 8));
  json_object_set_new(o, "tenant_id",
                      db_rows_is_null(r, i, 1) ? json_null() : json_integer(db_rows_int(r, i, 1)));
  json_object_set_new(o, "site_id",
                      db_rows_is_null(r, i, 2) ? json_null() : json_integer(db_rows_int(r, i, 2)));
  const char *dn = db_rows_text(r, i, 4);
  json_object_set_new(o, "display_name", dn ? json_string(dn) : json_null());
  json_object_set_new(o, "last_login_at_ms",
                      db_rows_is_null(r, i, 9) ? json_null() : json_integer(db_rows_int(r, i, 9)));
  return o;
}

static json_t *user_json_item(const struct request *rq, const struct db_rows *r, int i) {
  (void)rq;
  return user_json(r, i);
}

/* May the caller manage a user with this role, tenant and site? System
 * admins manage everyone; tenant admins their tenant's non-admin users. */
static int manages(const struct request *rq, enum role role, int64_t tenant) {
  if (rq->who.role == ROLE_SYSTEM_ADMIN)
    return !access_tenant(rq) || (tenant == access_tenant(rq) && role != ROLE_SYSTEM_ADMIN);
  return rq->who.role == ROLE_TENANT_ADMIN && tenant == rq->who.tenant_id &&
         (role == ROLE_SITE_MANAGER || role == ROLE_VIEWER);
}

void users_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT %s FROM users WHERE ($1 = 0 OR tenant_id = $1) AND id > $2 "
           "ORDER BY id LIMIT $3",
           user_columns);
  access_list_page(rq, sql, DB_ARGS(db_int(access_tenant(rq)), db_int(cursor), db_int(limit)),
                   limit, user_json_item);
}

/* Loads one user the caller may see; replies 404 otherwise. */
static struct db_rows *load_visible(struct request *rq, struct db_conn *c, int64_t id) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT %s FROM users WHERE id = $1", user_columns);
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err);
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  int visible = db_rows_count(rows) == 1 &&
                (rq->who.role == ROLE_SYSTEM_ADMIN && !access_tenant(rq)
                     ? 1
                     : !db_rows_is_null(rows, 0, 1) && access_sees(rq, db_rows_int(rows, 0, 1), 0));
  if (!visible) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no such user");
    return NULL;
  }
  return rows;
}

void users_get(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  struct db_conn *c = id ? access_db(rq) : NULL;
  if (!id) {
    http_error(rq, 404, "not_found", "no such user");
    return;
  }
  if (!c)
    return;
  struct db_rows *rows = load_visible(rq, c, id);
  db_release(c);
  if (!rows)
    return;
  http_json(rq, 200, user_json(rows, 0));
  db_rows_free(rows);
}

static const struct field create_fields[] = {
    {"username", FIELD_STRING, 1, 64, 0},      {"password", FIELD_STRING, 1, 256, 0},
    {"display_name", FIELD_STRING, 0, 128, 1}, {"role", FIELD_STRING, 1, 32, 0},
    {"tenant_id", FIELD_INT, 0, 0, 1},         {"site_id", FIELD_INT, 0, 0, 1},
};

void users_create_handler(struct request *rq) {
  if (http_validate(rq, create_fields, sizeof create_fields / sizeof create_fields[0]))
    return;
  struct user_spec spec = {
      .username = json_string_value(json_object_get(rq->body, "username")),
      .password = json_string_value(json_object_get(rq->body, "password")),
      .display_name = json_string_value(json_object_get(rq->body, "display_name")),
      .role = role_parse(json_string_value(json_object_get(rq->body, "role"))),
      .site_id = json_integer_value(json_object_get(rq->body, "site_id")),
  };
  if (spec.role == ROLE_NONE) {
    http_error(rq, 400, "invalid_field",
               "role must be system_admin, tenant_admin, site_manager or viewer");
    return;
  }
  if (spec.role != ROLE_SYSTEM_ADMIN) {
    spec.tenant_id = access_target_tenant(rq);
    if (!spec.tenant_id)
      return;
  } else if (json_is_integer(json_object_get(rq->body, "tenant_id"))) {
    http_error(rq, 400, "invalid_field", "a system admin belongs to no tenant");
    return;
  }
  if (!manages(rq, spec.role, spec.tenant_id)) {
    http_error(rq, 403, "forbidden", "a %s may not create a %s", role_name(rq->who.role),
               role_name(spec.role));
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t id = 0;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = users_create(rq->server, c, &spec, &id, &err);
  char summary[160];
  snprintf(summary, sizeof summary, "created %s '%s'", role_name(spec.role), spec.username);
  if (!rc)
    rc = audit_record(c, rq, spec.tenant_id, "user.create", "user", id, summary);
  if (!rc)
    rc = db_commit(c, &err);
  else
    db_rollback(c);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  struct db_rows *rows = load_visible(rq, c, id);
  db_release(c);
  if (rows) {
    http_json(rq, 201, user_json(rows, 0));
    db_rows_free(rows);
  }
}

static const struct field update_fields[] = {
    {"display_name", FIELD_STRING, 0, 128, 1}, {"role", FIELD_STRING, 0, 32, 0},
    {"site_id", FIELD_INT, 0, 0, 1},           {"active", FIELD_BOOL, 0, 0, 0},
    {"password", FIELD_STRING, 0, 256, 0},
};

void users_update(struct request *rq) {
  if (http_validate(rq, update_fields, sizeof update_fields / sizeof update_fields[0]))
    return;
  int64_t id = http_param_id(rq, "id");
  if (!id) {
    http_error(rq, 404, "not_found", "no such user");
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  struct db_rows *rows = load_visible(rq, c, id);
  if (!rows) {
    db_rollback(c);
    db_release(c);
    return;
  }
  enum role old_role = role_parse(db_rows_text(rows, 0, 5));
  int64_t tenant = db_rows_int(rows, 0, 1);
  int64_t site = db_rows_int(rows, 0, 2);
  json_t *body = rq->body;
  enum role role = old_role;
  if (json_object_get(body, "role"))
    role = role_parse(json_string_value(json_object_get(body, "role")));
  if (role == ROLE_NONE) {
    db_rows_free(rows);
    db_rollback(c);
    db_release(c);
    http_error(rq, 400, "invalid_field",
               "role must be system_admin, tenant_admin, site_manager or viewer");
    return;
  }
  json_t *site_v = json_object_get(body, "site_id");
  if (site_v)
    site = json_is_null(site_v) ? 0 : json_integer_value(site_v);
  if (role == ROLE_TENANT_ADMIN || role == ROLE_SYSTEM_ADMIN)
    site = 0;

  if (!manages(rq, old_role, tenant) || !manages(rq, role, tenant)) {
    rc = ff_fail(&err, FF_EFORBIDDEN, "a %s may not change this user", role_name(rq->who.role));
  } else if (id == rq->who.user_id && (role != old_role || json_object_get(body, "active"))) {
    rc = ff_fail(&err, FF_EFORBIDDEN, "you cannot change your own role or deactivate yourself");
  } else if ((role == ROLE_SYSTEM_ADMIN) != (old_role == ROLE_SYSTEM_ADMIN)) {
    rc = ff_fail(&err, FF_EINVAL, "system admin is not a role one can move in or out of");
  } else {
    rc = check_binding(c, role, role == ROLE_SYSTEM_ADMIN ? 0 : tenant, site, &err);
  }
  const char *password = json_string_value(json_object_get(body, "password"));
  char hash[crypto_pwhash_STRBYTES] = "";
  if (!rc && password && !(rc = valid_password(password, &err)) &&
      password_hash(password, hash, sizeof hash))
    rc = ff_fail(&err, FF_ENOMEM, "cannot hash the password");
  int64_t now = server_now_ms(rq->server);
  json_t *dn = json_object_get(body, "display_name");
  json_t *active = json_object_get(body, "active");
  if (!rc)
    rc = db_exec(c,
                 "UPDATE users SET role = $2, site_id = $3, "
                 "display_name = CASE WHEN $4 = 1 THEN $5 ELSE display_name END, "
                 "active = CASE WHEN $6 >= 0 THEN $6 ELSE active END, "
                 "password_hash = CASE WHEN $7 = '' THEN password_hash ELSE $7 END, "
                 "password_changed_at = CASE WHEN $7 = '' THEN password_changed_at ELSE $8 END, "
                 "updated_at = $8 WHERE id = $1",
                 DB_ARGS(db_int(id), db_text(role_name(role)), site ? db_int(site) : db_null(),
                         db_int(dn ? 1 : 0), db_text(json_string_value(dn)),
                         db_int(active ? json_is_true(active) : -1), db_text(hash), db_int(now)),
                 NULL, &err);
  /* A password reset or deactivation ends the user's sessions. */
  if (!rc && (hash[0] || (active && !json_is_true(active))))
    rc = db_exec(c,
                 "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND "
                 "revoked_at IS NULL",
                 DB_ARGS(db_int(id), db_int(now)), NULL, &err);
  char summary[200];
  snprintf(summary, sizeof summary, "updated user '%s'%s%s", db_rows_text(rows, 0, 3),
           hash[0] ? " (password reset)" : "",
           active ? (json_is_true(active) ? " (activated)" : " (deactivated)") : "");
  if (!rc)
    rc = audit_record(c, rq, tenant, "user.update", "user", id, summary);
  db_rows_free(rows);
  if (!rc)
    rc = db_commit(c, &err);
  else
    db_rollback(c);
  sodium_memzero(hash, sizeof hash);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  rows = load_visible(rq, c, id);
  db_release(c);
  if (rows) {
    http_json(rq, 200, user_json(rows, 0));
    db_rows_free(rows);
  }
}

void users_delete(struct request *rq) {
  int64_t id = http_param_id(rq, "id");
  if (!id) {
    http_error(rq, 404, "not_found", "no such user");
    return;
  }
  struct db_conn *c = access_begin(rq);
  if (!c)
    return;
  struct db_rows *rows = load_visible(rq, c, id);
  if (!rows) {
    access_abandon(c);
    return;
  }
  struct ff_error err = {0};
  int rc = FF_OK;
  enum role role = role_parse(db_rows_text(rows, 0, 5));
  int64_t tenant = db_rows_int(rows, 0, 1);
  if (!manages(rq, role, tenant))
    rc = ff_fail(&err, FF_EFORBIDDEN, "a %s may not delete this user", role_name(rq->who.role));
  else if (id == rq->who.user_id)
    rc = ff_fail(&err, FF_EFORBIDDEN, "you cannot delete yourself");
  if (!rc)
    rc = db_exec(c, "DELETE FROM users WHERE id = $1", DB_ARGS(db_int(id)), NULL, &err);
  char summary[160];
  snprintf(summary, sizeof summary, "deleted user '%s'", db_rows_text(rows, 0, 3));
  db_rows_free(rows);
  if (!rc)
    rc = audit_record(c, rq, tenant, "user.delete", "user", id, summary);
  if (!rc)
    rc = db_commit(c, &err);
  else
    db_rollback(c);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}
