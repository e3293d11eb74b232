#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "server.h"
#include "tenants.h"

Test(routing, patterns_match_whole_segments) {
  struct request rq;
  memset(&rq, 0, sizeof rq);
  cr_assert(http_path_matches("/v1/sites/{id}", "/v1/sites/42", &rq));
  cr_assert_str_eq(http_param(&rq, "id"), "42");
  cr_assert_eq(http_param_id(&rq, "id"), 42);
  cr_assert_not(http_path_matches("/v1/sites/{id}", "/v1/sites/", &rq));
  cr_assert_not(http_path_matches("/v1/sites/{id}", "/v1/sites/4/x", &rq));
  cr_assert_not(http_path_matches("/v1/sites", "/v1/sites/", &rq));
  cr_assert(http_path_matches("/v1/sites/{id}", "/v1/sites/abc", &rq));
  cr_assert_eq(http_param_id(&rq, "id"), 0, "not an id");
  cr_assert(http_path_matches("/v1/sites/{id}", "/v1/sites/99999999999999999999", &rq));
  cr_assert_eq(http_param_id(&rq, "id"), 0, "overflowing id");
}

Test(timezones, only_real_iana_zones) {
  cr_assert(timezone_valid("Europe/Paris"));
  cr_assert(timezone_valid("Asia/Ho_Chi_Minh"));
  cr_assert(timezone_valid("UTC"));
  cr_assert_not(timezone_valid("Mars/Olympus"));
  cr_assert_not(timezone_valid("../../etc/passwd"));
  cr_assert_not(timezone_valid("/etc/localtime"));
  cr_assert_not(timezone_valid(""));
  cr_assert_not(timezone_valid("posix/Europe/Paris"));
  cr_assert_not(timezone_valid("Europe"), "a folder is not a zone");
}

/* The client address as the access log and the login rate limit see it:
 * IPv4 is formatted by hand, and must read as inet_ntop writes it. */
Test(routing, client_addresses_read_as_inet_ntop_writes_them) {
  const char *samples[] = {"0.0.0.0", "127.0.0.1", "10.0.100.9", "192.168.1.255",
                           "255.255.255.255", "1.20.199.7"};
  for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
    struct sockaddr_in sin = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, samples[i], &sin.sin_addr), 1);
    struct _u_request raw = {.client_address = (struct sockaddr *)&sin};
    struct request rq = {.raw = &raw};
    char out[64];
    http_client_address(&rq, out, sizeof out);
    cr_expect_str_eq(out, samples[i]);
  }
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
  cr_assert_eq(inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr), 1);
  struct _u_request raw = {.client_address = (struct sockaddr *)&sin6};
  struct request rq = {.raw = &raw};
  char out[64];
  http_client_address(&rq, out, sizeof out);
  cr_expect_str_eq(out, "2001:db8::7");
  raw.client_address = NULL;
  http_client_address(&rq, out, sizeof out);
  cr_expect_str_eq(out, "");
}

/* Response headers are kept in the request and written into ulfius's map
 * once: a handler's header wins over the defaults, names compare without
 * case, and headers beyond the request's room still arrive. */
static int header_count(const struct _u_map *map, const char *name) {
  int n = 0;
  for (int i = 0; i < map->nb_values; i++)
    n += !strcasecmp(map->keys[i], name);
  return n;
}

Test(routing, response_headers_defaults_and_overrides) {
  struct server *s = calloc(1, sizeof *s); /* no CORS origins configured */
  struct _u_request raw;
  struct _u_response res;
  ulfius_init_request(&raw);
  ulfius_init_response(&res);
  struct request *rq = calloc(1, sizeof *rq);
  rq->server = s;
  rq->raw = &raw;
  rq->res = &res;
  strcpy(rq->id, "abc123");
  char value[32];
  strcpy(value, "private, max-age=300");
  http_header(rq, "Cache-Control", value);
  memset(value, 'x', sizeof value - 1); /* the value was copied */
  http_header(rq, "Content-Type", "text/plain");
  http_header(rq, "content-type", "image/jpeg"); /* replaces, whatever the case */
  http_headers_finish(rq, 1);
  const struct _u_map *map = res.map_header;
  cr_expect_str_eq(u_map_get_case(map, "Cache-Control"), "private, max-age=300");
  cr_expect_eq(header_count(map, "Cache-Control"), 1);
  cr_expect_str_eq(u_map_get_case(map, "Content-Type"), "image/jpeg");
  cr_expect_eq(header_count(map, "Content-Type"), 1);
  cr_expect_str_eq(u_map_get(map, "X-Request-Id"), "abc123");
  cr_expect_str_eq(u_map_get(map, "X-Content-Type-Options"), "nosniff");
  cr_expect_str_eq(u_map_get(map, "Content-Security-Policy"),
                   "default-src 'none'; frame-ancestors 'none'");
  cr_expect_null(u_map_get(map, "Access-Control-Allow-Origin"));
  cr_expect_eq(map->keys[map->nb_values], NULL, "the map stays NULL-terminated");
  ulfius_clean_response(&res);

  /* More headers than the request keeps: the rest go to the map at once. */
  ulfius_init_response(&res);
  memset(rq, 0, sizeof *rq);
  rq->server = s;
  rq->raw = &raw;
  rq->res = &res;
  char long_value[200];
  memset(long_value, 'v', sizeof long_value - 1);
  long_value[sizeof long_value - 1] = 0;
  for (int i = 0; i < 40; i++) {
    char name[32];
    snprintf(name, sizeof name, "X-Test-%d", i);
    http_header(rq, name, long_value);
  }
  http_header(rq, "X-Test-3", "three"); /* kept in the request: replaced there */
  http_header(rq, "X-Test-39", "last"); /* went to the map: replaced there */
  http_headers_finish(rq, 0);
  map = res.map_header;
  for (int i = 0; i < 40; i++) {
    char name[32];
    snprintf(name, sizeof name, "X-Test-%d", i);
    cr_expect_eq(header_count(map, name), 1, "%s once", name);
  }
  cr_expect_str_eq(u_map_get(map, "X-Test-3"), "three");
  cr_expect_str_eq(u_map_get(map, "X-Test-39"), "last");
  cr_expect_str_eq(u_map_get(map, "X-Test-20"), long_value);
  cr_expect_null(u_map_get(map, "Content-Security-Policy"), "not an api path");
  cr_expect_str_eq(u_map_get(map, "X-Frame-Options"), "DENY");
  ulfius_clean_response(&res);
  ulfius_clean_request(&raw);
  free(rq);
  free(s);
}
