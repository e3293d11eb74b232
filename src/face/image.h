/* image.h — decoded pictures as interleaved RGB8, and the decoders.
 *
 * Promises: JPEG (libturbojpeg) and PNG (libspng) are decoded to RGB8 with the
 * EXIF orientation applied (JPEG APP1 and PNG eXIf); grayscale becomes RGB.
 * Dimensions and pixel count are checked against limits from the header,
 * before any pixel buffer is allocated, so decompression bombs are refused
 * with FF_ETOOBIG. Truncated or corrupt files give FF_EINVAL. A decoded image
 * owns its pixels (free with face_image_free); a wrapped image borrows the
 * caller's buffer (video frames) and face_image_free leaves it alone.
 */
#ifndef FOOTFALL_FACE_IMAGE_H
#define FOOTFALL_FACE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

struct face_image {
  int width, height;
  size_t stride;      /* bytes from one row to the next, >= 3 * width */
  const uint8_t *rgb; /* R,G,B interleaved, row-major */
  uint8_t *owned;     /* the buffer to free, NULL for wrapped images */
};

struct face_image_limits {
  int max_side;        /* widest / tallest accepted side, pixels */
  uint64_t max_pixels; /* width * height */
  size_t max_file_bytes;
};

#define FACE_IMAGE_DEFAULT_MAX_SIDE 16384
#define FACE_IMAGE_DEFAULT_MAX_PIXELS (64ull * 1024 * 1024)
#define FACE_IMAGE_DEFAULT_MAX_FILE_BYTES (64u * 1024 * 1024)

/* The defaults above; pass NULL limits to use them. */
struct face_image_limits face_image_default_limits(void);

/* Decodes a JPEG or PNG held in memory (format sniffed from the bytes). */
int face_image_decode(const uint8_t *data, size_t size, const struct face_image_limits *limits,
                      struct face_image *out, struct ff_error *err);

/* Reads and decodes a file. */
int face_image_load(const char *path, const struct face_image_limits *limits,
                    struct face_image *out, struct ff_error *err);

/* Wraps an existing RGB8 buffer without copying; the caller keeps it alive
 * while the image is in use. */
int face_image_wrap(const uint8_t *rgb, int width, int height, size_t stride,
                    struct face_image *out, struct ff_error *err);

/* Writes the pixels as binary PPM (P6). */
int face_image_write_ppm(const struct face_image *img, const char *path, struct ff_error *err);

void face_image_free(struct face_image *img);

/* The EXIF orientation (1..8) found in a JPEG's APP1 segment, 1 when absent
 * or unreadable. Exposed for tests. */
int face_exif_orientation_jpeg(const uint8_t *data, size_t size);
/* The same for a bare TIFF/EXIF block (PNG eXIf chunk, or APP1 after "Exif\0\0"). */
int face_exif_orientation_tiff(const uint8_t *tiff, size_t size);

#endif
