/* hub.c — realtime events: ids, history, fan-out (see hub.h). */
#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "db.h"
#include "fleet.h"
#include "json_text.h"
#include "log.h"
#include "recognizer.h"
#include "server.h"

struct event_ref {
  struct hub_event ev;
  atomic_int refs;
};

struct hub_sub {
  struct hub *hub;
  struct hub_filter filter; /* guarded by the hub's lock */
  void (*on_drop)(void *arg);
  void *drop_arg;
  int (*push)(void *arg, const struct hub_event *e); /* push subscribers: no queue */
  struct hub_sub *next, *prev; /* guarded by the hub's lock */

  pthread_mutex_t lock; /* guards the fields below */
  pthread_cond_t cond;
  struct hub_event **queue;
  int cap, head, count;
  int64_t after; /* events up to this id were already sent */
  int dropped, woken;
};

#define HUB_OUTBOX 4096      /* events waiting for the publisher thread (PostgreSQL) */
#define HUB_PUBLISH_BATCH 64 /* NOTIFYs per write transaction */

struct hub {
  struct server *server;
  int remote; /* PostgreSQL: events travel through NOTIFY */
  struct db_listener *listener;
  pthread_t publisher;
  int publisher_started;
  pthread_cond_t outbox_cond; /* with lock */
  char *outbox[HUB_OUTBOX];
  int outbox_head, outbox_count, stopping;
  int connected_once;
  pthread_mutex_t lock; /* guards everything below */
  struct hub_event **history;
  int history_cap, history_head, history_count;
  int64_t floor;   /* events with ids <= floor may be missing from the history */
  int64_t last_id; /* newest id delivered */
  int64_t next_local;
  struct hub_sub *subs;
  int sub_count;
  int queue_cap;
  atomic_uint_fast64_t published, delivered, dropped, resets, oversized, publish_failures;
};

static const struct {
  const char *name;
  unsigned bit;
} topics[] = {{"visit", HUB_VISIT},
              {"camera", HUB_CAMERA},
              {"worker", HUB_WORKER},
              {"command", HUB_COMMAND},
              {"job", HUB_JOB}};

unsigned hub_topic_parse(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++)
    if (strlen(topics[i].name) == len && !strncmp(topics[i].name, name, len))
      return topics[i].bit;
  return 0;
}

/* --- events ---------------------------------------------------------------- */

static struct hub_event *event_ref(struct hub_event *e) {
  atomic_fetch_add(&((struct event_ref *)e)->refs, 1);
  return e;
}

void hub_event_release(struct hub_event *e) {
  if (!e)
    return;
  struct event_ref *r = (struct event_ref *)e;
  if (atomic_fetch_sub(&r->refs, 1) != 1)
    return;
  free(e->json);
  free(e->sse);
  free(r);
}

/* Builds an event around its rendered JSON (takes json, malloc'd); id 0 is
 * a control message (no id line). */
static struct hub_event *event_new(int64_t id, int64_t tenant, int64_t site, unsigned topic,
                                   char *json, size_t json_len) {
  struct event_ref *r = json ? calloc(1, sizeof *r) : NULL;
  if (!r) {
    free(json);
    return NULL;
  }
  atomic_store(&r->refs, 1);
  struct hub_event *e = &r->ev;
  e->id = id;
  e->tenant_id = tenant;
  e->site_id = site;
  e->topic = topic;
  e->json = json;
  e->json_len = json_len;
  size_t cap = json_len + 48;
  e->sse = malloc(cap);
  if (!e->sse) {
    hub_event_release(e);
    return NULL;
  }
  if (id)
    e->sse_len = (size_t)snprintf(e->sse, cap, "id: %lld\ndata: %s\n\n", (long long)id, json);
  else
    e->sse_len = (size_t)snprintf(e->sse, cap, "data: %s\n\n", json);
  return e;
}

/* {"id":N, + the rest of an envelope rendered without it; takes text. */
static char *with_id(int64_t id, char *text, size_t *len) {
  char head[32];
  int n = snprintf(head, sizeof head, "{\"id\":%lld%s", (long long)id, *len > 2 ? "," : "");
  char *out = malloc((size_t)n + *len);
  if (out) {
    memcpy(out, head, (size_t)n);
    memcpy(out + n, text + 1, *len); /* the rest, its NUL included */
    *len = (size_t)n + *len - 1;
  }
  free(text);
  return out;
}

/* --- fan-out ----------------------------------------------------------------- */

static int sub_wants(const struct hub_filter *f, const struct hub_event *e) {
  if (e->tenant_id != f->tenant_id || !(f->topics & e->topic))
    return 0;
  if (f->bound_site && e->site_id != f->bound_site)
    return 0;
  if (!f->site_count)
    return 1;
  for (int i = 0; i < f->site_count; i++)
    if (f->sites[i] == e->site_id)
      return 1;
  return 0;
}

static void queue_clear(struct hub_sub *sub) {
  for (int i = 0; i < sub->count; i++)
    hub_event_release(sub->queue[(sub->head + i) % sub->cap]);
  sub->head = sub->count = 0;
}

/* With the hub's lock held: queues e for sub, or drops sub when full. */
static void sub_push(struct hub *h, struct hub_sub *sub, struct hub_event *e) {
  pthread_mutex_lock(&sub->lock);
  int drop = 0;
  if (!sub->dropped) {
    if (sub->push) {
      if (sub->push(sub->drop_arg, e))
        sub->dropped = drop = 1;
    } else if (sub->count == sub->cap) {
      queue_clear(sub);
      sub->dropped = drop = 1;
    } else {
      sub->queue[(sub->head + sub->count++) % sub->cap] = event_ref(e);
    }
    pthread_cond_signal(&sub->cond);
  }
  pthread_mutex_unlock(&sub->lock);
  if (drop) {
    atomic_fetch_add(&h->dropped, 1);
    log_msg(LOG_WARN, "realtime.client_dropped",
            "tenant %lld: a client fell %d events behind and was disconnected",
            (long long)sub->filter.tenant_id, sub->cap);
    if (sub->on_drop)
      sub->on_drop(sub->drop_arg);
  }
}

/* With the hub's lock held: puts a built event into the history and every
 * interested queue; takes e. */
static void deliver_locked(struct hub *h, struct hub_event *e) {
  if (e->id <= h->last_id) { /* not newer than what clients have: a replay */
    hub_event_release(e);
    return;
  }
  h->last_id = e->id;
  if (h->history_count == h->history_cap) {
    struct hub_event *old = h->history[h->history_head];
    h->floor = old->id;
    hub_event_release(old);
    h->history_head = (h->history_head + 1) % h->history_cap;
    h->history_count--;
  }
  h->history[(h->history_head + h->history_count++) % h->history_cap] = e;
  for (struct hub_sub *sub = h->subs; sub; sub = sub->next)
    if (sub_wants(&sub->filter, e))
      sub_push(h, sub, e);
  atomic_fetch_add(&h->delivered, 1);
}

/* The rendered envelope, "id" first (0: without one, for PostgreSQL, where
 * the id is taken in the database); takes data. */
static char *envelope(int64_t id, const char *type, int64_t tenant, int64_t site, int64_t at,
                      json_t *data, size_t *len) {
  json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:o}", "type", type, "tenant_id", (json_int_t)tenant,
                        "site_id", (json_int_t)site, "at", (json_int_t)at, "data", data);
  char *text = o ? json_text(o, len) : NULL;
  json_decref(o);
  if (!text || !id)
    return text;
  return with_id(id, text, len);
}

static int publish_failed(struct hub *h, const char *type, size_t len, int rc) {
  if (rc == FF_ETOOBIG) {
    atomic_fetch_add(&h->oversized, 1);
    log_msg(LOG_ERROR, "realtime.oversized", "event %s of %zu bytes not sent (limit %d)", type, len,
            HUB_MAX_EVENT_BYTES);
  } else if (rc) {
    atomic_fetch_add(&h->publish_failures, 1);
  }
  return rc;
}

/* Queues "r<payload>" (realtime) or "i<payload>" (index) for the publisher
 * thread; takes item (freed when refused). */
static int outbox_put(struct hub *h, char *item) {
  int rc = FF_OK;
  pthread_mutex_lock(&h->lock);
  if (h->outbox_count == HUB_OUTBOX || h->stopping) {
    rc = FF_EBUSY;
  } else {
    h->outbox[(h->outbox_head + h->outbox_count++) % HUB_OUTBOX] = item;
    item = NULL;
    pthread_cond_signal(&h->outbox_cond);
  }
  pthread_mutex_unlock(&h->lock);
  free(item);
  return rc;
}

/* PostgreSQL: the event goes to the publisher thread as the NOTIFY payload
 * "<tenant> <site> <topic> <envelope without id>"; it comes back to every
 * instance (this one too) through the listener with its id in front. */
static int publish_remote(struct hub *h, int64_t tenant, int64_t site, unsigned topic,
                          const char *type, int64_t at, json_t *data) {
  size_t len = 0;
  char *json = envelope(0, type, tenant, site, at, data, &len);
  int rc = !json ? FF_ENOMEM : len + 32 > HUB_MAX_EVENT_BYTES ? FF_ETOOBIG : FF_OK;
  char *payload = rc ? NULL : malloc(len + 64);
  if (!rc && !payload)
    rc = FF_ENOMEM;
  if (!rc) {
    snprintf(payload, len + 64, "r%lld %lld %u %s", (long long)tenant, (long long)site, topic,
             json);
    rc = outbox_put(h, payload);
    if (rc)
      log_msg(LOG_ERROR, "realtime.outbox_full", "%d events wait for the database: %s dropped",
              HUB_OUTBOX, type);
  }
  free(json);
  return publish_failed(h, type, len, rc);
}

int hub_notify_index(struct server *s, const char *payload) {
  struct hub *h = s->hub;
  size_t len = strlen(payload);
  char *copy = h && h->remote && len <= DB_NOTIFY_MAX ? malloc(len + 2) : NULL;
  if (!copy)
    return FF_EINVAL;
  copy[0] = 'i';
  memcpy(copy + 1, payload, len + 1);
  return outbox_put(h, copy);
}

int hub_publish(struct server *s, int64_t tenant_id, int64_t site_id, const char *type,
                json_t *data) {
  struct hub *h = s->hub;
  const char *dot = type ? strchr(type, '.') : NULL;
  unsigned topic = dot ? hub_topic_parse(type, (size_t)(dot - type)) : 0;
  if (!h || !topic || !json_is_object(data) || tenant_id <= 0 || site_id < 0 ||
      strlen(type) > 40) {
    json_decref(data);
    if (h)
      atomic_fetch_add(&h->publish_failures, 1);
    log_msg(LOG_ERROR, "realtime.bad_event", "refused event type %s", type ? type : "(none)");
    return FF_EINVAL;
  }
  atomic_fetch_add(&h->published, 1);
  int64_t at = server_now_ms(s);
  if (h->remote)
    return publish_remote(h, tenant_id, site_id, topic, type, at, data);
  /* The id is taken and the event delivered under one lock, so clients
   * receive ids in increasing order. */
  pthread_mutex_lock(&h->lock);
  int64_t id = h->next_local + 1;
  size_t len = 0;
  char *json = envelope(id, type, tenant_id, site_id, at, data, &len);
  int rc = !json ? FF_ENOMEM : len > HUB_MAX_EVENT_BYTES ? FF_ETOOBIG : FF_OK;
  struct hub_event *e = rc ? NULL : event_new(id, tenant_id, site_id, topic, json, len);
  if (rc)
    free(json);
  else if (!e)
    rc = FF_ENOMEM;
  if (!rc) {
    h->next_local = id;
    deliver_locked(h, e);
  }
  pthread_mutex_unlock(&h->lock);
  return publish_failed(h, type, len, rc);
}

/* --- subscribers --------------------------------------------------------------- */

static int parse_id(const char *text, int64_t *out) {
  if (!text || !*text || strlen(text) > 19)
    return -1;
  int64_t n = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    n = n * 10 + (*p - '0');
  }
  *out = n;
  return 0;
}

/* With the hub's lock held: gives sub the events after resume_from that it
 * wants; 1 when that id is not within the history (or there is more than a
 * queue holds): the client must reload. */
static int replay_locked(struct hub *h, struct hub_sub *sub, const char *resume_from) {
  int64_t last = 0;
  int reset = 0;
  /* Within the history: floor <= last <= newest. */
  if (parse_id(resume_from, &last) || last < h->floor || last > h->last_id)
    reset = 1;
  for (int i = 0; i < h->history_count && !reset; i++) {
    struct hub_event *e = h->history[(h->history_head + i) % h->history_cap];
    if (e->id <= last || !sub_wants(&sub->filter, e))
      continue;
    if (sub->push) {
      reset = sub->push(sub->drop_arg, e) != 0;
    } else if (sub->count == sub->cap) {
      queue_clear(sub);
      reset = 1;
    } else {
      sub->queue[sub->count++] = event_ref(e);
    }
  }
  if (reset)
    atomic_fetch_add(&h->resets, 1);
  return reset;
}

struct hub_sub *hub_subscribe(struct server *s, const struct hub_filter *f,
                              const char *resume_from, int *reset, void (*on_drop)(void *arg),
                              void *arg) {
  struct hub *h = s->hub;
  *reset = 0;
  struct hub_sub *sub = calloc(1, sizeof *sub);
  if (!sub)
    return NULL;
  sub->cap = h->queue_cap;
  sub->queue = calloc((size_t)sub->cap, sizeof *sub->queue);
  if (!sub->queue) {
    free(sub);
    return NULL;
  }
  sub->hub = h;
  sub->filter = *f;
  sub->on_drop = on_drop;
  sub->drop_arg = arg;
  pthread_mutex_init(&sub->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&sub->cond, &attr);
  pthread_condattr_destroy(&attr);

  pthread_mutex_lock(&h->lock);
  if (resume_from)
    *reset = replay_locked(h, sub, resume_from);
  sub->next = h->subs;
  if (h->subs)
    h->subs->prev = sub;
  h->subs = sub;
  h->sub_count++;
  pthread_mutex_unlock(&h->lock);
  return sub;
}

struct hub_sub *hub_subscribe_push(struct server *s, const struct hub_filter *f,
                                   int (*push)(void *arg, const struct hub_event *e),
                                   void (*on_drop)(void *arg), void *arg) {
  int reset;
  struct hub_sub *sub = hub_subscribe(s, f, NULL, &reset, on_drop, arg);
  if (sub) {
    /* Set under the hub's lock: a publish may be fanning out right now. */
    pthread_mutex_lock(&s->hub->lock);
    sub->push = push;
    pthread_mutex_unlock(&s->hub->lock);
  }
  return sub;
}

int hub_resume(struct hub_sub *sub, const char *resume_from) {
  struct hub *h = sub->hub;
  pthread_mutex_lock(&h->lock);
  int reset = replay_locked(h, sub, resume_from);
  pthread_mutex_unlock(&h->lock);
  return reset;
}

void hub_unsubscribe(struct hub_sub *sub) {
  if (!sub)
    return;
  struct hub *h = sub->hub;
  pthread_mutex_lock(&h->lock);
  if (sub->prev)
    sub->prev->next = sub->next;
  else
    h->subs = sub->next;
  if (sub->next)
    sub->next->prev = sub->prev;
  h->sub_count--;
  pthread_mutex_unlock(&h->lock);
  queue_clear(sub);
  free(sub->queue);
  pthread_cond_destroy(&sub->cond);
  pthread_mutex_destroy(&sub->lock);
  free(sub);
}

void hub_set_filter(struct hub_sub *sub, unsigned topics_, const int64_t *sites, int site_count) {
  struct hub *h = sub->hub;
  pthread_mutex_lock(&h->lock);
  sub->filter.topics = topics_ & HUB_ALL_TOPICS;
  if (site_count > HUB_MAX_SITES)
    site_count = HUB_MAX_SITES;
  sub->filter.site_count = site_count;
  for (int i = 0; i < site_count; i++)
    sub->filter.sites[i] = sites[i];
  pthread_mutex_unlock(&h->lock);
}

int hub_next(struct hub_sub *sub, int timeout_ms, struct hub_event **out) {
  *out = NULL;
  pthread_mutex_lock(&sub->lock);
  if (!sub->count && !sub->dropped && !sub->woken && timeout_ms > 0) {
    struct timespec until = ff_deadline_ms(timeout_ms);
    while (!sub->count && !sub->dropped && !sub->woken)
      if (pthread_cond_timedwait(&sub->cond, &sub->lock, &until) == ETIMEDOUT)
        break;
  }
  sub->woken = 0;
  int rc = 0;
  if (sub->dropped) {
    rc = -1;
  } else if (sub->count) {
    *out = sub->queue[sub->head];
    sub->head = (sub->head + 1) % sub->cap;
    sub->count--;
    rc = 1;
  }
  pthread_mutex_unlock(&sub->lock);
  return rc;
}

void hub_wake(struct hub_sub *sub) {
  pthread_mutex_lock(&sub->lock);
  sub->woken = 1;
  pthread_cond_signal(&sub->cond);
  pthread_mutex_unlock(&sub->lock);
}

/* --- several instances (PostgreSQL) ----------------------------------------------------- */

/* The publisher thread: NOTIFYs with ids from the sequence, in write
 * transactions (serialised across instances), so id order is commit order
 * is the order every listener receives them in. */
static void *publisher_main(void *arg) {
  struct hub *h = arg;
  char *batch[HUB_PUBLISH_BATCH];
  for (;;) {
    pthread_mutex_lock(&h->lock);
    while (!h->outbox_count && !h->stopping)
      pthread_cond_wait(&h->outbox_cond, &h->lock);
    int n = 0;
    while (h->outbox_count && n < HUB_PUBLISH_BATCH) {
      batch[n++] = h->outbox[h->outbox_head];
      h->outbox_head = (h->outbox_head + 1) % HUB_OUTBOX;
      h->outbox_count--;
    }
    int stop = h->stopping && !n;
    pthread_mutex_unlock(&h->lock);
    if (stop)
      return NULL;
    struct ff_error err = {0};
    struct db_conn *c = db_acquire(h->server->db, 10000);
    int rc = c ? db_begin(c, DB_TX_WRITE, &err) : ff_fail(&err, FF_EBUSY, "no connection");
    for (int i = 0; i < n && !rc; i++)
      rc = batch[i][0] == 'r'
               ? db_exec(c,
                         "SELECT pg_notify(" DB_PG_CHANNEL_SQL(
                             "$1") ", CAST(nextval('realtime_event_id') AS TEXT) || ' ' || $2)",
                         DB_ARGS(db_text("realtime"), db_text(batch[i] + 1)), NULL, &err)
               : db_notify(c, "index", batch[i] + 1, &err);
    if (c) {
      rc = rc ? (db_rollback(c), rc) : db_commit(c, &err);
      db_release(c);
    }
    if (rc) {
      atomic_fetch_add(&h->publish_failures, (unsigned)n);
      log_msg(LOG_ERROR, "realtime.publish_failed", "%d events lost: %s", n, err.message);
    }
    for (int i = 0; i < n; i++)
      free(batch[i]);
  }
}

/* "<id> <tenant> <site> <topic> <envelope without id>" from the listener. */
static void deliver_remote(struct hub *h, const char *payload) {
  long long id, tenant, site;
  unsigned topic;
  int at = 0;
  if (sscanf(payload, "%lld %lld %lld %u %n", &id, &tenant, &site, &topic, &at) != 4 || !at ||
      payload[at] != '{') {
    log_msg(LOG_WARN, "realtime.bad_notification", "ignored a malformed notification");
    return;
  }
  size_t len = strlen(payload + at);
  char *json = with_id(id, strdup(payload + at), &len);
  struct hub_event *e = json ? event_new(id, tenant, site, topic, json, len) : NULL;
  if (!e)
    return;
  pthread_mutex_lock(&h->lock);
  deliver_locked(h, e);
  pthread_mutex_unlock(&h->lock);
}

/* The listener (re)connected: events published meanwhile were not heard.
 * The history below the sequence's current value is incomplete, and every
 * connected client is told to reload. */
static void remote_gap(struct hub *h) {
  struct db_conn *c = db_acquire(h->server->db, 10000);
  struct db_rows *rows = NULL;
  int rc = c ? db_query(c, "SELECT last_value, is_called FROM realtime_event_id", DB_NOARGS, &rows,
                        NULL)
             : FF_EBUSY;
  int64_t seq = rc ? 0 : db_rows_int(rows, 0, 0) - (db_rows_int(rows, 0, 1) ? 0 : 1);
  db_rows_free(rows);
  db_release(c);
  static const char reset[] = "{\"type\":\"stream.reset\",\"data\":{\"reason\":\"missed_events\"}}";
  pthread_mutex_lock(&h->lock);
  if (seq > h->last_id)
    h->floor = h->last_id = seq;
  else
    h->floor = h->last_id;
  if (h->connected_once) {
    struct hub_event *e = event_new(0, 0, 0, 0, strdup(reset), sizeof reset - 1);
    for (struct hub_sub *sub = h->subs; e && sub; sub = sub->next)
      sub_push(h, sub, e);
    hub_event_release(e);
  }
  pthread_mutex_unlock(&h->lock);
  log_msg(h->connected_once ? LOG_WARN : LOG_INFO, "realtime.listening",
          "listening for other instances from event %lld%s", (long long)seq,
          h->connected_once ? " (reconnected: clients reload)" : "");
}

static void on_notify(void *arg, const char *channel, const char *payload) {
  struct hub *h = arg;
  if (!channel) {
    remote_gap(h);
    auth_cache_invalidate(h->server); /* changes may have gone unheard */
    if (h->connected_once)
      recognizer_resync(h->server);
    h->connected_once = 1;
  } else if (!strcmp(channel, "realtime")) {
    deliver_remote(h, payload);
  } else if (!strcmp(channel, "index")) {
    recognizer_apply_remote(h->server, payload);
  } else if (!strcmp(channel, "auth")) {
    auth_cache_invalidate(h->server); /* an account, key or tenant changed (audit.c) */
  }
}

/* --- life cycle ------------------------------------------------------------------ */

/* Fleet changes (worker and camera status, command updates) after commit. */
static void from_fleet(struct server *s, int64_t tenant_id, int64_t site_id, const char *type,
                       const json_t *data, void *ctx) {
  (void)ctx;
  if (tenant_id > 0)
    hub_publish(s, tenant_id, site_id, type, json_deep_copy(data));
}

int hub_init(struct server *s, struct ff_error *err) {
  const struct config *cfg = &s->cfg;
  if (cfg->realtime_history < 1 || cfg->realtime_history > 1000000)
    return ff_fail(err, FF_EINVAL, "realtime-history must be 1..1000000");
  if (cfg->realtime_client_queue < 1 || cfg->realtime_client_queue > 100000)
    return ff_fail(err, FF_EINVAL, "realtime-client-queue must be 1..100000");
  if (cfg->sse_keepalive_s < 1 || cfg->sse_keepalive_s > 3600)
    return ff_fail(err, FF_EINVAL, "sse-keepalive-s must be 1..3600");
  if (cfg->sse_retry_ms < 0 || cfg->sse_retry_ms > 3600000)
    return ff_fail(err, FF_EINVAL, "sse-retry-ms must be 0..3600000");
  struct hub *h = calloc(1, sizeof *h);
  if (!h)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  h->server = s;
  h->history_cap = cfg->realtime_history;
  h->queue_cap = cfg->realtime_client_queue;
  h->history = calloc((size_t)h->history_cap, sizeof *h->history);
  if (!h->history) {
    free(h);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&h->lock, NULL);
  /* Ids of this run start above any id of an earlier run (see hub.h). */
  int64_t base = (int64_t)time(NULL) * 1000000;
  h->next_local = h->last_id = h->floor = base;
  pthread_cond_init(&h->outbox_cond, NULL);
  s->hub = h;
  fleet_set_listener(from_fleet, NULL);
  if (db_backend(s->db) != DB_POSTGRES)
    return FF_OK;
  h->remote = 1;
  h->next_local = h->last_id = h->floor = 0;
  static const char *const channels[] = {"realtime", "index", "auth"};
  int rc = db_listen(s->db, channels, 3, on_notify, h, &h->listener, err);
  if (!rc && pthread_create(&h->publisher, NULL, publisher_main, h))
    rc = ff_fail(err, FF_ENOMEM, "cannot start the realtime publisher");
  h->publisher_started = !rc;
  return rc;
}

void hub_stop(struct server *s) {
  struct hub *h = s->hub;
  if (!h)
    return;
  fleet_set_listener(NULL, NULL);
  if (h->publisher_started) { /* sends what is queued, then ends */
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    pthread_cond_signal(&h->outbox_cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->publisher, NULL);
    h->publisher_started = 0;
  }
  db_listen_stop(h->listener);
  h->listener = NULL;
}

void hub_free(struct server *s) {
  struct hub *h = s->hub;
  if (!h)
    return;
  hub_stop(s);
  for (int i = 0; i < h->outbox_count; i++)
    free(h->outbox[(h->outbox_head + i) % HUB_OUTBOX]);
  pthread_cond_destroy(&h->outbox_cond);
  for (int i = 0; i < h->history_count; i++)
    hub_event_release(h->history[(h->history_head + i) % h->history_cap]);
  free(h->history);
  pthread_mutex_destroy(&h->lock);
  free(h);
  s->hub = NULL;
}

void hub_stats_get(struct server *s, struct hub_stats *out) {
  memset(out, 0, sizeof *out);
  struct hub *h = s->hub;
  if (!h)
    return;
  out->published = atomic_load(&h->published);
  out->delivered = atomic_load(&h->delivered);
  out->dropped = atomic_load(&h->dropped);
  out->resets = atomic_load(&h->resets);
  out->oversized = atomic_load(&h->oversized);
  out->publish_failures = atomic_load(&h->publish_failures);
  pthread_mutex_lock(&h->lock);
  out->subscribers = h->sub_count;
  out->last_id = h->last_id;
  out->outbox = h->outbox_count;
  out->listener_reconnects = db_listen_reconnects(h->listener);
  pthread_mutex_unlock(&h->lock);
}
