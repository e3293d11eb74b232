#include "fmt.h"

char *fmt_int(char *end, int64_t v) {
  /* Two digits per division ("00".."99"): timestamps have thirteen. */
  static const char pairs[201] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  /* The unsigned magnitude, so INT64_MIN needs no special case. */
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  while (u >= 100) {
    unsigned pair = (unsigned)(u % 100) * 2;
    u /= 100;
    *--end = pairs[pair + 1];
    *--end = pairs[pair];
  }
  if (u >= 10) {
    *--end = pairs[u * 2 + 1];
    *--end = pairs[u * 2];
  } else {
    *--end = (char)('0' + u);
  }
  if (v < 0)
    *--end = '-';
  return end;
}
