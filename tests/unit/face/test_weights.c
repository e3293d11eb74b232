/* Weight loader: the real manifests, and corrupted or hostile copies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nets.h"
#include "weights.h"

static const char *models_dir(void) {
  const char *d = getenv("FOOTFALL_MODELS_DIR");
  return d ? d : "data/models";
}

/* In-memory shards for weights_parse. */
struct mem_shards {
  const char *names[4];
  const uint8_t *data[4];
  size_t size[4];
  int count;
};

static int read_mem(void *ctx, const char *name, uint8_t **data, size_t *size,
                    struct ff_error *err) {
  struct mem_shards *m = ctx;
  for (int i = 0; i < m->count; i++)
    if (!strcmp(m->names[i], name)) {
      *data = malloc(m->size[i] ? m->size[i] : 1);
      memcpy(*data, m->data[i], m->size[i]);
      *size = m->size[i];
      return FF_OK;
    }
  return ff_fail(err, FF_ENOTFOUND, "no shard %s", name);
}

static int parse(const char *json, struct mem_shards *m, struct weights *w, struct ff_error *e) {
  return weights_parse(json, strlen(json), read_mem, m, w, e);
}

Test(weights, real_manifests_load_with_expected_counts) {
  static const struct {
    const char *model;
    int entries;
    size_t params;
  } models[] = {
      {"ssd_mobilenetv1_model", 151, 5555541},  {"tiny_face_detector_model", 19, 193321},
      {"face_landmark_68_model", 49, 356840},   {"face_landmark_68_tiny_model", 28, 77224},
      {"face_recognition_model", 117, 5614592}, {"age_gender_model", 51, 421731},
  };
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    struct weights w;
    struct ff_error err = {0};
    int rc = weights_load(models_dir(), models[i].model, &w, &err);
    cr_assert_eq(rc, FF_OK, "%s: %s", models[i].model, err.message);
    cr_expect_eq(w.count, models[i].entries, "%s", models[i].model);
    size_t params = 0;
    for (int k = 0; k < w.count; k++)
      params += w.tensors[k].count;
    cr_expect_eq(params, models[i].params, "%s: %zu params", models[i].model, params);
    weights_free(&w);
  }
}

Test(weights, dequantizes_like_tfjs) {
  /* uint8: q*scale+min in double, stored as float; uint16 little-endian;
   * float16; raw float32 at an odd offset; int32 quantized -> rounded. */
  uint8_t bin[64];
  size_t n = 0;
  bin[n++] = 0;
  bin[n++] = 255;
  bin[n++] = 0x34; /* uint16 0x1234 */
  bin[n++] = 0x12;
  bin[n++] = 0x00; /* float16 1.0 = 0x3c00 */
  bin[n++] = 0x3c;
  bin[n++] = 0x00; /* float16 -2.5 = 0xc100 */
  bin[n++] = 0xc1;
  float f = 3.25f;
  memcpy(bin + n, &f, 4);
  n += 4;
  bin[n++] = 3; /* int32 via uint8: round(3*0.5+0) = 2 (1.5 rounds up) */
  struct mem_shards m = {{"a.bin"}, {bin}, {n}, 1};
  const char *json =
      "[{\"paths\":[\"a.bin\"],\"weights\":["
      "{\"name\":\"u8\",\"shape\":[2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\","
      "\"scale\":0.1,\"min\":-1}},"
      "{\"name\":\"u16\",\"shape\":[],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\","
      "\"scale\":0.5,\"min\":0}},"
      "{\"name\":\"f16\",\"shape\":[1,2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":"
      "\"float16\"}},"
      "{\"name\":\"f32\",\"shape\":[1],\"dtype\":\"float32\"},"
      "{\"name\":\"i32\",\"shape\":[1],\"dtype\":\"int32\",\"quantization\":{\"dtype\":\"uint8\","
      "\"scale\":0.5,\"min\":0}}]}]";
  struct weights w;
  struct ff_error err = {0};
  cr_assert_eq(parse(json, &m, &w, &err), FF_OK, "%s", err.message);
  cr_assert_eq(w.count, 5);
  cr_expect_eq(w.tensors[0].values[0], (float)(0 * 0.1 + -1));
  cr_expect_eq(w.tensors[0].values[1], (float)(255 * 0.1 + -1));
  cr_expect_eq(w.tensors[1].values[0], (float)(0x1234 * 0.5));
  cr_expect_eq(w.tensors[2].values[0], 1.0f);
  cr_expect_eq(w.tensors[2].values[1], -2.5f);
  cr_expect_eq(w.tensors[3].values[0], 3.25f);
  cr_expect_eq(w.tensors[4].ints[0], 2);
  weights_free(&w);
}

Test(weights, several_groups_and_shards_with_straddling_entry) {
  float v[6] = {1, 2, 3, 4, 5, 6};
  uint8_t all[24];
  memcpy(all, v, 24);
  /* group 0: one tensor of 4 floats split over two shards at byte 6 */
  struct mem_shards m = {{"g0a", "g0b", "g1"}, {all, all + 6, all + 16}, {6, 10, 8}, 3};
  const char *json = "[{\"paths\":[\"g0a\",\"g0b\"],\"weights\":[{\"name\":\"x\",\"shape\":[2,2],"
                     "\"dtype\":\"float32\"}]},"
                     "{\"paths\":[\"g1\"],\"weights\":[{\"name\":\"y\",\"shape\":[2],\"dtype\":"
                     "\"float32\"}]}]";
  struct weights w;
  struct ff_error err = {0};
  cr_assert_eq(parse(json, &m, &w, &err), FF_OK, "%s", err.message);
  cr_assert_eq(w.count, 2);
  for (int i = 0; i < 4; i++)
    cr_expect_eq(w.tensors[0].values[i], v[i]);
  cr_expect_eq(w.tensors[1].values[1], 6.0f);
  int dims[2] = {2, 2}, bad[2] = {4, 1};
  cr_expect_not_null(weights_find(&w, "x", 2, dims, &err));
  cr_expect_null(weights_find(&w, "x", 2, bad, &err));
  cr_expect(strstr(err.message, "shape") != NULL, "%s", err.message);
  cr_expect_null(weights_find(&w, "nope", 2, dims, &err));
  weights_free(&w);
}

/* Each hostile manifest must fail with a message, never crash. */
Test(weights, hostile_manifests_are_refused) {
  uint8_t bin[16] = {0};
  struct mem_shards m = {{"a.bin"}, {bin}, {16}, 1};
  static const struct {
    const char *json;
    const char *expect; /* substring of the message */
  } cases[] = {
      {"", "JSON"},
      {"[", "JSON"},
      {"{}", "array"},
      {"[]", "array"},
      {"[{\"paths\":[\"a.bin\"]}]", "weights"},
      {"[{\"paths\":[\"../etc/passwd\"],\"weights\":[]}]", "plain file name"},
      {"[{\"paths\":[\"missing.bin\"],\"weights\":[]}]", "no shard"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[5],\"dtype\":"
       "\"float32\"}]}]",
       "truncated"}, /* needs 20 bytes, 16 present */
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[3],\"dtype\":"
       "\"float32\"}]}]",
       "oversized"}, /* 12 of 16 bytes used */
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[65536,65536,65536],"
       "\"dtype\":\"float32\"}]}]",
       "more than"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[-1],\"dtype\":"
       "\"float32\"}]}]",
       "shape"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[1,1,1,1,1,1,1],"
       "\"dtype\":\"float32\"}]}]",
       "rank"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[4],\"dtype\":"
       "\"float64\"}]}]",
       "dtype"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[16],\"dtype\":"
       "\"float32\",\"quantization\":{\"dtype\":\"int4\",\"scale\":1,\"min\":0}}]}]",
       "quantization"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[16],\"dtype\":"
       "\"float32\",\"quantization\":{\"dtype\":\"uint8\"}}]}]",
       "scale"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"name\":\"x\",\"shape\":[8],\"dtype\":"
       "\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":1,\"min\":0}},{\"name\":"
       "\"x\",\"shape\":[8],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\","
       "\"scale\":1,\"min\":0}}]}]",
       "duplicate"},
      {"[{\"paths\":[\"a.bin\"],\"weights\":[{\"shape\":[4],\"dtype\":\"float32\"}]}]", "name"},
      {"[{\"paths\":[7],\"weights\":[]}]", "not a string"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct weights w;
    struct ff_error err = {0};
    int rc = parse(cases[i].json, &m, &w, &err);
    cr_expect_lt(rc, 0, "case %zu should fail", i);
    cr_expect(strstr(err.message, cases[i].expect) != NULL, "case %zu: message '%s' lacks '%s'", i,
              err.message, cases[i].expect);
    cr_expect_eq(w.count, 0);
    cr_expect_null(w.tensors);
  }
}

/* Copies a real model into a temp folder with one file altered. */
static char tmpdir[64];

static void copy_model(const char *model, const uint8_t *json, size_t json_len, const uint8_t *bin,
                       size_t bin_len) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s-weights_manifest.json", tmpdir, model);
  FILE *f = fopen(path, "wb");
  fwrite(json, 1, json_len, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/%s.bin", tmpdir, model);
  f = fopen(path, "wb");
  fwrite(bin, 1, bin_len, f);
  fclose(f);
}

Test(weights, corrupted_copies_of_a_real_model) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/face-weights-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
  const char *model = "tiny_face_detector_model";
  char path[512];
  uint8_t *json, *bin;
  size_t json_len, bin_len;
  struct ff_error err = {0};
  snprintf(path, sizeof path, "%s/%s-weights_manifest.json", models_dir(), model);
  cr_assert_eq(weights_read_file(path, 1 << 22, &json, &json_len, &err), FF_OK);
  snprintf(path, sizeof path, "%s/%s.bin", models_dir(), model);
  cr_assert_eq(weights_read_file(path, 1 << 24, &bin, &bin_len, &err), FF_OK);
  struct weights w;

  copy_model(model, json, json_len, bin, bin_len - 1); /* truncated .bin */
  cr_expect_eq(weights_load(tmpdir, model, &w, &err), FF_EINVAL);
  cr_expect(strstr(err.message, "truncated") != NULL, "%s", err.message);

  uint8_t *longer = calloc(bin_len + 100, 1);
  memcpy(longer, bin, bin_len);
  copy_model(model, json, json_len, longer, bin_len + 100); /* trailing junk */
  cr_expect_eq(weights_load(tmpdir, model, &w, &err), FF_EINVAL);
  cr_expect(strstr(err.message, "oversized") != NULL, "%s", err.message);
  free(longer);

  copy_model(model, json, json_len / 2, bin, bin_len); /* manifest cut in half */
  cr_expect_eq(weights_load(tmpdir, model, &w, &err), FF_EINVAL);
  cr_expect(strstr(err.message, "JSON") != NULL, "%s", err.message);

  /* every single-byte change in the manifest: load or a clean error */
  uint8_t *flipped = malloc(json_len);
  int failures = 0;
  for (size_t i = 0; i < json_len; i += 7) {
    memcpy(flipped, json, json_len);
    flipped[i] ^= 0x5a;
    copy_model(model, flipped, json_len, bin, bin_len);
    err.message[0] = 0;
    int rc = weights_load(tmpdir, model, &w, &err);
    if (rc == FF_OK)
      weights_free(&w);
    else {
      failures++;
      cr_expect(err.message[0] != 0, "byte %zu: error without message", i);
    }
  }
  cr_expect_gt(failures, 0);
  free(flipped);

  /* a shape changed with the same byte count: the loader accepts it, the
   * net refuses it by name and shape */
  char *swapped = malloc(json_len + 1);
  memcpy(swapped, json, json_len);
  swapped[json_len] = 0;
  char *at = strstr(swapped, "[3,3,3,16]");
  cr_assert_not_null(at);
  memcpy(at, "[3,3,16,3]", 10);
  copy_model(model, (uint8_t *)swapped, json_len, bin, bin_len);
  cr_expect_eq(weights_load(tmpdir, model, &w, &err), FF_OK, "%s", err.message);
  struct tiny_net net;
  cr_expect_eq(tiny_load(&w, &net, &err), FF_EINVAL);
  cr_expect(strstr(err.message, "conv0/filters") && strstr(err.message, "shape"), "%s",
            err.message);
  weights_free(&w);
  free(swapped);

  snprintf(path, sizeof path, "%s/%s-weights_manifest.json", tmpdir, model);
  unlink(path);
  cr_expect_eq(weights_load(tmpdir, model, &w, &err), FF_ENOTFOUND);
  snprintf(path, sizeof path, "%s/%s.bin", tmpdir, model);
  unlink(path);
  rmdir(tmpdir);
  free(json);
  free(bin);
}
