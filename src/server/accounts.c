#include "accounts.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "access.h"
#include "audit.h"
#include "db.h"
#include "log.h"
#include "server.h"

#define REFRESH_PREFIX "ffr_"
#define TICKET_PREFIX "fft_"
#define REFRESH_COOKIE "ff_refresh"

/* Argon2id of a fixed string: verifying against it when the user does not
 * exist makes a wrong username cost as much time as a wrong password. */
static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static void make_dummy_hash(void) {
  password_hash("footfall-timing-equaliser", dummy_hash, sizeof dummy_hash);
}

static void set_refresh_cookie(struct request *rq, const char *token, int max_age) {
  const char *url = rq->server->cfg.public_url;
  int secure = url && !strncmp(url, "https://", 8);
  char cookie[256];
  snprintf(cookie, sizeof cookie, "%s=%s; Path=/v1/auth; HttpOnly; SameSite=Strict; Max-Age=%d%s",
           REFRESH_COOKIE, token, max_age, secure ? "; Secure" : "");
  http_header(rq, "Set-Cookie", cookie);
}

static json_t *me_json(struct request *rq, struct db_conn *c, const struct principal *p) {
  json_t *o = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)p->user_id, "username", p->name, "role",
                        role_name(p->role));
  json_object_set_new(o, "tenant_id", p->tenant_id ? json_integer(p->tenant_id) : json_null());
  json_object_set_new(o, "site_id", p->site_id ? json_integer(p->site_id) : json_null());
  json_t *tenant = json_null(), *site = json_null();
  struct db_rows *rows = NULL;
  if (p->tenant_id &&
      !db_query(c, "SELECT name, active FROM tenants WHERE id = $1", DB_ARGS(db_int(p->tenant_id)),
                &rows, NULL) &&
      db_rows_count(rows) == 1)
    tenant = json_pack("{s:I,s:s,s:b}", "id", (json_int_t)p->tenant_id, "name",
                       db_rows_text(rows, 0, 0), "active", (int)db_rows_int(rows, 0, 1));
  db_rows_free(rows);
  rows = NULL;
  if (p->site_id &&
      !db_query(c, "SELECT name, timezone FROM sites WHERE id = $1", DB_ARGS(db_int(p->site_id)),
                &rows, NULL) &&
      db_rows_count(rows) == 1)
    site = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)p->site_id, "name",
                     db_rows_text(rows, 0, 0), "timezone", db_rows_text(rows, 0, 1));
  db_rows_free(rows);
  rows = NULL;
  if (!db_query(c, "SELECT display_name FROM users WHERE id = $1", DB_ARGS(db_int(p->user_id)),
                &rows, NULL) &&
      db_rows_count(rows) == 1 && db_rows_text(rows, 0, 0))
    json_object_set_new(o, "display_name", json_string(db_rows_text(rows, 0, 0)));
  else
    json_object_set_new(o, "display_name", json_null());
  db_rows_free(rows);
  json_object_set_new(o, "tenant", tenant);
  json_object_set_new(o, "site", site);
  (void)rq;
  return o;
}

/* Issues an access token and a refresh token (in `family`, or a new one),
 * inside the caller's transaction. */
static int issue_session(struct request *rq, struct db_conn *c, const struct principal *p,
                         const char *family, json_t **out, char *refresh, size_t refresh_size,
                         struct ff_error *err) {
  struct server *s = rq->server;
  int64_t now = server_now_ms(s);
  char new_family[48];
  if (!family) {
    secret_generate("", new_family, sizeof new_family);
    family = new_family;
  }
  secret_generate(REFRESH_PREFIX, refresh, refresh_size);
  char digest[65];
  secret_digest(s, refresh, digest);
  int64_t refresh_ttl_ms = (int64_t)s->cfg.refresh_token_ttl_s * 1000;
  int rc = db_exec(
      c,
      "INSERT INTO refresh_tokens (user_id, family, token_hash, scope_tenant_id, "
      "created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
      DB_ARGS(db_int(p->user_id), db_text(family), db_text(digest),
              p->role == ROLE_SYSTEM_ADMIN && p->tenant_id ? db_int(p->tenant_id) : db_null(),
              db_int(now), db_int(now + refresh_ttl_ms)),
      NULL, err);
  if (rc)
    return rc;
  char *access = NULL;
  if ((rc = token_issue(s, p, now / 1000, &access)))
    return ff_fail(err, rc, "cannot issue a token");
  *out = json_pack("{s:s,s:s,s:i,s:s,s:i,s:o}", "access_token", access, "token_type", "Bearer",
                   "expires_in", s->cfg.access_token_ttl_s, "refresh_token", refresh,
                   "refresh_expires_in", s->cfg.refresh_token_ttl_s, "user", me_json(rq, c, p));
  free(access);
  return *out ? FF_OK : ff_fail(err, FF_ENOMEM, "out of memory");
}

static const struct field login_fields[] = {
    {"username", FIELD_STRING, 1, 64, 0},
    {"password", FIELD_STRING, 1, PASSWORD_MAX_LENGTH, 0},
};

void accounts_login(struct request *rq) {
  if (http_validate(rq, login_fields, 2))
    return;
  struct server *s = rq->server;
  const char *username = json_string_value(json_object_get(rq->body, "username"));
  const char *password = json_string_value(json_object_get(rq->body, "password"));
  char addr[64], user_key[RATELIMIT_KEY_MAX], addr_key[RATELIMIT_KEY_MAX];
  http_client_address(rq, addr, sizeof addr);
  snprintf(user_key, sizeof user_key, "user:%s", username);
  snprintf(addr_key, sizeof addr_key, "addr:%s", addr);
  int64_t now = server_now_ms(s);
  int wait = ratelimit_check(&s->login_limit, user_key, now);
  int wait_addr = ratelimit_check(&s->login_addr_limit, addr_key, now);
  if (wait_addr > wait)
    wait = wait_addr;
  if (wait) {
    char retry[16];
    snprintf(retry, sizeof retry, "%d", wait);
    http_header(rq, "Retry-After", retry);
    http_error(rq, 429, "rate_limited", "too many failed sign-ins; try again in %d s", wait);
    return;
  }

  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, "SELECT id, password_hash FROM users WHERE username = $1",
                    DB_ARGS(db_text(username)), &rows, &err);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return;
  }
  int found = db_rows_count(rows) == 1;
  int64_t user_id = found ? db_rows_int(rows, 0, 0) : 0;
  pthread_once(&dummy_once, make_dummy_hash);
  int match = password_verify(found ? db_rows_text(rows, 0, 1) : dummy_hash, password) && found;
  db_rows_free(rows);

  struct principal p;
  if (match) {
    rc = db_begin(c, DB_TX_WRITE, &err);
    /* the principal comes through the same path requests use */
    int loaded = rc ? rc : auth_resolve_user(s, c, user_id, 0, &p, &err);
    if (loaded == FF_EAUTH) {
      match = 0;
      db_rollback(c);
    } else {
      rc = loaded;
    }
  }
  if (!match) {
    db_release(c);
    ratelimit_fail(&s->login_limit, user_key, now);
    ratelimit_fail(&s->login_addr_limit, addr_key, now);
    struct log_line l;
    log_begin(&l, LOG_WARN, "auth.login_failed");
    log_str(&l, "username", username);
    log_str(&l, "client", addr);
    log_end(&l);
    http_error(rq, 401, "unauthorized", "wrong username or password, or the account is disabled");
    return;
  }
  json_t *session = NULL;
  char refresh[96];
  if (!rc)
    rc = db_exec(c, "UPDATE users SET last_login_at = $2 WHERE id = $1",
                 DB_ARGS(db_int(user_id), db_int(now)), NULL, &err);
  if (!rc)
    rc = issue_session(rq, c, &p, NULL, &session, refresh, sizeof refresh, &err);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc) {
    json_decref(session);
    http_fail(rq, rc, &err);
    return;
  }
  ratelimit_clear(&s->login_limit, user_key);
  set_refresh_cookie(rq, refresh, s->cfg.refresh_token_ttl_s);
  http_json(rq, 200, session);
}

/* The refresh token from the body or, for browsers, the HttpOnly cookie. */
static const char *refresh_token_of(struct request *rq) {
  const char *t = rq->body ? json_string_value(json_object_get(rq->body, "refresh_token")) : NULL;
  if (!t)
    t = u_map_get(rq->raw->map_cookie, REFRESH_COOKIE);
  return t;
}

static const struct field refresh_fields[] = {{"refresh_token", FIELD_STRING, 0, 128, 0}};

void accounts_refresh(struct request *rq) {
  if (http_validate(rq, refresh_fields, 1))
    return;
  struct server *s = rq->server;
  const char *token = refresh_token_of(rq);
  if (!token) {
    http_error(rq, 401, "unauthorized", "no refresh token");
    return;
  }
  char digest[65];
  secret_digest(s, token, digest);
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int64_t now = server_now_ms(s);
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = db_query(c,
                  "SELECT id, user_id, family, scope_tenant_id, expires_at, used_at, revoked_at "
                  "FROM refresh_tokens WHERE token_hash = $1",
                  DB_ARGS(db_text(digest)), &rows, &err);
  if (rc) {
    db_rollback(c);
    db_release(c);
    db_rows_free(rows);
    http_fail(rq, rc, &err);
    return;
  }
  const char *why = NULL;
  int reuse = 0;
  if (db_rows_count(rows) != 1)
    why = "unknown refresh token";
  else if (!db_rows_is_null(rows, 0, 6))
    why = "this session was revoked";
  else if (!db_rows_is_null(rows, 0, 5))
    why = "this refresh token was used already; the session is revoked", reuse = 1;
  else if (db_rows_int(rows, 0, 4) <= now)
    why = "the refresh token expired";

  int64_t token_id = why && !reuse ? 0 : db_rows_int(rows, 0, 0);
  int64_t user_id = token_id ? db_rows_int(rows, 0, 1) : 0;
  char family[64] = "";
  if (token_id)
    snprintf(family, sizeof family, "%s", db_rows_text(rows, 0, 2));
  int64_t scope = token_id ? db_rows_int(rows, 0, 3) : 0;
  db_rows_free(rows);

  if (reuse) {
    /* A spent token came back: someone holds a copy. End the whole family. */
    rc = db_exec(c,
                 "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND "
                 "revoked_at IS NULL",
                 DB_ARGS(db_text(family), db_int(now)), NULL, &err);
    rq->who.user_id = user_id;
    if (!rc)
      rc = audit_record(c, rq, 0, "auth.refresh_reuse", "user", user_id,
                        "a spent refresh token was presented; its session family was revoked");
    rc = access_finish(c, rc, &err);
    db_release(c);
    log_msg(LOG_WARN, "auth.refresh_reuse", "user %lld: spent refresh token reused",
            (long long)user_id);
    http_error(rq, 401, "unauthorized", "%s", why);
    return;
  }
  if (why) {
    db_rollback(c);
    db_release(c);
    http_error(rq, 401, "unauthorized", "%s", why);
    return;
  }
  int64_t changes = 0;
  rc = db_exec(c, "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
               DB_ARGS(db_int(token_id), db_int(now)), &changes, &err);
  if (!rc && changes != 1)
    rc = ff_fail(&err, FF_EAUTH, "this refresh token was used already");
  struct principal p;
  if (!rc)
    rc = auth_resolve_user(s, c, user_id, scope, &p, &err);
  json_t *session = NULL;
  char refresh[96];
  if (!rc)
    rc = issue_session(rq, c, &p, family, &session, refresh, sizeof refresh, &err);
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc) {
    json_decref(session);
    http_fail(rq, rc, &err);
    return;
  }
  set_refresh_cookie(rq, refresh, s->cfg.refresh_token_ttl_s);
  http_json(rq, 200, session);
}

void accounts_logout(struct request *rq) {
  if (http_validate(rq, refresh_fields, 1))
    return;
  const char *token = refresh_token_of(rq);
  set_refresh_cookie(rq, "", 0);
  if (!token) {
    http_empty(rq, 204);
    return;
  }
  char digest[65];
  secret_digest(rq->server, token, digest);
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int rc = db_exec(c,
                   "UPDATE refresh_tokens SET revoked_at = $2 WHERE revoked_at IS NULL AND "
                   "family = (SELECT family FROM refresh_tokens WHERE token_hash = $1)",
                   DB_ARGS(db_text(digest), db_int(server_now_ms(rq->server))), NULL, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}

void accounts_me(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  json_t *me = me_json(rq, c, &rq->who);
  db_release(c);
  http_json(rq, 200, me);
}

static const struct field password_fields[] = {
    {"current_password", FIELD_STRING, 1, PASSWORD_MAX_LENGTH, 0},
    {"new_password", FIELD_STRING, 1, PASSWORD_MAX_LENGTH, 0},
};

void accounts_change_password(struct request *rq) {
  if (http_validate(rq, password_fields, 2))
    return;
  struct server *s = rq->server;
  const char *current = json_string_value(json_object_get(rq->body, "current_password"));
  const char *fresh = json_string_value(json_object_get(rq->body, "new_password"));
  if (strlen(fresh) < PASSWORD_MIN_LENGTH) {
    http_error(rq, 400, "invalid_field", "new_password must have at least %d characters",
               PASSWORD_MIN_LENGTH);
    return;
  }
  char user_key[RATELIMIT_KEY_MAX];
  snprintf(user_key, sizeof user_key, "user:%s", rq->who.name);
  int64_t now = server_now_ms(s);
  int wait = ratelimit_check(&s->login_limit, user_key, now);
  if (wait) {
    char retry[16];
    snprintf(retry, sizeof retry, "%d", wait);
    http_header(rq, "Retry-After", retry);
    http_error(rq, 429, "rate_limited", "too many failed attempts; try again in %d s", wait);
    return;
  }
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc)
    rc = db_query(c, "SELECT password_hash FROM users WHERE id = $1",
                  DB_ARGS(db_int(rq->who.user_id)), &rows, &err);
  if (!rc && (db_rows_count(rows) != 1 || !password_verify(db_rows_text(rows, 0, 0), current))) {
    ratelimit_fail(&s->login_limit, user_key, now);
    rc = ff_fail(&err, FF_EFORBIDDEN, "the current password is wrong");
  }
  db_rows_free(rows);
  char hash[crypto_pwhash_STRBYTES];
  if (!rc && password_hash(fresh, hash, sizeof hash))
    rc = ff_fail(&err, FF_ENOMEM, "cannot hash the password");
  if (!rc)
    rc = db_exec(c,
                 "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 "
                 "WHERE id = $1",
                 DB_ARGS(db_int(rq->who.user_id), db_text(hash), db_int(now)), NULL, &err);
  /* Every other session of this user ends. */
  if (!rc)
    rc = db_exec(c,
                 "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND "
                 "revoked_at IS NULL",
                 DB_ARGS(db_int(rq->who.user_id), db_int(now)), NULL, &err);
  if (!rc)
    rc = audit_record(c, rq, rq->who.tenant_id, "user.password", "user", rq->who.user_id,
                      "changed own password");
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc)
    http_fail(rq, rc, &err);
  else
    http_empty(rq, 204);
}

static const struct field switch_fields[] = {{"tenant_id", FIELD_INT, 1, 0, 1}};

void accounts_switch_tenant(struct request *rq) {
  if (http_validate(rq, switch_fields, 1))
    return;
  json_t *t = json_object_get(rq->body, "tenant_id");
  int64_t tenant = json_is_integer(t) ? json_integer_value(t) : 0;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (!rc && tenant) {
    rc = db_query(c, "SELECT 1 FROM tenants WHERE id = $1", DB_ARGS(db_int(tenant)), &rows, &err);
    if (!rc && db_rows_count(rows) != 1)
      rc = ff_fail(&err, FF_ENOTFOUND, "no such tenant");
    db_rows_free(rows);
  }
  struct principal p = rq->who;
  p.tenant_id = tenant;
  json_t *session = NULL;
  char refresh[96];
  if (!rc)
    rc = issue_session(rq, c, &p, NULL, &session, refresh, sizeof refresh, &err);
  if (!rc)
    rc = audit_record(c, rq, tenant, "auth.switch_tenant", "tenant", tenant,
                      tenant ? "system admin switched into the tenant"
                             : "system admin returned to the system view");
  rc = access_finish(c, rc, &err);
  db_release(c);
  if (rc) {
    json_decref(session);
    http_fail(rq, rc, &err);
    return;
  }
  set_refresh_cookie(rq, refresh, rq->server->cfg.refresh_token_ttl_s);
  http_json(rq, 200, session);
}

/* --- stream tickets ------------------------------------------------------------ */

static const struct field ticket_fields[] = {{"path", FIELD_STRING, 1, 256, 0}};

void accounts_stream_ticket(struct request *rq) {
  if (http_validate(rq, ticket_fields, 1))
    return;
  const char *path = json_string_value(json_object_get(rq->body, "path"));
  /* Only paths of streams that accept tickets (and that the caller's role
   * may open) get one. */
  int ok = 0;
  struct request probe;
  for (int i = 0; i < http_route_count && !ok; i++) {
    const struct route *r = &http_routes[i];
    if (!(r->flags & ROUTE_TICKET) || !(r->roles & ROLE_BIT(rq->who.role)))
      continue;
    memset(&probe, 0, sizeof probe);
    ok = http_path_matches(r->pattern, path, &probe);
  }
  if (!ok) {
    http_error(rq, 400, "invalid_field",
               "path must be a stream this account may open (an SSE, WebSocket, MJPEG, picture "
               "or export path)");
    return;
  }
  struct server *s = rq->server;
  char ticket[96], digest[65];
  secret_generate(TICKET_PREFIX, ticket, sizeof ticket);
  secret_digest(s, ticket, digest);
  int64_t now = server_now_ms(s);
  int64_t expires = now + (int64_t)s->cfg.stream_ticket_ttl_s * 1000;
  struct db_conn *c = access_db(rq);
  if (!c)
    return;
  struct ff_error err = {0};
  int rc = db_exec(c,
                   "INSERT INTO stream_tickets (ticket_hash, user_id, tenant_id, path, created_at, "
                   "expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                   DB_ARGS(db_text(digest), db_int(rq->who.user_id),
                           rq->who.tenant_id ? db_int(rq->who.tenant_id) : db_null(), db_text(path),
                           db_int(now), db_int(expires)),
                   NULL, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  http_json(rq, 201,
            json_pack("{s:s,s:s,s:I,s:i}", "ticket", ticket, "path", path, "expires_at_ms",
                      (json_int_t)expires, "expires_in", s->cfg.stream_ticket_ttl_s));
}
