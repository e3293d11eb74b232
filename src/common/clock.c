#include "clock.h"

#include <stdatomic.h>
#include <time.h>

#include "status.h"

static atomic_llong offset_ms;
static atomic_int test_enabled;

int64_t ff_real_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ff_now_ms(void) {
  return ff_real_ms() + atomic_load_explicit(&offset_ms, memory_order_relaxed);
}

int64_t ff_clock_offset_ms(void) {
  return atomic_load(&offset_ms);
}

void ff_clock_enable_test(void) {
  atomic_store(&test_enabled, 1);
}

int ff_clock_test_enabled(void) {
  return atomic_load(&test_enabled);
}

int ff_clock_advance(int64_t ms) {
  if (!atomic_load(&test_enabled))
    return FF_EFORBIDDEN;
  if (ms <= 0 || ms > 3650LL * 86400000)
    return FF_EINVAL;
  atomic_fetch_add(&offset_ms, ms);
  return FF_OK;
}

struct timespec ff_deadline_ms(int ms) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}
