/* tz.h — IANA time zones from the system zoneinfo (TZif files), thread-safe.
 *
 * Reports bucket visits in each site's local time, and a visit never spans
 * the site's local midnight, so the server converts UTC instants to local
 * time for many zones at once; localtime_r with a changing TZ variable is
 * not thread-safe, so this reads TZif files itself: the 64-bit transition
 * table (version 2+), and the POSIX rule in the footer for instants after
 * the last transition (for example "CET-1CEST,M3.5.0,M10.5.0/3").
 *
 * A struct tz is immutable after tz_load() and may be shared by threads.
 */
#ifndef FOOTFALL_TZ_H
#define FOOTFALL_TZ_H

#include <stdint.h>

#include "status.h"

struct tz;

/* Loads /usr/share/zoneinfo/<name> (or $TZDIR). FF_ENOTFOUND / FF_EINVAL. */
int tz_load(const char *name, struct tz **out, struct ff_error *err);
void tz_free(struct tz *tz);
const char *tz_name(const struct tz *tz);

/* Seconds east of UTC in force at the UTC instant. */
int32_t tz_offset(const struct tz *tz, int64_t utc_s);

struct tz_local {
  int year, month, day; /* calendar date, month 1..12 */
  int hour, minute, second;
  int weekday; /* 0 = Monday .. 6 = Sunday (ISO) */
  int32_t offset_s;
};
void tz_to_local(const struct tz *tz, int64_t utc_s, struct tz_local *out);
/* "YYYY-MM-DD" of the local date at the instant. */
void tz_local_day(const struct tz *tz, int64_t utc_s, char out[11]);
/* The UTC instant of local midnight starting the given date (the first
 * instant whose local date is that day; DST gaps at midnight are handled). */
int64_t tz_day_start(const struct tz *tz, int year, int month, int day);

/* Parses an RFC 3339 date-time ("2026-11-30T05:17:27.123Z", offsets
 * "+07:00"; fractions to any length, kept to milliseconds) into UTC ms.
 * FF_EINVAL for anything else, including impossible dates. */
int tz_parse_rfc3339(const char *text, int64_t *utc_ms);
/* Writes UTC ms as "2026-11-30T05:17:27.123Z" (25 bytes with the NUL). */
void tz_format_rfc3339(int64_t utc_ms, char out[25]);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t tz_days_from_civil(int year, int month, int day);
void tz_civil_from_days(int64_t days, int *year, int *month, int *day);

#endif
