/* clock.h — the one wall clock of the server, with a test-only offset.
 *
 * Everything that decides by time (token and ticket expiry, picture
 * retention, the event ledger's horizon, "too old" events) reads ff_now_ms().
 * In production it is the system's UTC clock. Tests may move it forward to
 * run a month in a second: only after ff_clock_enable_test(), which the
 * server calls when started with `--test-clock 1` (refused unless it listens
 * on a loopback address). The offset only ever grows; it is per process.
 *
 * Coordination between instances (the scheduler's leader lease, job claims
 * and intervals) reads ff_real_ms(), so a test clock never makes another
 * instance's lease look stale.
 */
#ifndef FOOTFALL_CLOCK_H
#define FOOTFALL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds since the epoch (UTC), plus the test offset (0 unless a test
 * moved it). */
int64_t ff_now_ms(void);
/* A CLOCK_MONOTONIC time ms from now, for pthread_cond_timedwait on a
 * condition variable set to that clock. */
struct timespec ff_deadline_ms(int ms);
/* Milliseconds since the epoch (UTC), never offset. */
int64_t ff_real_ms(void);
/* The current test offset in milliseconds (0 in production). */
int64_t ff_clock_offset_ms(void);
/* Allows ff_clock_advance() for the rest of the process. */
void ff_clock_enable_test(void);
int ff_clock_test_enabled(void);
/* Moves the clock forward by ms (0 < ms <= 10 years). FF_EFORBIDDEN when the
 * test clock is not enabled, FF_EINVAL for a bad amount. */
int ff_clock_advance(int64_t ms);

#endif
