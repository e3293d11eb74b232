/* vindex.c — the index: storage in fixed blocks, the id table, the lock, and
 * the two-pass exact search.
 *
 * Search, pass 1: the SIMD kernel computes, for every stored vector, the
 * distance between the coded query and the coded vector. Coding errors are
 * bounded per vector (error[i] >= |x - x_coded|, error_y >= |y - y_coded|),
 * so by the triangle inequality the true distance lies within
 * coded_distance +- (error[i] + error_y). A vector whose lower bound exceeds
 * T, an upper bound of the k-th best true distance (or of the k-th best
 * label's), cannot be in the answer; the kernel discards those without
 * branching. The few that pass go to a candidate list with their lower bound,
 * and their upper bounds tighten T.
 * Pass 2: candidates are re-scored exactly with vindex_distance() in order of
 * lower bound, until the next lower bound exceeds the k-th exact distance.
 * All bounds carry margins well above float rounding (see MARGIN_*), so a
 * pruned vector is one whose reported distance would be strictly worse. */
#include "vindex.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "scan.h"

_Static_assert(VINDEX_DIM == SCAN_DIM, "one dimension");

/* 4096 vectors: 2.7 MB per block, so growth never copies the whole index
 * and a search streams each block's codes contiguously. */
#define BLOCK_VECTORS 4096
#define BLOCK_SHIFT 12
/* Vectors the kernel handles per call: dots and mask stay in L1. */
#define CHUNK_VECTORS 256
#define MAX_ENTRIES (UINT32_MAX - 1u)

/* Relative widening of the filter's threshold and relative margin on
 * squared norms in float (rounding is ~2^-22 there), and the relative margin
 * of the double-precision bounds (float-stored norms are exact to 2^-24, the
 * reported float distance to 2^-24). */
#define MARGIN_FILTER_WIDEN (1.0f + 0x1p-12f)
#define MARGIN_FILTER_NORM 0x1p-14f
#define MARGIN_BOUND 0x1p-20

struct block {
  int8_t codes[BLOCK_VECTORS][VINDEX_DIM];
  float scale[BLOCK_VECTORS];
  float error[BLOCK_VECTORS];
  float norm2[BLOCK_VECTORS];
  int64_t id[BLOCK_VECTORS];
  int64_t label[BLOCK_VECTORS];
  float vectors[BLOCK_VECTORS][VINDEX_DIM];
};

struct vindex {
  /* Guards every field below. Readers: search, get, count, memory. */
  pthread_rwlock_t lock;
  struct block **blocks;
  size_t block_count;    /* allocated blocks, including at most one spare */
  size_t block_capacity; /* length of the blocks array */
  size_t count;
  struct idmap ids;
  const struct scan_kernel *kernel;
};

static int check_vector(const float *v, const char *what, struct ff_error *err) {
  for (int d = 0; d < VINDEX_DIM; d++)
    if (!isfinite(v[d]) || fabsf(v[d]) > VINDEX_COMPONENT_MAX)
      return ff_fail(err, FF_EINVAL, "%s component %d is %s", what, d,
                     isfinite(v[d]) ? "out of range" : "not finite");
  return FF_OK;
}

float vindex_distance(const float a[VINDEX_DIM], const float b[VINDEX_DIM]) {
  double sum = 0.0;
  for (int d = 0; d < VINDEX_DIM; d++) {
    double diff = (double)a[d] - (double)b[d];
    sum += diff * diff;
  }
  return (float)sqrt(sum);
}

const char *vindex_kernel_name(void) {
  return scan_kernel_best()->name;
}

int vindex_create(struct vindex **out, struct ff_error *err) {
  struct vindex *ix = calloc(1, sizeof *ix);
  if (!ix)
    return ff_fail(err, FF_ENOMEM, "vindex: out of memory");
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int rc = pthread_rwlock_init(&ix->lock, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (rc != 0) {
    free(ix);
    return ff_fail(err, FF_ENOMEM, "vindex: cannot create lock");
  }
  idmap_init(&ix->ids);
  ix->kernel = scan_kernel_best();
  *out = ix;
  return FF_OK;
}

static void release_storage(struct vindex *ix) {
  for (size_t b = 0; b < ix->block_count; b++)
    free(ix->blocks[b]);
  free(ix->blocks);
  ix->blocks = NULL;
  ix->block_count = ix->block_capacity = 0;
  ix->count = 0;
  idmap_free(&ix->ids);
}

void vindex_destroy(struct vindex *ix) {
  if (!ix)
    return;
  release_storage(ix);
  pthread_rwlock_destroy(&ix->lock);
  free(ix);
}

void vindex_clear(struct vindex *ix) {
  pthread_rwlock_wrlock(&ix->lock);
  release_storage(ix);
  pthread_rwlock_unlock(&ix->lock);
}

static inline struct block *block_of(const struct vindex *ix, size_t slot) {
  return ix->blocks[slot >> BLOCK_SHIFT];
}

static inline size_t offset_of(size_t slot) {
  return slot & (BLOCK_VECTORS - 1);
}

/* Makes sure slot ix->count has a block. */
static bool ensure_block(struct vindex *ix) {
  if ((ix->count >> BLOCK_SHIFT) < ix->block_count)
    return true;
  if (ix->block_count == ix->block_capacity) {
    size_t capacity = ix->block_capacity ? ix->block_capacity * 2 : 4;
    struct block **blocks = realloc(ix->blocks, capacity * sizeof *blocks);
    if (!blocks)
      return false;
    ix->blocks = blocks;
    ix->block_capacity = capacity;
  }
  struct block *b = aligned_alloc(64, sizeof *b);
  if (!b)
    return false;
  /* Kernels read whole groups of SCAN_GROUP past the last entry: keep every
   * array but the float vectors initialised. */
  memset(b, 0, offsetof(struct block, vectors));
  ix->blocks[ix->block_count++] = b;
  return true;
}

int vindex_reserve(struct vindex *ix, size_t n, struct ff_error *err) {
  pthread_rwlock_wrlock(&ix->lock);
  bool ok = idmap_reserve(&ix->ids, n);
  pthread_rwlock_unlock(&ix->lock);
  return ok ? FF_OK : ff_fail(err, FF_ENOMEM, "vindex: out of memory reserving %zu ids", n);
}

int vindex_add(struct vindex *ix, int64_t id, int64_t label, const float vector[VINDEX_DIM],
               struct ff_error *err) {
  int rc = check_vector(vector, "descriptor", err);
  if (rc != FF_OK)
    return rc;
  int8_t codes[VINDEX_DIM];
  float norm2, error;
  float scale = scan_code_vector(vector, codes, &norm2, &error);

  pthread_rwlock_wrlock(&ix->lock);
  if (idmap_find(&ix->ids, id) != IDMAP_EMPTY) {
    rc = ff_fail(err, FF_ECONFLICT, "vindex: id %lld already present", (long long)id);
  } else if (ix->count >= MAX_ENTRIES) {
    rc = ff_fail(err, FF_ETOOBIG, "vindex: index full");
  } else if (!ensure_block(ix) || !idmap_insert(&ix->ids, id, (uint32_t)ix->count)) {
    rc = ff_fail(err, FF_ENOMEM, "vindex: out of memory adding id %lld", (long long)id);
  } else {
    struct block *b = block_of(ix, ix->count);
    size_t o = offset_of(ix->count);
    memcpy(b->codes[o], codes, sizeof codes);
    memcpy(b->vectors[o], vector, sizeof b->vectors[o]);
    b->scale[o] = scale;
    b->error[o] = error;
    b->norm2[o] = norm2;
    b->id[o] = id;
    b->label[o] = label;
    ix->count++;
  }
  pthread_rwlock_unlock(&ix->lock);
  return rc;
}

/* Moves the last entry into slot and drops the last slot; frees a trailing
 * block once two are empty (one spare avoids churn at a block boundary). */
static void remove_slot(struct vindex *ix, size_t slot) {
  size_t last = ix->count - 1;
  struct block *dst = block_of(ix, slot);
  size_t d = offset_of(slot);
  idmap_erase(&ix->ids, dst->id[d]);
  if (slot != last) {
    const struct block *src = block_of(ix, last);
    size_t s = offset_of(last);
    memcpy(dst->codes[d], src->codes[s], sizeof dst->codes[d]);
    memcpy(dst->vectors[d], src->vectors[s], sizeof dst->vectors[d]);
    dst->scale[d] = src->scale[s];
    dst->error[d] = src->error[s];
    dst->norm2[d] = src->norm2[s];
    dst->id[d] = src->id[s];
    dst->label[d] = src->label[s];
    idmap_update(&ix->ids, dst->id[d], (uint32_t)slot);
  }
  ix->count = last;
  size_t used = (ix->count + BLOCK_VECTORS - 1) >> BLOCK_SHIFT;
  while (ix->block_count > used + 1) {
    free(ix->blocks[--ix->block_count]);
  }
}

int vindex_remove(struct vindex *ix, int64_t id, struct ff_error *err) {
  int rc = FF_OK;
  pthread_rwlock_wrlock(&ix->lock);
  uint32_t slot = idmap_find(&ix->ids, id);
  if (slot == IDMAP_EMPTY)
    rc = ff_fail(err, FF_ENOTFOUND, "vindex: no id %lld", (long long)id);
  else
    remove_slot(ix, slot);
  pthread_rwlock_unlock(&ix->lock);
  return rc;
}

int vindex_remove_label(struct vindex *ix, int64_t label, size_t *removed, struct ff_error *err) {
  size_t n = 0;
  pthread_rwlock_wrlock(&ix->lock);
  /* Downwards, so the entry moved into a freed slot was already checked. */
  for (size_t slot = ix->count; slot-- > 0;) {
    if (block_of(ix, slot)->label[offset_of(slot)] == label) {
      remove_slot(ix, slot);
      n++;
    }
  }
  pthread_rwlock_unlock(&ix->lock);
  if (removed)
    *removed = n;
  return FF_OK;
}

int vindex_relabel(struct vindex *ix, int64_t from, int64_t to, size_t *changed,
                   struct ff_error *err) {
  size_t n = 0;
  pthread_rwlock_wrlock(&ix->lock);
  for (size_t b = 0; b * BLOCK_VECTORS < ix->count; b++) {
    struct block *blk = ix->blocks[b];
    size_t end = ix->count - b * BLOCK_VECTORS;
    if (end > BLOCK_VECTORS)
      end = BLOCK_VECTORS;
    for (size_t o = 0; o < end; o++)
      if (blk->label[o] == from) {
        blk->label[o] = to;
        n++;
      }
  }
  pthread_rwlock_unlock(&ix->lock);
  if (changed)
    *changed = n;
  return FF_OK;
}

int vindex_get(struct vindex *ix, int64_t id, int64_t *label, float vector[VINDEX_DIM],
               struct ff_error *err) {
  int rc = FF_OK;
  pthread_rwlock_rdlock(&ix->lock);
  uint32_t slot = idmap_find(&ix->ids, id);
  if (slot == IDMAP_EMPTY) {
    rc = ff_fail(err, FF_ENOTFOUND, "vindex: no id %lld", (long long)id);
  } else {
    const struct block *b = block_of(ix, slot);
    if (label)
      *label = b->label[offset_of(slot)];
    if (vector)
      memcpy(vector, b->vectors[offset_of(slot)], sizeof b->vectors[0]);
  }
  pthread_rwlock_unlock(&ix->lock);
  return rc;
}

size_t vindex_count(struct vindex *ix) {
  pthread_rwlock_rdlock(&ix->lock);
  size_t n = ix->count;
  pthread_rwlock_unlock(&ix->lock);
  return n;
}

size_t vindex_memory(struct vindex *ix) {
  pthread_rwlock_rdlock(&ix->lock);
  size_t bytes = sizeof *ix + ix->block_capacity * sizeof *ix->blocks +
                 ix->block_count * sizeof(struct block) + idmap_memory(&ix->ids);
  pthread_rwlock_unlock(&ix->lock);
  return bytes;
}

/* ---- Search ------------------------------------------------------------ */

/* The k best (distance, id) seen so far, optionally at most one per label.
 * A max-heap on (distance, id), so the worst is at the root. */
struct ranking {
  struct vindex_hit *heap;
  size_t size, k;
  bool per_label;
};

static inline bool worse(const struct vindex_hit *a, const struct vindex_hit *b) {
  return a->distance > b->distance || (a->distance == b->distance && a->id > b->id);
}

static void sift_up(struct ranking *r, size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!worse(&r->heap[i], &r->heap[parent]))
      break;
    struct vindex_hit t = r->heap[i];
    r->heap[i] = r->heap[parent];
    r->heap[parent] = t;
    i = parent;
  }
}

static void sift_down(struct ranking *r, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, rr = l + 1, top = i;
    if (l < r->size && worse(&r->heap[l], &r->heap[top]))
      top = l;
    if (rr < r->size && worse(&r->heap[rr], &r->heap[top]))
      top = rr;
    if (top == i)
      return;
    struct vindex_hit t = r->heap[i];
    r->heap[i] = r->heap[top];
    r->heap[top] = t;
    i = top;
  }
}

static inline bool ranking_full(const struct ranking *r) {
  return r->size == r->k;
}

/* The k-th best distance, or +inf while fewer than k are known. */
static inline float ranking_bound(const struct ranking *r) {
  return ranking_full(r) ? r->heap[0].distance : INFINITY;
}

static void ranking_offer(struct ranking *r, float distance, int64_t id, int64_t label) {
  struct vindex_hit h = {id, label, distance};
  if (r->per_label) {
    for (size_t i = 0; i < r->size; i++) {
      if (r->heap[i].label != label)
        continue;
      /* Keep the label's best; a better one lowers its key. */
      if (worse(&r->heap[i], &h)) {
        r->heap[i] = h;
        sift_down(r, i);
      }
      return;
    }
  }
  if (!ranking_full(r)) {
    r->heap[r->size++] = h;
    sift_up(r, r->size - 1);
  } else if (worse(&r->heap[0], &h)) {
    r->heap[0] = h;
    sift_down(r, 0);
  }
}

static int compare_hits(const void *a, const void *b) {
  const struct vindex_hit *x = a, *y = b;
  return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

struct candidate {
  double lower; /* lower bound of the reported distance */
  uint32_t slot;
};

static int compare_candidates(const void *a, const void *b) {
  const struct candidate *x = a, *y = b;
  if (x->lower != y->lower)
    return x->lower < y->lower ? -1 : 1;
  return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int compare_labels(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static float round_up_float(double v) {
  float f = (float)v;
  if ((double)f < v)
    f = nextafterf(f, INFINITY);
  return f;
}

struct search {
  const float *query;
  int16_t qcode[VINDEX_DIM];
  float qscale, qerror;
  double ny2;
  const int64_t *exclude; /* sorted */
  size_t exclude_count;
  struct ranking upper;  /* pass 1: upper bounds */
  struct ranking result; /* pass 2: exact distances */
  struct candidate *cand;
  size_t cand_count, cand_capacity, compact_at;
};

static bool excluded(const struct search *s, int64_t label) {
  return s->exclude_count &&
         bsearch(&label, s->exclude, s->exclude_count, sizeof label, compare_labels) != NULL;
}

/* Drops candidates whose lower bound already exceeds the upper bound of the
 * k-th best. */
static void compact(struct search *s) {
  float bound = ranking_bound(&s->upper);
  size_t kept = 0;
  for (size_t i = 0; i < s->cand_count; i++)
    if (s->cand[i].lower <= bound)
      s->cand[kept++] = s->cand[i];
  s->cand_count = kept;
  s->compact_at = kept * 2 > 1024 ? kept * 2 : 1024;
}

static bool consider(struct search *s, const struct block *b, size_t o, size_t slot, int32_t dot) {
  if (excluded(s, b->label[o]))
    return true;
  double a = s->ny2 + (double)b->norm2[o] - 2.0 * (double)s->qscale * (double)b->scale[o] * dot;
  double slack = MARGIN_BOUND * (s->ny2 + (double)b->norm2[o]);
  double near = a - slack > 0.0 ? sqrt(a - slack) : 0.0;
  double far = sqrt((a > 0.0 ? a : 0.0) + slack);
  double spread = (double)b->error[o] + (double)s->qerror;
  double upper = far + spread;
  upper += upper * MARGIN_BOUND + 1e-30;
  double lower = near - spread - upper * MARGIN_BOUND;
  if (lower > ranking_bound(&s->upper))
    return true;
  ranking_offer(&s->upper, round_up_float(upper), b->id[o], b->label[o]);
  if (s->cand_count == s->cand_capacity) {
    size_t capacity = s->cand_capacity * 2;
    struct candidate *c = realloc(s->cand, capacity * sizeof *c);
    if (!c)
      return false;
    s->cand = c;
    s->cand_capacity = capacity;
  }
  s->cand[s->cand_count].lower = lower;
  s->cand[s->cand_count].slot = (uint32_t)slot;
  s->cand_count++;
  if (s->cand_count >= s->compact_at)
    compact(s);
  return true;
}

static struct scan_filter filter_for(const struct search *s) {
  struct scan_filter f;
  f.ny2 = (float)s->ny2;
  f.c2 = 2.0f * s->qscale;
  float bound = ranking_bound(&s->upper);
  f.t = isinf(bound) ? INFINITY : round_up_float((double)bound + (double)s->qerror);
  f.widen = MARGIN_FILTER_WIDEN;
  f.slack = MARGIN_FILTER_NORM;
  return f;
}

/* Pass 1 over every stored vector, for `count` queries at once: each chunk
 * of codes is read from memory once and from cache for the other queries. */
static bool scan_all(struct vindex *ix, struct search *searches, size_t count) {
  int32_t dots[CHUNK_VECTORS];
  uint8_t mask[CHUNK_VECTORS / SCAN_GROUP];
  for (size_t bi = 0; bi * BLOCK_VECTORS < ix->count; bi++) {
    const struct block *b = ix->blocks[bi];
    size_t in_block = ix->count - bi * BLOCK_VECTORS;
    if (in_block > BLOCK_VECTORS)
      in_block = BLOCK_VECTORS;
    for (size_t start = 0; start < in_block; start += CHUNK_VECTORS) {
      size_t n = in_block - start < CHUNK_VECTORS ? in_block - start : CHUNK_VECTORS;
      size_t padded = (n + SCAN_GROUP - 1) / SCAN_GROUP * SCAN_GROUP;
      for (size_t qi = 0; qi < count; qi++) {
        struct search *s = &searches[qi];
        struct scan_filter f = filter_for(s);
        ix->kernel->dots(b->codes[start], padded, s->qcode, dots);
        ix->kernel->filter(dots, b->norm2 + start, b->scale + start, b->error + start, padded, &f,
                           mask);
        for (size_t g = 0; g < padded / SCAN_GROUP; g++) {
          unsigned bits = mask[g];
          while (bits) {
            size_t j = (size_t)__builtin_ctz(bits);
            bits &= bits - 1;
            size_t i = g * SCAN_GROUP + j;
            if (i >= n)
              break;
            if (!consider(s, b, start + i, bi * BLOCK_VECTORS + start + i, dots[i]))
              return false;
          }
        }
      }
    }
  }
  return true;
}

/* Pass 2: exact distances in order of lower bound. */
static void rescore(struct vindex *ix, struct search *s) {
  compact(s);
  qsort(s->cand, s->cand_count, sizeof *s->cand, compare_candidates);
  for (size_t i = 0; i < s->cand_count; i++) {
    if (ranking_full(&s->result) && s->cand[i].lower > (double)ranking_bound(&s->result))
      break;
    size_t slot = s->cand[i].slot;
    const struct block *b = block_of(ix, slot);
    size_t o = offset_of(slot);
    ranking_offer(&s->result, vindex_distance(s->query, b->vectors[o]), b->id[o], b->label[o]);
  }
}

static bool search_init(struct search *s, const float *query, size_t k, bool per_label,
                        struct vindex_hit *out) {
  s->query = query;
  scan_code_query(query, s->qcode, &s->qscale, &s->ny2, &s->qerror);
  s->upper = (struct ranking){malloc(k * sizeof(struct vindex_hit)), 0, k, per_label};
  s->result = (struct ranking){out, 0, k, per_label};
  s->cand_capacity = 1024;
  s->compact_at = 1024;
  s->cand = malloc(s->cand_capacity * sizeof *s->cand);
  return s->upper.heap && s->cand;
}

/* count queries (contiguous), k hits each into out[q * k ...], found[q]. */
static int search(struct vindex *ix, const float *queries, size_t count, size_t k,
                  const int64_t *exclude, size_t exclude_count, bool per_label,
                  struct vindex_hit *out, size_t *found, struct ff_error *err) {
  for (size_t q = 0; q < count; q++)
    found[q] = 0;
  for (size_t q = 0; q < count; q++) {
    int rc = check_vector(queries + q * VINDEX_DIM, "query", err);
    if (rc != FF_OK && count > 1 && err) {
      char why[FF_ERROR_MESSAGE_MAX];
      memcpy(why, err->message, sizeof why);
      return ff_fail(err, rc, "query %zu: %s", q, why);
    }
    if (rc != FF_OK)
      return rc;
  }
  if (k > VINDEX_K_MAX)
    return ff_fail(err, FF_ETOOBIG, "vindex: k %zu exceeds %d", k, VINDEX_K_MAX);
  if (count > VINDEX_BATCH_MAX)
    return ff_fail(err, FF_ETOOBIG, "vindex: %zu queries exceed %d", count, VINDEX_BATCH_MAX);
  if (exclude_count && !exclude)
    return ff_fail(err, FF_EINVAL, "vindex: exclusion list missing");
  if (k == 0 || count == 0)
    return FF_OK;

  int rc = FF_OK;
  struct search *searches = calloc(count, sizeof *searches);
  int64_t *sorted = exclude_count ? malloc(exclude_count * sizeof *sorted) : NULL;
  bool ok = searches && (!exclude_count || sorted);
  if (sorted) {
    memcpy(sorted, exclude, exclude_count * sizeof *sorted);
    qsort(sorted, exclude_count, sizeof *sorted, compare_labels);
  }
  for (size_t q = 0; ok && q < count; q++) {
    ok = search_init(&searches[q], queries + q * VINDEX_DIM, k, per_label, out + q * k);
    searches[q].exclude = sorted;
    searches[q].exclude_count = exclude_count;
  }
  if (!ok) {
    rc = ff_fail(err, FF_ENOMEM, "vindex: out of memory searching");
  } else {
    pthread_rwlock_rdlock(&ix->lock);
    if (scan_all(ix, searches, count))
      for (size_t q = 0; q < count; q++)
        rescore(ix, &searches[q]);
    else
      rc = ff_fail(err, FF_ENOMEM, "vindex: out of memory searching");
    pthread_rwlock_unlock(&ix->lock);
  }
  for (size_t q = 0; searches && q < count; q++) {
    if (rc == FF_OK) {
      qsort(out + q * k, searches[q].result.size, sizeof *out, compare_hits);
      found[q] = searches[q].result.size;
    }
    free(searches[q].cand);
    free(searches[q].upper.heap);
  }
  free(searches);
  free(sorted);
  return rc;
}

int vindex_search(struct vindex *ix, const float query[VINDEX_DIM], size_t k,
                  const int64_t *exclude, size_t exclude_count, struct vindex_hit *out,
                  size_t *found, struct ff_error *err) {
  return search(ix, query, 1, k, exclude, exclude_count, false, out, found, err);
}

int vindex_search_labels(struct vindex *ix, const float query[VINDEX_DIM], size_t k,
                         const int64_t *exclude, size_t exclude_count, struct vindex_hit *out,
                         size_t *found, struct ff_error *err) {
  return search(ix, query, 1, k, exclude, exclude_count, true, out, found, err);
}

int vindex_search_batch(struct vindex *ix, const float *queries, size_t count, size_t k,
                        bool per_label, const int64_t *exclude, size_t exclude_count,
                        struct vindex_hit *out, size_t *found, struct ff_error *err) {
  return search(ix, queries, count, k, exclude, exclude_count, per_label, out, found, err);
}
