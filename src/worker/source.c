#include "source.h"

#include <dlfcn.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavdevice/version_major.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "devlock.h"

struct camera_source {
  struct camera_source_options options;
  pthread_t thread;
  atomic_int stopping;
  atomic_llong deadline_ms; /* for the interrupt callback; 0 = none */

  /* `lock` guards everything below: the newest frame, its sequence number,
   * the stats and the state. The reader holds it only to swap a frame in. */
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a new frame, a new state, or stop */
  struct AVFrame *newest;
  uint64_t seq;
  int newest_taken;
  int64_t newest_wall_ms;
  struct camera_source_stats stats;

  struct devlock device; /* reader thread only */
};

static const char *const state_names[] = {"starting", "streaming", "reconnecting", "stopped",
                                          "error"};
static const char *const kind_names[] = {"rtsp", "mjpeg", "file", "v4l2"};

const char *camera_source_state_name(enum camera_state state) {
  return (unsigned)state < 5 ? state_names[state] : "unknown";
}

const char *camera_source_kind_name(enum camera_kind kind) {
  return (unsigned)kind < 4 ? kind_names[kind] : "unknown";
}

int camera_source_kind_parse(const char *name, enum camera_kind *out) {
  for (int i = 0; i < 4; i++)
    if (!strcmp(name, kind_names[i])) {
      *out = (enum camera_kind)i;
      return FF_OK;
    }
  return FF_EINVAL;
}

void camera_source_options_default(struct camera_source_options *o) {
  memset(o, 0, sizeof *o);
  o->kind = CAMERA_RTSP;
  o->timeout_ms = 10000;
  o->backoff_base_ms = 1000;
  o->backoff_cap_ms = 30000;
  snprintf(o->lock_dir, sizeof o->lock_dir, "/run/lock/footfall");
}

static void set_state(struct camera_source *s, enum camera_state state, const char *reason) {
  pthread_mutex_lock(&s->lock);
  s->stats.state = state;
  if (reason)
    snprintf(s->stats.reason, sizeof s->stats.reason, "%s", reason);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
}

/* Sleeps up to ms, or less when stop is asked. */
static void wait_or_stop(struct camera_source *s, int64_t ms) {
  int64_t until = monotonic_ms() + ms;
  pthread_mutex_lock(&s->lock);
  while (!atomic_load(&s->stopping)) {
    int64_t left = until - monotonic_ms();
    if (left <= 0)
      break;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (left % 1000) * 1000000;
    ts.tv_sec += left / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&s->changed, &s->lock, &ts);
  }
  pthread_mutex_unlock(&s->lock);
}

static int interrupt_cb(void *opaque) {
  struct camera_source *s = opaque;
  if (atomic_load(&s->stopping))
    return 1;
  long long deadline = atomic_load(&s->deadline_ms);
  return deadline && monotonic_ms() > deadline;
}

static void arm_deadline(struct camera_source *s) {
  atomic_store(&s->deadline_ms, monotonic_ms() + s->options.timeout_ms);
}

static void describe_av_error(struct camera_source *s, const char *what, int averr, char *reason,
                              size_t size) {
  char text[128];
  av_strerror(averr, text, sizeof text);
  long long deadline = atomic_load(&s->deadline_ms);
  if (deadline && monotonic_ms() > deadline && !atomic_load(&s->stopping))
    snprintf(reason, size, "%s: no data for %d ms", what, s->options.timeout_ms);
  else
    snprintf(reason, size, "%s: %s", what, text);
}

static void publish(struct camera_source *s, AVFrame *frame) {
  int64_t now = wall_ms();
  pthread_mutex_lock(&s->lock);
  if (s->newest_taken == 0 && s->seq > 0)
    s->stats.frames_unread++;
  av_frame_unref(s->newest);
  av_frame_move_ref(s->newest, frame);
  s->seq++;
  s->newest_taken = 0;
  s->newest_wall_ms = now;
  s->stats.frames_in++;
  s->stats.last_frame_wall_ms = now;
  s->stats.width = s->newest->width;
  s->stats.height = s->newest->height;
  if (s->stats.state != CAMERA_STREAMING) {
    s->stats.state = CAMERA_STREAMING;
    s->stats.reason[0] = 0;
  }
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
}

/* Real-time pacing of files: frame at pts p is shown at start + (p - first). */
struct pacing {
  int active;
  int64_t first_pts_ms, start_mono_ms;
};

static void pace(struct camera_source *s, struct pacing *p, const AVFrame *frame,
                 AVRational time_base, int64_t *frame_index, double fallback_fps) {
  int64_t ts = frame->best_effort_timestamp;
  int64_t pts_ms = ts == AV_NOPTS_VALUE ? (int64_t)((double)*frame_index * 1000.0 / fallback_fps)
                                        : av_rescale_q(ts, time_base, (AVRational){1, 1000});
  (*frame_index)++;
  if (!p->active || pts_ms < p->first_pts_ms) {
    p->active = 1;
    p->first_pts_ms = pts_ms;
    p->start_mono_ms = monotonic_ms();
    return;
  }
  int64_t due = p->start_mono_ms + (pts_ms - p->first_pts_ms);
  int64_t wait = due - monotonic_ms();
  if (wait > 0)
    wait_or_stop(s, wait > 5000 ? 5000 : wait);
}

/* libavdevice (V4L2 input) is opened only when a V4L2 camera runs: linked
 * in, it and the libraries it pulls (SDL, PulseAudio, OpenGL, flite...)
 * cost every worker about 15 MB resident (docs/WORKER.md, memory). */
#define AVDEVICE_LIBRARY "libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR)

static char avdevice_error[160];

static void avdevice_open(void) {
  void *lib = dlopen(AVDEVICE_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  void (*register_all)(void) = lib ? (void (*)(void))dlsym(lib, "avdevice_register_all") : NULL;
  if (!register_all) {
    const char *why = dlerror();
    snprintf(avdevice_error, sizeof avdevice_error, "V4L2 needs %s: %s", AVDEVICE_LIBRARY,
             why ? why : "not found");
    return;
  }
  register_all(); /* the library stays loaded for the life of the process */
}

static int load_avdevice(char *reason, size_t reason_size) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, avdevice_open);
  if (!avdevice_error[0])
    return 0;
  snprintf(reason, reason_size, "%s", avdevice_error);
  return -1;
}

/* Opens, decodes until failure or (for a non-looping file) the end.
 * Returns 1 when the file ended for good, 0 otherwise; reason says why. */
static int run_stream(struct camera_source *s, char *reason, size_t reason_size, int *got_frame) {
  const struct camera_source_options *o = &s->options;
  AVFormatContext *fmt = avformat_alloc_context();
  AVCodecContext *dec = NULL;
  AVPacket *pkt = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  AVDictionary *opts = NULL;
  int finished = 0, rc;
  if (!fmt || !pkt || !frame) {
    snprintf(reason, reason_size, "out of memory");
    goto done;
  }
  fmt->interrupt_callback.callback = interrupt_cb;
  fmt->interrupt_callback.opaque = s;
  char us[32];
  snprintf(us, sizeof us, "%lld", (long long)o->timeout_ms * 1000);
  const AVInputFormat *input = NULL;
  switch (o->kind) {
  case CAMERA_RTSP:
    av_dict_set(&opts, "rtsp_transport", o->rtsp_udp ? "udp" : "tcp", 0);
    av_dict_set(&opts, "timeout", us, 0);
    break;
  case CAMERA_MJPEG:
    input = av_find_input_format("mpjpeg");
    av_dict_set(&opts, "rw_timeout", us, 0);
    break;
  case CAMERA_V4L2:
    if (load_avdevice(reason, reason_size))
      goto done;
    input = av_find_input_format("video4linux2");
    break;
  case CAMERA_FILE: break;
  }
  arm_deadline(s);
  rc = avformat_open_input(&fmt, o->url, input, &opts);
  if (rc < 0) {
    fmt = NULL; /* freed by avformat_open_input on failure */
    describe_av_error(s, "open", rc, reason, reason_size);
    goto done;
  }
  arm_deadline(s);
  if ((rc = avformat_find_stream_info(fmt, NULL)) < 0) {
    describe_av_error(s, "probe", rc, reason, reason_size);
    goto done;
  }
  const AVCodec *codec = NULL;
  int index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (index < 0 || !codec) {
    snprintf(reason, reason_size, "no decodable video stream");
    goto done;
  }
  AVStream *stream = fmt->streams[index];
  dec = avcodec_alloc_context3(codec);
  if (!dec || avcodec_parameters_to_context(dec, stream->codecpar) < 0) {
    snprintf(reason, reason_size, "cannot set up the %s decoder", codec->name);
    goto done;
  }
  /* One decoding thread per camera: cameras are the parallelism. */
  dec->thread_count = 1;
  if ((rc = avcodec_open2(dec, codec, NULL)) < 0) {
    describe_av_error(s, "decoder", rc, reason, reason_size);
    goto done;
  }
  pthread_mutex_lock(&s->lock);
  snprintf(s->stats.codec, sizeof s->stats.codec, "%s", codec->name);
  s->stats.connects++;
  pthread_mutex_unlock(&s->lock);

  double fps = av_q2d(stream->avg_frame_rate);
  if (!(fps > 0 && fps < 1000))
    fps = 25;
  struct pacing pacing = {0};
  int64_t frame_index = 0;
  int draining = 0;
  for (;;) {
    if (atomic_load(&s->stopping))
      break;
    if (!draining) {
      arm_deadline(s);
      rc = av_read_frame(fmt, pkt);
      if (rc == AVERROR_EOF && o->kind == CAMERA_FILE) {
        draining = 1; /* flush the decoder's last frames, then loop or stop */
        avcodec_send_packet(dec, NULL);
      } else if (rc < 0) {
        if (rc == AVERROR_EOF)
          snprintf(reason, reason_size, "stream ended");
        else
          describe_av_error(s, "read", rc, reason, reason_size);
        break;
      } else {
        if (pkt->stream_index != index) {
          av_packet_unref(pkt);
          continue;
        }
        pthread_mutex_lock(&s->lock);
        s->stats.packets++;
        pthread_mutex_unlock(&s->lock);
        rc = avcodec_send_packet(dec, pkt);
        av_packet_unref(pkt);
        if (rc < 0 && rc != AVERROR(EAGAIN)) {
          pthread_mutex_lock(&s->lock);
          s->stats.decode_errors++;
          pthread_mutex_unlock(&s->lock);
          continue;
        }
      }
    }
    for (;;) {
      rc = avcodec_receive_frame(dec, frame);
      if (rc == AVERROR(EAGAIN))
        break;
      if (rc == AVERROR_EOF) {
        if (!o->loop) {
          finished = 1;
          snprintf(reason, reason_size, "end of file");
          goto done;
        }
        arm_deadline(s);
        if ((rc = av_seek_frame(fmt, index, 0, AVSEEK_FLAG_BACKWARD)) < 0) {
          describe_av_error(s, "seek", rc, reason, reason_size);
          goto done;
        }
        avcodec_flush_buffers(dec);
        draining = 0;
        pacing.active = 0; /* the next pass is paced from its first frame */
        break;
      }
      if (rc < 0) {
        pthread_mutex_lock(&s->lock);
        s->stats.decode_errors++;
        pthread_mutex_unlock(&s->lock);
        break;
      }
      if (o->kind == CAMERA_FILE)
        pace(s, &pacing, frame, stream->time_base, &frame_index, fps);
      if (atomic_load(&s->stopping))
        goto done;
      *got_frame = 1;
      publish(s, frame);
    }
  }
done:
  atomic_store(&s->deadline_ms, 0);
  av_dict_free(&opts);
  av_frame_free(&frame);
  av_packet_free(&pkt);
  avcodec_free_context(&dec);
  avformat_close_input(&fmt);
  return finished;
}

static void *reader_main(void *arg) {
  struct camera_source *s = arg;
  struct backoff backoff;
  backoff_init(&backoff, s->options.backoff_base_ms, s->options.backoff_cap_ms);
  char reason[CAMERA_REASON_MAX];
  while (!atomic_load(&s->stopping)) {
    if (s->options.kind == CAMERA_V4L2 && s->device.fd < 0) {
      struct ff_error err = {0};
      if (devlock_acquire(s->options.lock_dir, s->options.url, s->options.camera_id, &s->device,
                          &err)) {
        set_state(s, CAMERA_ERROR, err.message);
        wait_or_stop(s, backoff_next_ms(&backoff));
        continue;
      }
      pthread_mutex_lock(&s->lock);
      s->stats.device_locked = 1;
      pthread_mutex_unlock(&s->lock);
    }
    reason[0] = 0;
    int got_frame = 0;
    int finished = run_stream(s, reason, sizeof reason, &got_frame);
    if (atomic_load(&s->stopping))
      break;
    if (finished) {
      set_state(s, CAMERA_STOPPED, reason);
      return NULL;
    }
    if (got_frame)
      backoff_reset(&backoff);
    pthread_mutex_lock(&s->lock);
    s->stats.reconnects++;
    pthread_mutex_unlock(&s->lock);
    set_state(s, CAMERA_RECONNECTING, reason);
    wait_or_stop(s, backoff_next_ms(&backoff));
  }
  set_state(s, CAMERA_STOPPED, NULL);
  return NULL;
}

int camera_source_start(const struct camera_source_options *options, struct camera_source **out,
                        struct ff_error *err) {
  if (!options->url[0])
    return ff_fail(err, FF_EINVAL, "camera %d has no url", options->camera_id);
  struct camera_source *s = calloc(1, sizeof *s);
  if (!s || !(s->newest = av_frame_alloc())) {
    free(s);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  s->options = *options;
  if (s->options.timeout_ms <= 0)
    s->options.timeout_ms = 10000;
  s->device.fd = -1;
  s->stats.state = CAMERA_STARTING;
  pthread_mutex_init(&s->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&s->changed, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&s->thread, NULL, reader_main, s)) {
    av_frame_free(&s->newest);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return ff_fail(err, FF_EINTERNAL, "cannot start the reader thread");
  }
  char name[16];
  snprintf(name, sizeof name, "cam-%d", options->camera_id);
  pthread_setname_np(s->thread, name);
  *out = s;
  return FF_OK;
}

void camera_source_stop(struct camera_source *s) {
  if (!s)
    return;
  atomic_store(&s->stopping, 1);
  pthread_mutex_lock(&s->lock);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->thread, NULL);
  devlock_release(&s->device);
  av_frame_free(&s->newest);
  pthread_cond_destroy(&s->changed);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static void deadline_from_now(struct timespec *ts, int timeout_ms) {
  clock_gettime(CLOCK_MONOTONIC, ts);
  int64_t ns = ts->tv_nsec + (int64_t)(timeout_ms % 1000) * 1000000;
  ts->tv_sec += timeout_ms / 1000 + ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
}

int camera_source_take(struct camera_source *s, uint64_t after_seq, int timeout_ms, AVFrame *dst,
                       uint64_t *seq, int64_t *wall) {
  struct timespec until;
  deadline_from_now(&until, timeout_ms);
  int rc = FF_ETIMEOUT;
  pthread_mutex_lock(&s->lock);
  while (s->seq <= after_seq && !atomic_load(&s->stopping))
    if (pthread_cond_timedwait(&s->changed, &s->lock, &until) == ETIMEDOUT)
      break;
  if (s->seq > after_seq && s->newest->buf[0]) {
    av_frame_unref(dst);
    if (av_frame_ref(dst, s->newest) == 0) {
      s->newest_taken = 1;
      *seq = s->seq;
      *wall = s->newest_wall_ms;
      rc = FF_OK;
    } else {
      rc = FF_ENOMEM;
    }
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

void camera_source_get_stats(struct camera_source *s, struct camera_source_stats *out) {
  pthread_mutex_lock(&s->lock);
  *out = s->stats;
  pthread_mutex_unlock(&s->lock);
}

int camera_source_wait_state(struct camera_source *s, enum camera_state state, int timeout_ms) {
  struct timespec until;
  deadline_from_now(&until, timeout_ms);
  int rc = FF_ETIMEOUT;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    if (s->stats.state == state) {
      rc = FF_OK;
      break;
    }
    if (pthread_cond_timedwait(&s->changed, &s->lock, &until) == ETIMEDOUT) {
      rc = s->stats.state == state ? FF_OK : FF_ETIMEOUT;
      break;
    }
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}
