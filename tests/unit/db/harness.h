/* harness.h — a fresh database per test, on the backend the environment
 * names: FOOTFALL_TEST_DB=sqlite (default: a temporary file) or postgres
 * (a schema of its own in the database at FOOTFALL_TEST_PG_URL, or at the URL
 * read from the file FOOTFALL_TEST_PG_URL_FILE, which the CTest fixture
 * writes). */
#ifndef FOOTFALL_TEST_DB_HARNESS_H
#define FOOTFALL_TEST_DB_HARNESS_H

#include <criterion/criterion.h>

#include "db.h"
#include "db_internal.h"

extern struct db *db;     /* opened by harness_setup on the fresh database */
extern struct ff_error E; /* the last error, for assertion messages */
extern char harness_url[1024];

void harness_setup(void);
void harness_teardown(void);
bool harness_postgres(void);
/* Opens another pool on the same database (as another process would). */
struct db *harness_open(int pool_size);
/* Empties the database (drops and recreates the file or schema). */
void harness_reset(void);
/* In the sanitizer build: fails the test if anything leaked so far. */
void harness_check_leaks(void);

/* Asserts that a call returned FF_OK, showing the error message if not. */
#define CHECK(call)                                                                                \
  do {                                                                                             \
    memset(&E, 0, sizeof E);                                                                       \
    int check_rc_ = (call);                                                                        \
    cr_assert_eq(check_rc_, FF_OK, "%s: %d (%s) %s", #call, check_rc_, ff_status_name(check_rc_),  \
                 E.message);                                                                       \
  } while (0)

/* Asserts that a call failed with the given status. */
#define EXPECT_FAIL(call, status)                                                                  \
  do {                                                                                             \
    memset(&E, 0, sizeof E);                                                                       \
    int check_rc_ = (call);                                                                        \
    cr_assert_eq(check_rc_, (status), "%s: %d (%s), wanted %s; %s", #call, check_rc_,              \
                 ff_status_name(check_rc_), ff_status_name(status), E.message);                    \
    cr_assert(E.message[0], "%s: no error message", #call);                                        \
  } while (0)

#endif
