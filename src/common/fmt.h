/* fmt.h — decimal integers without printf, for the hot paths (a result's
 * cells, JSON answers, log lines), where snprintf's format parsing was a
 * measurable share of a request's cost. */
#ifndef FOOTFALL_FMT_H
#define FOOTFALL_FMT_H

#include <stdint.h>

/* Room fmt_int needs before `end`: 19 digits and a sign. */
#define FMT_INT_MAX 20

/* Writes v in decimal so that it ends just before `end` (no NUL); returns
 * where it starts. INT64_MIN is fine. */
char *fmt_int(char *end, int64_t v);

#endif
