#include "http_double.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return;
    p += w;
    n -= (size_t)w;
  }
}

static void respond(int fd, int status, const char *body) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, strlen(body));
  send_all(fd, head, (size_t)n);
  send_all(fd, body, strlen(body));
}

/* Reads one request (bounded: 4 MiB, 5 s). */
static int read_request(int fd, struct double_request *r) {
  size_t cap = 4 * 1024 * 1024, len = 0;
  char *buf = malloc(cap + 1);
  char *end = NULL;
  size_t want = 0;
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) <= 0)
      break;
    ssize_t got = recv(fd, buf + len, cap - len, 0);
    if (got <= 0)
      break;
    len += (size_t)got;
    buf[len] = 0;
    if (!end && (end = strstr(buf, "\r\n\r\n"))) {
      char *cl = strcasestr(buf, "Content-Length:");
      want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
    }
    if (end && len >= want)
      break;
  }
  if (!end) {
    free(buf);
    return -1;
  }
  sscanf(buf, "%7s %127s", r->method, r->path);
  char *auth = strcasestr(buf, "Authorization:");
  r->authorization[0] = 0;
  if (auth && auth < end)
    sscanf(auth + 14, " %255[^\r\n]", r->authorization);
  r->body_len = len - (size_t)(end + 4 - buf);
  r->body = malloc(r->body_len + 1);
  memcpy(r->body, end + 4, r->body_len);
  r->body[r->body_len] = 0;
  free(buf);
  return 0;
}

static void answer_events(struct http_double *d, int fd, const struct double_request *r,
                          enum double_mode mode, int limit) {
  json_t *root = json_loadb(r->body, r->body_len, 0, NULL);
  json_t *events = json_object_get(root, "events");
  size_t n = json_array_size(events);
  if (mode == DOUBLE_413_ABOVE && (int)n > limit) {
    json_decref(root);
    respond(fd, 413, "{\"code\":\"too_big\",\"message\":\"batch too large\"}");
    return;
  }
  size_t answer = mode == DOUBLE_PARTIAL ? n / 2 : n;
  json_t *results = json_array();
  pthread_mutex_lock(&d->lock);
  for (size_t i = 0; i < answer; i++) {
    const char *id = json_string_value(json_object_get(json_array_get(events, i), "id"));
    if (!id)
      continue;
    json_array_append_new(results,
                          json_pack("{s:s, s:s, s:i, s:i}", "id", id, "outcome", "new_visit",
                                    "customer_id", (int)i + 1, "visit_id", (int)i + 1));
    if (d->answered_count < DOUBLE_MAX_IDS)
      snprintf(d->answered_ids[d->answered_count++], 37, "%s", id);
  }
  pthread_mutex_unlock(&d->lock);
  json_t *out = json_pack("{s:o}", "results", results);
  char *text = json_dumps(out, JSON_COMPACT);
  respond(fd, 200, text);
  free(text);
  json_decref(out);
  json_decref(root);
}

static void *serve(void *arg) {
  struct http_double *d = arg;
  while (!d->stop) {
    struct pollfd p = {.fd = d->fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int fd = accept(d->fd, NULL, NULL);
    if (fd < 0)
      continue;
    struct double_request r = {0};
    if (read_request(fd, &r)) {
      close(fd);
      continue;
    }
    pthread_mutex_lock(&d->lock);
    enum double_mode mode = d->mode;
    int limit = d->limit;
    const char *fixed = d->fixed_body;
    if (d->request_count < DOUBLE_MAX_REQUESTS)
      d->requests[d->request_count++] = r;
    else
      free(r.body);
    pthread_mutex_unlock(&d->lock);
    switch (mode) {
    case DOUBLE_500: respond(fd, 500, "{\"code\":\"internal\"}"); break;
    case DOUBLE_CLOSE: break;
    case DOUBLE_GARBAGE: respond(fd, 200, "this is not json"); break;
    case DOUBLE_HANG: {
      /* Say nothing until the client gives up (bounded). */
      char sink[512];
      for (int i = 0; i < 100 && !d->stop; i++) {
        struct pollfd q = {.fd = fd, .events = POLLIN};
        if (poll(&q, 1, 50) > 0 && recv(fd, sink, sizeof sink, 0) <= 0)
          break;
      }
      break;
    }
    default:
      if (!strcmp(r.method, "GET"))
        respond(fd, 200, fixed ? fixed : "{}");
      else
        answer_events(d, fd, &r, mode, limit);
    }
    close(fd);
  }
  return NULL;
}

int double_start(struct http_double *d) {
  memset(d, 0, sizeof *d);
  pthread_mutex_init(&d->lock, NULL);
  d->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(d->fd, (struct sockaddr *)&a, sizeof a) || listen(d->fd, 64) ||
      getsockname(d->fd, (struct sockaddr *)&a, &len))
    return -1;
  d->port = ntohs(a.sin_port);
  return pthread_create(&d->thread, NULL, serve, d);
}

void double_stop(struct http_double *d) {
  d->stop = 1;
  pthread_join(d->thread, NULL);
  close(d->fd);
  for (int i = 0; i < d->request_count; i++)
    free(d->requests[i].body);
  pthread_mutex_destroy(&d->lock);
}

void double_set_mode(struct http_double *d, enum double_mode mode, int limit) {
  pthread_mutex_lock(&d->lock);
  d->mode = mode;
  d->limit = limit;
  pthread_mutex_unlock(&d->lock);
}

int double_requests(struct http_double *d) {
  pthread_mutex_lock(&d->lock);
  int n = d->request_count;
  pthread_mutex_unlock(&d->lock);
  return n;
}

int double_answer_count(struct http_double *d, const char *id) {
  pthread_mutex_lock(&d->lock);
  int n = 0;
  for (int i = 0; i < d->answered_count; i++)
    n += !strcmp(d->answered_ids[i], id);
  pthread_mutex_unlock(&d->lock);
  return n;
}
