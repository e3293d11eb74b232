/* tiny_detector.c — Tiny Face Detector (face-models.md 2.2). */
#include <stdio.h>
#include <string.h>

#include "nets.h"

void tiny_free(struct tiny_net *net) {
  param_store_free(&net->store);
}

int tiny_load(struct weights *w, struct tiny_net *net, struct ff_error *err) {
  memset(net, 0, sizeof *net);
  struct loader L = {.w = w, .store = &net->store, .err = err, .rc = FF_OK};
  static const int ch[7] = {3, 16, 32, 64, 128, 256, 512};
  loader_conv(&L, &net->conv0, 3, 3, 16, 1, "conv0/filters", "conv0/bias");
  char prefix[32];
  for (int i = 1; i <= 5; i++) {
    snprintf(prefix, sizeof prefix, "conv%d", i);
    loader_separable(&L, &net->sep[i], ch[i], ch[i + 1], 1, prefix);
  }
  loader_conv(&L, &net->conv8, 1, 512, 25, 1, "conv8/filters", "conv8/bias");
  if (loader_finish(&L) != FF_OK)
    tiny_free(net);
  return L.rc;
}

/* conv0 ("valid" 3x3) and the 2x2 max pool after it, a strip of pooled rows
 * at a time: conv0's full output (414x414x16 floats at 416) never exists. */
#define POOL_ROWS 8

static int conv0_pool(const struct tiny_net *net, struct arena *scratch, struct arena *target,
                      const struct tensor *x, struct tensor *out) {
  const struct conv *c0 = &net->conv0;
  int ch, cw, unused;
  pad_geometry(x->h, c0->kh, 1, PAD_VALID, &ch, &unused);
  pad_geometry(x->w, c0->kw, 1, PAD_VALID, &cw, &unused);
  if (ch % 2 || c0->stride != 1) /* a pool window must not straddle two strips */
    return FF_EINTERNAL;
  int oh, ow;
  pad_geometry(ch, 2, 2, PAD_SAME, &oh, &unused);
  pad_geometry(cw, 2, 2, PAD_SAME, &ow, &unused);
  TRY(tensor_new(target, oh, ow, c0->cout, out));
  struct arena_mark mark = arena_mark(scratch);
  struct tensor strip;
  TRY(tensor_new(scratch, 2 * POOL_ROWS, cw, c0->cout, &strip));
  size_t in_row = (size_t)x->w * x->c;
  for (int y = 0; y < oh; y += POOL_ROWS) {
    int n = oh - y < POOL_ROWS ? oh - y : POOL_ROWS;
    /* pooled rows [y, y+n) <- conv rows [2y, 2y+2n) <- input rows [2y, 2y+2n+2) */
    struct tensor in = {2 * n + c0->kh - 1, x->w, x->c, x->d + (size_t)2 * y * in_row};
    struct tensor c = {2 * n, cw, c0->cout, strip.d};
    struct tensor o = {n, ow, c0->cout, out->d + (size_t)y * ow * c0->cout};
    TRY(conv2d_into(scratch, &in, c0, PAD_VALID, ACT_LEAKY, &c));
    TRY(max_pool_into(&c, 2, 2, PAD_SAME, &o));
  }
  arena_rewind(scratch, mark);
  return FF_OK;
}

int tiny_forward(const struct tiny_net *net, struct arena *a, struct arena *ping,
                 struct arena *pong, const struct face_image *img, int input_size,
                 struct tensor *out) {
  static const struct input_norm norm = {{117.001f, 114.697f, 97.404f}, 255.0f, 0.0f};
  struct tensor x, t;
  /* Activations alternate between ping and pong: each layer's input lives
   * in one, its output goes to the other (reset first); conv0 + pool and
   * every depthwise + pointwise pair run by strips (scratch from `a`). */
  arena_reset(ping);
  TRY(crop_resize(ping, img, 0, 0, img->width, img->height, 0, input_size, &norm, &x));
  arena_reset(pong);
  TRY(conv0_pool(net, a, pong, &x, &t));
  x = t;
  for (int i = 1; i <= 5; i++) {
    /* explicit zero pad 1 + "valid" 3x3 == "same" for a 3x3 stride-1 window */
    arena_reset(ping);
    TRY(dw_pw_forward(a, ping, &x, &net->sep[i].dw, ACT_NONE, &net->sep[i].pw, ACT_LEAKY, &t));
    arena_reset(pong);
    TRY(max_pool(pong, &t, 2, i < 5 ? 2 : 1, PAD_SAME, &x));
  }
  return conv2d(a, &x, &net->conv8, PAD_SAME, ACT_NONE, out);
}
