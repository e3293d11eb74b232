#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
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
  /* Escapes that grow the text far past its first allocation. */
  char mixed[6000];
  for (size_t i = 0; i < sizeof mixed; i++)
    mixed[i] = "a\x01\"\\\n\x1fz"[i % 7];
  same_as_jansson(json_stringn(mixed, sizeof mixed));
}

/* Strings are scanned eight bytes at a time: each byte that must be escaped
 * (and its neighbours that must not: 0x20, 0x7f, UTF-8) at every offset of
 * the first words, in strings of every length around a word. */
Test(json_text, escapes_at_every_offset) {
  static const unsigned char special[] = {0x00, 0x01, 0x1f, 0x20, '"',  '\\', '/',
                                          0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xff};
  for (size_t len = 1; len <= 20; len++)
    for (size_t at = 0; at < len; at++)
      for (size_t k = 0; k < sizeof special; k++) {
        char text[24];
        memset(text, 'a', len);
        text[at] = (char)special[k];
        if (special[k] >= 0x80) /* keep it valid UTF-8: é or a lone continuation's pair */
          text[at] = at + 1 < len ? (char)0xc3 : 'b';
        if (special[k] >= 0x80 && at + 1 < len)
          text[at + 1] = (char)0xa9;
        same_as_jansson(json_stringn(text, len));
      }
}

static void same_as_printf(int64_t v) {
  char ours[FMT_INT_MAX + 1], theirs[32];
  char *start = fmt_int(ours + FMT_INT_MAX, v);
  ours[FMT_INT_MAX] = 0;
  snprintf(theirs, sizeof theirs, "%lld", (long long)v);
  cr_assert_str_eq(start, theirs);
}

/* Integers two digits at a time: every length, both signs, the ends. */
Test(fmt, integers_as_printf_writes_them) {
  for (int64_t v = -100000; v <= 100000; v++)
    same_as_printf(v);
  for (int64_t p = 1;; p *= 10) { /* 10^0 .. 10^18 */
    for (int64_t d = -2; d <= 2; d++) {
      same_as_printf(p + d);
      same_as_printf(-p + d);
    }
    if (p > INT64_MAX / 10)
      break;
  }
  same_as_printf(INT64_MAX);
  same_as_printf(INT64_MIN);
  same_as_printf(INT64_MIN + 1);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    same_as_printf((int64_t)x);
    same_as_printf((int64_t)(x >> (i % 64)));
  }
}

Test(json_out, names_written_as_keys) {
  struct json_out a = {0}, b = {0};
  json_out_open(&a, '{');
  json_out_open(&b, '{');
  json_out_key(&a, "id");
  JSON_OUT_NAME(&b, "id");
  json_out_int(&a, 1);
  json_out_int(&b, 1);
  json_out_key(&a, "created_at_ms");
  JSON_OUT_NAME(&b, "created_at_ms");
  json_out_null(&a);
  json_out_null(&b);
  json_out_close(&a, '}');
  json_out_close(&b, '}');
  char *x = json_out_finish(&a, NULL), *y = json_out_finish(&b, NULL);
  cr_assert_str_eq(y, "{\"id\":1,\"created_at_ms\":null}");
  cr_assert_str_eq(x, y);
  free(x);
  free(y);
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

/* The direct writer gives the text json_text() gives for the same tree. */
Test(json_out, matches_the_tree_writer) {
  json_t *hours = json_pack("{s:[[s,s]],s:[]}", "mon", "09:00", "18:00", "sun");
  struct json_out o = {0};
  json_out_open(&o, '{');
  json_out_key(&o, "items");
  json_out_open(&o, '[');
  for (int i = 0; i < 3; i++) {
    json_out_open(&o, '{');
    json_out_key(&o, "id");
    json_out_int(&o, i ? INT64_MIN + i : INT64_MAX);
    json_out_key(&o, "name");
    json_out_str(&o, "q \" b \\ \x01 é");
    json_out_key(&o, "none");
    json_out_str(&o, NULL);
    json_out_key(&o, "hours");
    json_out_tree(&o, i == 1 ? hours : NULL);
    json_out_key(&o, "empty");
    json_out_open(&o, '[');
    json_out_close(&o, ']');
    json_out_close(&o, '}');
  }
  json_out_int(&o, 0);
  json_out_null(&o);
  json_out_close(&o, ']');
  json_out_key(&o, "next_cursor");
  json_out_null(&o);
  json_out_close(&o, '}');
  size_t len = 0;
  char *ours = json_out_finish(&o, &len);
  cr_assert_not_null(ours);
  cr_expect_eq(len, strlen(ours));

  json_t *items = json_array();
  for (int i = 0; i < 3; i++)
    json_array_append_new(
        items, json_pack("{s:I,s:s,s:n,s:O?,s:[]}", "id",
                         (json_int_t)(i ? INT64_MIN + i : INT64_MAX), "name",
                         "q \" b \\ \x01 é", "none", "hours", i == 1 ? hours : NULL, "empty"));
  json_array_append_new(items, json_integer(0));
  json_array_append_new(items, json_null());
  json_t *tree = json_pack("{s:o,s:n}", "items", items, "next_cursor");
  char *theirs = json_text(tree, NULL);
  cr_expect_str_eq(ours, theirs);
  free(ours);
  free(theirs);
  json_decref(tree);
  json_decref(hours);
}

Test(json_out, unbalanced_or_too_deep_gives_null) {
  struct json_out o = {0};
  json_out_open(&o, '[');
  cr_expect_null(json_out_finish(&o, NULL), "an open array is not a text");
  for (int i = 0; i < 70; i++)
    json_out_open(&o, '[');
  for (int i = 0; i < 70; i++)
    json_out_close(&o, ']');
  cr_expect_null(json_out_finish(&o, NULL), "deeper than 64 levels");
  json_out_open(&o, '{');
  json_out_close(&o, '}');
  char *text = json_out_finish(&o, NULL);
  cr_expect_str_eq(text, "{}", "the writer is reusable after finish");
  free(text);
}
