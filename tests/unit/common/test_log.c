#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "status.h"

static char captured[8192];

static void capture(void (*emit)(void)) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  log_set_fd(fds[1]);
  emit();
  log_set_fd(2);
  close(fds[1]);
  ssize_t n = read(fds[0], captured, sizeof captured - 1);
  captured[n > 0 ? n : 0] = 0;
  close(fds[0]);
}

static void emit_fields(void) {
  struct log_line l;
  log_begin(&l, LOG_INFO, "test.event");
  log_str(&l, "plain", "value");
  log_str(&l, "spaced", "two words");
  log_str(&l, "quoted", "say \"hi\"\nnext");
  log_int(&l, "n", -42);
  log_int(&l, "min", INT64_MIN);
  log_num(&l, "ms", 12.3456);
  log_num(&l, "zero", 0);
  log_num(&l, "neg", -1.5);
  log_num(&l, "big", 1e13);
  log_end(&l);
}

Test(log, logfmt_fields_are_quoted_and_escaped) {
  capture(emit_fields);
  cr_assert(strstr(captured, " level=info event=test.event plain=value"), "%s", captured);
  cr_assert(strstr(captured, " spaced=\"two words\""), "%s", captured);
  cr_assert(strstr(captured, " quoted=\"say \\\"hi\\\"\\nnext\""), "%s", captured);
  cr_assert(strstr(captured, " n=-42 min=-9223372036854775808 ms=12.346 zero=0.000 neg=-1.500 "
                            "big=10000000000000.000\n"),
            "%s", captured);
  /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
  cr_assert_eq(strspn(captured, "ts=0123456789-T:."), 26, "%s", captured);
  cr_assert_eq(captured[26], 'Z', "%s", captured);
  cr_assert_eq(strchr(captured, '\n'), captured + strlen(captured) - 1, "one line");
}

static void emit_debug(void) {
  log_msg(LOG_DEBUG, "test.hidden", "not shown");
}

Test(log, below_threshold_is_silent) {
  log_set_level(LOG_INFO);
  capture(emit_debug);
  cr_assert_str_eq(captured, "");
}

static void emit_long(void) {
  char big[LOG_LINE_MAX * 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  log_msg(LOG_WARN, "test.long", "%s", big);
}

Test(log, long_lines_are_bounded) {
  capture(emit_long);
  cr_assert_leq(strlen(captured), LOG_LINE_MAX);
  cr_assert_eq(captured[strlen(captured) - 1], '\n');
}

/* Slots are reused once the ring has gone round: lines of any length, in
 * order, each whole. */
Test(log, tail_after_the_ring_wraps) {
  log_set_fd(open("/dev/null", 1));
  char pad[600];
  for (int i = 0; i < 1500; i++) {
    int n = i % 3 == 0 ? 500 : 5;
    memset(pad, 'p', (size_t)n);
    pad[n] = 0;
    log_msg(LOG_INFO, "test.wrap", "line %d %s", i, pad);
  }
  char *buf;
  size_t len;
  int n = log_tail(3, &buf, &len);
  cr_assert_eq(n, 3);
  const char *line = buf;
  for (int i = 1497; i < 1500; i++) {
    char want[32];
    snprintf(want, sizeof want, "\"line %d p", i);
    cr_assert(strstr(line, want), "%s", line);
    cr_assert_eq(strlen(line) > 500, i % 3 == 0, "%s", line);
    line += strlen(line) + 1;
  }
  free(buf);
  log_set_fd(2);
}

Test(log, tail_keeps_recent_lines) {
  log_set_fd(open("/dev/null", 1));
  for (int i = 0; i < 3; i++)
    log_msg(LOG_INFO, "test.tail", "line %d", i);
  char *buf;
  size_t len;
  int n = log_tail(2, &buf, &len);
  cr_assert_eq(n, 2);
  cr_assert(strstr(buf, "line 1"));
  cr_assert(strstr(buf + strlen(buf) + 1, "line 2"));
  free(buf);
  log_set_fd(2);
}

/* --- batched writing ------------------------------------------------------- */

static char *read_file_text(int fd, size_t *len) {
  off_t size = lseek(fd, 0, SEEK_END);
  char *text = malloc((size_t)size + 1);
  cr_assert_not_null(text);
  cr_assert_eq(pread(fd, text, (size_t)size, 0), size);
  text[size] = 0;
  *len = (size_t)size;
  return text;
}

static int temp_log(void) {
  char path[] = "/tmp/footfall-log-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  unlink(path);
  return fd;
}

/* Info lines wait; a warning takes them out first, in order; the rest are
 * written within a moment, and all of it by log_batch_stop. */
Test(log, batches_keep_order_and_warnings_are_not_held) {
  int fd = temp_log();
  log_set_fd(fd);
  cr_assert_eq(log_batch_start(50), 0);
  log_msg(LOG_INFO, "test.one", "1");
  log_msg(LOG_INFO, "test.two", "2");
  log_msg(LOG_WARN, "test.three", "3");
  size_t len;
  char *text = read_file_text(fd, &len);
  char *one = strstr(text, "event=test.one"), *two = strstr(text, "event=test.two"),
       *three = strstr(text, "event=test.three");
  cr_assert(one && two && three && one < two && two < three, "%s", text);
  free(text);

  log_msg(LOG_INFO, "test.four", "4");
  int seen = 0;
  for (int waited = 0; waited < 5000 && !seen; waited += 10) {
    usleep(10 * 1000);
    text = read_file_text(fd, &len);
    seen = strstr(text, "event=test.four") != NULL;
    free(text);
  }
  cr_assert(seen, "an info line is written within a moment");
  log_msg(LOG_INFO, "test.five", "5");
  log_batch_stop();
  text = read_file_text(fd, &len);
  cr_assert(strstr(text, "event=test.five"), "written by log_batch_stop");
  cr_assert_eq(text[len - 1], '\n');
  free(text);
  log_set_fd(2);
  close(fd);
}

#define BATCH_THREADS 4
#define BATCH_LINES 6000

static void *log_many(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < BATCH_LINES; i++) {
    struct log_line l;
    log_begin(&l, i % 1000 == 999 ? LOG_WARN : LOG_INFO, "test.many");
    log_int(&l, "thread", id);
    log_int(&l, "n", i);
    log_str(&l, "pad", "a few more bytes so that the batches fill up and are written whole");
    log_end(&l);
  }
  return NULL;
}

/* Threads logging more than a batch holds: every line arrives once, whole,
 * and each thread's lines in the order it logged them. */
Test(log, batched_lines_from_threads_arrive_whole_and_in_order) {
  int fd = temp_log();
  log_set_fd(fd);
  cr_assert_eq(log_batch_start(50), 0);
  pthread_t threads[BATCH_THREADS];
  for (int t = 0; t < BATCH_THREADS; t++)
    pthread_create(&threads[t], NULL, log_many, (void *)(intptr_t)t);
  for (int t = 0; t < BATCH_THREADS; t++)
    pthread_join(threads[t], NULL);
  log_batch_stop();
  log_set_fd(2);
  size_t len;
  char *text = read_file_text(fd, &len);
  close(fd);
  int next[BATCH_THREADS] = {0}, lines = 0;
  for (char *line = text, *end; *line; line = end + 1) {
    end = strchr(line, '\n');
    cr_assert_not_null(end, "the last line is whole");
    *end = 0;
    int id = -1, n = -1;
    const char *f = strstr(line, " thread=");
    cr_assert(!strncmp(line, "ts=", 3) && f && sscanf(f, " thread=%d n=%d", &id, &n) == 2,
              "a whole line: %s", line);
    cr_assert(id >= 0 && id < BATCH_THREADS && n == next[id], "thread %d: line %d, expected %d", id,
              n, next[id]);
    next[id]++;
    lines++;
  }
  cr_assert_eq(lines, BATCH_THREADS * BATCH_LINES);
  free(text);
}

Test(status, names_and_fail) {
  struct ff_error err;
  cr_assert_eq(ff_fail(&err, FF_EINVAL, "bad %d", 7), FF_EINVAL);
  cr_assert_str_eq(err.message, "bad 7");
  cr_assert_str_eq(ff_status_name(FF_ENOTFOUND), "not_found");
  cr_assert_eq(ff_fail(NULL, FF_EIO, "x"), FF_EIO);
}
