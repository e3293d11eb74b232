/* detect.c — running a detector and turning its raw output into boxes, with
 * face-api's two different non-maximum suppressions (face-models.md 2.1, 2.2). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

void face_detect_options_default(struct face_detect_options *o) {
  o->detector = FACE_DETECTOR_SSD;
  o->tiny_input_size = 416;
  o->min_score = 0.5f;
  o->max_faces = 100;
}

/* Sorts candidate indices by score, descending, ties in index order (a
 * stable JS sort, as the SSD NMS does). */
static void sort_candidates(int *idx, int n, const float *scores) {
  for (int i = 1; i < n; i++) { /* insertion sort: n is small after thresholding */
    int v = idx[i], j = i - 1;
    while (j >= 0 && scores[idx[j]] < scores[v]) {
      idx[j + 1] = idx[j];
      j--;
    }
    idx[j + 1] = v;
  }
}

/* ssdMobilenetv1/nonMaxSuppression.ts IOU, on (ymin, xmin, ymax, xmax). */
static double ssd_iou(const float *a, const float *b) {
  double ay0 = fmin(a[0], a[2]), ax0 = fmin(a[1], a[3]), ay1 = fmax(a[0], a[2]),
         ax1 = fmax(a[1], a[3]);
  double by0 = fmin(b[0], b[2]), bx0 = fmin(b[1], b[3]), by1 = fmax(b[0], b[2]),
         bx1 = fmax(b[1], b[3]);
  double area_a = (ay1 - ay0) * (ax1 - ax0), area_b = (by1 - by0) * (bx1 - bx0);
  if (area_a <= 0 || area_b <= 0)
    return 0.0;
  double iy0 = fmax(ay0, by0), ix0 = fmax(ax0, bx0), iy1 = fmin(ay1, by1), ix1 = fmin(ax1, bx1);
  double inter = fmax(iy1 - iy0, 0.0) * fmax(ix1 - ix0, 0.0);
  return inter / (area_a + area_b - inter);
}

static int detect_ssd(struct face_session *s, const struct face_image *img,
                      const struct face_detect_options *o, struct face_detection *out, int capacity,
                      int *count) {
  TRY(ssd_forward(&s->engine->ssd, &s->arena, &s->ping, &s->pong, img, s->boxes,
                  s->scores));
  int n = 0;
  for (int i = 0; i < SSD_ANCHORS; i++)
    if (s->scores[i] > o->min_score)
      s->order[n++] = i;
  sort_candidates(s->order, n, s->scores);
  int limit = o->max_faces < SSD_ANCHORS ? o->max_faces : SSD_ANCHORS;
  int selected[SSD_ANCHORS > 100 ? 100 : SSD_ANCHORS];
  int picked = 0;
  if (limit > 100)
    limit = 100;
  for (int k = 0; k < n && picked < limit; k++) {
    int c = s->order[k], keep = 1;
    for (int j = picked - 1; j >= 0 && keep; j--)
      if (ssd_iou(s->boxes + c * 4, s->boxes + selected[j] * 4) > 0.5)
        keep = 0;
    if (keep)
      selected[picked++] = c;
  }
  /* To image pixels: undo the pad-to-square (note the rounding). */
  double W = img->width, H = img->height, S = W > H ? W : H;
  double pad_x = SSD_INPUT / round(W * SSD_INPUT / S), pad_y = SSD_INPUT / round(H * SSD_INPUT / S);
  *count = 0;
  for (int k = 0; k < picked && *count < capacity; k++) {
    const float *b = s->boxes + selected[k] * 4;
    double top = fmax(0.0, b[0]) * pad_y, bottom = fmin(1.0, b[2]) * pad_y;
    double left = fmax(0.0, b[1]) * pad_x, right = fmin(1.0, b[3]) * pad_x;
    struct face_detection *d = &out[(*count)++];
    d->score = s->scores[selected[k]];
    d->box.x = left * W;
    d->box.y = top * H;
    d->box.width = (right - left) * W;
    d->box.height = (bottom - top) * H;
  }
  return FF_OK;
}

static double sigmoid(double x) {
  return 1.0 / (1.0 + exp(-x));
}

static double tiny_iou(const double *a, const double *b, double scale) {
  /* boxes rescaled by the input size as face-api does before its NMS */
  double ax = a[0] * scale, ay = a[1] * scale, aw = (a[2] - a[0]) * scale,
         ah = (a[3] - a[1]) * scale;
  double bx = b[0] * scale, by = b[1] * scale, bw = (b[2] - b[0]) * scale,
         bh = (b[3] - b[1]) * scale;
  double w = fmax(0.0, fmin(ax + aw, bx + bw) - fmax(ax, bx));
  double h = fmax(0.0, fmin(ay + ah, by + bh) - fmax(ay, by));
  double inter = w * h;
  return inter / (aw * ah + bw * bh - inter);
}

static int detect_tiny(struct face_session *s, const struct face_image *img,
                       const struct face_detect_options *o, struct face_detection *out,
                       int capacity, int *count, struct ff_error *err) {
  int size = o->tiny_input_size;
  if (size < 32 || size > 1024 || size % 32)
    return ff_fail(err, FF_EINVAL, "face: tiny input size %d is not a multiple of 32 in 32..1024",
                   size);
  struct tensor t;
  TRY(tiny_forward(&s->engine->tiny, &s->arena, &s->ping, &s->pong, img, size, &t));
  static const double anchors[5][2] = {{1.603231, 2.094468},
                                       {6.041143, 7.080126},
                                       {2.882459, 3.518061},
                                       {4.266906, 5.178857},
                                       {9.041765, 10.66308}};
  double W = img->width, H = img->height, S = W > H ? W : H;
  double cx_f = size / round(W * size / S), cy_f = size / round(H * size / S);
  int cells = t.h, n = 0;
  for (int row = 0; row < cells; row++)
    for (int col = 0; col < cells; col++)
      for (int a = 0; a < 5; a++) {
        const float *v = t.d + ((size_t)row * cells + col) * 25 + a * 5;
        double score = sigmoid(v[4]);
        if (!(score > o->min_score) || n >= FACE_MAX_CANDIDATES)
          continue;
        double ct_x = ((col + sigmoid(v[0])) / cells) * cx_f;
        double ct_y = ((row + sigmoid(v[1])) / cells) * cy_f;
        double w = ((exp(v[2]) * anchors[a][0]) / cells) * cx_f;
        double h = ((exp(v[3]) * anchors[a][1]) / cells) * cy_f;
        double x = ct_x - w / 2, y = ct_y - h / 2;
        double *b = s->tiny_boxes + (size_t)n * 5;
        b[0] = x;
        b[1] = y;
        b[2] = x + w;
        b[3] = y + h;
        b[4] = score;
        s->order[n] = n;
        n++;
      }
  /* Ascending stable sort, then pop from the end: best first, ties by
   * descending index. */
  for (int i = 1; i < n; i++) {
    int v = s->order[i], j = i - 1;
    double sv = s->tiny_boxes[(size_t)v * 5 + 4];
    while (j >= 0 && (s->tiny_boxes[(size_t)s->order[j] * 5 + 4] < sv ||
                      (s->tiny_boxes[(size_t)s->order[j] * 5 + 4] == sv && s->order[j] < v))) {
      s->order[j + 1] = s->order[j];
      j--;
    }
    s->order[j + 1] = v;
  }
  *count = 0;
  int remaining = n;
  int *live = s->order;
  while (remaining > 0) {
    int cur = live[0];
    if (*count < capacity) {
      const double *b = s->tiny_boxes + (size_t)cur * 5;
      struct face_detection *d = &out[(*count)++];
      /* ObjectDetection -> relativeBox -> FaceDetection: rescale round trips */
      double bx = b[0] * W, by = b[1] * H, bw = (b[2] - b[0]) * W, bh = (b[3] - b[1]) * H;
      d->box.x = bx * (1.0 / W) * W;
      d->box.y = by * (1.0 / H) * H;
      d->box.width = bw * (1.0 / W) * W;
      d->box.height = bh * (1.0 / H) * H;
      d->score = b[4];
    }
    int kept = 0;
    for (int i = 1; i < remaining; i++)
      if (tiny_iou(s->tiny_boxes + (size_t)cur * 5, s->tiny_boxes + (size_t)live[i] * 5, size) <=
          0.4)
        live[kept++] = live[i];
    remaining = kept;
  }
  return FF_OK;
}

int face_detect(struct face_session *s, const struct face_image *img,
                const struct face_detect_options *options, struct face_detection *out, int capacity,
                int *count, struct ff_error *err) {
  *count = 0;
  struct face_detect_options o;
  if (options)
    o = *options;
  else
    face_detect_options_default(&o);
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0)
    return ff_fail(err, FF_EINVAL, "face: empty image");
  int tiny = o.detector == FACE_DETECTOR_TINY;
  TRY(face_engine_require(s->engine, tiny ? FACE_NET_TINY : FACE_NET_SSD,
                          tiny ? "tiny_face_detector" : "ssd_mobilenetv1", err));
  arena_reset(&s->arena);
  int rc = tiny ? detect_tiny(s, img, &o, out, capacity, count, err)
                                            : detect_ssd(s, img, &o, out, capacity, count);
  if (rc == FF_ENOMEM)
    return ff_fail(err, rc, "face: out of memory during detection");
  if (rc != FF_OK && err && !err->message[0])
    ff_fail(err, rc, "face: detection failed (%s)", ff_status_name(rc));
  return rc;
}
