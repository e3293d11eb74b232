#include "event.h"

#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "json_text.h"

void event_format_time(int64_t epoch_ms, char out[32]) {
  time_t secs = (time_t)(epoch_ms / 1000);
  int ms = (int)(epoch_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    secs--;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char text[96];
  snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  snprintf(out, 32, "%.31s", text);
}

/* Reals rounded to what the value means, so the text stays short: a
 * descriptor component to 1e-6 (float32 carries ~7 digits), pixels to 0.01. */
static json_t *rounded(double v, double step) {
  return json_real(round(v / step) * step);
}

int event_to_json(const struct worker_event *e, char **out, size_t *out_len, struct ff_error *err) {
  double finite_check = e->score + e->quality + e->box_x + e->box_y + e->box_width + e->box_height +
                        e->age + e->gender_probability;
  for (int i = 0; i < EVENT_DESCRIPTOR_SIZE; i++)
    finite_check += e->descriptor[i];
  if (!isfinite(finite_check))
    return ff_fail(err, FF_EINVAL, "event %s has a non-finite number", e->id);
  char when[32];
  event_format_time(e->captured_ms, when);
  json_t *descriptor = json_array();
  for (int i = 0; i < EVENT_DESCRIPTOR_SIZE; i++)
    json_array_append_new(descriptor, rounded(e->descriptor[i], 1e-6));
  size_t b64_size = sodium_base64_ENCODED_LEN(e->crop_jpeg_size, sodium_base64_VARIANT_ORIGINAL);
  char *b64 = malloc(b64_size);
  if (!b64) {
    json_decref(descriptor);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  sodium_bin2base64(b64, b64_size, e->crop_jpeg, e->crop_jpeg_size, sodium_base64_VARIANT_ORIGINAL);
  json_t *o = json_pack(
      "{s:s, s:I, s:s, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:s, s:o, s:o, s:s}", "id",
      e->id, "camera_id", (json_int_t)e->camera_id, "captured_at", when, "descriptor", descriptor,
      "score", rounded(e->score, 1e-4), "quality", rounded(e->quality, 1e-4), "box", "x",
      rounded(e->box_x, 0.01), "y", rounded(e->box_y, 0.01), "width", rounded(e->box_width, 0.01),
      "height", rounded(e->box_height, 0.01), "age", rounded(e->age, 0.1), "gender",
      e->is_male ? "male" : "female", "gender_probability", rounded(e->gender_probability, 1e-4),
      "staff_id", e->staff_id > 0 ? json_integer(e->staff_id) : json_null(), "crop_jpeg", b64);
  free(b64);
  if (!o)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  *out = json_text(o, out_len);
  json_decref(o);
  return *out ? FF_OK : ff_fail(err, FF_ENOMEM, "out of memory");
}
