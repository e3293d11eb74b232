/* bench_vindex — search latency of vindex at 100 k and 1 M descriptors, side
 * by side with FAISS IndexFlatL2 (one thread) on the same vectors and queries,
 * with the nearest neighbours of both compared. Prints Markdown rows; run.sh
 * wraps them into a section of docs/BENCHMARKS.md.
 *
 * Data: face-api-like clusters. Every person has a centre (a shared mean of
 * norm ~1.2 plus a personal direction of length 0.7: centres ~1.0 apart,
 * norm ~1.4) and 10 exemplars (centre plus noise of norm ~0.3: same-person
 * pairs ~0.4 apart), as in a gallery of 10 exemplars per customer. Queries:
 * half a new exemplar of a known person, half a stranger (a new customer). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scan_alternatives.h"
#include "vindex.h"
#ifdef FOOTFALL_BENCH_FAISS
#include "faiss_flat.h"
#endif

#define DIM VINDEX_DIM
#define EXEMPLARS_PER_PERSON 10
/* Queries per batch call: the events of one worker upload. */
#define BATCH 50

struct rng {
  uint64_t state;
};

static uint64_t rng_next(struct rng *r) {
  uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* n standard normals (Box-Muller, both outputs). */
static void normals(struct rng *r, float *out, size_t n) {
  for (size_t i = 0; i < n; i += 2) {
    double u = ((double)(rng_next(r) >> 11) + 1.0) * 0x1p-53;
    double v = (double)(rng_next(r) >> 11) * 0x1p-53;
    double m = sqrt(-2.0 * log(u));
    out[i] = (float)(m * cos(2.0 * M_PI * v));
    if (i + 1 < n)
      out[i + 1] = (float)(m * sin(2.0 * M_PI * v));
  }
}

static float mean_vector[DIM];

static void person(struct rng *r, float *centre) {
  float dir[DIM];
  normals(r, dir, DIM);
  double s = 0;
  for (int d = 0; d < DIM; d++)
    s += (double)dir[d] * dir[d];
  for (int d = 0; d < DIM; d++)
    centre[d] = mean_vector[d] + (float)(dir[d] * 0.7 / sqrt(s));
}

static void exemplar(struct rng *r, const float *centre, float *out) {
  float noise[DIM];
  normals(r, noise, DIM);
  for (int d = 0; d < DIM; d++)
    out[d] = centre[d] + noise[d] * (float)(0.3 / sqrt(DIM));
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* This thread's CPU time: unlike wall time, it leaves out the moments
 * another process held the core (the machine is shared). */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Timing of one call: wall and CPU. */
#define TIMED(i, call)                                                                             \
  do {                                                                                             \
    double w_ = now(), c_ = cpu_now();                                                             \
    call;                                                                                          \
    cpu[i] = cpu_now() - c_;                                                                       \
    lat[i] = now() - w_;                                                                           \
  } while (0)

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct stats {
  double p50, p99, mean, cpu_p99;
};

/* Wall and CPU latencies in seconds -> milliseconds. Sorts both. */
static struct stats summarise(double *lat, double *cpu, size_t n) {
  qsort(lat, n, sizeof *lat, compare_doubles);
  qsort(cpu, n, sizeof *cpu, compare_doubles);
  double sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += lat[i];
  size_t i99 = (size_t)ceil(0.99 * (double)n) - 1;
  return (struct stats){lat[(n - 1) / 2] * 1e3, lat[i99] * 1e3, sum / (double)n * 1e3,
                        cpu[i99] * 1e3};
}

static void row(const char *what, size_t n, const char *build, struct stats s, const char *memory,
                const char *note) {
  printf("| %s | %zu | %s | %.2f | %.2f | %.2f | %.2f | %s | %s |\n", what, n, build, s.p50, s.p99,
         s.mean, s.cpu_p99, memory, note);
}

struct options {
  size_t sizes[4];
  int size_count;
  size_t queries;
  size_t k;
  bool faiss, alternatives;
};

/* Checks vindex against a naive exact scan on a few queries. */
static size_t check_naive(struct vindex *ix, const float *x, size_t n, const float *queries,
                          size_t count, size_t k) {
  size_t agree = 0;
  struct vindex_hit *hits = malloc(k * sizeof *hits);
  float *best = malloc(k * sizeof *best);
  int64_t *best_id = malloc(k * sizeof *best_id);
  for (size_t qi = 0; qi < count; qi++) {
    const float *q = queries + qi * DIM;
    size_t found;
    vindex_search(ix, q, k, NULL, 0, hits, &found, NULL);
    for (size_t j = 0; j < k; j++)
      best[j] = INFINITY, best_id[j] = -1;
    for (size_t i = 0; i < n; i++) {
      float d = vindex_distance(q, x + i * DIM);
      if (d > best[k - 1] || (d == best[k - 1] && (int64_t)i > best_id[k - 1]))
        continue;
      size_t j = k - 1;
      while (j > 0 && (best[j - 1] > d || (best[j - 1] == d && best_id[j - 1] > (int64_t)i))) {
        best[j] = best[j - 1];
        best_id[j] = best_id[j - 1];
        j--;
      }
      best[j] = d;
      best_id[j] = (int64_t)i;
    }
    bool same = found == k;
    for (size_t j = 0; same && j < k; j++)
      same = hits[j].id == best_id[j] && hits[j].distance == best[j];
    agree += same;
  }
  free(hits);
  free(best);
  free(best_id);
  return agree;
}

static int run_size(const struct options *o, size_t n, struct rng *r) {
  size_t q_count = o->queries, k = o->k;
  float *x = malloc(n * DIM * sizeof *x);
  float *queries = malloc(q_count * DIM * sizeof *queries);
  int64_t *labels = malloc(n * sizeof *labels);
  double *lat = malloc(q_count * sizeof *lat), *cpu = malloc(q_count * sizeof *cpu);
  struct vindex_hit *hits = malloc(q_count * k * sizeof *hits);
  if (!x || !queries || !labels || !lat || !cpu || !hits) {
    fprintf(stderr, "bench: out of memory\n");
    return 1;
  }
  size_t persons = n / EXEMPLARS_PER_PERSON;
  float *centres = malloc(persons * DIM * sizeof *centres);
  for (size_t p = 0; p < persons; p++) {
    person(r, centres + p * DIM);
    for (size_t e = 0; e < EXEMPLARS_PER_PERSON; e++) {
      size_t i = p * EXEMPLARS_PER_PERSON + e;
      exemplar(r, centres + p * DIM, x + i * DIM);
      labels[i] = (int64_t)p;
    }
  }
  for (size_t qi = 0; qi < q_count; qi++) {
    float stranger[DIM];
    const float *c = centres + (rng_next(r) % persons) * DIM;
    if (qi % 2) {
      person(r, stranger);
      c = stranger;
    }
    exemplar(r, c, queries + qi * DIM);
  }
  free(centres);

  /* vindex: build, then searches one at a time. */
  struct vindex *ix;
  struct ff_error err = {0};
  double t0 = now();
  if (vindex_create(&ix, &err) != FF_OK || vindex_reserve(ix, n, &err) != FF_OK)
    return fprintf(stderr, "bench: %s\n", err.message), 1;
  for (size_t i = 0; i < n; i++)
    if (vindex_add(ix, (int64_t)i, labels[i], x + i * DIM, &err) != FF_OK)
      return fprintf(stderr, "bench: %s\n", err.message), 1;
  double build = now() - t0;
  double per_million = (double)vindex_memory(ix) / (double)n * 1e6 / (1024.0 * 1024.0);
  size_t found;
  int failed_batch = 0;
  for (size_t qi = 0; qi < 5 && qi < q_count; qi++)
    vindex_search(ix, queries + qi * DIM, k, NULL, 0, hits, &found, NULL);
  for (size_t qi = 0; qi < q_count; qi++) {
    TIMED(qi, vindex_search(ix, queries + qi * DIM, k, NULL, 0, hits + qi * k, &found, NULL));
  }
  char build_s[32], memory_s[32], note[160];
  snprintf(build_s, sizeof build_s, "%.2f", build);
  snprintf(memory_s, sizeof memory_s, "%.0f", per_million);
  snprintf(note, sizeof note, "int8 scan (%s) + exact float32 re-scoring, k=%zu",
           vindex_kernel_name(), k);
  struct stats vs = summarise(lat, cpu, q_count);
  row("vindex `vindex_search`", n, build_s, vs, memory_s, note);
  for (size_t qi = 0; qi < q_count; qi++) {
    struct vindex_hit two[2];
    TIMED(qi, vindex_search_labels(ix, queries + qi * DIM, 2, NULL, 0, two, &found, NULL));
  }
  row("vindex `vindex_search_labels`", n, "", summarise(lat, cpu, q_count), "",
      "best and runner-up customer, k=2");

  /* Batches of BATCH queries (an event batch): same answers, one pass. */
  size_t calls = q_count / BATCH;
  struct vindex_hit *batch_hits = malloc(BATCH * k * sizeof *batch_hits);
  size_t batch_found[BATCH];
  bool batch_same = true;
  for (size_t c = 0; c < calls; c++) {
    TIMED(c, vindex_search_batch(ix, queries + c * BATCH * DIM, BATCH, k, false, NULL, 0,
                                 batch_hits, batch_found, NULL));
    for (size_t j = 0; j < BATCH * k; j++)
      batch_same = batch_same && batch_hits[j].id == hits[c * BATCH * k + j].id &&
                   batch_hits[j].distance == hits[c * BATCH * k + j].distance;
  }
  free(batch_hits);
  failed_batch = !batch_same;
  struct stats bs = {0};
  if (calls) {
    bs = summarise(lat, cpu, calls);
    snprintf(note, sizeof note,
             "%d queries per call: **%.2f ms per query**; answers identical to single searches: %s",
             BATCH, bs.mean / BATCH, batch_same ? "yes" : "NO");
    row("vindex `vindex_search_batch` (per call)", n, "", bs, "", note);
  }

  if (o->alternatives && alt_supported()) {
    size_t alt_q = q_count < 50 ? q_count : 50;
    float *dist = malloc(k * sizeof *dist);
    int64_t *pos = malloc(k * sizeof *pos);
    for (size_t qi = 0; qi < alt_q; qi++) {
      TIMED(qi, alt_scan_f32(x, n, queries + qi * DIM, k, dist, pos));
    }
    snprintf(memory_s, sizeof memory_s, "%.0f", DIM * 4.0 * 1e6 / (1024.0 * 1024.0));
    snprintf(note, sizeof note, "design alternative: float32 AVX2 scan, %zu queries", alt_q);
    row("float32 scan", n, "", summarise(lat, cpu, alt_q), memory_s, note);
    uint16_t *h = malloc(n * DIM * sizeof *h);
    alt_to_f16(x, n, h);
    for (size_t qi = 0; qi < alt_q; qi++) {
      TIMED(qi, alt_scan_f16(h, n, queries + qi * DIM, k, dist, pos));
    }
    snprintf(memory_s, sizeof memory_s, "%.0f", DIM * 2.0 * 1e6 / (1024.0 * 1024.0));
    snprintf(note, sizeof note,
             "design alternative: float16 scan only (would still need re-scoring), %zu queries",
             alt_q);
    row("float16 scan", n, "", summarise(lat, cpu, alt_q), memory_s, note);
    free(h);
    free(dist);
    free(pos);
  }

  /* Writer-side costs: what a search waits for while an update holds the lock. */
  double t_relabel = now();
  vindex_relabel(ix, -1, -2, NULL, NULL); /* no such label: a full pass */
  t_relabel = now() - t_relabel;
  size_t removed = 0;
  double t_erase = now();
  vindex_remove_label(ix, labels[n / 2], &removed, NULL);
  t_erase = now() - t_erase;
  double t_remove = now();
  for (size_t i = 0; i < 1000; i++)
    vindex_remove(ix, (int64_t)i, NULL);
  t_remove = (now() - t_remove) / 1000;
  double t_add = now();
  for (size_t i = 0; i < 1000; i++)
    vindex_add(ix, (int64_t)i, labels[i], x + i * DIM, NULL);
  t_add = (now() - t_add) / 1000;
  for (size_t i = 0; i < n; i++) /* restore the erased label for the checks below */
    if (labels[i] == labels[n / 2])
      vindex_add(ix, (int64_t)i, labels[i], x + i * DIM, NULL);
  printf("| vindex updates | %zu | | | | | | | add %.2f µs, remove %.2f µs, relabel (full pass) "
         "%.2f ms, remove_label (%zu exemplars) %.2f ms |\n",
         n, t_add * 1e6, t_remove * 1e6, t_relabel * 1e3, removed, t_erase * 1e3);

  size_t naive_q = q_count < 10 ? q_count : 10;
  size_t naive_ok = check_naive(ix, x, n, queries, naive_q, k);
  int failed = naive_ok != naive_q || failed_batch;

#ifdef FOOTFALL_BENCH_FAISS
  if (o->faiss) {
    faiss_flat_single_thread();
    struct faiss_flat *f = faiss_flat_create(DIM);
    if (!f)
      return 1;
    t0 = now();
    if (faiss_flat_add(f, n, x) != 0)
      return 1;
    double fbuild = now() - t0;
    float *fd = malloc(q_count * k * sizeof *fd);
    int64_t *fi = malloc(q_count * k * sizeof *fi);
    for (size_t qi = 0; qi < 5 && qi < q_count; qi++)
      faiss_flat_search(f, 1, queries + qi * DIM, k, fd, fi);
    for (size_t qi = 0; qi < q_count; qi++) {
      TIMED(qi, faiss_flat_search(f, 1, queries + qi * DIM, k, fd + qi * k, fi + qi * k));
    }
    struct stats fs = summarise(lat, cpu, q_count);
    snprintf(build_s, sizeof build_s, "%.2f", fbuild);
    snprintf(memory_s, sizeof memory_s, "%.0f",
             (double)faiss_flat_memory(f) / (double)n * 1e6 / (1024.0 * 1024.0));
    snprintf(note, sizeof note, "FAISS %s, 1 thread, one query per call", faiss_flat_version());
    row("FAISS `IndexFlatL2`", n, build_s, fs, memory_s, note);

    /* Same nearest neighbours? A differing position must be a float32 tie
     * (FAISS computes squared distances in float32 its own way). */
    size_t same_top1 = 0, same_all = 0, explained = 0;
    for (size_t qi = 0; qi < q_count; qi++) {
      const struct vindex_hit *h = hits + qi * k;
      same_top1 += h[0].id == fi[qi * k];
      bool all = true, ties = true;
      for (size_t j = 0; j < k; j++) {
        if (h[j].id == fi[qi * k + j])
          continue;
        all = false;
        float fdist = sqrtf(fmaxf(fd[qi * k + j], 0.0f));
        ties = ties && fabsf(fdist - h[j].distance) <= 1e-5f * (1.0f + h[j].distance);
      }
      same_all += all;
      explained += !all && ties;
    }
    failed |= same_top1 + explained < q_count || same_all + explained < q_count;

    for (size_t c = 0; c < calls; c++)
      TIMED(c, faiss_flat_search(f, BATCH, queries + c * BATCH * DIM, k, fd, fi));
    if (calls) {
      struct stats fbs = summarise(lat, cpu, calls);
      snprintf(note, sizeof note,
               "%d queries per call (BLAS): **%.2f ms per query**; FAISS / vindex batch = %.1f×",
               BATCH, fbs.mean / BATCH, fbs.mean / bs.mean);
      row("FAISS `IndexFlatL2`, batched (per call)", n, "", fbs, "", note);
    }
    printf("\nAt %zu vectors: FAISS p50 / vindex p50 = **%.1f×**, FAISS p99 / vindex p99 = "
           "**%.1f×**. Same nearest neighbour as FAISS in %zu/%zu queries, same top-%zu in "
           "%zu/%zu (differences that are float32 ties: %zu). vindex equal to a naive exact "
           "scan (ids and distances) in %zu/%zu queries checked.\n\n",
           n, fs.p50 / vs.p50, fs.p99 / vs.p99, same_top1, q_count, k, same_all, q_count, explained,
           naive_ok, naive_q);
    free(fd);
    free(fi);
    faiss_flat_free(f);
  } else
#endif
  {
    printf("\nAt %zu vectors: vindex equal to a naive exact scan (ids and distances) in %zu/%zu "
           "queries checked.%s\n\n",
           n, naive_ok, naive_q,
#ifdef FOOTFALL_BENCH_FAISS
           ""
#else
           " No FAISS comparison: this build did not find libfaiss-dev (FAISS's CMake package "
           "and OpenMP) at configure time."
#endif
    );
  }
  vindex_destroy(ix);
  free(x);
  free(queries);
  free(labels);
  free(lat);
  free(cpu);
  free(hits);
  return failed;
}

static void usage(void) {
  fprintf(stderr, "usage: bench_vindex [--sizes N[,N...]] [--queries N] [--k N] [--no-faiss] "
                  "[--no-alternatives]\n");
}

int main(int argc, char **argv) {
  struct options o = {{100000, 1000000}, 2, 500, 10, true, true};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
      o.size_count = 0;
      for (char *s = strtok(argv[++i], ","); s && o.size_count < 4; s = strtok(NULL, ","))
        o.sizes[o.size_count++] = strtoull(s, NULL, 10);
    } else if (strcmp(argv[i], "--queries") == 0 && i + 1 < argc) {
      o.queries = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--k") == 0 && i + 1 < argc) {
      o.k = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--no-faiss") == 0) {
      o.faiss = false;
    } else if (strcmp(argv[i], "--no-alternatives") == 0) {
      o.alternatives = false;
    } else {
      usage();
      return 2;
    }
  }
  if (o.queries < 1 || o.k < 1 || o.k > VINDEX_K_MAX) {
    usage();
    return 2;
  }
  struct rng mean_rng = {12345};
  normals(&mean_rng, mean_vector, DIM);
  for (int d = 0; d < DIM; d++)
    mean_vector[d] *= (float)(1.2 / sqrt(DIM));
  printf("| index | vectors | build (s) | search p50 (ms) | p99 (ms) | mean (ms) | CPU-time p99 "
         "(ms) | memory per 1 M (MiB) | notes |\n|---|---|---|---|---|---|---|---|---|\n");
  int failed = 0;
  struct rng r = {20261130};
  for (int s = 0; s < o.size_count; s++)
    failed |= run_size(&o, o.sizes[s], &r);
  if (failed)
    fprintf(stderr, "bench: results differ from exact search (see the summary lines)\n");
  return failed;
}
