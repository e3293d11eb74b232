/* Overlay drawing: box colours by kind, the label band, glyph shapes,
 * clipping at the image edges. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "overlay.h"

static struct rgb_image black(int w, int h) {
  struct rgb_image img = {calloc((size_t)w * h * 3, 1), w, h, (size_t)w * 3, (size_t)w * h * 3};
  return img;
}

static const uint8_t *px(struct rgb_image *img, int x, int y) {
  return img->rgb + (size_t)y * img->stride + (size_t)x * 3;
}

Test(overlay, glyphs_are_the_5x7_font) {
  struct rgb_image img = black(20, 10);
  static const uint8_t white[3] = {255, 255, 255};
  overlay_text(&img, 0, 0, 1, "1", white);
  /* '1' = {0x00, 0x42, 0x7F, 0x40, 0x00}: column 2 is rows 0..6. */
  for (int y = 0; y < 7; y++)
    cr_assert_eq(px(&img, 2, y)[0], 255, "row %d", y);
  cr_assert_eq(px(&img, 2, 7)[0], 0);
  cr_assert_eq(px(&img, 0, 3)[0], 0);
  cr_assert_eq(px(&img, 1, 1)[0], 255); /* 0x42: rows 1 and 6 */
  cr_assert_eq(px(&img, 1, 6)[0], 255);
  cr_assert_eq(px(&img, 3, 6)[0], 255); /* 0x40: row 6 */
  rgb_image_free(&img);
}

Test(overlay, boxes_coloured_and_labelled_and_clipped) {
  struct rgb_image img = black(200, 120);
  struct overlay_box boxes[3] = {
      {{50, 40, 60, 60}, 1, 1, "Raj"},
      {{120, 40, 50, 50}, 2, 0, "customer 17"},
      {{-30, -30, 60, 200}, 3, 0, "unknown"}, /* off the edges */
  };
  overlay_draw(&img, boxes, 3);
  const uint8_t *g = px(&img, 80, 40); /* top edge of the staff box */
  cr_assert(g[0] == 0 && g[1] == 200 && g[2] == 0, "staff box not green");
  const uint8_t *o = px(&img, 120, 70); /* left edge of the customer box */
  cr_assert(o[0] == 255 && o[1] == 140, "customer box not orange");
  const uint8_t *y = px(&img, 29, 60); /* right edge of the clipped box */
  cr_assert(y[0] == 255 && y[1] == 230, "unknown box not yellow");
  /* The staff label sits on a band above its box. */
  int lit = 0, band = 0;
  for (int yy = 22; yy < 40; yy++)
    for (int xx = 50; xx < 90; xx++) {
      const uint8_t *p = px(&img, xx, yy);
      lit += p[1] == 200;
      band += p[0] == 20 && p[1] == 20;
    }
  cr_assert_gt(lit, 20, "no label text");
  cr_assert_gt(band, 100, "no label band");
  cr_assert_eq(px(&img, 10, 110)[0], 0, "drawn far from any box");
  rgb_image_free(&img);
}
