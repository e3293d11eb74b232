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

int tiny_forward(const struct tiny_net *net, struct arena *a, const struct face_image *img,
                 int input_size, struct tensor *out) {
  static const struct input_norm norm = {{117.001f, 114.697f, 97.404f}, 255.0f, 0.0f};
  struct tensor x, t;
  TRY(crop_resize(a, img, 0, 0, img->width, img->height, 0, input_size, &norm, &x));
  TRY(conv2d(a, &x, &net->conv0, PAD_VALID, ACT_LEAKY, &t));
  TRY(max_pool(a, &t, 2, 2, PAD_SAME, &x));
  for (int i = 1; i <= 5; i++) {
    /* explicit zero pad 1 + "valid" 3x3 == "same" for a 3x3 stride-1 window */
    TRY(separable_forward(a, &x, &net->sep[i], ACT_LEAKY, &t));
    TRY(max_pool(a, &t, 2, i < 5 ? 2 : 1, PAD_SAME, &x));
  }
  return conv2d(a, &x, &net->conv8, PAD_SAME, ACT_NONE, out);
}
