/* scan_alternatives.h — the designs vindex did not take, kept to measure
 * them in the same run: a plain float32 SIMD scan (exact in float32 but reads
 * 512 bytes per vector) and a float16 scan (256 bytes per vector, not exact
 * on its own: it would still need a re-scoring step, omitted here, so its
 * figure is a lower bound). Both keep the k nearest by squared distance. */
#ifndef FOOTFALL_BENCH_SCAN_ALTERNATIVES_H
#define FOOTFALL_BENCH_SCAN_ALTERNATIVES_H

#include <stddef.h>
#include <stdint.h>

#define ALT_DIM 128

/* Needs AVX2 + FMA (every such CPU also has F16C); the bench skips these
 * rows otherwise. */
int alt_supported(void);
void alt_scan_f32(const float *x, size_t n, const float *q, size_t k, float *dist, int64_t *pos);
void alt_to_f16(const float *x, size_t n, uint16_t *out);
void alt_scan_f16(const uint16_t *x, size_t n, const float *q, size_t k, float *dist, int64_t *pos);

#endif
