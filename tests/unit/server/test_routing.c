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
