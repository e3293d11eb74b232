/* kernels.c — see kernels.h. Convolutions go through OpenBLAS sgemm (1x1
 * directly on the NHWC activations, others via an im2col buffer that is
 * given back right after); depthwise, pooling and resize are hand-written
 * loops over the contiguous channel axis, which the compiler vectorises. */
#include "kernels.h"

#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

void pad_geometry(int in, int k, int stride, enum pad pad, int *out, int *pad_before) {
  if (pad == PAD_SAME) {
    *out = (in + stride - 1) / stride;
    int total = (*out - 1) * stride + k - in;
    if (total < 0)
      total = 0;
    *pad_before = total / 2;
  } else {
    *out = in >= k ? (in - k + stride) / stride : 0;
    *pad_before = 0;
  }
}

/* Rows [row0, row0 + t->h) of a tensor full_h rows high: the depthwise
 * kernels read strips through it. */
struct row_view {
  const struct tensor *t;
  int row0, full_h;
};

int tensor_new(struct arena *a, int h, int w, int c, struct tensor *t) {
  t->h = h;
  t->w = w;
  t->c = c;
  t->d = arena_floats(a, (size_t)h * w * c);
  return t->d ? FF_OK : FF_ENOMEM;
}

/* Branch-free forms the compiler vectorises (fminf/fmaxf would be libm calls). */
static inline float relu6(float v) {
  v = v > 0.0f ? v : 0.0f;
  return v < 6.0f ? v : 6.0f;
}

void apply_act(float *x, size_t n, enum act act) {
  switch (act) {
  case ACT_RELU:
    for (size_t i = 0; i < n; i++)
      x[i] = x[i] > 0.0f ? x[i] : 0.0f;
    break;
  case ACT_RELU6:
    for (size_t i = 0; i < n; i++)
      x[i] = relu6(x[i]);
    break;
  case ACT_LEAKY:
    for (size_t i = 0; i < n; i++)
      x[i] = x[i] > 0.0f ? x[i] : 0.1f * x[i];
    break;
  default: break;
  }
}

void add_into(float *dst, const float *src, size_t n) {
  for (size_t i = 0; i < n; i++)
    dst[i] += src[i];
}

/* out[p][co] = act(out[p][co] + b[co]) in one pass. */
static void bias_act(float *out, size_t pixels, int c, const float *b, enum act act) {
  if (!b) {
    apply_act(out, pixels * c, act);
    return;
  }
  for (size_t p = 0; p < pixels; p++) {
    float *restrict o = out + p * c;
    switch (act) {
    case ACT_RELU:
      for (int i = 0; i < c; i++) {
        float v = o[i] + b[i];
        o[i] = v > 0.0f ? v : 0.0f;
      }
      break;
    case ACT_RELU6:
      for (int i = 0; i < c; i++)
        o[i] = relu6(o[i] + b[i]);
      break;
    case ACT_LEAKY:
      for (int i = 0; i < c; i++) {
        float v = o[i] + b[i];
        o[i] = v > 0.0f ? v : 0.1f * v;
      }
      break;
    default:
      for (int i = 0; i < c; i++)
        o[i] += b[i];
    }
  }
}

int conv_panel_width(int cout) {
  return cout % 32 == 0 ? 32 : cout % 16 == 0 ? 16 : 0;
}

void conv_pack_weights(const float *w, int K, int cout, int panel, float *packed) {
  for (int p = 0; p < cout / panel; p++)
    for (int k = 0; k < K; k++)
      memcpy(packed + ((size_t)p * K + k) * panel, w + (size_t)k * cout + p * panel,
             (size_t)panel * sizeof(float));
}

static int force_avx2;

void conv_kernel_force_avx2(int on) {
  force_avx2 = on;
}

/* libgcc fills the CPU model at start-up; reading it is cheap and race-free. */
static int have_avx512(void) {
  return !force_avx2 && __builtin_cpu_supports("avx512f");
}

const char *conv_kernel_isa(void) {
  return have_avx512() ? "avx512" : "avx2";
}

/* The kernels: 6 (AVX2) or 8 (AVX-512) output pixels x one panel of output
 * channels, accumulated over every tap and input channel. a[j] points at
 * pixel j's window origin in the (padded) input, off[t] is tap t's offset
 * from it; w steps `wstride` floats per input channel. */
static inline __m256 act8(__m256 v, enum act act) {
  const __m256 zero = _mm256_setzero_ps();
  switch (act) {
  case ACT_RELU: return _mm256_max_ps(v, zero);
  case ACT_RELU6: return _mm256_min_ps(_mm256_max_ps(v, zero), _mm256_set1_ps(6.0f));
  case ACT_LEAKY: return _mm256_max_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(0.1f)));
  default: return v;
  }
}

__attribute__((target("avx512f"))) static inline __m512 act16(__m512 v, enum act act) {
  const __m512 zero = _mm512_setzero_ps();
  switch (act) {
  case ACT_RELU: return _mm512_max_ps(v, zero);
  case ACT_RELU6: return _mm512_min_ps(_mm512_max_ps(v, zero), _mm512_set1_ps(6.0f));
  case ACT_LEAKY: return _mm512_max_ps(v, _mm512_mul_ps(v, _mm512_set1_ps(0.1f)));
  default: return v;
  }
}

#define ROW32(j)                                                                                   \
  v = _mm512_set1_ps(a##j[k]);                                                                     \
  c##j##0 = _mm512_fmadd_ps(v, b0, c##j##0);                                                       \
  c##j##1 = _mm512_fmadd_ps(v, b1, c##j##1);

__attribute__((target("avx512f"))) static void
kernel_8x32(int taps, const int *off, int cin, const float *const a[8], const float *w,
            float *const c[8], int coff, const float *bias, enum act act, int rows) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00,
         c70 = c00, c71 = c00;
  for (int t = 0; t < taps; t++) {
    const float *a0 = a[0] + off[t], *a1 = a[1] + off[t], *a2 = a[2] + off[t], *a3 = a[3] + off[t],
                *a4 = a[4] + off[t], *a5 = a[5] + off[t], *a6 = a[6] + off[t], *a7 = a[7] + off[t];
    for (int k = 0; k < cin; k++, w += 32) {
      __m512 b0 = _mm512_loadu_ps(w), b1 = _mm512_loadu_ps(w + 16), v;
      ROW32(0) ROW32(1) ROW32(2) ROW32(3) ROW32(4) ROW32(5) ROW32(6) ROW32(7)
    }
  }
  __m512 bias0 = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
  __m512 bias1 = bias ? _mm512_loadu_ps(bias + 16) : _mm512_setzero_ps();
  __m512 r[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                    {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  for (int j = 0; j < rows; j++) {
    _mm512_storeu_ps(c[j] + coff, act16(_mm512_add_ps(r[j][0], bias0), act));
    _mm512_storeu_ps(c[j] + coff + 16, act16(_mm512_add_ps(r[j][1], bias1), act));
  }
}
#undef ROW32

static void kernel_6x16(int taps, const int *off, int cin, const float *const a[6], const float *w,
                        int wstride, float *const c[6], int coff, const float *bias, enum act act,
                        int rows) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int t = 0; t < taps; t++) {
    const float *a0 = a[0] + off[t], *a1 = a[1] + off[t], *a2 = a[2] + off[t], *a3 = a[3] + off[t],
                *a4 = a[4] + off[t], *a5 = a[5] + off[t];
    for (int k = 0; k < cin; k++, w += wstride) {
      __m256 b0 = _mm256_loadu_ps(w), b1 = _mm256_loadu_ps(w + 8), v;
      v = _mm256_broadcast_ss(a0 + k);
      c00 = _mm256_fmadd_ps(v, b0, c00);
      c01 = _mm256_fmadd_ps(v, b1, c01);
      v = _mm256_broadcast_ss(a1 + k);
      c10 = _mm256_fmadd_ps(v, b0, c10);
      c11 = _mm256_fmadd_ps(v, b1, c11);
      v = _mm256_broadcast_ss(a2 + k);
      c20 = _mm256_fmadd_ps(v, b0, c20);
      c21 = _mm256_fmadd_ps(v, b1, c21);
      v = _mm256_broadcast_ss(a3 + k);
      c30 = _mm256_fmadd_ps(v, b0, c30);
      c31 = _mm256_fmadd_ps(v, b1, c31);
      v = _mm256_broadcast_ss(a4 + k);
      c40 = _mm256_fmadd_ps(v, b0, c40);
      c41 = _mm256_fmadd_ps(v, b1, c41);
      v = _mm256_broadcast_ss(a5 + k);
      c50 = _mm256_fmadd_ps(v, b0, c50);
      c51 = _mm256_fmadd_ps(v, b1, c51);
    }
  }
  __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
  __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
  __m256 r[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int j = 0; j < rows; j++) {
    _mm256_storeu_ps(c[j] + coff, act8(_mm256_add_ps(r[j][0], bias0), act));
    _mm256_storeu_ps(c[j] + coff + 8, act8(_mm256_add_ps(r[j][1], bias1), act));
  }
}

/* Weights of this many bytes per panel group stay in L2 while the pixel
 * blocks stream past. */
#define CONV_GROUP_BYTES (256 * 1024)

static int conv_direct(struct arena *a, const struct tensor *in, const struct conv *l, int oh,
                       int ow, int pt, int pl, enum act act, struct tensor *out) {
  int s = l->stride, cin = l->cin, cout = l->cout;
  int pb = (oh - 1) * s + l->kh - in->h - pt, pr = (ow - 1) * s + l->kw - in->w - pl;
  pb = pb > 0 ? pb : 0;
  pr = pr > 0 ? pr : 0;
  const float *src = in->d;
  int sw = in->w;
  struct arena_mark mark = arena_mark(a);
  if (pt || pl || pb || pr) { /* zero-padded copy: the kernel never checks bounds */
    int sh = in->h + pt + pb;
    sw = in->w + pl + pr;
    float *p = arena_floats(a, (size_t)sh * sw * cin);
    if (!p)
      return FF_ENOMEM;
    memset(p, 0, (size_t)sh * sw * cin * sizeof(float));
    for (int y = 0; y < in->h; y++)
      memcpy(p + ((size_t)(y + pt) * sw + pl) * cin, in->d + (size_t)y * in->w * cin,
             (size_t)in->w * cin * sizeof(float));
    src = p;
  }
  /* The kw taps of one window row are contiguous in the (padded) input,
   * and so are their weights: the kernels walk kh runs of kw*cin values. */
  int runs = l->kh, run = l->kw * cin, off[16];
  if (runs > 16)
    return FF_EINTERNAL;
  for (int ky = 0; ky < l->kh; ky++)
    off[ky] = ky * sw * cin;
  int P = l->packed, K = runs * run, panels = cout / P, npix = oh * ow;
  int group = CONV_GROUP_BYTES / (K * P * (int)sizeof(float));
  group = group < 1 ? 1 : group > panels ? panels : group;
  int wide = P == 32 && have_avx512(), block = wide ? 8 : 6;
  for (int g0 = 0; g0 < panels; g0 += group) {
    int g1 = g0 + group < panels ? g0 + group : panels;
    int by = 0, bx = 0; /* output coordinates of pixel p0, stepped without division */
    for (int p0 = 0; p0 < npix; p0 += block) {
      int rows = npix - p0 < block ? npix - p0 : block;
      const float *arow[8];
      float *crow[8];
      int oy = by, ox = bx;
      for (int j = 0; j < block; j++) {
        if (j < rows) {
          arow[j] = src + ((size_t)oy * s * sw + (size_t)ox * s) * cin;
          crow[j] = out->d + ((size_t)p0 + j) * cout;
          if (++ox == ow) {
            ox = 0;
            oy++;
          }
        } else { /* short last block: repeat the last pixel, never stored */
          arow[j] = arow[rows - 1];
          crow[j] = crow[rows - 1];
        }
      }
      by = oy;
      bx = ox;
      for (int g = g0; g < g1; g++) {
        const float *wg = l->w + (size_t)g * K * P, *bg = l->b ? l->b + g * P : NULL;
        if (wide) {
          kernel_8x32(runs, off, run, arow, wg, crow, g * P, bg, act, rows);
          continue;
        }
        for (int half = 0; half < P; half += 16) /* AVX2: 16 channels at a time */
          kernel_6x16(runs, off, run, arow, wg + half, P, crow, g * P + half, bg ? bg + half : NULL,
                      act, rows);
      }
    }
  }
  arena_rewind(a, mark);
  return FF_OK;
}

int conv2d(struct arena *a, const struct tensor *in, const struct conv *l, enum pad pad,
           enum act act, struct tensor *out) {
  int oh, ow, pt;
  pad_geometry(in->h, l->kh, l->stride, pad, &oh, &pt);
  pad_geometry(in->w, l->kw, l->stride, pad, &ow, &pt);
  if (tensor_new(a, oh, ow, l->cout, out) != FF_OK)
    return FF_ENOMEM;
  return conv2d_into(a, in, l, pad, act, out);
}

int conv2d_into(struct arena *a, const struct tensor *in, const struct conv *l, enum pad pad,
                enum act act, struct tensor *out) {
  int oh, ow, pt, pl;
  pad_geometry(in->h, l->kh, l->stride, pad, &oh, &pt);
  pad_geometry(in->w, l->kw, l->stride, pad, &ow, &pl);
  if (out->h != oh || out->w != ow || out->c != l->cout || !out->d)
    return FF_EINTERNAL;
  int K = l->kh * l->kw * l->cin, M = oh * ow, N = l->cout;
  if (M == 0)
    return FF_OK;
  if (l->packed)
    return conv_direct(a, in, l, oh, ow, pt, pl, act, out);
  struct arena_mark mark = arena_mark(a);
  const float *A = in->d;
  if (!(l->kh == 1 && l->kw == 1 && l->stride == 1)) {
    float *col = arena_floats(a, (size_t)M * K);
    if (!col)
      return FF_ENOMEM;
    size_t row_bytes = (size_t)l->cin * sizeof(float);
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        float *dst = col + ((size_t)oy * ow + ox) * K;
        int iy0 = oy * l->stride - pt, ix0 = ox * l->stride - pl;
        for (int ky = 0; ky < l->kh; ky++) {
          int iy = iy0 + ky;
          for (int kx = 0; kx < l->kw; kx++, dst += l->cin) {
            int ix = ix0 + kx;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
              memset(dst, 0, row_bytes);
            else
              memcpy(dst, in->d + ((size_t)iy * in->w + ix) * l->cin, row_bytes);
          }
        }
      }
    A = col;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, l->w, N, 0.0f, out->d,
              N);
  arena_rewind(a, mark);
  bias_act(out->d, (size_t)M, N, l->b, act);
  return FF_OK;
}

/* One output pixel, any window clipped at the borders: channels 8 at a
 * time, the taps accumulated in a register, bias and activation applied
 * before the single store. */
static void depthwise_pixel(const struct row_view *in, const struct depthwise *l, int iy0, int ix0,
                            enum act act, float *restrict o) {
  int k = l->k, c = l->c, c8 = c & ~7;
  int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in->full_h - iy0 < k ? in->full_h - iy0 : k;
  int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in->t->w - ix0 < k ? in->t->w - ix0 : k;
  if (ky1 <= ky0 || kx1 <= kx0) { /* window entirely in the padding */
    for (int ch = 0; ch < c; ch++)
      o[ch] = l->b ? l->b[ch] : 0.0f;
    apply_act(o, (size_t)c, act);
    return;
  }
  /* first in-bounds tap; only valid taps are ever addressed */
  const float *base = in->t->d + ((size_t)(iy0 + ky0 - in->row0) * in->t->w + (size_t)(ix0 + kx0)) * c;
  const float *wbase = l->w + (size_t)(ky0 * k + kx0) * c;
  int ny = ky1 - ky0, nx = kx1 - kx0;
  for (int ch = 0; ch < c8; ch += 8) {
    __m256 acc = l->b ? _mm256_loadu_ps(l->b + ch) : _mm256_setzero_ps();
    for (int ky = 0; ky < ny; ky++)
      for (int kx = 0; kx < nx; kx++)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(base + ((size_t)ky * in->t->w + kx) * c + ch),
                              _mm256_loadu_ps(wbase + (size_t)(ky * k + kx) * c + ch), acc);
    _mm256_storeu_ps(o + ch, act8(acc, act));
  }
  for (int ch = c8; ch < c; ch++) { /* channel counts not a multiple of 8 */
    float acc = l->b ? l->b[ch] : 0.0f;
    for (int ky = 0; ky < ny; ky++)
      for (int kx = 0; kx < nx; kx++)
        acc += base[((size_t)ky * in->t->w + kx) * c + ch] * wbase[(size_t)(ky * k + kx) * c + ch];
    o[ch] = acc;
    apply_act(o + ch, 1, act);
  }
}

/* Interior run of a 3x3 row: the 9 weight vectors of a channel block stay
 * in registers while the window slides along the row. */
static void depthwise3_run(const struct row_view *in, const struct depthwise *l, int iy0, int ix0,
                           int count, enum act act, float *restrict o) {
  int c = l->c, s = l->stride;
  size_t row = (size_t)in->t->w * c;
  for (int ch = 0; ch < c; ch += 8) {
    __m256 w0 = _mm256_loadu_ps(l->w + ch), w1 = _mm256_loadu_ps(l->w + c + ch),
           w2 = _mm256_loadu_ps(l->w + 2 * c + ch), w3 = _mm256_loadu_ps(l->w + 3 * c + ch),
           w4 = _mm256_loadu_ps(l->w + 4 * c + ch), w5 = _mm256_loadu_ps(l->w + 5 * c + ch),
           w6 = _mm256_loadu_ps(l->w + 6 * c + ch), w7 = _mm256_loadu_ps(l->w + 7 * c + ch),
           w8 = _mm256_loadu_ps(l->w + 8 * c + ch);
    __m256 bias = l->b ? _mm256_loadu_ps(l->b + ch) : _mm256_setzero_ps();
    const float *p = in->t->d + (size_t)(iy0 - in->row0) * row + (size_t)ix0 * c + ch;
    float *q = o + ch;
    for (int i = 0; i < count; i++, p += (size_t)s * c, q += c) {
      __m256 acc = _mm256_fmadd_ps(_mm256_loadu_ps(p), w0, bias);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + c), w1, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + 2 * c), w2, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + row), w3, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + row + c), w4, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + row + 2 * c), w5, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + 2 * row), w6, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + 2 * row + c), w7, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + 2 * row + 2 * c), w8, acc);
      _mm256_storeu_ps(q, act8(acc, act));
    }
  }
}

int depthwise2d_rows(const struct tensor *in, int row0, int full_h, const struct depthwise *l,
                     enum pad pad, enum act act, int oy0, int oy1, float *out) {
  int oh, ow, pt, pl, k = l->k, c = l->c, s = l->stride;
  pad_geometry(full_h, k, s, pad, &oh, &pt);
  pad_geometry(in->w, k, s, pad, &ow, &pl);
  if (oy0 < 0 || oy1 > oh || oy0 >= oy1)
    return oy0 == oy1 ? FF_OK : FF_EINTERNAL;
  /* every input row the windows touch must be in the view */
  int need0 = oy0 * s - pt, need1 = (oy1 - 1) * s - pt + k;
  need0 = need0 < 0 ? 0 : need0;
  need1 = need1 > full_h ? full_h : need1;
  if (need0 < row0 || need1 > row0 + in->h)
    return FF_EINTERNAL;
  const struct row_view v = {in, row0, full_h};
  /* output columns whose window lies fully inside the input */
  int ox_lo = (pl + s - 1) / s, ox_hi = ow - 1;
  while (ox_hi >= ox_lo && ox_hi * s - pl + k > in->w)
    ox_hi--;
  int fast = k == 3 && c % 8 == 0;
  for (int oy = oy0; oy < oy1; oy++) {
    int iy0 = oy * s - pt;
    float *orow = out + (size_t)(oy - oy0) * ow * c;
    int row_inside = iy0 >= 0 && iy0 + k <= full_h;
    if (!fast || !row_inside || ox_hi < ox_lo) {
      for (int ox = 0; ox < ow; ox++)
        depthwise_pixel(&v, l, iy0, ox * s - pl, act, orow + (size_t)ox * c);
      continue;
    }
    for (int ox = 0; ox < ox_lo; ox++)
      depthwise_pixel(&v, l, iy0, ox * s - pl, act, orow + (size_t)ox * c);
    depthwise3_run(&v, l, iy0, ox_lo * s - pl, ox_hi - ox_lo + 1, act, orow + (size_t)ox_lo * c);
    for (int ox = ox_hi + 1; ox < ow; ox++)
      depthwise_pixel(&v, l, iy0, ox * s - pl, act, orow + (size_t)ox * c);
  }
  return FF_OK;
}

int depthwise2d(struct arena *a, const struct tensor *in, const struct depthwise *l, enum pad pad,
                enum act act, struct tensor *out) {
  int oh, ow, unused;
  pad_geometry(in->h, l->k, l->stride, pad, &oh, &unused);
  pad_geometry(in->w, l->k, l->stride, pad, &ow, &unused);
  if (tensor_new(a, oh, ow, l->c, out) != FF_OK)
    return FF_ENOMEM;
  return depthwise2d_rows(in, 0, in->h, l, pad, act, 0, oh, out->d);
}

/* Rows of the depthwise result per strip: about this many bytes, so a strip
 * is still in cache when the pointwise convolution reads it. */
#define STRIP_BYTES (256 * 1024)

int dw_pw_forward(struct arena *scratch, struct arena *target, const struct tensor *in,
                  const struct depthwise *dw, enum act dw_act, const struct conv *pw, enum act pw_act,
                  struct tensor *out) {
  int oh, ow, unused;
  pad_geometry(in->h, dw->k, dw->stride, PAD_SAME, &oh, &unused);
  pad_geometry(in->w, dw->k, dw->stride, PAD_SAME, &ow, &unused);
  if (pw->kh != 1 || pw->kw != 1 || pw->stride != 1 || pw->cin != dw->c)
    return FF_EINTERNAL;
  TRY(tensor_new(target, oh, ow, pw->cout, out));
  struct arena_mark mark = arena_mark(scratch);
  size_t row_bytes = (size_t)ow * dw->c * sizeof(float);
  int rows = (int)(STRIP_BYTES / row_bytes);
  rows = rows < 1 ? 1 : rows > oh ? oh : rows;
  float *strip = arena_floats(scratch, (size_t)rows * ow * dw->c);
  if (!strip)
    return FF_ENOMEM;
  for (int y = 0; y < oh; y += rows) {
    int n = oh - y < rows ? oh - y : rows;
    struct tensor d = {n, ow, dw->c, strip};
    struct tensor o = {n, ow, pw->cout, out->d + (size_t)y * ow * pw->cout};
    TRY(depthwise2d_rows(in, 0, in->h, dw, PAD_SAME, dw_act, y, y + n, strip));
    TRY(conv2d_into(scratch, &d, pw, PAD_SAME, pw_act, &o));
  }
  arena_rewind(scratch, mark);
  return FF_OK;
}

int max_pool(struct arena *a, const struct tensor *in, int k, int stride, enum pad pad,
             struct tensor *out) {
  int oh, ow, unused;
  pad_geometry(in->h, k, stride, pad, &oh, &unused);
  pad_geometry(in->w, k, stride, pad, &ow, &unused);
  if (tensor_new(a, oh, ow, in->c, out) != FF_OK)
    return FF_ENOMEM;
  return max_pool_into(in, k, stride, pad, out);
}

int max_pool_into(const struct tensor *in, int k, int stride, enum pad pad, struct tensor *out) {
  int oh, ow, pt, pl, c = in->c;
  pad_geometry(in->h, k, stride, pad, &oh, &pt);
  pad_geometry(in->w, k, stride, pad, &ow, &pl);
  if (out->h != oh || out->w != ow || out->c != c || !out->d)
    return FF_EINTERNAL;
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++) {
      float *restrict o = out->d + ((size_t)oy * ow + ox) * c;
      for (int i = 0; i < c; i++)
        o[i] = -INFINITY;
      for (int ky = 0; ky < k; ky++) {
        int iy = oy * stride - pt + ky;
        if (iy < 0 || iy >= in->h)
          continue;
        for (int kx = 0; kx < k; kx++) {
          int ix = ox * stride - pl + kx;
          if (ix < 0 || ix >= in->w)
            continue;
          const float *restrict x = in->d + ((size_t)iy * in->w + ix) * c;
          for (int i = 0; i < c; i++)
            o[i] = x[i] > o[i] ? x[i] : o[i];
        }
      }
    }
  return FF_OK;
}

int avg_pool(struct arena *a, const struct tensor *in, int k, int stride, struct tensor *out) {
  int oh, ow, unused, c = in->c;
  pad_geometry(in->h, k, stride, PAD_VALID, &oh, &unused);
  pad_geometry(in->w, k, stride, PAD_VALID, &ow, &unused);
  if (tensor_new(a, oh, ow, c, out) != FF_OK)
    return FF_ENOMEM;
  float inv = 1.0f / (float)(k * k);
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++) {
      float *restrict o = out->d + ((size_t)oy * ow + ox) * c;
      memset(o, 0, (size_t)c * sizeof(float));
      for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
          const float *restrict x =
              in->d + ((size_t)(oy * stride + ky) * in->w + (ox * stride + kx)) * c;
          for (int i = 0; i < c; i++)
            o[i] += x[i];
        }
      for (int i = 0; i < c; i++)
        o[i] *= inv;
    }
  return FF_OK;
}

void fully_connected(const float *x, int cin, const float *w, const float *b, int cout, float *y) {
  for (int o = 0; o < cout; o++)
    y[o] = b ? b[o] : 0.0f;
  for (int i = 0; i < cin; i++) {
    const float *restrict row = w + (size_t)i * cout;
    float xi = x[i];
    for (int o = 0; o < cout; o++)
      y[o] += xi * row[o];
  }
}

int crop_resize(struct arena *a, const struct face_image *img, int x, int y, int w, int h,
                int centered, int size, const struct input_norm *norm, struct tensor *out) {
  if (w <= 0 || h <= 0 || x < 0 || y < 0 || x + w > img->width || y + h > img->height)
    return FF_EINVAL;
  if (tensor_new(a, size, size, 3, out) != FF_OK)
    return FF_ENOMEM;
  int S = w > h ? w : h, diff = S - (w > h ? h : w);
  int append = centered ? (int)lround(diff * 0.5) : diff; /* Math.round: .5 goes up */
  int pre = diff - append, pre_x = 0, pre_y = 0;
  if (w > h)
    pre_y = pre;
  else
    pre_x = pre;
  float scale = (float)S / (float)size;
  /* Per output column: the two source columns (-1 = zero padding) and the
   * weight; the same mapping serves the rows. */
  struct arena_mark mark = arena_mark(a);
  int *cx = arena_alloc(a, sizeof(int) * 2 * (size_t)size);
  float *fx = arena_floats(a, (size_t)size);
  if (!cx || !fx)
    return FF_ENOMEM;
  for (int o = 0; o < size; o++) {
    float sx = (float)o * scale;
    int x0 = (int)floorf(sx), x1 = x0 + 1 < S ? x0 + 1 : S - 1;
    fx[o] = sx - (float)x0;
    x0 -= pre_x;
    x1 -= pre_x;
    cx[2 * o] = x0 >= 0 && x0 < w ? x0 : -1;
    cx[2 * o + 1] = x1 >= 0 && x1 < w ? x1 : -1;
  }
  for (int oy = 0; oy < size; oy++) {
    float sy = (float)oy * scale;
    int y0 = (int)floorf(sy), y1 = y0 + 1 < S ? y0 + 1 : S - 1;
    float ly = sy - (float)y0;
    y0 -= pre_y;
    y1 -= pre_y;
    const uint8_t *r0 =
        y0 >= 0 && y0 < h ? img->rgb + (size_t)(y + y0) * img->stride + x * 3 : NULL;
    const uint8_t *r1 =
        y1 >= 0 && y1 < h ? img->rgb + (size_t)(y + y1) * img->stride + x * 3 : NULL;
    float *o = out->d + (size_t)oy * size * 3;
    for (int ox = 0; ox < size; ox++) {
      int x0 = cx[2 * ox], x1 = cx[2 * ox + 1];
      float lx = fx[ox];
      for (int ch = 0; ch < 3; ch++) {
        float tl = r0 && x0 >= 0 ? r0[x0 * 3 + ch] : 0.0f;
        float tr = r0 && x1 >= 0 ? r0[x1 * 3 + ch] : 0.0f;
        float bl = r1 && x0 >= 0 ? r1[x0 * 3 + ch] : 0.0f;
        float br = r1 && x1 >= 0 ? r1[x1 * 3 + ch] : 0.0f;
        float top = tl + (tr - tl) * lx, bottom = bl + (br - bl) * lx;
        float v = top + (bottom - top) * ly;
        o[ox * 3 + ch] = (v - norm->mean[ch]) / norm->divisor + norm->offset;
      }
    }
  }
  arena_rewind(a, mark);
  return FF_OK;
}
