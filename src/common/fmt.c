#include "fmt.h"

char *fmt_int(char *end, int64_t v) {
  /* The unsigned magnitude, so INT64_MIN needs no special case. */
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--end = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    *--end = '-';
  return end;
}
