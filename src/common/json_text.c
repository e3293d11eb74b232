#include "json_text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

#define MAX_DEPTH 64

static int grow_slow(struct json_out *b, size_t need) {
  if (b->failed)
    return -1;
  size_t cap = b->cap ? b->cap : 1000; /* within malloc's per-thread cache */
  while (cap < b->len + need)
    cap *= 2;
  char *data = realloc(b->data, cap);
  if (!data) {
    b->failed = 1;
    return -1;
  }
  b->data = data;
  b->cap = cap;
  return 0;
}

/* Room for need more bytes; -1 once the writer has failed. */
static inline int grow(struct json_out *b, size_t need) {
  return b->len + need <= b->cap && !b->failed ? 0 : grow_slow(b, need);
}

static void put(struct json_out *b, const char *s, size_t n) {
  if (!grow(b, n)) {
    memcpy(b->data + b->len, s, n);
    b->len += n;
  }
}

static void put_int(struct json_out *b, json_int_t v) {
  char tmp[FMT_INT_MAX];
  char *start = fmt_int(tmp + sizeof tmp, v);
  put(b, start, (size_t)(tmp + sizeof tmp - start));
}

/* The bytes a JSON string must escape. */
static const unsigned char must_escape[256] = {[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1};

/* How many of the n bytes at s need no escape before the first that does:
 * eight at a time (a byte below 0x20, a quote or a backslash shows as a
 * high bit), then byte by byte from the word that has one. */
static size_t plain_run(const unsigned char *s, size_t n) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
    uint64_t hit =
        ((w - ones * 0x20) & ~w) | ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
    if (hit & highs)
      break;
  }
  while (i < n && !must_escape[s[i]])
    i++;
  return i;
}

static void put_string(struct json_out *b, const char *s, size_t n) {
  static const char hex[] = "0123456789ABCDEF"; /* as jansson */
  if (grow(b, n + 2))
    return;
  /* Room for the quotes and every byte as it is; an escape grows it. The
   * bytes before the first one to escape (usually all) are copied at once. */
  char *o = b->data + b->len;
  *o++ = '"';
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  size_t plain = plain_run(p, n);
  memcpy(o, p, plain);
  o += plain;
  p += plain;
  while (p < end) {
    unsigned char c = *p++;
    if (!must_escape[c]) {
      *o++ = (char)c;
      continue;
    }
    b->len = (size_t)(o - b->data);
    if (grow(b, 6 + (size_t)(end - p) + 1)) /* this escape, the rest, the quote */
      return;
    o = b->data + b->len;
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    default:
      *o++ = 'u';
      *o++ = '0';
      *o++ = '0';
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o++ = '"';
  b->len = (size_t)(o - b->data);
}

static int write_value(struct json_out *b, const json_t *v, int depth) {
  if (depth > MAX_DEPTH)
    return -1;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    put(b, "{", 1);
    const char *key;
    json_t *item;
    int first = 1;
    json_object_foreach((json_t *)v, key, item) {
      if (!first)
        put(b, ",", 1);
      first = 0;
      put_string(b, key, strlen(key));
      put(b, ":", 1);
      if (write_value(b, item, depth + 1))
        return -1;
    }
    put(b, "}", 1);
    return 0;
  }
  case JSON_ARRAY: {
    put(b, "[", 1);
    size_t n = json_array_size(v);
    for (size_t i = 0; i < n; i++) {
      if (i)
        put(b, ",", 1);
      if (write_value(b, json_array_get(v, i), depth + 1))
        return -1;
    }
    put(b, "]", 1);
    return 0;
  }
  case JSON_STRING: put_string(b, json_string_value(v), json_string_length(v)); return 0;
  case JSON_INTEGER: put_int(b, json_integer_value(v)); return 0;
  case JSON_REAL: {
    char tmp[32];
    double d = json_real_value(v);
    int n = snprintf(tmp, sizeof tmp, "%.17g", d);
    /* As jansson writes reals: 5 -> 5.0, 1e+300 -> 1e300, 1e-05 -> 1e-5. */
    char *e = strchr(tmp, 'e');
    if (e) {
      char *digits = e + 1, *from = e + 1;
      if (*from == '+')
        from++;
      else if (*from == '-')
        digits++, from++;
      while (*from == '0' && from[1])
        from++;
      memmove(digits, from, strlen(from) + 1);
      n = (int)strlen(tmp);
    } else if (!strpbrk(tmp, ".ni")) {
      tmp[n++] = '.';
      tmp[n++] = '0';
      tmp[n] = 0;
    }
    put(b, tmp, (size_t)n);
    return 0;
  }
  case JSON_TRUE: put(b, "true", 4); return 0;
  case JSON_FALSE: put(b, "false", 5); return 0;
  case JSON_NULL: put(b, "null", 4); return 0;
  }
  return -1;
}

char *json_text(const json_t *value, size_t *len) {
  struct json_out b = {0};
  if (!value || write_value(&b, value, 0) || grow(&b, 1)) {
    free(b.data);
    return NULL;
  }
  b.data[b.len] = 0;
  if (len)
    *len = b.len;
  return b.data;
}

/* --- direct writing ------------------------------------------------------ */

/* Before a value or a key: a comma unless it is the container's first. */
static void element(struct json_out *o) {
  if (o->after_key) {
    o->after_key = 0;
    return;
  }
  if (o->depth > 0 && o->depth < 64) {
    uint64_t bit = (uint64_t)1 << o->depth;
    if (o->has_items & bit)
      put(o, ",", 1);
    o->has_items |= bit;
  }
}

void json_out_open(struct json_out *o, char bracket) {
  element(o);
  put(o, &bracket, 1);
  o->depth++;
  if (o->depth < 64)
    o->has_items &= ~((uint64_t)1 << o->depth);
  else
    o->failed = 1; /* deeper than json_text allows */
}

void json_out_close(struct json_out *o, char bracket) {
  put(o, &bracket, 1);
  o->depth--;
}

void json_out_key(struct json_out *o, const char *key) {
  element(o);
  size_t n = strlen(key);
  if (grow(o, n + 3)) /* room for the quotes and the colon: the colon needs no check */
    return;
  put_string(o, key, n);
  o->data[o->len++] = ':';
  o->after_key = 1;
}

void json_out_name(struct json_out *o, const char *quoted_colon, size_t len) {
  element(o);
  if (grow(o, len))
    return;
  memcpy(o->data + o->len, quoted_colon, len);
  o->len += len;
  o->after_key = 1;
}

void json_out_int(struct json_out *o, int64_t v) {
  element(o);
  put_int(o, v);
}

void json_out_str(struct json_out *o, const char *s) {
  element(o);
  if (s)
    put_string(o, s, strlen(s));
  else
    put(o, "null", 4);
}

void json_out_null(struct json_out *o) {
  element(o);
  put(o, "null", 4);
}

void json_out_tree(struct json_out *o, const json_t *v) {
  element(o);
  if (!v)
    put(o, "null", 4);
  else if (write_value(o, v, o->depth))
    o->failed = 1;
}

char *json_out_finish(struct json_out *o, size_t *len) {
  char *text = NULL;
  if (o->depth == 0 && !grow(o, 1)) {
    o->data[o->len] = 0;
    if (len)
      *len = o->len;
    text = o->data;
  } else {
    free(o->data);
  }
  memset(o, 0, sizeof *o);
  return text;
}
