/* quality.c — a best-shot figure per face, every component reported.
 *
 * size: the shorter box side; full marks from 112 px (the landmark and
 * age/gender input size) up. sharpness: variance of the 4-neighbour
 * Laplacian of the face box resampled to 112x112 gray, so it does not depend
 * on the face's size in the frame; var/(var+100) maps it to 0..1 (about 100
 * is the usual blur threshold for 8-bit images). pose: yaw from the nose tip
 * between the jaw ends, roll from the eye line; frontal and level is 1.
 */
#include <math.h>

#include "face.h"

#define QUALITY_SIDE 112

static double clamp01(double v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double gray_at(const struct face_image *img, int x, int y) {
  if (x < 0)
    x = 0;
  if (y < 0)
    y = 0;
  if (x >= img->width)
    x = img->width - 1;
  if (y >= img->height)
    y = img->height - 1;
  const uint8_t *p = img->rgb + (size_t)y * img->stride + (size_t)x * 3;
  return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

static double laplacian_variance(const struct face_image *img, const struct face_box *b) {
  static __thread float g[QUALITY_SIDE][QUALITY_SIDE];
  double sx = b->width / QUALITY_SIDE, sy = b->height / QUALITY_SIDE;
  for (int y = 0; y < QUALITY_SIDE; y++)
    for (int x = 0; x < QUALITY_SIDE; x++) {
      double fx = b->x + (x + 0.5) * sx - 0.5, fy = b->y + (y + 0.5) * sy - 0.5;
      int x0 = (int)floor(fx), y0 = (int)floor(fy);
      double lx = fx - x0, ly = fy - y0;
      double top = gray_at(img, x0, y0) * (1 - lx) + gray_at(img, x0 + 1, y0) * lx;
      double bot = gray_at(img, x0, y0 + 1) * (1 - lx) + gray_at(img, x0 + 1, y0 + 1) * lx;
      g[y][x] = (float)(top * (1 - ly) + bot * ly);
    }
  double sum = 0, sum2 = 0;
  int n = 0;
  for (int y = 1; y < QUALITY_SIDE - 1; y++)
    for (int x = 1; x < QUALITY_SIDE - 1; x++) {
      double l = g[y - 1][x] + g[y + 1][x] + g[y][x - 1] + g[y][x + 1] - 4.0 * g[y][x];
      sum += l;
      sum2 += l * l;
      n++;
    }
  double mean = sum / n;
  return sum2 / n - mean * mean;
}

int face_quality(const struct face_image *img, const struct face_detection *det,
                 const struct face_point p[FACE_LANDMARK_COUNT], struct face_quality *q) {
  q->face_size = fmin(det->box.width, det->box.height);
  q->detector_score = det->score;
  q->sharpness = (q->face_size >= 1 && img && img->rgb) ? laplacian_variance(img, &det->box) : 0;
  /* yaw: where the nose tip (30) falls between the jaw ends (0, 16), along
   * the line joining them; 0.5 = frontal. 2t-1 ~ sin(yaw). */
  double jx = p[16].x - p[0].x, jy = p[16].y - p[0].y, jj = jx * jx + jy * jy;
  double t = jj > 0 ? ((p[30].x - p[0].x) * jx + (p[30].y - p[0].y) * jy) / jj : 0.5;
  q->yaw_degrees = asin(fmax(-1.0, fmin(1.0, 2 * t - 1))) * 180.0 / M_PI;
  double lex = 0, ley = 0, rex = 0, rey = 0;
  for (int i = 36; i < 42; i++) {
    lex += p[i].x / 6;
    ley += p[i].y / 6;
    rex += p[i + 6].x / 6;
    rey += p[i + 6].y / 6;
  }
  q->roll_degrees = atan2(rey - ley, rex - lex) * 180.0 / M_PI;
  q->size_score = clamp01(q->face_size / QUALITY_SIDE);
  q->sharpness_score = q->sharpness / (q->sharpness + 100.0);
  q->pose_score =
      clamp01(1 - fabs(q->yaw_degrees) / 45.0) * clamp01(1 - fabs(q->roll_degrees) / 60.0);
  q->score = clamp01(0.25 * q->size_score + 0.25 * q->sharpness_score + 0.3 * q->pose_score +
                     0.2 * clamp01(q->detector_score));
  return FF_OK;
}
