/* json_text.h — compact JSON text from a jansson tree, fast.
 *
 * jansson formats every number through snprintf, which made encoding the
 * largest user-space cost of a small API answer. This writer produces the
 * same compact text (insertion order, no spaces, "\uXXXX" for control
 * characters, "/" left alone) with a hand-written integer formatter and one
 * growable buffer. Reals use "%.17g" (exact round trip), as jansson does.
 */
#ifndef FOOTFALL_JSON_TEXT_H
#define FOOTFALL_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A malloc'd NUL-terminated text (length in *len, may be NULL), or NULL
 * when out of memory or the tree is too deep (> 64 levels). */
char *json_text(const json_t *value, size_t *len);

/* Writing JSON text directly, without building a jansson tree first (for
 * the hottest answers: a tree costs an allocation per value). Commas are
 * placed by the writer:
 *
 *   struct json_out o = {0};
 *   json_out_open(&o, '{');
 *   json_out_key(&o, "id");
 *   json_out_int(&o, 7);
 *   json_out_close(&o, '}');
 *   char *text = json_out_finish(&o, &len);   // NULL when out of memory
 *
 * The text is the same as json_text() gives for the equivalent tree. */
struct json_out {
  char *data;
  size_t len, cap;
  int failed;
  int depth;          /* open objects and arrays */
  int after_key;      /* the next value belongs to the key just written */
  uint64_t has_items; /* bit d: the container at depth d has an element */
};
void json_out_open(struct json_out *o, char bracket); /* '{' or '[' */
void json_out_close(struct json_out *o, char bracket); /* '}' or ']' */
void json_out_key(struct json_out *o, const char *key);
/* A key known when the program is written, already quoted and followed by
 * its colon: JSON_OUT_NAME(o, "id") is json_out_key(o, "id") without
 * looking at the key's bytes (a string literal with nothing to escape). */
void json_out_name(struct json_out *o, const char *quoted_colon, size_t len);
#define JSON_OUT_NAME(o, literal) json_out_name((o), "\"" literal "\":", sizeof(literal) + 2)
void json_out_int(struct json_out *o, int64_t v);
void json_out_str(struct json_out *o, const char *s); /* NULL: null */
void json_out_null(struct json_out *o);
void json_out_tree(struct json_out *o, const json_t *v); /* NULL: null */
/* The NUL-terminated text (caller frees), or NULL (then nothing to free). */
char *json_out_finish(struct json_out *o, size_t *len);

#endif
