/* realtime.c — GET /v1/events: the hub's events as Server-Sent Events.
 *
 * The stream opens with a retry hint and a comment (so proxies and clients
 * see the headers at once), then carries one `id:`/`data:` message per event,
 * a `: keep-alive` comment whenever nothing was sent for
 * cfg.sse_keepalive_s, and control messages without an id (stream.reset,
 * stream.dropped). A client that cannot keep up is cut off by the hub.
 */
#include "realtime.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "db.h"
#include "hub.h"
#include "server.h"

struct sse_client {
  struct server *server;
  struct hub_sub *sub;
  _Atomic(struct http_stream *) stream; /* set once the stream exists */
  int opened;   /* the opening lines were sent */
  int reset;    /* send stream.reset after them */
  int finished; /* the last message was sent: end at the next read */
  struct hub_event *pending;
  size_t pending_off;
};

/* --- the caller's view: tenant, sites, topics -------------------------------------- */

/* Parses "a,b,c" into ids; -1 on anything else. */
static int parse_ids(const char *text, int64_t *out, int max) {
  int n = 0;
  for (const char *p = text; *p;) {
    int64_t v = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 18)
      v = v * 10 + (*p++ - '0'), digits++;
    if (!digits || v <= 0 || n >= max || (*p && *p != ','))
      return -1;
    out[n++] = v;
    if (*p == ',' && !*++p)
      return -1;
  }
  return n;
}

static int parse_topics(const char *text, unsigned *out) {
  *out = 0;
  for (const char *p = text; *p;) {
    size_t len = strcspn(p, ",");
    unsigned bit = hub_topic_parse(p, len);
    if (!bit)
      return -1;
    *out |= bit;
    p += len;
    if (*p == ',' && !*++p)
      return -1;
  }
  return *out ? 0 : -1;
}

/* Fills the filter from the caller and the query (tenant_id for an
 * unscoped system admin, site_id, topics). On failure the reply is written
 * and -1 returned. */
static int caller_filter(struct request *rq, struct hub_filter *f) {
  memset(f, 0, sizeof *f);
  f->topics = HUB_ALL_TOPICS;
  f->tenant_id = access_tenant(rq);
  f->bound_site = access_site(rq);
  const char *tenant = http_query(rq, "tenant_id");
  if (tenant) {
    int64_t id;
    if (parse_ids(tenant, &id, 1) != 1) {
      http_error(rq, 400, "invalid_field", "tenant_id must be a tenant id");
      return -1;
    }
    if (f->tenant_id && f->tenant_id != id) {
      http_error(rq, 404, "not_found", "no such tenant");
      return -1;
    }
    if (!f->tenant_id) {
      struct db_conn *c = access_db(rq);
      if (!c)
        return -1;
      struct db_rows *rows = NULL;
      struct ff_error err = {0};
      int rc = db_query(c, "SELECT id FROM tenants WHERE id = $1", DB_ARGS(db_int(id)), &rows,
                        &err);
      db_release(c);
      int found = !rc && db_rows_count(rows) == 1;
      db_rows_free(rows);
      if (rc) {
        http_fail(rq, rc, &err);
        return -1;
      }
      if (!found) {
        http_error(rq, 404, "not_found", "no such tenant");
        return -1;
      }
      f->tenant_id = id;
    }
  }
  if (!f->tenant_id) {
    http_error(rq, 400, "missing_field",
               "query parameter 'tenant_id' is required (or switch into a tenant first)");
    return -1;
  }
  const char *sites = http_query(rq, "site_id");
  if (sites) {
    f->site_count = parse_ids(sites, f->sites, HUB_MAX_SITES);
    if (f->site_count < 0) {
      http_error(rq, 400, "invalid_field",
                 "site_id must be a site id or a comma-separated list of at most %d",
                 HUB_MAX_SITES);
      return -1;
    }
    for (int i = 0; i < f->site_count; i++)
      if (f->bound_site && f->sites[i] != f->bound_site) {
        http_error(rq, 404, "not_found", "no such site");
        return -1;
      }
  }
  const char *topics = http_query(rq, "topics");
  if (topics && parse_topics(topics, &f->topics)) {
    http_error(rq, 400, "invalid_field",
               "topics must be a comma-separated list of visit, camera, worker, command, job");
    return -1;
  }
  return 0;
}

/* --- the stream ------------------------------------------------------------------------ */

static void sse_drop(void *arg) {
  struct sse_client *c = arg;
  struct http_stream *st = atomic_load(&c->stream);
  if (st) /* else the first read finds the client dropped */
    http_stream_cut(st);
}

static size_t put_text(char *buf, size_t max, const char *text) {
  size_t len = strlen(text);
  if (len > max)
    return 0; /* the caller's buffer always has room for a control message */
  memcpy(buf, text, len);
  return len;
}

static size_t sse_read(void *state, struct http_stream *st, char *buf, size_t max) {
  struct sse_client *c = state;
  size_t n = 0;
  if (c->finished)
    return 0;
  if (!c->opened) {
    char head[96];
    snprintf(head, sizeof head, "retry: %d\n: footfall events\n\n", c->server->cfg.sse_retry_ms);
    n += put_text(buf, max, head);
    if (c->reset)
      n += put_text(buf + n, max - n,
                    "data: {\"type\":\"stream.reset\",\"data\":{\"reason\":\"history_exhausted\"}}"
                    "\n\n");
    c->opened = 1;
  }
  for (;;) {
    if (c->pending) {
      size_t left = c->pending->sse_len - c->pending_off;
      size_t take = left < max - n ? left : max - n;
      memcpy(buf + n, c->pending->sse + c->pending_off, take);
      n += take;
      c->pending_off += take;
      if (c->pending_off < c->pending->sse_len)
        return n; /* the buffer is full */
      hub_event_release(c->pending);
      c->pending = NULL;
    }
    /* Fill the buffer with what is queued; wait only when nothing was
     * written yet. */
    int wait_ms = n ? 0 : c->server->cfg.sse_keepalive_s * 1000;
    int rc = hub_next(c->sub, wait_ms, &c->pending);
    c->pending_off = 0;
    if (rc == 1)
      continue;
    if (n)
      return n;
    if (rc < 0) {
      c->finished = 1;
      return put_text(buf, max,
                      "data: {\"type\":\"stream.dropped\",\"data\":{\"reason\":\"too_slow\"}}\n\n");
    }
    if (http_stream_closing(st))
      return 0;
    return put_text(buf, max, ": keep-alive\n\n");
  }
}

static void sse_wake(void *state) {
  struct sse_client *c = state;
  hub_wake(c->sub);
}

static void sse_release(void *state) {
  struct sse_client *c = state;
  hub_unsubscribe(c->sub);
  hub_event_release(c->pending);
  free(c);
}

static const struct http_stream_ops sse_ops = {sse_read, sse_wake, sse_release};

void realtime_events(struct request *rq) {
  struct hub_filter f;
  if (caller_filter(rq, &f))
    return;
  const char *last = http_header_in(rq, "Last-Event-ID");
  if (!last || !*last)
    last = http_query(rq, "last_event_id");
  struct sse_client *c = calloc(1, sizeof *c);
  if (!c) {
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  c->server = rq->server;
  c->sub = hub_subscribe(rq->server, &f, last && *last ? last : NULL, &c->reset, sse_drop, c);
  if (!c->sub) {
    free(c);
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  atomic_store(&c->stream, http_stream(rq, "text/event-stream; charset=utf-8", &sse_ops, c));
}
