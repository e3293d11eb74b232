#include "access.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "db.h"
#include "server.h"

int64_t access_tenant(const struct request *rq) {
  return rq->who.tenant_id;
}

int64_t access_site(const struct request *rq) {
  return rq->who.role == ROLE_SYSTEM_ADMIN || rq->who.role == ROLE_TENANT_ADMIN ? 0
                                                                                : rq->who.site_id;
}

int access_sees(const struct request *rq, int64_t tenant_id, int64_t site_id) {
  int64_t mine = access_tenant(rq);
  if (rq->who.role == ROLE_SYSTEM_ADMIN && !mine)
    return 1;
  if (!mine || mine != tenant_id)
    return 0;
  int64_t bound = access_site(rq);
  return !bound || !site_id || bound == site_id;
}

int64_t access_target_tenant(struct request *rq) {
  int64_t mine = access_tenant(rq);
  json_t *given = rq->body ? json_object_get(rq->body, "tenant_id") : NULL;
  if (mine) {
    if (given && (!json_is_integer(given) || json_integer_value(given) != mine)) {
      http_error(rq, 404, "not_found", "no such tenant");
      return 0;
    }
    return mine;
  }
  if (!given || !json_is_integer(given) || json_integer_value(given) <= 0) {
    http_error(rq, 400, "missing_field",
               "field 'tenant_id' is required (or switch into a tenant first)");
    return 0;
  }
  return json_integer_value(given);
}

int access_can_write(const struct request *rq) {
  return rq->who.role == ROLE_SYSTEM_ADMIN || rq->who.role == ROLE_TENANT_ADMIN ||
         rq->who.role == ROLE_SITE_MANAGER;
}

static int parse_positive(const char *v, int64_t *out) {
  if (!v || !*v || strlen(v) > 18)
    return -1;
  int64_t n = 0;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    n = n * 10 + (*p - '0');
  }
  *out = n;
  return 0;
}

int access_limit(struct request *rq) {
  const char *v = http_query(rq, "limit");
  int64_t n = 50;
  if (v && (parse_positive(v, &n) || n < 1 || n > 200)) {
    http_error(rq, 400, "invalid_field", "limit must be an integer from 1 to 200");
    return -1;
  }
  return (int)n;
}

int64_t access_cursor(struct request *rq) {
  const char *v = http_query(rq, "cursor");
  int64_t n = 0;
  if (v && parse_positive(v, &n)) {
    http_error(rq, 400, "invalid_field", "cursor must be the next_cursor of a previous page");
    return -1;
  }
  return n;
}

struct db_conn *access_db(struct request *rq) {
  struct db_conn *c = db_acquire(rq->server->db, 5000);
  if (!c)
    http_error(rq, 503, "unavailable", "the database is busy; try again");
  return c;
}

struct db_conn *access_begin(struct request *rq) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return NULL;
  struct ff_error err = {0};
  int rc = db_begin(c, DB_TX_WRITE, &err);
  if (rc) {
    db_release(c);
    http_fail(rq, rc, &err);
    return NULL;
  }
  return c;
}

void access_abandon(struct db_conn *c) {
  db_rollback(c);
  db_release(c);
}

int access_finish(struct db_conn *c, int rc, struct ff_error *err) {
  if (rc) {
    db_rollback(c);
    return rc;
  }
  return db_commit(c, err);
}

struct db_rows *access_row(struct request *rq, const char *sql, int64_t id, const char *what) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return NULL;
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  if (db_rows_count(rows) != 1 ||
      !access_sees(rq, db_rows_int(rows, 0, 0), db_rows_int(rows, 0, 1))) {
    db_rows_free(rows);
    http_error(rq, 404, "not_found", "no such %s", what);
    return NULL;
  }
  return rows;
}

/* Runs a list's query; on failure replies and returns NULL. */
static struct db_rows *list_rows(struct request *rq, const char *sql,
                                 const struct db_value *params, int nparams) {
  struct db_conn *c = access_db(rq);
  if (!c)
    return NULL;
  struct db_rows *rows = NULL;
  struct ff_error err = {0};
  int rc = db_query(c, sql, params, nparams, &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return NULL;
  }
  return rows;
}

void access_list_page(struct request *rq, const char *sql, const struct db_value *params,
                      int nparams, int limit, access_item_fn item) {
  struct db_rows *rows = list_rows(rq, sql, params, nparams);
  if (!rows)
    return;
  json_t *items = json_array();
  int n = db_rows_count(rows);
  for (int i = 0; i < n; i++)
    json_array_append_new(items, item(rq, rows, i));
  json_t *next = n == limit ? json_integer(db_rows_int(rows, n - 1, 0)) : json_null();
  db_rows_free(rows);
  http_json(rq, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

void access_list_page_out(struct request *rq, const char *sql, const struct db_value *params,
                          int nparams, int limit, access_write_fn item) {
  struct db_rows *rows = list_rows(rq, sql, params, nparams);
  if (!rows)
    return;
  struct json_out o = {0};
  json_out_open(&o, '{');
  json_out_key(&o, "items");
  json_out_open(&o, '[');
  int n = db_rows_count(rows);
  for (int i = 0; i < n; i++)
    item(rq, rows, i, &o);
  json_out_close(&o, ']');
  json_out_key(&o, "next_cursor");
  if (n == limit)
    json_out_int(&o, db_rows_int(rows, n - 1, 0));
  else
    json_out_null(&o);
  json_out_close(&o, '}');
  db_rows_free(rows);
  http_json_out(rq, 200, &o);
}
