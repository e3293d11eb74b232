#include "auth.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "server.h"

static const char *role_names[ROLE_COUNT] = {"none",         "worker",       "viewer",
                                             "site_manager", "tenant_admin", "system_admin"};

const char *role_name(enum role r) {
  return r >= 0 && r < ROLE_COUNT ? role_names[r] : "none";
}

enum role role_parse(const char *name) {
  if (name)
    for (int r = ROLE_VIEWER; r < ROLE_COUNT; r++)
      if (!strcmp(role_names[r], name))
        return (enum role)r;
  return ROLE_NONE; /* "worker" is never a user role */
}

/* --- passwords ------------------------------------------------------------ */

int password_hash(const char *password, char *out, size_t size) {
  if (size < crypto_pwhash_STRBYTES)
    return FF_EINTERNAL;
  if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE))
    return FF_ENOMEM;
  return FF_OK;
}

int password_verify(const char *hash, const char *password) {
  return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

/* --- secrets ---------------------------------------------------------------- */

void secret_generate(const char *prefix, char *out, size_t size) {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  size_t n = (size_t)snprintf(out, size, "%s", prefix);
  if (n < size)
    sodium_bin2base64(out + n, size - n, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
}

void secret_digest(const struct server *s, const char *secret, char out[65]) {
  unsigned char digest[32];
  crypto_generichash(digest, sizeof digest, (const unsigned char *)secret, strlen(secret),
                     s->digest_key, sizeof s->digest_key);
  sodium_bin2hex(out, 65, digest, sizeof digest);
}

/* --- access tokens: JWT, HS256 only -----------------------------------------
 * We issue exactly one header and accept exactly that header, so "alg":
 * "none", other algorithms and key confusion cannot arise. */

static const char jwt_header_b64[] =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; /* {"alg":"HS256","typ":"JWT"} */
#define TOKEN_ISSUER "footfall"
#define TOKEN_AUDIENCE "footfall-api"
#define TOKEN_MAX 2048

static void hmac(const struct server *s, const char *data, size_t len,
                 unsigned char mac[crypto_auth_hmacsha256_BYTES]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, s->jwt_key, sizeof s->jwt_key);
  crypto_auth_hmacsha256_update(&st, (const unsigned char *)data, len);
  crypto_auth_hmacsha256_final(&st, mac);
}

int token_issue(const struct server *s, const struct principal *p, int64_t now_s, char **out) {
  char jti[24];
  unsigned char raw[12];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(jti, sizeof jti, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "iss", TOKEN_ISSUER, "aud",
                             TOKEN_AUDIENCE, "sub", "", "iat", (json_int_t)now_s, "exp",
                             (json_int_t)(now_s + s->cfg.access_token_ttl_s), "jti", jti);
  if (!claims)
    return FF_ENOMEM;
  char sub[24];
  snprintf(sub, sizeof sub, "%lld", (long long)p->user_id);
  json_object_set_new(claims, "sub", json_string(sub));
  if (p->tenant_id && p->role == ROLE_SYSTEM_ADMIN)
    json_object_set_new(claims, "tid", json_integer(p->tenant_id));
  char *payload = json_dumps(claims, JSON_COMPACT);
  json_decref(claims);
  if (!payload)
    return FF_ENOMEM;

  size_t plen = strlen(payload);
  size_t cap = sizeof jwt_header_b64 + sodium_base64_ENCODED_LEN(plen, 7) + 64;
  char *token = malloc(cap);
  if (!token) {
    free(payload);
    return FF_ENOMEM;
  }
  size_t n = (size_t)snprintf(token, cap, "%s.", jwt_header_b64);
  sodium_bin2base64(token + n, cap - n, (const unsigned char *)payload, plen,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  free(payload);
  n += strlen(token + n);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  hmac(s, token, n, mac);
  token[n++] = '.';
  sodium_bin2base64(token + n, cap - n, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  *out = token;
  return FF_OK;
}

static int token_verify_exp(const struct server *s, const char *token, int64_t now_s,
                            struct principal *out, json_int_t *exp_out);

int token_verify(const struct server *s, const char *token, int64_t now_s, struct principal *out) {
  json_int_t exp;
  return token_verify_exp(s, token, now_s, out, &exp);
}

static int token_verify_exp(const struct server *s, const char *token, int64_t now_s,
                            struct principal *out, json_int_t *exp_out) {
  size_t len = strlen(token);
  size_t hlen = sizeof jwt_header_b64 - 1;
  if (len > TOKEN_MAX || len <= hlen + 1 || memcmp(token, jwt_header_b64, hlen) ||
      token[hlen] != '.')
    return FF_EAUTH;
  const char *dot = strrchr(token, '.');
  if (dot <= token + hlen)
    return FF_EAUTH;
  unsigned char mac[crypto_auth_hmacsha256_BYTES], given[crypto_auth_hmacsha256_BYTES];
  size_t glen = 0;
  if (sodium_base642bin(given, sizeof given, dot + 1, strlen(dot + 1), NULL, &glen, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
      glen != sizeof given)
    return FF_EAUTH;
  hmac(s, token, (size_t)(dot - token), mac);
  if (sodium_memcmp(mac, given, sizeof mac))
    return FF_EAUTH;

  const char *body = token + hlen + 1;
  unsigned char payload[TOKEN_MAX];
  size_t plen = 0;
  if (sodium_base642bin(payload, sizeof payload - 1, body, (size_t)(dot - body), NULL, &plen, NULL,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING))
    return FF_EAUTH;
  json_t *claims = json_loadb((const char *)payload, plen, 0, NULL);
  if (!claims)
    return FF_EAUTH;
  const char *iss = NULL, *aud = NULL, *sub = NULL;
  json_int_t exp = 0, tid = 0;
  int rc = FF_EAUTH;
  if (!json_unpack(claims, "{s:s,s:s,s:s,s:I,s?I}", "iss", &iss, "aud", &aud, "sub", &sub, "exp",
                   &exp, "tid", &tid) &&
      !strcmp(iss, TOKEN_ISSUER) && !strcmp(aud, TOKEN_AUDIENCE) && exp > now_s) {
    char *end;
    long long uid = strtoll(sub, &end, 10);
    if (*sub && !*end && uid > 0) {
      memset(out, 0, sizeof *out);
      out->user_id = uid;
      out->tenant_id = tid;
      *exp_out = exp;
      rc = FF_OK;
    }
  }
  json_decref(claims);
  return rc;
}

/* --- resolving the caller ----------------------------------------------------- */

/* Fills the principal of a user from the database (role, binding, active
 * flags). scope_tenant is a system admin's switched-into tenant (0 = none). */
int auth_resolve_user(struct server *s, struct db_conn *c, int64_t user_id, int64_t scope_tenant,
                      struct principal *p, struct ff_error *err) {
  (void)s;
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT u.role, u.tenant_id, u.site_id, u.username, u.active, t.active "
                    "FROM users u LEFT JOIN tenants t ON t.id = COALESCE(u.tenant_id, $2) "
                    "WHERE u.id = $1",
                    DB_ARGS(db_int(user_id), db_int(scope_tenant)), &rows, err);
  if (rc)
    return rc;
  rc = ff_fail(err, FF_EAUTH, "the account no longer exists or is disabled");
  if (db_rows_count(rows) == 1 && db_rows_int(rows, 0, 4)) {
    enum role role = role_parse(db_rows_text(rows, 0, 0));
    int tenant_known = !db_rows_is_null(rows, 0, 5);
    int tenant_active = db_rows_int(rows, 0, 5) != 0;
    int64_t tenant = db_rows_int(rows, 0, 1);
    if (role == ROLE_SYSTEM_ADMIN) {
      tenant = scope_tenant;
      if (tenant && !tenant_known)
        tenant = 0; /* the tenant was deleted: back to the system view */
    }
    if (tenant && tenant_known && !tenant_active && role != ROLE_SYSTEM_ADMIN) {
      rc = ff_fail(err, FF_EAUTH, "this tenant is deactivated");
    } else if (role != ROLE_NONE) {
      memset(p, 0, sizeof *p);
      p->role = role;
      p->user_id = user_id;
      p->tenant_id = tenant;
      p->site_id = db_rows_int(rows, 0, 2);
      snprintf(p->name, sizeof p->name, "%s", db_rows_text(rows, 0, 3));
      rc = FF_OK;
    }
  }
  db_rows_free(rows);
  return rc;
}

#define KEY_PREFIX "ffk_"
#define KEY_LOOKUP_LENGTH 8
#define LAST_USED_RESOLUTION_MS 60000

static int resolve_api_key(struct server *s, struct db_conn *c, const char *key,
                           struct principal *p, struct ff_error *err) {
  /* ffk_<8 lookup chars>_<secret> */
  size_t len = strlen(key);
  if (len < 4 + KEY_LOOKUP_LENGTH + 2 || len > 128 || key[4 + KEY_LOOKUP_LENGTH] != '_')
    return ff_fail(err, FF_EAUTH, "malformed API key");
  char prefix[KEY_LOOKUP_LENGTH + 1];
  memcpy(prefix, key + 4, KEY_LOOKUP_LENGTH);
  prefix[KEY_LOOKUP_LENGTH] = 0;
  char digest[65];
  secret_digest(s, key, digest);
  struct db_rows *rows = NULL;
  int64_t now = server_now_ms(s);
  int rc = db_query(c,
                    "SELECT k.id, k.tenant_id, k.site_id, k.secret_hash, k.revoked_at, "
                    "k.expires_at, t.active, k.name, k.last_used_at "
                    "FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1",
                    DB_ARGS(db_text(prefix)), &rows, err);
  if (rc)
    return rc;
  rc = ff_fail(err, FF_EAUTH, "unknown or revoked API key");
  if (db_rows_count(rows) == 1) {
    const char *stored = db_rows_text(rows, 0, 3);
    int secret_ok = stored && strlen(stored) == 64 && !sodium_memcmp(stored, digest, 64);
    if (secret_ok && db_rows_is_null(rows, 0, 4) &&
        (db_rows_is_null(rows, 0, 5) || db_rows_int(rows, 0, 5) > now)) {
      if (!db_rows_int(rows, 0, 6)) {
        rc = ff_fail(err, FF_EAUTH, "this tenant is deactivated");
      } else {
        memset(p, 0, sizeof *p);
        p->role = ROLE_WORKER;
        p->key_id = db_rows_int(rows, 0, 0);
        p->tenant_id = db_rows_int(rows, 0, 1);
        p->site_id = db_rows_int(rows, 0, 2);
        snprintf(p->name, sizeof p->name, "key:%s", db_rows_text(rows, 0, 7));
        rc = FF_OK;
        /* last_used_at at minute resolution: no write on every request. */
        if (now - db_rows_int(rows, 0, 8) > LAST_USED_RESOLUTION_MS)
          db_exec(c, "UPDATE api_keys SET last_used_at = $1 WHERE id = $2",
                  DB_ARGS(db_int(now), db_int(p->key_id)), NULL, NULL);
      }
    }
  }
  db_rows_free(rows);
  return rc;
}

static int resolve_ticket(struct server *s, struct db_conn *c, const char *ticket, const char *path,
                          struct principal *p, struct ff_error *err) {
  if (strlen(ticket) > 128)
    return ff_fail(err, FF_EAUTH, "invalid stream ticket");
  char digest[65];
  secret_digest(s, ticket, digest);
  int64_t now = server_now_ms(s);
  struct db_rows *rows = NULL;
  /* Spending the ticket and reading it is one statement, so two requests
   * racing with the same ticket cannot both win. */
  int rc = db_query(c,
                    "UPDATE stream_tickets SET used_at = $1 "
                    "WHERE ticket_hash = $2 AND used_at IS NULL AND expires_at > $1 AND path = $3 "
                    "RETURNING user_id, tenant_id",
                    DB_ARGS(db_int(now), db_text(digest), db_text(path)), &rows, err);
  if (rc)
    return rc;
  if (db_rows_count(rows) != 1) {
    db_rows_free(rows);
    return ff_fail(err, FF_EAUTH, "invalid, spent or expired stream ticket for this path");
  }
  int64_t user = db_rows_int(rows, 0, 0), tenant = db_rows_int(rows, 0, 1);
  db_rows_free(rows);
  return auth_resolve_user(s, c, user, tenant, p, err);
}

/* --- the principal cache --------------------------------------------------------- */

struct auth_cache_entry {
  unsigned char key[16]; /* keyed hash of the bearer string */
  uint64_t generation;
  int64_t expires_ms;
  struct principal principal;
};

struct auth_cache {
  pthread_mutex_t lock; /* guards slots */
  atomic_uint_fast64_t generation;
  struct auth_cache_entry slots[AUTH_CACHE_SLOTS];
};

int auth_cache_init(struct server *s) {
  s->auth_cache = calloc(1, sizeof *s->auth_cache);
  if (!s->auth_cache)
    return FF_ENOMEM;
  pthread_mutex_init(&s->auth_cache->lock, NULL);
  atomic_store(&s->auth_cache->generation, 1);
  return FF_OK;
}

void auth_cache_free(struct server *s) {
  if (!s->auth_cache)
    return;
  pthread_mutex_destroy(&s->auth_cache->lock);
  free(s->auth_cache);
  s->auth_cache = NULL;
}

void auth_cache_invalidate(struct server *s) {
  if (s && s->auth_cache)
    atomic_fetch_add(&s->auth_cache->generation, 1);
}

static struct auth_cache_entry *cache_slot(struct auth_cache *cache, const unsigned char key[16]) {
  uint64_t index;
  memcpy(&index, key, sizeof index);
  return &cache->slots[index % AUTH_CACHE_SLOTS];
}

static int cache_get(struct server *s, const unsigned char key[16], int64_t now,
                     struct principal *out) {
  struct auth_cache *cache = s->auth_cache;
  if (!cache)
    return 0;
  int hit = 0;
  uint64_t generation = atomic_load(&cache->generation);
  pthread_mutex_lock(&cache->lock);
  struct auth_cache_entry *e = cache_slot(cache, key);
  if (e->generation == generation && e->expires_ms > now && !memcmp(e->key, key, 16)) {
    *out = e->principal;
    hit = 1;
  }
  pthread_mutex_unlock(&cache->lock);
  return hit;
}

static void cache_put(struct server *s, const unsigned char key[16], uint64_t generation,
                      int64_t expires_ms, const struct principal *p) {
  struct auth_cache *cache = s->auth_cache;
  if (!cache)
    return;
  pthread_mutex_lock(&cache->lock);
  struct auth_cache_entry *e = cache_slot(cache, key);
  memcpy(e->key, key, 16);
  e->generation = generation;
  e->expires_ms = expires_ms;
  e->principal = *p;
  pthread_mutex_unlock(&cache->lock);
}

int auth_resolve(struct server *s, const char *authorization, const char *ticket, const char *path,
                 struct principal *out, struct ff_error *err) {
  const char *bearer = NULL;
  if (authorization) {
    if (strncasecmp(authorization, "Bearer ", 7))
      return ff_fail(err, FF_EAUTH, "use an `Authorization: Bearer` token");
    bearer = authorization + 7;
    while (*bearer == ' ')
      bearer++;
  }
  if (!bearer && !ticket)
    return ff_fail(err, FF_EAUTH, "sign in first");

  int64_t now = server_now_ms(s);
  unsigned char cache_key[16];
  /* Read the generation before resolving: a change that lands meanwhile
   * makes the entry stale at once. */
  uint64_t generation = s->auth_cache ? atomic_load(&s->auth_cache->generation) : 0;
  if (bearer && s->cfg.auth_cache_ms > 0) {
    crypto_generichash(cache_key, sizeof cache_key, (const unsigned char *)bearer, strlen(bearer),
                       s->digest_key, sizeof s->digest_key);
    if (cache_get(s, cache_key, now, out))
      return FF_OK;
  }

  struct principal p;
  json_int_t token_exp_s = 0;
  if (bearer && strncmp(bearer, KEY_PREFIX, 4) &&
      token_verify_exp(s, bearer, now / 1000, &p, &token_exp_s))
    return ff_fail(err, FF_EAUTH, "the access token is invalid or expired");

  struct db_conn *c = db_acquire(s->db, 5000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "the database is busy");
  int rc;
  if (!bearer)
    rc = resolve_ticket(s, c, ticket, path, out, err);
  else if (!strncmp(bearer, KEY_PREFIX, 4))
    rc = resolve_api_key(s, c, bearer, out, err);
  else
    rc = auth_resolve_user(s, c, p.user_id, p.tenant_id, out, err);
  db_release(c);
  if (rc == FF_OK && bearer && s->cfg.auth_cache_ms > 0) {
    int64_t expires = now + s->cfg.auth_cache_ms;
    if (token_exp_s && token_exp_s * 1000 < expires)
      expires = token_exp_s * 1000; /* never past the token's own expiry */
    cache_put(s, cache_key, generation, expires, out);
  }
  return rc;
}
