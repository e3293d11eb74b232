/* faiss_flat.h — the one C++ adapter: FAISS IndexFlatL2 behind a C
 * interface, for the side-by-side benchmark only (Debian's libfaiss-dev has
 * no C API library). */
#ifndef FOOTFALL_BENCH_FAISS_FLAT_H
#define FOOTFALL_BENCH_FAISS_FLAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct faiss_flat;

/* Forces FAISS (OpenMP) to one thread. */
void faiss_flat_single_thread(void);
/* NULL on failure (message to stderr). */
struct faiss_flat *faiss_flat_create(int dim);
void faiss_flat_free(struct faiss_flat *f);
/* Adds n vectors; their FAISS ids are the running positions 0, 1, ... */
int faiss_flat_add(struct faiss_flat *f, size_t n, const float *x);
/* nq queries, k results each: squared L2 distances and positions. */
int faiss_flat_search(struct faiss_flat *f, size_t nq, const float *q, size_t k, float *distances,
                      int64_t *labels);
/* Bytes of stored vectors. */
size_t faiss_flat_memory(const struct faiss_flat *f);
const char *faiss_flat_version(void);

#ifdef __cplusplus
}
#endif

#endif
