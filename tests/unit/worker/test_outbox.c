/* The outbox: durable push, order, ack, bounds with counted drops, and
 * kill -9 of a process in the middle of pushing or after acknowledging. */
#include <criterion/criterion.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"
#include "harness.h"
#include "outbox.h"

static char dir[64];
static char path[128];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/footfall-outbox-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/outbox.db", dir);
}

static void teardown(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(outbox, .init = setup, .fini = teardown);

static void push_one(struct outbox *ob, char id[OUTBOX_ID_SIZE], int64_t created, int size) {
  outbox_new_id(id);
  char json[4096];
  int n = snprintf(json, sizeof json, "{\"id\":\"%s\",\"pad\":\"%0*d\"}", id, size, 0);
  struct ff_error err = {0};
  cr_assert_eq(outbox_push(ob, id, created, json, (size_t)n, &err), FF_OK, "%s", err.message);
}

Test(outbox, ids_are_uuid_v4) {
  regex_t re;
  cr_assert_eq(regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                       REG_EXTENDED),
               0);
  char a[OUTBOX_ID_SIZE], b[OUTBOX_ID_SIZE];
  for (int i = 0; i < 100; i++) {
    outbox_new_id(a);
    outbox_new_id(b);
    cr_assert_eq(regexec(&re, a, 0, NULL, 0), 0, "%s", a);
    cr_assert_str_neq(a, b);
  }
  regfree(&re);
}

Test(outbox, push_peek_ack_in_order) {
  struct outbox *ob;
  struct outbox_limits lim = {0};
  struct ff_error err = {0};
  cr_assert_eq(outbox_open(path, &lim, &ob, &err), FF_OK, "%s", err.message);
  char ids[10][OUTBOX_ID_SIZE];
  for (int i = 0; i < 10; i++)
    push_one(ob, ids[i], wall_ms(), 10);
  /* The same id twice is refused and changes nothing. */
  cr_assert_eq(outbox_push(ob, ids[3], wall_ms(), "{}", 2, &err), FF_ECONFLICT);
  struct outbox_batch batch;
  cr_assert_eq(outbox_peek(ob, 4, &batch, &err), FF_OK);
  cr_assert_eq(batch.count, 4);
  for (int i = 0; i < 4; i++) {
    cr_assert_str_eq(batch.items[i].id, ids[i]);
    cr_assert(strstr(batch.items[i].json, ids[i]));
  }
  const char *ack[] = {ids[0], ids[2], "not-an-id"};
  cr_assert_eq(outbox_ack(ob, ack, 3, &err), FF_OK);
  outbox_batch_free(&batch);
  struct outbox_stats st;
  outbox_get_stats(ob, &st);
  cr_assert_eq(st.events, 8);
  cr_assert_eq(st.acked, 2);
  cr_assert_eq(st.pushed, 10);
  cr_assert_eq(outbox_peek(ob, 100, &batch, &err), FF_OK);
  cr_assert_eq(batch.count, 8);
  cr_assert_str_eq(batch.items[0].id, ids[1]);
  cr_assert_str_eq(batch.items[1].id, ids[3]);
  outbox_batch_free(&batch);
  outbox_close(ob);
  /* Reopened: the same eight. */
  cr_assert_eq(outbox_open(path, &lim, &ob, &err), FF_OK);
  outbox_get_stats(ob, &st);
  cr_assert_eq(st.events, 8);
  outbox_close(ob);
}

Test(outbox, bounds_drop_oldest_and_count) {
  struct outbox *ob;
  struct outbox_limits lim = {.max_events = 5};
  struct ff_error err = {0};
  cr_assert_eq(outbox_open(path, &lim, &ob, &err), FF_OK);
  char ids[8][OUTBOX_ID_SIZE];
  for (int i = 0; i < 8; i++)
    push_one(ob, ids[i], wall_ms(), 10);
  struct outbox_stats st;
  outbox_get_stats(ob, &st);
  cr_assert_eq(st.events, 5);
  cr_assert_eq(st.dropped, 3);
  struct outbox_batch batch;
  cr_assert_eq(outbox_peek(ob, 10, &batch, &err), FF_OK);
  cr_assert_str_eq(batch.items[0].id, ids[3], "the oldest must go first");
  outbox_batch_free(&batch);
  outbox_close(ob);

  /* By bytes: each event is ~1 KiB, the bound 3.5 KiB keeps three. */
  struct outbox_limits by_bytes = {.max_bytes = 3584};
  cr_assert_eq(outbox_open(path, &by_bytes, &ob, &err), FF_OK);
  outbox_get_stats(ob, &st);
  cr_assert_eq(st.dropped, 3, "the drop count survives a restart");
  /* Five small events (~62 bytes) are queued; four of ~1 KiB more exceed
   * the bound: the five small ones go, then the oldest large one. */
  char more[4][OUTBOX_ID_SIZE];
  for (int i = 0; i < 4; i++)
    push_one(ob, more[i], wall_ms(), 1000);
  outbox_get_stats(ob, &st);
  cr_assert_leq(st.bytes, 3584);
  cr_assert_eq(st.events, 3, "events %lld", (long long)st.events);
  cr_assert_eq(st.dropped, 3 + 6);
  cr_assert_eq(outbox_peek(ob, 10, &batch, &err), FF_OK);
  cr_assert_str_eq(batch.items[0].id, more[1]);
  outbox_batch_free(&batch);
  outbox_close(ob);

  /* By age: an event older than the bound goes at the next push or expire. */
  struct outbox_limits by_age = {.max_age_ms = 60000};
  cr_assert_eq(outbox_open(path, &by_age, &ob, &err), FF_OK);
  int64_t before_dropped;
  outbox_get_stats(ob, &st);
  before_dropped = st.dropped;
  char old[OUTBOX_ID_SIZE];
  push_one(ob, old, wall_ms() - 120000, 10); /* dropped at once */
  outbox_get_stats(ob, &st);
  cr_assert_eq(st.dropped, before_dropped + 1);
  cr_assert_eq(outbox_expire(ob, wall_ms() + 3600 * 1000, &err), FF_OK);
  outbox_get_stats(ob, &st);
  cr_assert_eq(st.events, 0);
  outbox_close(ob);
}

/* A child pushes forever and reports each id after outbox_push returned. */
static pid_t pushing_child(int *read_end, int ack_first) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    struct outbox *ob;
    struct outbox_limits lim = {0};
    if (outbox_open(path, &lim, &ob, NULL))
      _exit(3);
    if (ack_first) {
      struct outbox_batch batch;
      if (outbox_peek(ob, 10, &batch, NULL))
        _exit(4);
      const char *ids[10];
      for (int i = 0; i < batch.count; i++)
        ids[i] = batch.items[i].id;
      if (outbox_ack(ob, ids, batch.count, NULL))
        _exit(5);
      for (int i = 0; i < batch.count; i++)
        dprintf(fds[1], "acked %s\n", ids[i]);
      outbox_batch_free(&batch);
    }
    for (;;) {
      char id[OUTBOX_ID_SIZE];
      outbox_new_id(id);
      char json[128];
      int n = snprintf(json, sizeof json, "{\"id\":\"%s\"}", id);
      if (outbox_push(ob, id, wall_ms(), json, (size_t)n, NULL))
        _exit(6);
      dprintf(fds[1], "pushed %s\n", id);
    }
  }
  close(fds[1]);
  *read_end = fds[0];
  return pid;
}

Test(outbox, kill_9_loses_no_acknowledged_push_and_resends_no_acked_event) {
  int out;
  pid_t pid = pushing_child(&out, 0);
  struct child c = {.pid = pid, .out = out};
  static char reported[300][OUTBOX_ID_SIZE];
  int n = 0;
  char line[128];
  while (n < 300 && child_read_line(&c, line, sizeof line, 10000) == 0)
    if (sscanf(line, "pushed %36s", reported[n]) == 1)
      n++;
  cr_assert_eq(n, 300, "the child stopped pushing");
  child_kill(&c, SIGKILL); /* in the middle of further pushes */

  struct outbox *ob;
  struct outbox_limits lim = {0};
  cr_assert_eq(outbox_open(path, &lim, &ob, NULL), FF_OK);
  struct outbox_batch batch;
  cr_assert_eq(outbox_peek(ob, 100000, &batch, NULL), FF_OK);
  cr_assert_geq(batch.count, 300);
  for (int i = 0; i < 300; i++) {
    int found = 0;
    for (int k = 0; k < batch.count && !found; k++)
      found = !strcmp(batch.items[k].id, reported[i]);
    cr_assert(found, "acknowledged push %s lost", reported[i]);
  }
  int total = batch.count;
  outbox_batch_free(&batch);
  outbox_close(ob);

  /* A second child acknowledges the ten oldest, pushes more, and dies. */
  pid = pushing_child(&out, 1);
  c = (struct child){.pid = pid, .out = out};
  char acked[10][OUTBOX_ID_SIZE];
  int a = 0, pushed = 0;
  while (pushed < 20 && child_read_line(&c, line, sizeof line, 10000) == 0) {
    if (a < 10 && sscanf(line, "acked %36s", acked[a]) == 1)
      a++;
    else
      pushed++;
  }
  cr_assert_eq(a, 10);
  child_kill(&c, SIGKILL);
  cr_assert_eq(outbox_open(path, &lim, &ob, NULL), FF_OK);
  cr_assert_eq(outbox_peek(ob, 100000, &batch, NULL), FF_OK);
  cr_assert_geq(batch.count, total - 10 + 20);
  for (int i = 0; i < 10; i++)
    for (int k = 0; k < batch.count; k++)
      cr_assert_str_neq(batch.items[k].id, acked[i], "acked event %s would be sent again",
                        acked[i]);
  outbox_batch_free(&batch);
  outbox_close(ob);
}

/* A full disk (here: a file size limit on the process) makes pushes fail
 * with an error; nothing pushed before is lost and the queue works again
 * once there is room. */
Test(outbox, full_disk_fails_pushes_and_loses_nothing) {
  int fds[2];
  cr_assert_eq(pipe(fds), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    signal(SIGXFSZ, SIG_IGN); /* write(2) fails with EFBIG instead */
    struct rlimit lim = {1024 * 1024, 1024 * 1024};
    setrlimit(RLIMIT_FSIZE, &lim);
    struct outbox *ob;
    struct outbox_limits none = {0};
    if (outbox_open(path, &none, &ob, NULL))
      _exit(3);
    int failures = 0;
    for (int i = 0; i < 2000 && failures < 5; i++) {
      char id[OUTBOX_ID_SIZE], json[2200];
      outbox_new_id(id);
      int n = snprintf(json, sizeof json, "{\"id\":\"%s\",\"pad\":\"%02000d\"}", id, 0);
      struct ff_error err = {0};
      int rc = outbox_push(ob, id, wall_ms(), json, (size_t)n, &err);
      if (rc == FF_OK)
        dprintf(fds[1], "pushed %s\n", id);
      else {
        dprintf(fds[1], "failed %d\n", rc);
        failures++;
      }
    }
    outbox_close(ob);
    _exit(0);
  }
  close(fds[1]);
  struct child c = {.pid = pid, .out = fds[0]};
  static char ids[2000][OUTBOX_ID_SIZE];
  int n = 0, failed = 0, rc = 0;
  char line[128];
  while (child_read_line(&c, line, sizeof line, 20000) == 0) {
    if (sscanf(line, "pushed %36s", ids[n]) == 1)
      n++;
    else if (sscanf(line, "failed %d", &rc) == 1) {
      failed++;
      cr_assert(rc == FF_EIO || rc == FF_EDB, "a full disk gave %d", rc);
    }
  }
  int status;
  waitpid(pid, &status, 0);
  c.pid = 0;
  child_kill(&c, 0);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child ended badly (%d)", status);
  cr_assert_eq(failed, 5, "the size limit was never hit (%d pushes)", n);
  cr_assert_gt(n, 10, "only %d pushes before the limit", n);

  struct outbox *ob;
  struct outbox_limits none = {0};
  cr_assert_eq(outbox_open(path, &none, &ob, NULL), FF_OK);
  struct outbox_batch batch;
  cr_assert_eq(outbox_peek(ob, 5000, &batch, NULL), FF_OK);
  cr_assert_eq(batch.count, n, "acknowledged pushes lost or failed ones kept");
  for (int i = 0; i < n; i++)
    cr_assert_str_eq(batch.items[i].id, ids[i]);
  outbox_batch_free(&batch);
  char id[OUTBOX_ID_SIZE];
  push_one(ob, id, wall_ms(), 10); /* room again */
  outbox_close(ob);
}
