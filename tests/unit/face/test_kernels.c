/* Kernels against naive reference implementations on random data. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

static struct arena arena;

static void setup(void) {
  memset(&arena, 0, sizeof arena);
  srand(12345);
}
static void teardown(void) {
  arena_release(&arena);
}

static float frand(void) {
  return (float)((double)rand() / RAND_MAX * 2.0 - 1.0);
}

static float *random_array(size_t n) {
  float *p = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++)
    p[i] = frand();
  return p;
}

/* TF padding, computed independently of pad_geometry. */
static void tf_pad(int in, int k, int s, enum pad pad, int *out, int *before) {
  if (pad == PAD_VALID) {
    *out = (int)ceil((in - k + 1) / (double)s);
    *before = 0;
  } else {
    *out = (int)ceil(in / (double)s);
    int total = (*out - 1) * s + k - in;
    *before = total > 0 ? total / 2 : 0;
  }
}

static float act_ref(float v, enum act a) {
  switch (a) {
  case ACT_RELU: return v > 0 ? v : 0;
  case ACT_RELU6: return v < 0 ? 0 : v > 6 ? 6 : v;
  case ACT_LEAKY: return v > 0 ? v : 0.1f * v;
  default: return v;
  }
}

static void check_conv(int h, int w, int cin, int cout, int k, int s, enum pad pad, enum act act) {
  float *x = random_array((size_t)h * w * cin), *wt = random_array((size_t)k * k * cin * cout),
        *b = random_array(cout);
  struct tensor in = {h, w, cin, x}, out;
  struct conv c = {k, k, cin, cout, s, wt, b, 0};
  float *packed = NULL;
  if (conv_panel_width(cout)) { /* the direct (implicit GEMM) kernel */
    packed = malloc((size_t)k * k * cin * cout * sizeof(float));
    conv_pack_weights(wt, k * k * cin, cout, conv_panel_width(cout), packed);
    c.w = packed;
    c.packed = conv_panel_width(cout);
  }
  cr_assert_eq(conv2d(&arena, &in, &c, pad, act, &out), FF_OK);
  int oh, ow, pt, pl;
  tf_pad(h, k, s, pad, &oh, &pt);
  tf_pad(w, k, s, pad, &ow, &pl);
  cr_assert_eq(out.h, oh);
  cr_assert_eq(out.w, ow);
  cr_assert_eq(out.c, cout);
  double worst = 0;
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++)
      for (int co = 0; co < cout; co++) {
        double acc = b[co];
        for (int ky = 0; ky < k; ky++)
          for (int kx = 0; kx < k; kx++) {
            int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
              continue;
            for (int ci = 0; ci < cin; ci++)
              acc +=
                  (double)x[(iy * w + ix) * cin + ci] * wt[((ky * k + kx) * cin + ci) * cout + co];
          }
        double got = out.d[(oy * ow + ox) * cout + co];
        worst = fmax(worst, fabs(got - act_ref((float)acc, act)));
      }
  cr_expect_lt(worst, 1e-4, "conv %dx%dx%d k%d s%d %s: max error %g", h, w, cin, k, s,
               pad == PAD_SAME ? "same" : "valid", worst);
  free(x);
  free(wt);
  free(b);
  free(packed);
  arena_reset(&arena);
}

Test(kernels, conv_same_and_valid_all_strides, .init = setup, .fini = teardown) {
  check_conv(9, 7, 3, 5, 3, 1, PAD_SAME, ACT_NONE);
  check_conv(8, 8, 4, 6, 3, 2, PAD_SAME, ACT_RELU); /* even size: pad 0 top, 1 bottom */
  check_conv(9, 9, 4, 6, 3, 2, PAD_SAME, ACT_RELU6);
  check_conv(11, 10, 3, 4, 3, 1, PAD_VALID, ACT_LEAKY);
  check_conv(12, 13, 3, 8, 7, 2, PAD_VALID, ACT_RELU);
  check_conv(6, 5, 16, 9, 1, 1, PAD_SAME, ACT_NONE);
  check_conv(7, 6, 8, 4, 1, 2, PAD_SAME, ACT_NONE);
  check_conv(4, 4, 8, 4, 3, 2, PAD_VALID, ACT_NONE); /* 4 -> 1 */
  check_conv(3, 3, 2, 2, 3, 2, PAD_VALID, ACT_NONE); /* 3 -> 1 */
}

static void direct_conv_cases(void) {
  check_conv(9, 7, 3, 16, 3, 1, PAD_SAME, ACT_NONE);
  check_conv(8, 8, 4, 32, 3, 2, PAD_SAME, ACT_RELU6);
  check_conv(9, 9, 5, 16, 3, 2, PAD_SAME, ACT_RELU);
  check_conv(11, 10, 3, 16, 3, 1, PAD_VALID, ACT_LEAKY);
  check_conv(19, 17, 3, 32, 7, 2, PAD_VALID, ACT_RELU);
  check_conv(6, 5, 40, 48, 1, 1, PAD_SAME, ACT_RELU6); /* 30 pixels: partial 6-blocks */
  check_conv(7, 6, 8, 16, 1, 2, PAD_SAME, ACT_NONE);
  check_conv(4, 4, 8, 16, 3, 2, PAD_VALID, ACT_NONE);
  check_conv(5, 5, 300, 64, 3, 1, PAD_SAME, ACT_NONE); /* K large: several panel groups */
}

Test(kernels, direct_conv_matches_naive, .init = setup, .fini = teardown) {
  cr_log_info("direct kernels: %s", conv_kernel_isa());
  direct_conv_cases();
}

Test(kernels, direct_conv_avx2_fallback_matches_naive, .init = setup, .fini = teardown) {
  conv_kernel_force_avx2(1);
  direct_conv_cases();
  conv_kernel_force_avx2(0);
}

static void check_depthwise(int h, int w, int c, int s, enum pad pad) {
  float *x = random_array((size_t)h * w * c), *wt = random_array((size_t)9 * c),
        *b = random_array(c);
  struct tensor in = {h, w, c, x}, out;
  struct depthwise d = {3, c, s, wt, b};
  cr_assert_eq(depthwise2d(&arena, &in, &d, pad, ACT_RELU6, &out), FF_OK);
  int oh, ow, pt, pl;
  tf_pad(h, 3, s, pad, &oh, &pt);
  tf_pad(w, 3, s, pad, &ow, &pl);
  cr_assert_eq(out.h, oh);
  cr_assert_eq(out.w, ow);
  double worst = 0;
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++)
      for (int ch = 0; ch < c; ch++) {
        double acc = b[ch];
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
              acc += (double)x[(iy * w + ix) * c + ch] * wt[(ky * 3 + kx) * c + ch];
          }
        worst = fmax(worst, fabs(out.d[(oy * ow + ox) * c + ch] - act_ref((float)acc, ACT_RELU6)));
      }
  cr_expect_lt(worst, 1e-5, "depthwise %dx%dx%d s%d: %g", h, w, c, s, worst);
  free(x);
  free(wt);
  free(b);
  arena_reset(&arena);
}

Test(kernels, depthwise_strides_and_padding, .init = setup, .fini = teardown) {
  check_depthwise(8, 8, 17, 1, PAD_SAME);
  check_depthwise(8, 8, 32, 2, PAD_SAME);
  check_depthwise(9, 7, 8, 2, PAD_SAME);
  check_depthwise(9, 7, 8, 1, PAD_VALID);
}

/* dw_pw_forward (strips, the depthwise result never whole) gives exactly
 * the values of depthwise2d then conv2d_into, and depthwise2d_rows reads
 * only the rows it is given. */
static void check_dw_pw(int h, int w, int c, int cout, int s) {
  float *x = random_array((size_t)h * w * c), *dwt = random_array((size_t)9 * c),
        *db = random_array(c), *pwt = random_array((size_t)c * cout), *pb = random_array(cout);
  float *packed = malloc((size_t)c * cout * sizeof(float));
  conv_pack_weights(pwt, c, cout, conv_panel_width(cout), packed);
  struct depthwise d = {3, c, s, dwt, db};
  struct conv p = {1, 1, c, cout, 1, packed, pb, conv_panel_width(cout)};
  struct tensor in = {h, w, c, x}, mid, whole, fused;
  struct arena other = {0};
  cr_assert_eq(depthwise2d(&arena, &in, &d, PAD_SAME, ACT_RELU6, &mid), FF_OK);
  cr_assert_eq(tensor_new(&arena, mid.h, mid.w, cout, &whole), FF_OK);
  cr_assert_eq(conv2d_into(&arena, &mid, &p, PAD_SAME, ACT_LEAKY, &whole), FF_OK);
  cr_assert_eq(dw_pw_forward(&arena, &other, &in, &d, ACT_RELU6, &p, ACT_LEAKY, &fused), FF_OK);
  cr_assert_eq(fused.h, whole.h);
  cr_assert_eq(fused.w, whole.w);
  cr_expect_eq(memcmp(fused.d, whole.d, (size_t)whole.h * whole.w * cout * sizeof(float)), 0,
               "dw+pw %dx%dx%d->%d s%d differs from the two ops", h, w, c, cout, s);
  /* Output rows 2..4 from a view holding only the input rows they read. */
  int row0 = 2 * s - 1, rows = 2 * s + 3;
  if (row0 + rows <= h) {
    struct tensor view = {rows, w, c, x + (size_t)row0 * w * c};
    float *part = malloc((size_t)3 * mid.w * c * sizeof(float));
    cr_assert_eq(depthwise2d_rows(&view, row0, h, &d, PAD_SAME, ACT_RELU6, 2, 5, part), FF_OK);
    cr_expect_eq(memcmp(part, mid.d + (size_t)2 * mid.w * c, (size_t)3 * mid.w * c * sizeof(float)),
                 0);
    struct tensor short_view = {rows - 1, w, c, view.d};
    cr_expect_eq(depthwise2d_rows(&short_view, row0, h, &d, PAD_SAME, ACT_RELU6, 2, 5, part),
                 FF_EINTERNAL, "a row the windows need is missing from the view");
    free(part);
  }
  arena_release(&other);
  free(x);
  free(dwt);
  free(db);
  free(pwt);
  free(pb);
  free(packed);
  arena_reset(&arena);
}

Test(kernels, depthwise_pointwise_by_strips_equals_the_two_ops, .init = setup, .fini = teardown) {
  check_dw_pw(40, 37, 32, 64, 1);
  check_dw_pw(41, 30, 16, 32, 2);
  check_dw_pw(300, 20, 64, 32, 1); /* several strips */
  check_dw_pw(9, 9, 8, 16, 2);
}

Test(kernels, pools, .init = setup, .fini = teardown) {
  int h = 7, w = 9, c = 5;
  float *x = random_array((size_t)h * w * c);
  struct tensor in = {h, w, c, x}, out;
  /* max 2x2 s2 same on odd sizes: -inf padding at bottom/right only */
  cr_assert_eq(max_pool(&arena, &in, 2, 2, PAD_SAME, &out), FF_OK);
  cr_assert_eq(out.h, 4);
  cr_assert_eq(out.w, 5);
  for (int oy = 0; oy < 4; oy++)
    for (int ox = 0; ox < 5; ox++)
      for (int ch = 0; ch < c; ch++) {
        float m = -INFINITY;
        for (int dy = 0; dy < 2; dy++)
          for (int dx = 0; dx < 2; dx++) {
            int iy = oy * 2 + dy, ix = ox * 2 + dx;
            if (iy < h && ix < w)
              m = fmaxf(m, x[(iy * w + ix) * c + ch]);
          }
        cr_expect_eq(out.d[(oy * 5 + ox) * c + ch], m);
      }
  /* max 2x2 stride 1 same keeps the size */
  cr_assert_eq(max_pool(&arena, &in, 2, 1, PAD_SAME, &out), FF_OK);
  cr_expect(out.h == h && out.w == w);
  cr_expect_eq(out.d[((h - 1) * w + (w - 1)) * c], x[((h - 1) * w + (w - 1)) * c]);
  /* max 3x3 s2 valid: 7 -> 3, 9 -> 4 */
  cr_assert_eq(max_pool(&arena, &in, 3, 2, PAD_VALID, &out), FF_OK);
  cr_expect(out.h == 3 && out.w == 4);
  /* avg 2x2 s2 valid: 7 -> 3, 9 -> 4 */
  cr_assert_eq(avg_pool(&arena, &in, 2, 2, &out), FF_OK);
  cr_assert(out.h == 3 && out.w == 4);
  for (int oy = 0; oy < 3; oy++)
    for (int ox = 0; ox < 4; ox++) {
      float s = 0;
      for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++)
          s += x[((oy * 2 + dy) * w + ox * 2 + dx) * c + 1];
      cr_expect_float_eq(out.d[(oy * 4 + ox) * c + 1], s / 4, 1e-6);
    }
  free(x);
}

Test(kernels, fully_connected_matches_naive, .init = setup, .fini = teardown) {
  float *x = random_array(37), *w = random_array(37 * 11), *b = random_array(11), y[11];
  fully_connected(x, 37, w, b, 11, y);
  for (int o = 0; o < 11; o++) {
    double acc = b[o];
    for (int i = 0; i < 37; i++)
      acc += (double)x[i] * w[i * 11 + o];
    cr_expect_float_eq(y[o], acc, 1e-5);
  }
  free(x);
  free(w);
  free(b);
}

/* TF1 resize: src = dst * in/out, floor, clamp, lerp x then y; centred pad. */
Test(kernels, crop_resize_matches_tf1_bilinear, .init = setup, .fini = teardown) {
  int W = 23, H = 17;
  uint8_t *px = malloc((size_t)W * H * 3);
  for (int i = 0; i < W * H * 3; i++)
    px[i] = (uint8_t)(rand() & 255);
  struct face_image img;
  cr_assert_eq(face_image_wrap(px, W, H, (size_t)W * 3, &img, NULL), FF_OK);
  struct input_norm norm = {{10, 20, 30}, 2.0f, 1.0f};
  for (int centered = 0; centered <= 1; centered++) {
    int cx = 3, cy = 2, cw = 15, ch = 10, size = 12; /* crop 15x10 -> pad to 15 -> 12 */
    struct tensor out;
    cr_assert_eq(crop_resize(&arena, &img, cx, cy, cw, ch, centered, size, &norm, &out), FF_OK);
    int S = 15, diff = 5, append = centered ? 3 : 5, pre = diff - append; /* round(2.5) = 3 */
    for (int oy = 0; oy < size; oy++)
      for (int ox = 0; ox < size; ox++)
        for (int c = 0; c < 3; c++) {
          float sy = oy * ((float)S / size), sx = ox * ((float)S / size);
          int y0 = (int)floorf(sy), x0 = (int)floorf(sx);
          int y1 = y0 + 1 < S ? y0 + 1 : S - 1, x1 = x0 + 1 < S ? x0 + 1 : S - 1;
#define P(yy, xx)                                                                                  \
  ((yy)-pre < 0 || (yy)-pre >= ch ? 0.0f : (float)px[((cy + (yy)-pre) * W + cx + (xx)) * 3 + c])
          float top = P(y0, x0) + (P(y0, x1) - P(y0, x0)) * (sx - x0);
          float bot = P(y1, x0) + (P(y1, x1) - P(y1, x0)) * (sx - x0);
          float v = top + (bot - top) * (sy - y0);
#undef P
          cr_expect_float_eq(out.d[(oy * size + ox) * 3 + c], (v - norm.mean[c]) / 2.0f + 1.0f,
                             1e-4, "centered %d at %d,%d,%d", centered, oy, ox, c);
        }
  }
  struct tensor out;
  cr_expect_eq(crop_resize(&arena, &img, 20, 0, 10, 5, 0, 8, &norm, &out), FF_EINVAL);
  free(px);
}

Test(kernels, arena_stops_allocating_after_warm_up, .init = setup, .fini = teardown) {
  for (int round = 0; round < 3; round++) {
    arena_reset(&arena);
    int before = arena.chunk_allocations;
    for (int i = 0; i < 10; i++)
      cr_assert_not_null(arena_floats(&arena, 300000));
    if (round == 2)
      cr_expect_eq(arena.chunk_allocations, before, "allocated after warm-up");
  }
}
