/* migrate.c — numbered schema migrations, embedded in the binary.
 *
 * src/db/migrations/<backend>/NNNN_name.sql become db_migrations_<backend>[]
 * at build time (embed_migrations.cmake). Each pending migration runs in a
 * write transaction of its own together with its row in schema_migrations,
 * so a failure leaves the database at the previous version. Concurrent
 * migrators (several server processes starting at once) serialise on the
 * write transaction (SQLite: BEGIN IMMEDIATE) and, on PostgreSQL, on an
 * advisory lock; the second one finds nothing left to do.
 */
#include "db_internal.h"

#include <stdio.h>

static const char *const CREATE_SCHEMA_MIGRATIONS = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                                    " version INTEGER PRIMARY KEY,"
                                                    " name TEXT NOT NULL,"
                                                    " applied_at BIGINT NOT NULL)";

static const struct db_migration *known_migrations(struct db *db, int *count) {
  if (db_backend(db) == DB_POSTGRES) {
    *count = db_migrations_postgres_count;
    return db_migrations_postgres;
  }
  *count = db_migrations_sqlite_count;
  return db_migrations_sqlite;
}

static int latest_known(struct db *db) {
  int count;
  const struct db_migration *m = known_migrations(db, &count);
  return count ? m[count - 1].version : 0;
}

static struct db_conn *acquire(struct db *db, struct ff_error *err) {
  /* Waiting as long as a lock would is the natural bound here. */
  struct db_conn *conn = db_acquire(db, db->busy_timeout_ms);
  if (!conn)
    ff_fail(err, FF_EBUSY, "no free database connection");
  return conn;
}

static int table_exists(struct db_conn *conn, bool *exists, struct ff_error *err) {
  const char *sql = db_backend(conn->db) == DB_POSTGRES
                        ? "SELECT to_regclass('schema_migrations') IS NOT NULL"
                        : "SELECT count(*) FROM sqlite_master"
                          " WHERE type = 'table' AND name = 'schema_migrations'";
  struct db_rows *rows;
  int rc = db_query(conn, sql, DB_NOARGS, &rows, err);
  if (rc != FF_OK)
    return rc;
  *exists = db_rows_int(rows, 0, 0) != 0;
  db_rows_free(rows);
  return FF_OK;
}

int db_schema_version(struct db *db, int *current, int *latest, struct ff_error *err) {
  *current = 0;
  *latest = latest_known(db);
  struct db_conn *conn = acquire(db, err);
  if (!conn)
    return FF_EBUSY;
  bool exists = false;
  int rc = table_exists(conn, &exists, err);
  if (rc == FF_OK && exists) {
    struct db_rows *rows;
    rc = db_query(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", DB_NOARGS, &rows,
                  err);
    if (rc == FF_OK) {
      *current = (int)db_rows_int(rows, 0, 0);
      db_rows_free(rows);
    }
  }
  db_release(conn);
  return rc;
}

/* In an open write transaction: picks the first migration not applied yet,
 * or NULL when the schema is current. Refuses a database from the future. */
static int next_pending(struct db_conn *conn, const struct db_migration **next,
                        struct ff_error *err) {
  *next = NULL;
  int count;
  const struct db_migration *known = known_migrations(conn->db, &count);
  int latest = count ? known[count - 1].version : 0;
  struct db_rows *rows;
  int rc = db_query(conn, "SELECT version FROM schema_migrations ORDER BY version", DB_NOARGS,
                    &rows, err);
  if (rc != FF_OK)
    return rc;
  int applied = db_rows_count(rows);
  int k = 0;
  for (int r = 0; r < applied && rc == FF_OK; r++) {
    int64_t version = db_rows_int(rows, r, 0);
    if (version > latest) {
      rc = ff_fail(err, FF_EUNSUPPORTED,
                   "the database schema is at version %lld, newer than this binary knows (%d); "
                   "run a newer footfall",
                   (long long)version, latest);
      break;
    }
    while (k < count && known[k].version < version) {
      if (!*next)
        *next = &known[k];
      k++;
    }
    if (k == count || known[k].version != version)
      rc = ff_fail(err, FF_EUNSUPPORTED,
                   "the database has migration %lld, which this binary does not know",
                   (long long)version);
    else
      k++;
  }
  if (rc == FF_OK && !*next && k < count)
    *next = &known[k];
  db_rows_free(rows);
  if (rc != FF_OK)
    *next = NULL;
  return rc;
}

static int apply_one(struct db_conn *conn, bool *done, struct ff_error *err) {
  *done = false;
  int rc = db_begin(conn, DB_TX_WRITE, err);
  if (rc != FF_OK)
    return rc;
  if (db_backend(conn->db) == DB_POSTGRES)
    /* Per schema, like the write lock (which already serialises us; this
     * one also holds off a migrator that bypasses db_begin). */
    rc = db_exec(
        conn, "SELECT pg_advisory_xact_lock(hashtextextended(COALESCE(current_schema(), ''), 2))",
        DB_NOARGS, NULL, err);
  if (rc == FF_OK)
    rc = db_exec_script(conn, CREATE_SCHEMA_MIGRATIONS, err);
  const struct db_migration *m = NULL;
  if (rc == FF_OK)
    rc = next_pending(conn, &m, err);
  if (rc != FF_OK || !m) {
    db_rollback(conn);
    *done = rc == FF_OK;
    return rc;
  }
  struct ff_error why = {0};
  rc = db_exec_script(conn, m->sql, &why);
  if (rc == FF_OK)
    rc = db_exec(conn,
                 "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                 DB_ARGS(db_int(m->version), db_text(m->name), db_int(db_now_ms())), NULL, &why);
  if (rc == FF_OK)
    rc = db_commit(conn, &why);
  else
    db_rollback(conn);
  if (rc != FF_OK)
    return ff_fail(err, rc, "migration %04d_%s: %s", m->version, m->name, why.message);
  return FF_OK;
}

int db_migrate(struct db *db, struct ff_error *err) {
  struct db_conn *conn = acquire(db, err);
  if (!conn)
    return FF_EBUSY;
  int rc = FF_OK;
  for (bool done = false; rc == FF_OK && !done;)
    rc = apply_one(conn, &done, err);
  db_release(conn);
  return rc;
}
