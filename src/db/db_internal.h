/* db_internal.h — what db.c shares with the backends (db_sqlite.c,
 * db_postgres.c, migrate.c) and with the unit tests. Not for other modules.
 */
#ifndef FOOTFALL_DB_INTERNAL_H
#define FOOTFALL_DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "clock.h"
#include "db.h"

/* Every allocation of the module goes through these, so a test can make the
 * Nth one fail and check that the error path frees what it took. */
void *db_malloc(size_t n);
void *db_calloc(size_t count, size_t size);
void *db_realloc(void *p, size_t n);
char *db_strdup(const char *s);
void db_free(void *p);
/* Test hook: after `n` more successful allocations, fail every following one
 * (negative: never fail). Returns the allocations left before the switch. */
void db_test_fail_allocations_after(long n);

/* A backend. Functions run on one connection, used by one thread. */
struct db_driver {
  enum db_backend backend;
  const char *name;
  /* Optional (NULL): work of the backend for the whole database, started
   * after the pool has connected and stopped before it disconnects. */
  void (*start)(struct db *db);
  void (*stop)(struct db *db);
  int (*connect)(struct db *db, struct db_conn *conn, struct ff_error *err);
  void (*disconnect)(struct db_conn *conn);
  /* Called by db_acquire: repairs a broken connection if it can. */
  void (*check)(struct db_conn *conn);
  int (*begin)(struct db_conn *conn, enum db_tx kind, struct ff_error *err);
  int (*commit)(struct db_conn *conn, struct ff_error *err);
  int (*rollback)(struct db_conn *conn);
  /* out == NULL: a statement whose rows are discarded (db_exec). */
  int (*run)(struct db_conn *conn, const char *sql, const struct db_value *params, int nparams,
             int64_t *changes, struct db_rows **out, struct ff_error *err);
  int (*script)(struct db_conn *conn, const char *sql, struct ff_error *err);
  bool (*in_transaction)(struct db_conn *conn);
  int (*cached_statements)(struct db_conn *conn);
  /* Times the cached statements were compiled again (SQLite; else 0). */
  int (*reprepares)(struct db_conn *conn);
};

/* Test hook: how many prepared statements the connection has cached. */
int db_test_cached_statements(struct db_conn *conn);
/* Test hook: how often its cached statements had to be compiled again. */
int db_test_reprepares(struct db_conn *conn);

extern const struct db_driver db_sqlite_driver;
extern const struct db_driver db_postgres_driver;

struct db_conn {
  struct db *db;
  void *backend; /* the driver's own per-connection state */
  bool in_use;
  bool broken; /* connect failed at open time (never for a pool we handed out) */
};

struct db {
  const struct db_driver *driver;
  char *url;    /* as given */
  char *target; /* SQLite: the file path; PostgreSQL: the URL */
  int busy_timeout_ms;

  /* pool_lock guards conns[].in_use and in_use; pool_free is signalled on release. */
  pthread_mutex_t pool_lock;
  pthread_cond_t pool_free;
  struct db_conn *conns;
  int pool_size;
  int in_use;

  /* SQLite: one in-process writer at a time, so writers queue on a mutex
   * instead of sleeping in SQLite's busy handler. */
  pthread_mutex_t write_lock;
  /* The backend's own state for the whole database (SQLite: the read-lock
   * keeper), owned by driver->start/stop. */
  void *backend;

  /* Statistics: updated with relaxed atomics, read by db_stats_get. */
  atomic_uint_fast64_t statements;
  atomic_uint_fast64_t errors;
  atomic_uint_fast64_t latency_count[DB_LATENCY_BUCKETS]; /* per bucket, not cumulative */
  atomic_uint_fast64_t latency_sum_ns;
};

/* Materialised rows. Cells are stored row-major; text and blob bytes live
 * in arena blocks owned by the rows, each followed by a NUL byte. */
/* 24 bytes: a page of results is an array of them. */
struct db_cell {
  union {
    int64_t i; /* DB_INT */
    double r;  /* DB_REAL */
  } n;         /* TEXT is read as a number only when asked (db_rows_int/real) */
  /* TEXT/BLOB bytes; for INT/REAL their text form, written into the arena
   * the first time it is asked for (db_rows_text); NULL for NULL. */
  const char *bytes;
  uint32_t len;
  enum db_type type;
};

struct db_arena_block;

struct db_rows {
  int nrows, ncols;
  int cap_rows;
  char **names; /* allocated with the struct */
  struct db_cell *cells;
  struct db_arena_block *arena;
};

struct db_rows *db_rows_new(int ncols);
int db_rows_set_name(struct db_rows *rows, int col, const char *name);
/* Appends a row of NULL cells; returns its cells or NULL (out of memory). */
struct db_cell *db_rows_append(struct db_rows *rows);
/* Copies bytes into the rows' arena and points the cell at them. */
int db_cell_set_bytes(struct db_rows *rows, struct db_cell *cell, enum db_type type, const void *p,
                      size_t len);
int db_cell_set_int(struct db_rows *rows, struct db_cell *cell, int64_t i);
int db_cell_set_real(struct db_rows *rows, struct db_cell *cell, double r);
/* Allocates len bytes (+ NUL) in the rows' arena. */
char *db_rows_arena_alloc(struct db_rows *rows, size_t len);

/* Formats a double so that strtod gives it back exactly ("NaN", "Infinity"
 * as PostgreSQL spells them). */
void db_format_real(double r, char *buf, size_t size);

/* FNV-1a, for statement caches keyed by SQL text. */
uint64_t db_hash_text(const char *s);

/* A condition variable whose timed waits use the monotonic clock (waits
 * take their deadline from ff_deadline_ms, clock.h). */
void db_cond_init_monotonic(pthread_cond_t *cond);

/* Milliseconds since the epoch, and a monotonic clock in nanoseconds. */
int64_t db_now_ms(void);
uint64_t db_monotonic_ns(void);

/* Embedded migrations (generated from src/db/migrations at build time). */
struct db_migration {
  int version;
  const char *name;
  const char *sql;
};
extern const struct db_migration db_migrations_sqlite[];
extern const int db_migrations_sqlite_count;
extern const struct db_migration db_migrations_postgres[];
extern const int db_migrations_postgres_count;

/* SQLite backend helper, exposed for its unit test: rewrites `$N` outside
 * literals, quoted identifiers and comments to `?N`. Returns a new string
 * (free with db_free) or NULL when out of memory. */
char *db_sqlite_rewrite_placeholders(const char *sql);

#endif
