/* calibrate.c — distance distributions, thresholds, and the CLI around them. */
#include "calibrate.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void stats_of(double *v, int n, struct distance_stats *s) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  s->count = n;
  s->min = v[0];
  s->max = v[n - 1];
  s->p05 = v[(int)(0.05 * (n - 1))];
  s->median = v[(n - 1) / 2];
  s->p95 = v[(int)(0.95 * (n - 1))];
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += v[i];
  s->mean = sum / n;
}

/* Largest threshold t (half-way between distances) with #different < t <= fmr * count. */
static double threshold_at_fmr(const double *diff, int n, double fmr) {
  int allowed = (int)floor(fmr * n);
  if (allowed >= n)
    return diff[n - 1];
  /* t may admit `allowed` false matches: just below diff[allowed] */
  return allowed == 0 ? diff[0] : (diff[allowed - 1] + diff[allowed]) / 2;
}

double pair_accuracy(const float (*d)[FACE_DESCRIPTOR_SIZE], const int *person, int n,
                     double threshold) {
  long right = 0, total = 0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      int same = person[i] == person[j];
      right += (face_distance(d[i], d[j]) < threshold) == same;
      total++;
    }
  return total ? (double)right / total : 0;
}

int calibrate(const float (*d)[FACE_DESCRIPTOR_SIZE], const int *person, int n,
              struct calibration *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  size_t pairs = (size_t)n * (n - 1) / 2;
  double *same = malloc(pairs * sizeof *same), *diff = malloc(pairs * sizeof *diff);
  if (!same || !diff) {
    free(same);
    free(diff);
    return ff_fail(err, FF_ENOMEM, "calibrate: out of memory");
  }
  int ns = 0, nd = 0;
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      double dist = face_distance(d[i], d[j]);
      if (person[i] == person[j])
        same[ns++] = dist;
      else
        diff[nd++] = dist;
    }
  if (!ns || !nd) {
    free(same);
    free(diff);
    return ff_fail(err, FF_EINVAL,
                   "calibrate: need at least two pictures of one person and two people");
  }
  stats_of(same, ns, &out->same);
  stats_of(diff, nd, &out->different);
  /* Equal error: candidate thresholds at every observed distance v ("same"
   * = distance < v), walked in order so i and j count the distances below v. */
  double best_gap = INFINITY;
  for (int i = 0, j = 0; i < ns || j < nd;) {
    double v = (j >= nd || (i < ns && same[i] <= diff[j])) ? same[i] : diff[j];
    double fmr = (double)j / nd, fnmr = (double)(ns - i) / ns;
    if (fabs(fmr - fnmr) < best_gap) {
      best_gap = fabs(fmr - fnmr);
      out->eer_threshold = v;
      out->eer = (fmr + fnmr) / 2;
    }
    while (i < ns && same[i] == v)
      i++;
    while (j < nd && diff[j] == v)
      j++;
  }
  out->threshold_fmr_1e2 = threshold_at_fmr(diff, nd, 1e-2);
  out->threshold_fmr_1e3 = threshold_at_fmr(diff, nd, 1e-3);
  out->accuracy_at_eer = pair_accuracy(d, person, n, out->eer_threshold);
  /* best in-sample accuracy: one merge walk over both sorted lists; after
   * consuming every distance <= v, a threshold just above v calls i same
   * pairs right and nd - j different pairs right */
  out->best_accuracy = (double)nd / (ns + nd);
  out->best_threshold = fmin(same[0], diff[0]);
  for (int i = 0, j = 0; i < ns || j < nd;) {
    double v = (j >= nd || (i < ns && same[i] <= diff[j])) ? same[i] : diff[j];
    while (i < ns && same[i] == v)
      i++;
    while (j < nd && diff[j] == v)
      j++;
    double next = i < ns && (j >= nd || same[i] <= diff[j]) ? same[i] : j < nd ? diff[j] : v;
    double acc = (double)(i + (nd - j)) / (ns + nd);
    if (acc > out->best_accuracy) {
      out->best_accuracy = acc;
      out->best_threshold = (v + next) / 2;
    }
  }
  free(same);
  free(diff);
  return FF_OK;
}

int enrol_picture(struct face_session *s, const struct face_image *img,
                  const struct enrol_options *o, struct enrol_result *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  struct face_image work = *img;
  uint8_t *bordered = NULL;
  if (o->border > 0) {
    int b = o->border, w = img->width + 2 * b, h = img->height + 2 * b;
    bordered = malloc((size_t)w * h * 3);
    if (!bordered)
      return ff_fail(err, FF_ENOMEM, "out of memory");
    memset(bordered, 128, (size_t)w * h * 3);
    for (int y = 0; y < img->height; y++)
      memcpy(bordered + ((size_t)(y + b) * w + b) * 3, img->rgb + (size_t)y * img->stride,
             (size_t)img->width * 3);
    face_image_wrap(bordered, w, h, (size_t)w * 3, &work, NULL);
  }
  struct face_result r[8];
  int n = 0, rc = o->bare_crop_only ? FF_OK : face_analyze(s, &work, &o->detect, r, 8, &n, err);
  if (rc == FF_OK && n > 0) {
    int best = 0; /* the largest face: crops hold one person */
    for (int i = 1; i < n; i++)
      if (r[i].detection.box.width * r[i].detection.box.height >
          r[best].detection.box.width * r[best].detection.box.height)
        best = i;
    memcpy(out->descriptor, r[best].descriptor, sizeof out->descriptor);
    out->age = r[best].age;
    out->is_male = r[best].is_male;
    out->gender_probability = r[best].gender_probability;
    out->found = 1;
  } else if (rc == FF_OK && (o->bare_crop_fallback || o->bare_crop_only)) {
    struct face_rect all = {0, 0, img->width, img->height};
    float p_male;
    rc = face_describe(s, img, &all, out->descriptor, err);
    if (rc == FF_OK)
      rc = face_age_gender(s, img, &all, &out->age, &p_male, err);
    if (rc == FF_OK) {
      out->is_male = p_male > 0.5f;
      out->gender_probability = out->is_male ? p_male : 1 - p_male;
      out->found = 2;
    }
  }
  free(bordered);
  return rc;
}

/* ---- CLI ---- */

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of a folder (directories or picture files). */
static int list_dir(const char *dir, int want_dirs, char ***out) {
  DIR *d = opendir(dir);
  if (!d)
    return -1;
  int n = 0, cap = 0;
  char **names = NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    DIR *sub = opendir(path);
    int is_dir = sub != NULL;
    if (sub)
      closedir(sub);
    if (is_dir != want_dirs)
      continue;
    if (!want_dirs) {
      const char *dot = strrchr(e->d_name, '.');
      if (!dot || (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png")))
        continue;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      names = realloc(names, (size_t)cap * sizeof *names);
    }
    names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)n, sizeof *names, cmp_str);
  *out = names;
  return n;
}

int cli_calibrate(int argc, char **argv) {
  const char *dir = NULL, *models = NULL;
  struct enrol_options o = {0};
  face_detect_options_default(&o.detect);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--border") && i + 1 < argc)
      o.border = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bare-crop-fallback"))
      o.bare_crop_fallback = 1;
    else if (!strcmp(argv[i], "--bare-crop"))
      o.bare_crop_only = 1;
    else if (!strcmp(argv[i], "--models") && i + 1 < argc)
      models = argv[++i];
    else if (!strcmp(argv[i], "--detector") && i + 1 < argc &&
             !cli_parse_detector(argv[i + 1], &o.detect))
      i++;
    else if (!dir && argv[i][0] != '-')
      dir = argv[i];
    else {
      dir = NULL;
      break;
    }
  }
  if (!dir || o.border < 0 || o.border > 2000) {
    fprintf(stderr, "usage: footfall face calibrate DIR [--border N] [--bare-crop-fallback] "
                    "[--bare-crop] [--detector ssd|tiny] [--models DIR]\n"
                    "  DIR holds one folder per person with their pictures (tight crops: add\n"
                    "  --border 75, or describe the whole picture with --bare-crop).\n");
    return 2;
  }
  char **people;
  int np = list_dir(dir, 1, &people);
  if (np < 2) {
    fprintf(stderr, "footfall face calibrate: %s: need at least two person folders\n", dir);
    return 1;
  }
  struct face_engine *engine;
  struct face_session *session;
  if (cli_load_engine(models, &engine, &session))
    return 1;
  int n = 0, cap = 64, missed = 0, status = 0;
  float(*desc)[FACE_DESCRIPTOR_SIZE] = malloc((size_t)cap * sizeof *desc);
  int *label = malloc((size_t)cap * sizeof *label);
  for (int p = 0; p < np; p++) {
    char pdir[4096];
    snprintf(pdir, sizeof pdir, "%s/%s", dir, people[p]);
    char **files;
    int nf = list_dir(pdir, 0, &files);
    for (int f = 0; f < nf; f++) {
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", pdir, files[f]);
      struct face_image img;
      struct ff_error err = {0};
      struct enrol_result r;
      if (face_image_load(path, NULL, &img, &err) != FF_OK ||
          enrol_picture(session, &img, &o, &r, &err) != FF_OK) {
        fprintf(stderr, "footfall face calibrate: %s: %s\n", path, err.message);
        face_image_free(&img);
        missed++;
        continue;
      }
      face_image_free(&img);
      if (!r.found) {
        fprintf(stderr, "footfall face calibrate: %s: no face found\n", path);
        missed++;
        continue;
      }
      if (n == cap) {
        cap *= 2;
        desc = realloc(desc, (size_t)cap * sizeof *desc);
        label = realloc(label, (size_t)cap * sizeof *label);
      }
      memcpy(desc[n], r.descriptor, sizeof desc[n]);
      label[n++] = p;
    }
    for (int f = 0; f < nf; f++)
      free(files[f]);
    free(files);
  }
  struct calibration c;
  struct ff_error err = {0};
  if (calibrate((const float(*)[FACE_DESCRIPTOR_SIZE])desc, label, n, &c, &err) != FF_OK) {
    fprintf(stderr, "footfall face calibrate: %s\n", err.message);
    status = 1;
  } else {
    printf("pictures: %d used, %d without a face, %d people\n", n, missed, np);
    const struct distance_stats *s[2] = {&c.same, &c.different};
    const char *names[2] = {"same person", "different people"};
    for (int k = 0; k < 2; k++)
      printf("%-17s %5d pairs: min %.3f  p5 %.3f  median %.3f  p95 %.3f  max %.3f\n", names[k],
             s[k]->count, s[k]->min, s[k]->p05, s[k]->median, s[k]->p95, s[k]->max);
    printf("equal-error threshold %.3f (error rate %.2f %%, pair accuracy %.2f %%)\n",
           c.eer_threshold, 100 * c.eer, 100 * c.accuracy_at_eer);
    printf("best in-sample threshold %.3f (pair accuracy %.2f %%)\n", c.best_threshold,
           100 * c.best_accuracy);
    printf("threshold for false-match rate 1e-2: %.3f\n", c.threshold_fmr_1e2);
    printf("threshold for false-match rate 1e-3: %.3f%s\n", c.threshold_fmr_1e3,
           c.different.count < 1000 ? " (fewer than 1000 different pairs: the smallest one)" : "");
    printf("pair accuracy at face-api's 0.6: %.2f %%\n",
           100 * pair_accuracy((const float(*)[FACE_DESCRIPTOR_SIZE])desc, label, n, 0.6));
  }
  for (int p = 0; p < np; p++)
    free(people[p]);
  free(people);
  free(desc);
  free(label);
  face_session_free(session);
  face_engine_free(engine);
  return status;
}
