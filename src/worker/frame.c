#include "frame.h"

#include <libavutil/frame.h>
#include <libswscale/swscale.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

static int ensure(struct rgb_image *img, int width, int height) {
  size_t stride = (size_t)width * 3, need = stride * (size_t)height;
  if (need > img->capacity) {
    uint8_t *p = realloc(img->rgb, need);
    if (!p)
      return -1;
    img->rgb = p;
    img->capacity = need;
  }
  img->width = width;
  img->height = height;
  img->stride = stride;
  return 0;
}

int frame_to_rgb(struct frame_converter *c, const AVFrame *f, struct rgb_image *out,
                 struct ff_error *err) {
  if (f->width <= 0 || f->height <= 0 || f->width > 8192 || f->height > 8192)
    return ff_fail(err, FF_EINVAL, "frame of %dx%d", f->width, f->height);
  if (!c->sws || c->width != f->width || c->height != f->height || c->format != f->format) {
    sws_freeContext(c->sws);
    c->sws = sws_getContext(f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                            SWS_BILINEAR, NULL, NULL, NULL);
    if (!c->sws)
      return ff_fail(err, FF_EUNSUPPORTED, "cannot convert pixel format %d", f->format);
    c->width = f->width;
    c->height = f->height;
    c->format = f->format;
  }
  if (ensure(out, f->width, f->height))
    return ff_fail(err, FF_ENOMEM, "out of memory");
  uint8_t *dst[4] = {out->rgb, NULL, NULL, NULL};
  int dst_stride[4] = {(int)out->stride, 0, 0, 0};
  sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_stride);
  return FF_OK;
}

void frame_converter_free(struct frame_converter *c) {
  sws_freeContext(c->sws);
  c->sws = NULL;
}

int rgb_image_crop(const struct rgb_image *in, int x, int y, int width, int height,
                   struct rgb_image *out, struct ff_error *err) {
  int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
  int x1 = x + width > in->width ? in->width : x + width;
  int y1 = y + height > in->height ? in->height : y + height;
  if (x1 <= x0 || y1 <= y0)
    return ff_fail(err, FF_EINVAL, "empty crop");
  if (ensure(out, x1 - x0, y1 - y0))
    return ff_fail(err, FF_ENOMEM, "out of memory");
  for (int r = 0; r < out->height; r++)
    memcpy(out->rgb + (size_t)r * out->stride, in->rgb + (size_t)(y0 + r) * in->stride + x0 * 3,
           out->stride);
  return FF_OK;
}

void rgb_image_free(struct rgb_image *img) {
  free(img->rgb);
  memset(img, 0, sizeof *img);
}

int jpeg_encode_rgb(const uint8_t *rgb, int width, int height, size_t stride, int quality,
                    uint8_t **out, size_t *size, struct ff_error *err) {
  tjhandle tj = tjInitCompress();
  if (!tj)
    return ff_fail(err, FF_ENOMEM, "cannot start the JPEG encoder");
  unsigned char *buf = NULL;
  unsigned long len = 0;
  int rc = FF_OK;
  if (tjCompress2(tj, rgb, width, (int)stride, height, TJPF_RGB, &buf, &len, TJSAMP_420, quality,
                  TJFLAG_FASTDCT)) {
    rc = ff_fail(err, FF_EINTERNAL, "JPEG encoding failed: %s", tjGetErrorStr2(tj));
  } else {
    *out = malloc(len);
    if (!*out)
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
    else {
      memcpy(*out, buf, len);
      *size = len;
    }
  }
  tjFree(buf);
  tjDestroy(tj);
  return rc;
}
