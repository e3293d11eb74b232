/* `footfall worker`, the real binary: the local endpoint (auth, status,
 * snapshot, MJPEG, metrics, diagnostics, logs), a persistent worker id,
 * SIGTERM -> exit 0; with faces-bbt: events reach an HTTP listener (test
 * double for the server) once each, across a server outage and a kill -9
 * of the worker. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "http_client.h"
#include "http_double.h"

static char dir[64];

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/footfall-wcli-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}
TestSuite(worker_cli, .init = setup, .fini = teardown, .timeout = 120);

struct worker_proc {
  struct child child;
  int port;
  char worker_id[64];
};

/* Starts the worker; extra are more arguments (NULL-terminated). */
static void start_worker(struct worker_proc *w, const char *camera, const char *server_url,
                         char *const *extra) {
  const char *bin = env_or_null("FOOTFALL_BIN");
  cr_assert_not_null(bin, "FOOTFALL_BIN unset");
  w->port = free_port();
  static char port[16], state[128], locks[128], models[512], cam[1200], server[128];
  snprintf(port, sizeof port, "%d", w->port);
  snprintf(state, sizeof state, "%s/state", dir);
  snprintf(locks, sizeof locks, "%s/locks", dir);
  snprintf(models, sizeof models, "%s", env_or_null("FOOTFALL_MODELS_DIR"));
  snprintf(cam, sizeof cam, "%s", camera);
  char *argv[40] = {(char *)bin,         "worker", "--camera",     cam,    "--state-dir",     state,
                    "--device-lock-dir", locks,    "--models-dir", models, "--endpoint-port", port,
                    "--endpoint-secret", "s3cret", "--log-level",  "warn"};
  int n = 16;
  if (server_url) {
    snprintf(server, sizeof server, "%s", server_url);
    argv[n++] = "--server-url";
    argv[n++] = server;
    argv[n++] = "--worker-api-key";
    argv[n++] = "ffw_cli_key";
  }
  for (int i = 0; extra && extra[i]; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  cr_assert_eq(child_start(&w->child, argv, 1), 0);
  char line[256];
  cr_assert_eq(child_read_line(&w->child, line, sizeof line, 30000), 0, "worker did not start");
  int p = 0;
  cr_assert_eq(sscanf(line, "worker_id=%63s endpoint_port=%d", w->worker_id, &p), 2, "%s", line);
  cr_assert_eq(p, w->port);
}

static int stop_worker(struct worker_proc *w, int timeout_ms) {
  kill(w->child.pid, SIGTERM);
  int64_t until = test_now_ms() + timeout_ms;
  int status = -1;
  while (test_now_ms() < until) {
    if (waitpid(w->child.pid, &status, WNOHANG) == w->child.pid) {
      w->child.pid = 0;
      child_kill(&w->child, 0);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  child_kill(&w->child, SIGKILL);
  return -1;
}

static long get(struct worker_proc *w, const char *path, const char *secret,
                struct http_response *res) {
  char url[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", w->port, path);
  struct ff_error err = {0};
  int rc = http_request("GET", url, secret, NULL, 0, 5000, 16 * 1024 * 1024, res, &err);
  if (rc == FF_ETOOBIG || rc == FF_ETIMEOUT)
    return -rc; /* streams never end: a cut-off stream is not a failure */
  cr_assert_eq(rc, FF_OK, "%s: %s", path, err.message);
  return res->status;
}

/* The start of a response that never ends (SSE): reads until `want`
 * appears or the deadline passes; returns 1 when seen. */
static int stream_contains(int port, const char *path, const char *want, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
    close(fd);
    return 0;
  }
  dprintf(fd, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n\r\n", path);
  static char buf[65536];
  size_t len = 0;
  int64_t until = test_now_ms() + timeout_ms;
  int seen = 0;
  while (!seen && len < sizeof buf - 1 && test_now_ms() < until) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) <= 0)
      continue;
    ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
    if (n <= 0)
      break;
    len += (size_t)n;
    buf[len] = 0;
    seen = strstr(buf, want) != NULL;
  }
  close(fd);
  return seen;
}

struct streaming {
  struct worker_proc *w;
};
static int camera_streaming(void *arg) {
  struct worker_proc *w = arg;
  struct http_response res;
  if (get(w, "/status", "s3cret", &res) != 200)
    return 0;
  json_t *o = json_loads(res.body, 0, NULL);
  json_t *cam = json_array_get(json_object_get(o, "cameras"), 0);
  int ok = cam && !strcmp(json_string_value(json_object_get(cam, "state")), "streaming") &&
           json_integer_value(json_object_get(cam, "processed")) > 0;
  json_decref(o);
  http_response_free(&res);
  return ok;
}

Test(worker_cli, endpoint_and_clean_stop) {
  const char *videos = env_or_null("FOOTFALL_TEST_VIDEO_DIR");
  cr_assert_not_null(videos);
  char camera[1100];
  snprintf(camera, sizeof camera, "id=1,kind=file,url=%s/testsrc.mp4,loop=1,fps=5", videos);
  struct worker_proc w;
  start_worker(&w, camera, NULL, NULL);
  struct http_response res;
  cr_assert_eq(get(&w, "/healthz", NULL, &res), 401);
  http_response_free(&res);
  cr_assert_eq(get(&w, "/healthz", "wrong", &res), 401);
  http_response_free(&res);
  cr_assert_eq(get(&w, "/healthz", "s3cret", &res), 200);
  cr_assert(strstr(res.body, w.worker_id));
  http_response_free(&res);
  cr_assert(wait_until(camera_streaming, &w, 15000), "camera 1 not streaming and processed");

  cr_assert_eq(get(&w, "/cameras/1/snapshot.jpg", "s3cret", &res), 200);
  cr_assert_gt(res.len, 1000);
  cr_assert_eq((unsigned char)res.body[0], 0xff);
  cr_assert_eq((unsigned char)res.body[1], 0xd8);
  http_response_free(&res);
  cr_assert_eq(get(&w, "/cameras/2/snapshot.jpg", "s3cret", &res), 404);
  http_response_free(&res);

  /* The MJPEG stream never ends; read a bounded prefix (size limit). */
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/cameras/1/mjpeg?overlay=1", w.port);
  struct ff_error err = {0};
  int rc = http_request("GET", url, "s3cret", NULL, 0, 5000, 200000, &res, &err);
  cr_assert_eq(rc, FF_ETOOBIG, "stream ended early: %d %s", rc, err.message);

  cr_assert_eq(get(&w, "/metrics", "s3cret", &res), 200);
  cr_assert(strstr(res.body, "footfall_worker_frames_in_total{camera=\"1\"}"), "%s", res.body);
  cr_assert(strstr(res.body, "footfall_worker_outbox_events 0"));
  http_response_free(&res);
  cr_assert_eq(get(&w, "/diagnostics", "s3cret", &res), 200);
  json_t *d = json_loads(res.body, 0, NULL);
  json_t *cam = json_array_get(json_object_get(d, "cameras"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(cam, "decoder"), "codec")),
                   "h264");
  cr_assert(json_is_array(json_object_get(d, "device_locks")));
  json_decref(d);
  http_response_free(&res);
  cr_assert_eq(get(&w, "/logs", "s3cret", &res), 200);
  cr_assert(strstr(res.body, "event=worker.config"), "%s", res.body);
  http_response_free(&res);
  cr_assert(stream_contains(w.port, "/logs/stream", "data: ts=", 5000), "no SSE log lines");
  cr_assert(stream_contains(w.port, "/logs/stream", "event=worker.config", 5000));
  cr_assert_eq(get(&w, "/logs/stream", "wrong", &res), 401);
  http_response_free(&res);
  cr_assert_eq(get(&w, "/nope", "s3cret", &res), 404);
  http_response_free(&res);

  char first_id[64];
  snprintf(first_id, sizeof first_id, "%s", w.worker_id);
  cr_assert_eq(stop_worker(&w, 15000), 0, "SIGTERM did not end the worker cleanly");
  start_worker(&w, camera, NULL, NULL);
  cr_assert_str_eq(w.worker_id, first_id, "worker id not persistent");
  cr_assert_eq(stop_worker(&w, 15000), 0);
}

static const char *walk_video(void) {
  const char *bbt = env_or_null("FOOTFALL_FACES_BBT");
  char probe[512];
  snprintf(probe, sizeof probe, "%s/amy/amy1.png", bbt ? bbt : "");
  if (!bbt || access(probe, R_OK))
    return NULL;
  static char video[256];
  snprintf(video, sizeof video, "%s/walk.mp4", dir);
  char cmd[2048];
  /* Amy passes twice, Raj once: three events. */
  snprintf(cmd, sizeof cmd,
           "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=0x808080:s=640x360:r=25 "
           "-i %s/amy/amy1.png -i %s/raj/raj1.png -filter_complex "
           "\"[1]scale=160:160[a];[2]scale=160:160[b];"
           "[0][a]overlay=x='if(lt(t,3),40+40*t,120)':y=100:"
           "enable='between(t,0.3,2.0)+between(t,4.5,6.0)'[t];"
           "[t][b]overlay=x=420:y=90:enable='between(t,0.6,2.4)'\" "
           "-t 7 -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p %s",
           bbt, bbt, video);
  cr_assert_eq(system(cmd), 0);
  return video;
}

struct answered {
  struct http_double *d;
  int n;
};
static int answered_at_least(void *arg) {
  struct answered *a = arg;
  pthread_mutex_lock(&a->d->lock);
  int n = a->d->answered_count;
  pthread_mutex_unlock(&a->d->lock);
  return n >= a->n;
}

static int outbox_has(void *arg) {
  struct worker_proc *w = ((void **)arg)[0];
  int want = *(int *)((void **)arg)[1];
  struct http_response res;
  if (get(w, "/status", "s3cret", &res) != 200)
    return 0;
  json_t *o = json_loads(res.body, 0, NULL);
  int n = (int)json_integer_value(json_object_get(json_object_get(o, "outbox"), "events"));
  json_decref(o);
  http_response_free(&res);
  return n >= want;
}

Test(worker_cli, events_survive_outage_and_kill_9_exactly_once) {
  const char *video = walk_video();
  if (!video) {
    cr_skip_test("faces-bbt not found (FOOTFALL_FACES_BBT): skipping");
    return;
  }
  struct http_double server;
  cr_assert_eq(double_start(&server), 0);
  server.fixed_body = "{\"site_id\":1,\"version\":1,\"staff\":[]}";
  double_set_mode(&server, DOUBLE_500, 0); /* the server is failing */
  char url[64], camera[512];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", server.port);
  snprintf(camera, sizeof camera, "id=4,kind=file,url=%s", video);
  char *fast[] = {"--upload-retry-base-ms",
                  "50",
                  "--upload-retry-cap-ms",
                  "200",
                  "--track-miss-ms",
                  "1500",
                  NULL};
  struct worker_proc w;
  start_worker(&w, camera, url, fast);
  /* All three passes end up in the outbox while the server fails... */
  int three = 3;
  void *args[] = {&w, &three};
  cr_assert(wait_until(outbox_has, args, 30000), "events did not reach the outbox");
  cr_assert_eq(server.answered_count, 0);
  /* ...then the worker dies without warning. */
  child_kill(&w.child, SIGKILL);

  double_set_mode(&server, DOUBLE_OK, 0);
  snprintf(camera, sizeof camera, "id=4,kind=file,url=%s/none.mp4", dir); /* no new events */
  start_worker(&w, camera, url, fast);
  struct answered a = {&server, 3};
  cr_assert(wait_until(answered_at_least, &a, 15000), "events lost after kill -9: %d answered",
            server.answered_count);
  cr_assert_eq(stop_worker(&w, 15000), 0);
  cr_assert_eq(server.answered_count, 3, "an event was answered twice");
  for (int i = 0; i < server.answered_count; i++)
    cr_assert_eq(double_answer_count(&server, server.answered_ids[i]), 1);
  /* Every request carried the worker's key. */
  for (int i = 0; i < server.request_count; i++)
    cr_assert_str_eq(server.requests[i].authorization, "Bearer ffw_cli_key");
  double_stop(&server);
}

struct camera_reason {
  struct worker_proc *w;
  const char *state, *needle;
};
static int camera_in(void *arg) {
  struct camera_reason *c = arg;
  struct http_response res;
  if (get(c->w, "/diagnostics", "s3cret", &res) != 200)
    return 0;
  json_t *o = json_loads(res.body, 0, NULL);
  json_t *cam = json_array_get(json_object_get(o, "cameras"), 0);
  const char *state = json_string_value(json_object_get(cam, "state"));
  const char *reason = json_string_value(json_object_get(cam, "reason"));
  int ok =
      state && !strcmp(state, c->state) && (!c->needle || (reason && strstr(reason, c->needle)));
  if (ok && c->needle) /* the conflict is listed among the device locks */
    ok = json_array_size(json_object_get(o, "device_locks")) == 1 &&
         json_is_string(
             json_object_get(json_array_get(json_object_get(o, "device_locks"), 0), "conflict"));
  json_decref(o);
  http_response_free(&res);
  return ok;
}

Test(worker_cli, two_workers_one_device_conflict_is_reported) {
  char device[128], camera[256], state_b[128];
  snprintf(device, sizeof device, "%s/video0", dir);
  FILE *f = fopen(device, "w"); /* V4L2 cannot run here: a plain file stands in */
  fclose(f);
  snprintf(camera, sizeof camera, "id=1,kind=v4l2,url=%s", device);
  char *fast[] = {"--reconnect-base-ms", "50", "--reconnect-cap-ms", "200", NULL};
  struct worker_proc a, b;
  start_worker(&a, camera, NULL, fast);
  /* A holds the device (it then fails to open a plain file as a camera). */
  struct camera_reason ra = {&a, "reconnecting", NULL};
  cr_assert(wait_until(camera_in, &ra, 10000), "worker A did not take the device");
  /* B: another process, another state folder, the same lock folder. */
  snprintf(state_b, sizeof state_b, "%s/state-b", dir);
  char *b_args[] = {
      "--reconnect-base-ms", "50", "--reconnect-cap-ms", "200", "--state-dir", state_b, NULL};
  start_worker(&b, camera, NULL, b_args);
  char holder[64];
  snprintf(holder, sizeof holder, "pid=%d camera=1", (int)a.child.pid);
  struct camera_reason rb = {&b, "error", holder};
  cr_assert(wait_until(camera_in, &rb, 10000), "worker B did not report the conflict with %s",
            holder);
  /* A leaves: B takes the device at its next attempt. */
  cr_assert_eq(stop_worker(&a, 15000), 0);
  struct camera_reason rb2 = {&b, "reconnecting", NULL};
  cr_assert(wait_until(camera_in, &rb2, 10000), "worker B did not take the freed device");
  cr_assert_eq(stop_worker(&b, 15000), 0);
}
