/* pipeline.c — landmarks, the descriptor and age/gender crops, and the full
 * chain, cut exactly as face-api cuts them (face-models.md 2.3 and 3). */
#include <math.h>
#include <string.h>

#include "engine_internal.h"

/* face-api's Box.clipAtImageBorders + floor. Returns 0 when nothing is left. */
static int clip_floor(double x, double y, double w, double h, int W, int H, struct face_rect *r) {
  double cx = fmax(x, 0.0), cy = fmax(y, 0.0);
  double cw = fmin(x + w - cx, W - cx), ch = fmin(y + h - cy, H - cy);
  if (!(cx < W && cy < H) || !isfinite(cw) || !isfinite(ch))
    return 0;
  r->x = (int)floor(cx);
  r->y = (int)floor(cy);
  r->width = (int)floor(cw);
  r->height = (int)floor(ch);
  if (r->width <= 0 || r->height <= 0)
    return 0;
  /* floor(x) + floor(w) can pass the border by one when both are fractional */
  if (r->x + r->width > W)
    r->width = W - r->x;
  if (r->y + r->height > H)
    r->height = H - r->y;
  return r->width > 0 && r->height > 0;
}

/* FaceDetection.forSize(): box -> relative -> box, the doubles as face-api has them. */
static double round_trip(double v, double dim) {
  return v * (1.0 / dim) * dim;
}

static int check_crop(const struct face_image *img, const struct face_rect *r,
                      struct ff_error *err) {
  if (!img || !img->rgb || !r || r->width <= 0 || r->height <= 0 || r->x < 0 || r->y < 0 ||
      r->x > img->width - r->width || r->y > img->height - r->height)
    return ff_fail(err, FF_EINVAL, "face: crop rectangle outside the image");
  return FF_OK;
}

static int net_status(int rc, const char *what, struct ff_error *err) {
  if (rc == FF_OK)
    return rc;
  if (rc == FF_ENOMEM)
    return ff_fail(err, rc, "face: out of memory in the %s net", what);
  return ff_fail(err, rc, "face: %s net failed (%s)", what, ff_status_name(rc));
}

int face_landmarks(struct face_session *s, const struct face_image *img, const struct face_box *box,
                   enum face_landmark_model model, struct face_point points[FACE_LANDMARK_COUNT],
                   struct ff_error *err) {
  if (!img || !img->rgb || !box)
    return ff_fail(err, FF_EINVAL, "face: missing image or box");
  double W = img->width, H = img->height;
  struct face_rect r;
  if (!clip_floor(round_trip(box->x, W), round_trip(box->y, H), round_trip(box->width, W),
                  round_trip(box->height, H), img->width, img->height, &r))
    return ff_fail(err, FF_EINVAL, "face: detection box lies outside the image");
  int tiny = model == FACE_LANDMARKS_TINY;
  TRY(face_engine_require(s->engine, tiny ? FACE_NET_LANDMARKS_TINY : FACE_NET_LANDMARKS,
                          tiny ? "face_landmark_68_tiny" : "face_landmark_68", err));
  const struct landmark_net *net = tiny ? &s->engine->landmarks_tiny : &s->engine->landmarks;
  float raw[136];
  arena_reset(&s->ping); /* the detector is done with it */
  int rc = landmark_forward(net, &s->ping, img, r.x, r.y, r.width, r.height, raw);
  if (rc != FF_OK)
    return net_status(rc, "landmark", err);
  /* postProcess: float32 tensor arithmetic, then doubles for the shift. */
  double sd = 112.0 / (double)(r.width > r.height ? r.width : r.height);
  double w2 = r.width * sd, h2 = r.height * sd;
  float pad_x = w2 < h2 ? (float)(fabs(w2 - h2) / 2) : 0.0f;
  float pad_y = h2 < w2 ? (float)(fabs(w2 - h2) / 2) : 0.0f;
  float fw2 = (float)w2, fh2 = (float)h2;
  for (int i = 0; i < FACE_LANDMARK_COUNT; i++) {
    float xr = (raw[2 * i] * 112.0f - pad_x) / fw2;
    float yr = (raw[2 * i + 1] * 112.0f - pad_y) / fh2;
    points[i].x = (double)xr * r.width + box->x;
    points[i].y = (double)yr * r.height + box->y;
  }
  return FF_OK;
}

static struct face_point mean_point(const struct face_point *p, int from, int to) {
  struct face_point m = {0, 0};
  for (int i = from; i < to; i++) {
    m.x += p[i].x;
    m.y += p[i].y;
  }
  m.x /= (to - from);
  m.y /= (to - from);
  return m;
}

int face_descriptor_rect(const struct face_image *img, const struct face_box *det,
                         const struct face_point p[FACE_LANDMARK_COUNT], struct face_rect *out) {
  /* FaceLandmarks.alignDlib: a square from eye and mouth centres. */
  struct face_point le = mean_point(p, 36, 42), re = mean_point(p, 42, 48),
                    mouth = mean_point(p, 48, 68);
  double d = (hypot(mouth.x - le.x, mouth.y - le.y) + hypot(mouth.x - re.x, mouth.y - re.y)) / 2;
  double size = floor(d / 0.45);
  double cx = (le.x + re.x + mouth.x) / 3, cy = (le.y + re.y + mouth.y) / 3;
  double x = floor(fmax(0.0, cx - 0.5 * size)), y = floor(fmax(0.0, cy - 0.43 * size));
  /* the landmarks' image dimensions are the detection crop's (floored) */
  struct face_rect crop;
  double W = img->width, H = img->height;
  if (!clip_floor(round_trip(det->x, W), round_trip(det->y, H), round_trip(det->width, W),
                  round_trip(det->height, H), img->width, img->height, &crop))
    return FF_EINVAL;
  double w = fmin(size, crop.width + x), h = fmin(size, crop.height + y);
  return clip_floor(x, y, w, h, img->width, img->height, out) ? FF_OK : FF_EINVAL;
}

int face_age_gender_rect(const struct face_image *img,
                         const struct face_point p[FACE_LANDMARK_COUNT], struct face_rect *out) {
  /* alignMinBbox(0.2): landmark bounding box padded by 20 %, then two
   * relative/absolute round trips (alignedRect, forSize). */
  double minx = INFINITY, miny = INFINITY, maxx = -INFINITY, maxy = -INFINITY;
  for (int i = 0; i < FACE_LANDMARK_COUNT; i++) {
    minx = fmin(minx, p[i].x);
    miny = fmin(miny, p[i].y);
    maxx = fmax(maxx, p[i].x);
    maxy = fmax(maxy, p[i].y);
  }
  double w = maxx - minx, h = maxy - miny, px = w * 0.2, py = h * 0.2;
  double x = minx - px / 2, y = miny - py / 2;
  w += px;
  h += py;
  double W = img->width, H = img->height;
  x = round_trip(round_trip(x, W), W);
  y = round_trip(round_trip(y, H), H);
  w = round_trip(round_trip(w, W), W);
  h = round_trip(round_trip(h, H), H);
  return clip_floor(x, y, w, h, img->width, img->height, out) ? FF_OK : FF_EINVAL;
}

int face_describe(struct face_session *s, const struct face_image *img,
                  const struct face_rect *crop, float descriptor[FACE_DESCRIPTOR_SIZE],
                  struct ff_error *err) {
  TRY(check_crop(img, crop, err));
  TRY(face_engine_require(s->engine, FACE_NET_RECOGNITION, "face_recognition", err));
  arena_reset(&s->ping);
  int rc = recognition_forward(&s->engine->recognition, &s->ping, img, crop->x, crop->y,
                               crop->width, crop->height, descriptor);
  return net_status(rc, "recognition", err);
}

int face_age_gender(struct face_session *s, const struct face_image *img,
                    const struct face_rect *crop, float *age, float *male_probability,
                    struct ff_error *err) {
  TRY(check_crop(img, crop, err));
  TRY(face_engine_require(s->engine, FACE_NET_AGE_GENDER, "age_gender", err));
  arena_reset(&s->ping);
  int rc = age_gender_forward(&s->engine->age_gender, &s->ping, img, crop->x, crop->y, crop->width,
                              crop->height, age, male_probability);
  return net_status(rc, "age/gender", err);
}

int face_analyze_detection(struct face_session *s, const struct face_image *img,
                           const struct face_detection *det, struct face_result *r,
                           struct ff_error *err) {
  memset(r, 0, sizeof *r);
  r->detection = *det;
  TRY(face_landmarks(s, img, &det->box, FACE_LANDMARKS_FULL, r->landmarks, err));
  if (face_descriptor_rect(img, &det->box, r->landmarks, &r->descriptor_rect) != FF_OK ||
      face_age_gender_rect(img, r->landmarks, &r->age_gender_rect) != FF_OK)
    return ff_fail(err, FF_EINVAL, "face: the face's crops lie outside the image");
  TRY(face_describe(s, img, &r->descriptor_rect, r->descriptor, err));
  float p_male;
  TRY(face_age_gender(s, img, &r->age_gender_rect, &r->age, &p_male, err));
  r->is_male = p_male > 0.5f;
  r->gender_probability = r->is_male ? p_male : 1.0f - p_male;
  return face_quality(img, &r->detection, r->landmarks, &r->quality);
}

int face_analyze(struct face_session *s, const struct face_image *img,
                 const struct face_detect_options *options, struct face_result *out, int capacity,
                 int *count, struct ff_error *err) {
  *count = 0;
  if (capacity <= 0)
    return FF_OK;
  struct face_detection dets[100];
  int n = 0;
  TRY(face_detect(s, img, options, dets, capacity < 100 ? capacity : 100, &n, err));
  for (int i = 0; i < n; i++) {
    int rc = face_analyze_detection(s, img, &dets[i], &out[*count], err);
    if (rc == FF_EINVAL)
      continue; /* box or crops outside the image: face-api drops such faces too */
    TRY(rc);
    (*count)++;
  }
  return FF_OK;
}

double face_distance(const float a[FACE_DESCRIPTOR_SIZE], const float b[FACE_DESCRIPTOR_SIZE]) {
  double sum = 0;
  for (int i = 0; i < FACE_DESCRIPTOR_SIZE; i++) {
    double d = (double)a[i] - b[i];
    sum += d * d;
  }
  return sqrt(sum);
}
