#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE (256 * 1024)

/* One POSIX rule date: Mm.w.d, Jn (1..365, no Feb 29) or n (0..365). */
struct rule_date {
  char kind; /* 'M', 'J', 'D' */
  int month, week, weekday, day;
  int32_t time_s; /* local time of the change, default 02:00 */
};

struct tz {
  char name[64];
  int64_t *times;   /* transition instants, ascending */
  uint8_t *indices; /* type index per transition */
  int32_t *offsets; /* utoff per type */
  int ntimes, ntypes;
  int32_t first_offset; /* before the first transition */
  /* POSIX footer */
  int has_rule;
  int32_t std_offset, dst_offset; /* seconds east of UTC */
  int has_dst;
  struct rule_date start, end;
};

/* --- civil calendar (Howard Hinnant's algorithms) ------------------------------ */

int64_t tz_days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int *year, int *month, int *day) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1);
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *year = (int)(y + (m <= 2));
  *month = m;
  *day = d;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* --- POSIX TZ rule parsing ------------------------------------------------------ */

static const char *skip_name(const char *p) {
  if (*p == '<') {
    const char *end = strchr(p, '>');
    return end ? end + 1 : NULL;
  }
  const char *start = p;
  while (isalpha((unsigned char)*p))
    p++;
  return p - start >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]] -> seconds */
static const char *parse_hms(const char *p, int32_t *out) {
  int sign = 1;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (!isdigit((unsigned char)*p))
    return NULL;
  int32_t h = 0, m = 0, s = 0;
  while (isdigit((unsigned char)*p))
    h = h * 10 + (*p++ - '0');
  if (*p == ':') {
    p++;
    while (isdigit((unsigned char)*p))
      m = m * 10 + (*p++ - '0');
    if (*p == ':') {
      p++;
      while (isdigit((unsigned char)*p))
        s = s * 10 + (*p++ - '0');
    }
  }
  if (h > 167 || m > 59 || s > 59)
    return NULL;
  *out = sign * (h * 3600 + m * 60 + s);
  return p;
}

static const char *parse_rule_date(const char *p, struct rule_date *r) {
  r->time_s = 7200;
  if (*p == 'M') {
    r->kind = 'M';
    p++;
    if (sscanf(p, "%d.%d.%d", &r->month, &r->week, &r->weekday) != 3 || r->month < 1 ||
        r->month > 12 || r->week < 1 || r->week > 5 || r->weekday < 0 || r->weekday > 6)
      return NULL;
    while (*p && *p != '/' && *p != ',')
      p++;
  } else if (*p == 'J' || isdigit((unsigned char)*p)) {
    r->kind = *p == 'J' ? 'J' : 'D';
    if (*p == 'J')
      p++;
    r->day = 0;
    while (isdigit((unsigned char)*p))
      r->day = r->day * 10 + (*p++ - '0');
    if (r->day > 365 || (r->kind == 'J' && r->day < 1))
      return NULL;
  } else {
    return NULL;
  }
  if (*p == '/')
    p = parse_hms(p + 1, &r->time_s);
  return p;
}

static int parse_footer(struct tz *tz, const char *s) {
  const char *p = skip_name(s);
  int32_t std_west;
  if (!p || !(p = parse_hms(p, &std_west)))
    return -1;
  tz->std_offset = -std_west;
  tz->has_rule = 1;
  if (!*p)
    return 0;
  if (!(p = skip_name(p)))
    return -1;
  tz->dst_offset = tz->std_offset + 3600;
  if (*p && *p != ',') {
    int32_t dst_west;
    if (!(p = parse_hms(p, &dst_west)))
      return -1;
    tz->dst_offset = -dst_west;
  }
  if (*p != ',' || !(p = parse_rule_date(p + 1, &tz->start)) || *p != ',' ||
      !(p = parse_rule_date(p + 1, &tz->end)) || *p)
    return -1;
  tz->has_dst = 1;
  return 0;
}

/* The local (wall clock, in the offset before the change) instant of a
 * rule date in a year, as seconds since the epoch "as if UTC". */
static int64_t rule_local_time(const struct rule_date *r, int year) {
  int64_t days;
  if (r->kind == 'M') {
    int64_t first = tz_days_from_civil(year, r->month, 1);
    int first_wday = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday: 0=Sunday */
    int d = (r->weekday - first_wday + 7) % 7 + 1 + (r->week - 1) * 7;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dim = mdays[r->month - 1] + (r->month == 2 && is_leap(year));
    while (d > dim)
      d -= 7;
    days = first + d - 1;
  } else if (r->kind == 'J') {
    int d = r->day; /* 1..365, Feb 29 never counted */
    if (is_leap(year) && d >= 60)
      d++;
    days = tz_days_from_civil(year, 1, 1) + d - 1;
  } else {
    days = tz_days_from_civil(year, 1, 1) + r->day;
  }
  return days * 86400 + r->time_s;
}

static int32_t rule_offset(const struct tz *tz, int64_t t) {
  if (!tz->has_dst)
    return tz->std_offset;
  int y, m, d;
  tz_civil_from_days(floor_div(t + tz->std_offset, 86400), &y, &m, &d);
  /* DST starts at start (local standard time) and ends at end (local DST). */
  int64_t start = rule_local_time(&tz->start, y) - tz->std_offset;
  int64_t end = rule_local_time(&tz->end, y) - tz->dst_offset;
  if (start < end) /* northern hemisphere */
    return t >= start && t < end ? tz->dst_offset : tz->std_offset;
  return t >= end && t < start ? tz->std_offset : tz->dst_offset; /* southern */
}

/* --- TZif --------------------------------------------------------------------------- */

static int64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  if (n == 4)
    return (int32_t)(uint32_t)v;
  return (int64_t)v;
}

static int valid_name(const char *name) {
  size_t len = strlen(name);
  if (!len || len >= 64 || name[0] == '/' || strstr(name, ".."))
    return 0;
  for (const char *p = name; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
      return 0;
  return 1;
}

static int parse_tzif(struct tz *tz, const unsigned char *data, size_t size) {
  if (size < 44 || memcmp(data, "TZif", 4))
    return -1;
  int version = data[4];
  const unsigned char *p = data;
  size_t left = size;
  int pass64 = version >= '2';
  for (int pass = 0; pass < (pass64 ? 2 : 1); pass++) {
    if (left < 44 || memcmp(p, "TZif", 4))
      return -1;
    int64_t isutcnt = be(p + 20, 4), isstdcnt = be(p + 24, 4), leapcnt = be(p + 28, 4);
    int64_t timecnt = be(p + 32, 4), typecnt = be(p + 36, 4), charcnt = be(p + 40, 4);
    if (timecnt < 0 || typecnt <= 0 || typecnt > 256 || charcnt < 0 || leapcnt < 0 || isutcnt < 0 ||
        isstdcnt < 0 || timecnt > 100000)
      return -1;
    int tsize = pass == 0 && pass64 ? 4 : (pass64 ? 8 : 4);
    size_t body = (size_t)(timecnt * tsize + timecnt + typecnt * 6 + charcnt +
                           leapcnt * (tsize + 4) + isstdcnt + isutcnt);
    if (left - 44 < body)
      return -1;
    const unsigned char *q = p + 44;
    if (pass64 && pass == 0) { /* skip the 32-bit block */
      p = q + body;
      left -= 44 + body;
      continue;
    }
    tz->ntimes = (int)timecnt;
    tz->ntypes = (int)typecnt;
    tz->times = calloc((size_t)timecnt + 1, sizeof *tz->times);
    tz->indices = calloc((size_t)timecnt + 1, 1);
    tz->offsets = calloc((size_t)typecnt, sizeof *tz->offsets);
    if (!tz->times || !tz->indices || !tz->offsets)
      return -1;
    for (int i = 0; i < timecnt; i++)
      tz->times[i] = be(q + (size_t)i * tsize, tsize);
    q += timecnt * tsize;
    for (int i = 0; i < timecnt; i++) {
      tz->indices[i] = q[i];
      if (q[i] >= typecnt)
        return -1;
    }
    q += timecnt;
    for (int i = 0; i < typecnt; i++)
      tz->offsets[i] = (int32_t)be(q + i * 6, 4);
    /* Before the first transition: the first non-DST type, per RFC 8536. */
    tz->first_offset = tz->offsets[0];
    for (int i = 0; i < typecnt; i++)
      if (!q[i * 6 + 4]) {
        tz->first_offset = tz->offsets[i];
        break;
      }
    const unsigned char *footer = p + 44 + body;
    size_t footer_len = size - (size_t)(footer - data);
    if (pass64 && footer_len > 2 && footer[0] == '\n') {
      const unsigned char *end = memchr(footer + 1, '\n', footer_len - 1);
      if (end && end - footer - 1 < 128) {
        char rule[128];
        memcpy(rule, footer + 1, (size_t)(end - footer - 1));
        rule[end - footer - 1] = 0;
        if (rule[0] && parse_footer(tz, rule))
          tz->has_rule = 0; /* an unreadable rule: keep the last transition's offset */
      }
    }
    return 0;
  }
  return -1;
}

int tz_load(const char *name, struct tz **out, struct ff_error *err) {
  if (!name || !valid_name(name))
    return ff_fail(err, FF_EINVAL, "'%.64s' is not a time zone name", name ? name : "");
  const char *dir = getenv("TZDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return ff_fail(err, FF_ENOTFOUND, "unknown time zone '%s'", name);
  unsigned char *data = malloc(TZ_MAX_FILE);
  size_t size = data ? fread(data, 1, TZ_MAX_FILE, f) : 0;
  fclose(f);
  struct tz *tz = calloc(1, sizeof *tz);
  if (!data || !tz) {
    free(data);
    free(tz);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  snprintf(tz->name, sizeof tz->name, "%s", name);
  int bad = parse_tzif(tz, data, size);
  free(data);
  if (bad) {
    tz_free(tz);
    return ff_fail(err, FF_EINVAL, "'%s' is not a valid TZif file", name);
  }
  *out = tz;
  return FF_OK;
}

void tz_free(struct tz *tz) {
  if (!tz)
    return;
  free(tz->times);
  free(tz->indices);
  free(tz->offsets);
  free(tz);
}

const char *tz_name(const struct tz *tz) {
  return tz->name;
}

int32_t tz_offset(const struct tz *tz, int64_t t) {
  if (tz->ntimes == 0)
    return tz->has_rule ? rule_offset(tz, t) : tz->first_offset;
  if (t < tz->times[0])
    return tz->first_offset;
  if (t >= tz->times[tz->ntimes - 1] && tz->has_rule)
    return rule_offset(tz, t);
  int lo = 0, hi = tz->ntimes - 1; /* last transition <= t */
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (tz->times[mid] <= t)
      lo = mid;
    else
      hi = mid - 1;
  }
  return tz->offsets[tz->indices[lo]];
}

void tz_to_local(const struct tz *tz, int64_t utc_s, struct tz_local *out) {
  int32_t off = tz_offset(tz, utc_s);
  int64_t local = utc_s + off;
  int64_t days = floor_div(local, 86400);
  int64_t secs = local - days * 86400;
  tz_civil_from_days(days, &out->year, &out->month, &out->day);
  out->hour = (int)(secs / 3600);
  out->minute = (int)(secs / 60 % 60);
  out->second = (int)(secs % 60);
  out->weekday = (int)((days % 7 + 10) % 7); /* 1970-01-01 was a Thursday (3) */
  out->offset_s = off;
}

void tz_local_day(const struct tz *tz, int64_t utc_s, char out[11]) {
  struct tz_local l;
  tz_to_local(tz, utc_s, &l);
  int y = l.year < 0 ? 0 : l.year % 10000;
  out[0] = (char)('0' + y / 1000);
  out[1] = (char)('0' + y / 100 % 10);
  out[2] = (char)('0' + y / 10 % 10);
  out[3] = (char)('0' + y % 10);
  out[4] = '-';
  out[5] = (char)('0' + l.month / 10);
  out[6] = (char)('0' + l.month % 10);
  out[7] = '-';
  out[8] = (char)('0' + l.day / 10);
  out[9] = (char)('0' + l.day % 10);
  out[10] = 0;
}

int64_t tz_day_start(const struct tz *tz, int year, int month, int day) {
  int64_t local_midnight = tz_days_from_civil(year, month, day) * 86400;
  /* Guess with the offset near that instant, then correct once or twice:
   * offsets change at most a few times a day. */
  int64_t t = local_midnight - tz_offset(tz, local_midnight);
  for (int i = 0; i < 3; i++) {
    int64_t next = local_midnight - tz_offset(tz, t);
    if (next == t)
      break;
    t = next;
  }
  /* If midnight does not exist (a DST gap), the day starts at the first
   * instant whose local date is that day. */
  struct tz_local l;
  tz_to_local(tz, t, &l);
  if (l.year != year || l.month != month || l.day != day) {
    int64_t lo = t, hi = t + 7200;
    tz_to_local(tz, lo, &l);
    while (hi - lo > 1) {
      int64_t mid = lo + (hi - lo) / 2;
      tz_to_local(tz, mid, &l);
      if (l.year == year && l.month == month && l.day == day)
        hi = mid;
      else
        lo = mid;
    }
    t = hi;
  }
  return t;
}

static int digits(const char *p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return 0;
}

int tz_parse_rfc3339(const char *s, int64_t *utc_ms) {
  int y, mo, d, h, mi, se;
  if (!s || strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
      s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
      digits(s + 17, 2, &se))
    return FF_EINVAL;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
      mi > 59 || se > 60)
    return FF_EINVAL;
  const char *p = s + 19;
  int ms = 0;
  if (*p == '.') {
    p++;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
      if (n < 3)
        ms = ms * 10 + (*p - '0');
      n++;
      p++;
    }
    if (!n || n > 9)
      return FF_EINVAL;
    for (; n < 3; n++)
      ms *= 10;
  }
  int offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
      return FF_EINVAL;
    offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
    p += 6;
  } else {
    return FF_EINVAL;
  }
  if (*p)
    return FF_EINVAL;
  if (se == 60)
    se = 59; /* a leap second: the last representable instant */
  int64_t t = tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
  *utc_ms = t * 1000 + ms;
  return FF_OK;
}

void tz_format_rfc3339(int64_t utc_ms, char out[25]) {
  int64_t secs = floor_div(utc_ms, 1000);
  int ms = (int)(utc_ms - secs * 1000);
  int64_t days = floor_div(secs, 86400);
  int64_t rem = secs - days * 86400;
  int y, m, d;
  tz_civil_from_days(days, &y, &m, &d);
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y < 0 ? 0 : y % 10000, m, d,
           (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), ms);
  memcpy(out, tmp, 24);
  out[24] = 0;
}
