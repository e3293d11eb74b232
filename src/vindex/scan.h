/* scan.h — internal to vindex: the int8 codes and the SIMD kernels that scan
 * them. Stored vectors are coded as x ~ scale * q with q in [-127, 127]; the
 * query as y ~ scale_y * q_y with q_y in [-32767, 32767], so a dot product of
 * codes is an exact int32 (|sum| <= 128 * 127 * 32767 < 2^31) and every
 * kernel returns bit-identical dot products. */
#ifndef FOOTFALL_VINDEX_SCAN_H
#define FOOTFALL_VINDEX_SCAN_H

#include <stddef.h>
#include <stdint.h>

#define SCAN_DIM 128
/* Kernels take vectors in groups of this many; storage is padded to it. */
#define SCAN_GROUP 8
#define SCAN_CODE_MAX 127
#define SCAN_QUERY_CODE_MAX 32767

/* What the filter needs besides the per-vector arrays. A vector passes when
 *   ny2 + norm2[i] - c2 * scale[i] * dot[i]
 *     <=  (widen * (t + error[i]))^2 + slack * (ny2 + norm2[i]) + 0x1p-100
 * i.e. when the lower bound of its true distance may not exceed t - error_y. */
struct scan_filter {
  float ny2;   /* scale_y^2 * |q_y|^2 */
  float c2;    /* 2 * scale_y */
  float t;     /* current threshold + query coding error (may be +inf) */
  float widen; /* 1 + a margin far above float rounding */
  float slack; /* relative margin for rounding of the squared norms */
};

struct scan_kernel {
  const char *name;
  /* dots[i] = sum_d codes[i * SCAN_DIM + d] * query[d], for i < n; n is a
   * multiple of SCAN_GROUP; codes 16-byte aligned. */
  void (*dots)(const int8_t *codes, size_t n, const int16_t *query, int32_t *dots);
  /* Bit j of mask[g] = whether vector g * SCAN_GROUP + j passes (see above). */
  void (*filter)(const int32_t *dots, const float *norm2, const float *scale, const float *error,
                 size_t n, const struct scan_filter *f, uint8_t *mask);
};

extern const struct scan_kernel scan_kernel_scalar;
#if defined(__x86_64__)
extern const struct scan_kernel scan_kernel_avx2;
extern const struct scan_kernel scan_kernel_avx512;
#endif

/* The best kernel this CPU runs (or a lesser one forced by the environment
 * variable FOOTFALL_VINDEX_KERNEL); chosen once. */
const struct scan_kernel *scan_kernel_best(void);

/* Kernel by name if this CPU can run it, else NULL (for tests). */
const struct scan_kernel *scan_kernel_named(const char *name);

/* Codes a stored vector. Returns its scale; *norm2 = |scale * q|^2 and
 * *error >= |x - scale * q| (rounded up). */
float scan_code_vector(const float *x, int8_t *q, float *norm2, float *error);

/* Codes a query: *scale, q, *ny2 = |scale * q|^2 (double), *error >= |y - scale * q|. */
void scan_code_query(const float *y, int16_t *q, float *scale, double *ny2, float *error);

#endif
