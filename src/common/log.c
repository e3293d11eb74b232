#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fmt.h"

static enum log_level threshold = LOG_INFO;
static int out_fd = 2;

/* The ring of recent lines; guarded by ring_lock. A slot's buffer is kept
 * and reused for the line that replaces it (no allocation per line once
 * the ring has gone round). */
#define RING_LINES 512
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  char *text;
  size_t cap;
} ring[RING_LINES];
static unsigned ring_next;

static const char *level_names[] = {"debug", "info", "warn", "error"};

/* The batch (log_batch_start): lines waiting to be written, appended under
 * ring_lock. Whoever writes to out_fd holds write_lock, so a batch and a
 * line written at once cannot overtake each other; the batch being written
 * is the spare, which only the holder of write_lock touches. */
#define BATCH_BYTES (4 * LOG_BATCH_FLUSH_BYTES)
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t batch_cond; /* the writer thread waits on it, with ring_lock */
static char *batch, *batch_spare;
static size_t batch_len;
static int batching, batch_stopping, batch_delay_ms;
static pthread_t batch_thread;

void log_set_level(enum log_level level) {
  threshold = level;
}

void log_set_fd(int fd) {
  out_fd = fd;
}

int log_parse_level(const char *name, enum log_level *out) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, level_names[i])) {
      *out = (enum log_level)i;
      return 0;
    }
  return -1;
}

static void append(struct log_line *l, const char *s, size_t n) {
  size_t room = sizeof l->buf - 1 - l->len; /* keep one byte for the newline */
  if (n > room)
    n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static int needs_quotes(const char *v) {
  if (!*v)
    return 1;
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
      return 1;
  return 0;
}

static void append_value(struct log_line *l, const char *v) {
  if (!needs_quotes(v)) {
    append(l, v, strlen(v));
    return;
  }
  append(l, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      append(l, esc, 2);
    } else if (*p == '\n') {
      append(l, "\\n", 2);
    } else if (*p < ' ' || *p == 0x7f) {
      int n = snprintf(esc, sizeof esc, "\\x%02x", *p);
      append(l, esc, (size_t)n);
    } else {
      append(l, (const char *)p, 1); /* UTF-8 bytes pass through */
    }
  }
  append(l, "\"", 1);
}

void log_begin(struct log_line *l, enum log_level level, const char *event) {
  l->len = 0;
  l->level = level;
  l->skip = level < threshold;
  if (l->skip)
    return;
  /* "ts=YYYY-MM-DDTHH:MM:SS." formatted once a second per thread. */
  static __thread time_t stamp_second = -1;
  static __thread char stamp[40];
  static __thread size_t stamp_len;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != stamp_second) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(stamp, sizeof stamp, "ts=%04d-%02d-%02dT%02d:%02d:%02d.",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
    stamp_len = n > 0 && (size_t)n < sizeof stamp ? (size_t)n : 0;
    stamp_second = ts.tv_sec;
  }
  append(l, stamp, stamp_len);
  int ms = (int)(ts.tv_nsec / 1000000);
  char tail[5] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z',
                  ' '};
  append(l, tail, sizeof tail);
  append(l, "level=", 6);
  append(l, level_names[level], strlen(level_names[level]));
  log_str(l, "event", event);
}

void log_str(struct log_line *l, const char *key, const char *value) {
  if (l->skip)
    return;
  append(l, " ", 1);
  append(l, key, strlen(key));
  append(l, "=", 1);
  append_value(l, value ? value : "");
}

void log_int(struct log_line *l, const char *key, int64_t value) {
  char b[FMT_INT_MAX + 1];
  b[FMT_INT_MAX] = 0;
  log_str(l, key, fmt_int(b + FMT_INT_MAX, value));
}

void log_num(struct log_line *l, const char *key, double value) {
  char b[32];
  if (value >= 0 && value < 1e12) { /* "%.3f" without printf, for the usual case */
    int64_t thousandths = (int64_t)(value * 1000.0 + 0.5);
    b[31] = 0;
    char *p = b + 31;
    for (int i = 0; i < 3; i++, thousandths /= 10)
      *--p = (char)('0' + thousandths % 10);
    *--p = '.';
    log_str(l, key, fmt_int(p, thousandths));
    return;
  }
  snprintf(b, sizeof b, "%.3f", value);
  log_str(l, key, b);
}

static void write_all(const char *p, size_t n) {
  while (n) {
    ssize_t w = write(out_fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* nowhere to write: the line is lost, as with a single write */
    p += w;
    n -= (size_t)w;
  }
}

/* With write_lock held: writes the batch gathered so far. */
static void batch_write(void) {
  pthread_mutex_lock(&ring_lock);
  char *full = batch;
  size_t n = batch_len;
  batch = batch_spare;
  batch_spare = full;
  batch_len = 0;
  pthread_mutex_unlock(&ring_lock);
  write_all(full, n);
}

/* With ring_lock held: keeps the line for log_tail. */
static void ring_keep(const struct log_line *l) {
  unsigned slot = ring_next % RING_LINES;
  if (ring[slot].cap < l->len + 1) {
    size_t cap = l->len + 1 > 256 ? l->len + 1 : 256;
    char *grown = realloc(ring[slot].text, cap);
    if (!grown) /* the line is not kept; the slot keeps its old one */
      return;
    ring[slot].text = grown;
    ring[slot].cap = cap;
  }
  memcpy(ring[slot].text, l->buf, l->len);
  ring[slot].text[l->len] = 0;
  ring_next++;
}

void log_end(struct log_line *l) {
  if (l->skip)
    return;
  size_t n = l->len + 1;
  l->buf[l->len] = '\n';
  pthread_mutex_lock(&ring_lock);
  ring_keep(l);
  int batched = batching, ever = batch != NULL;
  if (batched && l->level < LOG_WARN && batch_len + n <= BATCH_BYTES) {
    size_t before = batch_len;
    memcpy(batch + batch_len, l->buf, n);
    batch_len += n;
    /* Wake the writer for a first line (it then waits batch_delay_ms) and
     * when enough has gathered. */
    if (!before || (before < LOG_BATCH_FLUSH_BYTES && batch_len >= LOG_BATCH_FLUSH_BYTES))
      pthread_cond_signal(&batch_cond);
    pthread_mutex_unlock(&ring_lock);
    return;
  }
  pthread_mutex_unlock(&ring_lock);
  if (!ever) {
    write_all(l->buf, n);
    return;
  }
  /* A warning, an error, a full batch, or any line while batching stops:
   * what was gathered first, then this. */
  pthread_mutex_lock(&write_lock);
  batch_write();
  write_all(l->buf, n);
  pthread_mutex_unlock(&write_lock);
}

static void *batch_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&ring_lock);
  while (!batch_stopping) {
    if (!batch_len) {
      pthread_cond_wait(&batch_cond, &ring_lock);
      continue;
    }
    struct timespec deadline = ff_deadline_ms(batch_delay_ms);
    while (!batch_stopping && batch_len < LOG_BATCH_FLUSH_BYTES &&
           pthread_cond_timedwait(&batch_cond, &ring_lock, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&ring_lock);
    pthread_mutex_lock(&write_lock);
    batch_write();
    pthread_mutex_unlock(&write_lock);
    pthread_mutex_lock(&ring_lock);
  }
  pthread_mutex_unlock(&ring_lock);
  return NULL;
}

int log_batch_start(int max_delay_ms) {
  if (batching || max_delay_ms <= 0)
    return 0;
  batch_delay_ms = max_delay_ms;
  if (!batch) {
    char *a = malloc(BATCH_BYTES), *b = malloc(BATCH_BYTES);
    if (!a || !b) {
      free(a);
      free(b);
      return -1; /* lines are written one by one */
    }
    pthread_mutex_lock(&ring_lock);
    batch = a;
    batch_spare = b;
    pthread_mutex_unlock(&ring_lock);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&batch_cond, &attr);
    pthread_condattr_destroy(&attr);
    atexit(log_batch_stop);
  }
  batch_stopping = 0;
  if (pthread_create(&batch_thread, NULL, batch_main, NULL))
    return -1;
  pthread_mutex_lock(&ring_lock);
  batching = 1;
  pthread_mutex_unlock(&ring_lock);
  return 0;
}

void log_batch_stop(void) {
  pthread_mutex_lock(&ring_lock);
  if (!batching) {
    pthread_mutex_unlock(&ring_lock);
    return;
  }
  batching = 0;
  batch_stopping = 1;
  pthread_cond_signal(&batch_cond);
  pthread_mutex_unlock(&ring_lock);
  pthread_join(batch_thread, NULL);
  pthread_mutex_lock(&write_lock);
  batch_write();
  pthread_mutex_unlock(&write_lock);
}

void log_msg(enum log_level level, const char *event, const char *fmt, ...) {
  struct log_line l;
  log_begin(&l, level, event);
  if (l.skip)
    return;
  char msg[LOG_LINE_MAX / 2];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_str(&l, "msg", msg);
  log_end(&l);
}

int log_tail(int max, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  pthread_mutex_lock(&ring_lock);
  unsigned have = ring_next < RING_LINES ? ring_next : RING_LINES;
  unsigned n = max < 0 ? 0 : (unsigned)max < have ? (unsigned)max : have;
  size_t total = 0;
  for (unsigned i = ring_next - n; i != ring_next; i++)
    total += strlen(ring[i % RING_LINES].text) + 1;
  char *buf = malloc(total ? total : 1);
  if (!buf) {
    pthread_mutex_unlock(&ring_lock);
    return -1;
  }
  size_t at = 0;
  for (unsigned i = ring_next - n; i != ring_next; i++) {
    size_t len = strlen(ring[i % RING_LINES].text) + 1;
    memcpy(buf + at, ring[i % RING_LINES].text, len);
    at += len;
  }
  pthread_mutex_unlock(&ring_lock);
  *out = buf;
  *out_len = total;
  return (int)n;
}
