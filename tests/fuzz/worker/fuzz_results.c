/* libFuzzer: the server's answer to an events batch (uploader_parse_results). */
#include <stddef.h>
#include <stdint.h>

#include "uploader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const ids[] = {"11111111-1111-4111-8111-111111111111",
                                    "22222222-2222-4222-8222-222222222222",
                                    "33333333-3333-4333-8333-333333333333"};
  struct upload_result results[3];
  int count;
  uploader_parse_results((const char *)data, size, ids, 3, results, &count, NULL);
  return 0;
}
