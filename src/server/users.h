/* users.h — user accounts: the operations behind /v1/users, the first
 * admin and `footfall admin create-user`. */
#ifndef FOOTFALL_USERS_H
#define FOOTFALL_USERS_H

#include <stdint.h>

#include "auth.h"
#include "http.h"

struct server;
struct db_conn;

struct user_spec {
  const char *username;
  const char *password;
  const char *display_name;
  enum role role;
  int64_t tenant_id; /* required except for system admins */
  int64_t site_id;   /* required for site managers, optional for viewers */
};

/* Validates the spec (names, password length, role/tenant/site consistency,
 * the site belonging to the tenant) and inserts the user. FF_ECONFLICT when
 * the username is taken. */
int users_create(struct server *s, struct db_conn *c, const struct user_spec *spec, int64_t *id,
                 struct ff_error *err);
int users_valid_username(const char *name);

void users_list(struct request *rq);
void users_get(struct request *rq);
void users_create_handler(struct request *rq);
void users_update(struct request *rq);
void users_delete(struct request *rq);

#endif
