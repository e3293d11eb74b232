/* Camera sources against real streams: files (pacing, looping, end),
 * RTSP over TCP and UDP from the gst-rtsp-server fixture (killed and
 * restarted), HTTP MJPEG from ffmpeg, a dead endpoint, device locks. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libavutil/frame.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devlock.h"
#include "harness.h"
#include "source.h"

static const char *video(void) {
  const char *dir = env_or_null("FOOTFALL_TEST_VIDEO_DIR");
  static char path[1024];
  cr_assert_not_null(dir, "FOOTFALL_TEST_VIDEO_DIR unset (fixture rtsp)");
  snprintf(path, sizeof path, "%s/testsrc.mp4", dir);
  cr_assert_eq(access(path, R_OK), 0, "%s missing: run the rtsp fixture", path);
  return path;
}

static void fast_options(struct camera_source_options *o, enum camera_kind kind, const char *url) {
  camera_source_options_default(o);
  o->camera_id = 7;
  o->kind = kind;
  snprintf(o->url, sizeof o->url, "%s", url);
  o->timeout_ms = 1500;
  o->backoff_base_ms = 50;
  o->backoff_cap_ms = 200;
}

struct frames_at_least {
  struct camera_source *s;
  uint64_t n;
};
static int has_frames(void *arg) {
  struct frames_at_least *f = arg;
  struct camera_source_stats st;
  camera_source_get_stats(f->s, &st);
  return st.frames_in >= f->n;
}

Test(source, file_paced_in_real_time) {
  struct camera_source_options o;
  fast_options(&o, CAMERA_FILE, video());
  struct camera_source *s;
  struct ff_error err = {0};
  cr_assert_eq(camera_source_start(&o, &s, &err), FF_OK, "%s", err.message);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_STREAMING, 5000), FF_OK);
  int64_t t0 = test_now_ms();
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  struct frames_at_least want = {s, st.frames_in + 25};
  cr_assert(wait_until(has_frames, &want, 5000));
  int64_t elapsed = test_now_ms() - t0;
  /* 25 frames at 25 fps take about a second; a decoder running free would
   * deliver them in a few tens of milliseconds. */
  cr_assert_geq(elapsed, 800, "25 frames in %lld ms: not paced", (long long)elapsed);
  cr_assert_leq(elapsed, 6000, "25 frames in %lld ms: too slow", (long long)elapsed);
  AVFrame *f = av_frame_alloc();
  uint64_t seq;
  int64_t wall;
  cr_assert_eq(camera_source_take(s, 0, 1000, f, &seq, &wall), FF_OK);
  cr_assert_eq(f->width, 640);
  cr_assert_eq(f->height, 360);
  av_frame_free(&f);
  camera_source_get_stats(s, &st);
  cr_assert_str_eq(st.codec, "h264");
  cr_assert_eq(st.state, CAMERA_STREAMING);
  camera_source_stop(s);
}

static void make_clip(char *path, size_t size, double seconds) {
  snprintf(path, size, "/tmp/footfall-clip-%d.mp4", (int)getpid());
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=160x120:rate=25:"
           "duration=%.2f -c:v libx264 -preset ultrafast -g 5 -pix_fmt yuv420p %s",
           seconds, path);
  cr_assert_eq(system(cmd), 0, "ffmpeg failed: %s", cmd);
}

Test(source, file_ends_or_loops) {
  char clip[256];
  make_clip(clip, sizeof clip, 0.4); /* 10 frames */
  struct camera_source_options o;
  fast_options(&o, CAMERA_FILE, clip);
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_STOPPED, 5000), FF_OK);
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  cr_assert_eq(st.frames_in, 10);
  cr_assert_str_eq(st.reason, "end of file");
  camera_source_stop(s);

  o.loop = 1;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  int64_t t0 = test_now_ms();
  struct frames_at_least want = {s, 35}; /* three and a half passes */
  cr_assert(wait_until(has_frames, &want, 5000));
  /* Every pass is paced, not only the first: 35 frames at 25 fps take
   * ~1.25 s (a free-running pass would take a few ms). */
  cr_assert_geq(test_now_ms() - t0, 1100, "looped passes not paced: %lld ms",
                (long long)(test_now_ms() - t0));
  camera_source_get_stats(s, &st);
  cr_assert_eq(st.state, CAMERA_STREAMING);
  cr_assert_eq(st.reconnects, 0);
  camera_source_stop(s);
  unlink(clip);
}

Test(source, slow_consumer_gets_newest_frame_only) {
  struct camera_source_options o;
  fast_options(&o, CAMERA_FILE, video());
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  AVFrame *f = av_frame_alloc();
  uint64_t seq1, seq2;
  int64_t wall;
  cr_assert_eq(camera_source_take(s, 0, 5000, f, &seq1, &wall), FF_OK);
  /* Nobody takes frames while ten more arrive. */
  struct frames_at_least want = {s, seq1 + 10};
  cr_assert(wait_until(has_frames, &want, 5000));
  cr_assert_eq(camera_source_take(s, seq1, 1000, f, &seq2, &wall), FF_OK);
  cr_assert_geq(seq2, seq1 + 10, "got %llu after %llu", (unsigned long long)seq2,
                (unsigned long long)seq1);
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  cr_assert_geq(st.frames_unread, 9);
  /* Taking again without a newer frame waits and times out. */
  uint64_t seq3;
  camera_source_stop(s);
  av_frame_free(&f);
  (void)seq3;
}

static const char *rtsp_server_path(void) {
  const char *p = env_or_null("RTSP_SERVER");
  cr_assert_not_null(p, "RTSP_SERVER unset");
  return p;
}

static int start_rtsp(struct child *c, const char *port_text) {
  char *argv[] = {(char *)rtsp_server_path(), (char *)video(), (char *)port_text, NULL};
  cr_assert_eq(child_start(c, argv, 1), 0);
  char line[64];
  cr_assert_eq(child_read_line(c, line, sizeof line, 10000), 0, "rtsp_server did not start");
  int port = 0;
  cr_assert_eq(sscanf(line, "port=%d", &port), 1, "unexpected line '%s'", line);
  return port;
}

static void rtsp_streams(int udp) {
  struct child server;
  int port = start_rtsp(&server, "0");
  char url[128];
  snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/test", port);
  struct camera_source_options o;
  fast_options(&o, CAMERA_RTSP, url);
  o.rtsp_udp = udp;
  o.timeout_ms = 5000;
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  struct frames_at_least want = {s, 10};
  cr_assert(wait_until(has_frames, &want, 15000), "no frames over RTSP/%s", udp ? "UDP" : "TCP");
  AVFrame *f = av_frame_alloc();
  uint64_t seq;
  int64_t wall;
  cr_assert_eq(camera_source_take(s, 0, 1000, f, &seq, &wall), FF_OK);
  cr_assert_eq(f->width, 640);
  av_frame_free(&f);
  camera_source_stop(s);
  child_kill(&server, SIGKILL);
}

Test(source, rtsp_tcp) {
  rtsp_streams(0);
}

Test(source, rtsp_udp) {
  rtsp_streams(1);
}

struct state_is {
  struct camera_source *s;
  enum camera_state state;
};

Test(source, rtsp_server_killed_and_restarted_reconnects) {
  struct child server;
  int port = start_rtsp(&server, "0");
  char url[128], port_text[16];
  snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/test", port);
  snprintf(port_text, sizeof port_text, "%d", port);
  struct camera_source_options o;
  fast_options(&o, CAMERA_RTSP, url);
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_STREAMING, 15000), FF_OK);
  child_kill(&server, SIGKILL);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_RECONNECTING, 5000), FF_OK,
               "a dead RTSP server was not noticed");
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  cr_assert_neq(st.reason[0], 0);
  uint64_t before = st.frames_in;
  /* Down for a while: several attempts fail, the camera keeps trying. */
  struct frames_at_least dummy = {s, 0};
  (void)dummy;
  start_rtsp(&server, port_text);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_STREAMING, 15000), FF_OK,
               "did not reconnect after the server came back");
  struct frames_at_least want = {s, before + 10};
  cr_assert(wait_until(has_frames, &want, 10000));
  camera_source_get_stats(s, &st);
  cr_assert_geq(st.connects, 2);
  cr_assert_geq(st.reconnects, 1);
  camera_source_stop(s);
  child_kill(&server, SIGKILL);
}

Test(source, mjpeg_over_http) {
  int port = free_port();
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/x.mjpg", port);
  char *argv[] = {"/usr/bin/ffmpeg",
                  "-hide_banner",
                  "-loglevel",
                  "error",
                  "-re",
                  "-stream_loop",
                  "-1",
                  "-i",
                  (char *)video(),
                  "-f",
                  "mpjpeg",
                  "-content_type",
                  "multipart/x-mixed-replace;boundary=ffmpeg",
                  "-listen",
                  "1",
                  url,
                  NULL};
  struct child ff;
  cr_assert_eq(child_start(&ff, argv, 0), 0);
  struct camera_source_options o;
  fast_options(&o, CAMERA_MJPEG, url);
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  struct frames_at_least want = {s, 10};
  cr_assert(wait_until(has_frames, &want, 15000), "no MJPEG frames");
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  cr_assert_str_eq(st.codec, "mjpeg");
  cr_assert_eq(st.width, 640);
  camera_source_stop(s);
  child_kill(&ff, SIGKILL);
}

Test(source, silent_endpoint_times_out_and_stop_is_prompt) {
  /* A listener that accepts connections (kernel backlog) but never speaks. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  cr_assert_eq(listen(fd, 16), 0);
  getsockname(fd, (struct sockaddr *)&a, &len);
  char url[128];
  snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/test", ntohs(a.sin_port));
  struct camera_source_options o;
  fast_options(&o, CAMERA_RTSP, url);
  o.timeout_ms = 300;
  o.backoff_base_ms = 5000; /* the next attempt is far away */
  o.backoff_cap_ms = 5000;
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_RECONNECTING, 3000), FF_OK);
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  cr_assert(strstr(st.reason, "no data for 300 ms"), "reason: %s", st.reason);
  int64_t t0 = test_now_ms();
  camera_source_stop(s); /* during the 2.5..5 s backoff wait */
  cr_assert_lt(test_now_ms() - t0, 1000, "stop waited for the backoff");
  close(fd);
}

Test(devlock, second_opener_conflicts_until_released) {
  char dir[] = "/tmp/footfall-locks-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char device[256];
  snprintf(device, sizeof device, "%s/video0", dir);
  FILE *f = fopen(device, "w");
  fclose(f);
  struct devlock a, b;
  struct ff_error err = {0};
  cr_assert_eq(devlock_acquire(dir, device, 1, &a, &err), FF_OK, "%s", err.message);
  cr_assert_eq(devlock_acquire(dir, device, 2, &b, &err), FF_ECONFLICT);
  cr_assert(strstr(err.message, "in use"), "%s", err.message);
  cr_assert(strstr(err.message, "camera=1"), "holder not named: %s", err.message);
  devlock_release(&a);
  cr_assert_eq(devlock_acquire(dir, device, 2, &b, &err), FF_OK, "%s", err.message);

  /* A camera on a held device reports the conflict as its state. */
  struct camera_source_options o;
  fast_options(&o, CAMERA_V4L2, device);
  snprintf(o.lock_dir, sizeof o.lock_dir, "%s", dir);
  struct camera_source *s;
  cr_assert_eq(camera_source_start(&o, &s, NULL), FF_OK);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_ERROR, 3000), FF_OK);
  struct camera_source_stats st;
  camera_source_get_stats(s, &st);
  cr_assert(strstr(st.reason, "in use"), "%s", st.reason);
  cr_assert_eq(st.device_locked, 0);
  /* Released: the camera takes the device at its next attempt (the plain
   * file is no video device, so it then fails to open, holding the lock). */
  devlock_release(&b);
  cr_assert_eq(camera_source_wait_state(s, CAMERA_RECONNECTING, 3000), FF_OK);
  camera_source_get_stats(s, &st);
  cr_assert_eq(st.device_locked, 1);
  cr_assert_eq(devlock_acquire(dir, device, 3, &b, &err), FF_ECONFLICT);
  camera_source_stop(s);
  cr_assert_eq(devlock_acquire(dir, device, 3, &b, &err), FF_OK, "%s", err.message);
  devlock_release(&b);
}
