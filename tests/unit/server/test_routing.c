#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "http.h"
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
