// faiss_flat.cpp — see faiss_flat.h.
#include "faiss_flat.h"

#include <cstdio>
#include <exception>
#include <faiss/IndexFlat.h>
#include <omp.h>

#define STR2(x) #x
#define STR(x) STR2(x)

struct faiss_flat {
  faiss::IndexFlatL2 index;
  explicit faiss_flat(int dim) : index(dim) {}
};

extern "C" void faiss_flat_single_thread(void) {
  omp_set_num_threads(1);
}

extern "C" struct faiss_flat *faiss_flat_create(int dim) {
  try {
    return new faiss_flat(dim);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "faiss: %s\n", e.what());
    return nullptr;
  }
}

extern "C" void faiss_flat_free(struct faiss_flat *f) {
  delete f;
}

extern "C" int faiss_flat_add(struct faiss_flat *f, size_t n, const float *x) {
  try {
    f->index.add((faiss::Index::idx_t)n, x);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "faiss: %s\n", e.what());
    return -1;
  }
}

extern "C" int faiss_flat_search(struct faiss_flat *f, size_t nq, const float *q, size_t k,
                                 float *distances, int64_t *labels) {
  try {
    f->index.search((faiss::Index::idx_t)nq, q, (faiss::Index::idx_t)k, distances,
                    (faiss::Index::idx_t *)labels);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "faiss: %s\n", e.what());
    return -1;
  }
}

extern "C" size_t faiss_flat_memory(const struct faiss_flat *f) {
  return f->index.codes.size();
}

extern "C" const char *faiss_flat_version(void) {
  return STR(FAISS_VERSION_MAJOR) "." STR(FAISS_VERSION_MINOR) "." STR(FAISS_VERSION_PATCH);
}
