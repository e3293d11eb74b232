/* JSON request bodies: parsing (duplicate keys refused), the field
 * validation every handler starts with, and the opening-hours validator. */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "http.h"
#include "tenants.h"

static const struct field fields[] = {
    {"name", FIELD_STRING, 1, 128, 0},        {"timezone", FIELD_STRING, 0, 64, 0},
    {"site_id", FIELD_INT, 0, 0, 1},          {"active", FIELD_BOOL, 0, 0, 0},
    {"opening_hours", FIELD_OBJECT, 0, 0, 1}, {"score", FIELD_NUMBER, 0, 0, 0},
    {"items", FIELD_ARRAY, 0, 0, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_error_t jerr;
  json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
  if (!body)
    return 0;
  if (json_is_object(body)) {
    struct _u_response res;
    ulfius_init_response(&res);
    struct request rq;
    memset(&rq, 0, sizeof rq);
    rq.res = &res;
    rq.body = body;
    http_validate(&rq, fields, sizeof fields / sizeof fields[0]);
    json_t *hours = json_object_get(body, "opening_hours");
    if (json_is_object(hours)) {
      struct ff_error err;
      sites_check_opening_hours(hours, &err);
    }
    ulfius_clean_response(&res);
  }
  json_decref(body);
  return 0;
}
