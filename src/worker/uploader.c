#include "uploader.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "http_client.h"

struct uploader {
  struct uploader_options options;
  struct outbox *outbox;
  pthread_t thread;
  int running;
  atomic_int stopping;
  pthread_mutex_t lock; /* guards stats and the stop condition */
  pthread_cond_t changed;
  struct uploader_stats stats;
  int ceiling; /* largest batch the server took; lowered by 413 */
  /* `callback_lock` guards options.on_result/ctx and is held while the
   * callback runs, so uploader_set_result_callback(NULL) waits for it. */
  pthread_mutex_t callback_lock;
};

static const char *const outcome_names[] = {"new_visit", "visit_extended", "staff", "duplicate",
                                            "rejected"};

const char *upload_outcome_name(enum upload_outcome outcome) {
  return (unsigned)outcome < OUTCOME_COUNT ? outcome_names[outcome] : "unknown";
}

void uploader_options_default(struct uploader_options *o) {
  memset(o, 0, sizeof *o);
  o->batch_max = 50;
  o->timeout_ms = 15000;
  o->backoff_base_ms = 1000;
  o->backoff_cap_ms = 30000;
}

int uploader_new(const struct uploader_options *options, struct outbox *outbox,
                 struct uploader **out, struct ff_error *err) {
  if (!options->server_url[0])
    return ff_fail(err, FF_EINVAL, "no server URL for the uploader");
  struct uploader *up = calloc(1, sizeof *up);
  if (!up)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  up->options = *options;
  if (up->options.batch_max <= 0 || up->options.batch_max > UPLOADER_BATCH_LIMIT)
    up->options.batch_max = up->options.batch_max <= 0 ? 50 : UPLOADER_BATCH_LIMIT;
  size_t n = strlen(up->options.server_url);
  while (n > 0 && up->options.server_url[n - 1] == '/')
    up->options.server_url[--n] = 0;
  up->outbox = outbox;
  up->stats.batch_now = up->ceiling = up->options.batch_max;
  pthread_mutex_init(&up->lock, NULL);
  pthread_mutex_init(&up->callback_lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&up->changed, &attr);
  pthread_condattr_destroy(&attr);
  *out = up;
  return FF_OK;
}

static int parse_outcome(const char *s, enum upload_outcome *out) {
  for (int i = 0; i < OUTCOME_COUNT; i++)
    if (!strcmp(s, outcome_names[i])) {
      *out = (enum upload_outcome)i;
      return 0;
    }
  return -1;
}

static int optional_id(json_t *item, const char *key, int64_t *out) {
  json_t *v = json_object_get(item, key);
  *out = 0;
  if (!v || json_is_null(v))
    return 0;
  if (!json_is_integer(v) || json_integer_value(v) <= 0)
    return -1;
  *out = json_integer_value(v);
  return 0;
}

int uploader_parse_results(const char *body, size_t len, const char *const *ids, int id_count,
                           struct upload_result *results, int *count, struct ff_error *err) {
  *count = 0;
  if (len > UPLOADER_MAX_RESPONSE_BYTES)
    return ff_fail(err, FF_ETOOBIG, "answer larger than %d bytes", UPLOADER_MAX_RESPONSE_BYTES);
  json_error_t jerr;
  json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return ff_fail(err, FF_EINVAL, "answer is not JSON: %s", jerr.text);
  int rc = FF_OK;
  json_t *list = json_object_get(root, "results");
  if (!json_is_object(root) || !json_is_array(list)) {
    rc = ff_fail(err, FF_EINVAL, "answer has no results array");
    goto done;
  }
  if ((int)json_array_size(list) > id_count) {
    rc = ff_fail(err, FF_EINVAL, "answer has %zu results for %d events", json_array_size(list),
                 id_count);
    goto done;
  }
  char seen[UPLOADER_BATCH_LIMIT] = {0};
  size_t i;
  json_t *item;
  json_array_foreach(list, i, item) {
    json_t *id = json_object_get(item, "id"), *outcome = json_object_get(item, "outcome"),
           *reason = json_object_get(item, "reason");
    if (!json_is_object(item) || !json_is_string(id) || !json_is_string(outcome)) {
      rc = ff_fail(err, FF_EINVAL, "result %zu lacks a string id or outcome", i);
      goto done;
    }
    int which = -1;
    for (int k = 0; k < id_count && k < UPLOADER_BATCH_LIMIT; k++)
      if (!strcmp(ids[k], json_string_value(id))) {
        which = k;
        break;
      }
    if (which < 0 || seen[which]) {
      rc = ff_fail(err, FF_EINVAL, "result %zu: id not sent or answered twice", i);
      goto done;
    }
    seen[which] = 1;
    struct upload_result *r = &results[*count];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", ids[which]);
    if (parse_outcome(json_string_value(outcome), &r->outcome)) {
      rc = ff_fail(err, FF_EINVAL, "result %zu: unknown outcome", i);
      goto done;
    }
    if (reason && !json_is_null(reason)) {
      if (!json_is_string(reason) || json_string_length(reason) >= sizeof r->reason) {
        rc = ff_fail(err, FF_EINVAL, "result %zu: reason must be a short string", i);
        goto done;
      }
      snprintf(r->reason, sizeof r->reason, "%s", json_string_value(reason));
    }
    if (optional_id(item, "customer_id", &r->customer_id) ||
        optional_id(item, "visit_id", &r->visit_id)) {
      rc = ff_fail(err, FF_EINVAL, "result %zu: customer_id/visit_id must be positive integers", i);
      goto done;
    }
    (*count)++;
  }
done:
  json_decref(root);
  if (rc)
    *count = 0;
  return rc;
}

static void record_failure(struct uploader *up, long status, const char *message) {
  pthread_mutex_lock(&up->lock);
  up->stats.failures++;
  up->stats.last_status = status;
  snprintf(up->stats.last_error, sizeof up->stats.last_error, "%s", message);
  pthread_mutex_unlock(&up->lock);
}

/* A 413 says the body was too large: the ceiling drops for good. A 400 or
 * 422 may be one poison event: halve until it is alone, then go back up. */
static void set_batch(struct uploader *up, int n, int lower_ceiling) {
  pthread_mutex_lock(&up->lock);
  if (n < 1)
    n = 1;
  if (lower_ceiling && n < up->ceiling)
    up->ceiling = n;
  up->stats.batch_now = n > up->ceiling ? up->ceiling : n;
  pthread_mutex_unlock(&up->lock);
}

int uploader_round(struct uploader *up, int *answered, struct ff_error *err) {
  *answered = 0;
  pthread_mutex_lock(&up->lock);
  int batch_now = up->stats.batch_now;
  pthread_mutex_unlock(&up->lock);
  struct outbox_batch batch;
  int rc = outbox_peek(up->outbox, batch_now, &batch, err);
  if (rc || batch.count == 0)
    return rc;

  size_t total = 16;
  for (int i = 0; i < batch.count; i++)
    total += batch.items[i].json_len + 1;
  char *body = malloc(total);
  const char **ids = malloc(sizeof *ids * (size_t)batch.count);
  struct upload_result *results = calloc((size_t)batch.count, sizeof *results);
  struct http_response res = {0};
  if (!body || !ids || !results) {
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
    goto done;
  }
  size_t n = 0;
  memcpy(body, "{\"events\":[", 11);
  n = 11;
  for (int i = 0; i < batch.count; i++) {
    if (i)
      body[n++] = ',';
    memcpy(body + n, batch.items[i].json, batch.items[i].json_len);
    n += batch.items[i].json_len;
    ids[i] = batch.items[i].id;
  }
  memcpy(body + n, "]}", 3);
  n += 2;

  char url[600];
  snprintf(url, sizeof url, "%s/v1/worker/events", up->options.server_url);
  pthread_mutex_lock(&up->lock);
  up->stats.batches++;
  up->stats.events_sent += batch.count;
  pthread_mutex_unlock(&up->lock);
  /* Stopping (after the drain) abandons a batch in flight: its events stay
   * in the outbox for the next start, the server drops any it already has. */
  rc = http_request_cancellable("POST", url, up->options.api_key, body, n, up->options.timeout_ms,
                                UPLOADER_MAX_RESPONSE_BYTES, &up->stopping, &res, err);
  if (rc) {
    record_failure(up, 0, err ? err->message : "request failed");
    goto done;
  }
  int count = 0;
  if (res.status == 200) {
    rc = uploader_parse_results(res.body, res.len, ids, batch.count, results, &count, err);
    if (rc) {
      record_failure(up, res.status, err ? err->message : "bad answer");
      goto done;
    }
  } else if (res.status == 413 || res.status == 400 || res.status == 422) {
    if (batch.count > 1) {
      set_batch(up, batch.count / 2, res.status == 413);
      rc = ff_fail(err, FF_ETOOBIG, "server refused a batch of %d (HTTP %ld): halving", batch.count,
                   res.status);
      record_failure(up, res.status, err ? err->message : "refused");
      goto done;
    }
    /* One event the server will never take: answered as rejected. */
    memset(&results[0], 0, sizeof results[0]);
    snprintf(results[0].id, sizeof results[0].id, "%s", ids[0]);
    results[0].outcome = OUTCOME_REJECTED;
    snprintf(results[0].reason, sizeof results[0].reason, "http_%ld", res.status);
    count = 1;
  } else {
    rc = ff_fail(err, res.status == 401 || res.status == 403 ? FF_EAUTH : FF_EIO,
                 "server answered HTTP %ld", res.status);
    record_failure(up, res.status, err ? err->message : "http error");
    goto done;
  }
  const char *acked[UPLOADER_BATCH_LIMIT];
  for (int i = 0; i < count; i++)
    acked[i] = results[i].id;
  if ((rc = outbox_ack(up->outbox, acked, count, err)))
    goto done;
  *answered = count;
  pthread_mutex_lock(&up->lock);
  up->stats.answered += count;
  for (int i = 0; i < count; i++)
    up->stats.outcomes[results[i].outcome]++;
  up->stats.last_status = res.status;
  up->stats.last_error[0] = 0;
  up->stats.last_success_wall_ms = wall_ms();
  pthread_mutex_unlock(&up->lock);
  if (count == batch.count)
    set_batch(up, up->options.batch_max, 0);
  pthread_mutex_lock(&up->callback_lock);
  if (up->options.on_result)
    for (int i = 0; i < count; i++)
      up->options.on_result(up->options.ctx, &results[i]);
  pthread_mutex_unlock(&up->callback_lock);
done:
  http_response_free(&res);
  free(results);
  free(ids);
  free(body);
  outbox_batch_free(&batch);
  return rc;
}

static void wait_or_stop(struct uploader *up, int ms) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  int64_t ns = until.tv_nsec + (int64_t)(ms % 1000) * 1000000;
  until.tv_sec += ms / 1000 + ns / 1000000000;
  until.tv_nsec = ns % 1000000000;
  pthread_mutex_lock(&up->lock);
  while (!atomic_load(&up->stopping))
    if (pthread_cond_timedwait(&up->changed, &up->lock, &until) == ETIMEDOUT)
      break;
  pthread_mutex_unlock(&up->lock);
}

static void *uploader_main(void *arg) {
  struct uploader *up = arg;
  struct backoff backoff;
  backoff_init(&backoff, up->options.backoff_base_ms, up->options.backoff_cap_ms);
  while (!atomic_load(&up->stopping)) {
    if (outbox_wait(up->outbox, 1000) == 0)
      continue;
    int answered = 0;
    struct ff_error err = {0};
    int rc = uploader_round(up, &answered, &err);
    if (rc == FF_ETOOBIG) /* batch halved: retry at once */
      continue;
    if (rc || answered == 0)
      wait_or_stop(up, backoff_next_ms(&backoff));
    else
      backoff_reset(&backoff);
  }
  return NULL;
}

int uploader_start(struct uploader *up, struct ff_error *err) {
  if (pthread_create(&up->thread, NULL, uploader_main, up))
    return ff_fail(err, FF_EINTERNAL, "cannot start the uploader thread");
  pthread_setname_np(up->thread, "uploader");
  up->running = 1;
  return FF_OK;
}

int uploader_drain(struct uploader *up, int timeout_ms) {
  int64_t until = monotonic_ms() + timeout_ms;
  for (;;) {
    struct outbox_stats st;
    outbox_get_stats(up->outbox, &st);
    if (st.events == 0)
      return FF_OK;
    int64_t left = until - monotonic_ms();
    if (left <= 0)
      return FF_ETIMEOUT;
    if (!up->running) {
      int answered;
      if (uploader_round(up, &answered, NULL) || answered == 0)
        return FF_EIO;
      continue;
    }
    /* The uploader thread does the work; look again shortly. */
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
  }
}

void uploader_set_result_callback(struct uploader *up,
                                  void (*on_result)(void *ctx, const struct upload_result *r),
                                  void *ctx) {
  pthread_mutex_lock(&up->callback_lock);
  up->options.on_result = on_result;
  up->options.ctx = ctx;
  pthread_mutex_unlock(&up->callback_lock);
}

void uploader_get_stats(struct uploader *up, struct uploader_stats *out) {
  pthread_mutex_lock(&up->lock);
  *out = up->stats;
  pthread_mutex_unlock(&up->lock);
}

void uploader_free(struct uploader *up) {
  if (!up)
    return;
  if (up->running) {
    atomic_store(&up->stopping, 1);
    pthread_mutex_lock(&up->lock);
    pthread_cond_broadcast(&up->changed);
    pthread_mutex_unlock(&up->lock);
    outbox_wake(up->outbox);
    pthread_join(up->thread, NULL);
  }
  pthread_cond_destroy(&up->changed);
  pthread_mutex_destroy(&up->lock);
  pthread_mutex_destroy(&up->callback_lock);
  free(up);
}
