/* db.h — one small interface over SQLite and PostgreSQL.
 *
 * Promises:
 * - Every statement is prepared and its parameters bound; callers never
 *   splice values into SQL. SQL text uses PostgreSQL's `$1..$N` placeholders
 *   on both backends (the SQLite backend rewrites them to `?N`), so portable
 *   queries are written once. Where the dialects differ, callers branch on
 *   db_backend() and keep both texts side by side in their module's SQL
 *   section.
 * - Prepared statements are cached per connection, keyed by the SQL text.
 * - Results are fully materialised (struct db_rows), owned by the caller and
 *   freed with db_rows_free(); values stay valid until then.
 * - A struct db is a pool shared by all threads; a struct db_conn is used by
 *   one thread at a time between db_acquire() and db_release().
 * - Times are stored as INTEGER/BIGINT milliseconds since the Unix epoch (UTC);
 *   flags as INTEGER/SMALLINT 0/1; ids as 64-bit integers.
 * - Migrations are numbered, embedded in the binary, one set per backend, and
 *   applied in order inside transactions by db_migrate().
 * Failure: functions return FF_OK or a negative FF_E* status (status.h) and
 * fill `err` (may be NULL) with the backend's message. A unique-constraint
 * violation returns FF_ECONFLICT; a foreign-key, CHECK or NOT NULL violation
 * FF_EINVAL; a lock not obtained within busy_timeout_ms (and a PostgreSQL
 * serialization failure or deadlock) FF_EBUSY; a wrong parameter count
 * FF_EINVAL; anything else from the backend FF_EDB. See docs/DB.md.
 */
#ifndef FOOTFALL_DB_H
#define FOOTFALL_DB_H

#include <stdint.h>
#include <stddef.h>

#include "status.h"

enum db_backend { DB_SQLITE, DB_POSTGRES };

enum db_type { DB_NULL, DB_INT, DB_REAL, DB_TEXT, DB_BLOB };

struct db_value {
  enum db_type type;
  union {
    int64_t i;
    double r;
    struct {
      const void *ptr; /* TEXT: NUL-terminated unless len set; BLOB: len bytes */
      size_t len;
    } b;
  } v;
};

static inline struct db_value db_null(void) {
  struct db_value x = {.type = DB_NULL};
  return x;
}
static inline struct db_value db_int(int64_t i) {
  struct db_value x = {.type = DB_INT, .v.i = i};
  return x;
}
static inline struct db_value db_real(double r) {
  struct db_value x = {.type = DB_REAL, .v.r = r};
  return x;
}
/* NULL text binds SQL NULL. */
static inline struct db_value db_text(const char *s) {
  struct db_value x = {.type = s ? DB_TEXT : DB_NULL, .v.b = {s, 0}};
  return x;
}
static inline struct db_value db_blob(const void *p, size_t n) {
  struct db_value x = {.type = p ? DB_BLOB : DB_NULL, .v.b = {p, n}};
  return x;
}

/* Parameter lists: db_query(c, sql, DB_ARGS(db_int(t), db_text(n)), &rows, err). */
#define DB_ARGS(...)                                                                               \
  (const struct db_value[]){__VA_ARGS__},                                                          \
      (int)(sizeof((struct db_value[]){__VA_ARGS__}) / sizeof(struct db_value))
#define DB_NOARGS NULL, 0

struct db;
struct db_conn;
struct db_rows;

struct db_options {
  const char *url;     /* "sqlite:PATH", a plain path, or "postgres://..." / "postgresql://..." */
  int pool_size;       /* connections kept; 0 = default (8) */
  int busy_timeout_ms; /* SQLite busy timeout, PostgreSQL lock_timeout; 0 = default (5000) */
};

int db_open(const struct db_options *options, struct db **out, struct ff_error *err);
void db_close(struct db *db);
enum db_backend db_backend(const struct db *db);
const char *db_backend_name(const struct db *db);

/* Applies pending migrations. Safe to call from several processes at once
 * (PostgreSQL: advisory lock; SQLite: exclusive transaction). */
int db_migrate(struct db *db, struct ff_error *err);
/* The schema version in the database and the newest one this binary knows. */
int db_schema_version(struct db *db, int *current, int *latest, struct ff_error *err);

/* Blocks until a connection is free (or timeout_ms passes: returns NULL;
 * 0 = do not wait, negative = wait for ever). A PostgreSQL connection found
 * broken is reset here. */
struct db_conn *db_acquire(struct db *db, int timeout_ms);
/* Rolls back a transaction the caller left open, then returns the
 * connection to the pool. NULL is ignored. */
void db_release(struct db_conn *conn);

enum db_tx { DB_TX_READ, DB_TX_WRITE };
/* DB_TX_WRITE takes the write lock up front (SQLite BEGIN IMMEDIATE) so two
 * writers never deadlock on a lock upgrade. On PostgreSQL it takes a
 * transaction-level advisory lock, so write transactions are serialised on
 * both backends and a read-modify-write inside one loses no update.
 * DB_TX_READ sees one snapshot and refuses writes (both backends).
 * A statement that fails inside a transaction dooms it (both backends):
 * later statements fail and db_commit rolls back and returns FF_EDB. After
 * db_commit returns, no transaction is open, whatever it returned. */
int db_begin(struct db_conn *conn, enum db_tx kind, struct ff_error *err);
int db_commit(struct db_conn *conn, struct ff_error *err);
int db_rollback(struct db_conn *conn); /* never fails in a way callers can act on */

/* Runs a statement that returns no rows; *changes (may be NULL) gets the
 * number of rows affected. */
int db_exec(struct db_conn *conn, const char *sql, const struct db_value *params, int nparams,
            int64_t *changes, struct ff_error *err);
/* Runs a statement and materialises its rows (also for INSERT ... RETURNING). */
int db_query(struct db_conn *conn, const char *sql, const struct db_value *params, int nparams,
             struct db_rows **out, struct ff_error *err);
/* Runs several statements with no parameters (schema scripts). */
int db_exec_script(struct db_conn *conn, const char *sql, struct ff_error *err);

int db_rows_count(const struct db_rows *rows);
int db_rows_columns(const struct db_rows *rows);
const char *db_rows_name(const struct db_rows *rows, int col);
int db_rows_is_null(const struct db_rows *rows, int row, int col);
int64_t db_rows_int(const struct db_rows *rows, int row, int col);      /* NULL -> 0 */
double db_rows_real(const struct db_rows *rows, int row, int col);      /* NULL -> 0 */
const char *db_rows_text(const struct db_rows *rows, int row, int col); /* NULL -> NULL */
const void *db_rows_blob(const struct db_rows *rows, int row, int col, size_t *len);
void db_rows_free(struct db_rows *rows);

/* --- PostgreSQL LISTEN/NOTIFY -------------------------------------------------
 * For fan-out between server instances sharing one database. Channel names
 * are derived from a base name and the current schema, so installations (or
 * test runs) in different schemas of one database do not hear each other:
 * SQL that notifies uses DB_PG_CHANNEL_SQL("$1") with the base name bound to
 * $1, or db_notify(). A payload is at most DB_NOTIFY_MAX bytes (PostgreSQL's
 * limit is 8000): send ids, not rows.
 *
 * db_listen opens one dedicated connection (not from the pool), LISTENs on
 * the channels before it returns, and calls fn(arg, base, payload) on its
 * own thread for every notification, in the order the server delivers them
 * (commit order). When the connection is lost it reconnects (100 ms doubling
 * to 5 s), LISTENs again and calls fn(arg, NULL, NULL): notifications may
 * have been missed meanwhile. It also calls fn(arg, NULL, NULL) once after
 * the first LISTEN, from its thread. SQLite: FF_EUNSUPPORTED (one instance). */
#define DB_NOTIFY_MAX 7900
#define DB_PG_CHANNEL_SQL(param)                                                                   \
  "('ff_' || " param " || '_' || substr(md5(COALESCE(current_schema(), '')), 1, 8))"
struct db_listener;
typedef void (*db_notify_fn)(void *arg, const char *channel, const char *payload);
int db_listen(struct db *db, const char *const *channels, int count, db_notify_fn fn, void *arg,
              struct db_listener **out, struct ff_error *err);
void db_listen_stop(struct db_listener *l);
/* Reconnections so far (for /metrics and tests). */
int db_listen_reconnects(const struct db_listener *l);
/* SELECT pg_notify(channel of base, payload) on a pooled connection. */
int db_notify(struct db_conn *c, const char *channel, const char *payload, struct ff_error *err);

/* Figures for /metrics: statements run and their latency histogram. */
#define DB_LATENCY_BUCKETS 12
extern const double db_latency_bounds_ms[DB_LATENCY_BUCKETS]; /* upper bounds, last = +Inf */
struct db_stats {
  uint64_t statements;
  uint64_t errors;
  uint64_t latency_bucket[DB_LATENCY_BUCKETS]; /* cumulative counts per upper bound */
  double latency_sum_ms;
  int pool_size;
  int pool_in_use;
};
void db_stats_get(struct db *db, struct db_stats *out);

#endif
