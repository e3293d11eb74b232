/* s3_xml.c — see s3_xml.h. Every scan is bounded by the span's length. */
#include "s3_xml.h"

#include <stdint.h>
#include <string.h>

static const char *find(const char *p, const char *end, const char *needle) {
  size_t n = strlen(needle);
  if ((size_t)(end - p) < n)
    return NULL;
  return memmem(p, (size_t)(end - p), needle, n);
}

int xml_element(struct xml_span in, const char *name, struct xml_span *inner,
                struct xml_span *rest) {
  const char *p = in.ptr, *end = in.ptr + in.len;
  size_t name_len = strlen(name);
  for (;;) {
    const char *lt = memchr(p, '<', (size_t)(end - p));
    if (!lt || (size_t)(end - lt) < name_len + 2)
      return 0;
    p = lt + 1;
    if (memcmp(p, name, name_len) != 0)
      continue;
    char after = p[name_len];
    if (after != '>' && after != '/' && after != ' ' && after != '\t' && after != '\r' &&
        after != '\n')
      continue; /* <KeyCount> is not <Key> */
    const char *gt = memchr(p, '>', (size_t)(end - p));
    if (!gt)
      return -1;
    if (gt[-1] == '/') { /* <name/> or <name attr="x"/> */
      if (inner)
        *inner = (struct xml_span){gt + 1, 0};
      if (rest)
        *rest = (struct xml_span){gt + 1, (size_t)(end - gt - 1)};
      return 1;
    }
    const char *content = gt + 1;
    /* The end tag: "</name" followed by optional blanks and '>'. */
    for (const char *q = content;;) {
      const char *close = find(q, end, "</");
      if (!close || (size_t)(end - close) < name_len + 3)
        return -1;
      q = close + 2;
      if (memcmp(q, name, name_len) != 0)
        continue;
      const char *t = q + name_len;
      while (t < end && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
        t++;
      if (t >= end || *t != '>')
        continue;
      if (inner)
        *inner = (struct xml_span){content, (size_t)(close - content)};
      if (rest)
        *rest = (struct xml_span){t + 1, (size_t)(end - t - 1)};
      return 1;
    }
  }
}

/* Writes code point cp as UTF-8 at out[*o], within out_size - 1. */
static int put_utf8(uint32_t cp, char *out, size_t out_size, size_t *o) {
  unsigned char b[4];
  size_t n;
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return -1;
  if (cp < 0x80) {
    b[0] = (unsigned char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (unsigned char)(0xC0 | (cp >> 6));
    b[1] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    b[0] = (unsigned char)(0xE0 | (cp >> 12));
    b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[2] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    b[0] = (unsigned char)(0xF0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (unsigned char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  if (*o + n >= out_size)
    return -1;
  memcpy(out + *o, b, n);
  *o += n;
  return 0;
}

static int parse_char_ref(const char *s, size_t len, uint32_t *cp) {
  int base = 10;
  if (len && (s[0] == 'x' || s[0] == 'X')) {
    base = 16;
    s++;
    len--;
  }
  if (len == 0 || len > 8)
    return -1;
  uint32_t v = 0;
  for (size_t i = 0; i < len; i++) {
    int d;
    char c = s[i];
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * (uint32_t)base + (uint32_t)d;
  }
  *cp = v;
  return 0;
}

long xml_text(struct xml_span text, char *out, size_t out_size) {
  const char *p = text.ptr, *end = text.ptr + text.len;
  size_t o = 0;
  if (out_size == 0)
    return -1;
  while (p < end) {
    char c = *p;
    if (c == '<') {
      if ((size_t)(end - p) >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
        const char *stop = find(p + 9, end, "]]>");
        if (!stop)
          return -1;
        size_t n = (size_t)(stop - (p + 9));
        if (o + n >= out_size || memchr(p + 9, '\0', n))
          return -1;
        memcpy(out + o, p + 9, n);
        o += n;
        p = stop + 3;
        continue;
      }
      return -1; /* markup inside a leaf: not what S3 sends */
    }
    if (c == '\0')
      return -1;
    if (c != '&') {
      if (o + 1 >= out_size)
        return -1;
      out[o++] = c;
      p++;
      continue;
    }
    const char *semi = memchr(p, ';', (size_t)(end - p) < 12 ? (size_t)(end - p) : 12);
    if (!semi)
      return -1;
    const char *ent = p + 1;
    size_t n = (size_t)(semi - ent);
    uint32_t cp;
    if (n == 3 && !memcmp(ent, "amp", 3))
      cp = '&';
    else if (n == 2 && !memcmp(ent, "lt", 2))
      cp = '<';
    else if (n == 2 && !memcmp(ent, "gt", 2))
      cp = '>';
    else if (n == 4 && !memcmp(ent, "quot", 4))
      cp = '"';
    else if (n == 4 && !memcmp(ent, "apos", 4))
      cp = '\'';
    else if (n >= 2 && ent[0] == '#' && parse_char_ref(ent + 1, n - 1, &cp) == 0)
      ;
    else
      return -1;
    if (put_utf8(cp, out, out_size, &o) != 0)
      return -1;
    p = semi + 1;
  }
  out[o] = '\0';
  return (long)o;
}

long xml_child_text(struct xml_span in, const char *name, char *out, size_t out_size) {
  struct xml_span inner;
  if (xml_element(in, name, &inner, NULL) != 1)
    return -1;
  return xml_text(inner, out, out_size);
}
