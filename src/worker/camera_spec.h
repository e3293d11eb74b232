/* camera_spec.h — cameras as the operator (or later the server) gives them.
 *
 * Two forms, both strict (unknown keys, bad kinds, ids <= 0, fps outside
 * 0.1..60 are errors with a message):
 *   --camera id=1,kind=rtsp,url=rtsp://cam/stream,fps=5,transport=udp,loop=1,motion=0
 *     (url may contain commas: it runs up to the next ",key=" of a known key,
 *     so an unknown key after url becomes part of the URL; put url last)
 *   a JSON file: [{"id":1,"kind":"rtsp","url":"...","fps":5,"transport":"tcp",
 *                  "loop":false,"motion_gate":true}, ...]
 */
#ifndef FOOTFALL_WORKER_CAMERA_SPEC_H
#define FOOTFALL_WORKER_CAMERA_SPEC_H

#include <stddef.h>

#include "source.h"
#include "status.h"

#define CAMERA_SPEC_MAX 64

struct camera_spec {
  int id;
  enum camera_kind kind;
  char url[CAMERA_URL_MAX];
  double fps;      /* 0 = the worker's default */
  int udp;         /* RTSP transport */
  int loop;        /* files */
  int motion_gate; /* -1 = the worker's default */
};

int camera_spec_parse_flag(const char *text, struct camera_spec *out, struct ff_error *err);
/* Appends to specs (capacity CAMERA_SPEC_MAX total); *count is updated. */
int camera_spec_parse_json(const char *text, size_t len, struct camera_spec *specs, int *count,
                           struct ff_error *err);

#endif
