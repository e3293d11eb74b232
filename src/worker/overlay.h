/* overlay.h — face boxes and their labels drawn into an RGB frame, for the
 * live view (?overlay=1). Colours: green staff, orange a customer the
 * server named, yellow unknown. Labels use a built-in 5x7 font (printable
 * ASCII; other bytes show as '?') at twice its size on a dark band above
 * the box (inside it when the box touches the top). Clipped to the image.
 */
#ifndef FOOTFALL_WORKER_OVERLAY_H
#define FOOTFALL_WORKER_OVERLAY_H

#include "frame.h"
#include "pipeline.h"

void overlay_draw(struct rgb_image *img, const struct overlay_box *boxes, int count);
/* One line of text with its top-left corner at (x, y); scale >= 1. */
void overlay_text(struct rgb_image *img, int x, int y, int scale, const char *text,
                  const uint8_t color[3]);

#endif
