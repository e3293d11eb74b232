/* db_postgres.c — the PostgreSQL backend, on libpq.
 *
 * Each pooled connection is one PGconn. Statements are prepared on first use
 * under a generated name (ff_N) and cached per connection, keyed by the SQL
 * text; the server keeps the plan. Parameters go as text, except blobs,
 * which go as binary bytea so NUL bytes need no escaping. Results come back
 * as text and are converted by column type: integers to int64, floats to
 * double, bytea decoded, everything else kept as text.
 *
 * A connection found broken on db_acquire is reset (PQreset); its server
 * side prepared statements are gone then, so the cache is emptied too. A
 * statement the server no longer knows (SQLSTATE 26000, e.g. after DEALLOCATE
 * or a reset behind our back) is prepared again once, outside transactions.
 */
#include "db_internal.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG_STMT_CACHE_MAX 128
#define PG_STMT_NAME_MAX 24

/* Every write transaction takes a transaction-level advisory lock, so write
 * transactions serialise as they do on SQLite (see docs/DB.md). The key is
 * derived from the current schema: footfall installations (or test runs) in
 * different schemas of one database do not wait for each other. */
static const char *const WRITE_LOCK_SQL =
    "SELECT pg_advisory_xact_lock(hashtextextended(COALESCE(current_schema(), ''), 1))";

/* Type OIDs from the server's catalog (pg_type.h is not a client header). */
enum {
  OID_BOOL = 16,
  OID_BYTEA = 17,
  OID_INT8 = 20,
  OID_INT2 = 21,
  OID_INT4 = 23,
  OID_OID = 26,
  OID_FLOAT4 = 700,
  OID_FLOAT8 = 701,
};

struct cached_stmt {
  uint64_t hash;
  char *sql;
  char name[PG_STMT_NAME_MAX];
  int nparams;
  uint64_t last_used;
};

struct pg_conn {
  PGconn *pg;
  struct cached_stmt cache[PG_STMT_CACHE_MAX];
  int ncached;
  uint64_t use_clock;
  uint64_t next_name;
  bool in_tx;
  int busy_timeout_ms;
};

static void ignore_notice(void *arg, const char *message) {
  (void)arg;
  (void)message; /* library code does not write to stderr; NOTICEs are noise */
}

static int pg_status(const char *sqlstate) {
  if (!sqlstate)
    return FF_EDB;
  if (!strcmp(sqlstate, "23505"))
    return FF_ECONFLICT;
  if (!strcmp(sqlstate, "23503") || !strcmp(sqlstate, "23514") || !strcmp(sqlstate, "23502"))
    return FF_EINVAL;
  /* lock_timeout, serialization failure, deadlock: worth a retry */
  if (!strcmp(sqlstate, "55P03") || !strcmp(sqlstate, "40001") || !strcmp(sqlstate, "40P01"))
    return FF_EBUSY;
  return FF_EDB;
}

/* libpq's messages end in a newline; ff_error messages do not. */
static int fail_message(struct ff_error *err, int status, const char *prefix, const char *message) {
  size_t len = message ? strlen(message) : 0;
  while (len && (message[len - 1] == '\n' || message[len - 1] == ' '))
    len--;
  return ff_fail(err, status, "%s%.*s", prefix, (int)len, message ? message : "");
}

static int fail_result(struct pg_conn *pc, PGresult *res, struct ff_error *err) {
  if (PQstatus(pc->pg) != CONNECTION_OK)
    return fail_message(err, FF_EDB, "connection lost: ", PQerrorMessage(pc->pg));
  if (!res)
    return fail_message(err, FF_EDB, "", PQerrorMessage(pc->pg));
  const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
  int status = pg_status(PQresultErrorField(res, PG_DIAG_SQLSTATE));
  if (!primary)
    return fail_message(err, status, "", PQresultErrorMessage(res));
  if (detail)
    return ff_fail(err, status, "%s (%s)", primary, detail);
  return ff_fail(err, status, "%s", primary);
}

static bool result_ok(PGresult *res) {
  ExecStatusType s = PQresultStatus(res);
  return res && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

static int simple_exec(struct pg_conn *pc, const char *sql, struct ff_error *err) {
  PGresult *res = PQexec(pc->pg, sql);
  int rc = result_ok(res) || PQresultStatus(res) == PGRES_EMPTY_QUERY ? FF_OK
                                                                      : fail_result(pc, res, err);
  PQclear(res);
  return rc;
}

/* Per-session settings; run after every (re)connect. */
static int configure_session(struct pg_conn *pc, struct ff_error *err) {
  PQsetNoticeProcessor(pc->pg, ignore_notice, NULL);
  char sql[64];
  snprintf(sql, sizeof sql, "SET lock_timeout = %d", pc->busy_timeout_ms);
  return simple_exec(pc, sql, err);
}

static void forget_statements(struct pg_conn *pc) {
  for (int i = 0; i < pc->ncached; i++)
    db_free(pc->cache[i].sql);
  pc->ncached = 0;
}

static int pg_connect(struct db *db, struct db_conn *conn, struct ff_error *err) {
  struct pg_conn *pc = db_calloc(1, sizeof *pc);
  if (!pc)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  pc->busy_timeout_ms = db->busy_timeout_ms;
  /* Keywords before dbname are defaults the URL may override. */
  const char *keys[] = {"fallback_application_name", "client_encoding", "connect_timeout", "dbname",
                        NULL};
  const char *values[] = {"footfall", "UTF8", "10", db->target, NULL};
  pc->pg = PQconnectdbParams(keys, values, 1);
  int rc;
  if (!pc->pg) {
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
  } else if (PQstatus(pc->pg) != CONNECTION_OK) {
    rc = fail_message(err, FF_EDB, "cannot connect to PostgreSQL: ", PQerrorMessage(pc->pg));
  } else {
    rc = configure_session(pc, err);
  }
  if (rc != FF_OK) {
    PQfinish(pc->pg);
    db_free(pc);
    return rc;
  }
  conn->backend = pc;
  return FF_OK;
}

static void pg_disconnect(struct db_conn *conn) {
  struct pg_conn *pc = conn->backend;
  forget_statements(pc);
  PQfinish(pc->pg);
  db_free(pc);
  conn->backend = NULL;
}

static void pg_check(struct db_conn *conn) {
  struct pg_conn *pc = conn->backend;
  if (PQstatus(pc->pg) == CONNECTION_OK)
    return;
  /* The server's prepared statements died with the old session. */
  forget_statements(pc);
  pc->in_tx = false;
  PQreset(pc->pg);
  if (PQstatus(pc->pg) == CONNECTION_OK)
    configure_session(pc, NULL);
  /* Still broken: statements fail with FF_EDB and the next acquire retries. */
}

static void drop_statement(struct pg_conn *pc, int slot, bool deallocate) {
  if (deallocate) {
    char sql[PG_STMT_NAME_MAX + 16];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", pc->cache[slot].name);
    PQclear(PQexec(pc->pg, sql)); /* a failure only leaks a server-side plan */
  }
  db_free(pc->cache[slot].sql);
  pc->cache[slot] = pc->cache[--pc->ncached];
}

static struct cached_stmt *find_statement(struct pg_conn *pc, const char *sql, uint64_t hash) {
  for (int i = 0; i < pc->ncached; i++)
    if (pc->cache[i].hash == hash && !strcmp(pc->cache[i].sql, sql))
      return &pc->cache[i];
  return NULL;
}

static int prepare_statement(struct pg_conn *pc, const char *sql, uint64_t hash,
                             struct cached_stmt **out, struct ff_error *err) {
  if (pc->ncached == PG_STMT_CACHE_MAX) {
    int lru = 0;
    for (int i = 1; i < pc->ncached; i++)
      if (pc->cache[i].last_used < pc->cache[lru].last_used)
        lru = i;
    drop_statement(pc, lru, true);
  }
  struct cached_stmt s = {.hash = hash};
  snprintf(s.name, sizeof s.name, "ff_%llu", (unsigned long long)++pc->next_name);
  s.sql = db_strdup(sql);
  if (!s.sql)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  PGresult *res = PQprepare(pc->pg, s.name, sql, 0, NULL);
  int rc = result_ok(res) ? FF_OK : fail_result(pc, res, err);
  PQclear(res);
  if (rc == FF_OK) {
    /* The parameter count lets us refuse a wrong argument list the same way
     * on both backends. */
    res = PQdescribePrepared(pc->pg, s.name);
    if (result_ok(res))
      s.nparams = PQnparams(res);
    else
      rc = fail_result(pc, res, err);
    PQclear(res);
    if (rc != FF_OK) {
      char dealloc[PG_STMT_NAME_MAX + 16];
      snprintf(dealloc, sizeof dealloc, "DEALLOCATE %s", s.name);
      PQclear(PQexec(pc->pg, dealloc));
    }
  }
  if (rc != FF_OK) {
    db_free(s.sql);
    return rc;
  }
  s.last_used = ++pc->use_clock;
  pc->cache[pc->ncached] = s;
  *out = &pc->cache[pc->ncached++];
  return FF_OK;
}

/* Text form of each parameter (binary for blobs). `scratch` holds numbers
 * and length-delimited texts; freed by the caller. */
static int encode_params(const struct db_value *params, int nparams, const char **values,
                         int *lengths, int *formats, char **scratch, struct ff_error *err) {
  size_t need = 0;
  for (int i = 0; i < nparams; i++) {
    if (params[i].type == DB_INT || params[i].type == DB_REAL)
      need += 40;
    else if (params[i].type == DB_TEXT && params[i].v.b.len)
      need += params[i].v.b.len + 1;
  }
  *scratch = NULL;
  if (need && !(*scratch = db_malloc(need)))
    return ff_fail(err, FF_ENOMEM, "out of memory");
  char *p = *scratch;
  for (int i = 0; i < nparams; i++) {
    const struct db_value *v = &params[i];
    values[i] = NULL;
    lengths[i] = 0;
    formats[i] = 0;
    switch (v->type) {
    case DB_NULL: break;
    case DB_INT:
      snprintf(p, 40, "%lld", (long long)v->v.i);
      values[i] = p;
      p += 40;
      break;
    case DB_REAL:
      db_format_real(v->v.r, p, 40);
      values[i] = p;
      p += 40;
      break;
    case DB_TEXT:
      if (v->v.b.len) {
        memcpy(p, v->v.b.ptr, v->v.b.len);
        p[v->v.b.len] = '\0';
        values[i] = p;
        p += v->v.b.len + 1;
      } else {
        values[i] = v->v.b.ptr;
      }
      break;
    case DB_BLOB:
      if (v->v.b.len > 0x7fffffff)
        return ff_fail(err, FF_ETOOBIG, "parameter $%d is too big", i + 1);
      values[i] = v->v.b.len ? v->v.b.ptr : "";
      lengths[i] = (int)v->v.b.len;
      formats[i] = 1;
      break;
    }
  }
  return FF_OK;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int set_bytea(struct db_rows *rows, struct db_cell *cell, const char *text, size_t len) {
  if (len >= 2 && text[0] == '\\' && text[1] == 'x') { /* hex format, the default */
    size_t n = (len - 2) / 2;
    if (n > UINT32_MAX)
      return FF_ETOOBIG;
    char *bytes = db_rows_arena_alloc(rows, n);
    if (!bytes)
      return FF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      int hi = hex_value(text[2 + 2 * i]), lo = hex_value(text[3 + 2 * i]);
      if (hi < 0 || lo < 0)
        return FF_EDB;
      bytes[i] = (char)(hi << 4 | lo);
    }
    cell->type = DB_BLOB;
    cell->bytes = bytes;
    cell->len = (uint32_t)n;
    return FF_OK;
  }
  size_t n; /* bytea_output = escape */
  unsigned char *raw = PQunescapeBytea((const unsigned char *)text, &n);
  if (!raw)
    return FF_ENOMEM;
  int rc = db_cell_set_bytes(rows, cell, DB_BLOB, raw, n);
  PQfreemem(raw);
  return rc;
}

static int materialise(PGresult *res, struct db_rows **out, struct ff_error *err) {
  int ncols = PQnfields(res), nrows = PQntuples(res);
  struct db_rows *rows = db_rows_new(ncols);
  if (!rows)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  int rc = FF_OK;
  for (int c = 0; c < ncols && rc == FF_OK; c++)
    rc = db_rows_set_name(rows, c, PQfname(res, c));
  for (int r = 0; r < nrows && rc == FF_OK; r++) {
    struct db_cell *row = db_rows_append(rows);
    if (!row) {
      rc = FF_ENOMEM;
      break;
    }
    for (int c = 0; c < ncols && rc == FF_OK; c++) {
      if (PQgetisnull(res, r, c))
        continue;
      const char *text = PQgetvalue(res, r, c);
      size_t len = (size_t)PQgetlength(res, r, c);
      switch (PQftype(res, c)) {
      case OID_INT8:
      case OID_INT4:
      case OID_INT2:
      case OID_OID: rc = db_cell_set_int(rows, &row[c], strtoll(text, NULL, 10)); break;
      case OID_BOOL: rc = db_cell_set_int(rows, &row[c], text[0] == 't'); break;
      case OID_FLOAT4:
      case OID_FLOAT8: rc = db_cell_set_real(rows, &row[c], strtod(text, NULL)); break;
      case OID_BYTEA: rc = set_bytea(rows, &row[c], text, len); break;
      default: rc = db_cell_set_bytes(rows, &row[c], DB_TEXT, text, len); break;
      }
    }
  }
  if (rc != FF_OK) {
    db_rows_free(rows);
    return rc == FF_ENOMEM ? ff_fail(err, FF_ENOMEM, "out of memory")
                           : ff_fail(err, FF_EDB, "malformed bytea value from the server");
  }
  *out = rows;
  return FF_OK;
}

static int pg_run(struct db_conn *conn, const char *sql, const struct db_value *params, int nparams,
                  int64_t *changes, struct db_rows **out, struct ff_error *err) {
  struct pg_conn *pc = conn->backend;
  uint64_t hash = db_hash_text(sql);
  /* Outside a transaction a failed statement can simply be retried. */
  bool may_retry = PQtransactionStatus(pc->pg) == PQTRANS_IDLE;
  for (int attempt = 0;; attempt++) {
    struct cached_stmt *s = find_statement(pc, sql, hash);
    int rc = FF_OK;
    if (!s && (rc = prepare_statement(pc, sql, hash, &s, err)) != FF_OK)
      return rc;
    s->last_used = ++pc->use_clock;
    if (s->nparams != nparams)
      return ff_fail(err, FF_EINVAL, "statement takes %d parameters, %d given", s->nparams,
                     nparams);

    const char **values = NULL;
    int *lengths = NULL, *formats = NULL;
    char *scratch = NULL;
    if (nparams) {
      values = db_calloc((size_t)nparams, sizeof *values);
      lengths = db_calloc((size_t)nparams, sizeof *lengths);
      formats = db_calloc((size_t)nparams, sizeof *formats);
      if (!values || !lengths || !formats)
        rc = ff_fail(err, FF_ENOMEM, "out of memory");
      else
        rc = encode_params(params, nparams, values, lengths, formats, &scratch, err);
    }
    PGresult *res = NULL;
    if (rc == FF_OK)
      res = PQexecPrepared(pc->pg, s->name, nparams, values, lengths, formats, 0);
    db_free(values);
    db_free(lengths);
    db_free(formats);
    db_free(scratch);
    if (rc != FF_OK)
      return rc;

    if (result_ok(res)) {
      if (changes) {
        const char *tuples = PQcmdTuples(res);
        *changes = *tuples ? strtoll(tuples, NULL, 10) : 0;
      }
      rc = out ? materialise(res, out, err) : FF_OK;
      PQclear(res);
      return rc;
    }
    if (PQresultStatus(res) == PGRES_EMPTY_QUERY) {
      PQclear(res);
      return ff_fail(err, FF_EINVAL, "empty SQL statement");
    }
    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (sqlstate && !strcmp(sqlstate, "26000") && may_retry && attempt == 0) {
      PQclear(res);
      drop_statement(pc, (int)(s - pc->cache), false);
      continue;
    }
    rc = fail_result(pc, res, err);
    PQclear(res);
    return rc;
  }
}

static int pg_script(struct db_conn *conn, const char *sql, struct ff_error *err) {
  return simple_exec(conn->backend, sql, err);
}

static int pg_begin(struct db_conn *conn, enum db_tx kind, struct ff_error *err) {
  struct pg_conn *pc = conn->backend;
  int rc;
  if (kind == DB_TX_READ) {
    /* One snapshot for the whole transaction, and no writes: what a deferred
     * SQLite transaction with query_only gives. */
    rc = simple_exec(pc, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err);
    pc->in_tx = rc == FF_OK;
    return rc;
  }
  if ((rc = simple_exec(pc, "BEGIN", err)) != FF_OK)
    return rc;
  pc->in_tx = true;
  if ((rc = simple_exec(pc, WRITE_LOCK_SQL, err)) != FF_OK) {
    simple_exec(pc, "ROLLBACK", NULL);
    pc->in_tx = false;
  }
  return rc;
}

static int pg_commit(struct db_conn *conn, struct ff_error *err) {
  struct pg_conn *pc = conn->backend;
  pc->in_tx = false;
  if (PQtransactionStatus(pc->pg) == PQTRANS_INERROR) {
    simple_exec(pc, "ROLLBACK", NULL);
    return ff_fail(err, FF_EDB, "the transaction was rolled back by an earlier error");
  }
  PGresult *res = PQexec(pc->pg, "COMMIT");
  int rc;
  if (!result_ok(res))
    rc = fail_result(pc, res, err);
  else if (!strcmp(PQcmdStatus(res), "ROLLBACK"))
    rc = ff_fail(err, FF_EDB, "the transaction was rolled back by an earlier error");
  else
    rc = FF_OK;
  PQclear(res);
  return rc;
}

static int pg_rollback(struct db_conn *conn) {
  struct pg_conn *pc = conn->backend;
  pc->in_tx = false;
  return simple_exec(pc, "ROLLBACK", NULL);
}

static bool pg_in_transaction(struct db_conn *conn) {
  struct pg_conn *pc = conn->backend;
  PGTransactionStatusType s = PQtransactionStatus(pc->pg);
  return pc->in_tx || s == PQTRANS_INTRANS || s == PQTRANS_INERROR;
}

static int pg_cached_statements(struct db_conn *conn) {
  return ((struct pg_conn *)conn->backend)->ncached;
}

static int pg_reprepares(struct db_conn *conn) {
  (void)conn; /* the server prepares; nothing expires on our side */
  return 0;
}

const struct db_driver db_postgres_driver = {
    .backend = DB_POSTGRES,
    .name = "postgres",
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .check = pg_check,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .run = pg_run,
    .script = pg_script,
    .in_transaction = pg_in_transaction,
    .cached_statements = pg_cached_statements,
    .reprepares = pg_reprepares,
};

/* ---- LISTEN/NOTIFY (db.h) ---- */

#define LISTEN_MAX_CHANNELS 4
#define LISTEN_POLL_MS 200
#define LISTEN_BACKOFF_MIN_MS 100
#define LISTEN_BACKOFF_MAX_MS 5000

struct db_listener {
  struct db *db;
  char *channels[LISTEN_MAX_CHANNELS]; /* base names */
  char *full[LISTEN_MAX_CHANNELS];     /* per-schema names, once connected */
  int count;
  db_notify_fn fn;
  void *arg;
  PGconn *pg;
  pthread_t thread;
  atomic_int stop;
  atomic_int reconnects;
};

/* Connects and LISTENs on every channel. */
static int listen_connect(struct db_listener *l, struct ff_error *err) {
  const char *keys[] = {"fallback_application_name", "client_encoding", "connect_timeout", "dbname",
                        NULL};
  const char *values[] = {"footfall-listener", "UTF8", "10", l->db->target, NULL};
  PGconn *pg = PQconnectdbParams(keys, values, 1);
  if (!pg)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  if (PQstatus(pg) != CONNECTION_OK) {
    int rc = fail_message(err, FF_EDB, "cannot connect to PostgreSQL: ", PQerrorMessage(pg));
    PQfinish(pg);
    return rc;
  }
  PQsetNoticeProcessor(pg, ignore_notice, NULL);
  int rc = FF_OK;
  for (int i = 0; i < l->count && rc == FF_OK; i++) {
    const char *params[1] = {l->channels[i]};
    PGresult *res =
        PQexecParams(pg, "SELECT " DB_PG_CHANNEL_SQL("$1"), 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
      rc = fail_message(err, FF_EDB, "listen: ", PQerrorMessage(pg));
    } else {
      db_free(l->full[i]);
      l->full[i] = db_strdup(PQgetvalue(res, 0, 0));
      char sql[160];
      /* The name is ff_ + [a-z_] + hex: safe as a quoted identifier. */
      snprintf(sql, sizeof sql, "LISTEN \"%s\"", l->full[i] ? l->full[i] : "");
      PGresult *lr = l->full[i] ? PQexec(pg, sql) : NULL;
      if (!lr || PQresultStatus(lr) != PGRES_COMMAND_OK)
        rc = fail_message(err, FF_EDB, "listen: ", PQerrorMessage(pg));
      PQclear(lr);
    }
    PQclear(res);
  }
  if (rc) {
    PQfinish(pg);
    return rc;
  }
  l->pg = pg;
  return FF_OK;
}

static const char *base_of(const struct db_listener *l, const char *full) {
  for (int i = 0; i < l->count; i++)
    if (l->full[i] && !strcmp(l->full[i], full))
      return l->channels[i];
  return NULL;
}

static void *listen_main(void *arg) {
  struct db_listener *l = arg;
  l->fn(l->arg, NULL, NULL); /* the first LISTEN is in place */
  int backoff = LISTEN_BACKOFF_MIN_MS;
  while (!atomic_load(&l->stop)) {
    if (!l->pg) {
      if (listen_connect(l, NULL) == FF_OK) {
        backoff = LISTEN_BACKOFF_MIN_MS;
        atomic_fetch_add(&l->reconnects, 1);
        l->fn(l->arg, NULL, NULL);
      } else {
        for (int waited = 0; waited < backoff && !atomic_load(&l->stop); waited += 50)
          usleep(50 * 1000);
        backoff = backoff * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS : backoff * 2;
      }
      continue;
    }
    struct pollfd pfd = {.fd = PQsocket(l->pg), .events = POLLIN};
    int ready = pfd.fd >= 0 ? poll(&pfd, 1, LISTEN_POLL_MS) : -1;
    if (ready < 0 || (ready > 0 && !PQconsumeInput(l->pg)) || PQstatus(l->pg) != CONNECTION_OK) {
      PQfinish(l->pg);
      l->pg = NULL;
      continue;
    }
    PGnotify *n;
    while ((n = PQnotifies(l->pg))) {
      const char *base = base_of(l, n->relname);
      if (base)
        l->fn(l->arg, base, n->extra);
      PQfreemem(n);
    }
  }
  return NULL;
}

static void listener_free(struct db_listener *l) {
  for (int i = 0; i < l->count; i++) {
    db_free(l->channels[i]);
    db_free(l->full[i]);
  }
  db_free(l);
}

int db_listen(struct db *db, const char *const *channels, int count, db_notify_fn fn, void *arg,
              struct db_listener **out, struct ff_error *err) {
  *out = NULL;
  if (db->driver != &db_postgres_driver)
    return ff_fail(err, FF_EUNSUPPORTED, "LISTEN/NOTIFY needs PostgreSQL");
  if (count < 1 || count > LISTEN_MAX_CHANNELS)
    return ff_fail(err, FF_EINVAL, "1 to %d channels", LISTEN_MAX_CHANNELS);
  struct db_listener *l = db_calloc(1, sizeof *l);
  if (!l)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  l->db = db;
  l->fn = fn;
  l->arg = arg;
  l->count = count;
  int rc = FF_OK;
  for (int i = 0; i < count && rc == FF_OK; i++)
    if (!(l->channels[i] = db_strdup(channels[i])))
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
  if (rc == FF_OK)
    rc = listen_connect(l, err);
  if (rc == FF_OK && pthread_create(&l->thread, NULL, listen_main, l)) {
    PQfinish(l->pg);
    rc = ff_fail(err, FF_ENOMEM, "cannot start the listener thread");
  }
  if (rc) {
    listener_free(l);
    return rc;
  }
  *out = l;
  return FF_OK;
}

void db_listen_stop(struct db_listener *l) {
  if (!l)
    return;
  atomic_store(&l->stop, 1);
  pthread_join(l->thread, NULL);
  if (l->pg)
    PQfinish(l->pg);
  listener_free(l);
}

int db_listen_reconnects(const struct db_listener *l) {
  return l ? atomic_load(&l->reconnects) : 0;
}
