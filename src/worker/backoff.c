#include "backoff.h"

#include <sodium.h>
#include <time.h>

void backoff_init(struct backoff *b, int base_ms, int cap_ms) {
  b->base_ms = base_ms > 0 ? base_ms : 1;
  b->cap_ms = cap_ms >= b->base_ms ? cap_ms : b->base_ms;
  b->attempt = 0;
}

int backoff_next_ms(struct backoff *b) {
  int64_t d = b->base_ms;
  for (int i = 0; i < b->attempt && d < b->cap_ms; i++)
    d *= 2;
  if (d > b->cap_ms)
    d = b->cap_ms;
  if (b->attempt < 62)
    b->attempt++;
  int64_t half = d / 2;
  return (int)(half + (int64_t)randombytes_uniform((uint32_t)(d - half + 1)));
}

void backoff_reset(struct backoff *b) {
  b->attempt = 0;
}

int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
