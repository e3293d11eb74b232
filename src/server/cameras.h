/* cameras.h — the video sources of a site: RTSP, HTTP MJPEG, files (tests
 * and demos) and V4L2 devices, with per-camera processing settings. The
 * source URL may carry credentials: it is sealed at rest (vault.h) and shown
 * masked. */
#ifndef FOOTFALL_CAMERAS_H
#define FOOTFALL_CAMERAS_H

#include <stddef.h>

#include "http.h"

enum camera_kind { CAMERA_RTSP, CAMERA_MJPEG, CAMERA_FILE, CAMERA_V4L2, CAMERA_KIND_COUNT };

/* Checks a source for its kind; FF_EINVAL with a message naming the rule. */
int camera_source_check(enum camera_kind kind, const char *source, struct ff_error *err);
/* Writes the source with passwords (userinfo and password-like query
 * values) replaced by "****". */
void camera_source_mask(const char *source, char *out, size_t size);
int camera_kind_parse(const char *name, enum camera_kind *out);

void cameras_list(struct request *rq);
void cameras_get(struct request *rq);
void cameras_create(struct request *rq);
void cameras_update(struct request *rq);
void cameras_delete(struct request *rq);

#endif
