/* Behaviour of the index against a naive exact search. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "scan.h"
#include "vindex.h"

static struct vindex *make_index(void) {
  struct vindex *ix = NULL;
  struct ff_error err = {0};
  cr_assert_eq(vindex_create(&ix, &err), FF_OK, "%s", err.message);
  return ix;
}

/* n entries: people of ~5 exemplars each, ids shuffled, a few exact
 * duplicates (same vector, other id and label) so distances tie. */
static struct entry *make_entries(struct rng *r, size_t n) {
  struct entry *e = calloc(n, sizeof *e);
  float centre[VINDEX_DIM];
  int64_t label = 0;
  for (size_t i = 0; i < n; i++) {
    if (i % 5 == 0) {
      data_person(r, centre);
      label = (int64_t)(rng_next(r) % 1000000);
    }
    e[i].id = (int64_t)(i * 7919 % 1000003) - 500000;
    e[i].label = label;
    if (i % 97 == 13)
      memcpy(e[i].v, e[i - 1].v, sizeof e[i].v);
    else
      data_exemplar(r, centre, e[i].v);
  }
  return e;
}

static void add_all(struct vindex *ix, const struct entry *e, size_t n) {
  struct ff_error err = {0};
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(vindex_add(ix, e[i].id, e[i].label, e[i].v, &err), FF_OK, "%s", err.message);
}

/* A query near a stored entry, exactly on one, or a stranger. */
static void make_query(struct rng *r, const struct entry *e, size_t n, float q[VINDEX_DIM]) {
  unsigned kind = (unsigned)(rng_next(r) % 3);
  if (kind == 0 && n) {
    memcpy(q, e[rng_next(r) % n].v, sizeof(float) * VINDEX_DIM);
  } else if (kind == 1 && n) {
    data_exemplar(r, e[rng_next(r) % n].v, q);
  } else {
    float c[VINDEX_DIM];
    data_person(r, c);
    data_exemplar(r, c, q);
  }
}

static void assert_same_hits(const struct vindex_hit *got, size_t got_n,
                             const struct vindex_hit *want, size_t want_n) {
  cr_assert_eq(got_n, want_n, "found %zu, naive found %zu", got_n, want_n);
  for (size_t i = 0; i < want_n; i++) {
    cr_assert_eq(got[i].id, want[i].id, "hit %zu: id %lld, naive %lld (d %.9g vs %.9g)", i,
                 (long long)got[i].id, (long long)want[i].id, got[i].distance, want[i].distance);
    cr_assert_eq(got[i].label, want[i].label, "hit %zu label", i);
    cr_assert_eq(got[i].distance, want[i].distance, "hit %zu distance %.9g vs %.9g", i,
                 got[i].distance, want[i].distance);
  }
}

static void check_search(struct vindex *ix, const struct entry *e, size_t n, const float *q,
                         size_t k, bool per_label, const int64_t *exclude, size_t exclude_count) {
  struct vindex_hit *got = calloc(k + 1, sizeof *got), *want = calloc(k + 1, sizeof *want);
  size_t found = 12345;
  struct ff_error err = {0};
  int rc = per_label ? vindex_search_labels(ix, q, k, exclude, exclude_count, got, &found, &err)
                     : vindex_search(ix, q, k, exclude, exclude_count, got, &found, &err);
  cr_assert_eq(rc, FF_OK, "%s", err.message);
  size_t want_n = naive_search(e, n, q, k, per_label, exclude, exclude_count, want);
  assert_same_hits(got, found, want, want_n);
  free(got);
  free(want);
}

Test(vindex, kernel_is_the_one_asked_for) {
  const char *forced = getenv("FOOTFALL_VINDEX_KERNEL");
  if (!forced)
    cr_skip_test("no kernel forced");
  if (!scan_kernel_named(forced))
    cr_skip_test("this CPU cannot run the %s kernel", forced);
  cr_assert_str_eq(vindex_kernel_name(), forced);
}

Test(vindex, distance_matches_plain_formula) {
  struct rng r = {1};
  for (int t = 0; t < 100; t++) {
    float a[VINDEX_DIM], b[VINDEX_DIM], c[VINDEX_DIM];
    data_person(&r, c);
    data_exemplar(&r, c, a);
    data_exemplar(&r, c, b);
    double s = 0;
    for (int d = 0; d < VINDEX_DIM; d++)
      s += ((double)a[d] - b[d]) * ((double)a[d] - b[d]);
    cr_assert_float_eq(vindex_distance(a, b), (float)sqrt(s), 1e-6);
    cr_assert_eq(vindex_distance(a, a), 0.0f);
  }
}

/* 20 000 entries span five storage blocks, the last one partial. */
Test(vindex, same_as_naive_search, .timeout = 120) {
  struct rng r = {42};
  size_t n = 20000;
  struct entry *e = make_entries(&r, n);
  struct vindex *ix = make_index();
  add_all(ix, e, n);
  cr_assert_eq(vindex_count(ix), n);
  const size_t ks[] = {1, 2, 10, 100};
  for (int t = 0; t < 120; t++) {
    float q[VINDEX_DIM];
    make_query(&r, e, n, q);
    check_search(ix, e, n, q, ks[t % 4], false, NULL, 0);
    check_search(ix, e, n, q, ks[t % 4], true, NULL, 0);
  }
  vindex_destroy(ix);
  free(e);
}

/* Identical vectors under several ids: ties break by id, in both modes. */
Test(vindex, ties_break_by_id) {
  struct rng r = {7};
  float c[VINDEX_DIM], v[VINDEX_DIM];
  data_person(&r, c);
  data_exemplar(&r, c, v);
  struct vindex *ix = make_index();
  struct entry e[6];
  const int64_t ids[] = {50, -3, 17, 9, 1000, 2};
  for (int i = 0; i < 6; i++) {
    e[i].id = ids[i];
    e[i].label = i % 2;
    memcpy(e[i].v, v, sizeof v);
    cr_assert_eq(vindex_add(ix, e[i].id, e[i].label, e[i].v, NULL), FF_OK);
  }
  struct vindex_hit hits[6];
  size_t found;
  cr_assert_eq(vindex_search(ix, c, 6, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 6);
  const int64_t order[] = {-3, 2, 9, 17, 50, 1000};
  for (int i = 0; i < 6; i++)
    cr_assert_eq(hits[i].id, order[i]);
  cr_assert_eq(vindex_search_labels(ix, c, 6, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 2);
  cr_assert_eq(hits[0].id, -3); /* label 1's smallest id */
  cr_assert_eq(hits[1].id, 17); /* label 0's smallest id */
  check_search(ix, e, 6, c, 3, false, NULL, 0);
  vindex_destroy(ix);
}

Test(vindex, nearest_per_label_and_runner_up) {
  struct rng r = {99};
  size_t n = 3000;
  struct entry *e = make_entries(&r, n);
  struct vindex *ix = make_index();
  add_all(ix, e, n);
  for (int t = 0; t < 50; t++) {
    float q[VINDEX_DIM];
    make_query(&r, e, n, q);
    struct vindex_hit hits[2];
    size_t found;
    cr_assert_eq(vindex_search_labels(ix, q, 2, NULL, 0, hits, &found, NULL), FF_OK);
    cr_assert_eq(found, 2);
    cr_assert_neq(hits[0].label, hits[1].label);
    cr_assert_leq(hits[0].distance, hits[1].distance);
    check_search(ix, e, n, q, 2, true, NULL, 0);
    check_search(ix, e, n, q, 7, true, NULL, 0);
  }
  vindex_destroy(ix);
  free(e);
}

Test(vindex, exclusion_skips_labels) {
  struct rng r = {5};
  size_t n = 5000;
  struct entry *e = make_entries(&r, n);
  struct vindex *ix = make_index();
  add_all(ix, e, n);
  for (int t = 0; t < 40; t++) {
    float q[VINDEX_DIM];
    make_query(&r, e, n, q);
    /* Exclude the labels of the current best three, plus one absent. */
    struct vindex_hit best[3];
    size_t found;
    cr_assert_eq(vindex_search_labels(ix, q, 3, NULL, 0, best, &found, NULL), FF_OK);
    int64_t exclude[4] = {best[2].label, 987654321, best[0].label, best[1].label};
    size_t ex_n = (size_t)(t % 4) + 1;
    struct vindex_hit hits[10];
    cr_assert_eq(vindex_search(ix, q, 10, exclude, ex_n, hits, &found, NULL), FF_OK);
    for (size_t i = 0; i < found; i++)
      for (size_t x = 0; x < ex_n; x++)
        cr_assert_neq(hits[i].label, exclude[x]);
    check_search(ix, e, n, q, 10, false, exclude, ex_n);
    check_search(ix, e, n, q, 5, true, exclude, ex_n);
  }
  /* Excluding every label leaves nothing. */
  int64_t *all = malloc(n * sizeof *all);
  for (size_t i = 0; i < n; i++)
    all[i] = e[i].label;
  struct vindex_hit hits[4];
  size_t found = 99;
  cr_assert_eq(vindex_search(ix, e[0].v, 4, all, n, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 0);
  free(all);
  vindex_destroy(ix);
  free(e);
}

Test(vindex, empty_index_and_k_beyond_count) {
  struct vindex *ix = make_index();
  float q[VINDEX_DIM] = {0};
  struct vindex_hit hits[VINDEX_K_MAX];
  size_t found = 99;
  cr_assert_eq(vindex_search(ix, q, 5, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 0);
  cr_assert_eq(vindex_search_labels(ix, q, 5, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 0);
  cr_assert_eq(vindex_count(ix), 0);

  struct rng r = {11};
  struct entry *e = make_entries(&r, 13);
  add_all(ix, e, 13);
  cr_assert_eq(vindex_search(ix, q, VINDEX_K_MAX, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 13);
  check_search(ix, e, 13, q, 50, false, NULL, 0);
  check_search(ix, e, 13, q, 50, true, NULL, 0);
  cr_assert_eq(vindex_search(ix, q, 0, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 0);
  /* The zero vector is a valid descriptor and query. */
  cr_assert_eq(vindex_add(ix, 777, 1, q, NULL), FF_OK);
  cr_assert_eq(vindex_search(ix, q, 1, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 1);
  cr_assert_eq(hits[0].id, 777);
  cr_assert_eq(hits[0].distance, 0.0f);
  vindex_destroy(ix);
  free(e);
}

Test(vindex, invalid_input_is_refused_and_changes_nothing) {
  struct vindex *ix = make_index();
  struct rng r = {3};
  float c[VINDEX_DIM], v[VINDEX_DIM];
  data_person(&r, c);
  data_exemplar(&r, c, v);
  struct ff_error err = {0};
  cr_assert_eq(vindex_add(ix, 1, 10, v, &err), FF_OK);
  const float bad[] = {NAN, INFINITY, -INFINITY, VINDEX_COMPONENT_MAX * 2};
  for (int b = 0; b < 4; b++) {
    float w[VINDEX_DIM];
    memcpy(w, v, sizeof w);
    w[(b * 37) % VINDEX_DIM] = bad[b];
    err.status = 0;
    cr_assert_eq(vindex_add(ix, 2, 10, w, &err), FF_EINVAL);
    cr_assert_eq(err.status, FF_EINVAL);
    cr_assert_neq(err.message[0], '\0');
    struct vindex_hit hits[1];
    size_t found = 99;
    cr_assert_eq(vindex_search(ix, w, 1, NULL, 0, hits, &found, NULL), FF_EINVAL);
    cr_assert_eq(found, 0);
    cr_assert_eq(vindex_search_labels(ix, w, 1, NULL, 0, hits, &found, NULL), FF_EINVAL);
  }
  /* Duplicate id, even with another label and vector. */
  cr_assert_eq(vindex_add(ix, 1, 11, c, &err), FF_ECONFLICT);
  cr_assert_eq(err.status, FF_ECONFLICT);
  cr_assert_eq(vindex_count(ix), 1);
  int64_t label;
  float got[VINDEX_DIM];
  cr_assert_eq(vindex_get(ix, 1, &label, got, NULL), FF_OK);
  cr_assert_eq(label, 10);
  cr_assert_arr_eq(got, v, sizeof got);
  cr_assert_eq(vindex_get(ix, 2, NULL, NULL, &err), FF_ENOTFOUND);
  cr_assert_eq(vindex_remove(ix, 2, &err), FF_ENOTFOUND);
  struct vindex_hit hits[2];
  size_t found;
  cr_assert_eq(vindex_search(ix, v, VINDEX_K_MAX + 1, NULL, 0, hits, &found, &err), FF_ETOOBIG);
  int64_t *no_list = NULL;
  cr_assert_eq(vindex_search(ix, v, 1, no_list, 3, hits, &found, &err), FF_EINVAL);
  cr_assert_eq(vindex_search(ix, v, 2, NULL, 0, hits, &found, NULL), FF_OK);
  cr_assert_eq(found, 1);
  cr_assert_eq(hits[0].id, 1);
  cr_assert_eq(hits[0].distance, 0.0f);
  vindex_destroy(ix);
}

/* Random adds, removes, label removals and merges, checked against a model
 * after every few operations; the index grows past two storage blocks. */
#define LABELS 400
Test(vindex, random_operations_match_a_model, .timeout = 120) {
  struct rng r = {2024};
  size_t cap = 12000, n = 0;
  struct entry *model = calloc(cap, sizeof *model);
  struct vindex *ix = make_index();
  int64_t next_id = 1;
  float(*centres)[VINDEX_DIM] = malloc(LABELS * sizeof *centres);
  for (int p = 0; p < LABELS; p++)
    data_person(&r, centres[p]);
  struct ff_error err = {0};
  for (int step = 0; step < 24000; step++) {
    unsigned op = (unsigned)(rng_next(&r) % 100);
    if (op < 70 && n < cap) {
      struct entry *e = &model[n];
      int p = (int)(rng_next(&r) % LABELS);
      e->id = next_id++;
      e->label = p;
      data_exemplar(&r, centres[p], e->v);
      cr_assert_eq(vindex_add(ix, e->id, e->label, e->v, &err), FF_OK, "%s", err.message);
      n++;
    } else if (op < 90 && n) {
      size_t i = rng_next(&r) % n;
      cr_assert_eq(vindex_remove(ix, model[i].id, &err), FF_OK);
      model[i] = model[--n];
    } else if (op < 91) {
      int64_t label = (int64_t)(rng_next(&r) % LABELS);
      size_t removed = 0, want = 0;
      for (size_t i = n; i-- > 0;)
        if (model[i].label == label) {
          model[i] = model[--n];
          want++;
        }
      cr_assert_eq(vindex_remove_label(ix, label, &removed, &err), FF_OK);
      cr_assert_eq(removed, want);
    } else {
      int64_t from = (int64_t)(rng_next(&r) % LABELS), to = (int64_t)(rng_next(&r) % LABELS);
      size_t changed = 0, want = 0;
      for (size_t i = 0; i < n; i++)
        if (model[i].label == from) {
          model[i].label = to;
          want++;
        }
      cr_assert_eq(vindex_relabel(ix, from, to, &changed, &err), FF_OK);
      cr_assert_eq(changed, want);
    }
    cr_assert_eq(vindex_count(ix), n);
    if (step % 1000 == 0) {
      for (size_t i = 0; i < n; i++) {
        int64_t label;
        float v[VINDEX_DIM];
        cr_assert_eq(vindex_get(ix, model[i].id, &label, v, NULL), FF_OK);
        cr_assert_eq(label, model[i].label);
        cr_assert_arr_eq(v, model[i].v, sizeof v);
      }
      for (int t = 0; t < 5; t++) {
        float q[VINDEX_DIM];
        make_query(&r, model, n, q);
        check_search(ix, model, n, q, 8, false, NULL, 0);
        check_search(ix, model, n, q, 4, true, NULL, 0);
      }
    }
  }
  /* Removed ids are really gone and can be added again. */
  cr_assert_eq(vindex_get(ix, next_id, NULL, NULL, NULL), FF_ENOTFOUND);
  cr_assert_gt(n, 2 * 4096, "the sequence should span several storage blocks (%zu)", n);
  vindex_destroy(ix);
  free(centres);
  free(model);
}

Test(vindex, bulk_growth_and_shrink_release_memory) {
  struct vindex *ix = make_index();
  size_t empty = vindex_memory(ix);
  struct rng r = {8};
  size_t n = 10000;
  struct entry *e = make_entries(&r, n);
  cr_assert_eq(vindex_reserve(ix, n, NULL), FF_OK);
  add_all(ix, e, n);
  size_t full = vindex_memory(ix);
  /* At least the float vectors and the codes, at most twice that plus blocks. */
  cr_assert_geq(full, n * VINDEX_DIM * 5);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(vindex_remove(ix, e[i].id, NULL), FF_OK);
  cr_assert_eq(vindex_count(ix), 0);
  cr_assert_lt(vindex_memory(ix), full / 2);
  add_all(ix, e, n);
  vindex_clear(ix);
  cr_assert_eq(vindex_count(ix), 0);
  cr_assert_eq(vindex_memory(ix), empty);
  add_all(ix, e, 100);
  check_search(ix, e, 100, e[3].v, 5, false, NULL, 0);
  vindex_destroy(ix);
  free(e);
}

Test(vindex, registry_gets_or_creates_per_tenant) {
  struct vindex_registry *reg = NULL;
  cr_assert_eq(vindex_registry_create(&reg, NULL), FF_OK);
  cr_assert_null(vindex_registry_find(reg, 1));
  struct vindex *a = NULL, *b = NULL, *a2 = NULL;
  cr_assert_eq(vindex_registry_get(reg, 1, &a, NULL), FF_OK);
  cr_assert_eq(vindex_registry_get(reg, -7, &b, NULL), FF_OK);
  cr_assert_eq(vindex_registry_get(reg, 1, &a2, NULL), FF_OK);
  cr_assert_eq(a, a2);
  cr_assert_neq(a, b);
  cr_assert_eq(vindex_registry_find(reg, -7), b);
  cr_assert_eq(vindex_registry_count(reg), 2);
  float v[VINDEX_DIM] = {0.5f};
  cr_assert_eq(vindex_add(a, 1, 1, v, NULL), FF_OK);
  cr_assert_eq(vindex_count(b), 0);
  cr_assert_geq(vindex_registry_memory(reg), vindex_memory(a));
  for (int64_t t = 100; t < 200; t++) {
    struct vindex *x;
    cr_assert_eq(vindex_registry_get(reg, t, &x, NULL), FF_OK);
  }
  cr_assert_eq(vindex_registry_find(reg, 1), a);
  cr_assert_eq(vindex_registry_count(reg), 102);
  vindex_registry_destroy(reg);
}

/* A batch answers each query exactly as a single search would. */
Test(vindex, batch_equals_single_searches, .timeout = 120) {
  struct rng r = {4242};
  size_t n = 9000, count = 40, k = 10;
  struct entry *e = make_entries(&r, n);
  struct vindex *ix = make_index();
  add_all(ix, e, n);
  float *queries = malloc(count * VINDEX_DIM * sizeof *queries);
  for (size_t q = 0; q < count; q++)
    make_query(&r, e, n, queries + q * VINDEX_DIM);
  struct vindex_hit *hits = calloc(count * k, sizeof *hits), want[10];
  size_t *found = calloc(count, sizeof *found);
  int64_t exclude[2] = {e[0].label, e[n / 2].label};
  for (int mode = 0; mode < 4; mode++) {
    bool per_label = mode & 1;
    size_t ex_n = mode >= 2 ? 2 : 0;
    struct ff_error err = {0};
    cr_assert_eq(
        vindex_search_batch(ix, queries, count, k, per_label, exclude, ex_n, hits, found, &err),
        FF_OK, "%s", err.message);
    for (size_t q = 0; q < count; q++) {
      size_t want_n =
          naive_search(e, n, queries + q * VINDEX_DIM, k, per_label, exclude, ex_n, want);
      assert_same_hits(hits + q * k, found[q], want, want_n);
    }
  }
  /* One bad query fails the batch, names it, and finds nothing. */
  queries[7 * VINDEX_DIM + 3] = NAN;
  struct ff_error err = {0};
  cr_assert_eq(vindex_search_batch(ix, queries, count, k, false, NULL, 0, hits, found, &err),
               FF_EINVAL);
  cr_assert(strstr(err.message, "query 7") != NULL, "%s", err.message);
  for (size_t q = 0; q < count; q++)
    cr_assert_eq(found[q], 0);
  float *many = calloc((VINDEX_BATCH_MAX + 1) * VINDEX_DIM, sizeof *many);
  size_t *many_found = calloc(VINDEX_BATCH_MAX + 1, sizeof *many_found);
  cr_assert_eq(vindex_search_batch(ix, many, VINDEX_BATCH_MAX + 1, 1, false, NULL, 0, hits,
                                   many_found, &err),
               FF_ETOOBIG);
  free(many);
  free(many_found);
  cr_assert_eq(vindex_search_batch(ix, queries, 0, k, false, NULL, 0, hits, found, &err), FF_OK);
  queries[7 * VINDEX_DIM + 3] = 0.0f;
  free(queries);
  free(hits);
  free(found);
  vindex_destroy(ix);
  free(e);
}

/* Coarse codes (one large component per vector makes the int8 step large)
 * widen the error bounds: many candidates, still the exact answer. */
Test(vindex, coarse_codes_still_exact) {
  struct rng r = {1234};
  size_t n = 3000;
  struct entry *e = make_entries(&r, n);
  for (size_t i = 0; i < n; i++)
    if (i % 3 == 0)
      e[i].v[i % VINDEX_DIM] = (i % 2 ? 40.0f : -40.0f) + (float)rng_uniform(&r);
  struct vindex *ix = make_index();
  add_all(ix, e, n);
  for (int t = 0; t < 60; t++) {
    float q[VINDEX_DIM];
    make_query(&r, e, n, q);
    check_search(ix, e, n, q, 1 + (size_t)t % 16, t % 2, NULL, 0);
  }
  vindex_destroy(ix);
  free(e);
}

/* The worst case of the coding bound, built on purpose: the query lies on the
 * line from a stored vector's code through the vector itself, so its true
 * distance is exactly the coded distance minus the coding error; a decoy whose
 * code is exact sits 5 % of that error further away. Any weaker lower bound
 * (by 10 %, in the kernel's filter or in the exact check) prunes the true
 * nearest and returns the decoy. */
Test(vindex, worst_case_coding_error_is_respected) {
  struct rng r = {99991};
  int built = 0;
  for (int trial = 0; trial < 40; trial++) {
    float c[VINDEX_DIM], x[VINDEX_DIM], b[VINDEX_DIM], y[VINDEX_DIM];
    data_person(&r, c);
    data_exemplar(&r, c, x);
    int8_t code[VINDEX_DIM];
    float norm2, error;
    float scale = scan_code_vector(x, code, &norm2, &error);
    double xc[VINDEX_DIM], res[VINDEX_DIM], e = 0;
    for (int d = 0; d < VINDEX_DIM; d++) {
      xc[d] = (double)scale * code[d];
      res[d] = x[d] - xc[d];
      e += res[d] * res[d];
    }
    e = sqrt(e);
    /* Decoy on the grid of step 2^-8 (exact int8 code: one component at
     * +-127 steps fixes the scale), past x along the residual. */
    int flat = 0;
    for (int d = 1; d < VINDEX_DIM; d++)
      if (fabs(res[d]) < fabs(res[flat]))
        flat = d;
    /* Sideways by 0.4 too, so the crossing is at a face-like distance (~0.8). */
    double side[VINDEX_DIM], along = 0, len = 0;
    for (int d = 0; d < VINDEX_DIM; d++) {
      side[d] = rng_normal(&r);
      along += side[d] * res[d] / e;
    }
    for (int d = 0; d < VINDEX_DIM; d++) {
      side[d] -= along * res[d] / e;
      len += side[d] * side[d];
    }
    for (int d = 0; d < VINDEX_DIM; d++) {
      long q = lround((xc[d] + (e + 0.1) * res[d] / e + 0.4 * side[d] / sqrt(len)) * 256.0);
      q = q > 126 ? 126 : q < -126 ? -126 : q;
      b[d] = (float)q / 256.0f;
    }
    b[flat] = 127.0f / 256.0f;
    int8_t bcode[VINDEX_DIM];
    float bnorm2, berror;
    scan_code_vector(b, bcode, &bnorm2, &berror);
    cr_assert_eq(berror, 0.0f, "the decoy's code should be exact");
    /* f(a) = |xc + a res - b| - (a - 1) e decreases in a; find f = 0.05 e. */
    double lo = 1.0, hi = 1000.0;
    for (int it = 0; it < 200; it++) {
      double mid = (lo + hi) / 2, s = 0;
      for (int d = 0; d < VINDEX_DIM; d++) {
        double t = xc[d] + mid * res[d] - b[d];
        s += t * t;
      }
      if (sqrt(s) - (mid - 1) * e > 0.05 * e)
        lo = mid;
      else
        hi = mid;
    }
    if (lo < 1.5 || hi > 999.0)
      continue; /* this geometry has no crossing: try another vector */
    for (int d = 0; d < VINDEX_DIM; d++)
      y[d] = (float)(xc[d] + lo * res[d]);
    float da = vindex_distance(y, x), db = vindex_distance(y, b);
    if (!(da < db))
      continue;
    built++;
    struct vindex *ix = make_index();
    /* The decoy first and a chunk of far fillers between, so that the kernel's
     * filter already holds the decoy's bound when it meets the true nearest. */
    cr_assert_eq(vindex_add(ix, 2, 20, b, NULL), FF_OK);
    for (int i = 0; i < 300; i++) {
      float far[VINDEX_DIM];
      for (int d = 0; d < VINDEX_DIM; d++)
        far[d] = x[d] + 3.0f + (float)i;
      cr_assert_eq(vindex_add(ix, 100 + i, 100 + i, far, NULL), FF_OK);
    }
    cr_assert_eq(vindex_add(ix, 1, 10, x, NULL), FF_OK);
    struct vindex_hit hits[2];
    size_t found;
    cr_assert_eq(vindex_search(ix, y, 1, NULL, 0, hits, &found, NULL), FF_OK);
    cr_assert_eq(hits[0].id, 1, "nearest at %.7f, decoy at %.7f, coding error %.7f", da, db, e);
    cr_assert_gt(da, 0.3f, "the worst case should sit at a face-like distance");
    cr_assert_eq(hits[0].distance, da);
    cr_assert_eq(vindex_search_labels(ix, y, 1, NULL, 0, hits, &found, NULL), FF_OK);
    cr_assert_eq(hits[0].id, 1);
    vindex_destroy(ix);
  }
  cr_assert_geq(built, 20, "only %d worst cases could be built", built);
}
