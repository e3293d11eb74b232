#include "ratelimit.h"

#include <stdlib.h>
#include <string.h>

int ratelimit_init(struct ratelimit *rl, int max_failures, int64_t window_ms) {
  rl->max_failures = max_failures;
  rl->window_ms = window_ms;
  rl->slots = calloc(RATELIMIT_SLOTS, sizeof *rl->slots);
  if (!rl->slots)
    return -1;
  pthread_mutex_init(&rl->lock, NULL);
  return 0;
}

void ratelimit_free(struct ratelimit *rl) {
  if (!rl->slots)
    return;
  free(rl->slots);
  rl->slots = NULL;
  pthread_mutex_destroy(&rl->lock);
}

static uint64_t hash(const char *key) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)key; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return h;
}

#define PROBES 8

/* Finds the key's slot, or (create) the best slot to take for it: an empty
 * or expired one, else the oldest among the probes. Lock held. */
static struct ratelimit_slot *lookup(struct ratelimit *rl, const char *key, int64_t now,
                                     int create) {
  uint64_t h = hash(key);
  struct ratelimit_slot *victim = NULL;
  int victim_free = 0;
  for (int i = 0; i < PROBES; i++) {
    struct ratelimit_slot *s = &rl->slots[(h + (uint64_t)i) % RATELIMIT_SLOTS];
    if (!strcmp(s->key, key))
      return s;
    int is_free = !s->key[0] || now - s->window_start_ms >= rl->window_ms;
    if (is_free && !victim_free) {
      victim = s;
      victim_free = 1;
    } else if (!victim_free && (!victim || s->window_start_ms < victim->window_start_ms)) {
      victim = s;
    }
  }
  if (!create)
    return NULL;
  strncpy(victim->key, key, RATELIMIT_KEY_MAX - 1);
  victim->key[RATELIMIT_KEY_MAX - 1] = 0;
  victim->window_start_ms = now;
  victim->failures = 0;
  return victim;
}

int ratelimit_check(struct ratelimit *rl, const char *key, int64_t now_ms) {
  int wait = 0;
  pthread_mutex_lock(&rl->lock);
  struct ratelimit_slot *s = lookup(rl, key, now_ms, 0);
  if (s && now_ms - s->window_start_ms < rl->window_ms && s->failures >= rl->max_failures)
    wait = (int)((s->window_start_ms + rl->window_ms - now_ms + 999) / 1000);
  pthread_mutex_unlock(&rl->lock);
  return wait;
}

void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now_ms) {
  pthread_mutex_lock(&rl->lock);
  struct ratelimit_slot *s = lookup(rl, key, now_ms, 1);
  if (now_ms - s->window_start_ms >= rl->window_ms) {
    s->window_start_ms = now_ms;
    s->failures = 0;
  }
  s->failures++;
  pthread_mutex_unlock(&rl->lock);
}

void ratelimit_clear(struct ratelimit *rl, const char *key) {
  pthread_mutex_lock(&rl->lock);
  struct ratelimit_slot *s = lookup(rl, key, 0, 0);
  if (s)
    memset(s, 0, sizeof *s);
  pthread_mutex_unlock(&rl->lock);
}
