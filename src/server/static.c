#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "server.h"

#define STATIC_MAX_FILE (32 * 1024 * 1024)

static const char placeholder[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Footfall</title>"
    "<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}"
    "code{background:#f3f3f3;padding:.1em .3em}</style></head><body>"
    "<h1>Footfall server is running</h1>"
    "<p>The dashboard has not been built into this server's <code>web-dir</code>. "
    "The API is at <code>/v1/</code>; its description is at "
    "<a href=\"/v1/openapi.json\">/v1/openapi.json</a>.</p>"
    "<p>Health: <a href=\"/healthz\">/healthz</a> &middot; readiness: "
    "<a href=\"/readyz\">/readyz</a></p></body></html>";

static const char *content_type(const char *path) {
  static const struct {
    const char *ext, *type;
  } types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
  };
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (!strcmp(dot, types[i].ext))
        return types[i].type;
  return "application/octet-stream";
}

static int safe_path(const char *path) {
  if (path[0] != '/' || strlen(path) > 512)
    return 0;
  for (const char *p = path; *p; p++)
    if (*p == '\\')
      return 0;
  return !strstr(path, "/../") && !strstr(path, "/./") &&
         !(strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/.."));
}

/* Reads a regular file of at most STATIC_MAX_FILE bytes; NULL otherwise. */
static char *read_file(const char *file, size_t *len) {
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  struct stat st;
  char *data = NULL;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= STATIC_MAX_FILE &&
      (data = malloc((size_t)st.st_size + 1))) {
    size_t got = 0;
    while (got < (size_t)st.st_size) {
      ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
      if (n <= 0)
        break;
      got += (size_t)n;
    }
    if (got != (size_t)st.st_size) {
      free(data);
      data = NULL;
    } else {
      *len = got;
    }
  }
  close(fd);
  return data;
}

static void send_file(struct request *rq, const char *file, const char *type, int immutable) {
  size_t len;
  char *data = read_file(file, &len);
  if (!data) {
    http_error(rq, 404, "not_found", "not found");
    return;
  }
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, data, len);
  free(data);
  http_header(rq, "Content-Type", type);
  http_header(rq, "Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  http_header(rq, "Content-Security-Policy",
              "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
              "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
              "base-uri 'self'; form-action 'self'");
}

void static_serve(struct request *rq, const char *path) {
  const char *root = rq->server->cfg.web_dir;
  char index[1024];
  snprintf(index, sizeof index, "%s/index.html", root ? root : "");
  if (!root || access(index, R_OK) != 0) {
    rq->status = 200;
    ulfius_set_string_body_response(rq->res, 200, placeholder);
    http_header(rq, "Content-Type", "text/html; charset=utf-8");
    http_header(rq, "Cache-Control", "no-cache");
    return;
  }
  if (!safe_path(path)) {
    http_error(rq, 400, "bad_request", "invalid path");
    return;
  }
  char file[1600];
  snprintf(file, sizeof file, "%s%s", root, path);
  struct stat st;
  if (strcmp(path, "/") && stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
    /* Vite puts content-hashed files under /assets/: safe to cache forever. */
    send_file(rq, file, content_type(file), !strncmp(path, "/assets/", 8));
    return;
  }
  /* A missing asset is a 404, not the SPA page (a broken bundle must show). */
  const char *dot = strrchr(path, '.');
  if (!strncmp(path, "/assets/", 8) || (dot && !strchr(dot, '/') && strcmp(dot, ".html"))) {
    http_error(rq, 404, "not_found", "no such file: %s", path);
    return;
  }
  send_file(rq, index, "text/html; charset=utf-8", 0);
}
