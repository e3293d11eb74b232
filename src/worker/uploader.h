/* uploader.h — sends the outbox to the server, one batch at a time.
 *
 * A batch is POST SERVER/v1/worker/events with {"events":[...]} (at most
 * batch_max, default 50, never more than 100) and the worker's API key as
 * Bearer. The answer {"results":[{"id","outcome",...}]} is parsed strictly;
 * every event the server answered for (any outcome, "duplicate" and
 * "rejected" included) is deleted from the outbox. Nothing is deleted on a
 * network error, a timeout, a 5xx, 401/403/408/429 or an answer that does
 * not parse: those are retried after a capped exponential backoff with
 * jitter. A 413 (or a 400/422 without results) halves the batch until one
 * event is isolated; a single event the server refuses that way is
 * answered ("rejected") and deleted, so one poison event cannot block the
 * queue. An event whose id the answer leaves out stays queued.
 *
 * Thread: uploader_start runs one thread ("uploader"); uploader_round is the
 * same step, synchronous, for tests and for draining.
 */
#ifndef FOOTFALL_WORKER_UPLOADER_H
#define FOOTFALL_WORKER_UPLOADER_H

#include <stdint.h>

#include "outbox.h"
#include "status.h"

#define UPLOADER_BATCH_LIMIT 100
#define UPLOADER_MAX_RESPONSE_BYTES (1024 * 1024)

enum upload_outcome {
  OUTCOME_NEW_VISIT,
  OUTCOME_VISIT_EXTENDED,
  OUTCOME_STAFF,
  OUTCOME_DUPLICATE,
  OUTCOME_REJECTED,
  OUTCOME_COUNT
};

struct upload_result {
  char id[OUTBOX_ID_SIZE];
  enum upload_outcome outcome;
  char reason[128];
  int64_t customer_id, visit_id; /* 0 when absent */
};

struct uploader_options {
  char server_url[512]; /* e.g. http://127.0.0.1:8080 (no trailing /v1) */
  char api_key[256];
  int batch_max;
  int timeout_ms;
  int backoff_base_ms, backoff_cap_ms;
  /* Called (from the uploader's thread) for every answered event. */
  void (*on_result)(void *ctx, const struct upload_result *result);
  void *ctx;
};

void uploader_options_default(struct uploader_options *o);

struct uploader_stats {
  int64_t batches, events_sent, answered;
  int64_t outcomes[OUTCOME_COUNT];
  int64_t failures; /* rounds that answered nothing */
  long last_status; /* HTTP status of the last answer, 0 = none */
  char last_error[256];
  int64_t last_success_wall_ms;
  int batch_now; /* current batch size (halved after 413) */
};

struct uploader;

int uploader_new(const struct uploader_options *options, struct outbox *outbox,
                 struct uploader **out, struct ff_error *err);
void uploader_free(struct uploader *up); /* stops the thread if running */

/* Sends one batch if the outbox has events. *answered = events deleted.
 * FF_OK when the server answered; an error when the round must be retried. */
int uploader_round(struct uploader *up, int *answered, struct ff_error *err);

int uploader_start(struct uploader *up, struct ff_error *err);
/* Waits until the outbox is empty or timeout_ms passes (FF_ETIMEOUT). */
int uploader_drain(struct uploader *up, int timeout_ms);
void uploader_get_stats(struct uploader *up, struct uploader_stats *out);
/* Replaces the result callback; when it returns, the old one is not running
 * and will not run again (so its context may be freed). */
void uploader_set_result_callback(struct uploader *up,
                                  void (*on_result)(void *ctx, const struct upload_result *r),
                                  void *ctx);

const char *upload_outcome_name(enum upload_outcome outcome);

/* Parses an events answer against the ids that were sent. Results are
 * written in answer order; *count = how many. FF_EINVAL (with a message) for
 * anything malformed: not an object, no results array, an unknown or
 * repeated id, an unknown outcome, wrong types, oversize strings. */
int uploader_parse_results(const char *body, size_t len, const char *const *ids, int id_count,
                           struct upload_result *results, int *count, struct ff_error *err);

#endif
