/* The db interface, run against one backend (see harness.h). The same file
 * runs as ctest db.sqlite and db.postgres. */
#include "harness.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

TestSuite(db, .init = harness_setup, .fini = harness_teardown, .timeout = 120);

static struct db_conn *conn(void) {
  struct db_conn *c = db_acquire(db, 5000);
  cr_assert(c, "no connection");
  return c;
}

static int64_t query_int(struct db_conn *c, const char *sql) {
  struct db_rows *rows;
  CHECK(db_query(c, sql, DB_NOARGS, &rows, &E));
  cr_assert_eq(db_rows_count(rows), 1, "%s: %d rows", sql, db_rows_count(rows));
  int64_t v = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  return v;
}

static int known_migrations(void) {
  return harness_postgres() ? db_migrations_postgres_count : db_migrations_sqlite_count;
}

/* ---- migrations ---- */

Test(db, migrations_apply_once_and_are_idempotent) {
  int current = -1, latest = -1;
  CHECK(db_schema_version(db, &current, &latest, &E));
  cr_assert_eq(current, 0);
  cr_assert_geq(latest, 1);
  CHECK(db_migrate(db, &E));
  CHECK(db_schema_version(db, &current, &latest, &E));
  cr_assert_eq(current, latest);
  CHECK(db_migrate(db, &E));
  CHECK(db_schema_version(db, &current, &latest, &E));
  cr_assert_eq(current, latest);

  struct db_conn *c = conn();
  cr_assert_eq(query_int(c, "SELECT count(*) FROM schema_migrations"), known_migrations());
  struct db_rows *rows;
  CHECK(db_query(c, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version",
                 DB_NOARGS, &rows, &E));
  cr_assert_eq(db_rows_int(rows, 0, 0), 1);
  cr_assert_str_eq(db_rows_text(rows, 0, 1), "foundation");
  cr_assert_gt(db_rows_int(rows, 0, 2), (int64_t)1700000000000);
  db_rows_free(rows);
  /* The foundation tables are there and usable. */
  CHECK(db_exec(c, "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)",
                DB_ARGS(db_text("jwt_secret"), db_text("s3cr3t"), db_int(1)), NULL, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM settings"), 1);
  db_release(c);
}

Test(db, newer_schema_is_refused_without_changes) {
  CHECK(db_migrate(db, &E));
  int current, latest;
  CHECK(db_schema_version(db, &current, &latest, &E));
  struct db_conn *c = conn();
  CHECK(db_exec(c, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                DB_ARGS(db_int(latest + 1), db_text("from_the_future"), db_int(0)), NULL, &E));
  int64_t tables_before =
      harness_postgres()
          ? query_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
          : query_int(c, "SELECT count(*) FROM sqlite_master");
  db_release(c);

  EXPECT_FAIL(db_migrate(db, &E), FF_EUNSUPPORTED);
  cr_assert(strstr(E.message, "newer"), "message: %s", E.message);
  CHECK(db_schema_version(db, &current, &latest, &E));
  cr_assert_eq(current, latest + 1);

  c = conn();
  int64_t tables_after =
      harness_postgres()
          ? query_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
          : query_int(c, "SELECT count(*) FROM sqlite_master");
  cr_assert_eq(tables_after, tables_before);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM schema_migrations"), known_migrations() + 1);
  db_release(c);
}

Test(db, a_failed_migration_changes_nothing) {
  /* A table the foundation migration wants to create already exists: the
   * migration fails and its other tables are not left behind. */
  struct db_conn *c = conn();
  CHECK(db_exec_script(c, "CREATE TABLE audit_log (x INTEGER)", &E));
  db_release(c);
  EXPECT_FAIL(db_migrate(db, &E), FF_EDB);
  cr_assert(strstr(E.message, "0001_foundation"), "message: %s", E.message);
  int current, latest;
  CHECK(db_schema_version(db, &current, &latest, &E));
  cr_assert_eq(current, 0);
  c = conn();
  struct db_rows *rows;
  int rc = db_query(c, "SELECT count(*) FROM tenants", DB_NOARGS, &rows, &E);
  cr_assert_eq(rc, FF_EDB, "tenants exists after a failed migration");
  db_release(c);
}

struct migrator {
  int rc;
  char message[FF_ERROR_MESSAGE_MAX];
};

static void *migrate_thread(void *arg) {
  struct migrator *m = arg;
  struct ff_error err = {0};
  struct db *d;
  struct db_options o = {.url = harness_url, .pool_size = 1, .busy_timeout_ms = 30000};
  m->rc = db_open(&o, &d, &err);
  if (m->rc == FF_OK) {
    m->rc = db_migrate(d, &err);
    db_close(d);
  }
  memcpy(m->message, err.message, sizeof m->message);
  return NULL;
}

Test(db, concurrent_migrators_apply_each_migration_once) {
  enum { N = 4 };
  pthread_t threads[N];
  struct migrator m[N] = {0};
  for (int i = 0; i < N; i++)
    pthread_create(&threads[i], NULL, migrate_thread, &m[i]);
  for (int i = 0; i < N; i++) {
    pthread_join(threads[i], NULL);
    cr_assert_eq(m[i].rc, FF_OK, "migrator %d: %s", i, m[i].message);
  }
  struct db_conn *c = conn();
  cr_assert_eq(query_int(c, "SELECT count(*) FROM schema_migrations"), known_migrations());
  db_release(c);
}

/* ---- values ---- */

static void create_values_table(struct db_conn *c) {
  CHECK(db_exec_script(c,
                       harness_postgres()
                           ? "CREATE TABLE vals (k INTEGER, i BIGINT, r DOUBLE PRECISION, "
                             "s TEXT, b BYTEA)"
                           : "CREATE TABLE vals (k INTEGER, i INTEGER, r REAL, s TEXT, b BLOB)",
                       &E));
}

Test(db, every_value_type_round_trips) {
  struct db_conn *c = conn();
  create_values_table(c);
  const unsigned char blob[] = {0, 1, 2, 0, 0xff, 0x80, '\'', '\\', 0};
  const char *text = "it's \"quoted\" — Tiếng Việt 😀 $1 ?1 \\ end";
  const int64_t ints[] = {INT64_MIN, INT64_MAX, 0, -1, 1, 4294967296LL};
  const double reals[] = {0.1, -1e300, DBL_MAX, DBL_MIN, -0.5, 1.0 / 3.0, 123456789.125};
  const char *insert = "INSERT INTO vals (k, i, r, s, b) VALUES ($1, $2, $3, $4, $5)";
  for (int k = 0; k < 6; k++)
    CHECK(db_exec(c, insert,
                  DB_ARGS(db_int(k), db_int(ints[k]), db_real(reals[k]), db_text(text),
                          db_blob(blob, sizeof blob)),
                  NULL, &E));
  CHECK(db_exec(c, insert,
                DB_ARGS(db_int(6), db_null(), db_real(reals[6]), db_text(""), db_blob("", 0)), NULL,
                &E));
  CHECK(db_exec(c, insert,
                DB_ARGS(db_int(7), db_null(), db_null(), db_text(NULL), db_blob(NULL, 0)), NULL,
                &E));
  /* A text with an explicit length is not read past it. */
  struct db_value part = db_text("abcdef");
  part.v.b.len = 3;
  CHECK(db_exec(c, insert, DB_ARGS(db_int(8), db_null(), db_null(), part, db_null()), NULL, &E));

  struct db_rows *rows;
  CHECK(db_query(c, "SELECT k, i, r, s, b FROM vals ORDER BY k", DB_NOARGS, &rows, &E));
  cr_assert_eq(db_rows_count(rows), 9);
  cr_assert_eq(db_rows_columns(rows), 5);
  for (int k = 0; k < 6; k++) {
    cr_assert_eq(db_rows_int(rows, k, 1), ints[k], "int %d", k);
    cr_assert_eq(db_rows_real(rows, k, 2), reals[k], "real %d: %.17g", k, db_rows_real(rows, k, 2));
    cr_assert_str_eq(db_rows_text(rows, k, 3), text);
    size_t len = 0;
    const void *b = db_rows_blob(rows, k, 4, &len);
    cr_assert_eq(len, sizeof blob);
    cr_assert_arr_eq(b, blob, sizeof blob);
  }
  /* empty text and empty blob are not NULL */
  cr_assert(!db_rows_is_null(rows, 6, 3));
  cr_assert_str_eq(db_rows_text(rows, 6, 3), "");
  size_t len = 99;
  cr_assert(!db_rows_is_null(rows, 6, 4));
  cr_assert_not_null(db_rows_blob(rows, 6, 4, &len));
  cr_assert_eq(len, 0);
  for (int col = 1; col < 5; col++) {
    cr_assert(db_rows_is_null(rows, 7, col), "col %d", col);
    cr_assert_eq(db_rows_int(rows, 7, col), 0);
    cr_assert_eq(db_rows_real(rows, 7, col), 0);
    cr_assert_null(db_rows_text(rows, 7, col));
    cr_assert_null(db_rows_blob(rows, 7, col, &len));
    cr_assert_eq(len, 0);
  }
  cr_assert_str_eq(db_rows_text(rows, 8, 3), "abc");
  /* Numbers also read as text, and text digits as numbers. The text of a
   * number is written when first asked for, then the same each time. */
  const char *first = db_rows_text(rows, 0, 1);
  cr_assert_str_eq(first, "-9223372036854775808");
  cr_assert_eq(db_rows_text(rows, 0, 1), first);
  char real_text[40];
  db_format_real(reals[0], real_text, sizeof real_text);
  cr_assert_str_eq(db_rows_text(rows, 0, 2), real_text);
  size_t number_len = 0;
  cr_assert_str_eq(db_rows_blob(rows, 1, 1, &number_len), db_rows_text(rows, 1, 1));
  cr_assert_eq(number_len, strlen(db_rows_text(rows, 1, 1)));
  db_rows_free(rows);

  CHECK(db_query(c, "SELECT i FROM vals WHERE i = $1", DB_ARGS(db_int(INT64_MIN)), &rows, &E));
  cr_assert_eq(db_rows_count(rows), 1);
  db_rows_free(rows);
  CHECK(db_query(c, "SELECT k FROM vals WHERE b = $1", DB_ARGS(db_blob(blob, sizeof blob)), &rows,
                 &E));
  cr_assert_eq(db_rows_count(rows), 6);
  db_rows_free(rows);
  db_release(c);
}

Test(db, placeholders_reused_out_of_order_and_literals_left_alone) {
  struct db_conn *c = conn();
  struct db_rows *rows;
  CHECK(db_query(c,
                 "SELECT $2 || '-' || $1 || '-' || $2 AS joined, '$1 ''$2''' AS literal, "
                 "\"two\" FROM (SELECT 2 AS \"two\") AS x -- $3 is a comment\n"
                 "/* and $4 too */",
                 DB_ARGS(db_text("a"), db_text("b")), &rows, &E));
  cr_assert_str_eq(db_rows_text(rows, 0, 0), "b-a-b");
  cr_assert_str_eq(db_rows_text(rows, 0, 1), "$1 '$2'");
  cr_assert_str_eq(db_rows_name(rows, 0), "joined");
  cr_assert_str_eq(db_rows_name(rows, 2), "two");
  cr_assert_eq(db_rows_int(rows, 0, 2), 2);
  db_rows_free(rows);

  create_values_table(c);
  for (int k = 0; k < 10; k++)
    CHECK(db_exec(c, "INSERT INTO vals (k, i) VALUES ($1, $1 * 10)", DB_ARGS(db_int(k)), NULL, &E));
  CHECK(db_query(c, "SELECT k FROM vals WHERE i < $2 AND i > $1 ORDER BY k",
                 DB_ARGS(db_int(20), db_int(60)), &rows, &E));
  cr_assert_eq(db_rows_count(rows), 3);
  cr_assert_eq(db_rows_int(rows, 0, 0), 3);
  cr_assert_eq(db_rows_int(rows, 2, 0), 5);
  db_rows_free(rows);

  /* The wrong number of parameters is refused the same way on both. */
  EXPECT_FAIL(
      db_query(c, "SELECT k FROM vals WHERE k = $1 OR k = $2", DB_ARGS(db_int(1)), &rows, &E),
      FF_EINVAL);
  cr_assert_null(rows);
  EXPECT_FAIL(db_exec(c, "SELECT 1", DB_ARGS(db_int(1)), NULL, &E), FF_EINVAL);
  EXPECT_FAIL(db_exec(c, "SELECT 1; SELECT 2", DB_NOARGS, NULL, &E),
              harness_postgres() ? FF_EDB : FF_EINVAL);
  EXPECT_FAIL(db_exec(c, "SELEC 1", DB_NOARGS, NULL, &E), FF_EDB);
  db_release(c);
}

Test(db, returning_and_changes) {
  CHECK(db_migrate(db, &E));
  struct db_conn *c = conn();
  struct db_rows *rows;
  CHECK(db_query(c,
                 "INSERT INTO tenants (name, created_at, updated_at) VALUES ($1, $2, $2) "
                 "RETURNING id, active, retention_days",
                 DB_ARGS(db_text("acme"), db_int(1000)), &rows, &E));
  cr_assert_eq(db_rows_count(rows), 1);
  cr_assert_gt(db_rows_int(rows, 0, 0), 0);
  cr_assert_eq(db_rows_int(rows, 0, 1), 1);
  cr_assert_eq(db_rows_int(rows, 0, 2), 30);
  db_rows_free(rows);
  for (int i = 0; i < 3; i++) {
    char name[16];
    snprintf(name, sizeof name, "t%d", i);
    CHECK(db_exec(c, "INSERT INTO tenants (name, created_at, updated_at) VALUES ($1, 0, 0)",
                  DB_ARGS(db_text(name)), NULL, &E));
  }
  int64_t changes = -1;
  CHECK(db_exec(c, "UPDATE tenants SET active = 0 WHERE name LIKE $1", DB_ARGS(db_text("t%")),
                &changes, &E));
  cr_assert_eq(changes, 3);
  CHECK(
      db_exec(c, "DELETE FROM tenants WHERE name = $1", DB_ARGS(db_text("nobody")), &changes, &E));
  cr_assert_eq(changes, 0);
  db_release(c);
}

/* ---- errors ---- */

Test(db, constraint_violations_map_to_statuses) {
  CHECK(db_migrate(db, &E));
  struct db_conn *c = conn();
  const char *tenant = "INSERT INTO tenants (name, created_at, updated_at) VALUES ($1, 0, 0)";
  CHECK(db_exec(c, tenant, DB_ARGS(db_text("acme")), NULL, &E));
  EXPECT_FAIL(db_exec(c, tenant, DB_ARGS(db_text("acme")), NULL, &E), FF_ECONFLICT);
  /* NOT NULL */
  EXPECT_FAIL(db_exec(c, tenant, DB_ARGS(db_null()), NULL, &E), FF_EINVAL);
  /* primary key */
  EXPECT_FAIL(db_exec(c,
                      "INSERT INTO settings (key, value, updated_at) VALUES ('k', 'v', 0), "
                      "('k', 'w', 0)",
                      DB_NOARGS, NULL, &E),
              FF_ECONFLICT);
  /* foreign key */
  EXPECT_FAIL(db_exec(c,
                      "INSERT INTO sites (tenant_id, name, timezone, created_at, updated_at) "
                      "VALUES ($1, 'x', 'UTC', 0, 0)",
                      DB_ARGS(db_int(424242)), NULL, &E),
              FF_EINVAL);
  /* CHECK */
  EXPECT_FAIL(db_exec(c,
                      "INSERT INTO users (username, password_hash, role, created_at, updated_at, "
                      "password_changed_at) VALUES ('u', 'h', $1, 0, 0, 0)",
                      DB_ARGS(db_text("emperor")), NULL, &E),
              FF_EINVAL);
  /* ON DELETE RESTRICT: a tenant with a site cannot go */
  CHECK(db_exec(c,
                "INSERT INTO sites (tenant_id, name, timezone, created_at, updated_at) "
                "SELECT id, 'main', 'Asia/Ho_Chi_Minh', 0, 0 FROM tenants WHERE name = 'acme'",
                DB_NOARGS, NULL, &E));
  EXPECT_FAIL(db_exec(c, "DELETE FROM tenants WHERE name = 'acme'", DB_NOARGS, NULL, &E),
              FF_EINVAL);
  /* anything else */
  EXPECT_FAIL(db_exec(c, "SELECT * FROM no_such_table", DB_NOARGS, NULL, &E), FF_EDB);
  EXPECT_FAIL(db_exec_script(c, "CREATE TABLE x (a INTEGER); CREATE TABLE x (a INTEGER)", &E),
              FF_EDB);
  db_release(c);
}

Test(db, foundation_cascades) {
  CHECK(db_migrate(db, &E));
  struct db_conn *c = conn();
  CHECK(db_exec_script(c,
                       "INSERT INTO tenants (name, created_at, updated_at) VALUES ('t', 0, 0);"
                       "INSERT INTO users (tenant_id, username, password_hash, role, created_at,"
                       " updated_at, password_changed_at)"
                       " SELECT id, 'ann', 'h', 'tenant_admin', 0, 0, 0 FROM tenants;"
                       "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at,"
                       " expires_at) SELECT id, 'f', 'th', 0, 1 FROM users;"
                       "INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, created_by,"
                       " created_at) SELECT tenant_id, 'k', 'p', 's', id, 0 FROM users;",
                       &E));
  EXPECT_FAIL(db_exec(c,
                      "INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, role, "
                      "created_at) SELECT id, 'k2', 'p2', 's', 'admin', 0 FROM tenants",
                      DB_NOARGS, NULL, &E),
              FF_EINVAL);
  CHECK(db_exec(c, "DELETE FROM users WHERE username = 'ann'", DB_NOARGS, NULL, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM refresh_tokens"), 0);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM api_keys WHERE created_by IS NULL"), 1);
  CHECK(db_exec(c, "DELETE FROM tenants", DB_NOARGS, NULL, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM api_keys"), 0);
  db_release(c);
}

/* ---- transactions ---- */

Test(db, transactions_commit_and_roll_back) {
  struct db_conn *c = conn();
  create_values_table(c);
  const char *insert = "INSERT INTO vals (k) VALUES ($1)";
  CHECK(db_begin(c, DB_TX_WRITE, &E));
  EXPECT_FAIL(db_begin(c, DB_TX_WRITE, &E), FF_EINVAL);
  CHECK(db_exec(c, insert, DB_ARGS(db_int(1)), NULL, &E));
  cr_assert_eq(db_rollback(c), FF_OK);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 0);

  CHECK(db_begin(c, DB_TX_WRITE, &E));
  CHECK(db_exec(c, insert, DB_ARGS(db_int(2)), NULL, &E));
  CHECK(db_commit(c, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 1);
  EXPECT_FAIL(db_commit(c, &E), FF_EINVAL);
  cr_assert_eq(db_rollback(c), FF_OK); /* nothing open: harmless */

  /* A read transaction refuses writes on both backends. */
  CHECK(db_begin(c, DB_TX_READ, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 1);
  EXPECT_FAIL(db_exec(c, insert, DB_ARGS(db_int(3)), NULL, &E), FF_EDB);
  db_rollback(c);
  CHECK(db_exec(c, insert, DB_ARGS(db_int(3)), NULL, &E)); /* writable again */

  /* A failed statement dooms the transaction on both backends. */
  CHECK(db_begin(c, DB_TX_WRITE, &E));
  CHECK(db_exec(c, insert, DB_ARGS(db_int(4)), NULL, &E));
  EXPECT_FAIL(db_exec(c, "INSERT INTO no_such_table VALUES (1)", DB_NOARGS, NULL, &E), FF_EDB);
  EXPECT_FAIL(db_exec(c, insert, DB_ARGS(db_int(5)), NULL, &E), FF_EDB);
  EXPECT_FAIL(db_commit(c, &E), FF_EDB);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 2);

  /* Releasing a connection rolls back what its user left open, and frees
   * the write lock for the next writer. */
  CHECK(db_begin(c, DB_TX_WRITE, &E));
  CHECK(db_exec(c, insert, DB_ARGS(db_int(6)), NULL, &E));
  db_release(c);
  c = conn();
  struct db_conn *c2 = conn();
  CHECK(db_begin(c2, DB_TX_WRITE, &E));
  CHECK(db_commit(c2, &E));
  db_release(c2);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals WHERE k = 6"), 0);
  db_release(c);
}

Test(db, read_transaction_sees_one_snapshot) {
  struct db_conn *reader = conn(), *writer = conn();
  create_values_table(writer);
  CHECK(db_begin(reader, DB_TX_READ, &E));
  cr_assert_eq(query_int(reader, "SELECT count(*) FROM vals"), 0);
  CHECK(db_exec(writer, "INSERT INTO vals (k) VALUES (1)", DB_NOARGS, NULL, &E));
  cr_assert_eq(query_int(reader, "SELECT count(*) FROM vals"), 0);
  CHECK(db_commit(reader, &E));
  cr_assert_eq(query_int(reader, "SELECT count(*) FROM vals"), 1);
  db_release(reader);
  db_release(writer);
}

struct writer_args {
  struct db *db;
  int iterations;
  bool use_transaction;
  int failures;
  char message[FF_ERROR_MESSAGE_MAX];
};

static void *writer_thread(void *arg) {
  struct writer_args *w = arg;
  struct ff_error err = {0};
  for (int i = 0; i < w->iterations; i++) {
    struct db_conn *c = db_acquire(w->db, 30000);
    if (!c) {
      w->failures++;
      continue;
    }
    int rc;
    if (w->use_transaction) {
      /* read-modify-write: loses updates unless writers are serialised */
      rc = db_begin(c, DB_TX_WRITE, &err);
      struct db_rows *rows = NULL;
      if (rc == FF_OK)
        rc = db_query(c, "SELECT n FROM counter WHERE id = 1", DB_NOARGS, &rows, &err);
      if (rc == FF_OK)
        rc = db_exec(c, "UPDATE counter SET n = $1 WHERE id = 1",
                     DB_ARGS(db_int(db_rows_int(rows, 0, 0) + 1)), NULL, &err);
      db_rows_free(rows);
      if (rc == FF_OK)
        rc = db_commit(c, &err);
      else
        db_rollback(c);
    } else {
      rc = db_exec(c, "UPDATE counter SET m = m + 1 WHERE id = 1", DB_NOARGS, NULL, &err);
    }
    if (rc != FF_OK) {
      w->failures++;
      memcpy(w->message, err.message, sizeof w->message);
    }
    db_release(c);
  }
  return NULL;
}

Test(db, concurrent_writers_lose_no_updates) {
  struct db_conn *c = conn();
  CHECK(db_exec_script(c,
                       "CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT, m BIGINT);"
                       "INSERT INTO counter VALUES (1, 0, 0)",
                       &E));
  db_release(c);
  /* Two pools, as two server processes would have, two threads on each. */
  struct db_options o = {.url = harness_url, .pool_size = 3, .busy_timeout_ms = 30000};
  struct db *pools[2];
  for (int p = 0; p < 2; p++)
    CHECK(db_open(&o, &pools[p], &E));
  enum { THREADS = 6, ITERATIONS = 60 };
  pthread_t threads[THREADS];
  struct writer_args args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t] = (struct writer_args){
        .db = pools[t % 2], .iterations = ITERATIONS, .use_transaction = t < 4};
    pthread_create(&threads[t], NULL, writer_thread, &args[t]);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(threads[t], NULL);
    cr_assert_eq(args[t].failures, 0, "thread %d: %d failures, last: %s", t, args[t].failures,
                 args[t].message);
  }
  for (int p = 0; p < 2; p++)
    db_close(pools[p]);
  c = conn();
  cr_assert_eq(query_int(c, "SELECT n FROM counter"), 4 * ITERATIONS);
  cr_assert_eq(query_int(c, "SELECT m FROM counter"), 2 * ITERATIONS);
  db_release(c);
}

Test(db, a_writer_waits_no_longer_than_the_busy_timeout) {
  struct db_options o = {.url = harness_url, .pool_size = 1, .busy_timeout_ms = 200};
  struct db *other;
  CHECK(db_open(&o, &other, &E));
  struct db_conn *holder = conn();
  CHECK(db_begin(holder, DB_TX_WRITE, &E));
  struct db_conn *c = db_acquire(other, 1000);
  cr_assert(c);
  uint64_t t0 = db_monotonic_ns();
  EXPECT_FAIL(db_begin(c, DB_TX_WRITE, &E), FF_EBUSY);
  double waited_ms = (double)(db_monotonic_ns() - t0) / 1e6;
  cr_assert(waited_ms >= 150 && waited_ms < 5000, "waited %.0f ms", waited_ms);
  CHECK(db_rollback(holder));
  CHECK(db_begin(c, DB_TX_WRITE, &E));
  CHECK(db_commit(c, &E));
  db_release(c);
  db_release(holder);
  db_close(other);
}

Test(db, a_second_write_transaction_in_one_thread_fails_instead_of_hanging) {
  struct db_options o = {.url = harness_url, .pool_size = 2, .busy_timeout_ms = 200};
  struct db *d;
  CHECK(db_open(&o, &d, &E));
  struct db_conn *a = db_acquire(d, 1000), *b = db_acquire(d, 1000);
  CHECK(db_begin(a, DB_TX_WRITE, &E));
  /* SQLite: the write lock is this thread's already (FF_EINTERNAL at once);
   * PostgreSQL: the advisory lock times out (FF_EBUSY). */
  EXPECT_FAIL(db_begin(b, DB_TX_WRITE, &E), harness_postgres() ? FF_EBUSY : FF_EINTERNAL);
  CHECK(db_commit(a, &E));
  CHECK(db_begin(b, DB_TX_WRITE, &E));
  CHECK(db_commit(b, &E));
  db_release(a);
  db_release(b);
  db_close(d);
}

/* ---- statement cache ---- */

Test(db, statements_are_cached_per_connection) {
  struct db_conn *c = conn();
  int before = db_test_cached_statements(c);
  for (int i = 0; i < 5; i++) {
    struct db_rows *rows;
    CHECK(db_query(c, "SELECT $1 + 1", DB_ARGS(db_int(i)), &rows, &E));
    cr_assert_eq(db_rows_int(rows, 0, 0), i + 1);
    db_rows_free(rows);
  }
  cr_assert_eq(db_test_cached_statements(c), before + 1);
  CHECK(db_exec(c, "SELECT $1 + 2", DB_ARGS(db_int(1)), NULL, &E));
  cr_assert_eq(db_test_cached_statements(c), before + 2);
  if (harness_postgres()) {
    /* the server agrees */
    cr_assert_eq(query_int(c, "SELECT count(*) FROM pg_prepared_statements"), before + 3);
    /* A statement the server forgot is prepared again. */
    CHECK(db_exec_script(c, "DEALLOCATE ALL", &E));
    CHECK(db_exec(c, "SELECT $1 + 2", DB_ARGS(db_int(1)), NULL, &E));
  }
  /* Many distinct statements: the cache stays bounded and keeps working. */
  for (int i = 0; i < 300; i++) {
    char sql[64];
    snprintf(sql, sizeof sql, "SELECT %d + $1", i);
    struct db_rows *rows;
    CHECK(db_query(c, sql, DB_ARGS(db_int(1)), &rows, &E));
    cr_assert_eq(db_rows_int(rows, 0, 0), i + 1);
    db_rows_free(rows);
  }
  cr_assert_leq(db_test_cached_statements(c), 128);
  if (harness_postgres())
    cr_assert_leq(query_int(c, "SELECT count(*) FROM pg_prepared_statements"), 129);
  db_release(c);
}

/* A read transaction leaves the connection's prepared statements alone
 * (SQLite's PRAGMA query_only, once used for it, made every one of them
 * compile again), and still refuses writes. */
Test(db, read_transactions_keep_statements_prepared) {
  struct db_conn *c = conn();
  create_values_table(c);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 0);
  int before = db_test_reprepares(c);
  for (int i = 0; i < 5; i++) {
    CHECK(db_begin(c, DB_TX_READ, &E));
    cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 0);
    CHECK(db_commit(c, &E));
    CHECK(db_begin(c, DB_TX_WRITE, &E));
    CHECK(db_exec(c, "UPDATE vals SET k = k WHERE k < 0", DB_NOARGS, NULL, &E));
    CHECK(db_commit(c, &E));
  }
  cr_assert_eq(db_test_reprepares(c), before);
  CHECK(db_begin(c, DB_TX_READ, &E));
  EXPECT_FAIL(db_exec(c, "UPDATE vals SET k = k WHERE k < 0", DB_NOARGS, NULL, &E), FF_EDB);
  EXPECT_FAIL(db_commit(c, &E), FF_EDB);
  CHECK(db_begin(c, DB_TX_READ, &E));
  EXPECT_FAIL(db_exec_script(c, "INSERT INTO vals (k) VALUES (9)", &E), FF_EDB);
  db_rollback(c);
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 0);
  db_release(c);
}

/* SQLite: the read-lock keeper (db_sqlite.c) holds a read transaction
 * nearly all the time. Another pool (as another process) still sees each
 * commit at once, and the WAL can still be checkpointed to its end and
 * truncated. */
Test(db, the_read_lock_keeper_holds_back_neither_readers_nor_checkpoints) {
  if (harness_postgres())
    return; /* the keeper is SQLite's */
  struct db_conn *c = conn();
  create_values_table(c);
  struct db *other = harness_open(1);
  struct db_conn *o = db_acquire(other, 5000);
  cr_assert(o);
  for (int i = 1; i <= 200; i++) {
    CHECK(db_exec(c, "INSERT INTO vals (k) VALUES ($1)", DB_ARGS(db_int(i)), NULL, &E));
    if (i % 50 == 0)
      cr_assert_eq(query_int(o, "SELECT count(*) FROM vals"), i);
  }
  struct db_rows *rows;
  CHECK(db_query(c, "PRAGMA wal_checkpoint(TRUNCATE)", DB_NOARGS, &rows, &E));
  cr_assert_eq(db_rows_int(rows, 0, 0), 0, "the checkpoint was blocked");
  cr_assert_eq(db_rows_int(rows, 0, 1), 0, "the WAL was not truncated");
  db_rows_free(rows);
  char wal[1100];
  snprintf(wal, sizeof wal, "%s-wal", harness_url + strlen("sqlite:"));
  struct stat st;
  cr_assert_eq(stat(wal, &st), 0, "%s", wal);
  cr_assert_eq(st.st_size, 0);
  cr_assert_eq(query_int(o, "SELECT count(*) FROM vals"), 200);
  db_release(o);
  db_close(other);
  db_release(c);
}

Test(db, cached_statements_survive_schema_changes) {
  struct db_conn *c = conn();
  create_values_table(c);
  CHECK(db_exec(c, "INSERT INTO vals (k) VALUES ($1)", DB_ARGS(db_int(1)), NULL, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 1);
  CHECK(db_exec_script(c, "CREATE INDEX vals_k ON vals (k)", &E));
  CHECK(db_exec(c, "INSERT INTO vals (k) VALUES ($1)", DB_ARGS(db_int(2)), NULL, &E));
  cr_assert_eq(query_int(c, "SELECT count(*) FROM vals"), 2);
  db_release(c);
}

/* ---- pool ---- */

static void *release_later(void *arg) {
  struct timespec pause = {0, 50 * 1000000L};
  nanosleep(&pause, NULL); /* the waiter must be blocked by now for the test to mean much */
  db_release(arg);
  return NULL;
}

Test(db, pool_hands_out_each_connection_once) {
  struct db *small = harness_open(2);
  struct db_conn *a = db_acquire(small, 1000), *b = db_acquire(small, 1000);
  cr_assert(a && b && a != b);
  struct db_stats st;
  db_stats_get(small, &st);
  cr_assert_eq(st.pool_size, 2);
  cr_assert_eq(st.pool_in_use, 2);
  cr_assert_null(db_acquire(small, 0));
  uint64_t t0 = db_monotonic_ns();
  cr_assert_null(db_acquire(small, 100));
  double waited_ms = (double)(db_monotonic_ns() - t0) / 1e6;
  cr_assert(waited_ms >= 90, "waited only %.1f ms", waited_ms);
  pthread_t t;
  pthread_create(&t, NULL, release_later, a);
  struct db_conn *again = db_acquire(small, -1); /* blocks until the release */
  pthread_join(t, NULL);
  cr_assert_eq(again, a);
  db_release(again);
  db_release(b);
  db_stats_get(small, &st);
  cr_assert_eq(st.pool_in_use, 0);
  db_close(small);
}

/* ---- rows and stats ---- */

Test(db, rows_accessors_are_bounded) {
  struct db_conn *c = conn();
  struct db_rows *rows;
  CHECK(db_query(c, "SELECT 1 AS a, 'x' AS b UNION ALL SELECT 2, 'y' ORDER BY a", DB_NOARGS, &rows,
                 &E));
  cr_assert_eq(db_rows_count(rows), 2);
  cr_assert_eq(db_rows_columns(rows), 2);
  cr_assert_str_eq(db_rows_name(rows, 1), "b");
  cr_assert_null(db_rows_name(rows, 2));
  cr_assert_null(db_rows_name(rows, -1));
  cr_assert_eq(db_rows_int(rows, 1, 0), 2);
  cr_assert_str_eq(db_rows_text(rows, 1, 1), "y");
  int bad[][2] = {{-1, 0}, {2, 0}, {0, -1}, {0, 2}, {INT32_MAX, INT32_MAX}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int r = bad[i][0], col = bad[i][1];
    size_t len = 7;
    cr_assert(db_rows_is_null(rows, r, col));
    cr_assert_eq(db_rows_int(rows, r, col), 0);
    cr_assert_eq(db_rows_real(rows, r, col), 0);
    cr_assert_null(db_rows_text(rows, r, col));
    cr_assert_null(db_rows_blob(rows, r, col, &len));
    cr_assert_eq(len, 0);
  }
  db_rows_free(rows);
  CHECK(db_query(c, "SELECT 1 WHERE 1 = 0", DB_NOARGS, &rows, &E));
  cr_assert_eq(db_rows_count(rows), 0);
  cr_assert_eq(db_rows_columns(rows), 1);
  db_rows_free(rows);
  cr_assert_eq(db_rows_count(NULL), 0);
  cr_assert(db_rows_is_null(NULL, 0, 0));
  db_rows_free(NULL);
  db_release(c);
}

/* Numbers read across types (text digits leniently, as PostgreSQL's
 * NUMERIC arrives as text), and results larger than the first allocations
 * of a result (rows and bytes) come back whole. */
Test(db, numbers_read_across_types_and_big_results_are_whole) {
  struct db_conn *c = conn();
  struct db_rows *rows;
  CHECK(db_query(c, "SELECT '42' AS t, '-7.25x' AS u, 2.75 AS r, -3 AS i", DB_NOARGS, &rows, &E));
  cr_assert_eq(db_rows_int(rows, 0, 0), 42);
  cr_assert_eq(db_rows_real(rows, 0, 0), 42.0);
  cr_assert_eq(db_rows_int(rows, 0, 1), -7);
  cr_assert_eq(db_rows_real(rows, 0, 1), -7.25);
  cr_assert_eq(db_rows_int(rows, 0, 2), 2);
  cr_assert_eq(db_rows_real(rows, 0, 2), 2.75);
  cr_assert_str_eq(db_rows_text(rows, 0, 2), "2.75");
  cr_assert_eq(db_rows_int(rows, 0, 3), -3);
  cr_assert_eq(db_rows_real(rows, 0, 3), -3.0);
  cr_assert_str_eq(db_rows_text(rows, 0, 3), "-3");
  db_rows_free(rows);

  char pad[101];
  memset(pad, 'z', 100);
  pad[100] = 0;
  CHECK(db_query(c,
                 "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300) "
                 "SELECT x, 'row-' || x || '-' || $1 AS label FROM n ORDER BY x",
                 DB_ARGS(db_text(pad)), &rows, &E));
  cr_assert_eq(db_rows_count(rows), 300);
  cr_assert_str_eq(db_rows_name(rows, 1), "label");
  for (int i = 0; i < 300; i++) {
    char want[160];
    snprintf(want, sizeof want, "row-%d-%s", i + 1, pad);
    cr_assert_eq(db_rows_int(rows, i, 0), i + 1);
    cr_assert_str_eq(db_rows_text(rows, i, 1), want);
  }
  db_rows_free(rows);
  db_release(c);
}

Test(db, stats_count_statements_errors_and_latency) {
  struct db_stats before, after;
  db_stats_get(db, &before);
  struct db_conn *c = conn();
  CHECK(db_exec(c, "SELECT 1", DB_NOARGS, NULL, &E));
  CHECK(db_exec(c, "SELECT 2", DB_NOARGS, NULL, &E));
  EXPECT_FAIL(db_exec(c, "SELECT * FROM nothing_here", DB_NOARGS, NULL, &E), FF_EDB);
  db_stats_get(db, &after);
  cr_assert_eq(after.statements - before.statements, 3);
  cr_assert_eq(after.errors - before.errors, 1);
  cr_assert_eq(after.pool_in_use, 1);
  cr_assert_eq(after.pool_size, 4);
  cr_assert_eq(after.latency_bucket[DB_LATENCY_BUCKETS - 1], after.statements);
  for (int i = 1; i < DB_LATENCY_BUCKETS; i++)
    cr_assert_geq(after.latency_bucket[i], after.latency_bucket[i - 1]);
  cr_assert_gt(after.latency_sum_ms, before.latency_sum_ms);
  cr_assert(isinf(db_latency_bounds_ms[DB_LATENCY_BUCKETS - 1]));
  db_release(c);
}

/* ---- failure paths ---- */

/* Open, migrate, write, read, close — with the Nth allocation of the db
 * module failing, for every N until the sequence gets through. Every failure
 * must be a clean FF_ENOMEM; LeakSanitizer (sanitizer build) checks that the
 * error paths free what they took. */
static int scenario(void) {
  struct ff_error err = {0};
  struct db *d;
  struct db_options o = {.url = harness_url, .pool_size = 2};
  int rc = db_open(&o, &d, &err);
  if (rc != FF_OK)
    return rc;
  if ((rc = db_migrate(d, &err)) == FF_OK) {
    struct db_conn *c = db_acquire(d, 1000);
    struct db_rows *rows = NULL;
    rc = db_begin(c, DB_TX_WRITE, &err);
    if (rc == FF_OK)
      rc = db_exec(c, "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)",
                   DB_ARGS(db_text("k"), db_text("a value"), db_int(1)), NULL, &err);
    if (rc == FF_OK)
      rc = db_commit(c, &err);
    if (rc == FF_OK)
      rc = db_query(c, "SELECT key, value, updated_at FROM settings", DB_NOARGS, &rows, &err);
    if (rc == FF_OK && db_rows_count(rows) != 1)
      rc = FF_EINTERNAL;
    db_rows_free(rows);
    db_release(c);
  }
  db_close(d);
  return rc;
}

Test(db, every_failed_allocation_is_reported_and_freed) {
  int n;
  for (n = 0; n < 2000; n++) {
    harness_reset();
    db_test_fail_allocations_after(n);
    int rc = scenario();
    db_test_fail_allocations_after(-1);
    if (rc == FF_OK)
      break;
    cr_assert_eq(rc, FF_ENOMEM, "allocation %d: %s", n, ff_status_name(rc));
  }
  cr_assert_gt(n, 10, "the scenario made only %d allocations", n);
  cr_assert_lt(n, 2000);
}

Test(db, postgres_connection_is_reset_after_it_breaks) {
  if (!harness_postgres())
    cr_skip_test("PostgreSQL only");
  struct db *one = harness_open(1);
  struct db_conn *c = db_acquire(one, 1000);
  struct db_rows *rows;
  CHECK(db_query(c, "SELECT pg_backend_pid(), $1::int", DB_ARGS(db_int(7)), &rows, &E));
  int64_t pid = db_rows_int(rows, 0, 0);
  db_rows_free(rows);
  struct db_conn *killer = conn();
  CHECK(db_exec(killer, "SELECT pg_terminate_backend($1)", DB_ARGS(db_int(pid)), NULL, &E));
  db_release(killer);
  /* the statement fails (the server is gone), and the next acquire repairs */
  EXPECT_FAIL(db_query(c, "SELECT pg_backend_pid(), $1::int", DB_ARGS(db_int(7)), &rows, &E),
              FF_EDB);
  db_release(c);
  c = db_acquire(one, 1000);
  CHECK(db_query(c, "SELECT pg_backend_pid(), $1::int", DB_ARGS(db_int(8)), &rows, &E));
  cr_assert_neq(db_rows_int(rows, 0, 0), pid);
  cr_assert_eq(db_rows_int(rows, 0, 1), 8);
  db_rows_free(rows);
  db_release(c);
  db_close(one);
}
