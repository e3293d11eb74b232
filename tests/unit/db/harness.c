#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

struct db *db;
struct ff_error E;
char harness_url[1024];

static char tmpdir[256];
static char base_url[512];
static char schema[64];

bool harness_postgres(void) {
  const char *which = getenv("FOOTFALL_TEST_DB");
  return which && !strcmp(which, "postgres");
}

static void read_base_url(void) {
  const char *url = getenv("FOOTFALL_TEST_PG_URL");
  if (url && *url) {
    snprintf(base_url, sizeof base_url, "%s", url);
    return;
  }
  const char *file = getenv("FOOTFALL_TEST_PG_URL_FILE");
  cr_assert(file && *file, "set FOOTFALL_TEST_PG_URL or FOOTFALL_TEST_PG_URL_FILE");
  FILE *f = fopen(file, "r");
  cr_assert(f, "cannot read %s (is the postgres fixture running?)", file);
  cr_assert(fgets(base_url, sizeof base_url, f), "empty %s", file);
  fclose(f);
  base_url[strcspn(base_url, "\r\n")] = '\0';
}

static void admin_script(const char *sql) {
  struct db *admin;
  struct db_options o = {.url = base_url, .pool_size = 1};
  CHECK(db_open(&o, &admin, &E));
  struct db_conn *c = db_acquire(admin, 5000);
  cr_assert(c);
  CHECK(db_exec_script(c, sql, &E));
  db_release(c);
  db_close(admin);
}

static void remove_sqlite_files(void) {
  const char *suffix[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
    char path[1100];
    snprintf(path, sizeof path, "%s%s", harness_url + 7, suffix[i]);
    unlink(path);
  }
}

struct db *harness_open(int pool_size) {
  struct db *d;
  struct db_options o = {.url = harness_url, .pool_size = pool_size};
  CHECK(db_open(&o, &d, &E));
  return d;
}

void harness_reset(void) {
  if (harness_postgres()) {
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    admin_script(sql);
  } else {
    remove_sqlite_files();
  }
}

void harness_setup(void) {
  if (harness_postgres()) {
    read_base_url();
    snprintf(schema, sizeof schema, "t_%ld_%d", (long)getpid(), rand() % 100000);
    harness_reset();
    snprintf(harness_url, sizeof harness_url, "%s%coptions=-csearch_path%%3D%s", base_url,
             strchr(base_url, '?') ? '&' : '?', schema);
  } else {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/footfall-db-XXXXXX", t && *t ? t : "/tmp");
    cr_assert(mkdtemp(tmpdir), "mkdtemp");
    snprintf(harness_url, sizeof harness_url, "sqlite:%s/test.db", tmpdir);
  }
  db = harness_open(4);
}

void harness_teardown(void) {
  db_close(db);
  db = NULL;
  if (harness_postgres()) {
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    admin_script(sql);
  } else if (tmpdir[0]) {
    remove_sqlite_files();
    rmdir(tmpdir);
  }
  harness_check_leaks();
}

void harness_check_leaks(void) {
#if defined(__SANITIZE_ADDRESS__)
  /* Criterion runs each test in a child process whose exit status does not
   * reach the report, so LeakSanitizer's verdict is asked for here. */
  if (__lsan_do_recoverable_leak_check()) {
    fprintf(stderr, "memory leaked: see the report above\n");
    abort(); /* Criterion reports a crash; a failed assertion here would be lost */
  }
#endif
}
