/* scan_avx2.c — the scan kernel for AVX2 + FMA (x86-64-v3). This file alone
 * is compiled with -mavx2 -mfma; scan.c calls it only when the CPU has both. */
#include "scan.h"

#include <immintrin.h>

/* Sums the 8 lanes of each of 8 accumulators: lane j of the result is the
 * total of acc[j]. */
static inline __m256i sum8(const __m256i acc[8]) {
  __m256i h01 = _mm256_hadd_epi32(acc[0], acc[1]);
  __m256i h23 = _mm256_hadd_epi32(acc[2], acc[3]);
  __m256i h45 = _mm256_hadd_epi32(acc[4], acc[5]);
  __m256i h67 = _mm256_hadd_epi32(acc[6], acc[7]);
  __m256i h0123 = _mm256_hadd_epi32(h01, h23);
  __m256i h4567 = _mm256_hadd_epi32(h45, h67);
  __m256i lo = _mm256_permute2x128_si256(h0123, h4567, 0x20);
  __m256i hi = _mm256_permute2x128_si256(h0123, h4567, 0x31);
  return _mm256_add_epi32(lo, hi);
}

static void dots_avx2(const int8_t *codes, size_t n, const int16_t *query, int32_t *dots) {
  __m256i q[8];
  for (int c = 0; c < 8; c++)
    q[c] = _mm256_loadu_si256((const __m256i *)(query + 16 * c));
  for (size_t i = 0; i < n; i += SCAN_GROUP) {
    __m256i acc[8];
    for (int j = 0; j < 8; j++) {
      const int8_t *v = codes + (i + (size_t)j) * SCAN_DIM;
      __m256i s = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)v)), q[0]);
      for (int c = 1; c < 8; c++) {
        __m256i x = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(v + 16 * c)));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(x, q[c]));
      }
      acc[j] = s;
    }
    _mm256_storeu_si256((__m256i *)(dots + i), sum8(acc));
  }
}

static void filter_avx2(const int32_t *dots, const float *norm2, const float *scale,
                        const float *error, size_t n, const struct scan_filter *f, uint8_t *mask) {
  const __m256 ny2 = _mm256_set1_ps(f->ny2), c2 = _mm256_set1_ps(f->c2);
  const __m256 t = _mm256_set1_ps(f->t), widen = _mm256_set1_ps(f->widen);
  const __m256 slack = _mm256_set1_ps(f->slack), tiny = _mm256_set1_ps(0x1p-100f);
  for (size_t i = 0; i < n; i += SCAN_GROUP) {
    __m256 d = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(dots + i)));
    __m256 cs = _mm256_mul_ps(c2, _mm256_loadu_ps(scale + i));
    __m256 base = _mm256_add_ps(ny2, _mm256_loadu_ps(norm2 + i));
    __m256 a = _mm256_fnmadd_ps(cs, d, base);
    __m256 u = _mm256_mul_ps(widen, _mm256_add_ps(t, _mm256_loadu_ps(error + i)));
    __m256 limit = _mm256_fmadd_ps(u, u, _mm256_fmadd_ps(slack, base, tiny));
    mask[i / SCAN_GROUP] = (uint8_t)_mm256_movemask_ps(_mm256_cmp_ps(a, limit, _CMP_LE_OQ));
  }
}

const struct scan_kernel scan_kernel_avx2 = {"avx2", dots_avx2, filter_avx2};
