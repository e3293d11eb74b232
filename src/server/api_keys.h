/* api_keys.h — worker API keys: created by tenant admins, secret shown
 * once, stored as a keyed hash with a lookup prefix, role fixed to worker,
 * optionally bound to a site, with expiry, revocation and last use. */
#ifndef FOOTFALL_API_KEYS_H
#define FOOTFALL_API_KEYS_H

#include <stdint.h>

#include "http.h"

struct server;
struct db_conn;

/* Creates a key; `secret` receives the full key (shown once). */
int api_keys_create(struct server *s, struct db_conn *c, int64_t tenant_id, int64_t site_id,
                    const char *name, int64_t expires_at_ms, int64_t created_by, int64_t *id,
                    char *secret, size_t secret_size, struct ff_error *err);

void api_keys_list(struct request *rq);
void api_keys_get(struct request *rq);
void api_keys_create_handler(struct request *rq);
void api_keys_revoke(struct request *rq);

#endif
