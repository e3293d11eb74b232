/* The pure bucketing of the report rollups (rollups.h): local hours and days
 * across DST changes, cutting a range into a head, whole local days and a
 * tail, and the age bands. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "rollups.h"
#include "tz.h"

static struct tz *zone(const char *name) {
  struct tz *tz = NULL;
  struct ff_error err = {0};
  cr_assert_eq(tz_load(name, &tz, &err), FF_OK, "%s: %s", name, err.message);
  return tz;
}

static int64_t ms(const char *rfc3339) {
  int64_t t = 0;
  cr_assert_eq(tz_parse_rfc3339(rfc3339, &t), FF_OK, "%s", rfc3339);
  return t;
}

static int64_t day(int y, int m, int d) {
  return tz_days_from_civil(y, m, d);
}

Test(rollups, a_spring_forward_day_has_23_hours_and_no_2am) {
  struct tz *ny = zone("America/New_York");
  int64_t start = rollup_day_start_ms(ny, day(2026, 3, 8));
  int64_t end = rollup_day_start_ms(ny, day(2026, 3, 9));
  cr_assert_eq(start, ms("2026-03-08T05:00:00Z"));
  cr_assert_eq(end - start, 23 * 3600000LL);
  struct rollup_cell c;
  rollup_locate(ny, ms("2026-03-08T07:30:00Z"), &c); /* 03:30 EDT */
  cr_assert_eq(c.local_hour, 3);
  cr_assert_eq(c.hour_start, ms("2026-03-08T07:00:00Z"));
  cr_assert_eq(c.local_day, day(2026, 3, 8));
  cr_assert_eq(c.weekday, 6); /* a Sunday */
  tz_free(ny);
}

Test(rollups, a_fall_back_day_has_25_hours_and_two_1am_hours) {
  struct tz *ny = zone("America/New_York");
  int64_t start = rollup_day_start_ms(ny, day(2026, 11, 1));
  cr_assert_eq(rollup_day_start_ms(ny, day(2026, 11, 2)) - start, 25 * 3600000LL);
  struct rollup_cell a, b;
  rollup_locate(ny, ms("2026-11-01T05:30:00Z"), &a); /* 01:30 EDT */
  rollup_locate(ny, ms("2026-11-01T06:30:00Z"), &b); /* 01:30 EST */
  cr_assert_eq(a.local_hour, 1);
  cr_assert_eq(b.local_hour, 1);
  cr_assert_neq(a.hour_start, b.hour_start, "two different rollup rows");
  cr_assert_eq(a.local_day, b.local_day);
  tz_free(ny);
}

Test(rollups, berlin_and_a_zone_without_dst) {
  struct tz *berlin = zone("Europe/Berlin"), *hcm = zone("Asia/Ho_Chi_Minh");
  cr_assert_eq(rollup_day_start_ms(berlin, day(2026, 3, 30)) -
                   rollup_day_start_ms(berlin, day(2026, 3, 29)),
               23 * 3600000LL);
  cr_assert_eq(rollup_day_start_ms(berlin, day(2026, 10, 26)) -
                   rollup_day_start_ms(berlin, day(2026, 10, 25)),
               25 * 3600000LL);
  for (int m = 1; m <= 12; m++)
    cr_assert_eq(rollup_day_start_ms(hcm, day(2026, m, 2)) -
                     rollup_day_start_ms(hcm, day(2026, m, 1)),
                 24 * 3600000LL);
  cr_assert_eq(rollup_local_day(hcm, ms("2026-03-08T16:59:59Z")), day(2026, 3, 8));
  cr_assert_eq(rollup_local_day(hcm, ms("2026-03-08T17:00:00Z")), day(2026, 3, 9));
  tz_free(berlin);
  tz_free(hcm);
}

Test(rollups, a_half_hour_zone_starts_its_hours_at_half_past) {
  struct tz *kolkata = zone("Asia/Kolkata");
  struct rollup_cell c;
  rollup_locate(kolkata, ms("2026-05-01T10:45:00Z"), &c); /* 16:15 IST */
  cr_assert_eq(c.local_hour, 16);
  cr_assert_eq(c.hour_start, ms("2026-05-01T10:30:00Z"));
  tz_free(kolkata);
}

Test(rollups, split_cuts_a_range_into_head_whole_days_and_tail) {
  struct tz *ny = zone("America/New_York");
  struct rollup_pieces p;
  /* Exactly whole local days: no head, no tail. */
  rollup_split(ny, ms("2026-03-08T05:00:00Z"), ms("2026-03-10T04:00:00Z"), &p);
  cr_assert_eq(p.head_from, p.head_to);
  cr_assert_eq(p.tail_from, p.tail_to);
  cr_assert_eq(p.first_day, day(2026, 3, 8));
  cr_assert_eq(p.end_day, day(2026, 3, 10));
  /* A head in Mar 7, Mar 8 whole, a tail in Mar 9. */
  rollup_split(ny, ms("2026-03-07T20:00:00Z"), ms("2026-03-09T10:00:00Z"), &p);
  cr_assert_eq(p.head_from, ms("2026-03-07T20:00:00Z"));
  cr_assert_eq(p.head_to, ms("2026-03-08T05:00:00Z"));
  cr_assert_eq(p.head_day, day(2026, 3, 7));
  cr_assert_eq(p.first_day, day(2026, 3, 8));
  cr_assert_eq(p.end_day, day(2026, 3, 9));
  cr_assert_eq(p.tail_from, ms("2026-03-09T04:00:00Z"));
  cr_assert_eq(p.tail_to, ms("2026-03-09T10:00:00Z"));
  cr_assert_eq(p.tail_day, day(2026, 3, 9));
  /* Inside one local day: all head. */
  rollup_split(ny, ms("2026-03-08T07:00:00Z"), ms("2026-03-08T08:00:00Z"), &p);
  cr_assert_eq(p.head_to - p.head_from, 3600000LL);
  cr_assert_geq(p.first_day, p.end_day);
  cr_assert_eq(p.tail_from, p.tail_to);
  /* Across one local midnight, less than a day long: head and tail. */
  rollup_split(ny, ms("2026-03-09T02:00:00Z"), ms("2026-03-09T06:00:00Z"), &p);
  cr_assert_eq(p.head_to, ms("2026-03-09T04:00:00Z"));
  cr_assert_eq(p.tail_from, ms("2026-03-09T04:00:00Z"));
  cr_assert_eq(p.tail_to, ms("2026-03-09T06:00:00Z"));
  cr_assert_geq(p.first_day, p.end_day);
  tz_free(ny);
}

Test(rollups, split_pieces_cover_the_range_exactly) {
  struct tz *berlin = zone("Europe/Berlin");
  srand(7);
  int64_t base = ms("2026-01-01T00:00:00Z");
  for (int i = 0; i < 2000; i++) {
    int64_t from = base + (int64_t)(rand() % (365 * 24)) * 3600000LL + rand() % 3600000;
    int64_t to = from + 1 + (int64_t)(rand() % (40 * 24)) * 3600000LL + rand() % 3600000;
    struct rollup_pieces p;
    rollup_split(berlin, from, to, &p);
    int64_t whole = p.first_day < p.end_day ? rollup_day_start_ms(berlin, p.end_day) -
                                                  rollup_day_start_ms(berlin, p.first_day)
                                            : 0;
    cr_assert_eq((p.head_to - p.head_from) + whole + (p.tail_to - p.tail_from), to - from);
    if (p.first_day < p.end_day) {
      cr_assert_eq(p.head_to, rollup_day_start_ms(berlin, p.first_day));
      cr_assert_eq(p.tail_from, rollup_day_start_ms(berlin, p.end_day));
    }
    if (p.head_from < p.head_to)
      cr_assert_eq(rollup_local_day(berlin, p.head_to - 1), p.head_day);
    if (p.tail_from < p.tail_to)
      cr_assert_eq(rollup_local_day(berlin, p.tail_from), p.tail_day);
  }
  tz_free(berlin);
}

Test(rollups, age_bands_and_counting) {
  cr_assert_eq(rollup_age_band(0, 40), 7);
  cr_assert_eq(rollup_age_band(1, 17.9), 0);
  cr_assert_eq(rollup_age_band(1, 18), 1);
  cr_assert_eq(rollup_age_band(1, 64.9), 5);
  cr_assert_eq(rollup_age_band(1, 65), 6);
  struct rollup_cell c = {0};
  struct rollup_visit v = {.customer_id = 0, .first_seen_ms = 1000, .last_seen_ms = 61000};
  rollup_count_visit(&c, &v, 1);
  cr_assert_eq(c.n[RC_VISITS], 1);
  cr_assert_eq(c.n[RC_ANONYMOUS], 1);
  cr_assert_eq(c.n[RC_DURATION], 60000);
  cr_assert_eq(c.n[RC_GENDER_UNKNOWN], 1);
  cr_assert_eq(c.n[RC_AGE_FIRST + 7], 1);
  rollup_count_visit(&c, &v, -1);
  for (int i = 0; i < RC_COUNT; i++)
    cr_assert_eq(c.n[i], 0);
}

Test(rollups, visitor_ids_round_trip_as_varint_deltas) {
  int64_t ids[] = {1, 2, 130, 131, 20000, 1LL << 40, (1LL << 62) + 5};
  size_t n = sizeof ids / sizeof ids[0];
  unsigned char buf[10 * sizeof ids / sizeof ids[0]];
  size_t len = rollup_ids_encode(ids, n, buf);
  cr_assert_lt(len, 10 * n);
  cr_assert_eq(buf[0], 1); /* the first delta: 1, one byte */
  const unsigned char *p = buf;
  int64_t id = 0;
  size_t got = 0;
  while (rollup_ids_next(&p, buf + len, &id))
    cr_assert_eq(id, ids[got++]);
  cr_assert_eq(got, n);
  /* A truncated list stops without reading past its end. */
  p = buf;
  id = 0;
  got = 0;
  while (rollup_ids_next(&p, buf + len - 1, &id))
    got++;
  cr_assert_eq(got, n - 1);
}

Test(rollups, visitors_carry_their_gap) {
  struct rollup_visitor v[] = {{3, 0}, {4, 1}, {200, 365}, {201, 0}, {1LL << 40, 1000}};
  size_t n = sizeof v / sizeof v[0];
  unsigned char buf[20 * sizeof v / sizeof v[0]];
  size_t len = rollup_visitors_encode(v, n, buf);
  cr_assert_eq(buf[0], 3);
  cr_assert_eq(buf[1], 0);
  const unsigned char *p = buf;
  int64_t id = 0, gap = -1;
  size_t got = 0;
  while (rollup_visitors_next(&p, buf + len, &id, &gap)) {
    cr_assert_eq(id, v[got].id);
    cr_assert_eq(gap, v[got++].gap);
  }
  cr_assert_eq(got, n);
  /* A visitor cut off before its gap is not read. */
  p = buf;
  id = 0;
  got = 0;
  while (rollup_visitors_next(&p, buf + len - 1, &id, &gap))
    got++;
  cr_assert_eq(got, n - 1);
}

struct gap_seen {
  int64_t gap[8], count[8];
  int n;
};

static void gap_seen(void *ctx, int64_t gap, int64_t count) {
  struct gap_seen *s = ctx;
  if (s->n < 8) {
    s->gap[s->n] = gap;
    s->count[s->n++] = count;
  }
}

Test(rollups, gap_histograms_keep_counts_per_gap_and_none) {
  /* Sorted; gaps of 0 are dropped; "none" sorts last and comes out first. */
  int64_t gaps[] = {0, 0, 1, 1, 1, 7, 400, 400, ROLLUP_GAP_NONE, ROLLUP_GAP_NONE};
  unsigned char buf[20 * 10 + 10];
  size_t len = rollup_gaps_encode(gaps, 10, buf);
  struct gap_seen s = {0};
  cr_assert_eq(rollup_gaps_decode(buf, len, gap_seen, &s), 0);
  cr_assert_eq(s.n, 4);
  int64_t want_gap[] = {ROLLUP_GAP_NONE, 1, 7, 400}, want_count[] = {2, 3, 1, 2};
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(s.gap[i], want_gap[i]);
    cr_assert_eq(s.count[i], want_count[i]);
  }
  /* Only gaps of 0: nothing but a zero "none" count. */
  len = rollup_gaps_encode(gaps, 2, buf);
  cr_assert_eq(len, 1);
  /* A truncated histogram is reported, not misread. */
  len = rollup_gaps_encode(gaps, 10, buf);
  struct gap_seen t = {0};
  cr_assert_eq(rollup_gaps_decode(buf, len - 1, gap_seen, &t), -1);
}

Test(rollups, hour_keys_and_gaps_in_days) {
  cr_assert_eq(rollup_gap_days(20000 * 24 + 5, -1), ROLLUP_GAP_NONE);
  cr_assert_eq(rollup_gap_days(20000 * 24 + 5, 20000 * 24 + 1), 0);
  cr_assert_eq(rollup_gap_days(20000 * 24 + 0, 19999 * 24 + 23), 1);
  cr_assert_eq(rollup_gap_days(20365 * 24, 20000 * 24 + 23), 365);
  /* The repeated autumn hour is one hour key; the hour after the spring gap follows 01:00. */
  struct tz *ny = zone("America/New_York");
  int64_t k = rollup_hour_key(ny, ms("2026-11-01T05:30:00Z"));
  cr_assert_eq(k, day(2026, 11, 1) * 24 + 1);
  cr_assert_eq(rollup_hour_key(ny, ms("2026-11-01T06:30:00Z")), k);
  cr_assert_eq(rollup_hour_key(ny, ms("2026-03-08T07:30:00Z")), day(2026, 3, 8) * 24 + 3);
  tz_free(ny);
}
