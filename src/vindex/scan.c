/* scan.c — coding of vectors and queries, the portable kernel, and the choice
 * of kernel for this CPU. The SIMD kernels live in scan_avx2.c and
 * scan_avx512.c, each compiled for its instruction set only. */
#include "scan.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Rounds a non-negative double up to a float that is >= it. */
static float round_up_float(double v) {
  float f = (float)v;
  if ((double)f < v)
    f = nextafterf(f, INFINITY);
  return f;
}

float scan_code_vector(const float *x, int8_t *q, float *norm2, float *error) {
  float max_abs = 0.0f;
  for (int d = 0; d < SCAN_DIM; d++)
    max_abs = fmaxf(max_abs, fabsf(x[d]));
  float scale = max_abs / SCAN_CODE_MAX;
  double sum_q2 = 0.0, err2 = 0.0;
  for (int d = 0; d < SCAN_DIM; d++) {
    long c = scale > 0.0f ? lrintf(x[d] / scale) : 0;
    if (c > SCAN_CODE_MAX)
      c = SCAN_CODE_MAX;
    if (c < -SCAN_CODE_MAX)
      c = -SCAN_CODE_MAX;
    q[d] = (int8_t)c;
    sum_q2 += (double)(c * c);
    /* scale * c is exact in double (24 + 8 significant bits). */
    double r = (double)x[d] - (double)scale * (double)c;
    err2 += r * r;
  }
  *norm2 = (float)((double)scale * (double)scale * sum_q2);
  *error = round_up_float(sqrt(err2));
  return scale;
}

void scan_code_query(const float *y, int16_t *q, float *scale_out, double *ny2, float *error) {
  float max_abs = 0.0f;
  for (int d = 0; d < SCAN_DIM; d++)
    max_abs = fmaxf(max_abs, fabsf(y[d]));
  float scale = max_abs / SCAN_QUERY_CODE_MAX;
  double sum_q2 = 0.0, err2 = 0.0;
  for (int d = 0; d < SCAN_DIM; d++) {
    long c = scale > 0.0f ? lrintf(y[d] / scale) : 0;
    if (c > SCAN_QUERY_CODE_MAX)
      c = SCAN_QUERY_CODE_MAX;
    if (c < -SCAN_QUERY_CODE_MAX)
      c = -SCAN_QUERY_CODE_MAX;
    q[d] = (int16_t)c;
    sum_q2 += (double)c * (double)c;
    double r = (double)y[d] - (double)scale * (double)c;
    err2 += r * r;
  }
  *scale_out = scale;
  *ny2 = (double)scale * (double)scale * sum_q2;
  *error = round_up_float(sqrt(err2));
}

static void dots_scalar(const int8_t *codes, size_t n, const int16_t *query, int32_t *dots) {
  for (size_t i = 0; i < n; i++) {
    const int8_t *v = codes + i * SCAN_DIM;
    int32_t sum = 0;
    for (int d = 0; d < SCAN_DIM; d++)
      sum += (int32_t)v[d] * (int32_t)query[d];
    dots[i] = sum;
  }
}

static void filter_scalar(const int32_t *dots, const float *norm2, const float *scale,
                          const float *error, size_t n, const struct scan_filter *f,
                          uint8_t *mask) {
  for (size_t g = 0; g < n / SCAN_GROUP; g++) {
    unsigned bits = 0;
    for (int j = 0; j < SCAN_GROUP; j++) {
      size_t i = g * SCAN_GROUP + (size_t)j;
      float base = f->ny2 + norm2[i];
      float a = base - f->c2 * scale[i] * (float)dots[i];
      float u = f->widen * (f->t + error[i]);
      if (a <= u * u + (f->slack * base + 0x1p-100f))
        bits |= 1u << j;
    }
    mask[g] = (uint8_t)bits;
  }
}

const struct scan_kernel scan_kernel_scalar = {"scalar", dots_scalar, filter_scalar};

static int cpu_runs(const struct scan_kernel *k) {
  if (k == &scan_kernel_scalar)
    return 1;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (k == &scan_kernel_avx2)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (k == &scan_kernel_avx512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return 0;
}

/* Best first. */
static const struct scan_kernel *const all_kernels[] = {
#if defined(__x86_64__)
    &scan_kernel_avx512,
    &scan_kernel_avx2,
#endif
    &scan_kernel_scalar,
};

const struct scan_kernel *scan_kernel_named(const char *name) {
  for (size_t i = 0; i < sizeof all_kernels / sizeof all_kernels[0]; i++)
    if (strcmp(all_kernels[i]->name, name) == 0)
      return cpu_runs(all_kernels[i]) ? all_kernels[i] : NULL;
  return NULL;
}

static const struct scan_kernel *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void) {
  const char *forced = getenv("FOOTFALL_VINDEX_KERNEL");
  if (forced && *forced) {
    const struct scan_kernel *k = scan_kernel_named(forced);
    if (k) {
      chosen = k;
      return;
    }
  }
  for (size_t i = 0; i < sizeof all_kernels / sizeof all_kernels[0]; i++)
    if (cpu_runs(all_kernels[i])) {
      chosen = all_kernels[i];
      return;
    }
}

const struct scan_kernel *scan_kernel_best(void) {
  pthread_once(&chosen_once, choose);
  return chosen;
}
