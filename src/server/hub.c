/* hub.c — realtime events: ids, history, fan-out (see hub.h). */
#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "json_text.h"
#include "log.h"
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

struct hub {
  struct server *server;
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

/* Builds the delivered forms from the envelope; takes envelope. */
static struct hub_event *event_new(int64_t id, int64_t tenant, int64_t site, unsigned topic,
                                   json_t *envelope) {
  struct event_ref *r = calloc(1, sizeof *r);
  if (!r) {
    json_decref(envelope);
    return NULL;
  }
  atomic_store(&r->refs, 1);
  struct hub_event *e = &r->ev;
  e->id = id;
  e->tenant_id = tenant;
  e->site_id = site;
  e->topic = topic;
  e->json = json_text(envelope, &e->json_len);
  json_decref(envelope);
  if (e->json) {
    size_t cap = e->json_len + 48;
    e->sse = malloc(cap);
    if (e->sse)
      e->sse_len = (size_t)snprintf(e->sse, cap, "id: %lld\ndata: %s\n\n", (long long)id, e->json);
  }
  if (!e->json || !e->sse) {
    hub_event_release(e);
    return NULL;
  }
  return e;
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

static json_t *envelope(int64_t id, const char *type, int64_t tenant, int64_t site, int64_t at,
                        json_t *data) {
  return json_pack("{s:I,s:s,s:I,s:I,s:I,s:o}", "id", (json_int_t)id, "type", type, "tenant_id",
                   (json_int_t)tenant, "site_id", (json_int_t)site, "at", (json_int_t)at, "data",
                   data);
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
  /* The id is taken and the event delivered under one lock, so clients
   * receive ids in increasing order. */
  pthread_mutex_lock(&h->lock);
  int64_t id = h->next_local + 1;
  struct hub_event *e =
      event_new(id, tenant_id, site_id, topic, envelope(id, type, tenant_id, site_id, at, data));
  int rc = !e ? FF_ENOMEM : e->json_len > HUB_MAX_EVENT_BYTES ? FF_ETOOBIG : FF_OK;
  if (!rc) {
    h->next_local = id;
    deliver_locked(h, e);
  }
  pthread_mutex_unlock(&h->lock);
  if (rc == FF_ETOOBIG) {
    atomic_fetch_add(&h->oversized, 1);
    log_msg(LOG_ERROR, "realtime.oversized", "event %s of %zu bytes not sent (limit %d)", type,
            e->json_len, HUB_MAX_EVENT_BYTES);
    hub_event_release(e);
  } else if (rc) {
    atomic_fetch_add(&h->publish_failures, 1);
  }
  return rc;
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
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
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
  s->hub = h;
  fleet_set_listener(from_fleet, NULL);
  return FF_OK;
}

void hub_free(struct server *s) {
  struct hub *h = s->hub;
  if (!h)
    return;
  fleet_set_listener(NULL, NULL);
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
  pthread_mutex_unlock(&h->lock);
}
