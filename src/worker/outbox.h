/* outbox.h — the durable queue of events waiting for the server.
 *
 * One SQLite file (WAL, synchronous=FULL) in the worker's state folder.
 * outbox_push returns only after the event is on disk, so an event the
 * pipeline handed over survives kill -9 and power loss. Events leave only by
 * outbox_ack (the server answered for them, whatever the outcome) or by the
 * bounds: past max_events, max_bytes or max_age_ms the oldest are dropped
 * and counted (the count is stored, so it survives restarts too).
 *
 * Each event is kept as its final JSON object text (see event.h), with its
 * id (a UUIDv4 made at push time by outbox_new_id) as the key, so a resend
 * after a crash between the server's answer and the ack is harmless: the
 * server answers "duplicate".
 *
 * Threads: all functions may be called from any thread (one lock).
 */
#ifndef FOOTFALL_WORKER_OUTBOX_H
#define FOOTFALL_WORKER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define OUTBOX_ID_SIZE 37 /* 36 characters + NUL */

struct outbox_limits {
  int64_t max_events; /* 0 = unbounded */
  int64_t max_bytes;  /* of event texts; 0 = unbounded */
  int64_t max_age_ms; /* 0 = unbounded */
};

struct outbox_item {
  int64_t seq; /* push order */
  char id[OUTBOX_ID_SIZE];
  int64_t created_ms;
  char *json; /* the event object text, NUL-terminated */
  size_t json_len;
};

struct outbox_batch {
  struct outbox_item *items;
  int count;
};

struct outbox_stats {
  int64_t events, bytes;
  int64_t oldest_ms; /* created_ms of the oldest, 0 when empty */
  int64_t pushed;    /* since open */
  int64_t acked;     /* since open */
  int64_t dropped;   /* ever (stored) */
};

struct outbox;

int outbox_open(const char *path, const struct outbox_limits *limits, struct outbox **out,
                struct ff_error *err);
void outbox_close(struct outbox *ob);

/* A random UUIDv4 in canonical text form. */
void outbox_new_id(char id[OUTBOX_ID_SIZE]);

/* Stores one event durably, then enforces the bounds. FF_ECONFLICT when the
 * id is already queued; FF_EDB/FF_EIO when the disk refuses (full disk). */
int outbox_push(struct outbox *ob, const char *id, int64_t created_ms, const char *json,
                size_t json_len, struct ff_error *err);

/* The oldest up to max events (not removed). Free with outbox_batch_free. */
int outbox_peek(struct outbox *ob, int max, struct outbox_batch *out, struct ff_error *err);
void outbox_batch_free(struct outbox_batch *batch);

/* Deletes these ids (unknown ids are ignored), durably. */
int outbox_ack(struct outbox *ob, const char *const *ids, int count, struct ff_error *err);

/* Drops events older than max_age_ms now (push does it too). */
int outbox_expire(struct outbox *ob, int64_t now_ms, struct ff_error *err);

void outbox_get_stats(struct outbox *ob, struct outbox_stats *out);
/* Waits until the outbox holds at least one event, stop is called, or
 * timeout_ms passes. Returns the number of events. */
int64_t outbox_wait(struct outbox *ob, int timeout_ms);
/* Wakes every outbox_wait (shutdown). */
void outbox_wake(struct outbox *ob);

#endif
