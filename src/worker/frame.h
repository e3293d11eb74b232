/* frame.h — decoded video frames as RGB, and JPEG encoding.
 *
 * A frame_converter turns AVFrames of any pixel format into packed RGB8 with
 * swscale, caching its context while the input format stays the same. An
 * rgb_image owns its pixels (rgb_image_free). Not thread-safe: one
 * converter per thread.
 */
#ifndef FOOTFALL_WORKER_FRAME_H
#define FOOTFALL_WORKER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct AVFrame;

struct rgb_image {
  uint8_t *rgb;
  int width, height;
  size_t stride;
  size_t capacity; /* bytes allocated */
};

struct frame_converter {
  struct SwsContext *sws;
  int width, height, format;
};

/* Converts f into out (reallocating its buffer only when it grows). */
int frame_to_rgb(struct frame_converter *c, const struct AVFrame *f, struct rgb_image *out,
                 struct ff_error *err);
void frame_converter_free(struct frame_converter *c);

/* Copies the rectangle (clipped to the image) into out. */
int rgb_image_crop(const struct rgb_image *in, int x, int y, int width, int height,
                   struct rgb_image *out, struct ff_error *err);
void rgb_image_free(struct rgb_image *img);

/* JPEG of packed RGB8 at quality 1..100 (libturbojpeg). Caller frees *out
 * with free(). */
int jpeg_encode_rgb(const uint8_t *rgb, int width, int height, size_t stride, int quality,
                    uint8_t **out, size_t *size, struct ff_error *err);

#endif
