/* tz.c against glibc's localtime_r (single-threaded here, so setting TZ is
 * safe): the same offsets and local dates for many zones over 1900-2100,
 * including instants past the last transition (the POSIX rule footer). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tz.h"

static const char *zones[] = {
    "Europe/Paris",
    "America/New_York",
    "Asia/Ho_Chi_Minh",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "Pacific/Chatham",
    "Europe/London",
    "America/Santiago",
    "Pacific/Apia",
    "UTC",
    "America/St_Johns",
    "Asia/Tehran",
    "Africa/Cairo",
    "Europe/Dublin",
    "Australia/Lord_Howe",
};

static void compare_zone(const char *zone, int64_t from, int64_t to, int64_t step) {
  struct tz *tz = NULL;
  struct ff_error err;
  cr_assert_eq(tz_load(zone, &tz, &err), FF_OK, "%s: %s", zone, err.message);
  char env[96];
  snprintf(env, sizeof env, ":%s", zone);
  setenv("TZ", env, 1);
  tzset();
  int mismatches = 0;
  for (int64_t t = from; t < to && mismatches < 5; t += step) {
    time_t tt = (time_t)t;
    struct tm want;
    localtime_r(&tt, &want);
    struct tz_local got;
    tz_to_local(tz, t, &got);
    if (got.offset_s != want.tm_gmtoff || got.year != want.tm_year + 1900 ||
        got.month != want.tm_mon + 1 || got.day != want.tm_mday || got.hour != want.tm_hour ||
        got.minute != want.tm_min || got.weekday != (want.tm_wday + 6) % 7) {
      mismatches++;
      cr_log_error(
          "%s at %lld: got %04d-%02d-%02d %02d:%02d %+d, glibc %04d-%02d-%02d %02d:%02d %+ld", zone,
          (long long)t, got.year, got.month, got.day, got.hour, got.minute, got.offset_s,
          want.tm_year + 1900, want.tm_mon + 1, want.tm_mday, want.tm_hour, want.tm_min,
          want.tm_gmtoff);
    }
  }
  cr_expect_eq(mismatches, 0, "%s differs from glibc", zone);
  tz_free(tz);
}

Test(tz, matches_glibc_1970_to_2100) {
  /* every 47 minutes 13 seconds: crosses every transition's neighbourhood */
  for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
    compare_zone(zones[i], 0, 4102444800LL, 2833 * 7);
}

Test(tz, matches_glibc_before_1970) {
  for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
    compare_zone(zones[i], -2208988800LL, 0, 86400 * 3 + 3607);
}

Test(tz, exact_dst_edges) {
  struct tz *paris;
  tz_load("Europe/Paris", &paris, NULL);
  /* 2026-03-29 01:00:00 UTC: 02:00 CET becomes 03:00 CEST */
  cr_expect_eq(tz_offset(paris, 1774746000 - 1), 3600);
  cr_expect_eq(tz_offset(paris, 1774746000), 7200);
  /* 2040-10-28 01:00 UTC (past the table's 2037 end: the footer rule) */
  int64_t t = tz_day_start(paris, 2040, 10, 28) + 3 * 3600;
  cr_expect_eq(tz_offset(paris, t - 1), 7200);
  cr_expect_eq(tz_offset(paris, t), 3600);
  tz_free(paris);
}

Test(tz, day_start_and_local_day) {
  struct tz *ny, *hcm;
  tz_load("America/New_York", &ny, NULL);
  tz_load("Asia/Ho_Chi_Minh", &hcm, NULL);
  int64_t start = tz_day_start(ny, 2026, 11, 1); /* the day DST ends: 25 hours long */
  char day[11];
  tz_local_day(ny, start, day);
  cr_expect_str_eq(day, "2026-11-01");
  tz_local_day(ny, start - 1, day);
  cr_expect_str_eq(day, "2026-10-31");
  cr_expect_eq(tz_day_start(ny, 2026, 11, 2) - start, 25 * 3600);
  cr_expect_eq(tz_day_start(hcm, 2026, 11, 30),
               tz_days_from_civil(2026, 11, 30) * 86400 - 7 * 3600);
  /* Santiago starts DST at local midnight: the day begins at 01:00 */
  struct tz *scl;
  tz_load("America/Santiago", &scl, NULL);
  int64_t s = tz_day_start(scl, 2026, 9, 6);
  tz_local_day(scl, s, day);
  cr_expect_str_eq(day, "2026-09-06");
  tz_local_day(scl, s - 1, day);
  cr_expect_str_eq(day, "2026-09-05");
  tz_free(ny);
  tz_free(hcm);
  tz_free(scl);
}

Test(tz, civil_round_trip) {
  for (int64_t d = -800000; d < 800000; d += 17) {
    int y, m, dd;
    tz_civil_from_days(d, &y, &m, &dd);
    cr_assert_eq(tz_days_from_civil(y, m, dd), d);
  }
}

Test(tz, refuses_bad_names_and_files) {
  struct tz *tz;
  struct ff_error err;
  cr_expect_eq(tz_load("../../etc/passwd", &tz, &err), FF_EINVAL);
  cr_expect_eq(tz_load("Nowhere/Land", &tz, &err), FF_ENOTFOUND);
  cr_expect_eq(tz_load("", &tz, &err), FF_EINVAL);
  setenv("TZDIR", "/etc", 1);
  cr_expect_eq(tz_load("hostname", &tz, &err), FF_EINVAL, "not a TZif file");
  unsetenv("TZDIR");
}

Test(rfc3339, parses_and_formats) {
  int64_t t;
  cr_assert_eq(tz_parse_rfc3339("2026-11-30T05:17:27.123Z", &t), FF_OK);
  cr_expect_eq(t, 1796015847123LL);
  char out[25];
  tz_format_rfc3339(t, out);
  cr_expect_str_eq(out, "2026-11-30T05:17:27.123Z");
  cr_assert_eq(tz_parse_rfc3339("2026-11-30T12:17:27+07:00", &t), FF_OK);
  cr_expect_eq(t, 1796015847000LL);
  cr_assert_eq(tz_parse_rfc3339("2026-11-30T05:17:27.123456789Z", &t), FF_OK);
  cr_expect_eq(t, 1796015847123LL);
  cr_assert_eq(tz_parse_rfc3339("1969-12-31T23:59:59.5Z", &t), FF_OK);
  cr_expect_eq(t, -500);
  tz_format_rfc3339(-500, out);
  cr_expect_str_eq(out, "1969-12-31T23:59:59.500Z");
  const char *bad[] = {"2026-02-30T00:00:00Z",     "2026-11-30T24:00:00Z",
                       "2026-11-30 05:17Z",        "2026-11-30T05:17:27",
                       "2026-11-30T05:17:27.Z",    "2026-11-30T05:17:27Zjunk",
                       "2026-13-01T00:00:00Z",     "",
                       "2026-11-30T05:17:27+7:00", "yesterday"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_expect_eq(tz_parse_rfc3339(bad[i], &t), FF_EINVAL, "%s", bad[i]);
}
