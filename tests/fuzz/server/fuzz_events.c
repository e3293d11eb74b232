/* Worker event batches from the network: every event is validated the way
 * POST /v1/worker/events validates it (ids, times, descriptors, boxes, the
 * base64 JPEG crop and its header) without crashing or leaking. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
  json_t *events = json_object_get(body, "events");
  size_t i;
  json_t *item;
  char why[96];
  json_array_foreach(events, i, item) {
    if (i >= EVENTS_MAX_BATCH)
      break;
    events_check(item, 1796015847000LL, why, sizeof why);
  }
  json_decref(body);
  return 0;
}
