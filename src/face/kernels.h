/* kernels.h — the float32 NHWC operators the face nets are made of.
 *
 * Semantics are TensorFlow's (face-models.md, top): "same" padding puts the
 * odd extra pixel at the bottom/right, "valid" keeps only whole windows,
 * max-pool pads with -inf, average pools are "valid" only. Convolution
 * weights are HWIO ([kh][kw][cin][cout], i.e. a [kh*kw*cin][cout] matrix),
 * depthwise weights [kh][kw][c]. Outputs are taken from the arena; every
 * function returns FF_OK or FF_ENOMEM.
 */
#ifndef FOOTFALL_FACE_KERNELS_H
#define FOOTFALL_FACE_KERNELS_H

#include <stdint.h>

#include "arena.h"
#include "image.h"

/* Returns from the calling function when expr is not FF_OK. */
#define TRY(expr)                                                                                  \
  do {                                                                                             \
    int try_rc_ = (expr);                                                                          \
    if (try_rc_ != FF_OK)                                                                          \
      return try_rc_;                                                                              \
  } while (0)

struct tensor {
  int h, w, c;
  float *d; /* h*w*c floats, channel fastest */
};

enum pad { PAD_SAME, PAD_VALID };
enum act { ACT_NONE, ACT_RELU, ACT_RELU6, ACT_LEAKY /* slope 0.1 */ };

struct conv {
  int kh, kw, cin, cout, stride;
  const float *w; /* [kh*kw*cin][cout], or panels when packed */
  const float *b; /* [cout], or NULL */
  int packed;     /* 0, or the panel width P: w is [cout/P][kh*kw*cin][P] */
};

/* The direct (implicit GEMM) convolution kernels work on output-channel
 * panels: 32 wide when cout allows (AVX-512 8x32 kernel, or two AVX2 6x16
 * passes on CPUs without it), else 16 wide (AVX2 6x16). */
int conv_panel_width(int cout); /* 32, 16, or 0: not for the direct kernel */
void conv_pack_weights(const float *w, int K, int cout, int panel, float *packed);
/* Which kernel set runs here ("avx512" or "avx2"), decided once at start. */
const char *conv_kernel_isa(void);
/* Tests: run the AVX2 kernels even where AVX-512 exists (process-wide). */
void conv_kernel_force_avx2(int on);

struct depthwise {
  int k, c, stride; /* k x k window */
  const float *w;   /* [k*k][c] */
  const float *b;   /* [c], or NULL */
};

/* Output size and leading padding of a window op along one axis. */
void pad_geometry(int in, int k, int stride, enum pad pad, int *out, int *pad_before);

int tensor_new(struct arena *a, int h, int w, int c, struct tensor *t);

int conv2d(struct arena *a, const struct tensor *in, const struct conv *l, enum pad pad,
           enum act act, struct tensor *out);
/* The same, into a tensor the caller allocated with the output's shape. */
int conv2d_into(struct arena *a, const struct tensor *in, const struct conv *l, enum pad pad,
                enum act act, struct tensor *out);
int depthwise2d(struct arena *a, const struct tensor *in, const struct depthwise *l, enum pad pad,
                enum act act, struct tensor *out);
/* Output rows [oy0, oy1) of depthwise2d, written from `out` on, for an
 * input of full_h rows of which `in` holds rows [row0, row0 + in->h) (all
 * the rows those windows touch; FF_EINTERNAL otherwise). */
int depthwise2d_rows(const struct tensor *in, int row0, int full_h, const struct depthwise *l,
                     enum pad pad, enum act act, int oy0, int oy1, float *out);
/* A depthwise ("same" padding) then a pointwise (1x1, stride 1) convolution,
 * a strip of rows at a time: the depthwise result never exists whole. The
 * output comes from `target`, the strip from `scratch` (given back); the
 * values are those of the two operators one after the other. */
int dw_pw_forward(struct arena *scratch, struct arena *target, const struct tensor *in,
                  const struct depthwise *dw, enum act dw_act, const struct conv *pw, enum act pw_act,
                  struct tensor *out);
int max_pool(struct arena *a, const struct tensor *in, int k, int stride, enum pad pad,
             struct tensor *out);
/* The same, into a tensor the caller allocated with the output's shape. */
int max_pool_into(const struct tensor *in, int k, int stride, enum pad pad, struct tensor *out);
int avg_pool(struct arena *a, const struct tensor *in, int k, int stride, struct tensor *out);

/* In-place element-wise helpers. */
void apply_act(float *x, size_t n, enum act act);
void add_into(float *dst, const float *src, size_t n); /* dst += src */

/* y[cout] = x[cin] * W[cin][cout] (+ b). */
void fully_connected(const float *x, int cin, const float *w, const float *b, int cout, float *y);

/* The face-api input path in one step: cut the integer rectangle (x, y, w, h)
 * out of the image (it must lie inside), pad it to a square with zeros —
 * all padding at the end (centered = 0) or round(diff/2) at the end and the
 * rest in front (centered = 1) — resize to size x size with TF1 bilinear
 * (align_corners = false, half_pixel_centers = false), then store
 * (v - mean[ch]) * scale + offset. */
struct input_norm {
  float mean[3];
  float divisor; /* (v - mean) / divisor */
  float offset;  /* added afterwards */
};
int crop_resize(struct arena *a, const struct face_image *img, int x, int y, int w, int h,
                int centered, int size, const struct input_norm *norm, struct tensor *out);

#endif
