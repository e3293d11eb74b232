/* cli.c — `footfall face` subcommands: analyze, compare, decode, bench, calibrate. */
#include "face_cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "cli_internal.h"
#include "face.h"

static int usage(FILE *out) {
  fprintf(out,
          "usage: footfall face <subcommand> [options]\n\n"
          "  analyze IMAGE... [--detector ssd|tiny] [--tiny-size N] [--models DIR] [--json]\n"
          "                           faces, landmarks, descriptor, age, gender, quality\n"
          "  compare A B [--threshold T] [--border N] [--bare-crop-fallback] [--models DIR]\n"
          "                           descriptor distance between the main faces, and verdict\n"
          "  decode IMAGE OUT.ppm     write the decoded RGB (EXIF orientation applied) as PPM\n"
          "  bench [--models DIR] [--runs N] [--json] [--avx2] [IMAGE...]\n"
          "                           time each net (one thread) and the full chain\n"
          "  calibrate DIR [--border N] [--bare-crop-fallback] [--bare-crop] [--models DIR]\n"
          "                           one folder per person: distance distributions, thresholds\n\n"
          "Models: --models DIR, else $FOOTFALL_MODELS_DIR, else ./data/models.\n");
  return out == stdout ? 0 : 2;
}

void cli_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

int cli_load_engine(const char *models, struct face_engine **engine,
                    struct face_session **session) {
  struct ff_error err = {0};
  if (!models)
    models = face_default_models_dir();
  if (face_engine_load(models, engine, &err) != FF_OK) {
    fprintf(stderr, "footfall face: cannot load models from %s: %s\n", models, err.message);
    return 1;
  }
  if (session && face_session_new(*engine, session, &err) != FF_OK) {
    fprintf(stderr, "footfall face: %s\n", err.message);
    face_engine_free(*engine);
    return 1;
  }
  return 0;
}

static void print_face_json(FILE *out, const struct face_result *r) {
  const struct face_box *b = &r->detection.box;
  fprintf(out, "{\"box\":{\"x\":%.9g,\"y\":%.9g,\"width\":%.9g,\"height\":%.9g},\"score\":%.9g,",
          b->x, b->y, b->width, b->height, r->detection.score);
  fprintf(out, "\"landmarks\":[");
  for (int i = 0; i < FACE_LANDMARK_COUNT; i++)
    fprintf(out, "%s[%.9g,%.9g]", i ? "," : "", r->landmarks[i].x, r->landmarks[i].y);
  fprintf(out, "],\"descriptor_rect\":{\"x\":%d,\"y\":%d,\"width\":%d,\"height\":%d},",
          r->descriptor_rect.x, r->descriptor_rect.y, r->descriptor_rect.width,
          r->descriptor_rect.height);
  fprintf(out, "\"age_gender_rect\":{\"x\":%d,\"y\":%d,\"width\":%d,\"height\":%d},",
          r->age_gender_rect.x, r->age_gender_rect.y, r->age_gender_rect.width,
          r->age_gender_rect.height);
  fprintf(out, "\"descriptor\":[");
  for (int i = 0; i < FACE_DESCRIPTOR_SIZE; i++)
    fprintf(out, "%s%.9g", i ? "," : "", r->descriptor[i]);
  const struct face_quality *q = &r->quality;
  fprintf(out,
          "],\"age\":%.9g,\"gender\":\"%s\",\"gender_probability\":%.9g,"
          "\"quality\":{\"face_size\":%.6g,\"size_score\":%.6g,\"sharpness\":%.6g,"
          "\"sharpness_score\":%.6g,\"yaw_degrees\":%.6g,\"roll_degrees\":%.6g,"
          "\"pose_score\":%.6g,\"detector_score\":%.6g,\"score\":%.6g}}",
          r->age, r->is_male ? "male" : "female", r->gender_probability, q->face_size,
          q->size_score, q->sharpness, q->sharpness_score, q->yaw_degrees, q->roll_degrees,
          q->pose_score, q->detector_score, q->score);
}

int cli_parse_detector(const char *name, struct face_detect_options *o) {
  if (!strcmp(name, "ssd"))
    o->detector = FACE_DETECTOR_SSD;
  else if (!strcmp(name, "tiny"))
    o->detector = FACE_DETECTOR_TINY;
  else
    return -1;
  return 0;
}

static int cmd_analyze(int argc, char **argv) {
  struct face_detect_options opt;
  face_detect_options_default(&opt);
  const char *models = NULL;
  int json = 0, nimages = 0;
  char **images = calloc((size_t)argc, sizeof *images);
  if (!images)
    return 1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--detector") && i + 1 < argc) {
      if (cli_parse_detector(argv[++i], &opt)) {
        fprintf(stderr, "footfall face analyze: --detector is ssd or tiny\n");
        free(images);
        return 2;
      }
    } else if (!strcmp(argv[i], "--tiny-size") && i + 1 < argc) {
      opt.tiny_input_size = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--models") && i + 1 < argc) {
      models = argv[++i];
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "footfall face analyze: unknown option %s\n", argv[i]);
      free(images);
      return 2;
    } else {
      images[nimages++] = argv[i];
    }
  }
  if (!nimages) {
    fprintf(stderr, "usage: footfall face analyze IMAGE... [--detector ssd|tiny] [--json]\n");
    free(images);
    return 2;
  }
  struct face_engine *engine;
  struct face_session *session;
  if (cli_load_engine(models, &engine, &session)) {
    free(images);
    return 1;
  }
  static struct face_result results[100];
  int status = 0;
  if (json && nimages > 1)
    printf("[");
  for (int k = 0; k < nimages; k++) {
    struct ff_error err = {0};
    struct face_image img;
    int n = 0;
    if (face_image_load(images[k], NULL, &img, &err) != FF_OK ||
        face_analyze(session, &img, &opt, results, 100, &n, &err) != FF_OK) {
      fprintf(stderr, "footfall face analyze: %s: %s\n", images[k], err.message);
      face_image_free(&img);
      status = 1;
      continue;
    }
    if (json) {
      printf("%s{\"image\":", k && nimages > 1 ? "," : "");
      cli_json_string(stdout, images[k]);
      printf(",\"width\":%d,\"height\":%d,\"faces\":[", img.width, img.height);
      for (int i = 0; i < n; i++) {
        if (i)
          printf(",");
        print_face_json(stdout, &results[i]);
      }
      printf("]}");
      if (nimages == 1)
        printf("\n");
    } else {
      printf("%s: %dx%d, %d face%s\n", images[k], img.width, img.height, n, n == 1 ? "" : "s");
      for (int i = 0; i < n; i++) {
        const struct face_result *r = &results[i];
        printf("  face %d: box %.0f,%.0f %.0fx%.0f score %.3f, %s %.2f, age %.1f, quality %.2f "
               "(size %.0f px, sharpness %.0f, yaw %.0f, roll %.0f)\n",
               i + 1, r->detection.box.x, r->detection.box.y, r->detection.box.width,
               r->detection.box.height, r->detection.score, r->is_male ? "male" : "female",
               r->gender_probability, r->age, r->quality.score, r->quality.face_size,
               r->quality.sharpness, r->quality.yaw_degrees, r->quality.roll_degrees);
      }
    }
    face_image_free(&img);
  }
  if (json && nimages > 1)
    printf("]\n");
  face_session_free(session);
  face_engine_free(engine);
  free(images);
  return status;
}

/* The descriptor of the main (largest) face of a picture, as calibrate
 * enrols it. */
static int picture_descriptor(struct face_session *s, const char *path,
                              const struct enrol_options *o, float d[FACE_DESCRIPTOR_SIZE]) {
  struct ff_error err = {0};
  struct face_image img;
  struct enrol_result r;
  if (face_image_load(path, NULL, &img, &err) != FF_OK ||
      enrol_picture(s, &img, o, &r, &err) != FF_OK) {
    fprintf(stderr, "footfall face compare: %s: %s\n", path, err.message);
    face_image_free(&img);
    return -1;
  }
  face_image_free(&img);
  if (!r.found) {
    fprintf(stderr,
            "footfall face compare: %s: no face found (for a tight face crop, try --border 75 "
            "or --bare-crop-fallback)\n",
            path);
    return -1;
  }
  memcpy(d, r.descriptor, sizeof r.descriptor);
  return 0;
}

static int compare_usage(void) {
  fprintf(stderr, "usage: footfall face compare A B [--threshold T] [--border N] "
                  "[--bare-crop-fallback] [--bare-crop] [--detector ssd|tiny] [--models DIR]\n");
  return 2;
}

static int cmd_compare(int argc, char **argv) {
  const char *models = NULL, *paths[2];
  int np = 0;
  double threshold = FACE_DEFAULT_MATCH_THRESHOLD;
  struct enrol_options o = {0};
  face_detect_options_default(&o.detect);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--models") && i + 1 < argc)
      models = argv[++i];
    else if (!strcmp(argv[i], "--threshold") && i + 1 < argc)
      threshold = atof(argv[++i]);
    else if (!strcmp(argv[i], "--border") && i + 1 < argc)
      o.border = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bare-crop-fallback"))
      o.bare_crop_fallback = 1;
    else if (!strcmp(argv[i], "--bare-crop"))
      o.bare_crop_only = 1;
    else if (!strcmp(argv[i], "--detector") && i + 1 < argc &&
             !cli_parse_detector(argv[i + 1], &o.detect))
      i++;
    else if (np < 2 && argv[i][0] != '-')
      paths[np++] = argv[i];
    else
      return compare_usage();
  }
  if (np != 2 || o.border < 0 || o.border > 2000)
    return compare_usage();
  struct face_engine *engine;
  struct face_session *session;
  if (cli_load_engine(models, &engine, &session))
    return 1;
  float a[FACE_DESCRIPTOR_SIZE], b[FACE_DESCRIPTOR_SIZE];
  int status = 1;
  if (picture_descriptor(session, paths[0], &o, a) == 0 &&
      picture_descriptor(session, paths[1], &o, b) == 0) {
    double d = face_distance(a, b);
    printf("distance %.4f: %s (threshold %.3f)\n", d,
           d < threshold ? "same person" : "different people", threshold);
    status = 0;
  }
  face_session_free(session);
  face_engine_free(engine);
  return status;
}

static int cmd_decode(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: footfall face decode IMAGE OUT.ppm\n");
    return 2;
  }
  struct ff_error err = {0};
  struct face_image img;
  if (face_image_load(argv[1], NULL, &img, &err) != FF_OK) {
    fprintf(stderr, "footfall face decode: %s: %s\n", argv[1], err.message);
    return 1;
  }
  int rc = face_image_write_ppm(&img, argv[2], &err);
  face_image_free(&img);
  if (rc != FF_OK) {
    fprintf(stderr, "footfall face decode: %s\n", err.message);
    return 1;
  }
  return 0;
}

int face_cli_main(int argc, char **argv) {
  if (argc < 2)
    return usage(stderr);
  const char *sub = argv[1];
  if (!strcmp(sub, "help") || !strcmp(sub, "--help") || !strcmp(sub, "-h"))
    return usage(stdout);
  if (!strcmp(sub, "decode"))
    return cmd_decode(argc - 1, argv + 1);
  if (!strcmp(sub, "analyze"))
    return cmd_analyze(argc - 1, argv + 1);
  if (!strcmp(sub, "compare"))
    return cmd_compare(argc - 1, argv + 1);
  if (!strcmp(sub, "bench"))
    return cli_bench(argc - 1, argv + 1);
  if (!strcmp(sub, "calibrate"))
    return cli_calibrate(argc - 1, argv + 1);
  fprintf(stderr, "footfall face: unknown subcommand '%s'\n", sub);
  return usage(stderr);
}
