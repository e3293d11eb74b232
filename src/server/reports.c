/* reports.c — the reports (reports.h): scope and range parsing, the three
 * ways figures are read (additive counters from report_days or report_hours,
 * unique visitors as unions of the days' visitor sets in a bit set, medians
 * from the days' sorted durations; partial days from raw visits), and the
 * replies as JSON or as CSV streamed row by row. Definitions: docs/REPORTS.md. */
#include "reports.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "recognizer.h"
#include "rollups.h"
#include "server.h"
#include "tz.h"

#define DAY_MS 86400000LL

enum granularity { G_HOUR, G_DAY, G_WEEK, G_MONTH };

struct report_site {
  int64_t id;
  char name[160];
  char zone[72];
  const struct tz *tz;
  int64_t from, to; /* this site's range, UTC ms */
  struct rollup_pieces pieces;
};

struct report {
  struct request *rq;
  struct db_conn *c;
  int64_t tenant;
  struct report_site *sites;
  int nsites;
  int local_dates;          /* the range was given as local dates */
  int64_t day_from, day_to; /* local dates: first and last day (inclusive) */
  int64_t from_ms, to_ms;   /* RFC 3339: [from, to) */
  struct report_site *all;  /* every site of the tenant (the look-back) */
  int nall;
  int64_t customer_lo, customer_hi; /* the tenant's customer ids */
  int lookback_days;
  int csv;
  struct ff_error err;
};

/* --- scope and range ------------------------------------------------------------ */

static int parse_date(const char *s, int64_t *day) {
  int y, m, d;
  char tail;
  if (!s || strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
      s[7] != '-' || m < 1 || m > 12 || d < 1 || d > 31)
    return -1;
  *day = tz_days_from_civil(y, m, d);
  int yy, mm, dd;
  tz_civil_from_days(*day, &yy, &mm, &dd);
  return yy == y && mm == m && dd == d ? 0 : -1;
}

static void format_day(int64_t day, char out[11]) {
  int y, m, d;
  tz_civil_from_days(day, &y, &m, &d);
  unsigned yy = (unsigned)y % 10000u, mm = (unsigned)m % 13u, dd = (unsigned)d % 32u;
  snprintf(out, 11, "%04u-%02u-%02u", yy, mm, dd);
}

/* Computes every site's range and pieces from the report's range. */
static void place_sites(struct report *r) {
  for (int i = 0; i < r->nsites; i++) {
    struct report_site *s = &r->sites[i];
    if (r->local_dates) {
      s->from = rollup_day_start_ms(s->tz, r->day_from);
      s->to = rollup_day_start_ms(s->tz, r->day_to + 1);
    } else {
      s->from = r->from_ms;
      s->to = r->to_ms;
    }
    rollup_split(s->tz, s->from, s->to, &s->pieces);
  }
}

/* The range parameters; 0, or -1 after replying 400. */
static int parse_range(struct report *r, int max_days) {
  struct request *rq = r->rq;
  const char *from = http_query(rq, "from"), *to = http_query(rq, "to");
  if (!from || !to) {
    http_error(rq, 400, "missing_field",
               "from and to are required: local dates (YYYY-MM-DD, both inclusive) or RFC 3339 "
               "instants ([from, to))");
    return -1;
  }
  int64_t a, b;
  if (!parse_date(from, &a) && !parse_date(to, &b)) {
    if (b < a) {
      http_error(rq, 400, "invalid_range", "to (%s) is before from (%s)", to, from);
      return -1;
    }
    if (b - a + 1 > max_days) {
      http_error(rq, 400, "range_too_large", "this report covers at most %d days", max_days);
      return -1;
    }
    r->local_dates = 1;
    r->day_from = a;
    r->day_to = b;
    return 0;
  }
  if (tz_parse_rfc3339(from, &a) || tz_parse_rfc3339(to, &b)) {
    http_error(rq, 400, "invalid_range",
               "from and to are both local dates (YYYY-MM-DD) or both RFC 3339 instants "
               "(2026-03-01T00:00:00Z, 2026-03-01T00:00:00-05:00)");
    return -1;
  }
  if (b <= a) {
    http_error(rq, 400, "invalid_range", "to must be after from");
    return -1;
  }
  if (b - a > (int64_t)max_days * DAY_MS) {
    http_error(rq, 400, "range_too_large", "this report covers at most %d days", max_days);
    return -1;
  }
  r->from_ms = a;
  r->to_ms = b;
  return 0;
}

/* Loads the sites in scope: the caller's own site, or the tenant's sites,
 * filtered by ?site_id=1,2,3. 0, or -1 after replying. */
static int load_sites(struct report *r) {
  struct request *rq = r->rq;
  int64_t wanted[REPORTS_MAX_SITES];
  int nwanted = 0;
  const char *list = http_query(rq, "site_id");
  if (list) {
    const char *p = list;
    while (*p) {
      char *end;
      long long id = strtoll(p, &end, 10);
      if (end == p || id <= 0 || (*end && *end != ',') || nwanted == REPORTS_MAX_SITES) {
        http_error(rq, 400, "invalid_field",
                   "site_id is a comma-separated list of at most %d site ids", REPORTS_MAX_SITES);
        return -1;
      }
      wanted[nwanted++] = id;
      p = *end ? end + 1 : end;
    }
    if (!nwanted) {
      http_error(rq, 400, "invalid_field", "site_id is empty");
      return -1;
    }
  }
  int64_t bound = access_site(rq);
  struct db_rows *rows = NULL;
  int rc = db_query(r->c,
                    "SELECT id, name, timezone FROM sites WHERE tenant_id = $1 AND "
                    "($2 = 0 OR id = $2) ORDER BY id",
                    DB_ARGS(db_int(r->tenant), db_int(bound)), &rows, &r->err);
  if (rc) {
    http_fail(rq, rc, &r->err);
    return -1;
  }
  int n = db_rows_count(rows);
  /* Every id asked for must be visible, else 404 as for any other row. */
  for (int k = 0; k < nwanted; k++) {
    int found = 0;
    for (int i = 0; i < n && !found; i++)
      found = db_rows_int(rows, i, 0) == wanted[k];
    if (!found) {
      db_rows_free(rows);
      http_error(rq, 404, "not_found", "no such site: %lld", (long long)wanted[k]);
      return -1;
    }
  }
  r->sites = calloc((size_t)(n ? n : 1), sizeof *r->sites);
  if (!r->sites) {
    db_rows_free(rows);
    http_error(rq, 503, "unavailable", "out of memory");
    return -1;
  }
  for (int i = 0; i < n && r->nsites < REPORTS_MAX_SITES; i++) {
    int64_t id = db_rows_int(rows, i, 0);
    int keep = !nwanted;
    for (int k = 0; k < nwanted && !keep; k++)
      keep = wanted[k] == id;
    if (!keep)
      continue;
    struct report_site *s = &r->sites[r->nsites];
    s->id = id;
    snprintf(s->name, sizeof s->name, "%s", db_rows_text(rows, i, 1));
    snprintf(s->zone, sizeof s->zone, "%s", db_rows_text(rows, i, 2));
    s->tz = recognizer_zone(rq->server, s->zone, &r->err);
    if (!s->tz) {
      db_rows_free(rows);
      http_fail(rq, FF_EINTERNAL, &r->err);
      return -1;
    }
    r->nsites++;
  }
  db_rows_free(rows);
  rows = NULL;
  /* The look-back counts visits to any site of the tenant. */
  rc = db_query(r->c, "SELECT id, timezone FROM sites WHERE tenant_id = $1 ORDER BY id",
                DB_ARGS(db_int(r->tenant)), &rows, &r->err);
  n = rc ? 0 : db_rows_count(rows);
  r->all = calloc((size_t)(n ? n : 1), sizeof *r->all);
  for (int i = 0; !rc && r->all && i < n; i++) {
    r->all[i].id = db_rows_int(rows, i, 0);
    snprintf(r->all[i].zone, sizeof r->all[i].zone, "%s", db_rows_text(rows, i, 1));
    if (!(r->all[i].tz = recognizer_zone(rq->server, r->all[i].zone, &r->err)))
      rc = FF_EINTERNAL;
    r->nall++;
  }
  db_rows_free(rows);
  rows = NULL;
  if (!rc && !r->all)
    rc = ff_fail(&r->err, FF_ENOMEM, "out of memory");
  if (!rc)
    /* Two subqueries: SQLite answers a lone MIN or MAX from the index, but
     * scans every customer for the two together. */
    rc = db_query(r->c,
                  "SELECT (SELECT MIN(id) FROM customers WHERE tenant_id = $1), "
                  "(SELECT MAX(id) FROM customers WHERE tenant_id = $1)",
                  DB_ARGS(db_int(r->tenant)), &rows, &r->err);
  if (!rc) {
    r->customer_lo = db_rows_is_null(rows, 0, 0) ? 1 : db_rows_int(rows, 0, 0);
    r->customer_hi = db_rows_is_null(rows, 0, 1) ? 0 : db_rows_int(rows, 0, 1);
  }
  db_rows_free(rows);
  if (rc) {
    http_fail(rq, rc, &r->err);
    return -1;
  }
  return 0;
}

static void report_end(struct report *r) {
  if (r->c) {
    db_rollback(r->c);
    db_release(r->c);
  }
  free(r->sites);
  free(r->all);
}

/* Parses everything common to the reports and opens a read snapshot.
 * 0, or -1 after replying (and cleaning up). */
static int report_begin(struct request *rq, struct report *r, int max_days) {
  memset(r, 0, sizeof *r);
  r->rq = rq;
  r->tenant = access_tenant(rq);
  const char *format = http_query(rq, "format");
  const char *accept = http_header_in(rq, "Accept");
  if (format && strcmp(format, "csv") && strcmp(format, "json")) {
    http_error(rq, 400, "invalid_field", "format is json or csv");
    return -1;
  }
  r->csv = format ? !strcmp(format, "csv") : accept && strstr(accept, "text/csv") != NULL;
  if (!r->tenant) {
    http_error(rq, 400, "missing_field", "switch into a tenant first");
    return -1;
  }
  if (parse_range(r, max_days))
    return -1;
  if (!(r->c = access_db(rq)))
    return -1;
  int rc = db_begin(r->c, DB_TX_READ, &r->err);
  struct recognizer_settings set;
  if (!rc)
    rc = recognizer_settings_load(r->c, r->tenant, &set, &r->err);
  if (rc) {
    http_fail(rq, rc, &r->err);
    report_end(r);
    return -1;
  }
  r->lookback_days = set.returning_lookback_days;
  if (load_sites(r)) {
    report_end(r);
    return -1;
  }
  place_sites(r);
  return 0;
}

/* --- additive figures: whole days from report_hours, edges from raw rows --------------- */

enum grouping { BY_NOTHING, BY_DAY, BY_DAY_HOUR, BY_WEEKDAY_HOUR };

typedef void (*cell_fn)(void *ctx, const struct report_site *site, const struct rollup_cell *cell);

struct sql_buf {
  char *text;
  size_t len, cap;
  struct db_value *args;
  int nargs, cap_args;
  int failed;
};

static void sql_add(struct sql_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql_add(struct sql_buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(b->text ? b->text + b->len : NULL, b->text ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->text && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap + (size_t)n + 1) * 2;
    char *t = realloc(b->text, cap);
    if (!t) {
      b->failed = 1;
      return;
    }
    b->text = t;
    b->cap = cap;
  }
}

/* Appends a parameter and returns its number ($N). */
static int sql_arg(struct sql_buf *b, struct db_value v) {
  if (b->nargs == b->cap_args) {
    int cap = b->cap_args ? b->cap_args * 2 : 32;
    struct db_value *a = realloc(b->args, (size_t)cap * sizeof *a);
    if (!a) {
      b->failed = 1;
      return 1;
    }
    b->args = a;
    b->cap_args = cap;
  }
  b->args[b->nargs++] = v;
  return b->nargs;
}

static void sql_free(struct sql_buf *b) {
  free(b->text);
  free(b->args);
}

/* Runs "SELECT <select> FROM <table> WHERE local_day >= from AND local_day <
 * to AND site_id IN (the sites)<tail>": the whole days of several sites in
 * one query (local dates give every site the same days). */
static int days_query(struct report *r, const struct report_site *sites, int nsites,
                      const char *select, const char *table, const char *tail, int64_t from,
                      int64_t to, struct db_rows **rows) {
  struct sql_buf b = {0};
  int lo = sql_arg(&b, db_int(from)), hi = sql_arg(&b, db_int(to));
  sql_add(&b, "SELECT %s FROM %s WHERE local_day >= $%d AND local_day < $%d AND site_id IN (",
          select, table, lo, hi);
  for (int i = 0; i < nsites; i++)
    sql_add(&b, "%s$%d", i ? ", " : "", sql_arg(&b, db_int(sites[i].id)));
  sql_add(&b, ")%s", tail);
  int rc = b.failed ? ff_fail(&r->err, FF_ENOMEM, "out of memory")
                    : db_query(r->c, b.text, b.args, b.nargs, rows, &r->err);
  sql_free(&b);
  return rc;
}

/* The site of a row's site id; *hint is where the previous row's was. */
static const struct report_site *site_of(const struct report_site *sites, int nsites, int64_t id,
                                         int *hint) {
  for (int k = 0; k < nsites; k++) {
    int i = (*hint + k) % nsites;
    if (sites[i].id == id) {
      *hint = i;
      return &sites[i];
    }
  }
  return NULL;
}

static int raw_cells(struct report *r, const struct report_site *s, int64_t from, int64_t to,
                     cell_fn fn, void *ctx) {
  if (from >= to)
    return FF_OK;
  struct db_rows *rows = NULL;
  int rc = db_query(r->c,
                    "SELECT first_seen_at, last_seen_at, customer_id, age, gender FROM visits "
                    "WHERE site_id = $1 AND first_seen_at >= $2 AND first_seen_at < $3",
                    DB_ARGS(db_int(s->id), db_int(from), db_int(to)), &rows, &r->err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    struct rollup_visit v = {.tenant_id = r->tenant,
                             .site_id = s->id,
                             .first_seen_ms = db_rows_int(rows, i, 0),
                             .last_seen_ms = db_rows_int(rows, i, 1),
                             .customer_id = db_rows_int(rows, i, 2),
                             .has_age = !db_rows_is_null(rows, i, 3),
                             .age = db_rows_real(rows, i, 3)};
    const char *g = db_rows_text(rows, i, 4);
    v.gender = g && !strcmp(g, "male") ? 1 : g && !strcmp(g, "female") ? 2 : 0;
    struct rollup_cell x;
    memset(&x, 0, sizeof x);
    rollup_locate(s->tz, v.first_seen_ms, &x);
    rollup_count_visit(&x, &v, 1);
    fn(ctx, s, &x);
  }
  db_rows_free(rows);
  rows = NULL;
  if (!rc)
    rc = db_query(r->c,
                  "SELECT seen_at FROM staff_passes WHERE site_id = $1 AND seen_at >= $2 AND "
                  "seen_at < $3",
                  DB_ARGS(db_int(s->id), db_int(from), db_int(to)), &rows, &r->err);
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    struct rollup_cell x;
    memset(&x, 0, sizeof x);
    rollup_locate(s->tz, db_rows_int(rows, i, 0), &x);
    x.n[RC_STAFF] = 1;
    fn(ctx, s, &x);
  }
  db_rows_free(rows);
  return rc;
}

/* Counters read: a report that needs visits, anonymous visits, staff passes
 * and durations only reads those (the first RC_FIGURES columns). */
#define RC_FIGURES (RC_DURATION + 1)

/* The rollup rows of whole days [first, end) of the sites, to fn. */
static int day_cells(struct report *r, const struct report_site *sites, int nsites, int64_t first,
                     int64_t end, enum grouping g, int ncounters, cell_fn fn, void *ctx) {
  static const char *const keys[] = {[BY_NOTHING] = "0, 0, 0",
                                     [BY_DAY] = "local_day, 0, 0",
                                     [BY_DAY_HOUR] = "local_day, local_hour, 0",
                                     [BY_WEEKDAY_HOUR] = "0, local_hour, weekday"};
  static const char *const groups[] = {[BY_NOTHING] = " GROUP BY site_id",
                                       [BY_DAY] = "",
                                       [BY_DAY_HOUR] = " GROUP BY site_id, local_day, local_hour",
                                       [BY_WEEKDAY_HOUR] =
                                           " GROUP BY site_id, weekday, local_hour"};
  if (!nsites || first >= end)
    return FF_OK;
  /* Whole days and no hours wanted: the day rows, a 24th of the reading;
   * by day they need no grouping (one row per day). Hours are grouped by
   * PostgreSQL, which sends fewer rows; SQLite sends them as they are (fn
   * adds them up: its grouping costs several times the reading). */
  int aggregate = g == BY_NOTHING || (g != BY_DAY && db_backend(r->rq->server->db) == DB_POSTGRES);
  char select[1400];
  int n = snprintf(select, sizeof select, "site_id, %s, %s", keys[g], aggregate ? "COUNT(*)" : "1");
  for (int i = 0; i < ncounters; i++)
    n += snprintf(select + n, sizeof select - (size_t)n, aggregate ? ", SUM(%s)" : ", %s",
                  rollup_counter_columns[i]);
  struct db_rows *rows = NULL;
  int rc = days_query(r, sites, nsites, select,
                      g == BY_NOTHING || g == BY_DAY ? "report_days" : "report_hours",
                      aggregate ? groups[g] : "", first, end, &rows);
  int hint = 0;
  for (int i = 0; !rc && i < db_rows_count(rows); i++) {
    const struct report_site *s = site_of(sites, nsites, db_rows_int(rows, i, 0), &hint);
    if (!s)
      continue;
    struct rollup_cell x;
    memset(&x, 0, sizeof x);
    x.local_day = db_rows_int(rows, i, 1);
    x.local_hour = (int)db_rows_int(rows, i, 2);
    x.weekday = (int)db_rows_int(rows, i, 3);
    for (int k = 0; k < ncounters; k++)
      x.n[k] = db_rows_int(rows, i, 5 + k);
    fn(ctx, s, &x);
  }
  db_rows_free(rows);
  return rc;
}

/* The cells of the sites' ranges: whole days from the rollups, the edges
 * (RFC 3339 ranges) from raw visits. Local dates: one query for all sites. */
static int all_cells(struct report *r, enum grouping g, int ncounters, cell_fn fn, void *ctx) {
  if (r->local_dates && r->nsites)
    return day_cells(r, r->sites, r->nsites, r->sites[0].pieces.first_day,
                     r->sites[0].pieces.end_day, g, ncounters, fn, ctx);
  int rc = FF_OK;
  for (int i = 0; !rc && i < r->nsites; i++) {
    const struct report_site *s = &r->sites[i];
    const struct rollup_pieces *p = &s->pieces;
    rc = raw_cells(r, s, p->head_from, p->head_to, fn, ctx);
    if (!rc)
      rc = raw_cells(r, s, p->tail_from, p->tail_to, fn, ctx);
    if (!rc)
      rc = day_cells(r, s, 1, p->first_day, p->end_day, g, ncounters, fn, ctx);
  }
  return rc;
}

static void add_total(void *ctx, const struct report_site *s, const struct rollup_cell *x) {
  (void)s;
  int64_t *total = ctx;
  for (int k = 0; k < RC_COUNT; k++)
    total[k] += x->n[k];
}

/* --- distinct customers: the days' visitor sets, visits at the edges --------------------- */

enum key_kind { KEY_NONE, KEY_DAY, KEY_WEEK, KEY_MONTH, KEY_SITE };

static int64_t week_of_day(int64_t day) {
  int64_t x = day + 3; /* 1970-01-01 was a Thursday: weeks start on Monday */
  return x / 7 - (x % 7 < 0);
}

static int64_t key_of_day(enum key_kind k, int64_t day, int64_t site) {
  switch (k) {
  case KEY_DAY: return day;
  case KEY_WEEK: return week_of_day(day);
  case KEY_MONTH: return rollup_month_of_day(day);
  case KEY_SITE: return site;
  default: return 0;
  }
}

/* A set of customer ids over the tenant's id range, one bit each; words that
 * became non-zero are remembered so clearing costs what was added. */
struct idset {
  uint64_t *bits;
  int64_t base;
  size_t nwords;
  size_t *touched;
  size_t ntouched;
  int64_t count;
};

static int idset_init(struct idset *set, int64_t lo, int64_t hi) {
  memset(set, 0, sizeof *set);
  set->base = lo;
  set->nwords = hi >= lo ? (size_t)((hi - lo) / 64 + 1) : 1;
  set->bits = calloc(set->nwords, sizeof *set->bits);
  set->touched = malloc(set->nwords * sizeof *set->touched);
  return set->bits && set->touched ? FF_OK : FF_ENOMEM;
}

static void idset_free(struct idset *set) {
  free(set->bits);
  free(set->touched);
}

/* 1 when the id is new to the set. */
static int idset_add(struct idset *set, int64_t id) {
  uint64_t off = (uint64_t)(id - set->base);
  if (id < set->base || off / 64 >= set->nwords)
    return 0; /* not a customer of the tenant in this snapshot */
  uint64_t *w = &set->bits[off / 64], bit = (uint64_t)1 << (off % 64);
  if (*w & bit)
    return 0;
  if (!*w)
    set->touched[set->ntouched++] = off / 64;
  *w |= bit;
  set->count++;
  return 1;
}

static int idset_has(const struct idset *set, int64_t id) {
  uint64_t off = (uint64_t)(id - set->base);
  return id >= set->base && off / 64 < set->nwords && (set->bits[off / 64] >> (off % 64) & 1);
}

static void idset_clear(struct idset *set) {
  for (size_t i = 0; i < set->ntouched; i++)
    set->bits[set->touched[i]] = 0;
  set->ntouched = 0;
  set->count = 0;
}

struct keyed_id {
  int64_t key, id;
};

static int keyed_order(const void *a, const void *b) {
  const struct keyed_id *x = a, *y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Counting unique visitors (and, with a look-back set, returning ones). */
struct counter {
  struct idset cur, back;
  int returning; /* back is filled */
  int64_t returned;
};

static void counter_add(struct counter *k, int64_t id) {
  if (idset_add(&k->cur, id) && k->returning && idset_has(&k->back, id))
    k->returned++;
}

static void counter_add_blob(struct counter *k, const unsigned char *p, size_t len) {
  int64_t id = 0, gap;
  for (const unsigned char *end = p + len; rollup_visitors_next(&p, end, &id, &gap);)
    counter_add(k, id);
}

/* The customers of the raw edges of the sites' ranges, keyed. */
static int edge_ids(struct report *r, struct report_site *sites, int nsites, enum key_kind k,
                    struct keyed_id **out, size_t *count) {
  size_t n = 0, cap = 0;
  struct keyed_id *ids = NULL;
  int rc = FF_OK;
  for (int i = 0; !rc && i < nsites; i++) {
    const struct rollup_pieces *p = &sites[i].pieces;
    const int64_t edges[2][3] = {{p->head_from, p->head_to, p->head_day},
                                 {p->tail_from, p->tail_to, p->tail_day}};
    for (int e = 0; !rc && e < 2; e++) {
      if (edges[e][0] >= edges[e][1])
        continue;
      struct db_rows *rows = NULL;
      rc = db_query(r->c,
                    "SELECT customer_id FROM visits WHERE site_id = $1 AND first_seen_at >= $2 "
                    "AND first_seen_at < $3 AND customer_id IS NOT NULL",
                    DB_ARGS(db_int(sites[i].id), db_int(edges[e][0]), db_int(edges[e][1])), &rows,
                    &r->err);
      for (int j = 0; !rc && j < db_rows_count(rows); j++) {
        if (n == cap) {
          cap = cap ? cap * 2 : 256;
          struct keyed_id *more = realloc(ids, cap * sizeof *more);
          if (!more) {
            rc = ff_fail(&r->err, FF_ENOMEM, "out of memory");
            break;
          }
          ids = more;
        }
        ids[n].key = key_of_day(k, edges[e][2], sites[i].id);
        ids[n++].id = db_rows_int(rows, j, 0);
      }
      db_rows_free(rows);
    }
  }
  if (!rc && n)
    qsort(ids, n, sizeof *ids, keyed_order);
  *out = ids;
  *count = n;
  return rc;
}

#define CHUNK_DAYS 31 /* visitor sets read per query: a month of days */

/* Reads the visitor sets of whole local days [from, to) of the sites, in
 * chunks, ordered by day; rows outside a site's own whole days are skipped.
 * For each row calls fn(ctx, site index, day, blob, len). */
typedef void (*day_set_fn)(void *ctx, int site, int64_t day, const unsigned char *ids, size_t len);
static int day_sets(struct report *r, struct report_site *sites, int nsites, int64_t from,
                    int64_t to, day_set_fn fn, void *ctx) {
  int rc = FF_OK;
  for (int64_t c0 = from; !rc && c0 < to; c0 += CHUNK_DAYS) {
    int64_t c1 = c0 + CHUNK_DAYS < to ? c0 + CHUNK_DAYS : to;
    struct sql_buf b = {0};
    int lo = sql_arg(&b, db_int(c0)), hi = sql_arg(&b, db_int(c1));
    sql_add(&b,
            "SELECT site_id, local_day, visitors FROM report_day_sets WHERE local_day >= $%d AND "
            "local_day < $%d AND site_id IN (",
            lo, hi);
    for (int i = 0; i < nsites; i++)
      sql_add(&b, "%s$%d", i ? ", " : "", sql_arg(&b, db_int(sites[i].id)));
    sql_add(&b, ") ORDER BY local_day, site_id");
    struct db_rows *rows = NULL;
    rc = b.failed ? ff_fail(&r->err, FF_ENOMEM, "out of memory")
                  : db_query(r->c, b.text, b.args, b.nargs, &rows, &r->err);
    for (int k = 0; !rc && k < db_rows_count(rows); k++) {
      int64_t site = db_rows_int(rows, k, 0), day = db_rows_int(rows, k, 1);
      int i = 0;
      while (i < nsites && sites[i].id != site)
        i++;
      if (i == nsites || day < sites[i].pieces.first_day || day >= sites[i].pieces.end_day)
        continue;
      size_t len = 0;
      const unsigned char *ids = db_rows_blob(rows, k, 2, &len);
      fn(ctx, i, day, ids, len);
    }
    db_rows_free(rows);
    sql_free(&b);
  }
  return rc;
}

static void back_add(void *ctx, int site, int64_t day, const unsigned char *ids, size_t len) {
  (void)site, (void)day;
  struct idset *back = ctx;
  int64_t id = 0, gap;
  for (const unsigned char *p = ids, *end = ids + len; rollup_visitors_next(&p, end, &id, &gap);)
    idset_add(back, id);
}

/* Local dates: the returning visitors of the range at any site of the
 * tenant, those whose first visit in the range came after a visit in the
 * look-back days [from - lookback, from): from the range's visitor sets,
 * where each visitor carries the gap back to their previous visit. */
struct returners {
  struct idset *set;
  int64_t from, lookback;
};

static void returners_add(void *ctx, int site, int64_t day, const unsigned char *ids, size_t len) {
  (void)site;
  struct returners *rt = ctx;
  int64_t id = 0, gap;
  for (const unsigned char *p = ids, *end = ids + len; rollup_visitors_next(&p, end, &id, &gap);)
    if (gap > day - rt->from && gap <= day - rt->from + rt->lookback)
      idset_add(rt->set, id);
}

static int returners_set(struct report *r, struct idset *set) {
  struct returners rt = {.set = set, .from = r->day_from, .lookback = r->lookback_days};
  for (int i = 0; i < r->nall; i++) {
    struct report_site *s = &r->all[i];
    s->pieces.first_day = r->day_from;
    s->pieces.end_day = r->day_to + 1;
  }
  return r->nall ? day_sets(r, r->all, r->nall, r->day_from, r->day_to + 1, returners_add, &rt)
                 : FF_OK;
}

/* The earliest start over the sites: "returning" looks before it. */
static int64_t range_start(const struct report *r) {
  int64_t start = INT64_MAX;
  for (int i = 0; i < r->nsites; i++)
    if (r->sites[i].from < start)
      start = r->sites[i].from;
  return start == INT64_MAX ? r->from_ms : start;
}

/* Everyone who visited any site of the tenant in the look-back before the range. */
static int lookback_set(struct report *r, struct idset *back) {
  int64_t start = range_start(r);
  int n = r->nall;
  int64_t first = INT64_MAX, last = INT64_MIN;
  for (int i = 0; i < n; i++) {
    struct report_site *s = &r->all[i];
    s->from = start - (int64_t)r->lookback_days * DAY_MS;
    s->to = start;
    rollup_split(s->tz, s->from, s->to, &s->pieces);
    first = s->pieces.first_day < first ? s->pieces.first_day : first;
    last = s->pieces.end_day > last ? s->pieces.end_day : last;
  }
  int rc = n ? day_sets(r, r->all, n, first, last, back_add, back) : FF_OK;
  struct keyed_id *edges = NULL;
  size_t count = 0;
  if (!rc)
    rc = edge_ids(r, r->all, n, KEY_NONE, &edges, &count);
  for (size_t i = 0; i < count; i++)
    idset_add(back, edges[i].id);
  free(edges);
  return rc;
}

typedef void (*distinct_fn)(void *ctx, int64_t key, int64_t unique, int64_t returning);

/* --- distinct customers as sums over days: the gap histograms --------------------------- */

/* Whether unique (and returning) visitors of this report can be summed from
 * report_day_gaps: local dates, and either every site of the tenant (the
 * gaps to the tenant's previous visit) or one site per figure (the gaps to
 * the site's previous visit; returning then needs the tenant's, see
 * returners_set). */
static int gaps_apply(const struct report *r, enum key_kind k, int returning) {
  if (!r->local_dates)
    return 0;
  if (k == KEY_SITE || (r->nsites == 1 && r->nsites != r->nall))
    return !returning;
  return r->nsites == r->nall;
}

/* The first day of the bucket holding a day, within the range. */
static int64_t bucket_first_day(enum key_kind k, int64_t day, int64_t from) {
  int64_t first = from;
  if (k == KEY_DAY)
    first = day;
  else if (k == KEY_WEEK)
    first = week_of_day(day) * 7 - 3;
  else if (k == KEY_MONTH) {
    int y, m, d;
    tz_civil_from_days(day, &y, &m, &d);
    first = day - (d - 1);
  }
  return first > from ? first : from;
}

struct gap_sum {
  int64_t after;    /* a visit starts its bucket when its gap is more than this */
  int64_t back;     /* days from the range's first day */
  int64_t lookback; /* 0: returning not counted */
  int64_t unique, returning;
};

static void gap_sum_add(void *ctx, int64_t gap, int64_t count) {
  struct gap_sum *g = ctx;
  if (gap > g->after)
    g->unique += count;
  if (g->lookback && gap != ROLLUP_GAP_NONE && gap > g->back && gap <= g->back + g->lookback)
    g->returning += count;
}

/* Unique visitors per key as the number of visits whose previous visit (to
 * the tenant, or to the site) came before their bucket's first day; with
 * returning, those whose previous visit lies in the look-back before the
 * range. Local dates only (gaps_apply). */
static int gaps_distinct(struct report *r, enum key_kind k, int returning, distinct_fn fn,
                         void *ctx) {
  int tenant = k != KEY_SITE && r->nsites == r->nall;
  int64_t from = r->day_from, to = r->day_to;
  int64_t base = k == KEY_SITE ? 0 : key_of_day(k, from, 0);
  size_t n = k == KEY_SITE ? (size_t)r->nsites : (size_t)(key_of_day(k, to, 0) - base + 1);
  int64_t(*sums)[2] = calloc(n ? n : 1, sizeof *sums);
  if (!sums)
    return ff_fail(&r->err, FF_ENOMEM, "out of memory");
  struct db_rows *rows = NULL;
  int rc = days_query(r, r->sites, r->nsites,
                      tenant ? "site_id, local_day, gaps" : "site_id, local_day, site_gaps",
                      "report_day_gaps", "", from, to + 1, &rows);
  int hint = 0;
  for (int j = 0; !rc && j < db_rows_count(rows); j++) {
    const struct report_site *s = site_of(r->sites, r->nsites, db_rows_int(rows, j, 0), &hint);
    if (!s)
      continue;
    int64_t day = db_rows_int(rows, j, 1);
    size_t len = 0;
    const unsigned char *blob = db_rows_blob(rows, j, 2, &len);
    struct gap_sum g = {.after = day - bucket_first_day(k, day, from),
                        .back = day - from,
                        .lookback = returning ? r->lookback_days : 0};
    if (rollup_gaps_decode(blob, len, gap_sum_add, &g))
      rc = ff_fail(&r->err, FF_EINTERNAL, "a malformed gap histogram (site %lld, day %lld)",
                   (long long)s->id, (long long)day);
    size_t at = k == KEY_SITE ? (size_t)(s - r->sites) : (size_t)(key_of_day(k, day, 0) - base);
    if (at < n) {
      sums[at][0] += g.unique;
      sums[at][1] += g.returning;
    }
  }
  db_rows_free(rows);
  for (size_t i = 0; !rc && i < n; i++)
    fn(ctx, k == KEY_SITE ? r->sites[i].id : base + (int64_t)i, sums[i][0], sums[i][1]);
  free(sums);
  return rc;
}

struct distinct_run {
  struct counter *k;
  enum key_kind kind;
  struct report_site *sites;
  const struct keyed_id *edges;
  size_t nedges, next_edge;
  int64_t key; /* the bucket being filled */
  int open;
  distinct_fn fn;
  void *ctx;
};

/* Closes the open bucket: its edge visitors join, then it is reported. */
static void run_close(struct distinct_run *d) {
  if (!d->open)
    return;
  while (d->next_edge < d->nedges && d->edges[d->next_edge].key < d->key)
    d->next_edge++;
  for (; d->next_edge < d->nedges && d->edges[d->next_edge].key == d->key; d->next_edge++)
    counter_add(d->k, d->edges[d->next_edge].id);
  d->fn(d->ctx, d->key, d->k->cur.count, d->k->returned);
  idset_clear(&d->k->cur);
  d->k->returned = 0;
  d->open = 0;
}

/* Opens the bucket of `key`, first closing the earlier ones (and reporting
 * buckets made only of edge visitors). */
static void run_open(struct distinct_run *d, int64_t key) {
  if (d->open && d->key == key)
    return;
  run_close(d);
  while (d->next_edge < d->nedges && d->edges[d->next_edge].key < key) {
    d->key = d->edges[d->next_edge].key;
    d->open = 1;
    run_close(d);
  }
  d->key = key;
  d->open = 1;
}

static void run_add(void *ctx, int site, int64_t day, const unsigned char *ids, size_t len) {
  struct distinct_run *d = ctx;
  run_open(d, key_of_day(d->kind, day, d->sites[site].id));
  counter_add_blob(d->k, ids, len);
}

/* Unique visitors per key (none, site, local day, week or month) over the
 * sites' ranges and, with returning, how many of them visited the tenant
 * within the look-back before the range: the union of the whole days'
 * visitor sets and the raw edges, counted in a bit set. */
static int distinct(struct report *r, struct report_site *sites, int nsites, enum key_kind k,
                    int returning, distinct_fn fn, void *ctx) {
  if (sites == r->sites && nsites == r->nsites && gaps_apply(r, k, returning))
    return gaps_distinct(r, k, returning, fn, ctx);
  struct counter cnt = {.returning = returning};
  int rc = idset_init(&cnt.cur, r->customer_lo, r->customer_hi);
  if (!rc && returning)
    rc = idset_init(&cnt.back, r->customer_lo, r->customer_hi);
  if (rc) {
    idset_free(&cnt.cur), idset_free(&cnt.back);
    return ff_fail(&r->err, FF_ENOMEM, "out of memory");
  }
  if (returning)
    rc = r->local_dates ? returners_set(r, &cnt.back) : lookback_set(r, &cnt.back);
  struct keyed_id *edges = NULL;
  size_t nedges = 0;
  if (!rc)
    rc = edge_ids(r, sites, nsites, k, &edges, &nedges);
  int64_t first = INT64_MAX, last = INT64_MIN;
  for (int i = 0; i < nsites; i++) {
    first = sites[i].pieces.first_day < first ? sites[i].pieces.first_day : first;
    last = sites[i].pieces.end_day > last ? sites[i].pieces.end_day : last;
  }
  struct distinct_run d = {
      .k = &cnt, .kind = k, .sites = sites, .edges = edges, .nedges = nedges, .fn = fn, .ctx = ctx};
  if (k == KEY_SITE) {
    /* One site at a time: sites are not ordered by day. */
    for (int i = 0; !rc && i < nsites; i++) {
      run_open(&d, sites[i].id);
      if (sites[i].pieces.first_day < sites[i].pieces.end_day)
        rc = day_sets(r, &sites[i], 1, sites[i].pieces.first_day, sites[i].pieces.end_day, run_add,
                      &d);
      d.key = sites[i].id; /* run_add keyed by the site too */
      run_close(&d);
    }
  } else if (!rc) {
    if (k == KEY_NONE)
      run_open(&d, 0);
    if (nsites && first < last)
      rc = day_sets(r, sites, nsites, first, last, run_add, &d);
    if (!rc) {
      if (k == KEY_NONE)
        run_open(&d, 0);
      run_close(&d);
      run_open(&d, INT64_MAX); /* flushes buckets made only of edge visitors */
      d.open = 0;
    }
  }
  free(edges);
  idset_free(&cnt.cur);
  idset_free(&cnt.back);
  return rc;
}

static void take_one(void *ctx, int64_t key, int64_t unique, int64_t returning) {
  (void)key;
  int64_t *out = ctx;
  out[0] += unique;
  out[1] += returning;
}

/* Durations in whole seconds, counted per second: a visit never spans a
 * local midnight, so none is longer than a day of 25 hours. */
#define DURATION_MAX_S (26 * 3600)

static void count_duration(uint32_t *hist, int64_t seconds) {
  hist[seconds < 0 ? 0 : seconds > DURATION_MAX_S ? DURATION_MAX_S : seconds]++;
}

/* The median visit duration (in seconds, from whole seconds) over the sites'
 * ranges: the sorted durations of whole days from report_day_sets, the edges
 * from the raw visits; -1 without visits. */
static int median_duration(struct report *r, int64_t visits, double *median) {
  *median = -1;
  if (visits <= 0)
    return FF_OK;
  uint32_t *hist = calloc(DURATION_MAX_S + 1, sizeof *hist);
  if (!hist)
    return ff_fail(&r->err, FF_ENOMEM, "out of memory");
  int rc = FF_OK;
  int64_t counted = 0;
  /* Local dates: every site's days in one query; else one per site. */
  for (int i = 0; !rc && i < (r->local_dates ? !!r->nsites : r->nsites); i++) {
    const struct rollup_pieces *p = &r->sites[i].pieces;
    struct db_rows *rows = NULL;
    if (p->first_day < p->end_day)
      rc = days_query(r, &r->sites[i], r->local_dates ? r->nsites : 1, "durations",
                      "report_day_sets", "", p->first_day, p->end_day, &rows);
    for (int k = 0; !rc && k < db_rows_count(rows); k++) {
      size_t len = 0;
      const unsigned char *b = db_rows_blob(rows, k, 0, &len);
      int64_t seconds = 0;
      for (const unsigned char *end = b + len; rollup_ids_next(&b, end, &seconds); counted++)
        count_duration(hist, seconds);
    }
    db_rows_free(rows);
  }
  for (int i = 0; !rc && i < r->nsites; i++) {
    const struct report_site *s = &r->sites[i];
    const struct rollup_pieces *p = &s->pieces;
    struct db_rows *rows = NULL;
    const int64_t edges[2][2] = {{p->head_from, p->head_to}, {p->tail_from, p->tail_to}};
    for (int e = 0; !rc && e < 2; e++) {
      if (edges[e][0] >= edges[e][1])
        continue;
      rows = NULL;
      rc = db_query(r->c,
                    "SELECT first_seen_at, last_seen_at FROM visits WHERE site_id = $1 AND "
                    "first_seen_at >= $2 AND first_seen_at < $3",
                    DB_ARGS(db_int(s->id), db_int(edges[e][0]), db_int(edges[e][1])), &rows,
                    &r->err);
      for (int k = 0; !rc && k < db_rows_count(rows); k++, counted++) {
        struct rollup_visit v = {.first_seen_ms = db_rows_int(rows, k, 0),
                                 .last_seen_ms = db_rows_int(rows, k, 1)};
        count_duration(hist, rollup_duration_s(&v));
      }
      db_rows_free(rows);
    }
  }
  /* The middle one, or the mean of the middle two (ranks are 0-based). */
  int64_t lo = (counted - 1) / 2, hi = counted / 2, seen = 0;
  double a = -1, b = -1;
  for (int64_t d = 0; !rc && counted && d <= DURATION_MAX_S && b < 0; d++) {
    seen += hist[d];
    if (a < 0 && seen > lo)
      a = (double)d;
    if (seen > hi)
      b = (double)d;
  }
  free(hist);
  if (!rc && counted)
    *median = (a + b) / 2 * 1000;
  return rc;
}

/* --- replies ----------------------------------------------------------------------------- */

static json_t *seconds_or_null(double ms) {
  return ms < 0 ? json_null() : json_real(ms / 1000.0);
}

static json_t *average_s(int64_t duration_ms, int64_t visits) {
  return visits ? json_real((double)duration_ms / (double)visits / 1000.0) : json_null();
}

static void range_json(const struct report *r, json_t *o) {
  char a[25], b[25];
  if (r->local_dates) {
    format_day(r->day_from, a);
    format_day(r->day_to, b);
  } else {
    tz_format_rfc3339(r->from_ms, a);
    tz_format_rfc3339(r->to_ms, b);
  }
  json_object_set_new(o, "from", json_string(a));
  json_object_set_new(o, "to", json_string(b));
  json_object_set_new(o, "range_kind", json_string(r->local_dates ? "local_dates" : "instants"));
  json_t *sites = json_array();
  for (int i = 0; i < r->nsites; i++)
    json_array_append_new(sites, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)r->sites[i].id,
                                           "name", r->sites[i].name, "timezone", r->sites[i].zone));
  json_object_set_new(o, "sites", sites);
}

/* CSV, one row at a time: the rows are formatted as the client reads them. */
struct csv_stream {
  json_t *rows;
  const char *const *columns;
  size_t next_row; /* 0 = the header line is next */
  char *line;
  size_t line_len, line_off, line_cap;
};

static int csv_put(struct csv_stream *cs, const char *text, size_t len) {
  if (cs->line_len + len + 1 > cs->line_cap) {
    size_t cap = (cs->line_len + len + 1) * 2;
    char *p = realloc(cs->line, cap);
    if (!p)
      return -1;
    cs->line = p;
    cs->line_cap = cap;
  }
  memcpy(cs->line + cs->line_len, text, len);
  cs->line_len += len;
  return 0;
}

static int csv_value(struct csv_stream *cs, json_t *v) {
  char num[40];
  if (!v || json_is_null(v))
    return 0;
  if (json_is_integer(v)) {
    int n = snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
    return csv_put(cs, num, (size_t)n);
  }
  if (json_is_real(v)) {
    int n = snprintf(num, sizeof num, "%.17g", json_real_value(v));
    return csv_put(cs, num, (size_t)n);
  }
  const char *s = json_string_value(v);
  if (!s)
    return 0;
  /* Quote, and keep spreadsheet formulas from starting a cell. */
  int rc = csv_put(cs, "\"", 1);
  if (!rc && strchr("=+-@", s[0]) && s[0])
    rc = csv_put(cs, "'", 1);
  for (const char *p = s; !rc && *p; p++)
    rc = *p == '"' ? csv_put(cs, "\"\"", 2) : csv_put(cs, p, 1);
  return rc ? rc : csv_put(cs, "\"", 1);
}

/* Formats the next line; 1 when there is none left, -1 on failure. */
static int csv_fill(struct csv_stream *cs) {
  cs->line_len = cs->line_off = 0;
  if (cs->next_row > json_array_size(cs->rows))
    return 1;
  json_t *row = cs->next_row ? json_array_get(cs->rows, cs->next_row - 1) : NULL;
  int rc = 0;
  for (int i = 0; cs->columns[i] && !rc; i++) {
    if (i)
      rc = csv_put(cs, ",", 1);
    if (!rc)
      rc = row ? csv_value(cs, json_object_get(row, cs->columns[i]))
               : csv_put(cs, cs->columns[i], strlen(cs->columns[i]));
  }
  if (!rc)
    rc = csv_put(cs, "\r\n", 2);
  cs->next_row++;
  return rc;
}

static ssize_t csv_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  struct csv_stream *cs = cls;
  size_t out = 0;
  while (out < max) {
    if (cs->line_off == cs->line_len) {
      int rc = csv_fill(cs);
      if (rc == 1)
        break;
      if (rc < 0)
        return out ? (ssize_t)out : U_STREAM_ERROR;
    }
    size_t n = cs->line_len - cs->line_off;
    if (n > max - out)
      n = max - out;
    memcpy(buf + out, cs->line + cs->line_off, n);
    cs->line_off += n;
    out += n;
  }
  return out ? (ssize_t)out : U_STREAM_END;
}

static void csv_free(void *cls) {
  struct csv_stream *cs = cls;
  json_decref(cs->rows);
  free(cs->line);
  free(cs);
}

/* Replies with the report: JSON (meta with the rows under rows_key, or the
 * single row's fields merged in when rows_key is NULL) or CSV of the rows. */
static void reply(struct report *r, json_t *meta, json_t *rows, const char *rows_key,
                  const char *const *columns, const char *name) {
  struct request *rq = r->rq;
  report_end(r);
  r->c = NULL;
  r->sites = NULL;
  if (!r->csv) {
    if (rows_key)
      json_object_set_new(meta, rows_key, rows);
    else {
      json_object_update(meta, json_array_get(rows, 0));
      json_decref(rows);
    }
    http_json(rq, 200, meta);
    return;
  }
  json_decref(meta);
  struct csv_stream *cs = calloc(1, sizeof *cs);
  if (!cs || ulfius_set_stream_response(rq->res, 200, csv_read, csv_free, U_STREAM_SIZE_UNKNOWN,
                                        16 * 1024, cs) != U_OK) {
    free(cs);
    json_decref(rows);
    http_error(rq, 503, "unavailable", "out of memory");
    return;
  }
  cs->rows = rows;
  cs->columns = columns;
  rq->status = 200;
  char disposition[96];
  snprintf(disposition, sizeof disposition, "attachment; filename=\"footfall-%s.csv\"", name);
  http_header(rq, "Content-Type", "text/csv; charset=utf-8");
  http_header(rq, "Content-Disposition", disposition);
}

static void fail(struct report *r, int rc) {
  struct ff_error err = r->err;
  report_end(r);
  http_fail(r->rq, rc, &err);
}

/* --- summary ---------------------------------------------------------------------------- */

void reports_summary(struct request *rq) {
  struct report r;
  if (report_begin(rq, &r, REPORTS_MAX_DAYS))
    return;
  int64_t total[RC_COUNT] = {0}, uniq[2] = {0};
  double median = -1;
  int rc = all_cells(&r, BY_NOTHING, RC_FIGURES, add_total, total);
  if (!rc)
    rc = distinct(&r, r.sites, r.nsites, KEY_NONE, 1, take_one, uniq);
  if (!rc)
    rc = median_duration(&r, total[RC_VISITS], &median);
  if (rc) {
    fail(&r, rc);
    return;
  }
  json_t *meta = json_object();
  range_json(&r, meta);
  json_t *row = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:i}", "visits",
                          (json_int_t)total[RC_VISITS], "unique_visitors", (json_int_t)uniq[0],
                          "new_visitors", (json_int_t)(uniq[0] - uniq[1]), "returning_visitors",
                          (json_int_t)uniq[1], "anonymous_visits", (json_int_t)total[RC_ANONYMOUS],
                          "staff_passes", (json_int_t)total[RC_STAFF], "average_duration_s",
                          average_s(total[RC_DURATION], total[RC_VISITS]), "median_duration_s",
                          seconds_or_null(median), "returning_lookback_days", r.lookback_days);
  static const char *const columns[] = {"visits",
                                        "unique_visitors",
                                        "new_visitors",
                                        "returning_visitors",
                                        "anonymous_visits",
                                        "staff_passes",
                                        "average_duration_s",
                                        "median_duration_s",
                                        "returning_lookback_days",
                                        NULL};
  reply(&r, meta, json_pack("[o]", row), NULL, columns, "summary");
}

/* --- series ----------------------------------------------------------------------------- */

struct bucket {
  int64_t n[RC_COUNT];
  int64_t unique;
};

struct series {
  enum granularity g;
  int64_t first_day; /* the first bucket holds this local day */
  int64_t base;      /* key of the first bucket (day, week, month or day*24) */
  int count;
  struct bucket *buckets;
};

static int64_t series_key(const struct series *sr, int64_t day, int hour) {
  switch (sr->g) {
  case G_HOUR: return day * 24 + hour;
  case G_WEEK: return week_of_day(day);
  case G_MONTH: return rollup_month_of_day(day);
  default: return day;
  }
}

static void series_add(void *ctx, const struct report_site *s, const struct rollup_cell *x) {
  (void)s;
  struct series *sr = ctx;
  int64_t i = series_key(sr, x->local_day, x->local_hour) - sr->base;
  if (i < 0 || i >= sr->count)
    return;
  for (int k = 0; k < RC_COUNT; k++)
    sr->buckets[i].n[k] += x->n[k];
}

static void series_unique(void *ctx, int64_t key, int64_t unique, int64_t returning) {
  (void)returning;
  struct series *sr = ctx;
  int64_t i = key - sr->base;
  if (i >= 0 && i < sr->count)
    sr->buckets[i].unique = unique;
}

/* Hourly unique visitors: from the raw visits (hourly ranges are short). */
static int hourly_unique(struct report *r, struct series *sr) {
  struct keyed_id *pairs = NULL;
  size_t n = 0, cap = 0;
  int rc = FF_OK;
  for (int i = 0; !rc && i < r->nsites; i++) {
    struct report_site *s = &r->sites[i];
    struct db_rows *rows = NULL;
    rc = db_query(r->c,
                  "SELECT first_seen_at, customer_id FROM visits WHERE site_id = $1 AND "
                  "first_seen_at >= $2 AND first_seen_at < $3 AND customer_id IS NOT NULL",
                  DB_ARGS(db_int(s->id), db_int(s->from), db_int(s->to)), &rows, &r->err);
    for (int k = 0; !rc && k < db_rows_count(rows); k++) {
      if (n == cap) {
        cap = cap ? cap * 2 : 1024;
        struct keyed_id *p = realloc(pairs, cap * sizeof *p);
        if (!p) {
          rc = ff_fail(&r->err, FF_ENOMEM, "out of memory");
          break;
        }
        pairs = p;
      }
      struct rollup_cell x;
      rollup_locate(s->tz, db_rows_int(rows, k, 0), &x);
      pairs[n].key = series_key(sr, x.local_day, x.local_hour);
      pairs[n].id = db_rows_int(rows, k, 1);
      n++;
    }
    db_rows_free(rows);
  }
  if (!rc && n)
    qsort(pairs, n, sizeof *pairs, keyed_order);
  for (size_t k = 0; !rc && k < n; k++) {
    if (k && pairs[k].key == pairs[k - 1].key && pairs[k].id == pairs[k - 1].id)
      continue;
    int64_t i = pairs[k].key - sr->base;
    if (i >= 0 && i < sr->count)
      sr->buckets[i].unique++;
  }
  free(pairs);
  return rc;
}

static void bucket_label(const struct series *sr, int i, char out[24]) {
  if (sr->g == G_HOUR) {
    char day[11];
    format_day((sr->base + i) / 24, day);
    snprintf(out, 24, "%sT%02d:00", day, (int)((sr->base + i) % 24));
  } else if (sr->g == G_DAY) {
    format_day(sr->base + i, out);
  } else if (sr->g == G_WEEK) {
    format_day((sr->base + i) * 7 - 3, out); /* the Monday starting the week */
  } else {
    int64_t month = sr->base + i;
    snprintf(out, 24, "%04d-%02d", (int)(month / 12) % 10000, (int)(month % 12) + 1);
  }
}

void reports_series(struct request *rq) {
  const char *g = http_query(rq, "granularity");
  static const char *const names[] = {"hour", "day", "week", "month"};
  int gi = -1;
  for (int i = 0; i < 4 && g; i++)
    if (!strcmp(g, names[i]))
      gi = i;
  if (g && gi < 0) {
    http_error(rq, 400, "invalid_field", "granularity is hour, day, week or month");
    return;
  }
  if (gi < 0)
    gi = G_DAY;
  struct report r;
  if (report_begin(rq, &r, gi == G_HOUR ? REPORTS_MAX_HOUR_DAYS : REPORTS_MAX_DAYS))
    return;
  /* Buckets from the earliest local day of any site to the latest. */
  int64_t first = INT64_MAX, last = INT64_MIN;
  for (int i = 0; i < r.nsites; i++) {
    int64_t a = rollup_local_day(r.sites[i].tz, r.sites[i].from);
    int64_t b = rollup_local_day(r.sites[i].tz, r.sites[i].to - 1);
    first = a < first ? a : first;
    last = b > last ? b : last;
  }
  if (!r.nsites)
    first = last = r.local_dates ? r.day_from : r.from_ms / DAY_MS;
  if (r.local_dates) {
    first = r.day_from;
    last = r.day_to;
  }
  struct series sr = {.g = (enum granularity)gi, .first_day = first};
  sr.base = series_key(&sr, first, 0);
  sr.count = (int)(series_key(&sr, last, 23) - sr.base + 1);
  sr.buckets = calloc((size_t)sr.count, sizeof *sr.buckets);
  int rc = sr.buckets ? FF_OK : ff_fail(&r.err, FF_ENOMEM, "out of memory");
  /* Hourly unique visitors of every site or of one, by local dates: the sum
   * of the hours' first visits of their customer; otherwise from raw visits. */
  int firsts = gi == G_HOUR && r.local_dates && (r.nsites == r.nall || r.nsites == 1);
  if (!rc)
    rc = all_cells(&r, gi == G_HOUR ? BY_DAY_HOUR : BY_DAY, firsts ? RC_COUNT : RC_FIGURES,
                   series_add, &sr);
  for (int i = 0; !rc && firsts && i < sr.count; i++)
    sr.buckets[i].unique =
        sr.buckets[i].n[r.nsites == r.nall ? RC_HOUR_FIRSTS : RC_HOUR_SITE_FIRSTS];
  if (!rc && gi == G_HOUR && !firsts)
    rc = hourly_unique(&r, &sr);
  else if (!rc)
    rc = distinct(&r, r.sites, r.nsites,
                  gi == G_DAY    ? KEY_DAY
                  : gi == G_WEEK ? KEY_WEEK
                                 : KEY_MONTH,
                  0, series_unique, &sr);
  if (rc) {
    free(sr.buckets);
    fail(&r, rc);
    return;
  }
  json_t *rows = json_array();
  for (int i = 0; i < sr.count; i++) {
    char label[24];
    bucket_label(&sr, i, label);
    const struct bucket *b = &sr.buckets[i];
    json_array_append_new(rows, json_pack("{s:s,s:I,s:I,s:I,s:I,s:o}", "period", label, "visits",
                                          (json_int_t)b->n[RC_VISITS], "unique_visitors",
                                          (json_int_t)b->unique, "anonymous_visits",
                                          (json_int_t)b->n[RC_ANONYMOUS], "staff_passes",
                                          (json_int_t)b->n[RC_STAFF], "average_duration_s",
                                          average_s(b->n[RC_DURATION], b->n[RC_VISITS])));
  }
  free(sr.buckets);
  json_t *meta = json_object();
  range_json(&r, meta);
  json_object_set_new(meta, "granularity", json_string(names[gi]));
  static const char *const columns[] = {"period",
                                        "visits",
                                        "unique_visitors",
                                        "anonymous_visits",
                                        "staff_passes",
                                        "average_duration_s",
                                        NULL};
  reply(&r, meta, rows, "series", columns, "series");
}

/* --- heat map ------------------------------------------------------------------------------ */

static void heat_add(void *ctx, const struct report_site *s, const struct rollup_cell *x) {
  (void)s;
  int64_t(*cells)[24][2] = ctx;
  if (x->weekday >= 0 && x->weekday < 7 && x->local_hour >= 0 && x->local_hour < 24) {
    cells[x->weekday][x->local_hour][0] += x->n[RC_VISITS];
    cells[x->weekday][x->local_hour][1] += x->n[RC_STAFF];
  }
}

void reports_heatmap(struct request *rq) {
  struct report r;
  if (report_begin(rq, &r, REPORTS_MAX_DAYS))
    return;
  int64_t cells[7][24][2];
  memset(cells, 0, sizeof cells);
  int rc = all_cells(&r, BY_WEEKDAY_HOUR, RC_STAFF + 1, heat_add, cells);
  if (rc) {
    fail(&r, rc);
    return;
  }
  static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  json_t *rows = json_array();
  for (int d = 0; d < 7; d++)
    for (int h = 0; h < 24; h++)
      json_array_append_new(rows,
                            json_pack("{s:i,s:s,s:i,s:I,s:I}", "weekday", d, "weekday_name",
                                      days[d], "hour", h, "visits", (json_int_t)cells[d][h][0],
                                      "staff_passes", (json_int_t)cells[d][h][1]));
  json_t *meta = json_object();
  range_json(&r, meta);
  static const char *const columns[] = {"weekday", "weekday_name", "hour",
                                        "visits",  "staff_passes", NULL};
  reply(&r, meta, rows, "cells", columns, "heatmap");
}

/* --- gender and age --------------------------------------------------------------------------- */

void reports_demographics(struct request *rq) {
  struct report r;
  if (report_begin(rq, &r, REPORTS_MAX_DAYS))
    return;
  int64_t total[RC_COUNT] = {0};
  int rc = all_cells(&r, BY_NOTHING, RC_COUNT, add_total, total);
  if (rc) {
    fail(&r, rc);
    return;
  }
  json_t *rows = json_array();
  json_t *gender = json_object(), *ages = json_array();
  static const char *const genders[] = {"male", "female", "unknown"};
  for (int i = 0; i < 3; i++) {
    int64_t n = total[RC_MALE + i];
    json_object_set_new(gender, genders[i], json_integer(n));
    json_array_append_new(rows, json_pack("{s:s,s:s,s:I}", "dimension", "gender", "value",
                                          genders[i], "visits", (json_int_t)n));
  }
  for (int i = 0; i < ROLLUP_AGE_BANDS; i++) {
    int64_t n = total[RC_AGE_FIRST + i];
    json_array_append_new(
        ages, json_pack("{s:s,s:I}", "band", rollup_age_band_names[i], "visits", (json_int_t)n));
    json_array_append_new(rows, json_pack("{s:s,s:s,s:I}", "dimension", "age", "value",
                                          rollup_age_band_names[i], "visits", (json_int_t)n));
  }
  json_t *meta = json_object();
  range_json(&r, meta);
  json_object_set_new(meta, "visits", json_integer(total[RC_VISITS]));
  json_object_set_new(meta, "gender", gender);
  json_object_set_new(meta, "age_bands", ages);
  static const char *const columns[] = {"dimension", "value", "visits", NULL};
  reply(&r, meta, rows, "rows", columns, "demographics");
}

/* --- new vs returning, per site ------------------------------------------------------------- */

struct per_site {
  struct report *r;
  int64_t (*figures)[RC_COUNT];
  int64_t (*unique)[2];
};

static int site_index(const struct report *r, int64_t id) {
  for (int i = 0; i < r->nsites; i++)
    if (r->sites[i].id == id)
      return i;
  return -1;
}

static void per_site_unique(void *ctx, int64_t key, int64_t unique, int64_t returning) {
  struct per_site *ps = ctx;
  int i = site_index(ps->r, key);
  if (i >= 0) {
    ps->unique[i][0] = unique;
    ps->unique[i][1] = returning;
  }
}

static void per_site_add(void *ctx, const struct report_site *s, const struct rollup_cell *x) {
  struct per_site *ps = ctx;
  int i = (int)(s - ps->r->sites);
  for (int k = 0; k < RC_COUNT; k++)
    ps->figures[i][k] += x->n[k];
}

void reports_new_returning(struct request *rq) {
  struct report r;
  if (report_begin(rq, &r, REPORTS_MAX_DAYS))
    return;
  int64_t total[2] = {0};
  int64_t(*unique)[2] = calloc((size_t)r.nsites + 1, sizeof *unique);
  struct per_site ps = {.r = &r, .unique = unique};
  int rc = unique ? FF_OK : ff_fail(&r.err, FF_ENOMEM, "out of memory");
  if (!rc)
    rc = distinct(&r, r.sites, r.nsites, KEY_SITE, 1, per_site_unique, &ps);
  if (!rc)
    rc = distinct(&r, r.sites, r.nsites, KEY_NONE, 1, take_one, total);
  if (rc) {
    free(unique);
    fail(&r, rc);
    return;
  }
  json_t *rows = json_array();
  for (int i = 0; i < r.nsites; i++)
    json_array_append_new(rows, json_pack("{s:I,s:s,s:I,s:I,s:I}", "site_id",
                                          (json_int_t)r.sites[i].id, "site_name", r.sites[i].name,
                                          "unique_visitors", (json_int_t)unique[i][0],
                                          "new_visitors", (json_int_t)(unique[i][0] - unique[i][1]),
                                          "returning_visitors", (json_int_t)unique[i][1]));
  /* Across sites a visitor counts once: the total is not the sum of the rows. */
  json_array_append_new(rows, json_pack("{s:n,s:s,s:I,s:I,s:I}", "site_id", "site_name",
                                        "all sites", "unique_visitors", (json_int_t)total[0],
                                        "new_visitors", (json_int_t)(total[0] - total[1]),
                                        "returning_visitors", (json_int_t)total[1]));
  free(unique);
  json_t *meta = json_object();
  range_json(&r, meta);
  json_object_set_new(meta, "returning_lookback_days", json_integer(r.lookback_days));
  static const char *const columns[] = {"site_id",      "site_name",          "unique_visitors",
                                        "new_visitors", "returning_visitors", NULL};
  reply(&r, meta, rows, "rows", columns, "new-returning");
}

/* --- per-site comparison with the previous period ------------------------------------------- */

static json_t *change(int64_t now, int64_t before) {
  return before ? json_real((double)(now - before) / (double)before) : json_null();
}

static int period_figures(struct report *r, int64_t (*figures)[RC_COUNT], int64_t (*unique)[2]) {
  struct per_site ps = {.r = r, .figures = figures, .unique = unique};
  int rc = all_cells(r, BY_NOTHING, RC_FIGURES, per_site_add, &ps);
  if (!rc)
    rc = distinct(r, r->sites, r->nsites, KEY_SITE, 0, per_site_unique, &ps);
  return rc;
}

void reports_sites(struct request *rq) {
  struct report r;
  if (report_begin(rq, &r, REPORTS_MAX_DAYS))
    return;
  size_t n = (size_t)r.nsites + 1;
  int64_t(*now)[RC_COUNT] = calloc(n, sizeof *now), (*before)[RC_COUNT] = calloc(n, sizeof *before);
  int64_t(*unow)[2] = calloc(n, sizeof *unow), (*ubefore)[2] = calloc(n, sizeof *ubefore);
  int rc = now && before && unow && ubefore ? FF_OK : ff_fail(&r.err, FF_ENOMEM, "out of memory");
  if (!rc)
    rc = period_figures(&r, now, unow);
  /* The previous period: as many local days (or as long) just before. */
  char prev_from[25], prev_to[25];
  if (r.local_dates) {
    int64_t days = r.day_to - r.day_from + 1;
    r.day_from -= days;
    r.day_to -= days;
    format_day(r.day_from, prev_from);
    format_day(r.day_to, prev_to);
  } else {
    int64_t len = r.to_ms - r.from_ms;
    r.to_ms = r.from_ms;
    r.from_ms -= len;
    tz_format_rfc3339(r.from_ms, prev_from);
    tz_format_rfc3339(r.to_ms, prev_to);
  }
  place_sites(&r);
  if (!rc)
    rc = period_figures(&r, before, ubefore);
  if (rc) {
    free(now), free(before), free(unow), free(ubefore);
    fail(&r, rc);
    return;
  }
  json_t *rows = json_array();
  for (int i = 0; i < r.nsites; i++) {
    json_t *o = json_pack("{s:I,s:s,s:s}", "site_id", (json_int_t)r.sites[i].id, "site_name",
                          r.sites[i].name, "timezone", r.sites[i].zone);
    json_object_set_new(o, "visits", json_integer(now[i][RC_VISITS]));
    json_object_set_new(o, "previous_visits", json_integer(before[i][RC_VISITS]));
    json_object_set_new(o, "visits_change", change(now[i][RC_VISITS], before[i][RC_VISITS]));
    json_object_set_new(o, "unique_visitors", json_integer(unow[i][0]));
    json_object_set_new(o, "previous_unique_visitors", json_integer(ubefore[i][0]));
    json_object_set_new(o, "unique_visitors_change", change(unow[i][0], ubefore[i][0]));
    json_object_set_new(o, "staff_passes", json_integer(now[i][RC_STAFF]));
    json_object_set_new(o, "previous_staff_passes", json_integer(before[i][RC_STAFF]));
    json_object_set_new(o, "average_duration_s", average_s(now[i][RC_DURATION], now[i][RC_VISITS]));
    json_object_set_new(o, "previous_average_duration_s",
                        average_s(before[i][RC_DURATION], before[i][RC_VISITS]));
    json_array_append_new(rows, o);
  }
  free(now), free(before), free(unow), free(ubefore);
  /* The echo of the range is the current period's. */
  if (r.local_dates) {
    int64_t days = r.day_to - r.day_from + 1;
    r.day_from += days;
    r.day_to += days;
  } else {
    int64_t len = r.to_ms - r.from_ms;
    r.from_ms += len;
    r.to_ms += len;
  }
  json_t *meta = json_object();
  range_json(&r, meta);
  json_object_set_new(meta, "previous_from", json_string(prev_from));
  json_object_set_new(meta, "previous_to", json_string(prev_to));
  static const char *const columns[] = {"site_id",
                                        "site_name",
                                        "timezone",
                                        "visits",
                                        "previous_visits",
                                        "visits_change",
                                        "unique_visitors",
                                        "previous_unique_visitors",
                                        "unique_visitors_change",
                                        "staff_passes",
                                        "previous_staff_passes",
                                        "average_duration_s",
                                        "previous_average_duration_s",
                                        NULL};
  reply(&r, meta, rows, "sites", columns, "sites");
}
