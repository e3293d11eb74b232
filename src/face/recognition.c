/* recognition.c — the 128-d face descriptor net (face-models.md 2.4). */
#include <stdio.h>
#include <string.h>

#include "nets.h"

#define RECOGNITION_BLOCKS 14

static const struct {
  const char *name;
  int cin, cout, down;
} blocks[RECOGNITION_BLOCKS] = {
    {"conv32_1", 32, 32, 0},    {"conv32_2", 32, 32, 0},           {"conv32_3", 32, 32, 0},
    {"conv64_down", 32, 64, 1}, {"conv64_1", 64, 64, 0},           {"conv64_2", 64, 64, 0},
    {"conv64_3", 64, 64, 0},    {"conv128_down", 64, 128, 1},      {"conv128_1", 128, 128, 0},
    {"conv128_2", 128, 128, 0}, {"conv256_down", 128, 256, 1},     {"conv256_1", 256, 256, 0},
    {"conv256_2", 256, 256, 0}, {"conv256_down_out", 256, 256, 1},
};

void recognition_free(struct recognition_net *net) {
  param_store_free(&net->store);
}

/* conv + bias, then the "scale" layer x*s + t, folded: w' = w*s, b' = b*s + t. */
static void load_scaled_conv(struct loader *L, struct conv *c, int k, int cin, int cout, int stride,
                             const char *prefix) {
  char f[128], b[128];
  snprintf(f, sizeof f, "%s/conv/filters", prefix);
  snprintf(b, sizeof b, "%s/conv/bias", prefix);
  loader_conv(L, c, k, cin, cout, stride, f, b);
  int d[1] = {cout};
  float *s = loader_take(L, 1, d, "%s/scale/weights", prefix);
  float *t = loader_take(L, 1, d, "%s/scale/biases", prefix);
  if (L->rc != FF_OK)
    return;
  float *w = (float *)c->w, *bias = (float *)c->b;
  for (size_t i = 0; i < (size_t)k * k * cin; i++)
    for (int o = 0; o < cout; o++)
      w[i * cout + o] *= s[o];
  for (int o = 0; o < cout; o++)
    bias[o] = bias[o] * s[o] + t[o];
}

int recognition_load(struct weights *w, struct recognition_net *net, struct ff_error *err) {
  memset(net, 0, sizeof *net);
  struct loader L = {.w = w, .store = &net->store, .err = err, .rc = FF_OK};
  load_scaled_conv(&L, &net->conv32_down, 7, 3, 32, 2, "conv32_down");
  char p[96];
  for (int i = 0; i < RECOGNITION_BLOCKS; i++) {
    snprintf(p, sizeof p, "%s/conv1", blocks[i].name);
    load_scaled_conv(&L, &net->res[i][0], 3, blocks[i].cin, blocks[i].cout, blocks[i].down ? 2 : 1,
                     p);
    snprintf(p, sizeof p, "%s/conv2", blocks[i].name);
    load_scaled_conv(&L, &net->res[i][1], 3, blocks[i].cout, blocks[i].cout, 1, p);
  }
  int fd[2] = {256, 128};
  net->fc = loader_take(&L, 2, fd, "fc");
  if (loader_finish(&L) != FF_OK)
    recognition_free(net);
  return L.rc;
}

/* residualDown: conv s2 "valid" + relu, conv s1 "same"; avg-pooled input,
 * zero-extended in channels; conv output zero-padded bottom/right when one
 * smaller; relu(sum). */
static int residual_down(struct arena *a, const struct tensor *x, const struct conv *c1,
                         const struct conv *c2, struct tensor *out) {
  struct tensor t, r, p;
  TRY(conv2d(a, x, c1, PAD_VALID, ACT_RELU, &t));
  TRY(conv2d(a, &t, c2, PAD_SAME, ACT_NONE, &r));
  TRY(avg_pool(a, x, 2, 2, &p));
  if (r.h > p.h || r.w > p.w || p.h - r.h > 1 || p.w - r.w > 1 || p.c > r.c)
    return FF_EINTERNAL;
  TRY(tensor_new(a, p.h, p.w, r.c, out));
  for (int y = 0; y < p.h; y++)
    for (int xx = 0; xx < p.w; xx++) {
      float *o = out->d + ((size_t)y * p.w + xx) * r.c;
      const float *pv = p.d + ((size_t)y * p.w + xx) * p.c;
      const float *rv = (y < r.h && xx < r.w) ? r.d + ((size_t)y * r.w + xx) * r.c : NULL;
      for (int ch = 0; ch < r.c; ch++) {
        float v = (ch < p.c ? pv[ch] : 0.0f) + (rv ? rv[ch] : 0.0f);
        o[ch] = v > 0 ? v : 0;
      }
    }
  return FF_OK;
}

int recognition_forward(const struct recognition_net *net, struct arena *a,
                        const struct face_image *img, int x, int y, int w, int h, float out[128]) {
  static const struct input_norm norm = {{122.782f, 117.001f, 104.298f}, 255.0f, 0.0f};
  struct tensor t, u;
  TRY(crop_resize(a, img, x, y, w, h, 1, 150, &norm, &t));
  TRY(conv2d(a, &t, &net->conv32_down, PAD_VALID, ACT_RELU, &u));
  TRY(max_pool(a, &u, 3, 2, PAD_VALID, &t));
  for (int i = 0; i < RECOGNITION_BLOCKS; i++) {
    if (blocks[i].down) {
      TRY(residual_down(a, &t, &net->res[i][0], &net->res[i][1], &u));
    } else {
      struct tensor m;
      TRY(conv2d(a, &t, &net->res[i][0], PAD_SAME, ACT_RELU, &m));
      TRY(conv2d(a, &m, &net->res[i][1], PAD_SAME, ACT_NONE, &u));
      size_t n = (size_t)u.h * u.w * u.c;
      for (size_t k = 0; k < n; k++) {
        float v = u.d[k] + t.d[k];
        u.d[k] = v > 0 ? v : 0;
      }
    }
    t = u;
  }
  float mean[256] = {0};
  if (t.c != 256)
    return FF_EINTERNAL;
  for (int p = 0; p < t.h * t.w; p++)
    for (int c = 0; c < 256; c++)
      mean[c] += t.d[(size_t)p * 256 + c];
  for (int c = 0; c < 256; c++)
    mean[c] /= (float)(t.h * t.w);
  fully_connected(mean, 256, net->fc, NULL, 128, out);
  return FF_OK;
}
