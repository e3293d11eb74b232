/* motion.h — a cheap "did anything move?" gate before detection.
 *
 * The frame is reduced to a 64x36 gray thumbnail (box average); the gate
 * compares it with the previous thumbnail by mean absolute difference
 * (0..255). Below the threshold the frame is still and detection can be
 * skipped. Costs well under a millisecond for 720p. One gate per camera.
 */
#ifndef FOOTFALL_WORKER_MOTION_H
#define FOOTFALL_WORKER_MOTION_H

#include <stddef.h>
#include <stdint.h>

#define MOTION_W 64
#define MOTION_H 36

struct motion_gate {
  uint8_t previous[MOTION_W * MOTION_H];
  int has_previous;
};

/* The mean absolute difference to the previous frame (255 for the first),
 * and remembers this frame. */
double motion_update(struct motion_gate *gate, const uint8_t *rgb, int width, int height,
                     size_t stride);

#endif
