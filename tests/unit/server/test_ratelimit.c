#include <criterion/criterion.h>
#include <stdio.h>

#include "ratelimit.h"

Test(ratelimit, blocks_after_max_failures_until_the_window_ends) {
  struct ratelimit rl;
  cr_assert_eq(ratelimit_init(&rl, 3, 60000), 0);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(ratelimit_check(&rl, "user:a", 1000 + i), 0);
    ratelimit_fail(&rl, "user:a", 1000 + i);
  }
  int wait = ratelimit_check(&rl, "user:a", 2000);
  cr_assert_eq(wait, 59, "seconds left in the window, rounded up: %d", wait);
  cr_assert_eq(ratelimit_check(&rl, "user:b", 2000), 0, "other keys are not affected");
  cr_assert_eq(ratelimit_check(&rl, "user:a", 61000), 0, "a new window starts");
  ratelimit_free(&rl);
}

Test(ratelimit, clear_resets) {
  struct ratelimit rl;
  ratelimit_init(&rl, 1, 60000);
  ratelimit_fail(&rl, "k", 0);
  cr_assert_gt(ratelimit_check(&rl, "k", 1), 0);
  ratelimit_clear(&rl, "k");
  cr_assert_eq(ratelimit_check(&rl, "k", 1), 0);
  ratelimit_free(&rl);
}

Test(ratelimit, memory_is_bounded_under_many_keys) {
  struct ratelimit rl;
  ratelimit_init(&rl, 2, 60000);
  char key[32];
  for (int i = 0; i < RATELIMIT_SLOTS * 4; i++) {
    snprintf(key, sizeof key, "addr:%d", i);
    ratelimit_fail(&rl, key, 1000);
  }
  /* The newest keys are still tracked. */
  snprintf(key, sizeof key, "addr:%d", RATELIMIT_SLOTS * 4 - 1);
  ratelimit_fail(&rl, key, 1001);
  cr_assert_gt(ratelimit_check(&rl, key, 1002), 0);
  ratelimit_free(&rl);
}
