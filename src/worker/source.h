/* source.h — one camera, read by one thread, newest frame only.
 *
 * A camera_source owns a reader thread that opens the stream with FFmpeg
 * (RTSP over TCP or UDP, HTTP MJPEG, a video file paced in real time by its
 * timestamps and optionally looped, or a V4L2 device by path), decodes, and
 * keeps only the newest decoded frame. Consumers take that frame when they
 * are ready; a frame replaced before anyone took it is counted as unread,
 * so a slow pipeline skips frames and never builds a backlog.
 *
 * The reader never gives up: any failure (open, read stall, decode, end of
 * a live stream) closes the input and reconnects after a capped exponential
 * backoff with jitter. Every blocking FFmpeg call is bounded by an
 * interrupt callback (timeout_ms, and camera_source_stop), so a dead camera
 * never hangs a thread. A local device is locked (devlock.h) for as long as
 * the source runs; a conflict is state CAMERA_ERROR with the reason, retried
 * with the same backoff. Only a non-looping file that ends stops for good
 * (CAMERA_STOPPED).
 *
 * Threads: all functions may be called from any thread. Memory: frames
 * taken are AVFrame references the caller owns (av_frame_unref / free).
 */
#ifndef FOOTFALL_WORKER_SOURCE_H
#define FOOTFALL_WORKER_SOURCE_H

#include <stdint.h>

#include "status.h"

struct AVFrame;

enum camera_kind { CAMERA_RTSP, CAMERA_MJPEG, CAMERA_FILE, CAMERA_V4L2 };
enum camera_state {
  CAMERA_STARTING,
  CAMERA_STREAMING,
  CAMERA_RECONNECTING,
  CAMERA_STOPPED,
  CAMERA_ERROR,
};

#define CAMERA_URL_MAX 1024
#define CAMERA_REASON_MAX 256

struct camera_source_options {
  int camera_id;
  enum camera_kind kind;
  char url[CAMERA_URL_MAX]; /* URL, file path or device path */
  int rtsp_udp;             /* RTSP over UDP instead of TCP */
  int loop;                 /* files: start again at the end */
  int timeout_ms;           /* longest wait for open or for the next packet */
  int backoff_base_ms, backoff_cap_ms;
  char lock_dir[512]; /* where device locks live (V4L2 only) */
};

void camera_source_options_default(struct camera_source_options *o);

struct camera_source_stats {
  enum camera_state state;
  char reason[CAMERA_REASON_MAX]; /* why the last failure happened ("" when none) */
  uint64_t frames_in;             /* decoded */
  uint64_t frames_unread;         /* replaced before any consumer took them */
  uint64_t packets;
  uint64_t decode_errors;
  uint64_t connects;   /* successful opens */
  uint64_t reconnects; /* failures that led to a new attempt */
  int64_t last_frame_wall_ms;
  int width, height;
  char codec[32];
  int device_locked; /* holds its device lock */
};

struct camera_source;

int camera_source_start(const struct camera_source_options *options, struct camera_source **out,
                        struct ff_error *err);
/* Stops the reader (interrupting any blocking call), joins it and frees. */
void camera_source_stop(struct camera_source *source);

/* Waits up to timeout_ms for a frame newer than after_seq and references it
 * into dst (which must be empty or unreferenced). Sets *seq and *wall_ms
 * (capture time). FF_ETIMEOUT when none came. */
int camera_source_take(struct camera_source *source, uint64_t after_seq, int timeout_ms,
                       struct AVFrame *dst, uint64_t *seq, int64_t *wall_ms);

void camera_source_get_stats(struct camera_source *source, struct camera_source_stats *out);
/* Waits up to timeout_ms for the state; FF_OK when reached, else FF_ETIMEOUT. */
int camera_source_wait_state(struct camera_source *source, enum camera_state state, int timeout_ms);

const char *camera_source_state_name(enum camera_state state);
const char *camera_source_kind_name(enum camera_kind kind);
/* "rtsp", "mjpeg", "file", "v4l2" -> kind; FF_EINVAL otherwise. */
int camera_source_kind_parse(const char *name, enum camera_kind *out);

#endif
