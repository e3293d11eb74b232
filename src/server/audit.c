#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "log.h"
#include "server.h"

int audit_record(struct db_conn *c, struct request *rq, int64_t tenant_id, const char *action,
                 const char *target_type, int64_t target_id, const char *summary) {
  char target[24];
  snprintf(target, sizeof target, "%lld", (long long)target_id);
  struct ff_error err = {0};
  int rc =
      db_exec(c,
              "INSERT INTO audit_log (tenant_id, actor_user_id, actor_key_id, actor_name, "
              "action, target_type, target_id, summary, request_id, created_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
              DB_ARGS(tenant_id ? db_int(tenant_id) : db_null(),
                      rq && rq->who.user_id ? db_int(rq->who.user_id) : db_null(),
                      rq && rq->who.key_id ? db_int(rq->who.key_id) : db_null(),
                      db_text(rq ? rq->who.name : "footfall admin"), db_text(action),
                      db_text(target_type), db_text(target), db_text(summary),
                      db_text(rq ? rq->id : NULL), db_int(server_now_ms(rq ? rq->server : NULL))),
              NULL, &err);
  /* Other servers on the same PostgreSQL database drop their cached
   * principals when this change commits (the notification is part of the
   * transaction; hub.c listens). One database alone has nothing to tell. */
  if (!rc) {
    int notified = db_notify(c, "auth", "", &err);
    if (notified != FF_EUNSUPPORTED)
      rc = notified;
  }
  if (rc)
    log_msg(LOG_ERROR, "audit.write_failed", "%s", err.message);
  /* Every change is audited: the dispatcher drops cached principals once
   * the handler (and so its transaction) is done. */
  if (rq && !rc)
    rq->changed = 1;
  return rc;
}

/* Rows newest first, `cursor` = the last id of the previous page. */
static int query_page(struct request *rq, struct db_conn *c, int64_t cursor, int limit,
                      struct db_rows **rows, struct ff_error *err) {
  int64_t tenant = access_tenant(rq);
  return db_query(c,
                  "SELECT id, tenant_id, actor_user_id, actor_key_id, actor_name, action, "
                  "target_type, target_id, summary, request_id, created_at FROM audit_log "
                  "WHERE ($1 = 0 OR tenant_id = $1) AND ($2 = 0 OR id < $2) "
                  "ORDER BY id DESC LIMIT $3",
                  DB_ARGS(db_int(tenant), db_int(cursor), db_int(limit)), rows, err);
}

static json_t *nullable_int(const struct db_rows *r, int row, int col) {
  return db_rows_is_null(r, row, col) ? json_null() : json_integer(db_rows_int(r, row, col));
}

static json_t *nullable_text(const struct db_rows *r, int row, int col) {
  const char *v = db_rows_text(r, row, col);
  return v ? json_string(v) : json_null();
}

void audit_list(struct request *rq) {
  int limit = access_limit(rq);
  int64_t cursor = access_cursor(rq);
  if (limit < 0 || cursor < 0)
    return;
  struct db_conn *c = db_acquire(rq->server->db, 5000);
  if (!c) {
    http_error(rq, 503, "unavailable", "the database is busy");
    return;
  }
  struct ff_error err = {0};
  struct db_rows *rows = NULL;
  int rc = query_page(rq, c, cursor, limit, &rows, &err);
  db_release(c);
  if (rc) {
    http_fail(rq, rc, &err);
    return;
  }
  json_t *items = json_array();
  int n = db_rows_count(rows);
  for (int i = 0; i < n; i++)
    json_array_append_new(
        items, json_pack("{s:I,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:I}", "id",
                         (json_int_t)db_rows_int(rows, i, 0), "tenant_id", nullable_int(rows, i, 1),
                         "actor_user_id", nullable_int(rows, i, 2), "actor_key_id",
                         nullable_int(rows, i, 3), "actor", nullable_text(rows, i, 4), "action",
                         db_rows_text(rows, i, 5), "target_type", nullable_text(rows, i, 6),
                         "target_id", nullable_text(rows, i, 7), "summary",
                         nullable_text(rows, i, 8), "request_id", nullable_text(rows, i, 9),
                         "created_at_ms", (json_int_t)db_rows_int(rows, i, 10)));
  json_t *next = n == limit ? json_integer(db_rows_int(rows, n - 1, 0)) : json_null();
  db_rows_free(rows);
  http_json(rq, 200, json_pack("{s:o,s:o}", "items", items, "next_cursor", next));
}

/* CSV with RFC 4180 quoting; fields that a spreadsheet would run as a
 * formula are prefixed with a quote. */
static void csv_field(FILE *f, const char *v, int last) {
  if (!v)
    v = "";
  int formula = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@';
  fputc('"', f);
  if (formula)
    fputc('\'', f);
  for (const char *p = v; *p; p++) {
    if (*p == '"')
      fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
  fputc(last ? '\n' : ',', f);
}

#define AUDIT_EXPORT_MAX_ROWS 100000

void audit_export_csv(struct request *rq) {
  struct db_conn *c = db_acquire(rq->server->db, 5000);
  if (!c) {
    http_error(rq, 503, "unavailable", "the database is busy");
    return;
  }
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) {
    db_release(c);
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  fputs("id,created_at_ms,tenant_id,actor,action,target_type,target_id,summary,request_id\n", f);
  int64_t cursor = 0;
  int total = 0, rc = FF_OK;
  struct ff_error err = {0};
  while (total < AUDIT_EXPORT_MAX_ROWS) {
    struct db_rows *rows = NULL;
    if ((rc = query_page(rq, c, cursor, 1000, &rows, &err)))
      break;
    int n = db_rows_count(rows);
    for (int i = 0; i < n; i++) {
      fprintf(f, "%lld,%lld,", (long long)db_rows_int(rows, i, 0),
              (long long)db_rows_int(rows, i, 10));
      if (!db_rows_is_null(rows, i, 1))
        fprintf(f, "%lld", (long long)db_rows_int(rows, i, 1));
      fputc(',', f);
      csv_field(f, db_rows_text(rows, i, 4), 0);
      csv_field(f, db_rows_text(rows, i, 5), 0);
      csv_field(f, db_rows_text(rows, i, 6), 0);
      csv_field(f, db_rows_text(rows, i, 7), 0);
      csv_field(f, db_rows_text(rows, i, 8), 0);
      csv_field(f, db_rows_text(rows, i, 9), 1);
    }
    if (n)
      cursor = db_rows_int(rows, n - 1, 0);
    total += n;
    db_rows_free(rows);
    if (n < 1000)
      break;
  }
  db_release(c);
  fclose(f);
  if (rc) {
    free(text);
    http_fail(rq, rc, &err);
    return;
  }
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, text, len);
  free(text);
  http_header(rq, "Content-Type", "text/csv; charset=utf-8");
  http_header(rq, "Content-Disposition", "attachment; filename=\"footfall-audit.csv\"");
}
