/* auth.h — who is calling: passwords, access tokens, refresh tokens, API
 * keys and stream tickets, and the principal they resolve to.
 *
 * - Passwords: argon2id (libsodium crypto_pwhash_str, interactive limits).
 * - Access tokens: JWT HS256 signed with the server's key (configuration or
 *   generated once and kept in the database), 15 minutes by default. Only
 *   HS256 is accepted; iss, aud and exp are checked.
 * - Refresh tokens, API key secrets and stream tickets are 256-bit random
 *   values. Only a keyed BLAKE2b hash of each is stored: they are too random
 *   to guess, so a slow password hash would only cost latency on every
 *   worker request.
 * - Every authenticated request re-reads the user's and tenant's `active`
 *   flags, so deactivation takes effect at once.
 */
#ifndef FOOTFALL_AUTH_H
#define FOOTFALL_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct server;
struct db_conn;

enum role {
  ROLE_NONE = 0,
  ROLE_WORKER,
  ROLE_VIEWER,
  ROLE_SITE_MANAGER,
  ROLE_TENANT_ADMIN,
  ROLE_SYSTEM_ADMIN,
  ROLE_COUNT
};

#define ROLE_BIT(r) (1u << (r))
#define ROLES_USERS                                                                                \
  (ROLE_BIT(ROLE_VIEWER) | ROLE_BIT(ROLE_SITE_MANAGER) | ROLE_BIT(ROLE_TENANT_ADMIN) |             \
   ROLE_BIT(ROLE_SYSTEM_ADMIN))
#define ROLES_MANAGERS                                                                             \
  (ROLE_BIT(ROLE_SITE_MANAGER) | ROLE_BIT(ROLE_TENANT_ADMIN) | ROLE_BIT(ROLE_SYSTEM_ADMIN))
#define ROLES_ADMINS (ROLE_BIT(ROLE_TENANT_ADMIN) | ROLE_BIT(ROLE_SYSTEM_ADMIN))
#define ROLES_SYSTEM ROLE_BIT(ROLE_SYSTEM_ADMIN)
#define ROLES_WORKER ROLE_BIT(ROLE_WORKER)

const char *role_name(enum role r);
enum role role_parse(const char *name); /* ROLE_NONE when unknown */

/* The authenticated caller. tenant_id/site_id are 0 when unbound: a system
 * admin who has not switched into a tenant has tenant_id 0. */
struct principal {
  enum role role;
  int64_t user_id;
  int64_t key_id;
  int64_t tenant_id;
  int64_t site_id;
  char name[72];
};

/* --- passwords ----------------------------------------------------------- */
#define PASSWORD_MIN_LENGTH 10
#define PASSWORD_MAX_LENGTH 256
int password_hash(const char *password, char *out, size_t size);
int password_verify(const char *hash, const char *password); /* 1 = match */

/* --- random secrets and their stored hashes ------------------------------ */
/* Writes `prefix` + 43 chars of base64url randomness (256 bits). */
void secret_generate(const char *prefix, char *out, size_t size);
/* Hex keyed-BLAKE2b of a secret, as stored in the database. */
void secret_digest(const struct server *s, const char *secret, char out[65]);

/* --- access tokens -------------------------------------------------------- */
int token_issue(const struct server *s, const struct principal *p, int64_t now_s, char **out);
/* Verifies signature, algorithm, issuer, audience and expiry. */
int token_verify(const struct server *s, const char *token, int64_t now_s, struct principal *out);

/* --- the principal cache ----------------------------------------------------
 * Resolving a bearer (JWT check + a database read of the active flags) is
 * the largest cost of a small request, so resolved principals are kept for
 * at most auth-cache-ms (1 s by default). Every audited change (audit_record)
 * bumps the cache generation, so on this instance a deactivation, role
 * change or key revocation applies to the very next request; other servers
 * on the same PostgreSQL database are told when the change commits (NOTIFY
 * "auth", heard by hub.c) and drop theirs too, the TTL being the bound if a
 * notification is missed. Stream tickets are single-use and never cached. */
#define AUTH_CACHE_SLOTS 4096

struct auth_cache;
int auth_cache_init(struct server *s);
void auth_cache_free(struct server *s);
void auth_cache_invalidate(struct server *s);

/* Resolves `Authorization: Bearer ...` (a JWT or an API key) or, for routes
 * that allow it, a stream ticket for `path`. FF_EAUTH when absent or invalid. */
int auth_resolve(struct server *s, const char *authorization, const char *ticket, const char *path,
                 struct principal *out, struct ff_error *err);

/* Loads a user's principal (role, bindings, active flags) on an open
 * connection; scope_tenant is a system admin's switched-into tenant.
 * FF_EAUTH when the user or their tenant is disabled. */
int auth_resolve_user(struct server *s, struct db_conn *c, int64_t user_id, int64_t scope_tenant,
                      struct principal *p, struct ff_error *err);

#endif
