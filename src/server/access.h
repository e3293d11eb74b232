/* access.h — the tenant and site scoping rules every handler applies.
 *
 * Rules: a system admin sees every tenant, or only the one they switched
 * into; tenant admins and tenant-bound viewers see their tenant; site
 * managers and site-bound viewers see their site. A row outside the caller's
 * scope is answered exactly like a row that does not exist (404), so ids of
 * other tenants leak nothing.
 */
#ifndef FOOTFALL_ACCESS_H
#define FOOTFALL_ACCESS_H

#include <stdint.h>

#include "db.h"
#include "http.h"

/* The tenant the caller acts in; 0 for an unscoped system admin. */
int64_t access_tenant(const struct request *rq);
/* The site the caller is bound to; 0 when not bound to one. */
int64_t access_site(const struct request *rq);
/* May the caller see a row of this tenant (and site, 0 = not site-bound)? */
int access_sees(const struct request *rq, int64_t tenant_id, int64_t site_id);
/* For creating a tenant-scoped row: the caller's tenant, or for an unscoped
 * system admin the body's "tenant_id". On failure the reply is written and
 * 0 returned. */
int64_t access_target_tenant(struct request *rq);
/* The caller's role may change data (not a viewer). */
int access_can_write(const struct request *rq);

/* A database connection for this request; on failure replies 503 and
 * returns NULL. */
struct db_conn *access_db(struct request *rq);
/* A connection with a write transaction begun; on failure replies (503 or
 * the database's error) and returns NULL. access_abandon() rolls it back and
 * releases it (after the handler has replied, e.g. 404). */
struct db_conn *access_begin(struct request *rq);
void access_abandon(struct db_conn *c);
/* Ends a write transaction: commits when rc is FF_OK, else rolls back.
 * Returns the final status. */
int access_finish(struct db_conn *c, int rc, struct ff_error *err);

/* One row by id ($1) whose first two columns are its tenant_id and site_id,
 * when the caller may see it; otherwise replies (404 "no such <what>", or the
 * database's error) and returns NULL. The caller frees the rows. */
struct db_rows *access_row(struct request *rq, const char *sql, int64_t id, const char *what);

/* One page of a list: runs sql with its parameters and replies
 * {"items": [item(rq, rows, i), ...], "next_cursor": id | null}, where id is
 * column 0 of the last row of a full page (limit rows). */
typedef json_t *(*access_item_fn)(const struct request *rq, const struct db_rows *rows, int i);
void access_list_page(struct request *rq, const char *sql, const struct db_value *params,
                      int nparams, int limit, access_item_fn item);
/* The same page, each item written straight into the answer's text (for
 * the busiest lists: no jansson tree per row). */
typedef void (*access_write_fn)(const struct request *rq, const struct db_rows *rows, int i,
                                struct json_out *o);
void access_list_page_out(struct request *rq, const char *sql, const struct db_value *params,
                          int nparams, int limit, access_write_fn item);

/* "limit" query parameter: default 50, at most 200; -1 after replying 400. */
int access_limit(struct request *rq);
/* "cursor" query parameter (an id to continue after): 0 when absent, -1
 * after replying 400. */
int64_t access_cursor(struct request *rq);

#endif
