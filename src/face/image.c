/* image.c — JPEG/PNG decoding to RGB8 with limits and EXIF orientation. */
#include "image.h"

#include <errno.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "weights.h" /* weights_read_file: the bounded file reader */

struct face_image_limits face_image_default_limits(void) {
  struct face_image_limits l = {FACE_IMAGE_DEFAULT_MAX_SIDE, FACE_IMAGE_DEFAULT_MAX_PIXELS,
                                FACE_IMAGE_DEFAULT_MAX_FILE_BYTES};
  return l;
}

void face_image_free(struct face_image *img) {
  if (!img)
    return;
  free(img->owned);
  memset(img, 0, sizeof *img);
}

int face_image_wrap(const uint8_t *rgb, int width, int height, size_t stride,
                    struct face_image *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  if (!rgb || width <= 0 || height <= 0 || stride < (size_t)width * 3)
    return ff_fail(err, FF_EINVAL, "image: invalid buffer (%dx%d, stride %zu)", width, height,
                   stride);
  out->width = width;
  out->height = height;
  out->stride = stride;
  out->rgb = rgb;
  return FF_OK;
}

/* Refuses sizes outside the limits before anything is allocated. */
static int check_size(long width, long height, const struct face_image_limits *l,
                      struct ff_error *err) {
  if (width <= 0 || height <= 0)
    return ff_fail(err, FF_EINVAL, "image: invalid dimensions %ldx%ld", width, height);
  if (width > l->max_side || height > l->max_side ||
      (uint64_t)width * (uint64_t)height > l->max_pixels)
    return ff_fail(err, FF_ETOOBIG,
                   "image: %ldx%ld exceeds the limit (%d px per side, %llu pixels)", width, height,
                   l->max_side, (unsigned long long)l->max_pixels);
  return FF_OK;
}

/* Applies EXIF orientation 2..8 by remapping into a new buffer. */
static int apply_orientation(struct face_image *img, int orientation, struct ff_error *err) {
  if (orientation <= 1 || orientation > 8)
    return FF_OK;
  int w = img->width, h = img->height;
  int swap = orientation >= 5;
  int ow = swap ? h : w, oh = swap ? w : h;
  uint8_t *dst = malloc((size_t)ow * oh * 3);
  if (!dst)
    return ff_fail(err, FF_ENOMEM, "image: out of memory rotating %dx%d", w, h);
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++) {
      int sx, sy;
      switch (orientation) {
      case 2:
        sx = w - 1 - x;
        sy = y;
        break;
      case 3:
        sx = w - 1 - x;
        sy = h - 1 - y;
        break;
      case 4:
        sx = x;
        sy = h - 1 - y;
        break;
      case 5:
        sx = y;
        sy = x;
        break;
      case 6:
        sx = y;
        sy = h - 1 - x;
        break;
      case 7:
        sx = w - 1 - y;
        sy = h - 1 - x;
        break;
      default:
        sx = w - 1 - y;
        sy = x;
        break; /* 8 */
      }
      memcpy(dst + ((size_t)y * ow + x) * 3, img->rgb + (size_t)sy * img->stride + (size_t)sx * 3,
             3);
    }
  free(img->owned);
  img->owned = dst;
  img->rgb = dst;
  img->width = ow;
  img->height = oh;
  img->stride = (size_t)ow * 3;
  return FF_OK;
}

static int decode_jpeg(const uint8_t *data, size_t size, const struct face_image_limits *l,
                       struct face_image *out, struct ff_error *err) {
  if (size > (unsigned long)-1)
    return ff_fail(err, FF_ETOOBIG, "image: JPEG too large");
  tjhandle tj = tjInitDecompress();
  if (!tj)
    return ff_fail(err, FF_ENOMEM, "image: cannot start the JPEG decoder");
  int w = 0, h = 0, subsamp = -1, colorspace = -1, rc = FF_OK;
  if (tjDecompressHeader3(tj, data, (unsigned long)size, &w, &h, &subsamp, &colorspace) != 0) {
    rc = ff_fail(err, FF_EINVAL, "image: bad JPEG header: %s", tjGetErrorStr2(tj));
    goto out;
  }
  if ((rc = check_size(w, h, l, err)) != FF_OK)
    goto out;
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    rc = ff_fail(err, FF_EUNSUPPORTED, "image: CMYK JPEG is not supported");
    goto out;
  }
  uint8_t *pixels = malloc((size_t)w * h * 3);
  if (!pixels) {
    rc = ff_fail(err, FF_ENOMEM, "image: out of memory for %dx%d", w, h);
    goto out;
  }
  int flags = TJFLAG_LIMITSCANS; /* refuse progressive files with absurd scan counts */
  if (tjDecompress2(tj, data, (unsigned long)size, pixels, w, w * 3, h, TJPF_RGB, flags) != 0) {
    /* A warning still produced an image; only a premature end (truncated
     * file, grey bottom) or a fatal error is refused. Extraneous bytes and
     * similar camera quirks are accepted. */
    const char *msg = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || strstr(msg, "Premature end") ||
        strstr(msg, "premature end")) {
      free(pixels);
      rc = ff_fail(err, FF_EINVAL, "image: corrupt or truncated JPEG: %s", msg);
      goto out;
    }
  }
  out->width = w;
  out->height = h;
  out->stride = (size_t)w * 3;
  out->owned = pixels;
  out->rgb = pixels;
  rc = apply_orientation(out, face_exif_orientation_jpeg(data, size), err);
  if (rc != FF_OK)
    face_image_free(out);
out:
  tjDestroy(tj);
  return rc;
}

static int decode_png(const uint8_t *data, size_t size, const struct face_image_limits *l,
                      struct face_image *out, struct ff_error *err) {
  spng_ctx *ctx = spng_ctx_new(0);
  if (!ctx)
    return ff_fail(err, FF_ENOMEM, "image: cannot start the PNG decoder");
  int rc = FF_OK, e;
  uint8_t *pixels = NULL;
  uint32_t side = l->max_side > 0 ? (uint32_t)l->max_side : 1;
  spng_set_image_limits(ctx, side, side);
  spng_set_chunk_limits(ctx, 4u << 20, 16u << 20);
  spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
  if ((e = spng_set_png_buffer(ctx, data, size)) != 0) {
    rc = ff_fail(err, FF_EINVAL, "image: bad PNG: %s", spng_strerror(e));
    goto out;
  }
  struct spng_ihdr ihdr;
  if ((e = spng_get_ihdr(ctx, &ihdr)) != 0) {
    rc = ff_fail(err, e == SPNG_EUSER_WIDTH || e == SPNG_EUSER_HEIGHT ? FF_ETOOBIG : FF_EINVAL,
                 "image: bad PNG header: %s", spng_strerror(e));
    goto out;
  }
  if ((rc = check_size((long)ihdr.width, (long)ihdr.height, l, err)) != FF_OK)
    goto out;
  size_t need;
  if ((e = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &need)) != 0 ||
      need != (size_t)ihdr.width * ihdr.height * 3) {
    rc = ff_fail(err, FF_EUNSUPPORTED, "image: PNG format not convertible to RGB: %s",
                 e ? spng_strerror(e) : "size mismatch");
    goto out;
  }
  pixels = malloc(need);
  if (!pixels) {
    rc = ff_fail(err, FF_ENOMEM, "image: out of memory for %ux%u", ihdr.width, ihdr.height);
    goto out;
  }
  if ((e = spng_decode_image(ctx, pixels, need, SPNG_FMT_RGB8, SPNG_DECODE_TRNS)) != 0) {
    rc = ff_fail(err, FF_EINVAL, "image: corrupt or truncated PNG: %s", spng_strerror(e));
    goto out;
  }
  out->width = (int)ihdr.width;
  out->height = (int)ihdr.height;
  out->stride = (size_t)ihdr.width * 3;
  out->owned = pixels;
  out->rgb = pixels;
  pixels = NULL;
  struct spng_exif exif;
  int orientation = 1;
  if (spng_get_exif(ctx, &exif) == 0 && exif.data)
    orientation = face_exif_orientation_tiff((const uint8_t *)exif.data, exif.length);
  if ((rc = apply_orientation(out, orientation, err)) != FF_OK)
    face_image_free(out);
out:
  free(pixels);
  spng_ctx_free(ctx);
  return rc;
}

int face_image_decode(const uint8_t *data, size_t size, const struct face_image_limits *limits,
                      struct face_image *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  struct face_image_limits l = limits ? *limits : face_image_default_limits();
  if (!data || size < 8)
    return ff_fail(err, FF_EINVAL, "image: too short to be a JPEG or PNG");
  if (size > l.max_file_bytes)
    return ff_fail(err, FF_ETOOBIG, "image: file larger than %zu bytes", l.max_file_bytes);
  if (data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
    return decode_jpeg(data, size, &l, out, err);
  static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (!memcmp(data, png_magic, 8))
    return decode_png(data, size, &l, out, err);
  return ff_fail(err, FF_EUNSUPPORTED, "image: not a JPEG or PNG file");
}

int face_image_load(const char *path, const struct face_image_limits *limits,
                    struct face_image *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  struct face_image_limits l = limits ? *limits : face_image_default_limits();
  uint8_t *data;
  size_t size;
  int rc = weights_read_file(path, l.max_file_bytes, &data, &size, err);
  if (rc != FF_OK)
    return rc;
  rc = face_image_decode(data, size, &l, out, err);
  free(data);
  return rc;
}

int face_image_write_ppm(const struct face_image *img, const char *path, struct ff_error *err) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return ff_fail(err, FF_EIO, "cannot create %s: %s", path, strerror(errno));
  int ok = fprintf(f, "P6\n%d %d\n255\n", img->width, img->height) > 0;
  for (int y = 0; ok && y < img->height; y++)
    ok = fwrite(img->rgb + (size_t)y * img->stride, 3, (size_t)img->width, f) == (size_t)img->width;
  if (fclose(f) != 0)
    ok = 0;
  if (!ok)
    return ff_fail(err, FF_EIO, "error writing %s", path);
  return FF_OK;
}
