/* demo.c — `footfall demo`: the whole product on one machine.
 *
 * What `make run` starts. The demo is a small supervisor and an API client,
 * nothing more: it runs `footfall server` and `footfall worker` as child
 * processes of this same binary, relays their logs to one terminal (each
 * line tagged with its process), and sets the product up through the public
 * HTTP API the way an operator would — a tenant, a store with a time zone, a
 * tenant admin, an entrance camera, a worker key, two staff members enrolled
 * from their pictures. The camera is a looping video file made at set-up by
 * tools/demo-video.mjs from face-api's sample photos.
 *
 * The first start writes DATA_DIR/demo.json (ids and the worker key, mode
 * 0600; never a password) after set-up has succeeded; later starts reuse it.
 * Passwords are printed once. SIGINT/SIGTERM stop the worker first (it
 * drains its outbox), then the server.
 */
#include "demo.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "auth.h"
#include "config.h"
#include "http_client.h"
#include "status.h"

#define MAX_CHILD_ARGS 96
#define HTTP_TIMEOUT_MS 60000 /* staff enrolment runs the face engine */

struct child {
  const char *tag;
  pid_t pid;
  int fd; /* its stdout+stderr, or -1 once closed */
  char buf[16384];
  size_t len;
};

struct demo {
  struct config cfg;
  char base_url[160];
  char exe[PATH_MAX];
  char state_path[PATH_MAX];
  json_t *manifest; /* DEMO_CAMERA_DIR/demo.json */
  struct child server, worker;
};

static volatile sig_atomic_t stop_signal;
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  stop_signal = sig;
  if (signal_pipe[1] >= 0 && write(signal_pipe[1], "x", 1) < 0) {
  }
  errno = saved;
}

/* ---- the children ------------------------------------------------------ */

static int child_start(struct child *c, const char *tag, char **argv, const char *env_name,
                       const char *env_value, struct ff_error *err) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC))
    return ff_fail(err, FF_EIO, "pipe: %s", strerror(errno));
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return ff_fail(err, FF_EIO, "fork: %s", strerror(errno));
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    signal(SIGINT, SIG_IGN); /* Ctrl-C reaches the whole group; the demo decides the order */
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* the demo killed outright: stop too, drain, exit */
    if (getppid() != parent)
      _exit(1); /* it died before the line above */
    if (env_name)
      setenv(env_name, env_value, 1);
    execv(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  c->tag = tag;
  c->pid = pid;
  c->fd = fds[0];
  c->len = 0;
  return FF_OK;
}

/* One log line, readable: logfmt's `ts=2026-12-06T04:05:06.789Z level=info`
 * becomes `04:05:06 server info`. Other lines pass as they are. */
static void print_line(const char *tag, const char *line, size_t len) {
  const char *p = line, *end = line + len;
  char when[9] = "";
  if (len > 23 && !strncmp(p, "ts=", 3) && p[13] == 'T') {
    memcpy(when, p + 14, 8);
    when[8] = 0;
    p = memchr(p, ' ', (size_t)(end - p));
    p = p ? p + 1 : end;
    if (end - p > 6 && !strncmp(p, "level=", 6))
      p += 6;
  }
  if (*when)
    printf("%s %-6s %.*s\n", when, tag, (int)(end - p), p);
  else
    printf("%-15s %.*s\n", tag, (int)(end - p), p);
}

/* Reads what the child wrote; prints whole lines. Returns 0 at EOF. */
static int child_pump(struct child *c) {
  ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  if (n <= 0) {
    if (n < 0 && errno == EINTR)
      return 1;
    if (c->len)
      print_line(c->tag, c->buf, c->len);
    close(c->fd);
    c->fd = -1;
    return 0;
  }
  c->len += (size_t)n;
  char *start = c->buf, *nl;
  while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf)))) {
    print_line(c->tag, start, (size_t)(nl - start));
    start = nl + 1;
  }
  c->len -= (size_t)(start - c->buf);
  memmove(c->buf, start, c->len);
  if (c->len == sizeof c->buf) { /* a line longer than the buffer: print it in pieces */
    print_line(c->tag, c->buf, c->len);
    c->len = 0;
  }
  fflush(stdout);
  return 1;
}

/* Relays both children's output for up to ms milliseconds (-1: until a
 * signal or a child's exit). Returns 1 when a child's output ended. */
static int relay(struct demo *d, int ms) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    struct pollfd p[3] = {
        {d->server.fd, POLLIN, 0}, {d->worker.fd, POLLIN, 0}, {signal_pipe[0], POLLIN, 0}};
    int wait = -1;
    if (ms >= 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
      if (spent >= ms)
        return 0;
      wait = (int)(ms - spent);
    }
    int n = poll(p, 3, wait);
    if (n < 0 && errno != EINTR)
      return 1;
    if (stop_signal)
      return 0;
    for (int i = 0; i < 2 && n > 0; i++)
      if (p[i].revents && !child_pump(i ? &d->worker : &d->server))
        return 1;
  }
}

/* SIGTERM, then waits (relaying its last words) up to grace_ms; SIGKILL after. */
static int child_stop(struct demo *d, struct child *c, int grace_ms) {
  if (c->pid <= 0)
    return 0;
  kill(c->pid, SIGTERM);
  int status = 0;
  for (int waited = 0; waitpid(c->pid, &status, WNOHANG) == 0; waited += 100) {
    if (waited >= grace_ms) {
      kill(c->pid, SIGKILL);
      waitpid(c->pid, &status, 0);
      break;
    }
    if (c->fd >= 0) {
      struct pollfd p = {c->fd, POLLIN, 0};
      if (poll(&p, 1, 100) > 0)
        child_pump(c);
    } else {
      usleep(100000);
    }
  }
  while (c->fd >= 0 && child_pump(c)) {
  }
  (void)d;
  c->pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- the API client ---------------------------------------------------- */

/* method path [body]: FF_OK and the answer's JSON in *out (when out is not
 * NULL) when the status is `want`. Takes the reference to body. */
static int api(struct demo *d, const char *method, const char *path, const char *token,
               json_t *body, long want, json_t **out, struct ff_error *err) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", d->base_url, path);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  struct http_response r = {0};
  int rc = http_request(method, url, token, text, text ? strlen(text) : 0, HTTP_TIMEOUT_MS, 4 << 20,
                        &r, err);
  free(text);
  if (rc)
    return rc;
  json_t *answer = r.len ? json_loadb(r.body, r.len, 0, NULL) : NULL;
  if (r.status != want) {
    const char *message =
        json_string_value(json_object_get(json_object_get(answer, "error"), "message"));
    rc = ff_fail(err, FF_EIO, "%s %s: HTTP %ld: %s", method, path, r.status,
                 message ? message : (r.body ? r.body : ""));
  } else if (!answer) {
    rc = ff_fail(err, FF_EIO, "%s %s: the answer is not JSON", method, path);
  }
  http_response_free(&r);
  if (!rc && out)
    *out = json_incref(answer);
  json_decref(answer);
  return rc;
}

/* POST path body -> the id of what it created. */
static int create(struct demo *d, const char *path, const char *token, json_t *body, json_int_t *id,
                  struct ff_error *err) {
  json_t *made = NULL;
  int rc = api(d, "POST", path, token, body, 201, &made, err);
  if (!rc)
    *id = json_integer_value(json_object_get(made, "id"));
  json_decref(made);
  return rc;
}

static int login(struct demo *d, const char *username, const char *password, char *token,
                 size_t size, struct ff_error *err) {
  json_t *r = NULL;
  int rc = api(d, "POST", "/v1/auth/login", NULL,
               json_pack("{s:s,s:s}", "username", username, "password", password), 200, &r, err);
  if (!rc)
    snprintf(token, size, "%s", json_string_value(json_object_get(r, "access_token")));
  json_decref(r);
  return rc;
}

static int base64_file(const char *path, char **out, struct ff_error *err) {
  char *data;
  size_t len;
  int rc = read_small_file(path, 16 << 20, &data, &len, err);
  if (rc)
    return rc;
  size_t size = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
  *out = malloc(size);
  if (!*out) {
    free(data);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  sodium_bin2base64(*out, size, (const unsigned char *)data, len, sodium_base64_VARIANT_ORIGINAL);
  free(data);
  return FF_OK;
}

/* This machine's IANA zone, from /etc/localtime's link or $TZ. */
static void local_zone(char *out, size_t size) {
  const char *tz = getenv("TZ");
  char link[PATH_MAX];
  ssize_t n;
  snprintf(out, size, "UTC");
  if (tz && *tz && !strchr(tz, ',')) {
    snprintf(out, size, "%s", tz[0] == ':' ? tz + 1 : tz);
  } else if ((n = readlink("/etc/localtime", link, sizeof link - 1)) > 0) {
    link[n] = 0;
    const char *z = strstr(link, "zoneinfo/");
    if (z)
      snprintf(out, size, "%s", z + 9);
  }
}

/* Enrols the manifest's staff members (each from its own pictures). */
static int enrol_staff(struct demo *d, const char *token, json_int_t site, struct ff_error *err) {
  size_t i, k;
  json_t *person, *picture;
  int rc = FF_OK;
  json_array_foreach(json_object_get(d->manifest, "people"), i, person) {
    json_t *pictures = json_object_get(person, "enrol");
    if (!json_is_true(json_object_get(person, "staff")) || !pictures)
      continue;
    json_int_t staff = 0;
    rc = create(d, "/v1/staff", token,
                json_pack("{s:s,s:I}", "name", json_string_value(json_object_get(person, "name")),
                          "home_site_id", site),
                &staff, err);
    json_array_foreach(pictures, k, picture) {
      char *image = NULL, path[128];
      json_int_t face;
      snprintf(path, sizeof path, "/v1/staff/%lld/faces", (long long)staff);
      if (!rc)
        rc = base64_file(json_string_value(picture), &image, err);
      if (!rc)
        rc = create(d, path, token, json_pack("{s:s}", "image", image), &face, err);
      free(image);
    }
    if (rc)
      return rc;
  }
  return FF_OK;
}

/* The first start: the product set up through its API, as an operator
 * would. Prints the two accounts' passwords once. */
static int set_up(struct demo *d, const char *admin_password, struct ff_error *err) {
  char sys[1024], token[1024], zone[128], user_password[64], path[128];
  json_int_t tenant = 0, site = 0, user = 0, camera = 0;
  json_t *key = NULL;
  if (d->cfg.demo_timezone)
    snprintf(zone, sizeof zone, "%s", d->cfg.demo_timezone);
  else
    local_zone(zone, sizeof zone);
  secret_generate("", user_password, sizeof user_password);
  user_password[16] = 0;

  int rc = login(d, d->cfg.admin_username, admin_password, sys, sizeof sys, err);
  if (!rc)
    rc = create(d, "/v1/tenants", sys, json_pack("{s:s}", "name", "Demo Coffee"), &tenant, err);
  if (!rc)
    rc = create(
        d, "/v1/sites", sys,
        json_pack("{s:s,s:s,s:I}", "name", "Demo store", "timezone", zone, "tenant_id", tenant),
        &site, err);
  if (!rc)
    rc =
        create(d, "/v1/users", sys,
               json_pack("{s:s,s:s,s:s,s:s,s:I}", "username", "demo", "password", user_password,
                         "display_name", "Demo owner", "role", "tenant_admin", "tenant_id", tenant),
               &user, err);
  if (!rc)
    rc = login(d, "demo", user_password, token, sizeof token, err);
  /* A visit ends after a minute without the person, so the demo's visitors
   * who come back a little later count as returning. */
  snprintf(path, sizeof path, "/v1/tenants/%lld/settings", (long long)tenant);
  if (!rc)
    rc = api(d, "PATCH", path, token, json_pack("{s:i}", "visit_gap_s", 60), 200, NULL, err);
  if (!rc)
    rc = create(d, "/v1/cameras", token,
                json_pack("{s:I,s:s,s:s,s:s,s:b}", "site_id", site, "name", "Entrance", "kind",
                          "file", "url", json_string_value(json_object_get(d->manifest, "video")),
                          "entrance", 1),
                &camera, err);
  if (!rc)
    rc = api(d, "POST", "/v1/api-keys", token,
             json_pack("{s:s,s:I}", "name", "demo worker", "site_id", site), 201, &key, err);
  if (!rc)
    rc = enrol_staff(d, token, site, err);

  char *text = NULL;
  if (!rc) {
    json_t *state =
        json_pack("{s:I,s:I,s:I,s:O}", "tenant_id", tenant, "site_id", site, "camera_id", camera,
                  "worker_api_key", json_object_get(key, "secret"));
    text = json_dumps(state, JSON_INDENT(2));
    json_decref(state);
    rc = atomic_write(d->state_path, text, strlen(text), err);
  }
  if (!rc)
    chmod(d->state_path, 0600);
  free(text);
  json_decref(key);
  if (rc)
    return rc;
  printf("\n"
         "  Footfall demo is set up: tenant \"Demo Coffee\", store \"Demo store\" (%s),\n"
         "  an entrance camera and two staff members.\n"
         "  Sign in to the dashboard as\n"
         "    username: demo      password: %s   (the store chain's admin)\n"
         "    username: %-9s password: %s   (system admin: tenants and users)\n"
         "  The passwords are shown only this once.\n\n",
         zone, user_password, d->cfg.admin_username, admin_password);
  fflush(stdout);
  return FF_OK;
}

/* ---- start-up ---------------------------------------------------------- */

static int wait_ready(struct demo *d, struct ff_error *err) {
  char url[256];
  snprintf(url, sizeof url, "%s/readyz", d->base_url);
  for (int tries = 0; tries < 600; tries++) {
    struct http_response r = {0};
    struct ff_error ignored = {0};
    if (!http_request("GET", url, NULL, NULL, 0, 2000, 65536, &r, &ignored) && r.status == 200) {
      http_response_free(&r);
      return FF_OK;
    }
    http_response_free(&r);
    if (relay(d, 100) || stop_signal)
      return ff_fail(err, FF_EIO, "the server stopped before it was ready");
  }
  return ff_fail(err, FF_ETIMEOUT, "the server was not ready after a minute");
}

/* argv for `footfall server`: the demo's own flags that are server settings. */
static void server_argv(struct demo *d, int argc, char **argv, char **out) {
  int n = 0;
  out[n++] = d->exe;
  out[n++] = "server";
  /* The demo shows the server's and the worker's lines as they happen, in
   * one stream: no batching (a --log-batch-ms given to the demo wins). */
  out[n++] = "--log-batch-ms";
  out[n++] = "0";
  for (int i = 1; i < argc && n < MAX_CHILD_ARGS - 2; i++) {
    if (strncmp(argv[i], "--", 2))
      continue;
    const char *name = argv[i] + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int server = (config_scope_of(name, len) & CONFIG_SERVER) != 0;
    if (server)
      out[n++] = argv[i];
    if (!eq && i + 1 < argc) {
      if (server)
        out[n++] = argv[i + 1];
      i++;
    }
  }
  out[n] = NULL;
}

static int usage(void) {
  config_print_help(stdout, "demo",
                    "Runs the whole product on this machine: the server, a worker reading a "
                    "looping demo camera,\nand the set-up an operator would do (printed once). "
                    "Made for `make run`.",
                    CONFIG_DEMO);
  return 0;
}

static int run(struct demo *d, int argc, char **argv, struct ff_error *err) {
  const struct config *c = &d->cfg;
  if (c->port <= 0)
    return ff_fail(err, FF_EINVAL, "the demo needs a fixed --port");
  ssize_t n = readlink("/proc/self/exe", d->exe, sizeof d->exe - 1);
  if (n <= 0)
    return ff_fail(err, FF_EIO, "cannot find this executable: %s", strerror(errno));
  d->exe[n] = 0;
  snprintf(d->base_url, sizeof d->base_url, "http://%s:%d",
           strcmp(c->listen, "0.0.0.0") ? c->listen : "127.0.0.1", c->port);

  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/demo.json", c->demo_camera_dir);
  json_error_t jerr;
  d->manifest = json_load_file(path, 0, &jerr);
  if (!d->manifest)
    return ff_fail(err, FF_EINVAL,
                   "no demo camera at %s (%s); make it with `node tools/demo-video.mjs` "
                   "(make run does)",
                   path, jerr.text);
  if (mkdir(c->data_dir, 0700) && errno != EEXIST)
    return ff_fail(err, FF_EIO, "cannot create %s: %s", c->data_dir, strerror(errno));
  snprintf(d->state_path, sizeof d->state_path, "%s/demo.json", c->data_dir);
  json_t *state = json_load_file(d->state_path, 0, NULL);
  char admin_password[64] = "";
  const char *env_name = NULL;
  if (!state) {
    snprintf(path, sizeof path, "%s/footfall.db", c->data_dir);
    if (!c->database_url && access(path, F_OK) == 0)
      return ff_fail(err, FF_EINVAL,
                     "%s holds a database the demo did not set up (or its set-up was "
                     "interrupted); delete the folder or choose another --data-dir",
                     c->data_dir);
    if (c->admin_password) {
      snprintf(admin_password, sizeof admin_password, "%s", c->admin_password);
    } else {
      secret_generate("", admin_password, sizeof admin_password);
      admin_password[20] = 0;
      env_name = "FOOTFALL_ADMIN_PASSWORD";
    }
  }

  char *args[MAX_CHILD_ARGS];
  server_argv(d, argc, argv, args);
  int rc = child_start(&d->server, "server", args, env_name, admin_password, err);
  if (!rc)
    rc = wait_ready(d, err);
  if (!rc && !state) {
    rc = set_up(d, admin_password, err);
    state = rc ? NULL : json_load_file(d->state_path, 0, NULL);
    if (!rc && !state)
      rc = ff_fail(err, FF_EIO, "cannot read back %s", d->state_path);
  }
  if (rc)
    return rc;

  char camera[PATH_MAX + 64], state_dir[PATH_MAX], locks[PATH_MAX], port[16];
  snprintf(camera, sizeof camera, "id=%lld,kind=file,url=%s,loop=1",
           (long long)json_integer_value(json_object_get(state, "camera_id")),
           json_string_value(json_object_get(d->manifest, "video")));
  snprintf(state_dir, sizeof state_dir, "%s/worker", c->data_dir);
  snprintf(locks, sizeof locks, "%s/worker/locks", c->data_dir);
  snprintf(port, sizeof port, "%d", c->demo_worker_port);
  char *wargs[] = {d->exe,
                   "worker",
                   "--server-url",
                   d->base_url,
                   "--state-dir",
                   state_dir,
                   "--device-lock-dir",
                   locks,
                   "--models-dir",
                   c->models_dir,
                   "--endpoint-port",
                   port,
                   "--log-level",
                   c->log_level,
                   "--camera",
                   camera,
                   NULL};
  rc = child_start(&d->worker, "worker", wargs, "FOOTFALL_WORKER_API_KEY",
                   json_string_value(json_object_get(state, "worker_api_key")), err);
  json_decref(state);
  if (rc)
    return rc;
  printf("\n  Footfall demo: open %s in a browser (Ctrl-C stops the demo).\n\n", d->base_url);
  fflush(stdout);
  if (relay(d, -1) && !stop_signal)
    rc = ff_fail(err, FF_EIO, "a process of the demo stopped on its own");
  return rc;
}

int demo_main(int argc, char **argv) {
  static struct demo d;
  struct ff_error err = {0};
  int want_help = 0;
  int rc = config_load(&d.cfg, CONFIG_DEMO, argc, argv, &want_help, &err);
  if (!rc && want_help) {
    config_free(&d.cfg);
    return usage();
  }
  d.server.fd = d.worker.fd = -1;
  if (!rc && pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK))
    rc = ff_fail(&err, FF_EIO, "pipe: %s", strerror(errno));
  if (!rc) {
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = run(&d, argc, argv, &err);
  }
  int worker_rc = child_stop(&d, &d.worker, 30000);
  int server_rc = child_stop(&d, &d.server, 30000);
  if (!rc && (worker_rc || server_rc))
    rc = ff_fail(&err, FF_EIO, "exit status: worker %d, server %d", worker_rc, server_rc);
  json_decref(d.manifest);
  config_free(&d.cfg);
  if (rc) {
    fprintf(stderr, "footfall demo: %s\n", err.message);
    return 1;
  }
  return 0;
}
