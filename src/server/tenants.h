/* tenants.h — tenants (one per chain) and their sites. */
#ifndef FOOTFALL_TENANTS_H
#define FOOTFALL_TENANTS_H

#include <stdint.h>

#include "http.h"

struct server;
struct db_conn;

#define TENANT_NAME_MAX 128
#define RETENTION_DAYS_MAX 3650

int tenants_create(struct server *s, struct db_conn *c, const char *name, int retention_days,
                   int64_t *id, struct ff_error *err);

void tenants_list(struct request *rq);
void tenants_get(struct request *rq);
void tenants_create_handler(struct request *rq);
void tenants_update(struct request *rq);
void tenants_delete(struct request *rq);

/* An IANA zone name that exists in the system zoneinfo ("Europe/Paris"). */
int timezone_valid(const char *name);

/* opening_hours: {"mon": [["09:00","21:00"]], ...}; FF_EINVAL with a message. */
int sites_check_opening_hours(const json_t *hours, struct ff_error *err);

void sites_list(struct request *rq);
void sites_get(struct request *rq);
void sites_create(struct request *rq);
void sites_update(struct request *rq);
void sites_delete(struct request *rq);

#endif
