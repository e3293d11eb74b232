/* libFuzzer: camera definitions (--camera flag text and the cameras JSON
 * file; later also what the server's assign_camera command carries). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "camera_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct camera_spec specs[CAMERA_SPEC_MAX];
  int count = 0;
  camera_spec_parse_json((const char *)data, size, specs, &count, NULL);
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  struct camera_spec one;
  camera_spec_parse_flag(text, &one, NULL);
  free(text);
  return 0;
}
