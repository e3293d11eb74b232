/* Image decoding: real files, orientation, grayscale PNG, hostile inputs. */
#include <criterion/criterion.h>
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

#include "image.h"
#include "weights.h"

static uint8_t *make_jpeg(const uint8_t *rgb, int w, int h, size_t *size) {
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long len = 0;
  cr_assert_eq(tjCompress2(tj, rgb, w, w * 3, h, TJPF_RGB, &buf, &len, TJSAMP_444, 100, 0), 0);
  tjDestroy(tj);
  uint8_t *copy = malloc(len);
  memcpy(copy, buf, len);
  tjFree(buf);
  *size = len;
  return copy;
}

static uint8_t *make_png(const uint8_t *pixels, int w, int h, int color_type, size_t *size) {
  spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  struct spng_ihdr ihdr = {(uint32_t)w, (uint32_t)h, 8, (uint8_t)color_type, 0, 0, 0};
  spng_set_ihdr(ctx, &ihdr);
  size_t len = (size_t)w * h * (color_type == SPNG_COLOR_TYPE_GRAYSCALE ? 1 : 3);
  cr_assert_eq(spng_encode_image(ctx, pixels, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
  int e;
  void *png = spng_get_png_buffer(ctx, size, &e);
  spng_ctx_free(ctx);
  cr_assert_not_null(png);
  return png;
}

/* A 4x2 test pattern: every pixel distinct, so any remap shows. */
static void pattern(uint8_t *rgb, int w, int h) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *p = rgb + (y * w + x) * 3;
      p[0] = (uint8_t)(x * 60);
      p[1] = (uint8_t)(y * 120);
      p[2] = 128;
    }
}

Test(image, sample_jpeg_decodes_to_expected_size) {
  const char *dir = getenv("FOOTFALL_SAMPLES_DIR");
  char path[512];
  snprintf(path, sizeof path, "%s/sample1.jpg", dir ? dir : "data/samples");
  struct face_image img;
  struct ff_error err = {0};
  cr_assert_eq(face_image_load(path, NULL, &img, &err), FF_OK, "%s", err.message);
  cr_expect_eq(img.width, 1920);
  cr_expect_eq(img.height, 1280);
  cr_expect_eq(img.stride, 1920u * 3);
  face_image_free(&img);
}

Test(image, grayscale_png_becomes_rgb) {
  uint8_t gray[6 * 4];
  for (int i = 0; i < 24; i++)
    gray[i] = (uint8_t)(i * 10);
  size_t size;
  uint8_t *png = make_png(gray, 6, 4, SPNG_COLOR_TYPE_GRAYSCALE, &size);
  struct face_image img;
  struct ff_error err = {0};
  cr_assert_eq(face_image_decode(png, size, NULL, &img, &err), FF_OK, "%s", err.message);
  cr_assert_eq(img.width, 6);
  cr_assert_eq(img.height, 4);
  for (int i = 0; i < 24; i++)
    cr_expect(img.rgb[i * 3] == gray[i] && img.rgb[i * 3 + 1] == gray[i] &&
              img.rgb[i * 3 + 2] == gray[i]);
  face_image_free(&img);
  free(png);
}

/* Inserts an APP1 Exif segment with the given orientation after SOI. */
static uint8_t *with_orientation(const uint8_t *jpeg, size_t size, int orientation, int big_endian,
                                 size_t *out_size) {
  uint8_t tiff[26];
  int n = 0;
  if (big_endian) {
    memcpy(tiff, "MM\0\x2a\0\0\0\x08", 8);
    n = 8;
    uint8_t ifd[18] = {0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)orientation,
                       0, 0, 0,    0,    0, 0};
    memcpy(tiff + n, ifd, 18);
  } else {
    memcpy(tiff, "II\x2a\0\x08\0\0\0", 8);
    n = 8;
    uint8_t ifd[18] = {1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)orientation,
                       0, 0, 0,    0,    0, 0, 0};
    memcpy(tiff + n, ifd, 18);
  }
  size_t seg = 2 + 6 + 26;
  uint8_t *out = malloc(size + seg + 2);
  out[0] = 0xFF;
  out[1] = 0xD8;
  out[2] = 0xFF;
  out[3] = 0xE1;
  out[4] = (uint8_t)(seg >> 8);
  out[5] = (uint8_t)seg;
  memcpy(out + 6, "Exif\0\0", 6);
  memcpy(out + 12, tiff, 26);
  memcpy(out + 38, jpeg + 2, size - 2);
  *out_size = size + seg + 2;
  return out;
}

Test(image, exif_orientation_is_applied) {
  int w = 4, h = 2;
  uint8_t rgb[4 * 2 * 3];
  pattern(rgb, w, h);
  size_t size;
  uint8_t *jpeg = make_jpeg(rgb, w, h, &size);
  /* expected source pixel for each output pixel, per orientation */
  for (int o = 1; o <= 8; o++) {
    size_t n;
    uint8_t *j = with_orientation(jpeg, size, o, o % 2, &n);
    cr_expect_eq(face_exif_orientation_jpeg(j, n), o);
    struct face_image img;
    struct ff_error err = {0};
    cr_assert_eq(face_image_decode(j, n, NULL, &img, &err), FF_OK, "%s", err.message);
    int swap = o >= 5;
    cr_assert_eq(img.width, swap ? h : w, "orientation %d", o);
    cr_assert_eq(img.height, swap ? w : h);
    for (int y = 0; y < img.height; y++)
      for (int x = 0; x < img.width; x++) {
        int sx, sy;
        switch (o) {
        case 1:
          sx = x;
          sy = y;
          break;
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
          break;
        }
        int got_r = img.rgb[(y * img.width + x) * 3], got_g = img.rgb[(y * img.width + x) * 3 + 1];
        cr_expect(abs(got_r - sx * 60) <= 6 && abs(got_g - sy * 120) <= 6,
                  "orientation %d at %d,%d: r %d g %d, want source %d,%d", o, x, y, got_r, got_g,
                  sx, sy);
      }
    face_image_free(&img);
    free(j);
  }
  free(jpeg);
}

Test(image, broken_exif_means_no_rotation) {
  static const uint8_t junk[] = {0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x10, 'E',  'x',  'i',  'f',
                                 0,    0,    'I',  'I',  0x2a, 0,    0xff, 0xff, 0xff, 0x7f};
  cr_expect_eq(face_exif_orientation_jpeg(junk, sizeof junk), 1);
  cr_expect_eq(face_exif_orientation_tiff((const uint8_t *)"MM\0*", 4), 1);
}

Test(image, truncated_jpeg_is_refused) {
  uint8_t rgb[64 * 64 * 3];
  for (size_t i = 0; i < sizeof rgb; i++)
    rgb[i] = (uint8_t)(i * 7);
  size_t size;
  uint8_t *jpeg = make_jpeg(rgb, 64, 64, &size);
  struct face_image img;
  struct ff_error err = {0};
  cr_expect_eq(face_image_decode(jpeg, size / 2, NULL, &img, &err), FF_EINVAL);
  cr_expect(err.message[0]);
  cr_expect_null(img.owned);
  cr_expect_lt(face_image_decode(jpeg, 40, NULL, &img, &err), 0);
  free(jpeg);
}

Test(image, huge_jpeg_header_is_refused_before_allocating) {
  uint8_t rgb[8 * 8 * 3] = {0};
  size_t size;
  uint8_t *jpeg = make_jpeg(rgb, 8, 8, &size);
  /* patch the SOF0 frame size to 65000 x 65000 */
  size_t i;
  for (i = 2; i + 9 < size; i++)
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0)
      break;
  cr_assert_lt(i + 9, size);
  jpeg[i + 5] = 0xFD;
  jpeg[i + 6] = 0xE8;
  jpeg[i + 7] = 0xFD;
  jpeg[i + 8] = 0xE8;
  struct face_image img;
  struct ff_error err = {0};
  cr_expect_eq(face_image_decode(jpeg, size, NULL, &img, &err), FF_ETOOBIG, "%s", err.message);
  cr_expect(strstr(err.message, "65000x65000") != NULL, "%s", err.message);
  free(jpeg);
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

Test(image, png_bombs_are_refused) {
  /* IHDR claiming 100000 x 100000 with a valid CRC */
  uint8_t gray[4] = {1, 2, 3, 4};
  size_t size;
  uint8_t *png = make_png(gray, 2, 2, SPNG_COLOR_TYPE_GRAYSCALE, &size);
  put32(png + 16, 100000);
  put32(png + 20, 100000);
  put32(png + 29, (uint32_t)crc32(0, png + 12, 17));
  struct face_image img;
  struct ff_error err = {0};
  cr_expect_eq(face_image_decode(png, size, NULL, &img, &err), FF_ETOOBIG, "%s", err.message);
  free(png);

  /* a real, highly compressible 4000x4000 picture refused by a pixel limit */
  uint8_t *zeros = calloc(4000 * 4000, 1);
  png = make_png(zeros, 4000, 4000, SPNG_COLOR_TYPE_GRAYSCALE, &size);
  free(zeros);
  cr_expect_lt(size, 100000u);
  struct face_image_limits limits = face_image_default_limits();
  limits.max_pixels = 4000 * 3999;
  cr_expect_eq(face_image_decode(png, size, &limits, &img, &err), FF_ETOOBIG, "%s", err.message);
  cr_expect_null(img.owned);
  limits.max_pixels = 4000 * 4000;
  cr_expect_eq(face_image_decode(png, size, &limits, &img, &err), FF_OK, "%s", err.message);
  face_image_free(&img);
  /* truncated */
  cr_expect_eq(face_image_decode(png, size - 20, NULL, &img, &err), FF_EINVAL);
  free(png);
}

Test(image, garbage_and_wrap) {
  uint8_t junk[100];
  memset(junk, 0xAB, sizeof junk);
  struct face_image img;
  struct ff_error err = {0};
  cr_expect_eq(face_image_decode(junk, sizeof junk, NULL, &img, &err), FF_EUNSUPPORTED);
  cr_expect_eq(face_image_decode(NULL, 0, NULL, &img, &err), FF_EINVAL);
  uint8_t frame[10 * 4 * 3 + 8];
  cr_expect_eq(face_image_wrap(frame, 10, 4, 10 * 3 + 2, &img, &err), FF_OK);
  cr_expect_eq(img.rgb, frame); /* no copy */
  face_image_free(&img);        /* leaves the caller's buffer alone */
  cr_expect_eq(face_image_wrap(frame, 10, 4, 10, &img, &err), FF_EINVAL);
  cr_expect_eq(face_image_load("/nonexistent/x.jpg", NULL, &img, &err), FF_ENOTFOUND);
}

Test(image, cmyk_jpeg_is_unsupported_not_corrupt) {
  uint8_t cmyk[16 * 16 * 4];
  memset(cmyk, 100, sizeof cmyk);
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long len = 0;
  cr_assert_eq(tjCompress2(tj, cmyk, 16, 16 * 4, 16, TJPF_CMYK, &buf, &len, TJSAMP_444, 90, 0), 0);
  tjDestroy(tj);
  struct face_image img;
  struct ff_error err = {0};
  cr_expect_eq(face_image_decode(buf, len, NULL, &img, &err), FF_EUNSUPPORTED, "%s", err.message);
  cr_expect(strstr(err.message, "CMYK") != NULL, "%s", err.message);
  tjFree(buf);
}

Test(image, grayscale_jpeg_and_png_exif_orientation) {
  /* grayscale JPEG -> RGB with equal channels */
  uint8_t gray[8 * 8];
  for (int i = 0; i < 64; i++)
    gray[i] = (uint8_t)(i * 4);
  tjhandle tj = tjInitCompress();
  unsigned char *buf = NULL;
  unsigned long len = 0;
  cr_assert_eq(tjCompress2(tj, gray, 8, 8, 8, TJPF_GRAY, &buf, &len, TJSAMP_GRAY, 100, 0), 0);
  tjDestroy(tj);
  struct face_image img;
  struct ff_error err = {0};
  cr_assert_eq(face_image_decode(buf, len, NULL, &img, &err), FF_OK, "%s", err.message);
  cr_expect(img.width == 8 && img.height == 8);
  for (int i = 0; i < 64; i++)
    cr_expect(img.rgb[i * 3] == img.rgb[i * 3 + 1] && img.rgb[i * 3 + 1] == img.rgb[i * 3 + 2]);
  face_image_free(&img);
  tjFree(buf);

  /* PNG with an eXIf chunk saying "rotate 90 CW" (6): 4x2 becomes 2x4 */
  uint8_t rgb[4 * 2 * 3];
  pattern(rgb, 4, 2);
  spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  struct spng_ihdr ihdr = {4, 2, 8, SPNG_COLOR_TYPE_TRUECOLOR, 0, 0, 0};
  spng_set_ihdr(ctx, &ihdr);
  static char tiff[26] = {'I', 'I', 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3,
                          0,   1,   0,    0, 0, 6, 0, 0, 0, 0, 0,    0,    0};
  struct spng_exif exif = {sizeof tiff, tiff};
  cr_assert_eq(spng_set_exif(ctx, &exif), 0);
  cr_assert_eq(spng_encode_image(ctx, rgb, sizeof rgb, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
  size_t size;
  int e;
  void *png = spng_get_png_buffer(ctx, &size, &e);
  spng_ctx_free(ctx);
  cr_assert_not_null(png);
  cr_assert_eq(face_image_decode(png, size, NULL, &img, &err), FF_OK, "%s", err.message);
  cr_expect_eq(img.width, 2);
  cr_expect_eq(img.height, 4);
  /* output (0,0) comes from source (0, h-1): red 0, green 120 */
  cr_expect(img.rgb[0] == 0 && img.rgb[1] == 120, "got %d,%d", img.rgb[0], img.rgb[1]);
  face_image_free(&img);
  free(png);
}
