#include "motion.h"

#include <stddef.h>
#include <stdlib.h>

double motion_update(struct motion_gate *gate, const uint8_t *rgb, int width, int height,
                     size_t stride) {
  uint8_t thumb[MOTION_W * MOTION_H];
  for (int ty = 0; ty < MOTION_H; ty++) {
    int y0 = ty * height / MOTION_H, y1 = (ty + 1) * height / MOTION_H;
    for (int tx = 0; tx < MOTION_W; tx++) {
      int x0 = tx * width / MOTION_W, x1 = (tx + 1) * width / MOTION_W;
      /* Sample a 4x4 grid of each cell: enough to see a person move. */
      unsigned sum = 0, n = 0;
      for (int k = 0; k < 4; k++) {
        int y = y0 + (y1 - y0) * k / 4;
        const uint8_t *row = rgb + (size_t)y * stride;
        for (int j = 0; j < 4; j++) {
          int x = x0 + (x1 - x0) * j / 4;
          const uint8_t *p = row + (size_t)x * 3;
          sum += (77u * p[0] + 150u * p[1] + 29u * p[2]) >> 8;
          n++;
        }
      }
      thumb[ty * MOTION_W + tx] = (uint8_t)(sum / (n ? n : 1));
    }
  }
  double diff = 255;
  if (gate->has_previous) {
    unsigned long total = 0;
    for (int i = 0; i < MOTION_W * MOTION_H; i++)
      total += (unsigned long)abs((int)thumb[i] - (int)gate->previous[i]);
    diff = (double)total / (MOTION_W * MOTION_H);
  }
  for (int i = 0; i < MOTION_W * MOTION_H; i++)
    gate->previous[i] = thumb[i];
  gate->has_previous = 1;
  return diff;
}
