/* landmarks.c — face_landmark_68 and its tiny variant (face-models.md 2.3). */
#include <stdio.h>
#include <string.h>

#include "nets.h"

void landmark_free(struct landmark_net *net) {
  param_store_free(&net->store);
}

int landmark_load(struct weights *w, int tiny, struct landmark_net *net, struct ff_error *err) {
  memset(net, 0, sizeof *net);
  struct loader L = {.w = w, .store = &net->store, .err = err, .rc = FF_OK};
  static const int ch[5] = {3, 32, 64, 128, 256};
  net->tiny = tiny;
  net->blocks = tiny ? 3 : 4;
  int convs = tiny ? 3 : 4; /* conv0 + separables */
  char a[96], b[96];
  for (int i = 0; i < net->blocks; i++) {
    struct dense_block *blk = &net->block[i];
    int cin = ch[i], cout = ch[i + 1];
    if (i == 0) {
      loader_conv(&L, &blk->first, 3, cin, cout, 2, "dense0/conv0/filters", "dense0/conv0/bias");
    } else {
      snprintf(a, sizeof a, "dense%d/conv0", i);
      loader_separable(&L, &blk->conv0, cin, cout, 2, a);
    }
    for (int k = 1; k < convs; k++) {
      snprintf(b, sizeof b, "dense%d/conv%d", i, k);
      loader_separable(&L, &blk->sep[k - 1], cout, cout, 1, b);
    }
  }
  net->fc_in = ch[net->blocks];
  int fd[2] = {net->fc_in, 136}, bd[1] = {136};
  net->fc_w = loader_take(&L, 2, fd, "fc/weights");
  net->fc_b = loader_take(&L, 1, bd, "fc/bias");
  if (loader_finish(&L) != FF_OK)
    landmark_free(net);
  return L.rc;
}

static void relu_sum(float *dst, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = a[i] + b[i];
    dst[i] = v > 0 ? v : 0;
  }
}

/* denseBlock4 / denseBlock3 of FaceFeatureExtractor. */
static int dense_block(struct arena *a, const struct tensor *in, const struct dense_block *blk,
                       int first, int depth, struct tensor *out) {
  struct tensor o1, o2, o3, o4, tmp;
  if (first)
    TRY(conv2d(a, in, &blk->first, PAD_SAME, ACT_RELU, &o1));
  else
    TRY(separable_forward(a, in, &blk->conv0, ACT_RELU, &o1));
  size_t n = (size_t)o1.h * o1.w * o1.c;
  TRY(separable_forward(a, &o1, &blk->sep[0], ACT_NONE, &o2));
  TRY(tensor_new(a, o1.h, o1.w, o1.c, &tmp));
  relu_sum(tmp.d, o1.d, o2.d, n); /* relu(o1 + o2) */
  TRY(separable_forward(a, &tmp, &blk->sep[1], ACT_NONE, &o3));
  if (depth == 3) { /* relu(o1 + (o2 + o3)) */
    add_into(o3.d, o2.d, n);
    TRY(tensor_new(a, o1.h, o1.w, o1.c, out));
    relu_sum(out->d, o1.d, o3.d, n);
    return FF_OK;
  }
  /* in4 = relu(o1 + (o2 + o3)) */
  TRY(tensor_new(a, o1.h, o1.w, o1.c, &tmp));
  for (size_t i = 0; i < n; i++) {
    float v = o1.d[i] + (o2.d[i] + o3.d[i]);
    tmp.d[i] = v > 0 ? v : 0;
  }
  TRY(separable_forward(a, &tmp, &blk->sep[2], ACT_NONE, &o4));
  TRY(tensor_new(a, o1.h, o1.w, o1.c, out));
  for (size_t i = 0; i < n; i++) { /* relu(o1 + (o2 + (o3 + o4))) */
    float v = o1.d[i] + (o2.d[i] + (o3.d[i] + o4.d[i]));
    out->d[i] = v > 0 ? v : 0;
  }
  return FF_OK;
}

int landmark_forward(const struct landmark_net *net, struct arena *a, const struct face_image *img,
                     int x, int y, int w, int h, float out[136]) {
  static const struct input_norm norm = {{122.782f, 117.001f, 104.298f}, 255.0f, 0.0f};
  struct tensor t, u;
  TRY(crop_resize(a, img, x, y, w, h, 1, 112, &norm, &t));
  for (int i = 0; i < net->blocks; i++) {
    TRY(dense_block(a, &t, &net->block[i], i == 0, net->tiny ? 3 : 4, &u));
    t = u;
  }
  /* full: AvgPool 7x7 on 7x7; tiny: 14x14 on 14x14 — both one window. */
  TRY(avg_pool(a, &t, t.h, 2, &u));
  if (u.h != 1 || u.w != 1 || u.c != net->fc_in)
    return FF_EINTERNAL;
  fully_connected(u.d, net->fc_in, net->fc_w, net->fc_b, 136, out);
  return FF_OK;
}
