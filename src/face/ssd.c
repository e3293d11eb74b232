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

/* Blocks 1 and 2 together, a strip of block 2's output rows at a time.
 * Block 1's output (256x256x64 floats, 16 MB, the largest activation of
 * the net) only ever exists as the rows the strip's windows read; rows two
 * strips share are kept, not computed again. */
#define PAIR_ROWS 8 /* block-2 output rows per strip */

static int blocks_1_2(const struct ssd_net *net, struct arena *scratch, struct arena *target,
                      const struct tensor *x, struct tensor *out) {
  const struct depthwise *da = &net->dw[1], *db = &net->dw[2];
  const struct conv *pa = &net->pw[1], *pb = &net->pw[2];
  int ha, wa, hb, wb, ptb, unused;
  pad_geometry(x->h, 3, da->stride, PAD_SAME, &ha, &unused);
  pad_geometry(x->w, 3, da->stride, PAD_SAME, &wa, &unused);
  pad_geometry(ha, 3, db->stride, PAD_SAME, &hb, &ptb);
  pad_geometry(wa, 3, db->stride, PAD_SAME, &wb, &unused);
  TRY(tensor_new(target, hb, wb, pb->cout, out));
  struct arena_mark mark = arena_mark(scratch);
  int a_rows = (PAIR_ROWS - 1) * db->stride + 3; /* block-1 rows one strip reads at most */
  size_t a_row = (size_t)wa * pa->cout;
  struct tensor dwa, ya, dwb;
  TRY(tensor_new(scratch, a_rows, wa, da->c, &dwa));  /* block 1 depthwise rows */
  TRY(tensor_new(scratch, a_rows, wa, pa->cout, &ya)); /* block 1 output rows [have0, have1) */
  TRY(tensor_new(scratch, PAIR_ROWS, wb, db->c, &dwb));
  int have0 = 0, have1 = 0;
  for (int y = 0; y < hb; y += PAIR_ROWS) {
    int n = hb - y < PAIR_ROWS ? hb - y : PAIR_ROWS;
    int need0 = y * db->stride - ptb, need1 = (y + n - 1) * db->stride - ptb + 3;
    need0 = need0 < 0 ? 0 : need0;
    need1 = need1 > ha ? ha : need1;
    if (have1 > need0) { /* the previous strip's last rows serve again */
      memmove(ya.d, ya.d + (size_t)(need0 - have0) * a_row,
              (size_t)(have1 - need0) * a_row * sizeof(float));
    } else {
      have1 = need0;
    }
    have0 = need0;
    if (need1 > have1) {
      int m = need1 - have1;
      struct tensor d = {m, wa, da->c, dwa.d};
      struct tensor o = {m, wa, pa->cout, ya.d + (size_t)(have1 - have0) * a_row};
      TRY(depthwise2d_rows(x, 0, x->h, da, PAD_SAME, ACT_RELU6, have1, need1, dwa.d));
      TRY(conv2d_into(scratch, &d, pa, PAD_SAME, ACT_RELU6, &o));
      have1 = need1;
    }
    struct tensor rows = {have1 - have0, wa, pa->cout, ya.d};
    struct tensor d = {n, wb, db->c, dwb.d};
    struct tensor o = {n, wb, pb->cout, out->d + (size_t)y * wb * pb->cout};
    TRY(depthwise2d_rows(&rows, have0, ha, db, PAD_SAME, ACT_RELU6, y, y + n, dwb.d));
    TRY(conv2d_into(scratch, &d, pb, PAD_SAME, ACT_RELU6, &o));
  }
  arena_rewind(scratch, mark);
  return FF_OK;
}

/* Activations planned by liveness: at most two backbone tensors are alive
 * (a layer's input and output), in `ping` and `pong` alternately; the
 * depthwise results exist only as strips (dw_pw_forward, blocks_1_2). The
 * input (512x512x3) and conv0's zero-padded copy of it live in `pong` until
 * block 2's output replaces them; conv0's output (256x256x32) is in `ping`.
 * Peak: 8 MB in each plus the strips and predictor outputs in `a`. */
int ssd_forward(const struct ssd_net *net, struct arena *a, struct arena *ping, struct arena *pong,
                const struct face_image *img, float *boxes, float *scores) {
  static const struct input_norm norm = {{0, 0, 0}, 127.5f, -1.0f};
  struct tensor x, t;
  float *enc = arena_floats(a, SSD_ANCHORS * 4), *logits = arena_floats(a, SSD_ANCHORS * 3);
  if (!enc || !logits)
    return FF_ENOMEM;
  int at = 0;
  arena_reset(pong);
  TRY(crop_resize(pong, img, 0, 0, img->width, img->height, 0, SSD_INPUT, &norm, &x));
  arena_reset(ping);
  {
    int oh, ow, unused;
    pad_geometry(x.h, net->conv0.kh, net->conv0.stride, PAD_SAME, &oh, &unused);
    pad_geometry(x.w, net->conv0.kw, net->conv0.stride, PAD_SAME, &ow, &unused);
    TRY(tensor_new(ping, oh, ow, net->conv0.cout, &t));
    TRY(conv2d_into(pong, &x, &net->conv0, PAD_SAME, ACT_RELU6, &t)); /* padded copy in pong */
  }
  arena_reset(pong);
  TRY(blocks_1_2(net, a, pong, &t, &x));
  for (int i = 3; i <= 13; i++) {
    struct arena *target = i % 2 ? ping : pong;
    arena_reset(target);
    TRY(dw_pw_forward(a, target, &x, &net->dw[i], ACT_RELU6, &net->pw[i], ACT_RELU6, &t));
    x = t;
    if (i == 11) /* feeds the first box predictor */
      TRY(predict(a, &x, &net->box[0], &net->cls[0], enc, logits, &at));
  }
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
