/* http_double.h — a small real HTTP listener for the worker's unit tests:
 * records every request and answers as told (200 with results for every
 * event, 500, hang, close, garbage, 413 above a batch size, or a fixed
 * body for GET). A test double, not the server. */
#ifndef FOOTFALL_TEST_HTTP_DOUBLE_H
#define FOOTFALL_TEST_HTTP_DOUBLE_H

#include <pthread.h>
#include <stddef.h>

enum double_mode {
  DOUBLE_OK,      /* events: results for all; GET: fixed_body */
  DOUBLE_PARTIAL, /* events: results for the first half only */
  DOUBLE_500,
  DOUBLE_HANG,
  DOUBLE_CLOSE,
  DOUBLE_GARBAGE,
  DOUBLE_413_ABOVE, /* 413 when a batch has more than limit events */
};

#define DOUBLE_MAX_REQUESTS 512
#define DOUBLE_MAX_IDS 4096

struct double_request {
  char method[8], path[128], authorization[256];
  char *body;
  size_t body_len;
};

struct http_double {
  int fd, port;
  pthread_t thread;
  volatile int stop;
  pthread_mutex_t lock; /* guards everything below */
  enum double_mode mode;
  int limit;
  const char *fixed_body; /* for GET in DOUBLE_OK */
  struct double_request requests[DOUBLE_MAX_REQUESTS];
  int request_count;
  char answered_ids[DOUBLE_MAX_IDS][37]; /* ids answered with a result */
  int answered_count;
};

int double_start(struct http_double *d);
void double_stop(struct http_double *d);
void double_set_mode(struct http_double *d, enum double_mode mode, int limit);
int double_requests(struct http_double *d);
/* How many times id was answered. */
int double_answer_count(struct http_double *d, const char *id);

#endif
