/* weights.c — TF.js manifest + shard decoding (see weights.h). */
#include "weights.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum storage { ST_FLOAT32, ST_INT32, ST_UINT8, ST_UINT16, ST_FLOAT16 };

static int storage_bytes(enum storage s) {
  switch (s) {
  case ST_UINT8: return 1;
  case ST_UINT16:
  case ST_FLOAT16: return 2;
  default: return 4;
  }
}

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal: renormalise */
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

void weights_free(struct weights *w) {
  if (!w)
    return;
  for (int i = 0; i < w->count; i++) {
    free(w->tensors[i].name);
    free(w->tensors[i].values);
    free(w->tensors[i].ints);
  }
  free(w->tensors);
  w->tensors = NULL;
  w->count = 0;
}

/* Shard names come from a file: refuse anything that could leave the folder. */
static int check_shard_name(const char *name, struct ff_error *err) {
  size_t n = strlen(name);
  if (n == 0 || n > 255)
    return ff_fail(err, FF_EINVAL, "weights: shard name empty or longer than 255 bytes");
  if (strchr(name, '/') || strchr(name, '\\') || !strcmp(name, ".") || !strcmp(name, ".."))
    return ff_fail(err, FF_EINVAL, "weights: shard name '%.64s' is not a plain file name", name);
  return FF_OK;
}

struct entry_spec {
  const char *name;
  enum weights_dtype dtype;
  enum storage storage;
  double scale, min;
  int rank;
  int shape[WEIGHTS_MAX_RANK];
  size_t count;
};

static int parse_entry(json_t *e, int index, struct entry_spec *s, size_t *total_values,
                       struct ff_error *err) {
  if (!json_is_object(e))
    return ff_fail(err, FF_EINVAL, "weights: entry %d is not an object", index);
  json_t *name = json_object_get(e, "name"), *shape = json_object_get(e, "shape");
  json_t *dtype = json_object_get(e, "dtype"), *quant = json_object_get(e, "quantization");
  if (!json_is_string(name) || json_string_length(name) == 0 || json_string_length(name) > 255)
    return ff_fail(err, FF_EINVAL, "weights: entry %d has no valid name", index);
  s->name = json_string_value(name);
  if (strlen(s->name) != json_string_length(name))
    return ff_fail(err, FF_EINVAL, "weights: entry %d name contains NUL", index);
  if (!json_is_string(dtype))
    return ff_fail(err, FF_EINVAL, "weights: '%s' has no dtype", s->name);
  if (!strcmp(json_string_value(dtype), "float32")) {
    s->dtype = WEIGHTS_FLOAT32;
    s->storage = ST_FLOAT32;
  } else if (!strcmp(json_string_value(dtype), "int32")) {
    s->dtype = WEIGHTS_INT32;
    s->storage = ST_INT32;
  } else {
    return ff_fail(err, FF_EUNSUPPORTED, "weights: '%s' has unsupported dtype '%.32s'", s->name,
                   json_string_value(dtype));
  }
  if (!json_is_array(shape))
    return ff_fail(err, FF_EINVAL, "weights: '%s' has no shape array", s->name);
  if (json_array_size(shape) > WEIGHTS_MAX_RANK)
    return ff_fail(err, FF_EINVAL, "weights: '%s' has rank %zu (max %d)", s->name,
                   json_array_size(shape), WEIGHTS_MAX_RANK);
  s->rank = (int)json_array_size(shape);
  s->count = 1;
  for (int d = 0; d < s->rank; d++) {
    json_t *v = json_array_get(shape, (size_t)d);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1 << 26))
      return ff_fail(err, FF_EINVAL, "weights: '%s' shape[%d] is not an integer in 0..2^26",
                     s->name, d);
    s->shape[d] = (int)json_integer_value(v);
    if (s->shape[d] != 0 && s->count > WEIGHTS_MAX_VALUES / (size_t)s->shape[d])
      return ff_fail(err, FF_ETOOBIG, "weights: '%s' has more than %u values", s->name,
                     WEIGHTS_MAX_VALUES);
    s->count *= (size_t)s->shape[d];
  }
  if (s->count > WEIGHTS_MAX_VALUES - *total_values)
    return ff_fail(err, FF_ETOOBIG, "weights: model has more than %u values in total",
                   WEIGHTS_MAX_VALUES);
  *total_values += s->count;
  s->scale = 1.0;
  s->min = 0.0;
  if (quant) {
    json_t *qd = json_object_get(quant, "dtype");
    if (!json_is_object(quant) || !json_is_string(qd))
      return ff_fail(err, FF_EINVAL, "weights: '%s' quantization has no dtype", s->name);
    const char *q = json_string_value(qd);
    if (!strcmp(q, "uint8"))
      s->storage = ST_UINT8;
    else if (!strcmp(q, "uint16"))
      s->storage = ST_UINT16;
    else if (!strcmp(q, "float16"))
      s->storage = ST_FLOAT16;
    else
      return ff_fail(err, FF_EUNSUPPORTED, "weights: '%s' has unsupported quantization '%.32s'",
                     s->name, q);
    if (s->storage != ST_FLOAT16) {
      json_t *scale = json_object_get(quant, "scale"), *min = json_object_get(quant, "min");
      if (!json_is_number(scale) || !json_is_number(min))
        return ff_fail(err, FF_EINVAL, "weights: '%s' quantization lacks scale/min", s->name);
      s->scale = json_number_value(scale);
      s->min = json_number_value(min);
      if (!isfinite(s->scale) || !isfinite(s->min))
        return ff_fail(err, FF_EINVAL, "weights: '%s' quantization scale/min not finite", s->name);
    }
  }
  return FF_OK;
}

/* Decodes one entry from `bytes` (exactly count*storage_bytes long). */
static int decode_entry(const struct entry_spec *s, const uint8_t *bytes, struct weights_tensor *t,
                        struct ff_error *err) {
  t->name = strdup(s->name);
  if (!t->name)
    return ff_fail(err, FF_ENOMEM, "weights: out of memory");
  t->dtype = s->dtype;
  t->rank = s->rank;
  memcpy(t->shape, s->shape, sizeof t->shape);
  t->count = s->count;
  size_t n = s->count ? s->count : 1;
  if (s->dtype == WEIGHTS_FLOAT32)
    t->values = malloc(n * sizeof(float));
  else
    t->ints = malloc(n * sizeof(int32_t));
  if (!t->values && !t->ints)
    return ff_fail(err, FF_ENOMEM, "weights: out of memory for '%s'", s->name);
  for (size_t i = 0; i < s->count; i++) {
    double v;
    switch (s->storage) {
    case ST_UINT8: v = (double)bytes[i] * s->scale + s->min; break;
    case ST_UINT16: {
      uint16_t q = (uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
      v = (double)q * s->scale + s->min;
      break;
    }
    case ST_FLOAT16: v = half_to_float((uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8)); break;
    case ST_FLOAT32: {
      float f;
      memcpy(&f, bytes + 4 * i, 4);
      v = f;
      break;
    }
    default: { /* ST_INT32 */
      int32_t k;
      memcpy(&k, bytes + 4 * i, 4);
      t->ints[i] = k;
      continue;
    }
    }
    if (t->values) {
      t->values[i] = (float)v;
    } else {
      double r = round(v);
      if (!(r >= INT32_MIN && r <= INT32_MAX))
        return ff_fail(err, FF_EINVAL, "weights: '%s' int32 value out of range", s->name);
      t->ints[i] = (int32_t)r;
    }
  }
  return FF_OK;
}

static int decode_group(json_t *group, int gi, weights_shard_reader read, void *ctx,
                        struct weights *out, int *capacity, size_t *total_values,
                        struct ff_error *err) {
  if (!json_is_object(group))
    return ff_fail(err, FF_EINVAL, "weights: group %d is not an object", gi);
  json_t *paths = json_object_get(group, "paths"), *entries = json_object_get(group, "weights");
  if (!json_is_array(paths) || !json_is_array(entries))
    return ff_fail(err, FF_EINVAL, "weights: group %d lacks 'paths' or 'weights' arrays", gi);
  if (json_array_size(paths) > 1024 || json_array_size(entries) > 100000)
    return ff_fail(err, FF_ETOOBIG, "weights: group %d has too many shards or entries", gi);

  /* Concatenate the shards in order: entries may straddle shard boundaries. */
  uint8_t *stream = NULL;
  size_t stream_len = 0;
  int rc = FF_OK;
  for (size_t p = 0; p < json_array_size(paths); p++) {
    json_t *pn = json_array_get(paths, p);
    if (!json_is_string(pn)) {
      rc = ff_fail(err, FF_EINVAL, "weights: group %d path %zu is not a string", gi, p);
      goto out;
    }
    if ((rc = check_shard_name(json_string_value(pn), err)) != FF_OK)
      goto out;
    uint8_t *data = NULL;
    size_t size = 0;
    if ((rc = read(ctx, json_string_value(pn), &data, &size, err)) != FF_OK)
      goto out;
    if (size > WEIGHTS_MAX_SHARD_BYTES - stream_len) {
      free(data);
      rc = ff_fail(err, FF_ETOOBIG, "weights: group %d shards exceed %u bytes", gi,
                   WEIGHTS_MAX_SHARD_BYTES);
      goto out;
    }
    if (size) {
      uint8_t *grown = realloc(stream, stream_len + size);
      if (!grown) {
        free(data);
        rc = ff_fail(err, FF_ENOMEM, "weights: out of memory");
        goto out;
      }
      stream = grown;
      memcpy(stream + stream_len, data, size);
      stream_len += size;
    }
    free(data);
  }

  size_t offset = 0;
  for (size_t i = 0; i < json_array_size(entries); i++) {
    struct entry_spec s = {0};
    if ((rc = parse_entry(json_array_get(entries, i), (int)i, &s, total_values, err)) != FF_OK)
      goto out;
    size_t need = s.count * (size_t)storage_bytes(s.storage);
    if (need > stream_len - offset) {
      rc = ff_fail(err, FF_EINVAL,
                   "weights: '%s' needs %zu bytes at offset %zu but the shards hold %zu (truncated "
                   "or mismatched file)",
                   s.name, need, offset, stream_len);
      goto out;
    }
    for (int k = 0; k < out->count; k++)
      if (!strcmp(out->tensors[k].name, s.name)) {
        rc = ff_fail(err, FF_EINVAL, "weights: duplicate entry '%s'", s.name);
        goto out;
      }
    if (out->count == *capacity) {
      int cap = *capacity ? *capacity * 2 : 64;
      struct weights_tensor *t = realloc(out->tensors, (size_t)cap * sizeof *t);
      if (!t) {
        rc = ff_fail(err, FF_ENOMEM, "weights: out of memory");
        goto out;
      }
      out->tensors = t;
      *capacity = cap;
    }
    struct weights_tensor *t = &out->tensors[out->count++];
    memset(t, 0, sizeof *t);
    if ((rc = decode_entry(&s, stream + offset, t, err)) != FF_OK)
      goto out;
    offset += need;
  }
  if (offset != stream_len)
    rc = ff_fail(err, FF_EINVAL,
                 "weights: group %d shards hold %zu bytes but the manifest describes %zu "
                 "(oversized or mismatched file)",
                 gi, stream_len, offset);
out:
  free(stream);
  return rc;
}

int weights_parse(const char *manifest, size_t manifest_len, weights_shard_reader read, void *ctx,
                  struct weights *out, struct ff_error *err) {
  memset(out, 0, sizeof *out);
  if (manifest_len > WEIGHTS_MAX_MANIFEST_BYTES)
    return ff_fail(err, FF_ETOOBIG, "weights: manifest larger than %u bytes",
                   WEIGHTS_MAX_MANIFEST_BYTES);
  json_error_t jerr;
  json_t *root = json_loadb(manifest, manifest_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return ff_fail(err, FF_EINVAL, "weights: manifest is not valid JSON (line %d: %.120s)",
                   jerr.line, jerr.text);
  int rc = FF_OK;
  if (!json_is_array(root) || json_array_size(root) == 0) {
    rc = ff_fail(err, FF_EINVAL, "weights: manifest must be a non-empty array of groups");
    goto out;
  }
  if (json_array_size(root) > 1024) {
    rc = ff_fail(err, FF_ETOOBIG, "weights: manifest has too many groups");
    goto out;
  }
  int capacity = 0;
  size_t total_values = 0;
  for (size_t g = 0; g < json_array_size(root); g++)
    if ((rc = decode_group(json_array_get(root, g), (int)g, read, ctx, out, &capacity,
                           &total_values, err)) != FF_OK)
      goto out;
out:
  json_decref(root);
  if (rc != FF_OK)
    weights_free(out);
  return rc;
}

int weights_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size,
                      struct ff_error *err) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f)
    return ff_fail(err, errno == ENOENT ? FF_ENOTFOUND : FF_EIO, "cannot open %s: %s", path,
                   strerror(errno));
  size_t cap = 0, len = 0;
  uint8_t *buf = NULL;
  int rc = FF_OK;
  for (;;) {
    if (len == cap) {
      if (cap >= max_bytes + 1) {
        rc = ff_fail(err, FF_ETOOBIG, "%s is larger than %zu bytes", path, max_bytes);
        break;
      }
      size_t ncap = cap ? cap * 2 : 65536;
      if (ncap > max_bytes + 1)
        ncap = max_bytes + 1;
      uint8_t *g = realloc(buf, ncap);
      if (!g) {
        rc = ff_fail(err, FF_ENOMEM, "out of memory reading %s", path);
        break;
      }
      buf = g;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f))
        rc = ff_fail(err, FF_EIO, "error reading %s", path);
      break;
    }
  }
  fclose(f);
  if (rc == FF_OK && len > max_bytes)
    rc = ff_fail(err, FF_ETOOBIG, "%s is larger than %zu bytes", path, max_bytes);
  if (rc != FF_OK) {
    free(buf);
    return rc;
  }
  *data = buf;
  *size = len;
  return FF_OK;
}

static int read_shard_from_dir(void *ctx, const char *name, uint8_t **data, size_t *size,
                               struct ff_error *err) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", (const char *)ctx, name) >= (int)sizeof path)
    return ff_fail(err, FF_EINVAL, "weights: shard path too long");
  return weights_read_file(path, WEIGHTS_MAX_SHARD_BYTES, data, size, err);
}

int weights_load(const char *dir, const char *model, struct weights *out, struct ff_error *err) {
  char path[4096];
  memset(out, 0, sizeof *out);
  if (snprintf(path, sizeof path, "%s/%s-weights_manifest.json", dir, model) >= (int)sizeof path)
    return ff_fail(err, FF_EINVAL, "weights: manifest path too long");
  uint8_t *text;
  size_t len;
  int rc = weights_read_file(path, WEIGHTS_MAX_MANIFEST_BYTES, &text, &len, err);
  if (rc != FF_OK)
    return rc;
  rc = weights_parse((const char *)text, len, read_shard_from_dir, (void *)dir, out, err);
  free(text);
  if (rc != FF_OK && err) {
    /* Say which model failed: the caller usually loads several. */
    char inner[FF_ERROR_MESSAGE_MAX];
    snprintf(inner, sizeof inner, "%s", err->message);
    ff_fail(err, rc, "%s: %s", model, inner);
  }
  return rc;
}

const struct weights_tensor *weights_find(const struct weights *w, const char *name, int rank,
                                          const int *dims, struct ff_error *err) {
  for (int i = 0; i < w->count; i++) {
    const struct weights_tensor *t = &w->tensors[i];
    if (strcmp(t->name, name))
      continue;
    if (t->dtype != WEIGHTS_FLOAT32) {
      ff_fail(err, FF_EINVAL, "weights: '%s' is not float32", name);
      return NULL;
    }
    int ok = t->rank == rank;
    for (int d = 0; ok && d < rank; d++)
      ok = dims[d] < 0 || dims[d] == t->shape[d];
    if (!ok) {
      char got[96] = "", want[96] = "";
      for (int d = 0; d < t->rank; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", d ? "," : "", t->shape[d]);
      for (int d = 0; d < rank; d++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "", dims[d]);
      ff_fail(err, FF_EINVAL, "weights: '%s' has shape [%s], expected [%s]", name, got, want);
      return NULL;
    }
    return t;
  }
  ff_fail(err, FF_EINVAL, "weights: tensor '%s' missing from the manifest", name);
  return NULL;
}
