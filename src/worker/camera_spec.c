#include "camera_spec.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const keys[] = {"id", "kind", "url", "fps", "transport", "loop", "motion"};
#define KEY_COUNT (sizeof keys / sizeof keys[0])

static void spec_init(struct camera_spec *s) {
  memset(s, 0, sizeof *s);
  s->kind = CAMERA_RTSP;
  s->motion_gate = -1;
}

static int check(const struct camera_spec *s, struct ff_error *err) {
  if (s->id <= 0)
    return ff_fail(err, FF_EINVAL, "camera needs a positive id");
  if (!s->url[0])
    return ff_fail(err, FF_EINVAL, "camera %d needs a url", s->id);
  if (s->fps != 0 && !(s->fps >= 0.1 && s->fps <= 60))
    return ff_fail(err, FF_EINVAL, "camera %d: fps must be within 0.1..60", s->id);
  return FF_OK;
}

static int parse_int(const char *v, size_t n, int *out) {
  char buf[32];
  if (n == 0 || n >= sizeof buf)
    return -1;
  memcpy(buf, v, n);
  buf[n] = 0;
  char *end;
  long x = strtol(buf, &end, 10);
  if (*end || x < 0 || x > 1000000000)
    return -1;
  *out = (int)x;
  return 0;
}

/* Where the value starting at v ends: the next ",key=" of a known key. */
static size_t value_length(const char *v) {
  for (const char *p = strchr(v, ','); p; p = strchr(p + 1, ','))
    for (size_t k = 0; k < KEY_COUNT; k++) {
      size_t n = strlen(keys[k]);
      if (!strncmp(p + 1, keys[k], n) && p[1 + n] == '=')
        return (size_t)(p - v);
    }
  return strlen(v);
}

int camera_spec_parse_flag(const char *text, struct camera_spec *out, struct ff_error *err) {
  struct camera_spec s;
  spec_init(&s);
  const char *p = text;
  while (*p) {
    const char *eq = strchr(p, '=');
    if (!eq)
      return ff_fail(err, FF_EINVAL, "--camera: expected key=value at '%.40s'", p);
    size_t klen = (size_t)(eq - p);
    const char *v = eq + 1;
    size_t vlen = value_length(v);
    char value[CAMERA_URL_MAX];
    if (vlen >= sizeof value)
      return ff_fail(err, FF_ETOOBIG, "--camera: value too long");
    memcpy(value, v, vlen);
    value[vlen] = 0;
    int ok = 0;
    if (klen == 2 && !strncmp(p, "id", 2))
      ok = !parse_int(v, vlen, &s.id);
    else if (klen == 4 && !strncmp(p, "kind", 4))
      ok = camera_source_kind_parse(value, &s.kind) == FF_OK;
    else if (klen == 3 && !strncmp(p, "url", 3)) {
      snprintf(s.url, sizeof s.url, "%s", value);
      ok = vlen > 0;
    } else if (klen == 3 && !strncmp(p, "fps", 3)) {
      char *end;
      s.fps = strtod(value, &end);
      ok = !*end && vlen > 0 && s.fps >= 0.1 && s.fps <= 60;
    } else if (klen == 9 && !strncmp(p, "transport", 9)) {
      ok = !strcmp(value, "tcp") || !strcmp(value, "udp");
      s.udp = !strcmp(value, "udp");
    } else if (klen == 4 && !strncmp(p, "loop", 4)) {
      ok = !parse_int(v, vlen, &s.loop) && s.loop <= 1;
    } else if (klen == 6 && !strncmp(p, "motion", 6)) {
      ok = !parse_int(v, vlen, &s.motion_gate) && s.motion_gate <= 1;
    } else {
      return ff_fail(err, FF_EINVAL, "--camera: unknown key '%.*s'", (int)(klen > 32 ? 32 : klen),
                     p);
    }
    if (!ok)
      return ff_fail(err, FF_EINVAL, "--camera: bad value for '%.*s'", (int)(klen > 32 ? 32 : klen),
                     p);
    p = v + vlen;
    if (*p == ',')
      p++;
  }
  int rc = check(&s, err);
  if (rc == FF_OK)
    *out = s;
  return rc;
}

int camera_spec_parse_json(const char *text, size_t len, struct camera_spec *specs, int *count,
                           struct ff_error *err) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return ff_fail(err, FF_EINVAL, "cameras file is not JSON: %s (line %d)", jerr.text, jerr.line);
  int rc = FF_OK;
  if (!json_is_array(root)) {
    rc = ff_fail(err, FF_EINVAL, "cameras file must hold an array");
    goto done;
  }
  size_t i;
  json_t *c;
  json_array_foreach(root, i, c) {
    if (*count >= CAMERA_SPEC_MAX) {
      rc = ff_fail(err, FF_ETOOBIG, "more than %d cameras", CAMERA_SPEC_MAX);
      goto done;
    }
    struct camera_spec s;
    spec_init(&s);
    if (!json_is_object(c)) {
      rc = ff_fail(err, FF_EINVAL, "camera %zu is not an object", i);
      goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(c, key, v) {
      int ok;
      if (!strcmp(key, "id"))
        ok = json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 1000000000;
      else if (!strcmp(key, "kind"))
        ok = json_is_string(v) && camera_source_kind_parse(json_string_value(v), &s.kind) == FF_OK;
      else if (!strcmp(key, "url"))
        ok = json_is_string(v) && json_string_length(v) < sizeof s.url;
      else if (!strcmp(key, "fps"))
        ok = json_is_number(v) && json_number_value(v) >= 0.1 && json_number_value(v) <= 60;
      else if (!strcmp(key, "transport"))
        ok = json_is_string(v) &&
             (!strcmp(json_string_value(v), "tcp") || !strcmp(json_string_value(v), "udp"));
      else if (!strcmp(key, "loop") || !strcmp(key, "motion_gate"))
        ok = json_is_boolean(v);
      else {
        rc = ff_fail(err, FF_EINVAL, "camera %zu: unknown field '%.40s'", i, key);
        goto done;
      }
      if (!ok) {
        rc = ff_fail(err, FF_EINVAL, "camera %zu: bad value for '%s'", i, key);
        goto done;
      }
    }
    s.id = (int)json_integer_value(json_object_get(c, "id"));
    const char *url = json_string_value(json_object_get(c, "url"));
    snprintf(s.url, sizeof s.url, "%s", url ? url : "");
    s.fps = json_number_value(json_object_get(c, "fps"));
    s.udp = json_is_string(json_object_get(c, "transport")) &&
            !strcmp(json_string_value(json_object_get(c, "transport")), "udp");
    s.loop = json_is_true(json_object_get(c, "loop"));
    json_t *mg = json_object_get(c, "motion_gate");
    s.motion_gate = mg ? json_is_true(mg) : -1;
    if ((rc = check(&s, err)))
      goto done;
    for (int k = 0; k < *count; k++)
      if (specs[k].id == s.id) {
        rc = ff_fail(err, FF_EINVAL, "camera id %d given twice", s.id);
        goto done;
      }
    specs[(*count)++] = s;
  }
done:
  json_decref(root);
  return rc;
}
