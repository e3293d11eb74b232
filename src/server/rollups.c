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
static char hour_add_sql[2048], day_add_sql[2048];
static pthread_once_t add_once = PTHREAD_ONCE_INIT;

/* The upserts of an hour and of a day, built once from the column table (no
 * values in them): counters add to the stored row. */
static void add_prepare(void) {
  for (int day = 0; day < 2; day++) {
    char *sql = day ? day_add_sql : hour_add_sql;
    size_t size = sizeof hour_add_sql;
    const char *table = day ? "report_days" : "report_hours";
    int n = snprintf(sql, size, "INSERT INTO %s (tenant_id, site_id, local_day%s", table,
                     day ? "" : ", hour_start, local_hour, weekday");
    int keys = day ? 3 : 6;
    for (int i = 0; i < RC_COUNT; i++)
      n += snprintf(sql + n, size - (size_t)n, ", %s", rollup_counter_columns[i]);
    n += snprintf(sql + n, size - (size_t)n, ") VALUES ($1");
    for (int i = 2; i <= keys + RC_COUNT; i++)
      n += snprintf(sql + n, size - (size_t)n, ", $%d", i);
    n += snprintf(sql + n, size - (size_t)n, ") ON CONFLICT (site_id, local_day%s) DO UPDATE SET ",
                  day ? "" : ", hour_start");
    for (int i = 0; i < RC_COUNT; i++)
      n += snprintf(sql + n, size - (size_t)n, "%s%s = %s.%s + excluded.%s", i ? ", " : "",
                    rollup_counter_columns[i], table, rollup_counter_columns[i],
                    rollup_counter_columns[i]);
  }
}

/* Adds counters to an hour's stored row (creating it); drops a row left
 * with nothing in it. */
static int hour_add(struct db_conn *c, int64_t tenant, int64_t site, const struct rollup_cell *x,
                    struct ff_error *err) {
  pthread_once(&add_once, add_prepare);
  struct db_value args[6 + RC_COUNT];
  args[0] = db_int(tenant);
  args[1] = db_int(site);
  args[2] = db_int(x->local_day);
  args[3] = db_int(x->hour_start);
  args[4] = db_int(x->local_hour);
  args[5] = db_int(x->weekday);
  for (int i = 0; i < RC_COUNT; i++)
    args[6 + i] = db_int(x->n[i]);
  int rc = db_exec(c, hour_add_sql, args, 6 + RC_COUNT, NULL, err);
  if (!rc && (x->n[RC_VISITS] < 0 || x->n[RC_STAFF] < 0))
    rc = db_exec(c,
                 "DELETE FROM report_hours WHERE site_id = $1 AND local_day = $2 AND "
                 "hour_start = $3 AND visits = 0 AND staff_passes = 0",
                 DB_ARGS(db_int(site), db_int(x->local_day), db_int(x->hour_start)), NULL, err);
  return rc;
}

/* The same for the day's row. */
static int day_add(struct db_conn *c, int64_t tenant, int64_t site, int64_t day,
                   const int64_t n[RC_COUNT], struct ff_error *err) {
  pthread_once(&add_once, add_prepare);
  struct db_value args[3 + RC_COUNT];
  args[0] = db_int(tenant);
  args[1] = db_int(site);
  args[2] = db_int(day);
  for (int i = 0; i < RC_COUNT; i++)
    args[3 + i] = db_int(n[i]);
  int rc = db_exec(c, day_add_sql, args, 3 + RC_COUNT, NULL, err);
  if (!rc && (n[RC_VISITS] < 0 || n[RC_STAFF] < 0))
    rc = db_exec(c,
                 "DELETE FROM report_days WHERE site_id = $1 AND local_day = $2 AND visits = 0 "
                 "AND staff_passes = 0",
                 DB_ARGS(db_int(site), db_int(day)), NULL, err);
  return rc;
}

/* Stores a day's two lists (no row when both are empty). */
static int sets_put(struct db_conn *c, int64_t site, int64_t day, const void *durations,
                    size_t durations_len, const void *visitors, size_t visitors_len,
                    struct ff_error *err) {
  if (!durations_len && !visitors_len)
    return db_exec(c, "DELETE FROM report_day_sets WHERE site_id = $1 AND local_day = $2",
                   DB_ARGS(db_int(site), db_int(day)), NULL, err);
  return db_exec(c,
                 "INSERT INTO report_day_sets (site_id, local_day, durations, visitors) VALUES "
                 "($1, $2, $3, $4) ON CONFLICT (site_id, local_day) DO UPDATE SET durations = "
                 "excluded.durations, visitors = excluded.visitors",
                 DB_ARGS(db_int(site), db_int(day),
                         db_blob(durations ? durations : "", durations_len),
                         db_blob(visitors ? visitors : "", visitors_len)),
                 NULL, err);
}

static int cell_add(struct db_conn *c, int64_t tenant, int64_t site, const struct rollup_cell *x,
                    struct ff_error *err) {
  int rc = hour_add(c, tenant, site, x, err);
  return rc ? rc : day_add(c, tenant, site, x->local_day, x->n, err);
}

/* --- durations: per site-day, whole seconds, sorted uint32 little-endian ---- */

int64_t rollup_duration_s(const struct rollup_visit *v) {
  int64_t d = (v->last_seen_ms - v->first_seen_ms) / 1000;
  return d < 0 ? 0 : d > UINT32_MAX ? UINT32_MAX : d;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
  p[3] = (unsigned char)(v >> 24);
}

size_t rollup_ids_encode(const int64_t *ids, size_t n, unsigned char *out) {
  size_t len = 0;
  int64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t d = (uint64_t)(ids[i] - prev);
    prev = ids[i];
    do {
      out[len++] = (unsigned char)((d & 0x7f) | (d > 0x7f ? 0x80 : 0));
      d >>= 7;
    } while (d);
  }
  return len;
}

int rollup_ids_next(const unsigned char **p, const unsigned char *end, int64_t *id) {
  uint64_t d = 0;
  for (int shift = 0; *p < end && shift < 64; shift += 7) {
    unsigned char b = *(*p)++;
    d |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *id += (int64_t)d;
      return 1;
    }
  }
  return 0;
}

/* A day's two lists, changed in place: one duration `remove` taken out and
 * `add` put in (either may be -1: nothing), and customer `visitor` added to
 * the visitors if missing (0: nothing). */
static int day_lists_update(struct db_conn *c, int64_t site, int64_t day, int64_t remove,
                            int64_t add, int64_t visitor, struct ff_error *err) {
  if (remove == add && !visitor)
    return FF_OK;
  struct db_rows *rows = NULL;
  int rc = db_query(
      c, "SELECT durations, visitors FROM report_day_sets WHERE site_id = $1 AND local_day = $2",
      DB_ARGS(db_int(site), db_int(day)), &rows, err);
  if (rc) {
    db_rows_free(rows);
    return rc;
  }
  size_t len = 0, vlen = 0;
  const unsigned char *old = db_rows_blob(rows, 0, 0, &len);
  const unsigned char *vold = db_rows_blob(rows, 0, 1, &vlen);
  if (!vold) /* no row yet: both lists empty */
    vold = (const unsigned char *)"";
  size_t n = len / 4, k = 0;
  unsigned char *out = malloc((n + 1) * 4);
  /* Visitors: at most one id per byte, plus room for the new one. */
  int64_t *ids = malloc((vlen + 1) * sizeof *ids);
  unsigned char *vout = malloc(vlen + 11);
  if (!out || !ids || !vout) {
    free(out), free(ids), free(vout);
    db_rows_free(rows);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  int removed = remove < 0, added = add < 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t v = get_u32(old + i * 4);
    if (!removed && v == (uint32_t)remove) {
      removed = 1;
      continue;
    }
    if (!added && (uint32_t)add <= v)
      put_u32(out + 4 * k++, (uint32_t)add), added = 1;
    put_u32(out + 4 * k++, v);
  }
  if (!added)
    put_u32(out + 4 * k++, (uint32_t)add);
  size_t nids = 0;
  int64_t id = 0;
  int have = !visitor;
  for (const unsigned char *p = vold, *end = vold + vlen; rollup_ids_next(&p, end, &id);) {
    if (!have && visitor <= id) {
      have = 1;
      if (visitor < id)
        ids[nids++] = visitor;
    }
    ids[nids++] = id;
  }
  if (!have)
    ids[nids++] = visitor;
  size_t vnew = rollup_ids_encode(ids, nids, vout);
  db_rows_free(rows);
  rc = sets_put(c, site, day, out, k * 4, vout, vnew, err);
  free(out), free(ids), free(vout);
  return rc;
}

int rollup_visit_apply(struct db_conn *c, const struct tz *tz, const struct rollup_visit *v,
                       int sign, struct ff_error *err) {
  struct rollup_cell x;
  memset(&x, 0, sizeof x);
  rollup_locate(tz, v->first_seen_ms, &x);
  rollup_count_visit(&x, v, sign);
  int rc = cell_add(c, v->tenant_id, v->site_id, &x, err);
  if (!rc)
    rc = day_lists_update(c, v->site_id, x.local_day, sign < 0 ? rollup_duration_s(v) : -1,
                          sign > 0 ? rollup_duration_s(v) : -1, sign > 0 ? v->customer_id : 0, err);
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
    int rc = changed ? cell_add(c, now->tenant_id, now->site_id, &a, err) : FF_OK;
    return rc ? rc
              : day_lists_update(c, now->site_id, a.local_day, rollup_duration_s(was),
                                 rollup_duration_s(now), 0, err);
  }
  rollup_count_visit(&a, was, -1);
  rollup_count_visit(&b, now, 1);
  int rc = cell_add(c, was->tenant_id, was->site_id, &a, err);
  if (!rc)
    rc = cell_add(c, now->tenant_id, now->site_id, &b, err);
  if (!rc && a.local_day == b.local_day)
    rc = day_lists_update(c, now->site_id, a.local_day, rollup_duration_s(was),
                          rollup_duration_s(now), 0, err);
  else if (!rc && !(rc = day_lists_update(c, was->site_id, a.local_day, rollup_duration_s(was), -1,
                                          0, err)))
    rc = day_lists_update(c, now->site_id, b.local_day, -1, rollup_duration_s(now),
                          now->customer_id, err);
  return rc;
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

/* What one site-day's rollups should hold, computed from the raw rows. */
struct day_truth {
  struct rollup_cell cells[CELLS_PER_DAY_MAX]; /* ordered by hour */
  int count;
  int64_t total[RC_COUNT];
  unsigned char *durations; /* sorted uint32 little-endian */
  size_t durations_len;
  unsigned char *visitors; /* rollup_ids_encode of the distinct customers */
  size_t visitors_len;
};

static int id_order(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int u32_order(const void *a, const void *b) {
  uint32_t x = get_u32(a), y = get_u32(b);
  return x < y ? -1 : x > y;
}

static int day_truth(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                     int64_t day, struct day_truth *t, struct ff_error *err) {
  int64_t from = rollup_day_start_ms(tz, day), to = rollup_day_start_ms(tz, day + 1);
  memset(t, 0, sizeof *t);
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT first_seen_at, last_seen_at, customer_id, age, gender FROM visits "
                    "WHERE site_id = $1 AND first_seen_at >= $2 AND first_seen_at < $3",
                    DB_ARGS(db_int(site), db_int(from), db_int(to)), &rows, err);
  int n = rc ? 0 : db_rows_count(rows);
  if (n && !(t->durations = malloc((size_t)n * 4)))
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
  for (int i = 0; !rc && i < n; i++) {
    struct rollup_visit v;
    visit_from_row(rows, i, tenant, site, &v);
    struct rollup_cell *x = cell_for(t->cells, &t->count, tz, v.first_seen_ms);
    if (!x)
      rc = ff_fail(err, FF_EINTERNAL, "more than %d local hours in a day", CELLS_PER_DAY_MAX);
    else
      rollup_count_visit(x, &v, 1);
    put_u32(t->durations + 4 * i, (uint32_t)rollup_duration_s(&v));
  }
  t->durations_len = rc ? 0 : (size_t)n * 4;
  if (n)
    qsort(t->durations, (size_t)n, 4, u32_order);
  /* The distinct customers, sorted, encoded (10 bytes per id at most). */
  int64_t *ids = n ? malloc((size_t)n * sizeof *ids) : NULL;
  if (!rc && n && (!ids || !(t->visitors = malloc((size_t)n * 10))))
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
  size_t nids = 0;
  for (int i = 0; !rc && i < n; i++)
    if (!db_rows_is_null(rows, i, 2))
      ids[nids++] = db_rows_int(rows, i, 2);
  if (!rc && nids) {
    qsort(ids, nids, sizeof *ids, id_order);
    size_t u = 0;
    for (size_t i = 0; i < nids; i++)
      if (!u || ids[u - 1] != ids[i])
        ids[u++] = ids[i];
    t->visitors_len = rollup_ids_encode(ids, u, t->visitors);
  }
  free(ids);
  db_rows_free(rows);
  rows = NULL;
  if (!rc)
    rc = db_query(c,
                  "SELECT seen_at FROM staff_passes WHERE site_id = $1 AND seen_at >= $2 AND "
                  "seen_at < $3",
                  DB_ARGS(db_int(site), db_int(from), db_int(to)), &rows, err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    struct rollup_cell *x = cell_for(t->cells, &t->count, tz, db_rows_int(rows, i, 0));
    if (!x)
      rc = ff_fail(err, FF_EINTERNAL, "more than %d local hours in a day", CELLS_PER_DAY_MAX);
    else
      x->n[RC_STAFF]++;
  }
  db_rows_free(rows);
  qsort(t->cells, (size_t)t->count, sizeof t->cells[0], cell_order);
  for (int i = 0; i < t->count; i++)
    for (int k = 0; k < RC_COUNT; k++)
      t->total[k] += t->cells[i].n[k];
  if (rc) {
    free(t->durations), free(t->visitors);
    t->durations = t->visitors = NULL;
  }
  return rc;
}

static int rebuild_day(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                       int64_t day, struct ff_error *err) {
  struct day_truth t;
  int rc = day_truth(c, tz, tenant, site, day, &t, err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_hours WHERE site_id = $1 AND local_day = $2",
                 DB_ARGS(db_int(site), db_int(day)), NULL, err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_days WHERE site_id = $1 AND local_day = $2",
                 DB_ARGS(db_int(site), db_int(day)), NULL, err);
  for (int i = 0; !rc && i < t.count; i++)
    rc = hour_add(c, tenant, site, &t.cells[i], err);
  if (!rc && t.count)
    rc = day_add(c, tenant, site, day, t.total, err);
  if (!rc)
    rc = sets_put(c, site, day, t.durations, t.durations_len, t.visitors, t.visitors_len, err);
  free(t.durations), free(t.visitors);
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
    rc = db_exec(c, "DELETE FROM report_days WHERE site_id = $1", DB_ARGS(db_int(site_id)), NULL,
                 err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_day_sets WHERE site_id = $1", DB_ARGS(db_int(site_id)),
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

static void select_counters(char *sql, size_t size, const char *keys, const char *rest) {
  int n = snprintf(sql, size, "SELECT %s", keys);
  for (int i = 0; i < RC_COUNT; i++)
    n += snprintf(sql + n, size - (size_t)n, ", %s", rollup_counter_columns[i]);
  snprintf(sql + n, size - (size_t)n, " %s", rest);
}

static int same_counters(const struct db_rows *rows, int row, int first, const int64_t *want) {
  for (int j = 0; j < RC_COUNT; j++)
    if (db_rows_int(rows, row, first + j) != want[j])
      return 0;
  return 1;
}

/* Compares one site-day; returns 1 when it differs, 0 when equal, < 0 on error. */
static int check_day(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                     int64_t day, struct rollup_check *out, struct ff_error *err) {
  struct day_truth t;
  int rc = day_truth(c, tz, tenant, site, day, &t, err);
  if (rc)
    return rc;
  char sql[1024];
  select_counters(sql, sizeof sql, "hour_start, local_hour, weekday, tenant_id",
                  "FROM report_hours WHERE site_id = $1 AND local_day = $2 ORDER BY hour_start");
  struct db_rows *rows = NULL;
  if ((rc = db_query(c, sql, DB_ARGS(db_int(site), db_int(day)), &rows, err))) {
    free(t.durations), free(t.visitors);
    return rc;
  }
  int have = db_rows_count(rows), i = 0, k = 0;
  int64_t differing = 0;
  while (i < t.count || k < have) {
    int64_t hs = k < have ? db_rows_int(rows, k, 0) : INT64_MAX;
    if (i < t.count && t.cells[i].hour_start < hs) {
      differing++, i++;
    } else if (i >= t.count || t.cells[i].hour_start > hs) {
      differing++, k++;
    } else {
      differing += !(db_rows_int(rows, k, 1) == t.cells[i].local_hour &&
                     db_rows_int(rows, k, 2) == t.cells[i].weekday &&
                     db_rows_int(rows, k, 3) == tenant && same_counters(rows, k, 4, t.cells[i].n));
      i++, k++;
    }
  }
  db_rows_free(rows);
  rows = NULL;
  /* The day's row: the hours' totals; its lists: durations and visitors. */
  select_counters(sql, sizeof sql, "tenant_id",
                  "FROM report_days WHERE site_id = $1 AND local_day = $2");
  rc = db_query(c, sql, DB_ARGS(db_int(site), db_int(day)), &rows, err);
  int present = !rc && db_rows_count(rows) == 1;
  if (!rc)
    differing +=
        !(present == (t.count > 0) &&
          (!present || (db_rows_int(rows, 0, 0) == tenant && same_counters(rows, 0, 1, t.total))));
  db_rows_free(rows);
  rows = NULL;
  int64_t visitors = 0;
  if (!rc)
    rc = db_query(c,
                  "SELECT durations, visitors FROM report_day_sets WHERE site_id = $1 AND "
                  "local_day = $2",
                  DB_ARGS(db_int(site), db_int(day)), &rows, err);
  if (!rc) {
    size_t len = 0, vlen = 0;
    const void *blob = db_rows_blob(rows, 0, 0, &len);
    const void *vblob = db_rows_blob(rows, 0, 1, &vlen);
    differing += !(len == t.durations_len && (!len || !memcmp(blob, t.durations, len)));
    visitors = !(vlen == t.visitors_len && (!vlen || !memcmp(vblob, t.visitors, vlen)));
    /* A row holds something: empty lists have no row. */
    differing += db_rows_count(rows) == 1 && !len && !vlen;
  }
  free(t.durations), free(t.visitors);
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
