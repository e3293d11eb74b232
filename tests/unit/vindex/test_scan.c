/* The SIMD kernels agree exactly with the portable one, and the coding
 * bounds hold. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "scan.h"

#define N 1024

static int compare_floats(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

static const char *const names[] = {"scalar", "avx2", "avx512"};

Test(scan, kernels_compute_identical_dots_and_masks) {
  struct rng r = {77};
  int8_t *codes = aligned_alloc(64, N * SCAN_DIM);
  float norm2[N], scale[N], error[N];
  float c[VINDEX_DIM], v[VINDEX_DIM], q[VINDEX_DIM];
  for (int i = 0; i < N; i++) {
    data_person(&r, c);
    data_exemplar(&r, c, v);
    if (i % 50 == 0) /* extreme codes: every component at +-127 */
      for (int d = 0; d < VINDEX_DIM; d++)
        v[d] = (d % 3) ? 1.0f : -1.0f;
    scale[i] = scan_code_vector(v, codes + i * SCAN_DIM, &norm2[i], &error[i]);
  }
  int16_t qcode[SCAN_DIM];
  float qscale, qerror;
  double ny2;
  for (int d = 0; d < VINDEX_DIM; d++)
    q[d] = (d % 2) ? -1.0f : 1.0f; /* query codes at +-32767: the largest sums */
  scan_code_query(q, qcode, &qscale, &ny2, &qerror);
  int32_t want[N], got[N];
  scan_kernel_scalar.dots(codes, N, qcode, want);
  for (int i = 0; i < N; i++) {
    int64_t s = 0;
    for (int d = 0; d < SCAN_DIM; d++)
      s += (int64_t)codes[i * SCAN_DIM + d] * qcode[d];
    cr_assert_eq(want[i], s);
  }
  /* A threshold at the median coded distance splits the set. */
  float dist[N];
  for (int i = 0; i < N; i++)
    dist[i] = sqrtf((float)ny2 + norm2[i] - 2 * qscale * scale[i] * (float)want[i]);
  qsort(dist, N, sizeof dist[0], compare_floats);
  struct scan_filter f = {(float)ny2, 2 * qscale, dist[N / 2], 1.0f, 1e-6f};
  uint8_t want_mask[N / SCAN_GROUP], got_mask[N / SCAN_GROUP];
  scan_kernel_scalar.filter(want, norm2, scale, error, N, &f, want_mask);
  int passed = 0;
  for (int g = 0; g < N / SCAN_GROUP; g++)
    passed += __builtin_popcount(want_mask[g]);
  cr_assert(passed > 0 && passed < N, "threshold should split the set (%d passed)", passed);
  int tried = 0;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    const struct scan_kernel *kernel = scan_kernel_named(names[k]);
    if (!kernel)
      continue;
    tried++;
    memset(got, 0, sizeof got);
    kernel->dots(codes, N, qcode, got);
    cr_assert_arr_eq(got, want, sizeof got, "%s dots differ", names[k]);
    /* Masks may differ only where float rounding sits on the threshold. */
    kernel->filter(want, norm2, scale, error, N, &f, got_mask);
    for (int i = 0; i < N; i++) {
      int a = (want_mask[i / 8] >> (i % 8)) & 1, b = (got_mask[i / 8] >> (i % 8)) & 1;
      if (a != b) {
        float base = f.ny2 + norm2[i];
        float x = base - f.c2 * scale[i] * (float)want[i];
        float u = f.t + error[i];
        cr_assert_float_eq(x, u * u + f.slack * base, 1e-5, "%s mask differs at %d", names[k], i);
      }
    }
  }
  cr_assert_geq(tried, 1);
  free(codes);
}

Test(scan, coding_error_bounds_hold) {
  struct rng r = {31};
  for (int t = 0; t < 2000; t++) {
    float c[VINDEX_DIM], x[VINDEX_DIM];
    data_person(&r, c);
    data_exemplar(&r, c, x);
    if (t % 100 == 1)
      x[t % VINDEX_DIM] = 900.0f; /* one huge component: coarse codes */
    int8_t q[SCAN_DIM];
    float norm2, error;
    float scale = scan_code_vector(x, q, &norm2, &error);
    double e2 = 0, n2 = 0;
    for (int d = 0; d < SCAN_DIM; d++) {
      double xd = (double)scale * q[d];
      e2 += (x[d] - xd) * (x[d] - xd);
      n2 += xd * xd;
      cr_assert(q[d] >= -SCAN_CODE_MAX && q[d] <= SCAN_CODE_MAX);
    }
    cr_assert_geq((double)error, sqrt(e2));
    cr_assert_float_eq(norm2, n2, n2 * 1e-6 + 1e-30);

    int16_t qq[SCAN_DIM];
    float qscale, qerror;
    double ny2;
    scan_code_query(x, qq, &qscale, &ny2, &qerror);
    e2 = 0;
    for (int d = 0; d < SCAN_DIM; d++) {
      double yd = (double)qscale * qq[d];
      e2 += (x[d] - yd) * (x[d] - yd);
    }
    cr_assert_geq((double)qerror, sqrt(e2));
  }
}
