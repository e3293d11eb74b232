#include "endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <ulfius.h>
#include <unistd.h>

#include "backoff.h"
#include "frame.h"
#include "json_text.h"
#include "log.h"
#include "overlay.h"
#include "pipeline.h"
#include "worker.h"

#define MJPEG_INTERVAL_MS 100 /* at most 10 frames a second to viewers */
#define LOG_LINES 500

struct endpoint {
  struct _u_instance http;
  struct worker *worker;
  char secret[80];
};

static void json_error(struct _u_response *res, unsigned status, const char *code,
                       const char *message) {
  json_t *o = json_pack("{s:s, s:s}", "code", code, "message", message);
  size_t len;
  char *text = json_text(o, &len);
  json_decref(o);
  u_map_put(res->map_header, "Content-Type", "application/json");
  ulfius_set_binary_body_response(res, status, text ? text : "{}", text ? len : 2);
  free(text);
}

static void json_answer(struct _u_response *res, json_t *o) {
  size_t len;
  char *text = json_text(o, &len);
  json_decref(o);
  if (!text) {
    json_error(res, 500, "internal", "out of memory");
    return;
  }
  u_map_put(res->map_header, "Content-Type", "application/json");
  u_map_put(res->map_header, "Cache-Control", "no-store");
  ulfius_set_binary_body_response(res, 200, text, len);
  free(text);
}

static int authorized(struct endpoint *e, const struct _u_request *req) {
  const char *h = u_map_get_case(req->map_header, "Authorization");
  if (!h || strncmp(h, "Bearer ", 7))
    return 0;
  const char *token = h + 7;
  size_t n = strlen(token), m = strlen(e->secret);
  return n == m && sodium_memcmp(token, e->secret, n) == 0;
}

static void draw_overlay(struct pipeline *p, int camera_id, struct rgb_image *img) {
  struct overlay_box boxes[PIPELINE_OVERLAY_MAX];
  int n = 0;
  pipeline_overlay(p, camera_id, boxes, PIPELINE_OVERLAY_MAX, &n);
  overlay_draw(img, boxes, n);
}

int endpoint_frame_jpeg(struct worker *w, int camera_id, int overlay, uint8_t **jpeg, size_t *size,
                        struct ff_error *err) {
  struct rgb_image img = {0};
  int rc = pipeline_snapshot(w->pipeline, camera_id, 2000, &img, err);
  if (rc == FF_OK) {
    if (overlay)
      draw_overlay(w->pipeline, camera_id, &img);
    rc = jpeg_encode_rgb(img.rgb, img.width, img.height, img.stride, 80, jpeg, size, err);
  }
  rgb_image_free(&img);
  return rc;
}

struct mjpeg_stream {
  struct worker *worker;
  int camera_id, overlay;
  char *part;
  size_t len, off;
  int64_t last_ms;
};

static ssize_t mjpeg_next(void *cls, uint64_t pos, char *out, size_t max) {
  struct mjpeg_stream *s = cls;
  (void)pos;
  while (s->off >= s->len) {
    if (atomic_load(&s->worker->stopping))
      return U_STREAM_END;
    int64_t wait = s->last_ms + MJPEG_INTERVAL_MS - monotonic_ms();
    if (wait > 0) {
      struct timespec ts = {0, wait * 1000000}; /* frame rate limit for viewers */
      nanosleep(&ts, NULL);
    }
    s->last_ms = monotonic_ms();
    uint8_t *jpeg = NULL;
    size_t size = 0;
    struct ff_error err = {0};
    int rc = endpoint_frame_jpeg(s->worker, s->camera_id, s->overlay, &jpeg, &size, &err);
    if (rc == FF_ETIMEOUT)
      continue; /* the camera is reconnecting: keep the viewer */
    if (rc)
      return U_STREAM_END;
    free(s->part);
    s->part = malloc(size + 128);
    if (!s->part) {
      free(jpeg);
      return U_STREAM_ERROR;
    }
    int head =
        snprintf(s->part, 128,
                 "--footfall\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n", size);
    memcpy(s->part + head, jpeg, size);
    memcpy(s->part + head + size, "\r\n", 2);
    s->len = (size_t)head + size + 2;
    s->off = 0;
    free(jpeg);
  }
  size_t n = s->len - s->off < max ? s->len - s->off : max;
  memcpy(out, s->part + s->off, n);
  s->off += n;
  return (ssize_t)n;
}

static void mjpeg_free(void *cls) {
  struct mjpeg_stream *s = cls;
  free(s->part);
  free(s);
}

/* /logs/stream: Server-Sent Events, one `data:` message per log line. The
 * log keeps no sequence numbers, so each poll finds the last line already
 * sent in the current tail and sends what follows it (everything, when it
 * has scrolled out of the ring). A comment line every 15 s keeps proxies
 * from closing an idle stream. */
struct log_stream {
  struct worker *worker;
  char *last;    /* the last line sent */
  char *pending; /* text ready to send */
  size_t len, off;
  int64_t last_send_ms;
};

static void log_stream_fill(struct log_stream *s) {
  char *lines = NULL;
  size_t len = 0;
  int n = log_tail(s->last ? LOG_LINES : 50, &lines, &len);
  if (n <= 0) {
    free(lines);
    return;
  }
  size_t start = 0;
  if (s->last) {
    /* After the newest occurrence of the last line sent. */
    for (size_t at = 0; at < len;) {
      size_t l = strlen(lines + at);
      if (!strcmp(lines + at, s->last))
        start = at + l + 1;
      at += l + 1;
    }
  }
  size_t out_cap = (len - start) * 8 + 64, out_len = 0; /* "data: " + "\n\n" per line */
  char *out = start < len ? malloc(out_cap) : NULL;
  const char *newest = NULL;
  for (size_t at = start; out && at < len;) {
    const char *line = lines + at;
    size_t l = strlen(line);
    out_len += (size_t)snprintf(out + out_len, out_cap - out_len, "data: %s\n\n", line);
    newest = line;
    at += l + 1;
  }
  if (out && out_len > 0) {
    free(s->last);
    s->last = strdup(newest);
    free(s->pending);
    s->pending = out;
    s->len = out_len;
    s->off = 0;
  } else {
    free(out);
  }
  free(lines);
}

static ssize_t log_stream_next(void *cls, uint64_t pos, char *out, size_t max) {
  struct log_stream *s = cls;
  (void)pos;
  while (s->off >= s->len) {
    if (atomic_load(&s->worker->stopping))
      return U_STREAM_END;
    log_stream_fill(s);
    if (s->off < s->len)
      break;
    if (monotonic_ms() - s->last_send_ms > 15000) {
      free(s->pending);
      s->pending = strdup(": keep-alive\n\n");
      s->len = s->pending ? strlen(s->pending) : 0;
      s->off = 0;
      break;
    }
    struct timespec ts = {0, 250 * 1000000}; /* poll interval of the log ring */
    nanosleep(&ts, NULL);
  }
  size_t n = s->len - s->off < max ? s->len - s->off : max;
  memcpy(out, s->pending + s->off, n);
  s->off += n;
  s->last_send_ms = monotonic_ms();
  return (ssize_t)n;
}

static void log_stream_free(void *cls) {
  struct log_stream *s = cls;
  free(s->last);
  free(s->pending);
  free(s);
}

static int camera_route(struct endpoint *e, const char *path, const struct _u_request *req,
                        struct _u_response *res) {
  int id = 0, used = 0;
  char what[32] = "";
  if (sscanf(path, "/cameras/%d/%31[a-z.]%n", &id, what, &used) != 2 || path[used] || id <= 0)
    return 0;
  struct worker *w = e->worker;
  if (pipeline_camera_get(w->pipeline, id, NULL, NULL, NULL) != FF_OK) {
    json_error(res, 404, "not_found", "no such camera");
    return 1;
  }
  const char *overlay_arg = u_map_get(req->map_url, "overlay");
  int overlay = overlay_arg && !strcmp(overlay_arg, "1");
  if (!strcmp(what, "snapshot.jpg")) {
    uint8_t *jpeg;
    size_t size;
    struct ff_error err = {0};
    int rc = endpoint_frame_jpeg(w, id, overlay, &jpeg, &size, &err);
    if (rc) {
      json_error(res, rc == FF_ETIMEOUT ? 503 : 500,
                 rc == FF_ETIMEOUT ? "no_frame" : ff_status_name(rc), err.message);
      return 1;
    }
    u_map_put(res->map_header, "Content-Type", "image/jpeg");
    u_map_put(res->map_header, "Cache-Control", "no-store");
    ulfius_set_binary_body_response(res, 200, (const char *)jpeg, size);
    free(jpeg);
    return 1;
  }
  if (!strcmp(what, "mjpeg")) {
    struct mjpeg_stream *s = calloc(1, sizeof *s);
    if (!s) {
      json_error(res, 500, "internal", "out of memory");
      return 1;
    }
    s->worker = w;
    s->camera_id = id;
    s->overlay = overlay;
    u_map_put(res->map_header, "Content-Type", "multipart/x-mixed-replace; boundary=footfall");
    u_map_put(res->map_header, "Cache-Control", "no-store");
    ulfius_set_stream_response(res, 200, mjpeg_next, mjpeg_free, U_STREAM_SIZE_UNKNOWN, 64 * 1024,
                               s);
    return 1;
  }
  json_error(res, 404, "not_found", "unknown camera resource");
  return 1;
}

static int dispatch(const struct _u_request *req, struct _u_response *res, void *arg) {
  struct endpoint *e = arg;
  struct worker *w = e->worker;
  const char *path = req->url_path ? req->url_path : "/";
  if (!authorized(e, req)) {
    u_map_put(res->map_header, "WWW-Authenticate", "Bearer");
    json_error(res, 401, "unauthorized", "this endpoint needs the worker's secret as Bearer");
    return U_CALLBACK_COMPLETE;
  }
  if (strcmp(req->http_verb, "GET")) {
    json_error(res, 405, "method_not_allowed", "only GET");
    return U_CALLBACK_COMPLETE;
  }
  if (!strcmp(path, "/healthz")) {
    json_answer(res, json_pack("{s:s, s:s}", "status", "ok", "worker_id", w->worker_id));
  } else if (!strcmp(path, "/status")) {
    json_answer(res, worker_status_json(w));
  } else if (!strcmp(path, "/diagnostics")) {
    json_answer(res, worker_diagnostics_json(w));
  } else if (!strcmp(path, "/metrics")) {
    char *text = worker_metrics_text(w);
    u_map_put(res->map_header, "Content-Type", "text/plain; version=0.0.4");
    ulfius_set_binary_body_response(res, 200, text ? text : "", text ? strlen(text) : 0);
    free(text);
  } else if (!strcmp(path, "/logs")) {
    char *lines = NULL;
    size_t len = 0;
    int n = log_tail(LOG_LINES, &lines, &len);
    /* NUL-separated lines become newline-terminated text. */
    for (size_t i = 0; i < len; i++)
      if (lines[i] == 0)
        lines[i] = '\n';
    u_map_put(res->map_header, "Content-Type", "text/plain; charset=utf-8");
    ulfius_set_binary_body_response(res, 200, lines ? lines : "", n > 0 ? len : 0);
    free(lines);
  } else if (!strcmp(path, "/logs/stream")) {
    struct log_stream *s = calloc(1, sizeof *s);
    if (!s) {
      json_error(res, 500, "internal", "out of memory");
      return U_CALLBACK_COMPLETE;
    }
    s->worker = w;
    s->last_send_ms = monotonic_ms();
    u_map_put(res->map_header, "Content-Type", "text/event-stream");
    u_map_put(res->map_header, "Cache-Control", "no-store");
    ulfius_set_stream_response(res, 200, log_stream_next, log_stream_free, U_STREAM_SIZE_UNKNOWN,
                               16 * 1024, s);
  } else if (!camera_route(e, path, req, res)) {
    json_error(res, 404, "not_found", "no such route");
  }
  return U_CALLBACK_COMPLETE;
}

static int pick_port(const char *listen) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  inet_pton(AF_INET, listen, &a.sin_addr);
  socklen_t len = sizeof a;
  int port = -1;
  if (!bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &len))
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

int endpoint_start(struct worker *w, const char *listen, int port, const char *secret,
                   struct endpoint **out, int *bound_port, struct ff_error *err) {
  struct sockaddr_in addr = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, listen, &addr.sin_addr) != 1)
    return ff_fail(err, FF_EINVAL, "endpoint-listen must be an IPv4 address, got '%s'", listen);
  if (port == 0 && (port = pick_port(listen)) <= 0)
    return ff_fail(err, FF_EIO, "no free port on %s", listen);
  addr.sin_port = htons((uint16_t)port);
  struct endpoint *e = calloc(1, sizeof *e);
  if (!e)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  e->worker = w;
  snprintf(e->secret, sizeof e->secret, "%s", secret);
  if (ulfius_init_instance(&e->http, (unsigned)port, &addr, NULL) != U_OK) {
    free(e);
    return ff_fail(err, FF_EINTERNAL, "cannot initialise the HTTP framework");
  }
  e->http.max_post_body_size = 1024;
  ulfius_set_default_endpoint(&e->http, dispatch, e);
  ulfius_add_endpoint_by_val(&e->http, "FOOTFALL", "/", NULL, 0, dispatch, e);
  if (ulfius_start_framework(&e->http) != U_OK) {
    ulfius_clean_instance(&e->http);
    free(e);
    return ff_fail(err, FF_EIO, "cannot listen on %s:%d (port in use?)", listen, port);
  }
  *bound_port = port;
  *out = e;
  return FF_OK;
}

void endpoint_stop(struct endpoint *e) {
  if (!e)
    return;
  ulfius_stop_framework(&e->http);
  ulfius_clean_instance(&e->http);
  free(e);
}
