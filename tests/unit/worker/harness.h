/* harness.h — helpers for the worker's tests: child processes with a
 * stdout pipe, lines read with a deadline, free loopback ports, and waiting
 * on a condition with a deadline (never a bare sleep). */
#ifndef FOOTFALL_TEST_WORKER_HARNESS_H
#define FOOTFALL_TEST_WORKER_HARNESS_H

#include <stdint.h>
#include <sys/types.h>

struct child {
  pid_t pid;
  int out; /* read end of its stdout, -1 when not captured */
};

/* Starts argv[0] (a path) with stdout piped (capture) or sent to stderr. */
int child_start(struct child *c, char *const argv[], int capture);
/* Reads one line from the child's stdout within timeout_ms; 0 on success. */
int child_read_line(struct child *c, char *line, int size, int timeout_ms);
/* SIGKILL (or sig) and reap. */
void child_kill(struct child *c, int sig);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int free_port(void);

int64_t test_now_ms(void);
/* Polls cond(arg) every few ms until true or timeout_ms passes. */
int wait_until(int (*cond)(void *), void *arg, int timeout_ms);

/* Path of an environment variable, or NULL (and a skip message) when unset. */
const char *env_or_null(const char *name);

#endif
