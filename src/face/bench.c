/* bench.c — `footfall face bench`: one thread, medians after warm-up.
 *
 * Figures: SSD and Tiny per picture (pad + resize from the full image, net,
 * decoding, NMS), landmarks / descriptor / age-gender per face (on the SSD
 * faces, each call including its crop + resize), the full chain per picture,
 * achieved GFLOP/s of the descriptor and SSD nets (MAC counts of
 * face-models.md 2.6) against the core's FMA peak measured here, and the
 * resident memory with all models loaded.
 */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_internal.h"
#include "kernels.h"

#define SSD_GMAC 3.143
#define RECOGNITION_GMAC 0.271
#define MAX_SAMPLES 4096

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

struct samples {
  double v[MAX_SAMPLES];
  int n;
};

static void add(struct samples *s, double ms) {
  if (s->n < MAX_SAMPLES)
    s->v[s->n++] = ms;
}

static double median(struct samples *s) {
  if (!s->n)
    return 0;
  qsort(s->v, (size_t)s->n, sizeof(double), cmp_double);
  return s->n % 2 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
}

/* kB from /proc/self/status ("VmRSS:" or "VmHWM:"). */
static long proc_status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f)
    return -1;
  char line[256];
  long kb = -1;
  size_t klen = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, klen)) {
      kb = atol(line + klen);
      break;
    }
  fclose(f);
  return kb;
}

/* Peak single-core FMA throughput: 12 independent 8-wide accumulators hide
 * the FMA latency on two pipes. GFLOP/s (an FMA counts 2). */
static double fma_peak_avx2(void) {
  __m256 acc[12];
  for (int i = 0; i < 12; i++)
    acc[i] = _mm256_set1_ps((float)i * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  /* many short repetitions, best kept: the machine is shared, and a quiet
   * 20 ms window is what the core can really do */
  long iters = 1000000;
  double best = 0;
  for (int rep = 0; rep < 40; rep++) {
    double t0 = now_ms();
    for (long k = 0; k < iters; k++)
      for (int i = 0; i < 12; i++)
        acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    double ms = now_ms() - t0;
    double gflops = 12.0 * 8 * 2 * iters / (ms * 1e6);
    if (gflops > best)
      best = gflops;
  }
  float sink[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; i++)
    s = _mm256_add_ps(s, acc[i]);
  _mm256_storeu_ps(sink, s);
  if (sink[0] == 12345.0f) /* keep the loop alive */
    printf(" ");
  return best;
}

/* The same with 16-wide FMAs, where the CPU has AVX-512: on cores with full
 * 512-bit FMA units this is the real peak. */
__attribute__((target("avx512f"))) static double fma_peak_avx512(void) {
  __m512 acc[16];
  for (int i = 0; i < 16; i++)
    acc[i] = _mm512_set1_ps((float)i * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  long iters = 1000000;
  double best = 0;
  for (int rep = 0; rep < 40; rep++) {
    double t0 = now_ms();
    for (long k = 0; k < iters; k++)
      for (int i = 0; i < 16; i++)
        acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    double ms = now_ms() - t0;
    double gflops = 16.0 * 16 * 2 * iters / (ms * 1e6);
    if (gflops > best)
      best = gflops;
  }
  float sink[16];
  __m512 s = acc[0];
  for (int i = 1; i < 16; i++)
    s = _mm512_add_ps(s, acc[i]);
  _mm512_storeu_ps(sink, s);
  if (sink[0] == 12345.0f)
    printf(" ");
  return best;
}

/* The core's FMA peak: the widest vector FMA the CPU has. */
static void fma_peaks(double *avx2, double *widest) {
  *avx2 = fma_peak_avx2();
  *widest = *avx2;
  if (__builtin_cpu_supports("avx512f")) {
    double p = fma_peak_avx512();
    if (p > *widest)
      *widest = p;
  }
}

int cli_bench(int argc, char **argv) {
  const char *models = NULL;
  int runs = 5, json = 0, nimages = 0;
  char **images = calloc((size_t)argc + 6, sizeof *images);
  char defaults[6][512];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--models") && i + 1 < argc)
      models = argv[++i];
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--json"))
      json = 1;
    else if (!strcmp(argv[i], "--avx2")) /* what a CPU without AVX-512 would get */
      conv_kernel_force_avx2(1);
    else if (argv[i][0] != '-')
      images[nimages++] = argv[i];
    else {
      fprintf(
          stderr,
          "usage: footfall face bench [--models DIR] [--runs N] [--json] [--avx2] [IMAGE...]\n");
      free(images);
      return 2;
    }
  }
  if (runs < 1 || runs > 100)
    runs = 5;
  if (!nimages) {
    const char *samples = getenv("FOOTFALL_SAMPLES_DIR");
    for (int k = 0; k < 6; k++) {
      snprintf(defaults[k], sizeof defaults[k], "%s/sample%d.jpg",
               samples && *samples ? samples : "./data/samples", k + 1);
      images[nimages++] = defaults[k];
    }
  }
  double peak_avx2_before, peak_before;
  fma_peaks(&peak_avx2_before, &peak_before);
  long rss_start = proc_status_kb("VmRSS:");
  struct face_engine *engine;
  struct face_session *session;
  double t_load = now_ms();
  if (cli_load_engine(models, &engine, NULL)) {
    free(images);
    return 1;
  }
  t_load = now_ms() - t_load;
  /* The models alone; a session's scratch is counted after it. */
  long rss_loaded = proc_status_kb("VmRSS:");
  struct ff_error session_err = {0};
  if (face_session_new(engine, &session, &session_err) != FF_OK) {
    fprintf(stderr, "footfall face bench: %s\n", session_err.message);
    face_engine_free(engine);
    free(images);
    return 1;
  }
  long rss_session = proc_status_kb("VmRSS:");

  struct face_image *img = calloc((size_t)nimages, sizeof *img);
  static struct face_detection dets[64][100];
  int *ndet = calloc((size_t)nimages, sizeof *ndet);
  struct face_detect_options ssd, tiny;
  face_detect_options_default(&ssd);
  face_detect_options_default(&tiny);
  tiny.detector = FACE_DETECTOR_TINY;
  int status = 0, faces = 0;
  if (nimages > 64)
    nimages = 64;
  for (int k = 0; k < nimages; k++) {
    struct ff_error err = {0};
    if (face_image_load(images[k], NULL, &img[k], &err) != FF_OK ||
        face_detect(session, &img[k], &ssd, dets[k], 100, &ndet[k], &err) != FF_OK) {
      fprintf(stderr, "footfall face bench: %s: %s\n", images[k], err.message);
      status = 1;
      goto out;
    }
    faces += ndet[k];
  }
  static struct samples s_ssd, s_tiny, s_lm, s_lm_tiny, s_desc, s_ag, s_chain;
  static struct face_result results[100];
  /* round 0 warms up (arena growth, caches); rounds 1..runs are timed */
  for (int round = 0; round <= runs; round++) {
    for (int k = 0; k < nimages; k++) {
      int n;
      double t = now_ms();
      face_detect(session, &img[k], &ssd, dets[k], 100, &n, NULL);
      if (round)
        add(&s_ssd, now_ms() - t);
      t = now_ms();
      struct face_detection tmp[100];
      face_detect(session, &img[k], &tiny, tmp, 100, &n, NULL);
      if (round)
        add(&s_tiny, now_ms() - t);
      for (int i = 0; i < ndet[k]; i++) {
        struct face_point lm[68];
        struct face_rect dr, ar;
        float d[128], age, pm;
        t = now_ms();
        face_landmarks(session, &img[k], &dets[k][i].box, FACE_LANDMARKS_FULL, lm, NULL);
        if (round)
          add(&s_lm, now_ms() - t);
        t = now_ms();
        face_landmarks(session, &img[k], &dets[k][i].box, FACE_LANDMARKS_TINY, lm, NULL);
        if (round)
          add(&s_lm_tiny, now_ms() - t);
        face_landmarks(session, &img[k], &dets[k][i].box, FACE_LANDMARKS_FULL, lm, NULL);
        if (face_descriptor_rect(&img[k], &dets[k][i].box, lm, &dr) != FF_OK ||
            face_age_gender_rect(&img[k], lm, &ar) != FF_OK)
          continue;
        t = now_ms();
        face_describe(session, &img[k], &dr, d, NULL);
        if (round)
          add(&s_desc, now_ms() - t);
        t = now_ms();
        face_age_gender(session, &img[k], &ar, &age, &pm, NULL);
        if (round)
          add(&s_ag, now_ms() - t);
      }
      t = now_ms();
      face_analyze(session, &img[k], &ssd, results, 100, &n, NULL);
      if (round)
        add(&s_chain, now_ms() - t);
    }
  }
  long rss_after = proc_status_kb("VmRSS:"), rss_peak = proc_status_kb("VmHWM:");
  double scratch_mb = (double)face_session_scratch_bytes(session) / (1024.0 * 1024.0);
  double peak, peak_avx2;
  fma_peaks(&peak_avx2, &peak);
  if (peak < peak_before)
    peak = peak_before;
  if (peak_avx2 < peak_avx2_before)
    peak_avx2 = peak_avx2_before;
  double m_ssd = median(&s_ssd), m_tiny = median(&s_tiny), m_lm = median(&s_lm),
         m_lmt = median(&s_lm_tiny), m_desc = median(&s_desc), m_ag = median(&s_ag),
         m_chain = median(&s_chain);
  double gf_desc = 2 * RECOGNITION_GMAC / (m_desc / 1e3), gf_ssd = 2 * SSD_GMAC / (m_ssd / 1e3);
  if (json) {
    printf("{\"images\":%d,\"faces\":%d,\"runs\":%d,\"ssd_ms\":%.3f,\"tiny_ms\":%.3f,"
           "\"landmarks_ms\":%.3f,\"landmarks_tiny_ms\":%.3f,\"descriptor_ms\":%.3f,"
           "\"age_gender_ms\":%.3f,\"full_chain_ms\":%.3f,\"descriptor_gflops\":%.2f,"
           "\"ssd_gflops\":%.2f,\"fma_peak_gflops\":%.2f,\"fma_peak_avx2_gflops\":%.2f,"
           "\"kernel_isa\":\"%s\",\"rss_start_mb\":%.1f,"
           "\"rss_loaded_mb\":%.1f,\"rss_with_session_mb\":%.1f,\"rss_after_runs_mb\":%.1f,\"rss_"
           "peak_mb\":%.1f,\"session_scratch_mb\":%.1f,"
           "\"load_ms\":%.1f}\n",
           nimages, faces, runs, m_ssd, m_tiny, m_lm, m_lmt, m_desc, m_ag, m_chain, gf_desc, gf_ssd,
           peak, peak_avx2, conv_kernel_isa(), rss_start / 1024.0, rss_loaded / 1024.0,
           rss_session / 1024.0, rss_after / 1024.0, rss_peak / 1024.0, scratch_mb, t_load);
  } else {
    printf("footfall face bench: %d images, %d SSD faces, %d timed runs, one thread\n", nimages,
           faces, runs);
    printf("  SSD detection per image   %8.2f ms  (%.1f GFLOP/s)\n", m_ssd, gf_ssd);
    printf("  Tiny detection (416)      %8.2f ms\n", m_tiny);
    printf("  landmarks per face        %8.2f ms  (tiny %.2f ms)\n", m_lm, m_lmt);
    printf("  descriptor per face       %8.2f ms  (%.1f GFLOP/s, %.0f %% of peak)\n", m_desc,
           gf_desc, 100 * gf_desc / peak);
    printf("  age/gender per face       %8.2f ms\n", m_ag);
    printf("  full chain per image      %8.2f ms\n", m_chain);
    printf("  FMA peak, 1 core          %8.1f GFLOP/s (AVX2 only: %.1f; kernels: %s)\n", peak,
           peak_avx2, conv_kernel_isa());
    printf(
        "  RSS: start %.1f MB, models loaded %.1f MB, with a session %.1f MB, after runs %.1f MB "
        "(peak %.1f MB)\n",
        rss_start / 1024.0, rss_loaded / 1024.0, rss_session / 1024.0, rss_after / 1024.0,
        rss_peak / 1024.0);
    printf("  session scratch after the runs %.1f MB\n", scratch_mb);
    printf("  model load %.0f ms\n", t_load);
  }
out:
  for (int k = 0; k < nimages; k++)
    face_image_free(&img[k]);
  free(img);
  free(ndet);
  free(images);
  face_session_free(session);
  face_engine_free(engine);
  return status;
}
