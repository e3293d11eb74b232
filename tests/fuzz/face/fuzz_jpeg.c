/* Fuzzes JPEG decoding (+ EXIF orientation): inputs get a JPEG SOI prefix. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *buf = malloc(size + 3);
  if (!buf)
    return 0;
  buf[0] = 0xFF;
  buf[1] = 0xD8;
  buf[2] = 0xFF;
  memcpy(buf + 3, data, size);
  struct face_image_limits limits = {2048, 2048 * 2048, 1 << 24};
  struct face_image img;
  if (face_image_decode(buf, size + 3, &limits, &img, NULL) == FF_OK)
    face_image_free(&img);
  (void)face_exif_orientation_jpeg(buf, size + 3);
  free(buf);
  return 0;
}
