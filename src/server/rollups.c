/* rollups.c — report rollups kept exact: maintenance inside the transaction
 * that changes a visit, rebuilds of whole site-days from raw rows, and the
 * check that compares the two (rollups.h, docs/REPORTS.md). */
#include "rollups.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "recognizer.h"
#include "server.h"
#include "tz.h"

#define DAY_MS 86400000LL
#define CHECK_CHUNK_DAYS 31
#define CHECK_MAX_DAYS (3660)
#define CELLS_PER_DAY_MAX 32 /* 25 local hours at most, room for odd zones */

const char *const rollup_counter_columns[RC_COUNT] = {
    "visits",    "anonymous_visits", "staff_passes", "duration_ms", "male",
    "female",    "gender_unknown",   "age_0_17",     "age_18_24",   "age_25_34",
    "age_35_44", "age_45_54",        "age_55_64",    "age_65_plus", "age_unknown"};

const char *const rollup_age_band_names[ROLLUP_AGE_BANDS] = {"0-17",  "18-24", "25-34", "35-44",
                                                             "45-54", "55-64", "65+",   "unknown"};

int rollup_age_band(int has_age, double age) {
  static const double upper[] = {18, 25, 35, 45, 55, 65};
  if (!has_age)
    return 7;
  for (int i = 0; i < 6; i++)
    if (age < upper[i])
      return i;
  return 6;
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

void rollup_locate(const struct tz *tz, int64_t utc_ms, struct rollup_cell *cell) {
  int64_t s = floor_div(utc_ms, 1000);
  struct tz_local l;
  tz_to_local(tz, s, &l);
  cell->local_day = tz_days_from_civil(l.year, l.month, l.day);
  cell->local_hour = l.hour;
  cell->weekday = l.weekday;
  cell->hour_start = (s - l.minute * 60 - l.second) * 1000;
}

int64_t rollup_day_start_ms(const struct tz *tz, int64_t local_day) {
  int y, m, d;
  tz_civil_from_days(local_day, &y, &m, &d);
  return tz_day_start(tz, y, m, d) * 1000;
}

int64_t rollup_local_day(const struct tz *tz, int64_t utc_ms) {
  struct tz_local l;
  tz_to_local(tz, floor_div(utc_ms, 1000), &l);
  return tz_days_from_civil(l.year, l.month, l.day);
}

int64_t rollup_month_of_day(int64_t local_day) {
  int y, m, d;
  tz_civil_from_days(local_day, &y, &m, &d);
  return (int64_t)y * 12 + m - 1;
}

void rollup_split(const struct tz *tz, int64_t from, int64_t to, struct rollup_pieces *p) {
  memset(p, 0, sizeof *p);
  if (from >= to) {
    p->head_from = p->head_to = p->tail_from = p->tail_to = from;
    return;
  }
  int64_t da = rollup_local_day(tz, from);
  int64_t db = rollup_local_day(tz, to);
  p->head_day = da;
  p->head_from = p->head_to = from;
  p->first_day = da;
  if (rollup_day_start_ms(tz, da) != from) {
    int64_t next = rollup_day_start_ms(tz, da + 1);
    p->head_to = next < to ? next : to;
    p->first_day = da + 1;
  }
  p->end_day = db > p->first_day ? db : p->first_day;
  p->tail_day = db;
  p->tail_from = p->tail_to = to;
  int64_t db_start = rollup_day_start_ms(tz, db);
  if (db >= p->first_day && db_start < to) {
    p->tail_from = db_start > p->head_to ? db_start : p->head_to;
    p->tail_to = to;
  }
}

void rollup_count_visit(struct rollup_cell *cell, const struct rollup_visit *v, int sign) {
  cell->n[RC_VISITS] += sign;
  if (!v->customer_id)
    cell->n[RC_ANONYMOUS] += sign;
  cell->n[RC_DURATION] += sign * (v->last_seen_ms - v->first_seen_ms);
  cell->n[v->gender == 1 ? RC_MALE : v->gender == 2 ? RC_FEMALE : RC_GENDER_UNKNOWN] += sign;
  cell->n[RC_AGE_FIRST + rollup_age_band(v->has_age, v->age)] += sign;
}

static int gender_code(const char *g) {
  return g && !strcmp(g, "male") ? 1 : g && !strcmp(g, "female") ? 2 : 0;
}

static void visit_from_row(const struct db_rows *r, int i, int64_t tenant, int64_t site,
                           struct rollup_visit *v) {
  /* columns: first_seen_at, last_seen_at, customer_id, age, gender */
  memset(v, 0, sizeof *v);
  v->tenant_id = tenant;
  v->site_id = site;
  v->first_seen_ms = db_rows_int(r, i, 0);
  v->last_seen_ms = db_rows_int(r, i, 1);
  v->customer_id = db_rows_is_null(r, i, 2) ? 0 : db_rows_int(r, i, 2);
  v->has_age = !db_rows_is_null(r, i, 3);
  v->age = db_rows_real(r, i, 3);
  v->gender = gender_code(db_rows_text(r, i, 4));
}

/* --- maintenance ---------------------------------------------------------------- */

int rollup_visit_load(struct db_conn *c, int64_t visit_id, struct rollup_visit *out,
                      struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT first_seen_at, last_seen_at, customer_id, age, gender, tenant_id, "
                    "site_id FROM visits WHERE id = $1",
                    DB_ARGS(db_int(visit_id)), &rows, err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(err, FF_ENOTFOUND, "no such visit");
  if (!rc)
    visit_from_row(rows, 0, db_rows_int(rows, 0, 5), db_rows_int(rows, 0, 6), out);
  db_rows_free(rows);
  return rc;
}

/* Adds a cell's counters to its stored row (creating it), and drops a row
 * left with nothing in it. */
static char cell_add_sql[2048];
static pthread_once_t cell_add_once = PTHREAD_ONCE_INIT;

/* The upsert of a cell, built once from the column table (no values in it). */
static void cell_add_prepare(void) {
  char *sql = cell_add_sql;
  size_t size = sizeof cell_add_sql;
  int n = snprintf(sql, size,
                   "INSERT INTO report_hours (tenant_id, site_id, hour_start, local_day, "
                   "local_hour, weekday");
  for (int i = 0; i < RC_COUNT; i++)
    n += snprintf(sql + n, size - (size_t)n, ", %s", rollup_counter_columns[i]);
  n += snprintf(sql + n, size - (size_t)n, ") VALUES ($1, $2, $3, $4, $5, $6");
  for (int i = 0; i < RC_COUNT; i++)
    n += snprintf(sql + n, size - (size_t)n, ", $%d", 7 + i);
  n += snprintf(sql + n, size - (size_t)n, ") ON CONFLICT (site_id, hour_start) DO UPDATE SET ");
  for (int i = 0; i < RC_COUNT; i++)
    n += snprintf(sql + n, size - (size_t)n, "%s%s = report_hours.%s + excluded.%s", i ? ", " : "",
                  rollup_counter_columns[i], rollup_counter_columns[i], rollup_counter_columns[i]);
}

/* Adds a cell's counters to its stored row (creating it), and drops a row
 * left with nothing in it. */
static int cell_add(struct db_conn *c, int64_t tenant, int64_t site, const struct rollup_cell *x,
                    struct ff_error *err) {
  pthread_once(&cell_add_once, cell_add_prepare);
  struct db_value args[6 + RC_COUNT];
  args[0] = db_int(tenant);
  args[1] = db_int(site);
  args[2] = db_int(x->hour_start);
  args[3] = db_int(x->local_day);
  args[4] = db_int(x->local_hour);
  args[5] = db_int(x->weekday);
  for (int i = 0; i < RC_COUNT; i++)
    args[6 + i] = db_int(x->n[i]);
  int rc = db_exec(c, cell_add_sql, args, 6 + RC_COUNT, NULL, err);
  if (!rc && (x->n[RC_VISITS] < 0 || x->n[RC_STAFF] < 0))
    rc = db_exec(c,
                 "DELETE FROM report_hours WHERE site_id = $1 AND hour_start = $2 AND "
                 "visits = 0 AND staff_passes = 0",
                 DB_ARGS(db_int(site), db_int(x->hour_start)), NULL, err);
  return rc;
}

int rollup_visit_apply(struct db_conn *c, const struct tz *tz, const struct rollup_visit *v,
                       int sign, struct ff_error *err) {
  struct rollup_cell x;
  memset(&x, 0, sizeof x);
  rollup_locate(tz, v->first_seen_ms, &x);
  rollup_count_visit(&x, v, sign);
  int rc = cell_add(c, v->tenant_id, v->site_id, &x, err);
  if (!rc && sign > 0 && v->customer_id)
    rc = db_exec(c,
                 "INSERT INTO report_visitors (tenant_id, site_id, local_day, local_month, "
                 "customer_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                 DB_ARGS(db_int(v->tenant_id), db_int(v->site_id), db_int(x.local_day),
                         db_int(rollup_month_of_day(x.local_day)), db_int(v->customer_id)),
                 NULL, err);
  return rc;
}

int rollup_visit_change(struct db_conn *c, const struct tz *tz, const struct rollup_visit *was,
                        const struct rollup_visit *now, struct ff_error *err) {
  struct rollup_cell a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  rollup_locate(tz, was->first_seen_ms, &a);
  rollup_locate(tz, now->first_seen_ms, &b);
  if (a.hour_start == b.hour_start) { /* the usual case: one row changes */
    rollup_count_visit(&a, was, -1);
    rollup_count_visit(&a, now, 1);
    int changed = 0;
    for (int i = 0; i < RC_COUNT; i++)
      changed |= a.n[i] != 0;
    return changed ? cell_add(c, now->tenant_id, now->site_id, &a, err) : FF_OK;
  }
  rollup_count_visit(&a, was, -1);
  rollup_count_visit(&b, now, 1);
  int rc = cell_add(c, was->tenant_id, was->site_id, &a, err);
  return rc ? rc : cell_add(c, now->tenant_id, now->site_id, &b, err);
}

int rollup_staff_pass(struct db_conn *c, const struct tz *tz, int64_t tenant_id, int64_t site_id,
                      int64_t seen_ms, struct ff_error *err) {
  struct rollup_cell x;
  memset(&x, 0, sizeof x);
  rollup_locate(tz, seen_ms, &x);
  x.n[RC_STAFF] = 1;
  return cell_add(c, tenant_id, site_id, &x, err);
}

const struct tz *rollup_site_zone(struct server *s, struct db_conn *c, int64_t site_id,
                                  struct ff_error *err) {
  struct db_rows *rows = NULL;
  const struct tz *tz = NULL;
  if (!db_query(c, "SELECT timezone FROM sites WHERE id = $1", DB_ARGS(db_int(site_id)), &rows,
                err)) {
    if (db_rows_count(rows) == 1)
      tz = recognizer_zone(s, db_rows_text(rows, 0, 0), err);
    else
      ff_fail(err, FF_ENOTFOUND, "no such site");
  }
  db_rows_free(rows);
  return tz;
}

/* --- rebuilding site-days from raw rows -------------------------------------------- */

static int days_add(struct rollup_days *d, int64_t site, int64_t day) {
  for (int i = d->count - 1; i >= 0 && i >= d->count - 8; i--)
    if (d->items[i].site == site && d->items[i].day == day)
      return FF_OK;
  if (d->count == d->cap) {
    int cap = d->cap ? d->cap * 2 : 16;
    void *p = realloc(d->items, (size_t)cap * sizeof d->items[0]);
    if (!p)
      return FF_ENOMEM;
    d->items = p;
    d->cap = cap;
  }
  d->items[d->count].site = site;
  d->items[d->count].day = day;
  d->count++;
  return FF_OK;
}

void rollup_days_free(struct rollup_days *d) {
  free(d->items);
  memset(d, 0, sizeof *d);
}

/* Rows of (site_id, instant, timezone) -> their site-days. */
static int touch(struct rollup_days *d, struct server *s, struct db_conn *c, const char *sql,
                 int64_t id, struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c, sql, DB_ARGS(db_int(id)), &rows, err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    const struct tz *tz = recognizer_zone(s, db_rows_text(rows, i, 2), err);
    if (!tz)
      rc = FF_EINTERNAL;
    else if (days_add(d, db_rows_int(rows, i, 0), rollup_local_day(tz, db_rows_int(rows, i, 1))))
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
  }
  db_rows_free(rows);
  return rc;
}

int rollup_touch_customer(struct rollup_days *d, struct server *s, struct db_conn *c,
                          int64_t customer_id, struct ff_error *err) {
  return touch(d, s, c,
               "SELECT v.site_id, v.first_seen_at, s.timezone FROM visits v JOIN sites s ON "
               "s.id = v.site_id WHERE v.customer_id = $1",
               customer_id, err);
}

int rollup_touch_visit(struct rollup_days *d, struct server *s, struct db_conn *c, int64_t visit_id,
                       struct ff_error *err) {
  return touch(d, s, c,
               "SELECT v.site_id, v.first_seen_at, s.timezone FROM visits v JOIN sites s ON "
               "s.id = v.site_id WHERE v.id = $1",
               visit_id, err);
}

int rollup_touch_staff(struct rollup_days *d, struct server *s, struct db_conn *c, int64_t staff_id,
                       struct ff_error *err) {
  return touch(d, s, c,
               "SELECT p.site_id, p.seen_at, s.timezone FROM staff_passes p JOIN sites s ON "
               "s.id = p.site_id WHERE p.staff_id = $1",
               staff_id, err);
}

static struct rollup_cell *cell_for(struct rollup_cell *cells, int *count, const struct tz *tz,
                                    int64_t at) {
  struct rollup_cell key;
  rollup_locate(tz, at, &key);
  for (int i = 0; i < *count; i++)
    if (cells[i].hour_start == key.hour_start)
      return &cells[i];
  if (*count == CELLS_PER_DAY_MAX)
    return NULL;
  memset(&cells[*count], 0, sizeof cells[0]);
  cells[*count].hour_start = key.hour_start;
  cells[*count].local_day = key.local_day;
  cells[*count].local_hour = key.local_hour;
  cells[*count].weekday = key.weekday;
  return &cells[(*count)++];
}

static int cell_order(const void *a, const void *b) {
  int64_t x = ((const struct rollup_cell *)a)->hour_start,
          y = ((const struct rollup_cell *)b)->hour_start;
  return x < y ? -1 : x > y;
}

/* The cells of one site-day computed from raw rows, ordered by hour. */
static int day_cells(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                     int64_t day, struct rollup_cell *cells, int *count, struct ff_error *err) {
  int64_t from = rollup_day_start_ms(tz, day), to = rollup_day_start_ms(tz, day + 1);
  *count = 0;
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT first_seen_at, last_seen_at, customer_id, age, gender FROM visits "
                    "WHERE site_id = $1 AND first_seen_at >= $2 AND first_seen_at < $3",
                    DB_ARGS(db_int(site), db_int(from), db_int(to)), &rows, err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    struct rollup_visit v;
    visit_from_row(rows, i, tenant, site, &v);
    struct rollup_cell *x = cell_for(cells, count, tz, v.first_seen_ms);
    if (!x)
      rc = ff_fail(err, FF_EINTERNAL, "more than %d local hours in a day", CELLS_PER_DAY_MAX);
    else
      rollup_count_visit(x, &v, 1);
  }
  db_rows_free(rows);
  rows = NULL;
  if (!rc)
    rc = db_query(c,
                  "SELECT seen_at FROM staff_passes WHERE site_id = $1 AND seen_at >= $2 AND "
                  "seen_at < $3",
                  DB_ARGS(db_int(site), db_int(from), db_int(to)), &rows, err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    struct rollup_cell *x = cell_for(cells, count, tz, db_rows_int(rows, i, 0));
    if (!x)
      rc = ff_fail(err, FF_EINTERNAL, "more than %d local hours in a day", CELLS_PER_DAY_MAX);
    else
      x->n[RC_STAFF]++;
  }
  db_rows_free(rows);
  qsort(cells, (size_t)*count, sizeof cells[0], cell_order);
  return rc;
}

static int rebuild_day(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                       int64_t day, struct ff_error *err) {
  struct rollup_cell cells[CELLS_PER_DAY_MAX];
  int count = 0;
  int64_t from = rollup_day_start_ms(tz, day), to = rollup_day_start_ms(tz, day + 1);
  int rc = db_exec(c, "DELETE FROM report_hours WHERE site_id = $1 AND local_day = $2",
                   DB_ARGS(db_int(site), db_int(day)), NULL, err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_visitors WHERE site_id = $1 AND local_day = $2",
                 DB_ARGS(db_int(site), db_int(day)), NULL, err);
  if (!rc)
    rc = day_cells(c, tz, tenant, site, day, cells, &count, err);
  for (int i = 0; !rc && i < count; i++)
    rc = cell_add(c, tenant, site, &cells[i], err);
  if (!rc)
    rc = db_exec(
        c,
        "INSERT INTO report_visitors (tenant_id, site_id, local_day, local_month, "
        "customer_id) SELECT DISTINCT CAST($1 AS BIGINT), CAST($2 AS BIGINT), CAST($3 AS BIGINT), "
        "CAST($4 AS BIGINT), "
        "customer_id FROM visits WHERE site_id = $2 AND first_seen_at >= $5 AND "
        "first_seen_at < $6 AND customer_id IS NOT NULL",
        DB_ARGS(db_int(tenant), db_int(site), db_int(day), db_int(rollup_month_of_day(day)),
                db_int(from), db_int(to)),
        NULL, err);
  return rc;
}

static int site_info(struct server *s, struct db_conn *c, int64_t site, int64_t *tenant,
                     const struct tz **tz, struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(c, "SELECT tenant_id, timezone FROM sites WHERE id = $1", DB_ARGS(db_int(site)),
                    &rows, err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(err, FF_ENOTFOUND, "no such site");
  if (!rc) {
    *tenant = db_rows_int(rows, 0, 0);
    *tz = recognizer_zone(s, db_rows_text(rows, 0, 1), err);
    if (!*tz)
      rc = FF_EINTERNAL;
  }
  db_rows_free(rows);
  return rc;
}

static int days_order(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  if (x[0] != y[0])
    return x[0] < y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

int rollup_rebuild(struct rollup_days *d, struct server *s, struct db_conn *c,
                   struct ff_error *err) {
  int rc = FF_OK;
  if (d->count)
    qsort(d->items, (size_t)d->count, sizeof d->items[0], days_order);
  int64_t site = 0, tenant = 0;
  const struct tz *tz = NULL;
  for (int i = 0; !rc && i < d->count; i++) {
    if (i && d->items[i].site == d->items[i - 1].site && d->items[i].day == d->items[i - 1].day)
      continue;
    if (d->items[i].site != site) {
      site = d->items[i].site;
      rc = site_info(s, c, site, &tenant, &tz, err);
    }
    if (!rc)
      rc = rebuild_day(c, tz, tenant, site, d->items[i].day, err);
  }
  rollup_days_free(d);
  return rc;
}

int rollup_rebuild_site(struct server *s, struct db_conn *c, int64_t site_id,
                        struct ff_error *err) {
  int64_t tenant = 0;
  const struct tz *tz = NULL;
  struct db_rows *rows = NULL;
  int rc = site_info(s, c, site_id, &tenant, &tz, err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_hours WHERE site_id = $1", DB_ARGS(db_int(site_id)), NULL,
                 err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_visitors WHERE site_id = $1", DB_ARGS(db_int(site_id)),
                 NULL, err);
  if (!rc)
    rc = db_query(c,
                  "SELECT MIN(t), MAX(t) FROM (SELECT first_seen_at AS t FROM visits WHERE "
                  "site_id = $1 UNION ALL SELECT seen_at FROM staff_passes WHERE site_id = $1) x",
                  DB_ARGS(db_int(site_id)), &rows, err);
  if (!rc && !db_rows_is_null(rows, 0, 0)) {
    int64_t first = rollup_local_day(tz, db_rows_int(rows, 0, 0));
    int64_t last = rollup_local_day(tz, db_rows_int(rows, 0, 1));
    for (int64_t day = first; !rc && day <= last; day++)
      rc = rebuild_day(c, tz, tenant, site_id, day, err);
  }
  db_rows_free(rows);
  return rc;
}

/* --- the check ----------------------------------------------------------------------- */

/* Compares one site-day; returns 1 when it differs, 0 when equal, < 0 on error. */
static int check_day(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                     int64_t day, struct rollup_check *out, struct ff_error *err) {
  struct rollup_cell want[CELLS_PER_DAY_MAX];
  int count = 0;
  int rc = day_cells(c, tz, tenant, site, day, want, &count, err);
  if (rc)
    return rc;
  char sql[1024];
  int n = snprintf(sql, sizeof sql, "SELECT hour_start, local_day, local_hour, weekday, tenant_id");
  for (int i = 0; i < RC_COUNT; i++)
    n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", rollup_counter_columns[i]);
  snprintf(sql + n, sizeof sql - (size_t)n,
           " FROM report_hours WHERE site_id = $1 AND local_day = $2 ORDER BY hour_start");
  struct db_rows *rows = NULL;
  if ((rc = db_query(c, sql, DB_ARGS(db_int(site), db_int(day)), &rows, err)))
    return rc;
  int have = db_rows_count(rows), i = 0, k = 0;
  int64_t differing = 0;
  while (i < count || k < have) {
    int64_t hs = k < have ? db_rows_int(rows, k, 0) : INT64_MAX;
    if (i < count && want[i].hour_start < hs) {
      differing++, i++;
    } else if (i >= count || want[i].hour_start > hs) {
      differing++, k++;
    } else {
      int same = db_rows_int(rows, k, 1) == want[i].local_day &&
                 db_rows_int(rows, k, 2) == want[i].local_hour &&
                 db_rows_int(rows, k, 3) == want[i].weekday && db_rows_int(rows, k, 4) == tenant;
      for (int j = 0; j < RC_COUNT && same; j++)
        same = db_rows_int(rows, k, 5 + j) == want[i].n[j];
      differing += !same;
      i++, k++;
    }
  }
  db_rows_free(rows);
  rows = NULL;
  int64_t from = rollup_day_start_ms(tz, day), to = rollup_day_start_ms(tz, day + 1);
  rc = db_query(
      c,
      "SELECT (SELECT COUNT(*) FROM report_visitors r WHERE r.site_id = $1 AND r.local_day = $2 "
      "AND (r.tenant_id <> $5 OR r.local_month <> $6 OR NOT EXISTS (SELECT 1 FROM visits v "
      "WHERE v.customer_id = r.customer_id AND v.site_id = $1 AND v.first_seen_at >= $3 AND "
      "v.first_seen_at < $4))), (SELECT COUNT(DISTINCT v.customer_id) FROM visits v WHERE "
      "v.site_id = $1 AND v.first_seen_at >= $3 AND v.first_seen_at < $4 AND v.customer_id IS "
      "NOT NULL AND NOT EXISTS (SELECT 1 FROM report_visitors r WHERE r.site_id = $1 AND "
      "r.local_day = $2 AND r.customer_id = v.customer_id))",
      DB_ARGS(db_int(site), db_int(day), db_int(from), db_int(to), db_int(tenant),
              db_int(rollup_month_of_day(day))),
      &rows, err);
  int64_t visitors = rc ? 0 : db_rows_int(rows, 0, 0) + db_rows_int(rows, 0, 1);
  db_rows_free(rows);
  if (rc)
    return rc;
  out->days++;
  out->hours_differing += differing;
  out->visitors_differing += visitors;
  if (differing || visitors) {
    out->days_differing++;
    return 1;
  }
  return 0;
}

static int check_site(struct server *s, int64_t site, int64_t from_ms, int64_t to_ms, int repair,
                      struct rollup_check *out, struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 30000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection for the rollup check");
  int64_t tenant = 0;
  const struct tz *tz = NULL;
  int rc = site_info(s, c, site, &tenant, &tz, err);
  int64_t first = rc ? 0 : rollup_local_day(tz, from_ms);
  int64_t last = rc ? -1 : rollup_local_day(tz, to_ms - 1);
  for (int64_t chunk = first; !rc && chunk <= last; chunk += CHECK_CHUNK_DAYS) {
    rc = db_begin(c, repair ? DB_TX_WRITE : DB_TX_READ, err);
    for (int64_t day = chunk; !rc && day <= last && day < chunk + CHECK_CHUNK_DAYS; day++) {
      int differs = check_day(c, tz, tenant, site, day, out, err);
      if (differs < 0)
        rc = differs;
      else if (differs && repair && !(rc = rebuild_day(c, tz, tenant, site, day, err)))
        out->days_repaired++;
    }
    if (rc)
      db_rollback(c);
    else
      rc = db_commit(c, err);
  }
  db_release(c);
  return rc;
}

int reports_rollups_check(struct server *s, int64_t tenant_id, int64_t from_ms, int64_t to_ms,
                          int repair, struct rollup_check *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  if (from_ms >= to_ms || to_ms - from_ms > CHECK_MAX_DAYS * DAY_MS)
    return ff_fail(err, FF_EINVAL, "the range must be non-empty and at most %d days",
                   CHECK_MAX_DAYS);
  struct db_conn *c = db_acquire(s->db, 30000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection for the rollup check");
  struct db_rows *sites = NULL;
  int rc = db_query(c, "SELECT id FROM sites WHERE ($1 = 0 OR tenant_id = $1) ORDER BY id",
                    DB_ARGS(db_int(tenant_id)), &sites, err);
  db_release(c);
  for (int i = 0; !rc && i < db_rows_count(sites); i++) {
    out->sites++;
    rc = check_site(s, db_rows_int(sites, i, 0), from_ms, to_ms, repair, out, err);
  }
  db_rows_free(sites);
  return rc;
}
