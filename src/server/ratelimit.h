/* ratelimit.h — failed-login limiter: at most N failures per key within a
 * sliding window; keys are "user:<name>" and "addr:<ip>".
 *
 * A fixed-size open-addressing table guarded by one mutex; when full, the
 * oldest entry is overwritten, so memory never grows with an attacker's
 * distinct usernames. Per process: with several server instances each keeps
 * its own counts (the limit is then N per instance).
 */
#ifndef FOOTFALL_RATELIMIT_H
#define FOOTFALL_RATELIMIT_H

#include <pthread.h>
#include <stdint.h>

#define RATELIMIT_SLOTS 4096
#define RATELIMIT_KEY_MAX 96

struct ratelimit_slot {
  char key[RATELIMIT_KEY_MAX];
  int64_t window_start_ms;
  int failures;
};

struct ratelimit {
  pthread_mutex_t lock; /* guards slots */
  int max_failures;
  int64_t window_ms;
  struct ratelimit_slot *slots;
};

int ratelimit_init(struct ratelimit *rl, int max_failures, int64_t window_ms);
void ratelimit_free(struct ratelimit *rl);
/* 0 when allowed; otherwise the seconds to wait (for Retry-After). */
int ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms);
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms);
void ratelimit_clear(struct ratelimit *rl, const char *key);

#endif
