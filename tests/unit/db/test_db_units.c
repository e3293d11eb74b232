/* Parts of the db module that need no database server. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static void check_leaks(void) {
#if defined(__SANITIZE_ADDRESS__)
  if (__lsan_do_recoverable_leak_check()) {
    fprintf(stderr, "memory leaked: see the report above\n");
    abort(); /* Criterion reports a crash; a failed assertion here would be lost */
  }
#endif
}

TestSuite(db_units, .fini = check_leaks);

static void rewrites(const char *in, const char *want) {
  char *out = db_sqlite_rewrite_placeholders(in);
  cr_assert_not_null(out);
  cr_assert_str_eq(out, want, "rewrite of [%s]", in);
  db_free(out);
}

Test(db_units, placeholders_become_numbered_question_marks) {
  rewrites("SELECT $1, $2, $10", "SELECT ?1, ?2, ?10");
  rewrites("SELECT $2 + $1 + $2", "SELECT ?2 + ?1 + ?2");
  rewrites("SELECT '$1', $1", "SELECT '$1', ?1");
  rewrites("SELECT 'it''s $1', $1", "SELECT 'it''s $1', ?1");
  rewrites("SELECT \"a$1\", `b$1`, [c$1] FROM t", "SELECT \"a$1\", `b$1`, [c$1] FROM t");
  rewrites("SELECT $1 -- $2\n, $3 /* $4 */ , x'24' ", "SELECT ?1 -- $2\n, ?3 /* $4 */ , x'24' ");
  rewrites("SELECT $ , $a, 5$", "SELECT $ , $a, 5$");
  rewrites("SELECT 'unterminated $1", "SELECT 'unterminated $1");
  rewrites("SELECT 1 /* unterminated $1", "SELECT 1 /* unterminated $1");
  rewrites("", "");
}

Test(db_units, both_backends_have_the_same_migrations) {
  cr_assert_gt(db_migrations_sqlite_count, 0);
  cr_assert_eq(db_migrations_sqlite_count, db_migrations_postgres_count);
  for (int i = 0; i < db_migrations_sqlite_count; i++) {
    cr_assert_eq(db_migrations_sqlite[i].version, db_migrations_postgres[i].version);
    cr_assert_str_eq(db_migrations_sqlite[i].name, db_migrations_postgres[i].name);
    cr_assert(i == 0 || db_migrations_sqlite[i].version > db_migrations_sqlite[i - 1].version);
    cr_assert_gt(strlen(db_migrations_sqlite[i].sql), 0);
    cr_assert_gt(strlen(db_migrations_postgres[i].sql), 0);
  }
  cr_assert_eq(db_migrations_sqlite[0].version, 1);
  cr_assert_str_eq(db_migrations_sqlite[0].name, "foundation");
}

Test(db_units, bad_options_are_refused) {
  struct db *db = (struct db *)1;
  struct ff_error err = {0};
  cr_assert_eq(db_open(&(struct db_options){0}, &db, &err), FF_EINVAL);
  cr_assert_null(db);
  cr_assert_eq(db_open(&(struct db_options){.url = "sqlite:"}, &db, &err), FF_EINVAL);
  cr_assert_eq(db_open(&(struct db_options){.url = "x.db", .pool_size = -1}, &db, &err), FF_EINVAL);
  cr_assert_eq(db_open(&(struct db_options){.url = "x.db", .busy_timeout_ms = -5}, &db, &err),
               FF_EINVAL);
  cr_assert_eq(db_open(&(struct db_options){.url = "sqlite:/nonexistent/dir/x.db"}, &db, &err),
               FF_EDB);
  cr_assert(strstr(err.message, "/nonexistent/dir/x.db"), "%s", err.message);
  /* nothing listens on port 1 */
  cr_assert_eq(db_open(&(struct db_options){.url = "postgres://127.0.0.1:1/none"}, &db, &err),
               FF_EDB);
  cr_assert(strstr(err.message, "cannot connect"), "%s", err.message);
  cr_assert_null(db);
}

Test(db_units, memory_database_is_one_connection) {
  struct db *db;
  struct ff_error err = {0};
  cr_assert_eq(db_open(&(struct db_options){.url = "sqlite::memory:"}, &db, &err), FF_OK, "%s",
               err.message);
  cr_assert_str_eq(db_backend_name(db), "sqlite");
  cr_assert_eq(db_backend(db), DB_SQLITE);
  struct db_stats st;
  db_stats_get(db, &st);
  cr_assert_eq(st.pool_size, 1);
  cr_assert_eq(db_migrate(db, &err), FF_OK, "%s", err.message);
  db_close(db);
}
