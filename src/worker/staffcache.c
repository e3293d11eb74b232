#include "staffcache.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "backoff.h"
#include "face.h"
#include "http_client.h"

struct staffcache {
  char path[1024];
  pthread_mutex_t lock; /* guards list and info */
  struct staff_list list;
  struct staffcache_info info;
};

void staff_list_free(struct staff_list *list) {
  for (int i = 0; i < list->count; i++)
    free(list->members[i].descriptors);
  free(list->members);
  memset(list, 0, sizeof *list);
}

static int positive_int(json_t *v, int64_t *out) {
  if (!json_is_integer(v) || json_integer_value(v) <= 0)
    return -1;
  *out = json_integer_value(v);
  return 0;
}

int staff_list_parse(const char *text, size_t len, struct staff_list *out, struct ff_error *err) {
  if (len > STAFF_MAX_BYTES)
    return ff_fail(err, FF_ETOOBIG, "staff list larger than %d bytes", STAFF_MAX_BYTES);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return ff_fail(err, FF_EINVAL, "staff list is not JSON: %s", jerr.text);
  struct staff_list list = {0};
  int rc = FF_OK;
  json_t *staff = json_object_get(root, "staff");
  json_t *version = json_object_get(root, "version");
  if (!json_is_object(root) || positive_int(json_object_get(root, "site_id"), &list.site_id) ||
      !json_is_integer(version) || json_integer_value(version) < 0 || !json_is_array(staff)) {
    rc = ff_fail(err, FF_EINVAL, "staff list needs site_id, version and a staff array");
    goto done;
  }
  list.version = json_integer_value(version);
  size_t n = json_array_size(staff);
  if (n > STAFF_MAX_MEMBERS) {
    rc = ff_fail(err, FF_ETOOBIG, "more than %d staff", STAFF_MAX_MEMBERS);
    goto done;
  }
  list.members = calloc(n ? n : 1, sizeof *list.members);
  if (!list.members) {
    rc = ff_fail(err, FF_ENOMEM, "out of memory");
    goto done;
  }
  size_t i;
  json_t *m;
  json_array_foreach(staff, i, m) {
    struct staff_member *sm = &list.members[list.count];
    json_t *name = json_object_get(m, "name"), *descs = json_object_get(m, "descriptors");
    if (!json_is_object(m) || positive_int(json_object_get(m, "id"), &sm->id) ||
        !json_is_string(name) || !json_is_array(descs) ||
        json_array_size(descs) > STAFF_MAX_DESCRIPTORS) {
      rc = ff_fail(err, FF_EINVAL,
                   "staff[%zu]: needs a positive id, a name and at most %d descriptors", i,
                   STAFF_MAX_DESCRIPTORS);
      goto done;
    }
    for (int k = 0; k < list.count; k++)
      if (list.members[k].id == sm->id) {
        rc = ff_fail(err, FF_EINVAL, "staff[%zu]: id %lld repeated", i, (long long)sm->id);
        goto done;
      }
    /* A long name is cut, on a UTF-8 character boundary, not refused. */
    size_t name_len = json_string_length(name);
    if (name_len >= sizeof sm->name) {
      name_len = sizeof sm->name - 1;
      while (name_len > 0 && (json_string_value(name)[name_len] & 0xC0) == 0x80)
        name_len--;
    }
    memcpy(sm->name, json_string_value(name), name_len);
    sm->name[name_len] = 0;
    size_t nd = json_array_size(descs);
    sm->descriptors = calloc(nd ? nd : 1, sizeof *sm->descriptors);
    if (!sm->descriptors) {
      rc = ff_fail(err, FF_ENOMEM, "out of memory");
      goto done;
    }
    list.count++;
    size_t j;
    json_t *d;
    json_array_foreach(descs, j, d) {
      if (!json_is_array(d) || json_array_size(d) != FACE_DESCRIPTOR_SIZE) {
        rc = ff_fail(err, FF_EINVAL, "staff[%zu].descriptors[%zu]: needs 128 numbers", i, j);
        goto done;
      }
      for (size_t k = 0; k < FACE_DESCRIPTOR_SIZE; k++) {
        json_t *x = json_array_get(d, k);
        double v = json_number_value(x);
        if (!json_is_number(x) || !isfinite(v) || fabs(v) > 1e3) {
          rc = ff_fail(err, FF_EINVAL, "staff[%zu].descriptors[%zu][%zu]: not a finite number", i,
                       j, k);
          goto done;
        }
        sm->descriptors[j][k] = (float)v;
      }
      sm->descriptor_count++;
    }
  }
done:
  json_decref(root);
  if (rc)
    staff_list_free(&list);
  else
    *out = list;
  return rc;
}

int staffcache_open(const char *path, struct staffcache **out, struct ff_error *err) {
  struct staffcache *sc = calloc(1, sizeof *sc);
  if (!sc)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  snprintf(sc->path, sizeof sc->path, "%s", path);
  pthread_mutex_init(&sc->lock, NULL);
  char *text;
  size_t len;
  struct ff_error e = {0};
  int rc = read_small_file(path, STAFF_MAX_BYTES, &text, &len, &e);
  if (rc == FF_OK) {
    rc = staff_list_parse(text, len, &sc->list, &e);
    free(text);
  }
  if (rc && rc != FF_ENOTFOUND)
    snprintf(sc->info.last_error, sizeof sc->info.last_error, "cached list unusable: %.200s",
             e.message);
  *out = sc;
  return FF_OK;
}

void staffcache_close(struct staffcache *sc) {
  if (!sc)
    return;
  staff_list_free(&sc->list);
  pthread_mutex_destroy(&sc->lock);
  free(sc);
}

int staffcache_refresh(struct staffcache *sc, const char *server_url, const char *api_key,
                       int timeout_ms, struct ff_error *err) {
  char url[1024];
  size_t n = strlen(server_url);
  while (n > 0 && server_url[n - 1] == '/')
    n--;
  snprintf(url, sizeof url, "%.*s/v1/worker/staff", (int)n, server_url);
  struct http_response res;
  struct staff_list list;
  int rc = http_request("GET", url, api_key, NULL, 0, timeout_ms, STAFF_MAX_BYTES, &res, err);
  if (rc == FF_OK) {
    if (res.status != 200)
      rc = ff_fail(err, res.status == 401 || res.status == 403 ? FF_EAUTH : FF_EIO,
                   "staff list: server answered HTTP %ld", res.status);
    else if ((rc = staff_list_parse(res.body, res.len, &list, err)) == FF_OK &&
             (rc = atomic_write(sc->path, res.body, res.len, err)) != FF_OK)
      staff_list_free(&list);
    http_response_free(&res);
  }
  pthread_mutex_lock(&sc->lock);
  if (rc == FF_OK) {
    staff_list_free(&sc->list);
    sc->list = list;
    sc->info.refreshed_wall_ms = wall_ms();
    sc->info.last_error[0] = 0;
  } else {
    sc->info.refresh_failures++;
    snprintf(sc->info.last_error, sizeof sc->info.last_error, "%s",
             err ? err->message : "refresh failed");
  }
  pthread_mutex_unlock(&sc->lock);
  return rc;
}

int staffcache_match(struct staffcache *sc, const float descriptor[128], double max_distance,
                     int64_t *id, char name[STAFF_NAME_MAX], double *distance) {
  pthread_mutex_lock(&sc->lock);
  double best = INFINITY;
  const struct staff_member *who = NULL;
  for (int i = 0; i < sc->list.count; i++)
    for (int k = 0; k < sc->list.members[i].descriptor_count; k++) {
      double d = face_distance(descriptor, sc->list.members[i].descriptors[k]);
      if (d < best) {
        best = d;
        who = &sc->list.members[i];
      }
    }
  int matched = who && best < max_distance;
  if (matched) {
    *id = who->id;
    if (name)
      snprintf(name, STAFF_NAME_MAX, "%s", who->name);
  }
  if (distance)
    *distance = best;
  pthread_mutex_unlock(&sc->lock);
  return matched;
}

void staffcache_get_info(struct staffcache *sc, struct staffcache_info *out) {
  pthread_mutex_lock(&sc->lock);
  *out = sc->info;
  out->site_id = sc->list.site_id;
  out->version = sc->list.version;
  out->members = sc->list.count;
  out->descriptors = 0;
  for (int i = 0; i < sc->list.count; i++)
    out->descriptors += sc->list.members[i].descriptor_count;
  pthread_mutex_unlock(&sc->lock);
}
