/* log.h — structured logs: one line per event, logfmt (key=value), to stderr.
 *
 *   ts=2026-11-30T05:17:27.123Z level=info event=http.request method=GET path=/v1/sites status=200
 *
 * Every line has ts, level and event; values that need it are quoted and
 * escaped, so any line parses with a logfmt reader. Two ways to write one:
 * log_msg() for a line with a free-text msg, or log_begin/log_str/.../log_end
 * for structured fields. A line is built in a bounded buffer on the stack and
 * written whole (one write(2), or with a batch: log_batch_start), so lines
 * from threads never interleave.
 * Recent lines are also kept in a ring buffer (log_tail) for diagnostics.
 */
#ifndef FOOTFALL_LOG_H
#define FOOTFALL_LOG_H

#include <stdint.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

#define LOG_LINE_MAX 2048

struct log_line {
  char buf[LOG_LINE_MAX];
  size_t len;
  int skip; /* below the threshold: fields are ignored */
  enum log_level level;
};

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
/* Where lines go (default: stderr's fd 2). */
void log_set_fd(int fd);

void log_begin(struct log_line *l, enum log_level level, const char *event);
void log_str(struct log_line *l, const char *key, const char *value);
void log_int(struct log_line *l, const char *key, int64_t value);
void log_num(struct log_line *l, const char *key, double value);
void log_end(struct log_line *l);

void log_msg(enum log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Batched writing, for a busy server: from log_batch_start() on, debug and
 * info lines are gathered in memory and written together by a thread of
 * their own, at most max_delay_ms after they were logged (sooner when
 * LOG_BATCH_FLUSH_BYTES have gathered), instead of a write(2) each. A warning
 * or an error is never held back: it is written at once, after the lines
 * gathered before it, so the order of lines is kept. log_batch_stop() (also
 * run at exit) writes what is gathered and returns to a write per line. */
#define LOG_BATCH_FLUSH_BYTES (64 * 1024)
int log_batch_start(int max_delay_ms);
void log_batch_stop(void);

/* Copies up to max of the most recent lines (oldest first) into a malloc'd
 * NUL-separated buffer; returns the number of lines. Caller frees *out. */
int log_tail(int max, char **out, size_t *out_len);

#endif
