/* db_sqlite.c — the SQLite backend.
 *
 * Each pooled connection is its own sqlite3 handle (opened NOMUTEX: the pool
 * guarantees one thread at a time). Settings, and why:
 *  - journal_mode=WAL: readers never block the writer nor the writer them;
 *  - synchronous=NORMAL: in WAL mode a commit survives a process crash, and
 *    only a power loss may lose the last transactions (never corrupts);
 *  - foreign_keys=ON: off by default in SQLite, and the schema relies on it;
 *  - busy_timeout: a writer from another process waits instead of failing.
 * In-process writers queue on db->write_lock before BEGIN IMMEDIATE, so they
 * wait in order instead of sleeping and polling in SQLite's busy handler.
 */
#include "db_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <string.h>
#include <time.h>

#define SQLITE_STMT_CACHE_MAX 128

struct cached_stmt {
  uint64_t hash;
  const char *seen_at; /* where the caller's text was last time (usually a literal) */
  char *sql;           /* the caller's text, with $N */
  sqlite3_stmt *stmt;
  uint64_t last_used;
};

enum sqlite_tx { TX_NONE, TX_READ, TX_WRITE };

struct sqlite_conn {
  sqlite3 *handle;
  struct cached_stmt cache[SQLITE_STMT_CACHE_MAX];
  int ncached;
  uint64_t use_clock;
  enum sqlite_tx tx;
  /* A statement failed inside the transaction. PostgreSQL then refuses all
   * but ROLLBACK; we do the same, so callers behave alike on both. */
  bool tx_failed;
};

static int sqlite_status(int code) {
  switch (code) {
  case SQLITE_CONSTRAINT_UNIQUE:
  case SQLITE_CONSTRAINT_PRIMARYKEY: return FF_ECONFLICT;
  case SQLITE_CONSTRAINT_FOREIGNKEY:
  case SQLITE_CONSTRAINT_TRIGGER: /* ON DELETE RESTRICT is enforced by one */
  case SQLITE_CONSTRAINT_CHECK:
  case SQLITE_CONSTRAINT_NOTNULL: return FF_EINVAL;
  }
  switch (code & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED: return FF_EBUSY;
  case SQLITE_NOMEM: return FF_ENOMEM;
  }
  return FF_EDB;
}

static int fail_sqlite(sqlite3 *handle, struct ff_error *err) {
  int code = sqlite3_extended_errcode(handle);
  return ff_fail(err, sqlite_status(code), "%s", sqlite3_errmsg(handle));
}

char *db_sqlite_rewrite_placeholders(const char *sql) {
  size_t n = strlen(sql);
  char *out = db_malloc(n + 1);
  if (!out)
    return NULL;
  const char *p = sql;
  char *o = out;
  while (*p) {
    char c = *p;
    if (c == '\'' || c == '"' || c == '`' || c == '[') {
      char close = c == '[' ? ']' : c;
      *o++ = *p++;
      while (*p) {
        if (*p == close) {
          *o++ = *p++;
          if (close != ']' && *p == close) { /* doubled quote: an escaped one */
            *o++ = *p++;
            continue;
          }
          break;
        }
        *o++ = *p++;
      }
    } else if (c == '-' && p[1] == '-') {
      while (*p && *p != '\n')
        *o++ = *p++;
    } else if (c == '/' && p[1] == '*') {
      *o++ = *p++;
      *o++ = *p++;
      while (*p && !(p[0] == '*' && p[1] == '/'))
        *o++ = *p++;
      if (*p) {
        *o++ = *p++;
        *o++ = *p++;
      }
    } else if (c == '$' && p[1] >= '0' && p[1] <= '9') {
      *o++ = '?';
      p++;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

static int simple_exec(sqlite3 *handle, const char *sql, struct ff_error *err) {
  if (sqlite3_exec(handle, sql, NULL, NULL, NULL) != SQLITE_OK)
    return fail_sqlite(handle, err);
  return FF_OK;
}

/* SQLite keeps memory statistics by default, behind one process-wide mutex
 * taken on every allocation: with many request threads reading at once it
 * became the busiest lock of the server. Nothing here reads the statistics.
 * Must run before SQLite initialises (the first open); if something
 * initialised it earlier the call fails harmlessly. */
static pthread_once_t sqlite_configured = PTHREAD_ONCE_INIT;
static void sqlite_configure(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

static int sqlite_connect(struct db *db, struct db_conn *conn, struct ff_error *err) {
  pthread_once(&sqlite_configured, sqlite_configure);
  struct sqlite_conn *sc = db_calloc(1, sizeof *sc);
  if (!sc)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(db->target, &sc->handle, flags, NULL);
  if (rc != SQLITE_OK) {
    if (sc->handle)
      rc = ff_fail(err, sqlite_status(rc), "cannot open %s: %s", db->target,
                   sqlite3_errmsg(sc->handle));
    else
      rc = ff_fail(err, FF_ENOMEM, "cannot open %s: out of memory", db->target);
    sqlite3_close(sc->handle);
    db_free(sc);
    return rc;
  }
  sqlite3_extended_result_codes(sc->handle, 1);
  sqlite3_busy_timeout(sc->handle, db->busy_timeout_ms);
  if ((rc = simple_exec(sc->handle,
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                        "PRAGMA foreign_keys=ON;",
                        err)) != FF_OK) {
    sqlite3_close(sc->handle);
    db_free(sc);
    return rc;
  }
  conn->backend = sc;
  return FF_OK;
}

static void sqlite_disconnect(struct db_conn *conn) {
  struct sqlite_conn *sc = conn->backend;
  for (int i = 0; i < sc->ncached; i++) {
    sqlite3_finalize(sc->cache[i].stmt);
    db_free(sc->cache[i].sql);
  }
  sqlite3_close(sc->handle);
  db_free(sc);
  conn->backend = NULL;
}

static void sqlite_check(struct db_conn *conn) {
  (void)conn; /* a file handle does not break like a socket */
}

static bool only_space_left(const char *tail) {
  for (; tail && *tail; tail++)
    if (*tail != ' ' && *tail != '\t' && *tail != '\n' && *tail != '\r' && *tail != ';')
      return false;
  return true;
}

/* Finds the statement for sql in the cache, or prepares and caches it. */
static int statement_for(struct sqlite_conn *sc, const char *sql, sqlite3_stmt **out,
                         struct ff_error *err) {
  /* Most statements are string literals: found by where the text is (and
   * compared, as a buffer may hold another text now), without hashing. */
  for (int i = 0; i < sc->ncached; i++) {
    if (sc->cache[i].seen_at == sql && !strcmp(sc->cache[i].sql, sql)) {
      sc->cache[i].last_used = ++sc->use_clock;
      *out = sc->cache[i].stmt;
      return FF_OK;
    }
  }
  uint64_t hash = db_hash_text(sql);
  for (int i = 0; i < sc->ncached; i++) {
    if (sc->cache[i].hash == hash && !strcmp(sc->cache[i].sql, sql)) {
      sc->cache[i].last_used = ++sc->use_clock;
      sc->cache[i].seen_at = sql;
      *out = sc->cache[i].stmt;
      return FF_OK;
    }
  }
  char *copy = db_strdup(sql);
  char *rewritten = db_sqlite_rewrite_placeholders(sql);
  if (!copy || !rewritten) {
    db_free(copy);
    db_free(rewritten);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  sqlite3_stmt *stmt = NULL;
  const char *tail = NULL;
  int rc = sqlite3_prepare_v3(sc->handle, rewritten, -1, SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    rc = fail_sqlite(sc->handle, err);
  } else if (!stmt) {
    rc = ff_fail(err, FF_EINVAL, "empty SQL statement");
  } else if (!only_space_left(tail)) {
    rc = ff_fail(err, FF_EINVAL, "more than one SQL statement (use db_exec_script)");
  }
  db_free(rewritten);
  if (rc != FF_OK) {
    sqlite3_finalize(stmt);
    db_free(copy);
    return rc;
  }
  int slot = sc->ncached;
  if (slot == SQLITE_STMT_CACHE_MAX) { /* evict the least recently used */
    slot = 0;
    for (int i = 1; i < sc->ncached; i++)
      if (sc->cache[i].last_used < sc->cache[slot].last_used)
        slot = i;
    sqlite3_finalize(sc->cache[slot].stmt);
    db_free(sc->cache[slot].sql);
  } else {
    sc->ncached++;
  }
  sc->cache[slot] = (struct cached_stmt){hash, sql, copy, stmt, ++sc->use_clock};
  *out = stmt;
  return FF_OK;
}

/* Transaction control (BEGIN, COMMIT, ROLLBACK) through the statement
 * cache, so it is parsed once per connection rather than per transaction. */
static int control(struct sqlite_conn *sc, const char *sql, struct ff_error *err) {
  sqlite3_stmt *stmt = NULL;
  int rc = statement_for(sc, sql, &stmt, err);
  if (rc != FF_OK)
    return rc;
  rc = sqlite3_step(stmt) == SQLITE_DONE ? FF_OK : fail_sqlite(sc->handle, err);
  sqlite3_reset(stmt);
  return rc;
}

static void rollback_now(struct sqlite_conn *sc) {
  if (control(sc, "ROLLBACK", NULL) != FF_OK && !sqlite3_get_autocommit(sc->handle))
    sqlite3_exec(sc->handle, "ROLLBACK", NULL, NULL, NULL);
}

static int bind_params(sqlite3 *handle, sqlite3_stmt *stmt, const struct db_value *params,
                       int nparams, struct ff_error *err) {
  int expected = sqlite3_bind_parameter_count(stmt);
  if (expected != nparams)
    return ff_fail(err, FF_EINVAL, "statement takes %d parameters, %d given", expected, nparams);
  for (int i = 0; i < nparams; i++) {
    const struct db_value *v = &params[i];
    int rc = SQLITE_OK;
    switch (v->type) {
    case DB_NULL: rc = sqlite3_bind_null(stmt, i + 1); break;
    case DB_INT: rc = sqlite3_bind_int64(stmt, i + 1, v->v.i); break;
    case DB_REAL: rc = sqlite3_bind_double(stmt, i + 1, v->v.r); break;
    case DB_TEXT: {
      size_t len = v->v.b.len ? v->v.b.len : strlen(v->v.b.ptr);
      rc = sqlite3_bind_text64(stmt, i + 1, v->v.b.ptr, len, SQLITE_STATIC, SQLITE_UTF8);
      break;
    }
    case DB_BLOB:
      /* A NULL pointer would bind SQL NULL; an empty blob is a zeroblob. */
      rc = v->v.b.len ? sqlite3_bind_blob64(stmt, i + 1, v->v.b.ptr, v->v.b.len, SQLITE_STATIC)
                      : sqlite3_bind_zeroblob(stmt, i + 1, 0);
      break;
    }
    if (rc != SQLITE_OK)
      return rc == SQLITE_TOOBIG ? ff_fail(err, FF_ETOOBIG, "parameter $%d is too big", i + 1)
                                 : fail_sqlite(handle, err);
  }
  return FF_OK;
}

static int lock_writer(struct db *db, struct ff_error *err) {
  struct timespec deadline = ff_deadline_ms(db->busy_timeout_ms);
  int rc = pthread_mutex_clocklock(&db->write_lock, CLOCK_MONOTONIC, &deadline);
  if (rc == ETIMEDOUT)
    return ff_fail(err, FF_EBUSY, "another writer held the database for %d ms",
                   db->busy_timeout_ms);
  if (rc == EDEADLK)
    return ff_fail(err, FF_EINTERNAL,
                   "this thread already holds a write transaction on another connection");
  if (rc != 0)
    return ff_fail(err, FF_EINTERNAL, "write lock: %s", strerror(rc));
  return FF_OK;
}

static int copy_row(struct db_rows *rows, sqlite3_stmt *stmt) {
  struct db_cell *row = db_rows_append(rows);
  if (!row)
    return FF_ENOMEM;
  for (int c = 0; c < rows->ncols; c++) {
    int rc = FF_OK;
    /* One call per cell into the statement, then the value's accessors
     * (each sqlite3_column_* call enters the statement again). The value
     * is read at once, on this thread, before the next step. */
    sqlite3_value *v = sqlite3_column_value(stmt, c);
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: rc = db_cell_set_int(rows, &row[c], sqlite3_value_int64(v)); break;
    case SQLITE_FLOAT: rc = db_cell_set_real(rows, &row[c], sqlite3_value_double(v)); break;
    case SQLITE_TEXT: {
      const unsigned char *text = sqlite3_value_text(v);
      if (!text)
        return FF_ENOMEM;
      rc = db_cell_set_bytes(rows, &row[c], DB_TEXT, text, (size_t)sqlite3_value_bytes(v));
      break;
    }
    case SQLITE_BLOB: {
      const void *blob = sqlite3_value_blob(v);
      rc = db_cell_set_bytes(rows, &row[c], DB_BLOB, blob,
                             blob ? (size_t)sqlite3_value_bytes(v) : 0);
      break;
    }
    default: break; /* SQLITE_NULL: the cell is already NULL */
    }
    if (rc != FF_OK)
      return rc;
  }
  return FF_OK;
}

static int sqlite_run(struct db_conn *conn, const char *sql, const struct db_value *params,
                      int nparams, int64_t *changes, struct db_rows **out, struct ff_error *err) {
  struct sqlite_conn *sc = conn->backend;
  if (sc->tx_failed)
    return ff_fail(err, FF_EDB, "an earlier statement failed: the transaction must be rolled back");
  sqlite3_stmt *stmt = NULL;
  int rc = statement_for(sc, sql, &stmt, err);
  if (rc != FF_OK) {
    sc->tx_failed = sc->tx != TX_NONE;
    return rc;
  }
  /* A read transaction refuses writes, as PostgreSQL's READ ONLY does (and
   * the failure dooms it, as there). Checked here rather than with PRAGMA
   * query_only, which expires every prepared statement of the connection
   * each time it is set. */
  if (sc->tx == TX_READ && !sqlite3_stmt_readonly(stmt)) {
    sc->tx_failed = true;
    return ff_fail(err, FF_EDB, "cannot write in a read-only transaction");
  }
  struct db_rows *rows = NULL;
  /* A write outside a transaction queues behind in-process write
   * transactions too, rather than polling in the busy handler. */
  bool locked = false;
  if (sc->tx == TX_NONE && !sqlite3_stmt_readonly(stmt)) {
    if ((rc = lock_writer(conn->db, err)) != FF_OK)
      goto done;
    locked = true;
  }
  if ((rc = bind_params(sc->handle, stmt, params, nparams, err)) != FF_OK)
    goto done;
  if (out) {
    int ncols = sqlite3_column_count(stmt);
    rows = db_rows_new(ncols);
    if (!rows) {
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
      goto done;
    }
    for (int c = 0; c < ncols; c++) {
      const char *name = sqlite3_column_name(stmt, c);
      if (!name || db_rows_set_name(rows, c, name) != FF_OK) {
        rc = ff_fail(err, FF_ENOMEM, "out of memory");
        goto done;
      }
    }
  }
  for (;;) {
    int step = sqlite3_step(stmt);
    if (step == SQLITE_DONE)
      break;
    if (step != SQLITE_ROW) {
      rc = fail_sqlite(sc->handle, err);
      goto done;
    }
    if (rows && copy_row(rows, stmt) != FF_OK) {
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
      goto done;
    }
  }
  if (changes)
    *changes = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes64(sc->handle);
done:
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  if (locked)
    pthread_mutex_unlock(&conn->db->write_lock);
  if (rc != FF_OK) {
    sc->tx_failed = sc->tx != TX_NONE;
    db_rows_free(rows);
    return rc;
  }
  if (out)
    *out = rows;
  return FF_OK;
}

static int sqlite_script(struct db_conn *conn, const char *sql, struct ff_error *err) {
  struct sqlite_conn *sc = conn->backend;
  if (sc->tx_failed)
    return ff_fail(err, FF_EDB, "an earlier statement failed: the transaction must be rolled back");
  /* A script may write: outside a transaction it queues like a writer. */
  bool locked = sc->tx == TX_NONE;
  int rc = locked ? lock_writer(conn->db, err) : FF_OK;
  if (rc != FF_OK)
    return rc;
  /* Inside a read transaction a script may not write either (rare: only
   * here does query_only, with its cost, still serve). */
  if (sc->tx == TX_READ && (rc = simple_exec(sc->handle, "PRAGMA query_only=1", err)) != FF_OK)
    return rc;
  rc = simple_exec(sc->handle, sql, err);
  if (sc->tx == TX_READ)
    sqlite3_exec(sc->handle, "PRAGMA query_only=0", NULL, NULL, NULL);
  if (locked)
    pthread_mutex_unlock(&conn->db->write_lock);
  if (rc != FF_OK)
    sc->tx_failed = sc->tx != TX_NONE;
  return rc;
}

/* Leaves the connection with no transaction and no lock held by us. */
static void end_transaction(struct db_conn *conn) {
  struct sqlite_conn *sc = conn->backend;
  if (sc->tx == TX_WRITE)
    pthread_mutex_unlock(&conn->db->write_lock);
  sc->tx = TX_NONE;
  sc->tx_failed = false;
}

static int sqlite_begin(struct db_conn *conn, enum db_tx kind, struct ff_error *err) {
  struct sqlite_conn *sc = conn->backend;
  int rc;
  if (kind == DB_TX_WRITE) {
    if ((rc = lock_writer(conn->db, err)) != FF_OK)
      return rc;
    if ((rc = control(sc, "BEGIN IMMEDIATE", err)) != FF_OK) {
      pthread_mutex_unlock(&conn->db->write_lock);
      return rc;
    }
    sc->tx = TX_WRITE;
    return FF_OK;
  }
  /* A read transaction refuses writes (see sqlite_run). */
  if ((rc = control(sc, "BEGIN DEFERRED", err)) != FF_OK)
    return rc;
  sc->tx = TX_READ;
  return FF_OK;
}

static int sqlite_commit(struct db_conn *conn, struct ff_error *err) {
  struct sqlite_conn *sc = conn->backend;
  int rc = FF_OK;
  if (sc->tx_failed) {
    rollback_now(sc);
    rc = ff_fail(err, FF_EDB, "the transaction was rolled back after an earlier error");
  } else if (sqlite3_get_autocommit(sc->handle)) {
    /* SQLite already rolled back (after SQLITE_FULL, IOERR, NOMEM...). */
    rc = ff_fail(err, FF_EDB, "the transaction was rolled back by an earlier error");
  } else if ((rc = control(sc, "COMMIT", err)) != FF_OK) {
    /* A failed commit leaves nothing open, as on PostgreSQL. */
    rollback_now(sc);
  }
  end_transaction(conn);
  return rc;
}

static int sqlite_rollback(struct db_conn *conn) {
  struct sqlite_conn *sc = conn->backend;
  int rc = FF_OK;
  if (!sqlite3_get_autocommit(sc->handle)) {
    rollback_now(sc);
    if (!sqlite3_get_autocommit(sc->handle))
      rc = sqlite_status(sqlite3_extended_errcode(sc->handle));
  }
  end_transaction(conn);
  return rc;
}

static bool sqlite_in_transaction(struct db_conn *conn) {
  struct sqlite_conn *sc = conn->backend;
  return sc->tx != TX_NONE || !sqlite3_get_autocommit(sc->handle);
}

static int sqlite_cached_statements(struct db_conn *conn) {
  return ((struct sqlite_conn *)conn->backend)->ncached;
}

static int sqlite_reprepares(struct db_conn *conn) {
  struct sqlite_conn *sc = conn->backend;
  int n = 0;
  for (int i = 0; i < sc->ncached; i++)
    n += sqlite3_stmt_status(sc->cache[i].stmt, SQLITE_STMTSTATUS_REPREPARE, 0);
  return n;
}

/* --- the read-lock keeper ---------------------------------------------------
 * A read transaction in WAL mode takes a shared lock on one of the WAL
 * index's read marks, and releases it at its end. Within one process SQLite
 * counts these locks under a mutex and asks the kernel (fcntl) only when the
 * first connection takes one or the last lets it go. With one request at a
 * time every read transaction was first and last: two fcntl calls inside
 * that mutex per request, and with many request threads on few cores a
 * thread was often preempted inside it, so the others queued on the mutex
 * (futex). The keeper is one more connection, on a thread of its own, that
 * holds a read transaction and renews it every KEEPER_RENEW_MS: while no
 * write happens, request threads take the read mark it already holds, with
 * no fcntl and a short critical section. Its snapshot is at most
 * KEEPER_RENEW_MS old, so a checkpoint is held back at most that long, and
 * the WAL returns to its start (which needs no reader on the marks the
 * keeper may hold) at the next renewal. An optimisation only: if it cannot
 * start, everything works as without it. */
#define KEEPER_RENEW_MS 50

struct keeper {
  sqlite3 *handle;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  bool stop;
};

static void keeper_read(sqlite3 *handle) {
  sqlite3_exec(handle, "BEGIN DEFERRED; SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
}

static void *keeper_main(void *arg) {
  struct keeper *k = arg;
  pthread_mutex_lock(&k->lock);
  while (!k->stop) {
    pthread_mutex_unlock(&k->lock);
    keeper_read(k->handle);
    pthread_mutex_lock(&k->lock);
    struct timespec until = ff_deadline_ms(KEEPER_RENEW_MS);
    while (!k->stop && pthread_cond_timedwait(&k->wake, &k->lock, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&k->lock);
    sqlite3_exec(k->handle, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_lock(&k->lock);
  }
  pthread_mutex_unlock(&k->lock);
  return NULL;
}

static void sqlite_start(struct db *db) {
  if (!strcmp(db->target, ":memory:"))
    return;
  struct keeper *k = db_calloc(1, sizeof *k);
  if (!k)
    return;
  /* Only in WAL mode: there a reader never blocks a writer. (Were the file
   * in rollback-journal mode, a held read lock would keep writers out.) */
  sqlite3_stmt *mode = NULL;
  if (sqlite3_open_v2(db->target, &k->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(k->handle, "PRAGMA journal_mode", -1, &mode, NULL) != SQLITE_OK ||
      sqlite3_step(mode) != SQLITE_ROW ||
      sqlite3_stricmp((const char *)sqlite3_column_text(mode, 0), "wal")) {
    sqlite3_finalize(mode);
    sqlite3_close(k->handle);
    db_free(k);
    return;
  }
  sqlite3_finalize(mode);
  pthread_mutex_init(&k->lock, NULL);
  db_cond_init_monotonic(&k->wake);
  if (pthread_create(&k->thread, NULL, keeper_main, k)) {
    pthread_cond_destroy(&k->wake);
    pthread_mutex_destroy(&k->lock);
    sqlite3_close(k->handle);
    db_free(k);
    return;
  }
  db->backend = k;
}

static void sqlite_stop(struct db *db) {
  struct keeper *k = db->backend;
  pthread_mutex_lock(&k->lock);
  k->stop = true;
  pthread_cond_signal(&k->wake);
  pthread_mutex_unlock(&k->lock);
  pthread_join(k->thread, NULL);
  pthread_cond_destroy(&k->wake);
  pthread_mutex_destroy(&k->lock);
  sqlite3_close(k->handle);
  db_free(k);
  db->backend = NULL;
}

const struct db_driver db_sqlite_driver = {
    .backend = DB_SQLITE,
    .name = "sqlite",
    .start = sqlite_start,
    .stop = sqlite_stop,
    .connect = sqlite_connect,
    .disconnect = sqlite_disconnect,
    .check = sqlite_check,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .run = sqlite_run,
    .script = sqlite_script,
    .in_transaction = sqlite_in_transaction,
    .cached_statements = sqlite_cached_statements,
    .reprepares = sqlite_reprepares,
};
