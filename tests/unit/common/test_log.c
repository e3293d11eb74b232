#include <criterion/criterion.h>
#include <fcntl.h>
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
  log_end(&l);
}

Test(log, logfmt_fields_are_quoted_and_escaped) {
  capture(emit_fields);
  cr_assert(strstr(captured, " level=info event=test.event plain=value"), "%s", captured);
  cr_assert(strstr(captured, " spaced=\"two words\""), "%s", captured);
  cr_assert(strstr(captured, " quoted=\"say \\\"hi\\\"\\nnext\""), "%s", captured);
  cr_assert(strstr(captured, " n=-42\n"), "%s", captured);
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

Test(status, names_and_fail) {
  struct ff_error err;
  cr_assert_eq(ff_fail(&err, FF_EINVAL, "bad %d", 7), FF_EINVAL);
  cr_assert_str_eq(err.message, "bad 7");
  cr_assert_str_eq(ff_status_name(FF_ENOTFOUND), "not_found");
  cr_assert_eq(ff_fail(NULL, FF_EIO, "x"), FF_EIO);
}
