/* The bounded XML reader behind the S3 backend: entity escapes in keys,
 * look-alike element names, and malformed or truncated answers. */
#include "s3_xml.h"

#include <criterion/criterion.h>
#include <string.h>

static struct xml_span span(const char *s) {
  return (struct xml_span){s, strlen(s)};
}

Test(s3_xml, finds_elements_and_decodes_entities) {
  const char *doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>"
      "<Contents><Key>t/1/a&amp;b&lt;c&gt;&quot;d&apos;&#65;&#x42;&#xe9;&#x1F600;</Key>"
      "<Size>12</Size></Contents>"
      "<Contents><Key><![CDATA[t/1/<raw>&amp;]]></Key><Size>0</Size></Contents>"
      "</ListBucketResult>";
  struct xml_span result, contents, rest;
  cr_assert(xml_element(span(doc), "ListBucketResult", &result, NULL) == 1);
  char out[128];
  cr_assert(xml_child_text(result, "IsTruncated", out, sizeof out) == 5);
  cr_assert_str_eq(out, "false");
  /* <KeyCount> must not be taken for <Key>. */
  cr_assert(xml_element(result, "Contents", &contents, &rest) == 1);
  long n = xml_child_text(contents, "Key", out, sizeof out);
  cr_assert_str_eq(out, "t/1/a&b<c>\"d'AB\xc3\xa9\xf0\x9f\x98\x80");
  cr_assert(n == (long)strlen(out));
  cr_assert(xml_element(rest, "Contents", &contents, &rest) == 1);
  cr_assert(xml_child_text(contents, "Key", out, sizeof out) > 0);
  cr_assert_str_eq(out, "t/1/<raw>&amp;");
  cr_assert(xml_element(rest, "Contents", &contents, &rest) == 0);
}

Test(s3_xml, empty_elements_and_end_tags_with_blanks) {
  struct xml_span inner, rest;
  cr_assert(xml_element(span("<a><Prefix/><b>x</b ></a>"), "Prefix", &inner, &rest) == 1);
  cr_assert(inner.len == 0);
  char out[8];
  cr_assert(xml_child_text(rest, "b", out, sizeof out) == 1);
  cr_assert_str_eq(out, "x");
}

Test(s3_xml, malformed_input_is_refused) {
  char out[16];
  /* Unterminated elements, at every cut of a small document. */
  const char *doc = "<Contents><Key>t/1/x</Key></Contents>";
  for (size_t cut = 16; cut < strlen(doc); cut++) {
    struct xml_span part = {doc, cut}, inner;
    int found = xml_element(part, "Contents", &inner, NULL);
    cr_assert(found != 1, "cut at %zu accepted", cut);
  }
  cr_assert(xml_child_text(span("<Key>a&bogus;b</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>a&amp</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>a&#0;b</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>a&#xD800;</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>a&#x110000;</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>a&#xZZ;</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>a<b>c</b></Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key><![CDATA[abc</Key>"), "Key", out, sizeof out) == -1);
  /* Too long for the buffer: refused, not truncated. */
  cr_assert(xml_child_text(span("<Key>0123456789abcdef</Key>"), "Key", out, sizeof out) == -1);
  cr_assert(xml_child_text(span("<Key>0123456789abcde</Key>"), "Key", out, sizeof out) == 15);
  cr_assert(xml_child_text(span("<Key>&#x1F600;&#x1F600;&#x1F600;&#x1F600;</Key>"), "Key", out,
                           sizeof out) == -1);
  /* Absent. */
  cr_assert(xml_child_text(span("<Other>x</Other>"), "Key", out, sizeof out) == -1);
  /* A NUL inside the text. */
  struct xml_span with_nul = {"<Key>a\0b</Key>", 14};
  cr_assert(xml_child_text(with_nul, "Key", out, sizeof out) == -1);
}
