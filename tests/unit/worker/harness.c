#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int child_start(struct child *c, char *const argv[], int capture) {
  int fds[2] = {-1, -1};
  if (capture && pipe2(fds, O_CLOEXEC))
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (capture)
      dup2(fds[1], 1);
    else
      dup2(2, 1);
    execv(argv[0], argv);
    _exit(127);
  }
  if (capture)
    close(fds[1]);
  c->pid = pid;
  c->out = capture ? fds[0] : -1;
  return 0;
}

int child_read_line(struct child *c, char *line, int size, int timeout_ms) {
  int64_t until = test_now_ms() + timeout_ms;
  int n = 0;
  while (n < size - 1) {
    int left = (int)(until - test_now_ms());
    if (left <= 0)
      return -1;
    struct pollfd p = {.fd = c->out, .events = POLLIN};
    if (poll(&p, 1, left) <= 0)
      continue;
    char ch;
    ssize_t r = read(c->out, &ch, 1);
    if (r <= 0)
      return -1;
    if (ch == '\n')
      break;
    line[n++] = ch;
  }
  line[n] = 0;
  return 0;
}

void child_kill(struct child *c, int sig) {
  if (c->pid > 0) {
    kill(c->pid, sig);
    waitpid(c->pid, NULL, 0);
    c->pid = 0;
  }
  if (c->out >= 0) {
    close(c->out);
    c->out = -1;
  }
}

int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(a.sin_port);
}

int64_t test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wait_until(int (*cond)(void *), void *arg, int timeout_ms) {
  int64_t until = test_now_ms() + timeout_ms;
  for (;;) {
    if (cond(arg))
      return 1;
    if (test_now_ms() > until)
      return 0;
    struct timespec ts = {0, 5 * 1000000};
    nanosleep(&ts, NULL); /* polling interval of a deadline-bounded wait */
  }
}

const char *env_or_null(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}
