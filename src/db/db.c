/* db.c — the pool, dispatch to a backend, materialised rows and statistics.
 * The backends (db_sqlite.c, db_postgres.c) only talk to their library. */
#include "db_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmt.h"

#define DB_DEFAULT_POOL_SIZE 8
#define DB_MAX_POOL_SIZE 256
#define DB_DEFAULT_BUSY_TIMEOUT_MS 5000
#define DB_ARENA_BLOCK_BYTES 4096
/* The first block of a result is small enough for malloc's per-thread cache
 * (a few small rows fit: most answers need no second block). */
#define DB_ARENA_FIRST_BLOCK_BYTES 960
#define DB_FIRST_ROWS 4
#define DB_FIRST_CELLS_BYTES 1000

const double db_latency_bounds_ms[DB_LATENCY_BUCKETS] = {0.1, 0.25, 0.5, 1,   2.5, 5,
                                                         10,  25,   50,  100, 250, INFINITY};

/* ---- allocation (with a failure switch for tests) ---- */

static atomic_long allocations_left = -1;

static bool allocation_allowed(void) {
  long left = atomic_load_explicit(&allocations_left, memory_order_relaxed);
  while (left > 0) {
    if (atomic_compare_exchange_weak(&allocations_left, &left, left - 1))
      return true;
  }
  return left < 0;
}

void db_test_fail_allocations_after(long n) {
  atomic_store(&allocations_left, n);
}

void *db_malloc(size_t n) {
  return allocation_allowed() ? malloc(n ? n : 1) : NULL;
}

void *db_calloc(size_t count, size_t size) {
  return allocation_allowed() ? calloc(count ? count : 1, size ? size : 1) : NULL;
}

void *db_realloc(void *p, size_t n) {
  return allocation_allowed() ? realloc(p, n ? n : 1) : NULL;
}

char *db_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = db_malloc(n);
  if (copy)
    memcpy(copy, s, n);
  return copy;
}

void db_free(void *p) {
  free(p);
}

/* ---- small helpers ---- */

uint64_t db_hash_text(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

int64_t db_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t db_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}


void db_cond_init_monotonic(pthread_cond_t *cond) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(cond, &attr);
  pthread_condattr_destroy(&attr);
}

void db_format_real(double r, char *buf, size_t size) {
  if (isnan(r))
    snprintf(buf, size, "NaN");
  else if (isinf(r))
    snprintf(buf, size, r > 0 ? "Infinity" : "-Infinity");
  else
    snprintf(buf, size, "%.17g", r);
}

/* ---- open / close ---- */

static int parse_url(struct db *db, const char *url, struct ff_error *err) {
  const char *path = url;
  if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
    db->driver = &db_postgres_driver;
    db->target = db_strdup(url);
    return db->target ? FF_OK : ff_fail(err, FF_ENOMEM, "out of memory");
  }
  if (!strncmp(url, "sqlite:", 7)) {
    path = url + 7;
    if (!strncmp(path, "//", 2))
      path += 2; /* sqlite:///abs/path */
  }
  if (!*path)
    return ff_fail(err, FF_EINVAL, "database url names no file");
  db->driver = &db_sqlite_driver;
  db->target = db_strdup(path);
  return db->target ? FF_OK : ff_fail(err, FF_ENOMEM, "out of memory");
}

static void free_db(struct db *db) {
  if (db->backend && db->driver->stop)
    db->driver->stop(db);
  if (db->conns) {
    for (int i = 0; i < db->pool_size; i++)
      if (db->conns[i].backend)
        db->driver->disconnect(&db->conns[i]);
    db_free(db->conns);
  }
  pthread_cond_destroy(&db->pool_free);
  pthread_mutex_destroy(&db->pool_lock);
  pthread_mutex_destroy(&db->write_lock);
  db_free(db->target);
  db_free(db->url);
  db_free(db);
}

int db_open(const struct db_options *options, struct db **out, struct ff_error *err) {
  *out = NULL;
  if (!options || !options->url)
    return ff_fail(err, FF_EINVAL, "no database url");
  if (options->pool_size < 0 || options->pool_size > DB_MAX_POOL_SIZE)
    return ff_fail(err, FF_EINVAL, "pool size %d out of range 0..%d", options->pool_size,
                   DB_MAX_POOL_SIZE);
  if (options->busy_timeout_ms < 0)
    return ff_fail(err, FF_EINVAL, "busy timeout must not be negative");

  struct db *db = db_calloc(1, sizeof *db);
  if (!db)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  pthread_mutex_init(&db->pool_lock, NULL);
  /* Error-checking: a thread that already holds the write lock (a write
   * transaction on another connection) gets EDEADLK instead of hanging. */
  pthread_mutexattr_t mutex_attr;
  pthread_mutexattr_init(&mutex_attr);
  pthread_mutexattr_settype(&mutex_attr, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&db->write_lock, &mutex_attr);
  pthread_mutexattr_destroy(&mutex_attr);
  db_cond_init_monotonic(&db->pool_free);

  int rc = FF_OK;
  db->url = db_strdup(options->url);
  if (!db->url) {
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
    goto fail;
  }
  if ((rc = parse_url(db, options->url, err)) != FF_OK)
    goto fail;
  db->busy_timeout_ms =
      options->busy_timeout_ms ? options->busy_timeout_ms : DB_DEFAULT_BUSY_TIMEOUT_MS;
  int pool_size = options->pool_size ? options->pool_size : DB_DEFAULT_POOL_SIZE;
  /* Every SQLite connection to ":memory:" is a database of its own. */
  if (db->driver == &db_sqlite_driver && !strcmp(db->target, ":memory:"))
    pool_size = 1;

  db->conns = db_calloc((size_t)pool_size, sizeof *db->conns);
  if (!db->conns) {
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
    goto fail;
  }
  db->pool_size = pool_size;
  /* Connect eagerly: a bad URL or an unreachable server fails here, once,
   * rather than at some later db_acquire. */
  for (int i = 0; i < pool_size; i++) {
    db->conns[i].db = db;
    if ((rc = db->driver->connect(db, &db->conns[i], err)) != FF_OK)
      goto fail;
  }
  if (db->driver->start)
    db->driver->start(db);
  *out = db;
  return FF_OK;

fail:
  free_db(db);
  return rc;
}

void db_close(struct db *db) {
  if (db)
    free_db(db);
}

enum db_backend db_backend(const struct db *db) {
  return db->driver->backend;
}

const char *db_backend_name(const struct db *db) {
  return db->driver->name;
}

/* ---- pool ---- */

struct db_conn *db_acquire(struct db *db, int timeout_ms) {
  struct timespec deadline = {0};
  if (timeout_ms > 0)
    deadline = ff_deadline_ms(timeout_ms);
  struct db_conn *conn = NULL;
  pthread_mutex_lock(&db->pool_lock);
  while (db->in_use == db->pool_size) {
    if (timeout_ms == 0)
      goto out;
    if (timeout_ms < 0) {
      pthread_cond_wait(&db->pool_free, &db->pool_lock);
    } else if (pthread_cond_timedwait(&db->pool_free, &db->pool_lock, &deadline) == ETIMEDOUT &&
               db->in_use == db->pool_size) {
      goto out;
    }
  }
  for (int i = 0; i < db->pool_size; i++) {
    if (!db->conns[i].in_use) {
      conn = &db->conns[i];
      conn->in_use = true;
      db->in_use++;
      break;
    }
  }
out:
  pthread_mutex_unlock(&db->pool_lock);
  if (conn)
    db->driver->check(conn);
  return conn;
}

void db_release(struct db_conn *conn) {
  if (!conn)
    return;
  struct db *db = conn->db;
  /* A transaction left open by a caller's error path must not leak into the
   * next user of this connection. */
  if (db->driver->in_transaction(conn))
    db_rollback(conn);
  pthread_mutex_lock(&db->pool_lock);
  conn->in_use = false;
  db->in_use--;
  pthread_cond_signal(&db->pool_free);
  pthread_mutex_unlock(&db->pool_lock);
}

/* ---- statements ---- */

static void record(struct db *db, uint64_t started_ns, int rc) {
  uint64_t elapsed = db_monotonic_ns() - started_ns;
  double ms = (double)elapsed / 1e6;
  int bucket = 0;
  while (bucket < DB_LATENCY_BUCKETS - 1 && ms > db_latency_bounds_ms[bucket])
    bucket++;
  atomic_fetch_add_explicit(&db->statements, 1, memory_order_relaxed);
  if (rc != FF_OK)
    atomic_fetch_add_explicit(&db->errors, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&db->latency_count[bucket], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&db->latency_sum_ns, elapsed, memory_order_relaxed);
}

int db_begin(struct db_conn *conn, enum db_tx kind, struct ff_error *err) {
  if (!conn)
    return ff_fail(err, FF_EINVAL, "no connection");
  if (kind != DB_TX_READ && kind != DB_TX_WRITE)
    return ff_fail(err, FF_EINVAL, "unknown transaction kind %d", (int)kind);
  if (conn->db->driver->in_transaction(conn))
    return ff_fail(err, FF_EINVAL, "a transaction is already open on this connection");
  uint64_t t0 = db_monotonic_ns();
  int rc = conn->db->driver->begin(conn, kind, err);
  record(conn->db, t0, rc);
  return rc;
}

int db_commit(struct db_conn *conn, struct ff_error *err) {
  if (!conn)
    return ff_fail(err, FF_EINVAL, "no connection");
  if (!conn->db->driver->in_transaction(conn))
    return ff_fail(err, FF_EINVAL, "no transaction is open on this connection");
  uint64_t t0 = db_monotonic_ns();
  int rc = conn->db->driver->commit(conn, err);
  record(conn->db, t0, rc);
  return rc;
}

int db_rollback(struct db_conn *conn) {
  if (!conn || !conn->db->driver->in_transaction(conn))
    return FF_OK;
  uint64_t t0 = db_monotonic_ns();
  int rc = conn->db->driver->rollback(conn);
  record(conn->db, t0, rc);
  return rc;
}

static int check_call(struct db_conn *conn, const char *sql, const struct db_value *params,
                      int nparams, struct ff_error *err) {
  if (!conn || !sql)
    return ff_fail(err, FF_EINVAL, "no connection or no SQL");
  if (nparams < 0 || (nparams > 0 && !params))
    return ff_fail(err, FF_EINVAL, "bad parameter list");
  for (int i = 0; i < nparams; i++)
    if (params[i].type < DB_NULL || params[i].type > DB_BLOB)
      return ff_fail(err, FF_EINVAL, "parameter $%d has an unknown type", i + 1);
  return FF_OK;
}

int db_exec(struct db_conn *conn, const char *sql, const struct db_value *params, int nparams,
            int64_t *changes, struct ff_error *err) {
  if (changes)
    *changes = 0;
  int rc = check_call(conn, sql, params, nparams, err);
  if (rc != FF_OK)
    return rc;
  uint64_t t0 = db_monotonic_ns();
  rc = conn->db->driver->run(conn, sql, params, nparams, changes, NULL, err);
  record(conn->db, t0, rc);
  return rc;
}

int db_query(struct db_conn *conn, const char *sql, const struct db_value *params, int nparams,
             struct db_rows **out, struct ff_error *err) {
  *out = NULL;
  int rc = check_call(conn, sql, params, nparams, err);
  if (rc != FF_OK)
    return rc;
  uint64_t t0 = db_monotonic_ns();
  rc = conn->db->driver->run(conn, sql, params, nparams, NULL, out, err);
  record(conn->db, t0, rc);
  if (rc != FF_OK && *out) {
    db_rows_free(*out);
    *out = NULL;
  }
  return rc;
}

int db_exec_script(struct db_conn *conn, const char *sql, struct ff_error *err) {
  int rc = check_call(conn, sql, NULL, 0, err);
  if (rc != FF_OK)
    return rc;
  uint64_t t0 = db_monotonic_ns();
  rc = conn->db->driver->script(conn, sql, err);
  record(conn->db, t0, rc);
  return rc;
}

/* ---- statistics ---- */

void db_stats_get(struct db *db, struct db_stats *out) {
  memset(out, 0, sizeof *out);
  out->statements = atomic_load_explicit(&db->statements, memory_order_relaxed);
  out->errors = atomic_load_explicit(&db->errors, memory_order_relaxed);
  uint64_t cumulative = 0;
  for (int i = 0; i < DB_LATENCY_BUCKETS; i++) {
    cumulative += atomic_load_explicit(&db->latency_count[i], memory_order_relaxed);
    out->latency_bucket[i] = cumulative;
  }
  out->latency_sum_ms =
      (double)atomic_load_explicit(&db->latency_sum_ns, memory_order_relaxed) / 1e6;
  pthread_mutex_lock(&db->pool_lock);
  out->pool_size = db->pool_size;
  out->pool_in_use = db->in_use;
  pthread_mutex_unlock(&db->pool_lock);
}

/* ---- materialised rows ---- */

struct db_arena_block {
  struct db_arena_block *next;
  size_t size, used;
  char data[];
};

struct db_rows *db_rows_new(int ncols) {
  size_t nnames = ncols > 0 ? (size_t)ncols : 0;
  struct db_rows *rows = db_calloc(1, sizeof *rows + nnames * sizeof *rows->names);
  if (!rows)
    return NULL;
  rows->ncols = ncols;
  rows->names = (char **)(rows + 1);
  return rows;
}

char *db_rows_arena_alloc(struct db_rows *rows, size_t len) {
  size_t need = len + 1;
  struct db_arena_block *b = rows->arena;
  if (!b || b->size - b->used < need) {
    size_t block = b ? DB_ARENA_BLOCK_BYTES : DB_ARENA_FIRST_BLOCK_BYTES;
    size_t size = need > block ? need : block;
    struct db_arena_block *nb = db_malloc(sizeof *nb + size);
    if (!nb)
      return NULL;
    nb->size = size;
    nb->used = 0;
    /* A big value gets a block of its own behind the current one, so the
     * current block's free space stays usable. */
    if (b && need > block) {
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = b;
      rows->arena = nb;
    }
    b = nb;
  }
  char *p = b->data + b->used;
  b->used += need;
  p[len] = '\0';
  return p;
}

int db_rows_set_name(struct db_rows *rows, int col, const char *name) {
  size_t len = strlen(name);
  char *copy = db_rows_arena_alloc(rows, len);
  if (!copy)
    return FF_ENOMEM;
  memcpy(copy, name, len);
  rows->names[col] = copy;
  return FF_OK;
}

/* The first array of cells: as many rows as fit in DB_FIRST_CELLS_BYTES
 * (within malloc's per-thread cache), at least DB_FIRST_ROWS. */
static int first_rows(int ncols) {
  size_t per_row = (size_t)(ncols > 0 ? ncols : 1) * sizeof(struct db_cell);
  size_t fit = DB_FIRST_CELLS_BYTES / per_row;
  return fit > DB_FIRST_ROWS ? (int)fit : DB_FIRST_ROWS;
}

struct db_cell *db_rows_append(struct db_rows *rows) {
  if (rows->nrows == rows->cap_rows) {
    int cap = rows->cap_rows ? rows->cap_rows * 2 : first_rows(rows->ncols);
    size_t ncells = (size_t)cap * (size_t)(rows->ncols ? rows->ncols : 1);
    struct db_cell *cells = db_realloc(rows->cells, ncells * sizeof *cells);
    if (!cells)
      return NULL;
    rows->cells = cells;
    rows->cap_rows = cap;
  }
  struct db_cell *row = rows->cells + (size_t)rows->nrows * (size_t)rows->ncols;
  memset(row, 0, (size_t)rows->ncols * sizeof *row);
  for (int c = 0; c < rows->ncols; c++)
    row[c].type = DB_NULL;
  rows->nrows++;
  return row;
}

int db_cell_set_bytes(struct db_rows *rows, struct db_cell *cell, enum db_type type, const void *p,
                      size_t len) {
  if (len > UINT32_MAX)
    return FF_ETOOBIG;
  char *copy = db_rows_arena_alloc(rows, len);
  if (!copy)
    return FF_ENOMEM;
  if (len)
    memcpy(copy, p, len);
  cell->type = type;
  cell->bytes = copy;
  cell->len = (uint32_t)len;
  return FF_OK;
}

/* Numbers are kept as numbers: most are read as numbers, and formatting
 * every one was the largest part of materialising a row. */
int db_cell_set_int(struct db_rows *rows, struct db_cell *cell, int64_t i) {
  (void)rows;
  cell->type = DB_INT;
  cell->n.i = i;
  cell->bytes = NULL;
  cell->len = 0;
  return FF_OK;
}

int db_cell_set_real(struct db_rows *rows, struct db_cell *cell, double r) {
  (void)rows;
  cell->type = DB_REAL;
  cell->n.r = r;
  cell->bytes = NULL;
  cell->len = 0;
  return FF_OK;
}

/* The text form of a number cell, written into the rows' arena when first
 * asked for. Rows belong to one thread, so the const accessors may fill it
 * in; NULL only when memory runs out. */
static const char *number_text(const struct db_rows *rows, const struct db_cell *cell) {
  if (cell->bytes)
    return cell->bytes;
  char buf[40];
  const char *text = buf;
  size_t len;
  if (cell->type == DB_INT) {
    text = fmt_int(buf + sizeof buf, cell->n.i);
    len = (size_t)(buf + sizeof buf - text);
  } else {
    db_format_real(cell->n.r, buf, sizeof buf);
    len = strlen(buf);
  }
  char *copy = db_rows_arena_alloc((struct db_rows *)rows, len);
  if (!copy)
    return NULL;
  memcpy(copy, text, len);
  struct db_cell *c = (struct db_cell *)cell;
  c->bytes = copy;
  c->len = (uint32_t)len;
  return copy;
}

static const struct db_cell *cell_at(const struct db_rows *rows, int row, int col) {
  if (!rows || row < 0 || row >= rows->nrows || col < 0 || col >= rows->ncols)
    return NULL;
  const struct db_cell *cell = rows->cells + (size_t)row * (size_t)rows->ncols + (size_t)col;
  return cell->type == DB_NULL ? NULL : cell;
}

int db_rows_count(const struct db_rows *rows) {
  return rows ? rows->nrows : 0;
}

int db_rows_columns(const struct db_rows *rows) {
  return rows ? rows->ncols : 0;
}

const char *db_rows_name(const struct db_rows *rows, int col) {
  if (!rows || col < 0 || col >= rows->ncols)
    return NULL;
  return rows->names[col];
}

int db_rows_is_null(const struct db_rows *rows, int row, int col) {
  return cell_at(rows, row, col) == NULL;
}

/* TEXT cells read leniently as numbers (e.g. PostgreSQL NUMERIC). */
int64_t db_rows_int(const struct db_rows *rows, int row, int col) {
  const struct db_cell *cell = cell_at(rows, row, col);
  if (!cell)
    return 0;
  switch (cell->type) {
  case DB_INT: return cell->n.i;
  case DB_REAL: {
    double r = cell->n.r;
    return isfinite(r) && r >= -9.2233720368547758e18 && r < 9.2233720368547758e18 ? (int64_t)r
                                                                                   : 0;
  }
  case DB_TEXT: return strtoll(cell->bytes, NULL, 10);
  default: return 0;
  }
}

double db_rows_real(const struct db_rows *rows, int row, int col) {
  const struct db_cell *cell = cell_at(rows, row, col);
  if (!cell)
    return 0;
  switch (cell->type) {
  case DB_INT: return (double)cell->n.i;
  case DB_REAL: return cell->n.r;
  case DB_TEXT: return strtod(cell->bytes, NULL);
  default: return 0;
  }
}

const char *db_rows_text(const struct db_rows *rows, int row, int col) {
  const struct db_cell *cell = cell_at(rows, row, col);
  if (!cell)
    return NULL;
  return cell->type == DB_INT || cell->type == DB_REAL ? number_text(rows, cell) : cell->bytes;
}

const void *db_rows_blob(const struct db_rows *rows, int row, int col, size_t *len) {
  const struct db_cell *cell = cell_at(rows, row, col);
  const char *bytes = NULL;
  if (cell)
    bytes = cell->type == DB_INT || cell->type == DB_REAL ? number_text(rows, cell) : cell->bytes;
  if (len)
    *len = bytes ? cell->len : 0;
  return bytes;
}

void db_rows_free(struct db_rows *rows) {
  if (!rows)
    return;
  struct db_arena_block *b = rows->arena;
  while (b) {
    struct db_arena_block *next = b->next;
    db_free(b);
    b = next;
  }
  db_free(rows->cells);
  db_free(rows);
}

int db_test_cached_statements(struct db_conn *conn) {
  return conn->db->driver->cached_statements(conn);
}

int db_test_reprepares(struct db_conn *conn) {
  return conn->db->driver->reprepares(conn);
}

int db_notify(struct db_conn *c, const char *channel, const char *payload, struct ff_error *err) {
  if (c->db->driver != &db_postgres_driver)
    return ff_fail(err, FF_EUNSUPPORTED, "NOTIFY needs PostgreSQL");
  if (strlen(payload) > DB_NOTIFY_MAX)
    return ff_fail(err, FF_ETOOBIG, "a notification is at most %d bytes", DB_NOTIFY_MAX);
  return db_exec(c, "SELECT pg_notify(" DB_PG_CHANNEL_SQL("$1") ", $2)",
                 DB_ARGS(db_text(channel), db_text(payload)), NULL, err);
}
