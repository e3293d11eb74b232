/* The uploader against a real HTTP listener (a test double): exact event
 * schema, batches, every failure mode of the server, strict answers, and a
 * server outage during continuous upload -> every event answered once. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "event.h"
#include "harness.h"
#include "http_double.h"
#include "outbox.h"
#include "uploader.h"

static char dir[64], path[128];
static struct http_double server;
static struct outbox *ob;

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/footfall-upl-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/outbox.db", dir);
  struct outbox_limits lim = {0};
  cr_assert_eq(outbox_open(path, &lim, &ob, NULL), FF_OK);
  cr_assert_eq(double_start(&server), 0);
}

static void teardown(void) {
  double_stop(&server);
  outbox_close(ob);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(uploader, .init = setup, .fini = teardown);

static void options(struct uploader_options *o) {
  uploader_options_default(o);
  snprintf(o->server_url, sizeof o->server_url, "http://127.0.0.1:%d/", server.port);
  snprintf(o->api_key, sizeof o->api_key, "ffw_test_key");
  o->timeout_ms = 400;
  o->backoff_base_ms = 10;
  o->backoff_cap_ms = 80;
}

static void push_events(int n, char (*ids)[OUTBOX_ID_SIZE]) {
  static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9};
  for (int i = 0; i < n; i++) {
    struct worker_event e = {0};
    outbox_new_id(e.id);
    e.camera_id = 3;
    e.captured_ms = 1764483123045LL + i;
    for (int k = 0; k < EVENT_DESCRIPTOR_SIZE; k++)
      e.descriptor[k] = (float)(k - 64) / 200.0f;
    e.score = 0.93;
    e.quality = 0.71;
    e.box_x = 100.5;
    e.box_y = 50;
    e.box_width = 80;
    e.box_height = 96;
    e.age = 31.4;
    e.is_male = i % 2;
    e.gender_probability = 0.88;
    e.staff_id = i % 3 == 0 ? 12 : 0;
    e.crop_jpeg = jpeg;
    e.crop_jpeg_size = sizeof jpeg;
    char *json;
    size_t len;
    struct ff_error err = {0};
    cr_assert_eq(event_to_json(&e, &json, &len, &err), FF_OK, "%s", err.message);
    cr_assert_eq(outbox_push(ob, e.id, wall_ms(), json, len, &err), FF_OK, "%s", err.message);
    free(json);
    if (ids)
      snprintf(ids[i], OUTBOX_ID_SIZE, "%s", e.id);
  }
}

static int64_t queued(void) {
  struct outbox_stats st;
  outbox_get_stats(ob, &st);
  return st.events;
}

Test(uploader, sends_batches_in_the_exact_schema) {
  static char ids[120][OUTBOX_ID_SIZE];
  push_events(120, ids);
  struct uploader_options o;
  options(&o);
  struct uploader *up;
  cr_assert_eq(uploader_new(&o, ob, &up, NULL), FF_OK);
  int answered, rounds = 0;
  struct ff_error err = {0};
  while (queued() > 0 && rounds < 10) {
    cr_assert_eq(uploader_round(up, &answered, &err), FF_OK, "%s", err.message);
    rounds++;
  }
  cr_assert_eq(rounds, 3, "120 events in batches of 50");
  cr_assert_eq(double_requests(&server), 3);
  for (int i = 0; i < 120; i++)
    cr_assert_eq(double_answer_count(&server, ids[i]), 1);
  struct double_request *r = &server.requests[0];
  cr_assert_str_eq(r->method, "POST");
  cr_assert_str_eq(r->path, "/v1/worker/events");
  cr_assert_str_eq(r->authorization, "Bearer ffw_test_key");

  json_error_t jerr;
  json_t *root = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
  cr_assert_not_null(root, "%s", jerr.text);
  cr_assert_eq(json_object_size(root), 1);
  json_t *events = json_object_get(root, "events");
  cr_assert_eq(json_array_size(events), 50);
  json_t *e = json_array_get(events, 0);
  const char *keys[] = {"id",       "camera_id", "captured_at", "descriptor", "score",
                        "quality",  "box",       "age",         "gender",     "gender_probability",
                        "staff_id", "crop_jpeg"};
  cr_assert_eq(json_object_size(e), 12, "unexpected fields");
  for (size_t i = 0; i < 12; i++)
    cr_assert_not_null(json_object_get(e, keys[i]), "missing %s", keys[i]);
  cr_assert_str_eq(json_string_value(json_object_get(e, "id")), ids[0]);
  cr_assert_eq(json_integer_value(json_object_get(e, "camera_id")), 3);
  cr_assert_str_eq(json_string_value(json_object_get(e, "captured_at")),
                   "2025-11-30T06:12:03.045Z");
  json_t *d = json_object_get(e, "descriptor");
  cr_assert_eq(json_array_size(d), 128);
  cr_assert_float_eq(json_number_value(json_array_get(d, 0)), -0.32, 1e-6);
  json_t *box = json_object_get(e, "box");
  cr_assert_float_eq(json_number_value(json_object_get(box, "x")), 100.5, 1e-9);
  cr_assert_float_eq(json_number_value(json_object_get(box, "height")), 96, 1e-9);
  cr_assert_str_eq(json_string_value(json_object_get(e, "gender")), "female");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(events, 1), "gender")), "male");
  cr_assert_eq(json_integer_value(json_object_get(e, "staff_id")), 12);
  cr_assert(json_is_null(json_object_get(json_array_get(events, 1), "staff_id")));
  cr_assert_str_eq(json_string_value(json_object_get(e, "crop_jpeg")), "/9j/4AECA//Z");
  cr_assert_float_eq(json_number_value(json_object_get(e, "age")), 31.4, 1e-9);
  json_decref(root);
  struct uploader_stats st;
  uploader_get_stats(up, &st);
  cr_assert_eq(st.answered, 120);
  cr_assert_eq(st.outcomes[OUTCOME_NEW_VISIT], 120);
  uploader_free(up);
}

Test(uploader, failures_delete_nothing) {
  push_events(7, NULL);
  struct uploader_options o;
  options(&o);
  struct uploader *up;
  cr_assert_eq(uploader_new(&o, ob, &up, NULL), FF_OK);
  int answered;
  struct ff_error err = {0};
  const enum double_mode modes[] = {DOUBLE_500, DOUBLE_HANG, DOUBLE_CLOSE, DOUBLE_GARBAGE};
  const int expect[] = {FF_EIO, FF_ETIMEOUT, FF_EIO, FF_EINVAL};
  for (int i = 0; i < 4; i++) {
    double_set_mode(&server, modes[i], 0);
    int64_t t0 = test_now_ms();
    int rc = uploader_round(up, &answered, &err);
    cr_assert_eq(rc, expect[i], "mode %d: %d (%s)", i, rc, err.message);
    cr_assert_eq(answered, 0);
    cr_assert_eq(queued(), 7, "mode %d deleted events", i);
    cr_assert_lt(test_now_ms() - t0, 3000, "mode %d was not bounded by the timeout", i);
  }
  double_set_mode(&server, DOUBLE_PARTIAL, 0);
  cr_assert_eq(uploader_round(up, &answered, &err), FF_OK);
  cr_assert_eq(answered, 3);
  cr_assert_eq(queued(), 4, "only answered events leave");
  double_set_mode(&server, DOUBLE_OK, 0);
  cr_assert_eq(uploader_round(up, &answered, &err), FF_OK);
  cr_assert_eq(queued(), 0);
  struct uploader_stats st;
  uploader_get_stats(up, &st);
  cr_assert_eq(st.failures, 4);
  uploader_free(up);
}

Test(uploader, too_big_halves_the_batch) {
  push_events(40, NULL);
  struct uploader_options o;
  options(&o);
  struct uploader *up;
  cr_assert_eq(uploader_new(&o, ob, &up, NULL), FF_OK);
  double_set_mode(&server, DOUBLE_413_ABOVE, 12);
  int answered, rounds = 0;
  while (queued() > 0 && rounds++ < 20)
    uploader_round(up, &answered, NULL);
  cr_assert_eq(queued(), 0);
  struct uploader_stats st;
  uploader_get_stats(up, &st);
  /* 40 -> 20 -> 10 (two refusals), then 10 per batch: the server's limit
   * is remembered, not probed again after every success. */
  cr_assert_eq(st.failures, 2);
  cr_assert_eq(st.answered, 40);
  cr_assert_eq(st.batch_now, 10);
  uploader_free(up);
}

Test(uploader, strict_answers) {
  const char *ids[] = {"11111111-1111-4111-8111-111111111111",
                       "22222222-2222-4222-8222-222222222222"};
  struct upload_result r[2];
  int n;
  struct ff_error err = {0};
  const char *good = "{\"results\":[{\"id\":\"22222222-2222-4222-8222-222222222222\",\"outcome\":"
                     "\"staff\",\"reason\":null},{\"id\":\"11111111-1111-4111-8111-111111111111\","
                     "\"outcome\":\"rejected\",\"reason\":\"too_small\",\"customer_id\":null}],"
                     "\"ignored\":1}";
  cr_assert_eq(uploader_parse_results(good, strlen(good), ids, 2, r, &n, &err), FF_OK, "%s",
               err.message);
  cr_assert_eq(n, 2);
  cr_assert_eq(r[0].outcome, OUTCOME_STAFF);
  cr_assert_str_eq(r[1].reason, "too_small");
  const char *bad[] = {
      "",
      "[]",
      "{\"results\":{}}",
      "{\"results\":[{\"id\":\"nope\",\"outcome\":\"staff\"}]}",
      "{\"results\":[{\"id\":\"11111111-1111-4111-8111-111111111111\",\"outcome\":\"maybe\"}]}",
      "{\"results\":[{\"id\":\"11111111-1111-4111-8111-111111111111\",\"outcome\":\"staff\"},"
      "{\"id\":\"11111111-1111-4111-8111-111111111111\",\"outcome\":\"staff\"}]}",
      "{\"results\":[{\"id\":1,\"outcome\":\"staff\"}]}",
      "{\"results\":[{\"id\":\"11111111-1111-4111-8111-111111111111\",\"outcome\":\"staff\","
      "\"customer_id\":\"7\"}]}",
      "{\"results\":[{\"id\":\"11111111-1111-4111-8111-111111111111\",\"outcome\":\"staff\","
      "\"customer_id\":-7}]}",
      "{\"results\":[1,2,3]}",
      "{\"results\":[{\"id\":\"11111111-1111-4111-8111-111111111111\",\"outcome\":\"staff\"}],"
      "\"results\":[]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = uploader_parse_results(bad[i], strlen(bad[i]), ids, 2, r, &n, &err);
    cr_assert_eq(rc, FF_EINVAL, "accepted bad answer %zu: %s", i, bad[i]);
    cr_assert_eq(n, 0);
  }
}

struct progress {
  struct uploader *up;
  int64_t failures;
};
static int failed_enough(void *arg) {
  struct progress *p = arg;
  struct uploader_stats st;
  uploader_get_stats(p->up, &st);
  return st.failures >= p->failures;
}

Test(uploader, server_outage_then_every_event_exactly_once) {
  static char ids[200][OUTBOX_ID_SIZE];
  struct uploader_options o;
  options(&o);
  struct uploader *up;
  cr_assert_eq(uploader_new(&o, ob, &up, NULL), FF_OK);
  cr_assert_eq(uploader_start(up, NULL), FF_OK);
  double_set_mode(&server, DOUBLE_500, 0);
  push_events(100, ids);
  struct progress p = {up, 3};
  cr_assert(wait_until(failed_enough, &p, 5000), "no retries during the outage");
  cr_assert_eq(queued(), 100);
  double_set_mode(&server, DOUBLE_HANG, 0);
  p.failures += 2;
  cr_assert(wait_until(failed_enough, &p, 5000));
  double_set_mode(&server, DOUBLE_OK, 0);
  push_events(100, ids + 100); /* while it recovers */
  cr_assert_eq(uploader_drain(up, 10000), FF_OK, "outbox not drained");
  for (int i = 0; i < 200; i++)
    cr_assert_eq(double_answer_count(&server, ids[i]), 1, "event %d answered %d times", i,
                 double_answer_count(&server, ids[i]));
  uploader_free(up);
}
