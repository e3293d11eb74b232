/* backoff.h — capped exponential backoff with jitter, and monotonic time.
 *
 * The n-th retry (n = 0, 1, ...) waits a random time in [d/2, d] where
 * d = min(cap, base * 2^n): the upper bound doubles from base to cap, and
 * the jitter spreads many workers (or cameras) that failed together so they
 * do not retry in step. Pure functions; the random source is libsodium's.
 */
#ifndef FOOTFALL_WORKER_BACKOFF_H
#define FOOTFALL_WORKER_BACKOFF_H

#include <stdint.h>

struct backoff {
  int base_ms, cap_ms;
  int attempt; /* retries so far since the last success */
};

void backoff_init(struct backoff *b, int base_ms, int cap_ms);
/* The wait before the next retry; advances the attempt count. */
int backoff_next_ms(struct backoff *b);
void backoff_reset(struct backoff *b);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds. */
int64_t monotonic_ms(void);
int64_t wall_ms(void);

#endif
