/* rollups.c — report rollups kept exact: maintenance inside the transaction
 * that changes a visit, rebuilds of whole site-days from raw rows, and the
 * check that compares the two (rollups.h, docs/REPORTS.md). */
#include "rollups.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "recognizer.h"
#include "server.h"
#include "tz.h"

#define DAY_MS 86400000LL
#define CHECK_CHUNK_DAYS 31
#define CHECK_MAX_DAYS (3660)
#define CELLS_PER_DAY_MAX 32 /* 25 local hours at most, room for odd zones */

const char *const rollup_counter_columns[RC_COUNT] = {
    "visits",      "anonymous_visits", "staff_passes", "duration_ms", "male",
    "female",      "gender_unknown",   "age_0_17",     "age_18_24",   "age_25_34",
    "age_35_44",   "age_45_54",        "age_55_64",    "age_65_plus", "age_unknown",
    "hour_firsts", "hour_site_firsts"};

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
  if (v->chained && v->customer_id) {
    cell->n[RC_HOUR_FIRSTS] += sign * (v->prev_key < v->hour_key);
    cell->n[RC_HOUR_SITE_FIRSTS] += sign * (v->prev_site_key < v->hour_key);
  }
}

int64_t rollup_hour_key(const struct tz *tz, int64_t utc_ms) {
  struct rollup_cell x;
  rollup_locate(tz, utc_ms, &x);
  return x.local_day * 24 + x.local_hour;
}

int64_t rollup_gap_days(int64_t hour_key, int64_t prev_key) {
  return prev_key < 0 ? ROLLUP_GAP_NONE : floor_div(hour_key, 24) - floor_div(prev_key, 24);
}

/* The zone's offset (local minus UTC, ms) at an instant. */
static int64_t zone_offset_ms(const struct tz *tz, int64_t utc_ms) {
  int64_t s = floor_div(utc_ms, 1000);
  struct tz_local l;
  tz_to_local(tz, s, &l);
  int64_t local =
      tz_days_from_civil(l.year, l.month, l.day) * 86400 + l.hour * 3600 + l.minute * 60 + l.second;
  return (local - s) * 1000;
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
                    "site_id, hour_key FROM visits WHERE id = $1",
                    DB_ARGS(db_int(visit_id)), &rows, err);
  if (!rc && db_rows_count(rows) != 1)
    rc = ff_fail(err, FF_ENOTFOUND, "no such visit");
  if (!rc) {
    visit_from_row(rows, 0, db_rows_int(rows, 0, 5), db_rows_int(rows, 0, 6), out);
    out->id = visit_id;
    out->hour_key = db_rows_is_null(rows, 0, 7) ? -1 : db_rows_int(rows, 0, 7);
  }
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

/* Inserts a day's hour rows (none stored) in one statement. */
static int hours_insert(struct db_conn *c, int64_t tenant, int64_t site,
                        const struct rollup_cell *cells, int count, struct ff_error *err) {
  if (!count)
    return FF_OK;
  enum { PER_ROW = 6 + RC_COUNT };
  size_t size = 512 + (size_t)count * PER_ROW * 8;
  char *sql = malloc(size);
  struct db_value *args = malloc((size_t)count * PER_ROW * sizeof *args);
  if (!sql || !args) {
    free(sql), free(args);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  int n = snprintf(sql, size,
                   "INSERT INTO report_hours (tenant_id, site_id, local_day, hour_start, "
                   "local_hour, weekday");
  for (int i = 0; i < RC_COUNT; i++)
    n += snprintf(sql + n, size - (size_t)n, ", %s", rollup_counter_columns[i]);
  n += snprintf(sql + n, size - (size_t)n, ") VALUES ");
  for (int r = 0; r < count; r++) {
    struct db_value *a = args + r * PER_ROW;
    a[0] = db_int(tenant);
    a[1] = db_int(site);
    a[2] = db_int(cells[r].local_day);
    a[3] = db_int(cells[r].hour_start);
    a[4] = db_int(cells[r].local_hour);
    a[5] = db_int(cells[r].weekday);
    for (int i = 0; i < RC_COUNT; i++)
      a[6 + i] = db_int(cells[r].n[i]);
    for (int i = 0; i < PER_ROW; i++)
      n += snprintf(sql + n, size - (size_t)n, "%s$%d",
                    i   ? ", "
                    : r ? "), ("
                        : "(",
                    r * PER_ROW + i + 1);
  }
  snprintf(sql + n, size - (size_t)n, ")");
  int rc = db_exec(c, sql, args, count * PER_ROW, NULL, err);
  free(sql), free(args);
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

/* Stores a day's two blobs (no row when both are empty): its lists
 * (report_day_sets: durations, visitors) or its gap histograms
 * (report_day_gaps: gaps, site_gaps). */
enum day_blobs { DAY_SETS, DAY_GAPS };

static int blobs_put(struct db_conn *c, enum day_blobs which, int64_t site, int64_t day,
                     const void *a, size_t a_len, const void *b, size_t b_len,
                     struct ff_error *err) {
  static const char *const drop[] = {
      [DAY_SETS] = "DELETE FROM report_day_sets WHERE site_id = $1 AND local_day = $2",
      [DAY_GAPS] = "DELETE FROM report_day_gaps WHERE site_id = $1 AND local_day = $2"};
  static const char *const put[] = {
      [DAY_SETS] = "INSERT INTO report_day_sets (site_id, local_day, durations, visitors) VALUES "
                   "($1, $2, $3, $4) ON CONFLICT (site_id, local_day) DO UPDATE SET durations = "
                   "excluded.durations, visitors = excluded.visitors",
      [DAY_GAPS] = "INSERT INTO report_day_gaps (site_id, local_day, gaps, site_gaps) VALUES "
                   "($1, $2, $3, $4) ON CONFLICT (site_id, local_day) DO UPDATE SET gaps = "
                   "excluded.gaps, site_gaps = excluded.site_gaps"};
  if (!a_len && !b_len)
    return db_exec(c, drop[which], DB_ARGS(db_int(site), db_int(day)), NULL, err);
  return db_exec(
      c, put[which],
      DB_ARGS(db_int(site), db_int(day), db_blob(a ? a : "", a_len), db_blob(b ? b : "", b_len)),
      NULL, err);
}

static int id_order(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* A histogram spelled out: one gap per visit. */
struct gap_list {
  int64_t *gaps;
  size_t n, cap;
  int failed;
};

static void gap_list_add(void *ctx, int64_t gap, int64_t count) {
  struct gap_list *l = ctx;
  if (l->failed || count < 0 || count > 100000000)
    return (void)(l->failed = 1);
  if (l->n + (size_t)count > l->cap) {
    size_t cap = (l->n + (size_t)count) * 2;
    int64_t *p = realloc(l->gaps, cap * sizeof *p);
    if (!p)
      return (void)(l->failed = 1);
    l->gaps = p;
    l->cap = cap;
  }
  for (int64_t i = 0; i < count; i++)
    l->gaps[l->n++] = gap;
}

static int cell_add(struct db_conn *c, int64_t tenant, int64_t site, const struct rollup_cell *x,
                    struct ff_error *err) {
  int rc = hour_add(c, tenant, site, x, err);
  return rc ? rc : day_add(c, tenant, site, x->local_day, x->n, err);
}

/* --- durations: per site-day, whole seconds, sorted, as varint deltas -------- */

int64_t rollup_duration_s(const struct rollup_visit *v) {
  int64_t d = (v->last_seen_ms - v->first_seen_ms) / 1000;
  return d < 0 ? 0 : d > UINT32_MAX ? UINT32_MAX : d;
}

static size_t put_varint(unsigned char *out, uint64_t d) {
  size_t len = 0;
  do {
    out[len++] = (unsigned char)((d & 0x7f) | (d > 0x7f ? 0x80 : 0));
    d >>= 7;
  } while (d);
  return len;
}

static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *out) {
  uint64_t d = 0;
  for (int shift = 0; *p < end && shift < 64; shift += 7) {
    unsigned char b = *(*p)++;
    d |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = d;
      return 1;
    }
  }
  return 0;
}

size_t rollup_ids_encode(const int64_t *ids, size_t n, unsigned char *out) {
  size_t len = 0;
  int64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    len += put_varint(out + len, (uint64_t)(ids[i] - prev));
    prev = ids[i];
  }
  return len;
}

int rollup_ids_next(const unsigned char **p, const unsigned char *end, int64_t *id) {
  uint64_t d;
  if (!get_varint(p, end, &d))
    return 0;
  *id += (int64_t)d;
  return 1;
}

size_t rollup_visitors_encode(const struct rollup_visitor *v, size_t n, unsigned char *out) {
  size_t len = 0;
  int64_t prev = 0;
  for (size_t i = 0; i < n; i++) {
    len += put_varint(out + len, (uint64_t)(v[i].id - prev));
    len += put_varint(out + len, (uint64_t)v[i].gap);
    prev = v[i].id;
  }
  return len;
}

int rollup_visitors_next(const unsigned char **p, const unsigned char *end, int64_t *id,
                         int64_t *gap) {
  uint64_t d, g;
  if (!get_varint(p, end, &d) || !get_varint(p, end, &g))
    return 0;
  *id += (int64_t)d;
  *gap = (int64_t)g;
  return 1;
}

size_t rollup_gaps_encode(const int64_t *gaps, size_t n, unsigned char *out) {
  size_t none = 0, first = 0;
  while (first < n && gaps[first] < 1)
    first++; /* gaps of 0 are not kept */
  for (size_t i = first; i < n; i++)
    none += gaps[i] == ROLLUP_GAP_NONE;
  size_t len = put_varint(out, none);
  int64_t prev = 0;
  for (size_t i = first; i < n - none;) {
    size_t k = i;
    while (k < n - none && gaps[k] == gaps[i])
      k++;
    len += put_varint(out + len, (uint64_t)(gaps[i] - prev));
    len += put_varint(out + len, k - i);
    prev = gaps[i];
    i = k;
  }
  return len;
}

int rollup_gaps_decode(const unsigned char *p, size_t len, rollup_gap_fn fn, void *ctx) {
  const unsigned char *end = p + len;
  uint64_t none, d, count;
  if (!len)
    return 0;
  if (!get_varint(&p, end, &none))
    return -1;
  if (none)
    fn(ctx, ROLLUP_GAP_NONE, (int64_t)none);
  int64_t gap = 0;
  while (p < end) {
    if (!get_varint(&p, end, &d) || !get_varint(&p, end, &count))
      return -1;
    gap += (int64_t)d;
    fn(ctx, gap, (int64_t)count);
  }
  return 0;
}

/* A day's two lists, changed in place: one duration `remove` taken out and
 * `add` put in (either may be -1: nothing), and customer `visitor` added to
 * the visitors with `gap` if missing (0: nothing). */
static int day_lists_update(struct db_conn *c, int64_t site, int64_t day, int64_t remove,
                            int64_t add, int64_t visitor, int64_t gap, struct ff_error *err) {
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
  /* Durations: at most one per byte, plus room for the new one. */
  int64_t *secs = malloc((len + 1) * sizeof *secs);
  unsigned char *out = malloc((len + 1) * 10);
  /* Visitors: at most one per two bytes, plus room for the new one. */
  struct rollup_visitor *ids = malloc((vlen / 2 + 1) * sizeof *ids);
  unsigned char *vout = malloc(vlen + 21);
  if (!secs || !out || !ids || !vout) {
    free(secs), free(out), free(ids), free(vout);
    db_rows_free(rows);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  size_t k = 0;
  int removed = remove < 0, added = add < 0;
  int64_t v = 0;
  for (const unsigned char *p = old, *end = old + len; old && rollup_ids_next(&p, end, &v);) {
    if (!removed && v == remove) {
      removed = 1;
      continue;
    }
    if (!added && add <= v)
      secs[k++] = add, added = 1;
    secs[k++] = v;
  }
  if (!added)
    secs[k++] = add;
  size_t dnew = rollup_ids_encode(secs, k, out);
  size_t nids = 0;
  int64_t id = 0, g = 0;
  int have = !visitor;
  for (const unsigned char *p = vold, *end = vold + vlen; rollup_visitors_next(&p, end, &id, &g);) {
    if (!have && visitor <= id) {
      have = 1;
      if (visitor < id)
        ids[nids++] = (struct rollup_visitor){visitor, gap};
    }
    ids[nids++] = (struct rollup_visitor){id, g};
  }
  if (!have)
    ids[nids++] = (struct rollup_visitor){visitor, gap};
  size_t vnew = rollup_visitors_encode(ids, nids, vout);
  db_rows_free(rows);
  rc = blobs_put(c, DAY_SETS, site, day, out, dnew, vout, vnew, err);
  free(secs), free(out), free(ids), free(vout);
  return rc;
}

/* --- the chain: each customer's visits in (hour key, first sighting, id) order -------- */

/* The visit after the position (hour key, first seen, id) in the
 * customer's chain, at any site (site 0) or at one site: its site and first
 * sighting. *found is 0 without one. */
static int chain_next(struct db_conn *c, int64_t customer, int64_t key, int64_t first_seen,
                      int64_t id, int64_t site, int64_t *out_site, int64_t *out_first, int *found,
                      struct ff_error *err) {
  static const char *const sql[2] = {
      "SELECT site_id, first_seen_at FROM visits WHERE customer_id = $1 AND "
      "(hour_key, first_seen_at, id) > ($2, $3, $4) AND ($5 = 0 OR site_id = $5) "
      "ORDER BY hour_key, first_seen_at, id LIMIT 1",
      "SELECT site_id, first_seen_at FROM visits WHERE customer_id = $1 AND "
      "(hour_key, first_seen_at, id) > ($2, $3, $4) AND site_id = $5 "
      "ORDER BY hour_key, first_seen_at, id LIMIT 1"};
  struct db_rows *rows = NULL;
  int rc =
      db_query(c, sql[site != 0],
               DB_ARGS(db_int(customer), db_int(key), db_int(first_seen), db_int(id), db_int(site)),
               &rows, err);
  *found = !rc && db_rows_count(rows) == 1;
  if (*found) {
    *out_site = db_rows_int(rows, 0, 0);
    *out_first = db_rows_int(rows, 0, 1);
  }
  db_rows_free(rows);
  return rc;
}

static int days_add(struct rollup_days *d, int64_t site, int64_t day);

/* Collects the site-days of the visits that follow a position in the
 * customer's chain, at any site and at the visit's own site. */
static int touch_next(struct rollup_days *d, struct server *s, struct db_conn *c, int64_t customer,
                      int64_t key, int64_t first_seen, int64_t id, int64_t site,
                      struct ff_error *err) {
  int rc = FF_OK;
  for (int own = 0; !rc && own < 2 && customer; own++) {
    int64_t at_site, at;
    int found = 0;
    rc = chain_next(c, customer, key, first_seen, id, own ? site : 0, &at_site, &at, &found, err);
    if (!rc && found) {
      const struct tz *tz = rollup_site_zone(s, c, at_site, err);
      if (!tz)
        rc = FF_EINTERNAL;
      else if (days_add(d, at_site, rollup_local_day(tz, at)))
        rc = ff_fail(err, FF_ENOMEM, "out of memory");
    }
  }
  return rc;
}

static int set_hour_key(struct db_conn *c, int64_t visit, int64_t key, struct ff_error *err) {
  return db_exec(c, "UPDATE visits SET hour_key = $2 WHERE id = $1",
                 DB_ARGS(db_int(visit), db_int(key)), NULL, err);
}

/* Adds one visit's gaps (to the tenant and to the site) to its day's
 * histograms. */
static int gaps_add(struct db_conn *c, int64_t site, int64_t day, int64_t gap, int64_t site_gap,
                    struct ff_error *err) {
  struct db_rows *rows = NULL;
  int rc = db_query(
      c, "SELECT gaps, site_gaps FROM report_day_gaps WHERE site_id = $1 AND local_day = $2",
      DB_ARGS(db_int(site), db_int(day)), &rows, err);
  unsigned char *blob[2] = {NULL, NULL};
  size_t blen[2] = {0, 0};
  for (int k = 0; !rc && k < 2; k++) {
    size_t len = 0;
    const unsigned char *old = db_rows_blob(rows, 0, k, &len);
    struct gap_list l = {0};
    if (old && rollup_gaps_decode(old, len, gap_list_add, &l))
      l.failed = 1;
    gap_list_add(&l, k ? site_gap : gap, 1);
    if (!l.failed && l.n > 1)
      qsort(l.gaps, l.n, sizeof *l.gaps, id_order);
    blob[k] = l.failed ? NULL : malloc(l.n * 20 + 10);
    if (!blob[k])
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
    else
      blen[k] = rollup_gaps_encode(l.gaps, l.n, blob[k]);
    free(l.gaps);
  }
  db_rows_free(rows);
  if (!rc)
    rc = blobs_put(c, DAY_GAPS, site, day, blob[0], blen[0], blob[1], blen[1], err);
  free(blob[0]), free(blob[1]);
  return rc;
}

int rollup_visit_apply(struct server *s, struct db_conn *c, const struct tz *tz,
                       struct rollup_visit *v, struct ff_error *err) {
  struct rollup_cell x;
  memset(&x, 0, sizeof x);
  rollup_locate(tz, v->first_seen_ms, &x);
  v->hour_key = x.local_day * 24 + x.local_hour;
  v->prev_key = v->prev_site_key = -1;
  int rc = set_hour_key(c, v->id, v->hour_key, err);
  /* Its previous visits (to the tenant, to the site) and whether any visit
   * of the customer comes after it, in one statement. */
  int later = 0;
  struct db_rows *rows = NULL;
  if (!rc && v->customer_id)
    rc = db_query(c,
                  "SELECT (SELECT hour_key FROM visits WHERE customer_id = $1 AND "
                  "(hour_key, first_seen_at, id) < ($2, $3, $4) "
                  "ORDER BY hour_key DESC, first_seen_at DESC, id DESC LIMIT 1), "
                  "(SELECT hour_key FROM visits WHERE customer_id = $1 AND site_id = $5 AND "
                  "(hour_key, first_seen_at, id) < ($2, $3, $4) "
                  "ORDER BY hour_key DESC, first_seen_at DESC, id DESC LIMIT 1), "
                  "(SELECT COUNT(*) FROM (SELECT 1 FROM visits WHERE customer_id = $1 AND "
                  "(hour_key, first_seen_at, id) > ($2, $3, $4) LIMIT 1) x)",
                  DB_ARGS(db_int(v->customer_id), db_int(v->hour_key), db_int(v->first_seen_ms),
                          db_int(v->id), db_int(v->site_id)),
                  &rows, err);
  if (!rc && v->customer_id && db_rows_count(rows) == 1) {
    v->prev_key = db_rows_is_null(rows, 0, 0) ? -1 : db_rows_int(rows, 0, 0);
    v->prev_site_key = db_rows_is_null(rows, 0, 1) ? -1 : db_rows_int(rows, 0, 1);
    later = db_rows_int(rows, 0, 2) > 0;
  }
  db_rows_free(rows);
  if (!rc && later) {
    /* A late visit: the ones after it now come after it. */
    struct rollup_days d = {0};
    if (days_add(&d, v->site_id, x.local_day))
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
    if (!rc)
      rc = touch_next(&d, s, c, v->customer_id, v->hour_key, v->first_seen_ms, v->id, v->site_id,
                      err);
    if (!rc)
      rc = rollup_rebuild(&d, s, c, err);
    rollup_days_free(&d);
    return rc;
  }
  v->chained = 1;
  rollup_count_visit(&x, v, 1);
  if (!rc)
    rc = cell_add(c, v->tenant_id, v->site_id, &x, err);
  int64_t gap = rollup_gap_days(v->hour_key, v->prev_key);
  if (!rc)
    rc = day_lists_update(c, v->site_id, x.local_day, -1, rollup_duration_s(v), v->customer_id,
                          gap == ROLLUP_GAP_NONE ? 0 : gap, err);
  if (!rc && v->customer_id)
    rc = gaps_add(c, v->site_id, x.local_day, gap, rollup_gap_days(v->hour_key, v->prev_site_key),
                  err);
  return rc;
}

/* Whether a visit whose first sighting moved earlier keeps its hour row and
 * its place in its customer's chain (no other visit of the customer between
 * its new and its old position): then no gap changes. 1, 0, or < 0. */
static int chain_unmoved(struct db_conn *c, const struct tz *tz, const struct rollup_visit *was,
                         const struct rollup_visit *now, struct ff_error *err) {
  struct rollup_cell a, b;
  rollup_locate(tz, was->first_seen_ms, &a);
  rollup_locate(tz, now->first_seen_ms, &b);
  if (a.hour_start != b.hour_start || was->hour_key != a.local_day * 24 + a.local_hour ||
      !was->customer_id || was->customer_id != now->customer_id)
    return 0;
  struct db_rows *rows = NULL;
  int rc = db_query(c,
                    "SELECT 1 FROM visits WHERE customer_id = $1 AND id <> $2 AND "
                    "(hour_key, first_seen_at, id) > ($3, $4, $2) AND "
                    "(hour_key, first_seen_at, id) < ($3, $5, $2) LIMIT 1",
                    DB_ARGS(db_int(now->customer_id), db_int(now->id), db_int(was->hour_key),
                            db_int(now->first_seen_ms), db_int(was->first_seen_ms)),
                    &rows, err);
  int unmoved = !rc && db_rows_count(rows) == 0;
  db_rows_free(rows);
  return rc ? rc : unmoved;
}

int rollup_visit_change(struct server *s, struct db_conn *c, const struct tz *tz,
                        const struct rollup_visit *was, const struct rollup_visit *now,
                        struct ff_error *err) {
  int unmoved = was->first_seen_ms == now->first_seen_ms ? 1 : chain_unmoved(c, tz, was, now, err);
  if (unmoved < 0)
    return unmoved;
  if (!unmoved) {
    /* The first sighting moved (earlier): the chain may be reordered around
     * it. Its day and the days of the visits after it, before and after the
     * move, are rebuilt from raw rows. */
    struct rollup_days d = {0};
    int64_t key = rollup_hour_key(tz, now->first_seen_ms);
    int rc = days_add(&d, now->site_id, rollup_local_day(tz, now->first_seen_ms))
                 ? ff_fail(err, FF_ENOMEM, "out of memory")
                 : FF_OK;
    if (!rc)
      rc = touch_next(&d, s, c, was->customer_id, was->hour_key, was->first_seen_ms, was->id,
                      was->site_id, err);
    if (!rc)
      rc = set_hour_key(c, now->id, key, err);
    if (!rc)
      rc = touch_next(&d, s, c, now->customer_id, key, now->first_seen_ms, now->id, now->site_id,
                      err);
    if (!rc)
      rc = rollup_rebuild(&d, s, c, err);
    rollup_days_free(&d);
    return rc;
  }
  /* The usual case: one hour row changes, the chain does not (nor the
   * visit's hour key). */
  struct rollup_cell a;
  memset(&a, 0, sizeof a);
  rollup_locate(tz, was->first_seen_ms, &a);
  rollup_count_visit(&a, was, -1);
  rollup_count_visit(&a, now, 1);
  int changed = 0;
  for (int i = 0; i < RC_COUNT; i++)
    changed |= a.n[i] != 0;
  int rc = changed ? cell_add(c, now->tenant_id, now->site_id, &a, err) : FF_OK;
  return rc ? rc
            : day_lists_update(c, now->site_id, a.local_day, rollup_duration_s(was),
                               rollup_duration_s(now), 0, 0, err);
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
  int rc = touch(d, s, c,
                 "SELECT v.site_id, v.first_seen_at, s.timezone FROM visits v JOIN sites s ON "
                 "s.id = v.site_id WHERE v.id = $1",
                 visit_id, err);
  /* The visits after it in its customer's chain: their previous visit changes. */
  struct rollup_visit v;
  if (!rc && !rollup_visit_load(c, visit_id, &v, err) && v.customer_id && v.hour_key >= 0)
    rc = touch_next(d, s, c, v.customer_id, v.hour_key, v.first_seen_ms, v.id, v.site_id, err);
  return rc;
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
  unsigned char *durations; /* rollup_ids_encode of the sorted durations */
  size_t durations_len;
  unsigned char *visitors; /* rollup_visitors_encode of the distinct customers */
  size_t visitors_len;
  unsigned char *gaps[2]; /* rollup_gaps_encode: to the tenant, to the site */
  size_t gaps_len[2];
  int64_t keys_wrong; /* visits whose stored hour key is not their local hour's */
};

static int visitor_order(const void *a, const void *b) {
  const struct rollup_visitor *x = a, *y = b;
  if (x->id != y->id)
    return x->id < y->id ? -1 : 1;
  return x->gap > y->gap ? -1 : x->gap < y->gap; /* the largest gap first */
}

static void truth_free(struct day_truth *t) {
  free(t->durations), free(t->visitors), free(t->gaps[0]), free(t->gaps[1]);
  t->durations = t->visitors = t->gaps[0] = t->gaps[1] = NULL;
}

/* A site-day's visits with the hour keys of their previous visits (to the
 * tenant, to the site), each found in one probe of visits_customer_order. */
static const char day_visits_sql[] =
    "SELECT v.first_seen_at, v.last_seen_at, v.customer_id, v.age, v.gender, v.id, v.hour_key, "
    "(SELECT w.hour_key FROM visits w WHERE w.customer_id = v.customer_id AND "
    "(w.hour_key, w.first_seen_at, w.id) < (v.hour_key, v.first_seen_at, v.id) "
    "ORDER BY w.hour_key DESC, w.first_seen_at DESC, w.id DESC LIMIT 1), "
    "(SELECT w.hour_key FROM visits w WHERE w.customer_id = v.customer_id AND "
    "w.site_id = v.site_id AND (w.hour_key, w.first_seen_at, w.id) < "
    "(v.hour_key, v.first_seen_at, v.id) "
    "ORDER BY w.hour_key DESC, w.first_seen_at DESC, w.id DESC LIMIT 1) "
    "FROM visits v WHERE v.site_id = $1 AND v.first_seen_at >= $2 AND v.first_seen_at < $3";

static int day_truth(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                     int64_t day, struct day_truth *t, struct ff_error *err) {
  int64_t from = rollup_day_start_ms(tz, day), to = rollup_day_start_ms(tz, day + 1);
  memset(t, 0, sizeof *t);
  struct db_rows *rows = NULL;
  int rc = db_query(c, day_visits_sql, DB_ARGS(db_int(site), db_int(from), db_int(to)), &rows, err);
  int n = rc ? 0 : db_rows_count(rows);
  struct rollup_visitor *ids = NULL;
  int64_t *gaps[2] = {NULL, NULL}, *secs = NULL;
  if (n &&
      (!(secs = malloc((size_t)n * sizeof *secs)) || !(t->durations = malloc((size_t)n * 10)) ||
       !(ids = malloc((size_t)n * sizeof *ids)) ||
       !(gaps[0] = malloc((size_t)n * sizeof *gaps[0])) ||
       !(gaps[1] = malloc((size_t)n * sizeof *gaps[1])) ||
       !(t->visitors = malloc((size_t)n * 20)) || !(t->gaps[0] = malloc((size_t)n * 20 + 10)) ||
       !(t->gaps[1] = malloc((size_t)n * 20 + 10))))
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
  size_t nids = 0;
  for (int i = 0; !rc && i < n; i++) {
    struct rollup_visit v;
    visit_from_row(rows, i, tenant, site, &v);
    v.id = db_rows_int(rows, i, 5);
    v.hour_key = rollup_hour_key(tz, v.first_seen_ms);
    t->keys_wrong += db_rows_is_null(rows, i, 6) || db_rows_int(rows, i, 6) != v.hour_key;
    v.prev_key = db_rows_is_null(rows, i, 7) ? -1 : db_rows_int(rows, i, 7);
    v.prev_site_key = db_rows_is_null(rows, i, 8) ? -1 : db_rows_int(rows, i, 8);
    v.chained = 1;
    struct rollup_cell *x = cell_for(t->cells, &t->count, tz, v.first_seen_ms);
    if (!x)
      rc = ff_fail(err, FF_EINTERNAL, "more than %d local hours in a day", CELLS_PER_DAY_MAX);
    else
      rollup_count_visit(x, &v, 1);
    secs[i] = rollup_duration_s(&v);
    if (v.customer_id) {
      int64_t gap = rollup_gap_days(v.hour_key, v.prev_key);
      gaps[0][nids] = gap;
      gaps[1][nids] = rollup_gap_days(v.hour_key, v.prev_site_key);
      ids[nids].id = v.customer_id;
      ids[nids++].gap = gap == ROLLUP_GAP_NONE ? 0 : gap;
    }
  }
  if (!rc && n) {
    qsort(secs, (size_t)n, sizeof *secs, id_order);
    t->durations_len = rollup_ids_encode(secs, (size_t)n, t->durations);
  }
  free(secs);
  if (!rc && nids) {
    /* The distinct customers, each with the gap of their first visit of the
     * day (the largest: later ones come back the same day). */
    qsort(ids, nids, sizeof *ids, visitor_order);
    size_t u = 0;
    for (size_t i = 0; i < nids; i++)
      if (!u || ids[u - 1].id != ids[i].id)
        ids[u++] = ids[i];
    t->visitors_len = rollup_visitors_encode(ids, u, t->visitors);
    for (int k = 0; k < 2; k++) {
      qsort(gaps[k], nids, sizeof *gaps[k], id_order);
      t->gaps_len[k] = rollup_gaps_encode(gaps[k], nids, t->gaps[k]);
    }
  }
  free(ids), free(gaps[0]), free(gaps[1]);
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
  if (rc)
    truth_free(t);
  return rc;
}

/* Sets the stored hour keys of a site-day's visits right; *fixed counts the
 * visits changed. One statement when the zone's offset is the same all day
 * (the key is then (first_seen_at + offset) / 1 hour), else one per quarter
 * hour. */
static int day_keys_fix(struct db_conn *c, const struct tz *tz, int64_t site, int64_t day,
                        int64_t *fixed, struct ff_error *err) {
  int64_t from = rollup_day_start_ms(tz, day), to = rollup_day_start_ms(tz, day + 1);
  int64_t off = zone_offset_ms(tz, from), changes = 0;
  int rc = FF_OK;
  if (off == zone_offset_ms(tz, to - 1) && from + off >= 0) {
    rc = db_exec(c,
                 "UPDATE visits SET hour_key = (first_seen_at + $4) / 3600000 WHERE site_id = $1 "
                 "AND first_seen_at >= $2 AND first_seen_at < $3 AND (hour_key IS NULL OR "
                 "hour_key <> (first_seen_at + $4) / 3600000)",
                 DB_ARGS(db_int(site), db_int(from), db_int(to), db_int(off)), &changes, err);
    *fixed += changes;
    return rc;
  }
  for (int64_t at = from; !rc && at < to; at += 900000) {
    int64_t end = at + 900000 < to ? at + 900000 : to;
    changes = 0;
    rc = db_exec(c,
                 "UPDATE visits SET hour_key = $4 WHERE site_id = $1 AND first_seen_at >= $2 AND "
                 "first_seen_at < $3 AND (hour_key IS NULL OR hour_key <> $4)",
                 DB_ARGS(db_int(site), db_int(at), db_int(end), db_int(rollup_hour_key(tz, at))),
                 &changes, err);
    *fixed += changes;
  }
  return rc;
}

/* Replaces a site-day's rollups with what the raw rows say. */
static int write_day(struct db_conn *c, int64_t tenant, int64_t site, int64_t day,
                     const struct day_truth *t, struct ff_error *err) {
  int rc = db_exec(c, "DELETE FROM report_hours WHERE site_id = $1 AND local_day = $2",
                   DB_ARGS(db_int(site), db_int(day)), NULL, err);
  if (!rc)
    rc = db_exec(c, "DELETE FROM report_days WHERE site_id = $1 AND local_day = $2",
                 DB_ARGS(db_int(site), db_int(day)), NULL, err);
  if (!rc)
    rc = hours_insert(c, tenant, site, t->cells, t->count, err);
  if (!rc && t->count)
    rc = day_add(c, tenant, site, day, t->total, err);
  if (!rc)
    rc = blobs_put(c, DAY_SETS, site, day, t->durations, t->durations_len, t->visitors,
                   t->visitors_len, err);
  if (!rc)
    rc = blobs_put(c, DAY_GAPS, site, day, t->gaps[0], t->gaps_len[0], t->gaps[1], t->gaps_len[1],
                   err);
  return rc;
}

static int rebuild_day(struct db_conn *c, const struct tz *tz, int64_t tenant, int64_t site,
                       int64_t day, struct ff_error *err) {
  struct day_truth t;
  int64_t fixed = 0;
  int rc = day_keys_fix(c, tz, site, day, &fixed, err);
  if (!rc)
    rc = day_truth(c, tz, tenant, site, day, &t, err);
  if (rc)
    return rc;
  rc = write_day(c, tenant, site, day, &t, err);
  truth_free(&t);
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
    rc = db_exec(c, "DELETE FROM report_day_gaps WHERE site_id = $1", DB_ARGS(db_int(site_id)),
                 NULL, err);

  if (!rc)
    rc = db_query(c,
                  "SELECT MIN(t), MAX(t) FROM (SELECT first_seen_at AS t FROM visits WHERE "
                  "site_id = $1 UNION ALL SELECT seen_at FROM staff_passes WHERE site_id = $1) x",
                  DB_ARGS(db_int(site_id)), &rows, err);
  int64_t first = 0, last = -1, fixed = 0;
  if (!rc && !db_rows_is_null(rows, 0, 0)) {
    first = rollup_local_day(tz, db_rows_int(rows, 0, 0));
    last = rollup_local_day(tz, db_rows_int(rows, 0, 1));
  }
  db_rows_free(rows);
  /* The visits' hour keys in the new zone first: they order the chains. */
  for (int64_t day = first; !rc && day <= last; day++)
    rc = day_keys_fix(c, tz, site_id, day, &fixed, err);
  for (int64_t day = first; !rc && day <= last; day++)
    rc = rebuild_day(c, tz, tenant, site_id, day, err);
  /* The site's customers' visits elsewhere may now follow other visits. */
  struct rollup_days d = {0};
  if (!rc)
    rc = touch(&d, s, c,
               "SELECT v.site_id, v.first_seen_at, s.timezone FROM visits v JOIN sites s ON "
               "s.id = v.site_id WHERE v.site_id <> $1 AND v.customer_id IN (SELECT customer_id "
               "FROM visits WHERE site_id = $1)",
               site_id, err);
  if (!rc)
    rc = rollup_rebuild(&d, s, c, err);
  rollup_days_free(&d);
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
                     int64_t day, int repair, struct rollup_check *out, struct ff_error *err) {
  struct day_truth t;
  int rc = day_truth(c, tz, tenant, site, day, &t, err);
  if (rc)
    return rc;
  char sql[1024];
  select_counters(sql, sizeof sql, "hour_start, local_hour, weekday, tenant_id",
                  "FROM report_hours WHERE site_id = $1 AND local_day = $2 ORDER BY hour_start");
  struct db_rows *rows = NULL;
  if ((rc = db_query(c, sql, DB_ARGS(db_int(site), db_int(day)), &rows, err))) {
    truth_free(&t);
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
  db_rows_free(rows);
  rows = NULL;
  /* The gap histograms, and the visits' hour keys they were counted with. */
  if (!rc)
    rc = db_query(
        c, "SELECT gaps, site_gaps FROM report_day_gaps WHERE site_id = $1 AND local_day = $2",
        DB_ARGS(db_int(site), db_int(day)), &rows, err);
  for (int g = 0; !rc && g < 2; g++) {
    size_t len = 0;
    const void *blob = db_rows_blob(rows, 0, g, &len);
    visitors |= !(len == t.gaps_len[g] && (!len || !memcmp(blob, t.gaps[g], len)));
  }
  db_rows_free(rows);
  int differs = differing || visitors || t.keys_wrong;
  /* Repairing: the truth just computed is written (wrong hour keys are set
   * right first, and the truth computed again with them). */
  if (!rc && differs && repair)
    rc = t.keys_wrong ? rebuild_day(c, tz, tenant, site, day, err)
                      : write_day(c, tenant, site, day, &t, err);
  truth_free(&t);
  if (rc)
    return rc;
  out->days++;
  out->hours_differing += differing;
  out->visitors_differing += visitors;
  out->keys_differing += t.keys_wrong;
  out->days_differing += differs;
  out->days_repaired += differs && repair;
  return differs;
}

/* Checks a site's days (repairing them with repair 1); with repair 2 only
 * sets its visits' hour keys right. */
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
      if (repair == 2) {
        rc = day_keys_fix(c, tz, site, day, &out->keys_differing, err);
        continue;
      }
      int differs = check_day(c, tz, tenant, site, day, repair, out, err);
      if (differs < 0)
        rc = differs;
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
  /* Repairing: every site's hour keys first, as a day's gaps depend on the
   * keys of its customers' visits at the other sites. */
  for (int i = 0; !rc && repair && i < db_rows_count(sites); i++)
    rc = check_site(s, db_rows_int(sites, i, 0), from_ms, to_ms, 2, out, err);
  for (int i = 0; !rc && i < db_rows_count(sites); i++) {
    out->sites++;
    rc = check_site(s, db_rows_int(sites, i, 0), from_ms, to_ms, repair, out, err);
  }
  db_rows_free(sites);
  return rc;
}

int reports_backfill(struct server *s, struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 30000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection for the reports' backfill");
  struct db_rows *rows = NULL;
  int rc = db_query(c, "SELECT 1 FROM pending_upgrades WHERE name = 'reports_backfill'", NULL, 0,
                    &rows, err);
  int pending = !rc && db_rows_count(rows) == 1;
  db_rows_free(rows);
  rows = NULL;
  if (!rc && pending)
    rc = db_query(c, "SELECT MIN(first_seen_at), MAX(first_seen_at) FROM visits", NULL, 0, &rows,
                  err);
  int64_t from = 0, to = 0;
  if (!rc && pending && !db_rows_is_null(rows, 0, 0)) {
    from = db_rows_int(rows, 0, 0) - DAY_MS;
    to = db_rows_int(rows, 0, 1) + 2 * DAY_MS;
  }
  db_rows_free(rows);
  db_release(c);
  if (rc || !pending)
    return rc;
  /* Visits from before the reports' gap data (migration 0009): every
   * tenant's whole history is rolled up again, once, a window at a time. */
  log_msg(LOG_WARN, "reports.backfill",
          "rolling up every visit again for the reports (once, after an upgrade)");
  struct rollup_check total = {0};
  for (int64_t at = from; !rc && at < to; at += (int64_t)CHECK_MAX_DAYS * DAY_MS) {
    struct rollup_check out;
    int64_t end =
        to - at > (int64_t)CHECK_MAX_DAYS * DAY_MS ? at + (int64_t)CHECK_MAX_DAYS * DAY_MS : to;
    rc = reports_rollups_check(s, 0, at, end, 1, &out, err);
    total.days_repaired += out.days_repaired, total.keys_differing += out.keys_differing;
  }
  if (!rc && !(c = db_acquire(s->db, 30000)))
    rc = ff_fail(err, FF_EBUSY, "no database connection for the reports' backfill");
  if (!rc) {
    rc = db_exec(c, "DELETE FROM pending_upgrades WHERE name = 'reports_backfill'", NULL, 0, NULL,
                 err);
    db_release(c);
  }
  if (!rc)
    log_msg(LOG_INFO, "reports.backfilled", "%lld site-days rebuilt, %lld hour keys set",
            (long long)total.days_repaired, (long long)total.keys_differing);
  return rc;
}
