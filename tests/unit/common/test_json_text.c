#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "json_text.h"

/* Text from json_text() parses back to an equal tree, and matches
 * jansson's own compact encoding byte for byte where both are defined. */
static void same_as_jansson(json_t *v) {
  size_t len = 0;
  char *ours = json_text(v, &len);
  char *theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  cr_assert_not_null(ours);
  cr_expect_str_eq(ours, theirs);
  cr_expect_eq(len, strlen(ours));
  json_t *back = json_loads(ours, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  cr_expect(json_equal(back, v), "round trip of %s", ours);
  json_decref(back);
  free(ours);
  free(theirs);
  json_decref(v);
}

Test(json_text, matches_jansson) {
  same_as_jansson(
      json_pack("{s:i,s:s,s:b,s:n,s:[i,i,i]}", "a", 1, "b", "x", "c", 1, "d", "e", 1, -2, 3));
  same_as_jansson(json_integer(INT64_MIN));
  same_as_jansson(json_integer(INT64_MAX));
  same_as_jansson(json_integer(0));
  same_as_jansson(json_string("quote \" backslash \\ slash / tab \t nl \n cr \r \x01 \x1f é 漢"));
  same_as_jansson(json_pack("{s:{s:{s:[]}},s:{}}", "deep", "er", "est", "empty"));
  same_as_jansson(json_real(0.5));
  same_as_jansson(json_real(-1e300));
  same_as_jansson(json_real(5.0));
  same_as_jansson(json_real(1e-5));
  same_as_jansson(json_real(123456789.125));
  same_as_jansson(json_stringn("nul\0inside", 10));
}

Test(json_text, too_deep_is_refused) {
  json_t *root = json_array(), *cur = root;
  for (int i = 0; i < 100; i++) {
    json_t *next = json_array();
    json_array_append_new(cur, next);
    cur = next;
  }
  cr_assert_null(json_text(root, NULL));
  json_decref(root);
}
