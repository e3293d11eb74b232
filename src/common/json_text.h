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

/* A malloc'd NUL-terminated text (length in *len, may be NULL), or NULL
 * when out of memory or the tree is too deep (> 64 levels). */
char *json_text(const json_t *value, size_t *len);

#endif
