/* The staff cache: strict parsing, refresh from a real HTTP listener
 * (test double), the disk copy used when the server is down, a failed
 * refresh keeping the current list, matching by distance. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_double.h"
#include "staffcache.h"

static char dir[64], path[128];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/footfall-staff-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/staff.json", dir);
}
static void teardown(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}
TestSuite(staffcache, .init = setup, .fini = teardown);

/* {"site_id":1,"version":V,"staff":[{"id":7,"name":"Ann","descriptors":[[e_k...]]}]} */
static char *list_json(int version, int hot) {
  size_t cap = 8192;
  char *s = malloc(cap);
  int n = snprintf(s, cap,
                   "{\"site_id\":1,\"version\":%d,\"staff\":[{\"id\":7,\"name\":\"Ann\","
                   "\"descriptors\":[[",
                   version);
  for (int i = 0; i < 128; i++)
    n += snprintf(s + n, cap - (size_t)n, "%s%s", i ? "," : "", i == hot ? "1" : "0");
  snprintf(s + n, cap - (size_t)n, "]]}]}");
  return s;
}

Test(staffcache, refresh_store_and_start_without_server) {
  struct http_double server;
  cr_assert_eq(double_start(&server), 0);
  char *body = list_json(5, 3);
  server.fixed_body = body;
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", server.port);

  struct staffcache *sc;
  cr_assert_eq(staffcache_open(path, &sc, NULL), FF_OK);
  struct staffcache_info info;
  staffcache_get_info(sc, &info);
  cr_assert_eq(info.members, 0);
  struct ff_error err = {0};
  cr_assert_eq(staffcache_refresh(sc, url, "ffw_key", 2000, &err), FF_OK, "%s", err.message);
  cr_assert_str_eq(server.requests[0].method, "GET");
  cr_assert_str_eq(server.requests[0].path, "/v1/worker/staff");
  cr_assert_str_eq(server.requests[0].authorization, "Bearer ffw_key");
  staffcache_get_info(sc, &info);
  cr_assert_eq(info.version, 5);
  cr_assert_eq(info.members, 1);
  cr_assert_eq(info.descriptors, 1);

  float probe[128] = {0};
  probe[3] = 0.9f; /* distance 0.1 */
  int64_t id = 0;
  char name[STAFF_NAME_MAX];
  double d;
  cr_assert_eq(staffcache_match(sc, probe, 0.5, &id, name, &d), 1);
  cr_assert_eq(id, 7);
  cr_assert_str_eq(name, "Ann");
  cr_assert_float_eq(d, 0.1, 1e-6);
  probe[3] = 0;
  probe[4] = 1; /* distance sqrt(2) */
  cr_assert_eq(staffcache_match(sc, probe, 0.5, &id, name, &d), 0);

  /* Server answers garbage, then dies: the list stays. */
  double_set_mode(&server, DOUBLE_GARBAGE, 0);
  cr_assert_eq(staffcache_refresh(sc, url, "ffw_key", 2000, &err), FF_EINVAL);
  double_set_mode(&server, DOUBLE_500, 0);
  cr_assert_eq(staffcache_refresh(sc, url, "ffw_key", 2000, &err), FF_EIO);
  staffcache_get_info(sc, &info);
  cr_assert_eq(info.version, 5);
  cr_assert_eq(info.refresh_failures, 2);
  staffcache_close(sc);
  double_stop(&server);

  /* A new worker with no server starts from the disk copy. */
  cr_assert_eq(staffcache_open(path, &sc, NULL), FF_OK);
  staffcache_get_info(sc, &info);
  cr_assert_eq(info.version, 5);
  cr_assert_eq(info.members, 1);
  cr_assert_eq(staffcache_refresh(sc, url, "ffw_key", 500, &err), FF_EIO);
  staffcache_get_info(sc, &info);
  cr_assert_eq(info.members, 1);
  staffcache_close(sc);
  free(body);
  /* No temporary file left beside it. */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
  cr_assert_eq(system(cmd), 0);
}

Test(staffcache, strict_parsing) {
  struct staff_list list;
  struct ff_error err = {0};
  char *good = list_json(0, 0);
  cr_assert_eq(staff_list_parse(good, strlen(good), &list, &err), FF_OK, "%s", err.message);
  cr_assert_eq(list.count, 1);
  staff_list_free(&list);
  free(good);
  const char *empty = "{\"site_id\":3,\"version\":1,\"staff\":[]}";
  cr_assert_eq(staff_list_parse(empty, strlen(empty), &list, &err), FF_OK);
  cr_assert_eq(list.count, 0);
  staff_list_free(&list);
  const char *bad[] = {
      "",
      "[]",
      "{\"version\":1,\"staff\":[]}",
      "{\"site_id\":0,\"version\":1,\"staff\":[]}",
      "{\"site_id\":1,\"version\":-1,\"staff\":[]}",
      "{\"site_id\":1,\"version\":1,\"staff\":{}}",
      "{\"site_id\":1,\"version\":1,\"staff\":[{\"id\":1,\"name\":\"A\",\"descriptors\":[[1,2]]}]}",
      "{\"site_id\":1,\"version\":1,\"staff\":[{\"id\":\"1\",\"name\":\"A\",\"descriptors\":[]}]}",
      "{\"site_id\":1,\"version\":1,\"staff\":[{\"id\":1,\"name\":2,\"descriptors\":[]}]}",
      "{\"site_id\":1,\"version\":1,\"staff\":[{\"id\":1,\"name\":\"A\",\"descriptors\":[]},"
      "{\"id\":1,\"name\":\"B\",\"descriptors\":[]}]}",
      "{\"site_id\":1,\"site_id\":2,\"version\":1,\"staff\":[]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_neq(staff_list_parse(bad[i], strlen(bad[i]), &list, &err), FF_OK,
                  "accepted bad list %zu", i);
  /* A non-finite number and a huge name. */
  char *nan = list_json(1, 0);
  char *one = strstr(nan, "[[1");
  memcpy(one + 2, "x", 1);
  cr_assert_eq(staff_list_parse(nan, strlen(nan), &list, &err), FF_EINVAL);
  free(nan);
  /* A long name is cut at a character boundary (here: 2-byte "é"s). */
  char huge[1024] = "{\"site_id\":1,\"version\":1,\"model\":\"x\",\"staff\":[{\"id\":1,"
                    "\"name\":\"";
  for (int i = 0; i < 100; i++)
    strcat(huge, "\xc3\xa9");
  strcat(huge, "\",\"descriptors\":[]}]}");
  cr_assert_eq(staff_list_parse(huge, strlen(huge), &list, &err), FF_OK, "%s", err.message);
  cr_assert_eq(strlen(list.members[0].name), 126);
  staff_list_free(&list);
}
