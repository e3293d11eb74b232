/* ssd.c — SSD MobileNet v1 face detector (face-models.md 2.1). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nets.h"

#define BN_EPSILON 0.0010000000474974513

static const int ssd_channels[14] = {32,  64,  128, 128, 256, 256,  512,
                                     512, 512, 512, 512, 512, 1024, 1024};

void ssd_free(struct ssd_net *net) {
  param_store_free(&net->store);
}

int ssd_load(struct weights *w, struct ssd_net *net, struct ff_error *err) {
  memset(net, 0, sizeof *net);
  struct loader L = {.w = w, .store = &net->store, .err = err, .rc = FF_OK};
  char a[160], b[160];
  loader_conv(&L, &net->conv0, 3, 3, 32, 2, "MobilenetV1/Conv2d_0_pointwise/weights",
              "MobilenetV1/Conv2d_0_pointwise/convolution_bn_offset");
  for (int i = 1; i <= 13 && L.rc == FF_OK; i++) {
    int cin = ssd_channels[i - 1], cout = ssd_channels[i];
    int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
    int dd[4] = {3, 3, cin, 1}, cd[1] = {cin};
    float *dw = loader_take(&L, 4, dd, "MobilenetV1/Conv2d_%d_depthwise/depthwise_weights", i);
    const char *bn = "MobilenetV1/Conv2d_%d_depthwise/BatchNorm/%s";
    float *gamma = loader_take(&L, 1, cd, bn, i, "gamma");
    float *beta = loader_take(&L, 1, cd, bn, i, "beta");
    float *mean = loader_take(&L, 1, cd, bn, i, "moving_mean");
    float *var = loader_take(&L, 1, cd, bn, i, "moving_variance");
    if (L.rc != FF_OK)
      break;
    /* Fold the explicit batch norm into the depthwise weights: beta becomes
     * the bias. */
    for (int c = 0; c < cin; c++) {
      float s = (float)(gamma[c] / sqrt((double)var[c] + BN_EPSILON));
      for (int t = 0; t < 9; t++)
        dw[t * cin + c] *= s;
      beta[c] = beta[c] - mean[c] * s;
    }
    net->dw[i] = (struct depthwise){3, cin, stride, dw, beta};
    snprintf(a, sizeof a, "MobilenetV1/Conv2d_%d_pointwise/weights", i);
    snprintf(b, sizeof b, "MobilenetV1/Conv2d_%d_pointwise/convolution_bn_offset", i);
    loader_conv(&L, &net->pw[i], 1, cin, cout, 1, a, b);
  }
  static const int ex_k[8] = {1, 3, 1, 3, 1, 3, 1, 3};
  static const int ex_in[8] = {1024, 256, 512, 128, 256, 128, 256, 64};
  static const int ex_out[8] = {256, 512, 128, 256, 128, 256, 64, 128};
  for (int i = 0; i < 8; i++) {
    snprintf(a, sizeof a, "Prediction/Conv2d_%d_pointwise/weights", i);
    snprintf(b, sizeof b, "Prediction/Conv2d_%d_pointwise/convolution_bn_offset", i);
    loader_conv(&L, &net->extra[i], ex_k[i], ex_in[i], ex_out[i], i % 2 ? 2 : 1, a, b);
  }
  static const int bp_in[6] = {512, 1024, 512, 256, 256, 128};
  for (int i = 0; i < 6; i++) {
    int anchors = i == 0 ? 3 : 6;
    snprintf(a, sizeof a, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/weights", i);
    snprintf(b, sizeof b, "Prediction/BoxPredictor_%d/BoxEncodingPredictor/biases", i);
    loader_conv(&L, &net->box[i], 1, bp_in[i], anchors * 4, 1, a, b);
    snprintf(a, sizeof a, "Prediction/BoxPredictor_%d/ClassPredictor/weights", i);
    snprintf(b, sizeof b, "Prediction/BoxPredictor_%d/ClassPredictor/biases", i);
    loader_conv(&L, &net->cls[i], 1, bp_in[i], anchors * 3, 1, a, b);
  }
  int ad[3] = {1, SSD_ANCHORS, 4};
  net->anchors = loader_take(&L, 3, ad, "Output/extra_dim");
  if (loader_finish(&L) != FF_OK)
    ssd_free(net);
  return L.rc;
}

/* Appends one predictor's boxes / class logits to the flat outputs. */
static int predict(struct arena *a, const struct tensor *x, const struct conv *box,
                   const struct conv *cls, float *enc, float *logits, int *at) {
  struct arena_mark mark = arena_mark(a);
  struct tensor tb, tc;
  TRY(conv2d(a, x, box, PAD_SAME, ACT_NONE, &tb));
  TRY(conv2d(a, x, cls, PAD_SAME, ACT_NONE, &tc));
  int n = tb.h * tb.w * box->cout / 4;
  if (*at + n > SSD_ANCHORS)
    return FF_EINTERNAL;
  memcpy(enc + (size_t)*at * 4, tb.d, (size_t)n * 4 * sizeof(float));
  memcpy(logits + (size_t)*at * 3, tc.d, (size_t)n * 3 * sizeof(float));
  *at += n;
  arena_rewind(a, mark);
  return FF_OK;
}

int ssd_forward(const struct ssd_net *net, struct arena *a, struct arena *ping, struct arena *pong,
                const struct face_image *img, float *boxes, float *scores) {
  static const struct input_norm norm = {{0, 0, 0}, 127.5f, -1.0f};
  struct tensor x, t, conv11 = {0};
  TRY(crop_resize(a, img, 0, 0, img->width, img->height, 0, SSD_INPUT, &norm, &x));
  arena_reset(ping);
  TRY(conv2d(ping, &x, &net->conv0, PAD_SAME, ACT_RELU6, &t));
  x = t;
  struct arena *target = pong;
  for (int i = 1; i <= 13; i++) {
    struct tensor d;
    struct arena_mark mark = arena_mark(a);
    arena_reset(target);
    TRY(depthwise2d(a, &x, &net->dw[i], PAD_SAME, ACT_RELU6, &d));
    TRY(conv2d(target, &d, &net->pw[i], PAD_SAME, ACT_RELU6, &t));
    arena_rewind(a, mark);
    x = t;
    target = target == ping ? pong : ping;
    if (i == 11) { /* feeds the first box predictor: keep a copy outside ping/pong */
      TRY(tensor_new(a, x.h, x.w, x.c, &conv11));
      memcpy(conv11.d, x.d, (size_t)x.h * x.w * x.c * sizeof(float));
    }
  }
  float *enc = arena_floats(a, SSD_ANCHORS * 4), *logits = arena_floats(a, SSD_ANCHORS * 3);
  if (!enc || !logits)
    return FF_ENOMEM;
  int at = 0;
  TRY(predict(a, &conv11, &net->box[0], &net->cls[0], enc, logits, &at));
  TRY(predict(a, &x, &net->box[1], &net->cls[1], enc, logits, &at));
  for (int i = 0; i < 8; i++) {
    TRY(conv2d(a, &x, &net->extra[i], PAD_SAME, ACT_RELU6, &t));
    x = t;
    if (i % 2 == 1)
      TRY(predict(a, &x, &net->box[2 + i / 2], &net->cls[2 + i / 2], enc, logits, &at));
  }
  if (at != SSD_ANCHORS)
    return FF_EINTERNAL;
  /* TF Object Detection box coder, scales (10, 10, 5, 5), in float32 as tfjs. */
  for (int i = 0; i < SSD_ANCHORS; i++) {
    const float *an = net->anchors + i * 4, *e = enc + i * 4;
    float ha = an[2] - an[0], wa = an[3] - an[1];
    float yc = an[0] + ha / 2.0f, xc = an[1] + wa / 2.0f;
    float half_h = expf(e[2] / 5.0f) * ha / 2.0f, half_w = expf(e[3] / 5.0f) * wa / 2.0f;
    float y = e[0] / 10.0f * ha + yc, xx = e[1] / 10.0f * wa + xc;
    boxes[i * 4 + 0] = y - half_h;
    boxes[i * 4 + 1] = xx - half_w;
    boxes[i * 4 + 2] = y + half_h;
    boxes[i * 4 + 3] = xx + half_w;
    scores[i] = 1.0f / (1.0f + expf(-logits[i * 3 + 1]));
  }
  return FF_OK;
}
