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

int tiny_forward(const struct tiny_net *net, struct arena *a, struct arena *ping,
                 struct arena *pong, const struct face_image *img, int input_size,
                 struct tensor *out) {
  static const struct input_norm norm = {{117.001f, 114.697f, 97.404f}, 255.0f, 0.0f};
  struct tensor x, t;
  /* Activations alternate between ping and pong: each layer's input lives
   * in one, its output goes to the other (reset first). */
  arena_reset(ping);
  TRY(crop_resize(ping, img, 0, 0, img->width, img->height, 0, input_size, &norm, &x));
  arena_reset(pong);
  TRY(conv2d(pong, &x, &net->conv0, PAD_VALID, ACT_LEAKY, &t));
  arena_reset(ping);
  TRY(max_pool(ping, &t, 2, 2, PAD_SAME, &x));
  for (int i = 1; i <= 5; i++) {
    /* explicit zero pad 1 + "valid" 3x3 == "same" for a 3x3 stride-1 window */
    struct arena_mark mark = arena_mark(a);
    arena_reset(pong);
    TRY(tensor_new(pong, x.h, x.w, net->sep[i].pw.cout, &t));
    struct tensor mid;
    TRY(depthwise2d(a, &x, &net->sep[i].dw, PAD_SAME, ACT_NONE, &mid));
    TRY(conv2d_into(a, &mid, &net->sep[i].pw, PAD_SAME, ACT_LEAKY, &t));
    arena_rewind(a, mark);
    arena_reset(ping);
    TRY(max_pool(ping, &t, 2, i < 5 ? 2 : 1, PAD_SAME, &x));
  }
  return conv2d(a, &x, &net->conv8, PAD_SAME, ACT_NONE, out);
}
