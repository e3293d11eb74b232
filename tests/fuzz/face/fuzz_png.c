/* Fuzzes PNG decoding: inputs get the PNG signature prefix. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  uint8_t *buf = malloc(size + 8);
  if (!buf)
    return 0;
  memcpy(buf, magic, 8);
  memcpy(buf + 8, data, size);
  struct face_image_limits limits = {2048, 2048 * 2048, 1 << 24};
  struct face_image img;
  if (face_image_decode(buf, size + 8, &limits, &img, NULL) == FF_OK)
    face_image_free(&img);
  free(buf);
  return 0;
}
