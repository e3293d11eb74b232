/* rollups.h — what reports read instead of raw visits, kept exact.
 *
 * Three tables (migration 0005), keyed by site and the site's LOCAL time
 * (its IANA zone at the time the rollup was computed):
 *   report_hours     one row per site and local hour that saw a visit or a
 *                    staff pass: additive counters (visits, anonymous visits,
 *                    staff passes, summed duration, gender and age bands). A
 *                    visit counts in the hour its first sighting fell in.
 *   report_days      the same counters per site and local day (what long
 *                    ranges read; small rows).
 *   report_day_sets  per site and local day, its visit durations in whole
 *                    seconds, sorted (rollup_ids_encode: medians are exact),
 *                    and its visitors:
 *                    the distinct customer ids, each with the gap in days to
 *                    the customer's previous visit to the tenant (unique
 *                    visitors are not additive across hours, days or sites;
 *                    reports count the union of these sets, rollup_visitors_*).
 *   report_day_gaps  (migration 0009) per site and local day, how many of the
 *                    day's visits came how many days after their customer's
 *                    previous visit, to the tenant and to the site: "unique
 *                    visitors in days [a, b]" is the number of visits in them
 *                    whose previous visit was before a, a sum over days.
 *
 * Visits are chained per customer in the order (local hour key, first
 * sighting, id), the local hour key being local day * 24 + local hour in the
 * visit's site's zone (visits.hour_key, kept by this file). A visit's
 * "previous" visit is the one before it in that order, at any site of the
 * tenant or at its own site; report_hours counts the visits that are their
 * customer's first of that local hour (hour_firsts, hour_site_firsts).
 *
 * Maintenance happens inside the caller's write transaction: event ingestion
 * adds each new visit (rollup_visit_apply) and each extension's difference
 * (rollup_visit_change); corrections that move or anonymise many visits
 * (delete, reassign, merge, split, erase, staff deletion, a site's new time
 * zone) collect the site-days they touch and rebuild them from raw rows
 * (rollup_touch_* then rollup_rebuild). reports_rollups_check() recomputes any
 * range from raw rows and reports (and optionally repairs) differences.
 */
#ifndef FOOTFALL_ROLLUPS_H
#define FOOTFALL_ROLLUPS_H

#include <stdint.h>

#include "status.h"

struct server;
struct db_conn;
struct tz;

/* The additive counters of a rollup cell, in column order. */
enum rollup_counter {
  RC_VISITS,
  RC_ANONYMOUS, /* visits whose customer was erased */
  RC_STAFF,     /* staff passes */
  RC_DURATION,  /* sum of (last_seen - first_seen) in ms */
  RC_MALE,
  RC_FEMALE,
  RC_GENDER_UNKNOWN,
  RC_AGE_FIRST, /* 8 age bands follow, the last one "unknown" */
  /* Visits that are their customer's first in their local hour (day * 24 +
   * hour, wall clock) at any site of the tenant, and at their own site: the
   * sum over a local hour's rows is its unique visitors. */
  RC_HOUR_FIRSTS = RC_AGE_FIRST + 8,
  RC_HOUR_SITE_FIRSTS,
  RC_COUNT
};
#define ROLLUP_AGE_BANDS 8
extern const char *const rollup_counter_columns[RC_COUNT];        /* report_hours column names */
extern const char *const rollup_age_band_names[ROLLUP_AGE_BANDS]; /* "0-17" ... "unknown" */

/* The band of an age in years (0..6), or 7 ("unknown") without one. */
int rollup_age_band(int has_age, double age);

struct rollup_cell {
  int64_t hour_start; /* UTC ms at which the local hour began */
  int64_t local_day;  /* the local date as days since 1970-01-01 */
  int local_hour;     /* 0..23, wall clock */
  int weekday;        /* 0 = Monday .. 6 = Sunday */
  int64_t n[RC_COUNT];
};

/* Fills the key fields (not the counters) of the local hour holding utc_ms. */
void rollup_locate(const struct tz *tz, int64_t utc_ms, struct rollup_cell *cell);
/* UTC ms at which a local day (days since 1970-01-01) begins in the zone. */
int64_t rollup_day_start_ms(const struct tz *tz, int64_t local_day);
/* The local day (days since 1970-01-01) holding utc_ms. */
int64_t rollup_local_day(const struct tz *tz, int64_t utc_ms);
/* year * 12 + month - 1 of a local day. */
int64_t rollup_month_of_day(int64_t local_day);

/* [from, to) cut along the zone's local days: a head inside one local day,
 * whole local days [first_day, end_day), a tail inside one local day.
 * A piece with from == to is empty. */
struct rollup_pieces {
  int64_t head_from, head_to, head_day;
  int64_t first_day, end_day;
  int64_t tail_from, tail_to, tail_day;
};
void rollup_split(const struct tz *tz, int64_t from_ms, int64_t to_ms, struct rollup_pieces *out);

/* A visit as the rollups see it. */
struct rollup_visit {
  int64_t id;
  int64_t tenant_id, site_id;
  int64_t customer_id; /* 0: anonymous (the customer was erased) */
  int64_t first_seen_ms, last_seen_ms;
  int has_age;
  double age;
  int gender; /* 0 unknown, 1 male, 2 female */
  /* Its place in the customer's chain, when known (chained): its local hour
   * key and the hour keys of the previous visit to the tenant and to the
   * site (-1: none). Without it the hour-first counters are left alone. */
  int chained;
  int64_t hour_key, prev_key, prev_site_key;
};
/* A visit's duration in whole seconds (what medians are taken over). */
int64_t rollup_duration_s(const struct rollup_visit *v);
/* Adds (sign +1) or removes (-1) one visit or one staff pass to a cell. */
void rollup_count_visit(struct rollup_cell *cell, const struct rollup_visit *v, int sign);

/* A list of sorted distinct ids, each the LEB128 varint of its difference
 * to the previous one. encode writes at most 10 bytes per id; next reads one
 * id (adding to *id, which starts at 0), 0 at the end. */
size_t rollup_ids_encode(const int64_t *ids, size_t n, unsigned char *out);
int rollup_ids_next(const unsigned char **p, const unsigned char *end, int64_t *id);

/* The local hour key of an instant: local day * 24 + local hour. */
int64_t rollup_hour_key(const struct tz *tz, int64_t utc_ms);
/* Days between a visit's local day and its previous visit's, from hour keys. */
#define ROLLUP_GAP_NONE INT64_MAX /* no previous visit */
int64_t rollup_gap_days(int64_t hour_key, int64_t prev_key);

/* A day's visitors (report_day_sets.visitors): per distinct customer, sorted
 * by id, the varint of the id's difference to the previous one, then the
 * varint of the gap in days from the customer's first visit of that site-day
 * back to their previous visit to the tenant (0: none, or the same day).
 * encode writes at most 20 bytes per visitor; next reads one (adding to *id,
 * which starts at 0), 0 at the end. */
struct rollup_visitor {
  int64_t id, gap;
};
size_t rollup_visitors_encode(const struct rollup_visitor *v, size_t n, unsigned char *out);
int rollup_visitors_next(const unsigned char **p, const unsigned char *end, int64_t *id,
                         int64_t *gap);

/* A day's gap histogram (report_day_gaps): the varint count of visits with
 * no previous visit, then for each gap of 1 day or more that occurs, in
 * increasing order, the varint of its difference to the previous gap (the
 * first: to 0) and the varint of its count. Gaps of 0 (a visit after another
 * the same local day) are not kept: they never start a range. encode takes
 * the gaps sorted (ROLLUP_GAP_NONE sorts last) and writes at most 20 bytes
 * per distinct gap plus 10; decode calls fn for none (gap ROLLUP_GAP_NONE)
 * and each gap; -1 when the blob is malformed. */
size_t rollup_gaps_encode(const int64_t *gaps, size_t n, unsigned char *out);
typedef void (*rollup_gap_fn)(void *ctx, int64_t gap, int64_t count);
int rollup_gaps_decode(const unsigned char *p, size_t len, rollup_gap_fn fn, void *ctx);

/* --- maintenance, inside the caller's write transaction -------------------- */

/* The visit's rollup view (not chained); FF_ENOTFOUND when it does not exist. */
int rollup_visit_load(struct db_conn *c, int64_t visit_id, struct rollup_visit *out,
                      struct ff_error *err);
/* Adds a visit just inserted (v->id set): stores its hour key, finds its
 * previous visits and adds its counters, duration, visitor and gaps. A visit
 * that arrives before later visits of its customer (late events) changes
 * their previous visit: those site-days are rebuilt from raw rows. */
int rollup_visit_apply(struct server *s, struct db_conn *c, const struct tz *tz,
                       struct rollup_visit *v, struct ff_error *err);
/* A visit changed in place (extended: new last or first sighting, a better
 * picture's age and gender); same customer, site and local day. A first
 * sighting moved earlier may reorder the customer's chain: the site-days
 * concerned are then rebuilt from raw rows. */
int rollup_visit_change(struct server *s, struct db_conn *c, const struct tz *tz,
                        const struct rollup_visit *was, const struct rollup_visit *now,
                        struct ff_error *err);
/* Counts one staff pass. */
int rollup_staff_pass(struct db_conn *c, const struct tz *tz, int64_t tenant_id, int64_t site_id,
                      int64_t seen_ms, struct ff_error *err);

/* A set of (site, local day) to rebuild. */
struct rollup_days {
  struct {
    int64_t site, day;
  } * items;
  int count, cap;
};
/* The site-days of a customer's visits, of one visit (with those of the
 * visits that follow it in its customer's chain, whose previous visit it
 * is), of a staff member's passes; collect them BEFORE the change (and, for
 * moves, after it too). */
int rollup_touch_customer(struct rollup_days *d, struct server *s, struct db_conn *c,
                          int64_t customer_id, struct ff_error *err);
int rollup_touch_visit(struct rollup_days *d, struct server *s, struct db_conn *c, int64_t visit_id,
                       struct ff_error *err);
int rollup_touch_staff(struct rollup_days *d, struct server *s, struct db_conn *c, int64_t staff_id,
                       struct ff_error *err);
/* Recomputes every collected site-day from raw rows, then frees the set. */
int rollup_rebuild(struct rollup_days *d, struct server *s, struct db_conn *c,
                   struct ff_error *err);
void rollup_days_free(struct rollup_days *d);
/* Drops and recomputes every rollup of a site (after its time zone changed). */
int rollup_rebuild_site(struct server *s, struct db_conn *c, int64_t site_id, struct ff_error *err);

/* The loaded zone of a site. */
const struct tz *rollup_site_zone(struct server *s, struct db_conn *c, int64_t site_id,
                                  struct ff_error *err);

/* --- verification (the jobs scheduler calls this) --------------------------- */

struct rollup_check {
  int64_t sites;              /* sites examined */
  int64_t days;               /* site-days examined */
  int64_t hours_differing;    /* report_hours rows missing, extra or wrong */
  int64_t visitors_differing; /* site-days whose visitor set or gaps differ */
  int64_t keys_differing;     /* visits whose stored hour key was wrong */
  int64_t days_differing;     /* site-days with any difference */
  int64_t days_repaired;      /* site-days rebuilt from raw rows (repair only) */
};

/* Recomputes the rollups of every site of a tenant (0: of every tenant) for
 * each local day overlapping [from_ms, to_ms) from the raw visits and staff
 * passes and compares them with the stored rows. With repair, the visits'
 * hour keys in the range are set right first (at every site, as each day's
 * gaps depend on other sites' visits), then each differing
 * site-day is rebuilt from the raw rows in the same write transaction that
 * compared it (a chunk of at most 31 days of one site at a time, so ingestion
 * waits at most that long). Opens its own connections; call it from any
 * thread. FF_OK when the check ran (differences are in *out, not errors);
 * FF_EINVAL for a range of more than 10 years or from_ms >= to_ms. */
int reports_rollups_check(struct server *s, int64_t tenant_id, int64_t from_ms, int64_t to_ms,
                          int repair, struct rollup_check *out, struct ff_error *err);

/* At start-up: when visits lack their hour key (a database from before the
 * reports' gap data, migration 0009), repairs every tenant's rollups over the
 * whole history of visits, once, before the server answers. */
int reports_backfill(struct server *s, struct ff_error *err);

#endif
