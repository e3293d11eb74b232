/* libFuzzer: the staff list the server sends (staff_list_parse). */
#include <stddef.h>
#include <stdint.h>

#include "staffcache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct staff_list list;
  if (staff_list_parse((const char *)data, size, &list, NULL) == FF_OK)
    staff_list_free(&list);
  return 0;
}
