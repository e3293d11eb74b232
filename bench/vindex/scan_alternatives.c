/* scan_alternatives.c — see scan_alternatives.h. Compiled with AVX2, FMA and
 * F16C; called only after alt_supported(). */
#include "scan_alternatives.h"

#include <immintrin.h>
#include <math.h>

int alt_supported(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

/* Keeps dist[0..k) ascending. */
static void offer(size_t k, float *dist, int64_t *pos, float d, int64_t p) {
  if (d >= dist[k - 1])
    return;
  size_t i = k - 1;
  while (i > 0 && dist[i - 1] > d) {
    dist[i] = dist[i - 1];
    pos[i] = pos[i - 1];
    i--;
  }
  dist[i] = d;
  pos[i] = p;
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

void alt_scan_f32(const float *x, size_t n, const float *q, size_t k, float *dist, int64_t *pos) {
  for (size_t i = 0; i < k; i++)
    dist[i] = INFINITY, pos[i] = -1;
  __m256 qv[16];
  for (int c = 0; c < 16; c++)
    qv[c] = _mm256_loadu_ps(q + 8 * c);
  for (size_t i = 0; i < n; i++) {
    const float *v = x + i * ALT_DIM;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int c = 0; c < 16; c += 2) {
      __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(v + 8 * c), qv[c]);
      __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(v + 8 * c + 8), qv[c + 1]);
      a0 = _mm256_fmadd_ps(d0, d0, a0);
      a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    offer(k, dist, pos, hsum(_mm256_add_ps(a0, a1)), (int64_t)i);
  }
}

void alt_to_f16(const float *x, size_t n, uint16_t *out) {
  for (size_t i = 0; i < n * ALT_DIM; i += 8)
    _mm_storeu_si128((__m128i *)(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
}

void alt_scan_f16(const uint16_t *x, size_t n, const float *q, size_t k, float *dist,
                  int64_t *pos) {
  for (size_t i = 0; i < k; i++)
    dist[i] = INFINITY, pos[i] = -1;
  __m256 qv[16];
  for (int c = 0; c < 16; c++)
    qv[c] = _mm256_loadu_ps(q + 8 * c);
  for (size_t i = 0; i < n; i++) {
    const uint16_t *v = x + i * ALT_DIM;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int c = 0; c < 16; c += 2) {
      __m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * c)));
      __m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + 8 * c + 8)));
      __m256 d0 = _mm256_sub_ps(x0, qv[c]);
      __m256 d1 = _mm256_sub_ps(x1, qv[c + 1]);
      a0 = _mm256_fmadd_ps(d0, d0, a0);
      a1 = _mm256_fmadd_ps(d1, d1, a1);
    }
    offer(k, dist, pos, hsum(_mm256_add_ps(a0, a1)), (int64_t)i);
  }
}
