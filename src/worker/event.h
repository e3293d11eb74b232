/* event.h — one face event (one person pass), as the server accepts it.
 *
 * The JSON object follows POST /v1/worker/events (docs/PROTOCOL.md):
 *   {"id","camera_id","captured_at","descriptor":[128],"score","quality",
 *    "box":{"x","y","width","height"},"age","gender","gender_probability",
 *    "staff_id","crop_jpeg"}
 * captured_at is RFC 3339 UTC with milliseconds; crop_jpeg is base64.
 */
#ifndef FOOTFALL_WORKER_EVENT_H
#define FOOTFALL_WORKER_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "outbox.h"
#include "status.h"

#define EVENT_DESCRIPTOR_SIZE 128

struct worker_event {
  char id[OUTBOX_ID_SIZE];
  int64_t camera_id;
  int64_t captured_ms; /* Unix epoch, milliseconds */
  float descriptor[EVENT_DESCRIPTOR_SIZE];
  double score, quality;
  double box_x, box_y, box_width, box_height; /* frame pixels */
  double age;
  int is_male;
  double gender_probability; /* of the reported gender */
  int64_t staff_id;          /* 0 = none (null) */
  const uint8_t *crop_jpeg;  /* borrowed */
  size_t crop_jpeg_size;
};

/* The event's JSON object text (malloc'd, NUL-terminated). FF_EINVAL for a
 * non-finite number. */
int event_to_json(const struct worker_event *event, char **out, size_t *out_len,
                  struct ff_error *err);

/* "2026-11-30T06:12:03.045Z" */
void event_format_time(int64_t epoch_ms, char out[32]);

#endif
