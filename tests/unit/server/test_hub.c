/* The realtime hub on its own (one SQLite instance): ids, filters, resume
 * from the bounded history, a full queue drops only its subscriber, push
 * subscribers, oversized and malformed events refused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "hub.h"
#include "server.h"

static struct server s;

static void setup(void) {
  memset(&s, 0, sizeof s);
  s.cfg.realtime_history = 8;
  s.cfg.realtime_client_queue = 4;
  s.cfg.sse_keepalive_s = 15;
  s.cfg.sse_retry_ms = 3000;
  struct db_options o = {.url = "sqlite::memory:"};
  cr_assert_eq(db_open(&o, &s.db, NULL), FF_OK);
  cr_assert_eq(hub_init(&s, NULL), FF_OK);
}

static void teardown(void) {
  hub_free(&s);
  db_close(s.db);
}

static int publish(int64_t tenant, int64_t site, const char *type, int n) {
  return hub_publish(&s, tenant, site, type, json_pack("{s:i}", "n", n));
}

static struct hub_filter filter(int64_t tenant, int64_t bound_site) {
  struct hub_filter f = {.tenant_id = tenant, .bound_site = bound_site, .topics = HUB_ALL_TOPICS};
  return f;
}

/* The next event's data.n, or -1 (nothing) / -2 (dropped). */
static int next_n(struct hub_sub *sub, int64_t *id) {
  struct hub_event *e = NULL;
  int rc = hub_next(sub, 0, &e);
  if (rc <= 0)
    return rc < 0 ? -2 : -1;
  json_t *j = json_loads(e->json, 0, NULL);
  int n = (int)json_integer_value(json_object_get(json_object_get(j, "data"), "n"));
  if (id)
    *id = e->id;
  json_decref(j);
  hub_event_release(e);
  return n;
}

static int dropped_calls;
static void on_drop(void *arg) {
  (void)arg;
  dropped_calls++;
}

TestSuite(hub, .init = setup, .fini = teardown);

Test(hub, fans_out_by_tenant_site_and_topic_with_growing_ids) {
  struct hub_filter all = filter(1, 0), site2 = filter(1, 2), other = filter(9, 0);
  struct hub_filter jobs = filter(1, 0);
  jobs.topics = HUB_JOB;
  int reset;
  struct hub_sub *a = hub_subscribe(&s, &all, NULL, &reset, NULL, NULL);
  struct hub_sub *b = hub_subscribe(&s, &site2, NULL, &reset, NULL, NULL);
  struct hub_sub *c = hub_subscribe(&s, &other, NULL, &reset, NULL, NULL);
  struct hub_sub *d = hub_subscribe(&s, &jobs, NULL, &reset, NULL, NULL);
  cr_assert_eq(publish(1, 2, "visit.new", 1), FF_OK);
  cr_assert_eq(publish(1, 3, "camera.status", 2), FF_OK);
  cr_assert_eq(publish(1, 0, "job.progress", 3), FF_OK); /* tenant-wide */
  int64_t id1 = 0, id2 = 0, id3 = 0;
  cr_assert_eq(next_n(a, &id1), 1);
  cr_assert_eq(next_n(a, &id2), 2);
  cr_assert_eq(next_n(a, &id3), 3);
  cr_assert(id1 < id2 && id2 < id3);
  cr_assert_eq(next_n(a, NULL), -1);
  cr_assert_eq(next_n(b, NULL), 1, "a site-bound subscriber gets its site");
  cr_assert_eq(next_n(b, NULL), -1, "not another site's, nor tenant-wide events");
  cr_assert_eq(next_n(c, NULL), -1, "another tenant gets nothing");
  cr_assert_eq(next_n(d, NULL), 3, "topics narrow");
  cr_assert_eq(next_n(d, NULL), -1);
  hub_unsubscribe(a);
  hub_unsubscribe(b);
  hub_unsubscribe(c);
  hub_unsubscribe(d);
}

Test(hub, resumes_from_the_history_and_resets_when_too_old) {
  int64_t ids[12];
  int reset;
  struct hub_filter f = filter(1, 0);
  struct hub_sub *live = hub_subscribe(&s, &f, NULL, &reset, NULL, NULL);
  for (int i = 0; i < 3; i++) {
    publish(1, 1, "visit.new", i);
    cr_assert_eq(next_n(live, &ids[i]), i);
  }
  char last[24];
  snprintf(last, sizeof last, "%lld", (long long)ids[0]);
  struct hub_sub *r = hub_subscribe(&s, &f, last, &reset, NULL, NULL);
  cr_assert_eq(reset, 0);
  cr_assert_eq(next_n(r, NULL), 1);
  cr_assert_eq(next_n(r, NULL), 2);
  cr_assert_eq(next_n(r, NULL), -1);
  hub_unsubscribe(r);
  /* Beyond the history of 8: the first ids fall out. */
  for (int i = 3; i < 12; i++) {
    publish(1, 1, "visit.new", i);
    cr_assert_eq(next_n(live, &ids[i]), i);
  }
  r = hub_subscribe(&s, &f, last, &reset, NULL, NULL);
  cr_assert_eq(reset, 1, "evicted: reload");
  cr_assert_eq(next_n(r, NULL), -1, "nothing replayed after a reset");
  hub_unsubscribe(r);
  /* More to catch up on than a queue (4) holds: reset too. */
  snprintf(last, sizeof last, "%lld", (long long)ids[5]);
  r = hub_subscribe(&s, &f, last, &reset, NULL, NULL);
  cr_assert_eq(reset, 1);
  hub_unsubscribe(r);
  snprintf(last, sizeof last, "%lld", (long long)ids[9]);
  r = hub_subscribe(&s, &f, last, &reset, NULL, NULL);
  cr_assert_eq(reset, 0);
  cr_assert_eq(next_n(r, NULL), 10);
  cr_assert_eq(next_n(r, NULL), 11);
  hub_unsubscribe(r);
  const char *bad[] = {"x", "-1", "99999999999999999999"};
  for (int i = 0; i < 3; i++) {
    r = hub_subscribe(&s, &f, bad[i], &reset, NULL, NULL);
    cr_assert_eq(reset, 1, "%s", bad[i]);
    hub_unsubscribe(r);
  }
  hub_unsubscribe(live);
}

Test(hub, a_full_queue_drops_that_subscriber_only) {
  struct hub_filter f = filter(1, 0);
  int reset;
  dropped_calls = 0;
  struct hub_sub *slow = hub_subscribe(&s, &f, NULL, &reset, on_drop, NULL);
  struct hub_sub *fast = hub_subscribe(&s, &f, NULL, &reset, on_drop, NULL);
  for (int i = 0; i < 10; i++) {
    publish(1, 1, "visit.new", i);
    cr_assert_eq(next_n(fast, NULL), i);
  }
  cr_assert_eq(dropped_calls, 1);
  cr_assert_eq(next_n(slow, NULL), -2, "dropped, its queue freed");
  struct hub_stats st;
  hub_stats_get(&s, &st);
  cr_assert_eq(st.dropped, 1);
  cr_assert_eq(st.subscribers, 2, "until the connection goes away");
  hub_unsubscribe(slow);
  hub_unsubscribe(fast);
}

static int pushed[16], push_count, refuse_after = 1000;
static int push(void *arg, const struct hub_event *e) {
  (void)arg;
  if (push_count >= refuse_after)
    return -1;
  json_t *j = json_loads(e->json, 0, NULL);
  pushed[push_count++] = (int)json_integer_value(json_object_get(json_object_get(j, "data"), "n"));
  json_decref(j);
  return 0;
}

Test(hub, push_subscribers_follow_their_filter_and_are_dropped_when_they_refuse) {
  struct hub_filter f = filter(1, 0);
  f.topics = 0;
  push_count = 0;
  refuse_after = 3;
  dropped_calls = 0;
  struct hub_sub *p = hub_subscribe_push(&s, &f, push, on_drop, NULL);
  publish(1, 1, "visit.new", 0);
  cr_assert_eq(push_count, 0, "no topics yet");
  int64_t site = 2;
  hub_set_filter(p, HUB_VISIT, &site, 1);
  publish(1, 1, "visit.new", 1);
  publish(1, 2, "visit.new", 2);
  publish(1, 2, "camera.status", 3);
  cr_assert_eq(push_count, 1);
  cr_assert_eq(pushed[0], 2);
  publish(1, 2, "visit.new", 4);
  publish(1, 2, "visit.new", 5);
  publish(1, 2, "visit.new", 6);
  cr_assert_eq(push_count, 3);
  cr_assert_eq(dropped_calls, 1, "the push that was refused dropped it");
  publish(1, 2, "visit.new", 7);
  cr_assert_eq(push_count, 3, "nothing after the drop");
  hub_unsubscribe(p);
}

Test(hub, refuses_bad_and_oversized_events) {
  cr_assert_eq(publish(1, 0, "weather.report", 1), FF_EINVAL);
  cr_assert_eq(publish(0, 0, "visit.new", 1), FF_EINVAL);
  cr_assert_eq(publish(1, -1, "visit.new", 1), FF_EINVAL);
  cr_assert_eq(hub_publish(&s, 1, 0, "visit.new", json_string("not an object")), FF_EINVAL);
  char *big = malloc(HUB_MAX_EVENT_BYTES + 1);
  memset(big, 'x', HUB_MAX_EVENT_BYTES);
  big[HUB_MAX_EVENT_BYTES] = 0;
  cr_assert_eq(hub_publish(&s, 1, 0, "visit.new", json_pack("{s:s}", "blob", big)), FF_ETOOBIG);
  free(big);
  struct hub_stats st;
  hub_stats_get(&s, &st);
  cr_assert_eq(st.oversized, 1);
  cr_assert_eq(st.publish_failures, 4);
}
