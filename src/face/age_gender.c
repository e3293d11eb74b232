/* age_gender.c — TinyXception age regression + gender softmax (face-models.md 2.5). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nets.h"

void age_gender_free(struct age_gender_net *net) {
  param_store_free(&net->store);
}

static void load_reduction(struct loader *L, struct reduction_block *rb, int cin, int cout,
                           const char *prefix) {
  char p[128], q[128];
  snprintf(p, sizeof p, "%s/separable_conv0", prefix);
  loader_separable(L, &rb->sep0, cin, cout, 1, p);
  snprintf(p, sizeof p, "%s/separable_conv1", prefix);
  loader_separable(L, &rb->sep1, cout, cout, 1, p);
  snprintf(p, sizeof p, "%s/expansion_conv/filters", prefix);
  snprintf(q, sizeof q, "%s/expansion_conv/bias", prefix);
  loader_conv(L, &rb->expansion, 1, cin, cout, 2, p, q);
}

int age_gender_load(struct weights *w, struct age_gender_net *net, struct ff_error *err) {
  memset(net, 0, sizeof *net);
  struct loader L = {.w = w, .store = &net->store, .err = err, .rc = FF_OK};
  loader_conv(&L, &net->conv_in, 3, 3, 32, 2, "entry_flow/conv_in/filters",
              "entry_flow/conv_in/bias");
  load_reduction(&L, &net->rb0, 32, 64, "entry_flow/reduction_block_0");
  load_reduction(&L, &net->rb1, 64, 128, "entry_flow/reduction_block_1");
  char p[96];
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 3; k++) {
      snprintf(p, sizeof p, "middle_flow/main_block_%d/separable_conv%d", b, k);
      loader_separable(&L, &net->main_sep[b][k], 128, 128, 1, p);
    }
  load_reduction(&L, &net->exit_rb, 128, 256, "exit_flow/reduction_block");
  loader_separable(&L, &net->exit_sep, 256, 512, 1, "exit_flow/separable_conv");
  int ad[2] = {512, 1}, gd[2] = {512, 2}, a1[1] = {1}, g1[1] = {2};
  net->age_w = loader_take(&L, 2, ad, "fc/age/weights");
  net->age_b = loader_take(&L, 1, a1, "fc/age/bias");
  net->gender_w = loader_take(&L, 2, gd, "fc/gender/weights");
  net->gender_b = loader_take(&L, 1, g1, "fc/gender/bias");
  if (loader_finish(&L) != FF_OK)
    age_gender_free(net);
  return L.rc;
}

static int reduction(struct arena *a, const struct tensor *x, const struct reduction_block *rb,
                     int activate_input, struct tensor *out) {
  struct tensor in = *x, t, u, e;
  if (activate_input) {
    TRY(tensor_new(a, x->h, x->w, x->c, &in));
    memcpy(in.d, x->d, (size_t)x->h * x->w * x->c * sizeof(float));
    apply_act(in.d, (size_t)x->h * x->w * x->c, ACT_RELU);
  }
  TRY(separable_forward(a, &in, &rb->sep0, ACT_RELU, &t)); /* relu before sep1 */
  TRY(separable_forward(a, &t, &rb->sep1, ACT_NONE, &u));
  TRY(max_pool(a, &u, 3, 2, PAD_SAME, out));
  TRY(conv2d(a, x, &rb->expansion, PAD_SAME, ACT_NONE, &e));
  if (e.h != out->h || e.w != out->w || e.c != out->c)
    return FF_EINTERNAL;
  add_into(out->d, e.d, (size_t)e.h * e.w * e.c);
  return FF_OK;
}

int age_gender_forward(const struct age_gender_net *net, struct arena *a,
                       const struct face_image *img, int x, int y, int w, int h, float *age,
                       float *p_male) {
  static const struct input_norm norm = {{122.782f, 117.001f, 104.298f}, 255.0f, 0.0f};
  struct tensor t, u;
  TRY(crop_resize(a, img, x, y, w, h, 1, 112, &norm, &t));
  TRY(conv2d(a, &t, &net->conv_in, PAD_SAME, ACT_RELU, &u));
  TRY(reduction(a, &u, &net->rb0, 0, &t));
  TRY(reduction(a, &t, &net->rb1, 1, &u));
  t = u;
  for (int b = 0; b < 2; b++) {
    struct tensor r, s1, s2, s3;
    size_t n = (size_t)t.h * t.w * t.c;
    TRY(tensor_new(a, t.h, t.w, t.c, &r));
    memcpy(r.d, t.d, n * sizeof(float));
    apply_act(r.d, n, ACT_RELU);
    TRY(separable_forward(a, &r, &net->main_sep[b][0], ACT_RELU, &s1));
    TRY(separable_forward(a, &s1, &net->main_sep[b][1], ACT_RELU, &s2));
    TRY(separable_forward(a, &s2, &net->main_sep[b][2], ACT_NONE, &s3));
    add_into(s3.d, t.d, n);
    t = s3;
  }
  TRY(reduction(a, &t, &net->exit_rb, 1, &u));
  TRY(separable_forward(a, &u, &net->exit_sep, ACT_RELU, &t));
  TRY(avg_pool(a, &t, 7, 2, &u));
  if (u.h != 1 || u.w != 1 || u.c != 512)
    return FF_EINTERNAL;
  float g[2];
  fully_connected(u.d, 512, net->age_w, net->age_b, 1, age);
  fully_connected(u.d, 512, net->gender_w, net->gender_b, 2, g);
  float m = g[0] > g[1] ? g[0] : g[1];
  float e0 = expf(g[0] - m), e1 = expf(g[1] - m);
  *p_male = e0 / (e0 + e1);
  return FF_OK;
}
