#include "worker.h"

#include <errno.h>
#include <libavutil/log.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "backoff.h"
#include "endpoint.h"
#include "event.h"
#include "face.h"
#include "fleet_client.h"
#include "log.h"

static int parse_double(const char *name, const char *text, double lo, double hi, double *out,
                        struct ff_error *err) {
  char *end;
  double v = strtod(text ? text : "", &end);
  if (!text || *end || end == text || !(v >= lo && v <= hi))
    return ff_fail(err, FF_EINVAL, "--%s must be a number within %g..%g, got '%s'", name, lo, hi,
                   text ? text : "");
  *out = v;
  return FF_OK;
}

/* A small state file (worker id, endpoint secret): read it, or make it once. */
static int state_value(const char *dir, const char *name, int hex_bytes, char *out, size_t size,
                       struct ff_error *err) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *text;
  size_t len;
  int rc = read_small_file(path, 256, &text, &len, err);
  if (rc == FF_OK) {
    text[strcspn(text, "\r\n")] = 0;
    if (!*text || strlen(text) >= size) {
      free(text);
      return ff_fail(err, FF_EINVAL, "%s is empty or too long", path);
    }
    snprintf(out, size, "%s", text);
    free(text);
    return FF_OK;
  }
  if (rc != FF_ENOTFOUND)
    return rc;
  if (hex_bytes == 0) {
    outbox_new_id(out);
  } else {
    unsigned char b[32];
    randombytes_buf(b, (size_t)hex_bytes);
    sodium_bin2hex(out, size, b, (size_t)hex_bytes);
  }
  char line[128];
  int n = snprintf(line, sizeof line, "%s\n", out);
  return atomic_write(path, line, (size_t)n, err);
}

int worker_add_camera(struct worker *w, const struct camera_spec *spec, struct ff_error *err) {
  struct camera_source_options so;
  camera_source_options_default(&so);
  so.camera_id = spec->id;
  so.kind = spec->kind;
  snprintf(so.url, sizeof so.url, "%s", spec->url);
  so.rtsp_udp = spec->udp;
  so.loop = spec->loop;
  so.timeout_ms = w->cfg.source_timeout_ms;
  so.backoff_base_ms = w->cfg.reconnect_base_ms;
  so.backoff_cap_ms = w->cfg.reconnect_cap_ms;
  snprintf(so.lock_dir, sizeof so.lock_dir, "%s", w->cfg.device_lock_dir);
  struct pipeline_camera_options pc = {.camera_id = spec->id};
  double fps = 5, threshold = 2;
  if (parse_double("sample-fps", w->cfg.sample_fps, 0.1, 60, &fps, err) ||
      parse_double("motion-threshold", w->cfg.motion_threshold, 0, 255, &threshold, err))
    return err ? err->status : FF_EINVAL;
  pc.sample_fps = spec->fps > 0 ? spec->fps : fps;
  pc.motion_gate = spec->motion_gate >= 0 ? spec->motion_gate : w->cfg.motion_gate;
  pc.motion_threshold = threshold;
  if (pipeline_camera_get(w->pipeline, spec->id, NULL, NULL, NULL) == FF_OK)
    return ff_fail(err, FF_ECONFLICT, "camera %d is already running", spec->id);
  struct camera_source *source;
  int rc = camera_source_start(&so, &source, err);
  if (rc)
    return rc;
  if ((rc = pipeline_add_camera(w->pipeline, &pc, source, err))) {
    camera_source_stop(source);
    return rc;
  }
  log_msg(LOG_INFO, "worker.camera", "camera=%d kind=%s sample_fps=%.1f added", spec->id,
          camera_source_kind_name(spec->kind), pc.sample_fps);
  return FF_OK;
}

int worker_remove_camera(struct worker *w, int camera_id) {
  int rc = pipeline_remove_camera(w->pipeline, camera_id);
  if (rc == FF_OK)
    log_msg(LOG_INFO, "worker.camera", "camera=%d removed", camera_id);
  return rc;
}

int worker_is_local(const struct worker *w, int camera_id) {
  for (int i = 0; i < w->local_count; i++)
    if (w->local_ids[i] == camera_id)
      return 1;
  return 0;
}

/* The lease record of a camera (made when absent); lease_lock held. */
static struct worker_lease *lease_of(struct worker *w, int camera_id) {
  for (int i = 0; i < w->lease_count; i++)
    if (w->leases[i].camera_id == camera_id)
      return &w->leases[i];
  if (w->lease_count >= CAMERA_SPEC_MAX) {
    /* forget one that is not running */
    for (int i = 0; i < w->lease_count; i++)
      if (!w->leases[i].running) {
        w->leases[i] = w->leases[--w->lease_count];
        break;
      }
    if (w->lease_count >= CAMERA_SPEC_MAX)
      return NULL;
  }
  struct worker_lease *l = &w->leases[w->lease_count++];
  memset(l, 0, sizeof *l);
  l->camera_id = camera_id;
  l->generation = -1;
  l->processing = -1;
  return l;
}

static int spec_from_json(json_t *camera, struct camera_spec *spec, struct ff_error *err) {
  int count = 0;
  json_t *list = json_pack("[O]", camera);
  char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
  json_decref(list);
  if (!text)
    return ff_fail(err, FF_ENOMEM, "out of memory");
  int rc = camera_spec_parse_json(text, strlen(text), spec, &count, err);
  free(text);
  return rc;
}

/* assign_camera: {"camera": {spec}, "generation": N} from the server, or a
 * bare camera spec (a camera that belongs to nobody's lease). */
static int command_assign(struct worker *w, json_t *params, json_t **result, struct ff_error *err) {
  json_t *camera = json_object_get(params, "camera");
  json_t *gen_v = json_object_get(params, "generation");
  if (!camera && gen_v)
    return ff_fail(err, FF_ENOTFOUND, "the camera of this lease no longer exists");
  if (!camera)
    camera = params;
  else if (!json_is_integer(gen_v) || json_integer_value(gen_v) < 0)
    return ff_fail(err, FF_EINVAL, "assign_camera needs an integer generation with a camera");
  struct camera_spec spec;
  int rc = spec_from_json(camera, &spec, err);
  if (rc)
    return rc;
  if (worker_is_local(w, spec.id)) {
    *result = json_pack("{s:i,s:b,s:b}", "camera_id", spec.id, "running", 1, "local", 1);
    return FF_OK;
  }
  if (!gen_v) { /* an operator's camera, not a lease: it stays like one from the command line */
    if (w->local_count >= CAMERA_SPEC_MAX)
      return ff_fail(err, FF_ETOOBIG, "more than %d cameras", CAMERA_SPEC_MAX);
    if ((rc = worker_add_camera(w, &spec, err)))
      return rc;
    w->local_ids[w->local_count++] = spec.id;
    *result = json_pack("{s:i,s:b}", "camera_id", spec.id, "local", 1);
    return FF_OK;
  }
  int64_t gen = gen_v ? json_integer_value(gen_v) : 0;
  pthread_mutex_lock(&w->lease_lock);
  struct worker_lease *l = lease_of(w, spec.id);
  if (!l) {
    pthread_mutex_unlock(&w->lease_lock);
    return ff_fail(err, FF_ETOOBIG, "more than %d cameras", CAMERA_SPEC_MAX);
  }
  if (gen_v && gen < l->generation) {
    rc = ff_fail(err, FF_ECONFLICT, "stale assignment: generation %lld, already at %lld",
                 (long long)gen, (long long)l->generation);
    pthread_mutex_unlock(&w->lease_lock);
    return rc;
  }
  int running = pipeline_camera_get(w->pipeline, spec.id, NULL, NULL, NULL) == FF_OK;
  if (!running && (rc = worker_add_camera(w, &spec, err)) == FF_OK) {
    l->running = 1;
    l->applied_ms = monotonic_ms();
  }
  if (rc == FF_OK && gen_v)
    l->generation = gen;
  pthread_mutex_unlock(&w->lease_lock);
  if (rc)
    return rc;
  *result = json_pack("{s:i,s:I,s:b}", "camera_id", spec.id, "generation", (json_int_t)gen,
                      "already_running", running);
  return FF_OK;
}

static int command_release(struct worker *w, json_t *params, json_t **result,
                           struct ff_error *err) {
  json_t *id = json_object_get(params, "camera_id");
  json_t *gen_v = json_object_get(params, "generation");
  if (!json_is_integer(id) || (gen_v && !json_is_integer(gen_v)))
    return ff_fail(err, FF_EINVAL, "release_camera needs an integer camera_id (and generation)");
  int camera = (int)json_integer_value(id);
  if (worker_is_local(w, camera))
    return ff_fail(err, FF_ECONFLICT,
                   "camera %d runs from this worker's command line: stop it there", camera);
  pthread_mutex_lock(&w->lease_lock);
  struct worker_lease *l = lease_of(w, camera);
  int64_t gen = gen_v ? json_integer_value(gen_v) : (l ? l->generation : 0);
  if (l && gen_v && gen < l->generation) {
    int rc = ff_fail(err, FF_ECONFLICT, "stale release: generation %lld, already at %lld",
                     (long long)gen, (long long)l->generation);
    pthread_mutex_unlock(&w->lease_lock);
    return rc;
  }
  int stopped = l && (l->running || !gen_v) && worker_remove_camera(w, camera) == FF_OK;
  if (l) {
    l->running = 0;
    if (gen_v)
      l->generation = gen;
  }
  pthread_mutex_unlock(&w->lease_lock);
  if (!stopped && !gen_v)
    return ff_fail(err, FF_ENOTFOUND, "camera %d is not running", camera);
  *result = json_pack("{s:i,s:b}", "camera_id", camera, "stopped", stopped);
  return FF_OK;
}

void worker_apply_leases(struct worker *w, json_t *leases, int64_t sent_ms) {
  if (!json_is_array(leases))
    return;
  pthread_mutex_lock(&w->lease_lock);
  size_t i;
  json_t *item;
  json_array_foreach(leases, i, item) {
    json_t *camera = json_object_get(item, "camera");
    int64_t gen = json_integer_value(json_object_get(item, "generation"));
    struct camera_spec spec;
    struct ff_error err = {0};
    if (spec_from_json(camera, &spec, &err)) {
      log_msg(LOG_WARN, "worker.lease", "lease %zu refused: %s", i, err.message);
      continue;
    }
    if (worker_is_local(w, spec.id))
      continue;
    struct worker_lease *l = lease_of(w, spec.id);
    if (!l || gen < l->generation)
      continue;
    l->generation = gen;
    if (pipeline_camera_get(w->pipeline, spec.id, NULL, NULL, NULL) != FF_OK) {
      if (worker_add_camera(w, &spec, &err)) {
        log_msg(LOG_WARN, "worker.lease", "camera=%d not started: %s", spec.id, err.message);
        continue;
      }
      l->running = 1;
      l->applied_ms = monotonic_ms();
    }
    /* The server's processing setting, when it changes (a command may have
     * changed it on the worker in between). */
    json_t *processing = json_object_get(item, "processing");
    if (json_is_boolean(processing) && json_is_true(processing) != l->processing) {
      l->processing = json_is_true(processing);
      pipeline_set_processing(w->pipeline, spec.id, l->processing);
    }
  }
  for (int k = 0; k < w->lease_count; k++) {
    struct worker_lease *l = &w->leases[k];
    if (!l->running || l->applied_ms > sent_ms)
      continue;
    int listed = 0;
    json_array_foreach(leases, i, item) listed |=
        json_integer_value(json_object_get(item, "camera_id")) == l->camera_id;
    if (listed)
      continue;
    log_msg(LOG_INFO, "worker.lease", "camera=%d no longer leased to this worker: stopping",
            l->camera_id);
    worker_remove_camera(w, l->camera_id);
    l->running = 0;
  }
  pthread_mutex_unlock(&w->lease_lock);
}

static int command_processing(struct worker *w, int on, json_t *params, json_t **result,
                              struct ff_error *err) {
  json_t *id = json_object_get(params, "camera_id");
  if (!json_is_integer(id))
    return ff_fail(err, FF_EINVAL, "%s needs an integer camera_id",
                   on ? "start_processing" : "stop_processing");
  if (pipeline_set_processing(w->pipeline, (int)json_integer_value(id), on))
    return ff_fail(err, FF_ENOTFOUND, "camera %lld is not running",
                   (long long)json_integer_value(id));
  *result = json_pack("{s:I,s:b}", "camera_id", json_integer_value(id), "processing", on);
  return FF_OK;
}

int worker_command(struct worker *w, const char *type, json_t *params, json_t **result,
                   struct ff_error *err) {
  *result = NULL;
  if (!strcmp(type, "assign_camera"))
    return command_assign(w, params, result, err);
  if (!strcmp(type, "release_camera"))
    return command_release(w, params, result, err);
  if (!strcmp(type, "start_processing") || !strcmp(type, "stop_processing"))
    return command_processing(w, !strcmp(type, "start_processing"), params, result, err);
  if (!strcmp(type, "start_streaming") || !strcmp(type, "stop_streaming")) {
    if (!w->fleet)
      return ff_fail(err, FF_EUNSUPPORTED, "live streams need the server channel");
    return fleet_client_stream(w->fleet, !strcmp(type, "start_streaming"), params, result, err);
  }
  if (!strcmp(type, "status_report")) {
    *result = worker_status_json(w);
    return FF_OK;
  }
  if (!strcmp(type, "refresh_staff")) {
    if (!w->cfg.server_url)
      return ff_fail(err, FF_EINVAL, "no server URL configured");
    int rc = staffcache_refresh(w->staff, w->cfg.server_url, w->cfg.worker_api_key,
                                w->cfg.upload_timeout_ms, err);
    if (rc)
      return rc;
    struct staffcache_info info;
    staffcache_get_info(w->staff, &info);
    *result = json_pack("{s:I, s:i}", "version", (json_int_t)info.version, "members", info.members);
    return FF_OK;
  }
  if (!strcmp(type, "shutdown") || !strcmp(type, "restart")) {
    if (!strcmp(type, "restart"))
      atomic_store(&w->restart, 1);
    atomic_store(&w->stopping, 1);
    kill(getpid(), SIGTERM); /* wakes the main thread's sigwait */
    *result = json_object();
    return FF_OK;
  }
  return ff_fail(err, FF_EUNSUPPORTED, "command '%s' is not supported by this worker", type);
}

static json_t *camera_json(struct worker *w, int id, int detailed) {
  struct pipeline_camera_stats ps;
  struct camera_source_stats ss;
  struct pipeline_camera_options po;
  if (pipeline_camera_get(w->pipeline, id, &ps, &ss, &po))
    return NULL;
  char last_frame[32] = "", last_processed[32] = "";
  if (ss.last_frame_wall_ms)
    event_format_time(ss.last_frame_wall_ms, last_frame);
  if (ps.last_processed_wall_ms)
    event_format_time(ps.last_processed_wall_ms, last_processed);
  json_t *o =
      json_pack("{s:i, s:s, s:s*, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s*, s:I, s:s*}", "id", id,
                "state", camera_source_state_name(ss.state), "reason",
                ss.reason[0] ? ss.reason : NULL, "frames_in", (json_int_t)ss.frames_in, "processed",
                (json_int_t)ps.frames_processed, "skipped", (json_int_t)(ps.samples_skipped),
                "faces", (json_int_t)ps.faces, "events", (json_int_t)ps.events, "staff_events",
                (json_int_t)ps.staff_events, "errors", (json_int_t)(ps.errors + ss.decode_errors),
                "last_frame_at", last_frame[0] ? last_frame : NULL, "reconnects",
                (json_int_t)ss.reconnects, "last_error", ps.last_error[0] ? ps.last_error : NULL);
  json_object_set_new(o, "processing", json_boolean(pipeline_processing(w->pipeline, id) == 1));
  json_object_set_new(o, "local", json_boolean(worker_is_local(w, id)));
  if (detailed) {
    json_object_set_new(
        o, "decoder",
        json_pack("{s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:b}", "codec", ss.codec, "width", ss.width,
                  "height", ss.height, "packets", (json_int_t)ss.packets, "decode_errors",
                  (json_int_t)ss.decode_errors, "frames_unread", (json_int_t)ss.frames_unread,
                  "connects", (json_int_t)ss.connects, "device_locked", ss.device_locked));
    json_object_set_new(o, "pipeline",
                        json_pack("{s:f, s:b, s:f, s:I, s:I, s:i, s:f, s:s*}", "sample_fps",
                                  po.sample_fps, "motion_gate", po.motion_gate, "motion_threshold",
                                  po.motion_threshold, "still_frames", (json_int_t)ps.still_frames,
                                  "tracks", (json_int_t)ps.tracks, "active_tracks",
                                  ps.active_tracks, "last_detect_ms", ps.last_detect_ms,
                                  "last_processed_at", last_processed[0] ? last_processed : NULL));
  }
  return o;
}

static json_t *status_json(struct worker *w, int detailed) {
  json_t *cams = json_array();
  int ids[64];
  int n = pipeline_camera_ids(w->pipeline, ids, 64);
  for (int i = 0; i < n; i++) {
    json_t *c = camera_json(w, ids[i], detailed);
    if (c)
      json_array_append_new(cams, c);
  }
  struct outbox_stats ob;
  outbox_get_stats(w->outbox, &ob);
  char oldest[32] = "";
  if (ob.oldest_ms)
    event_format_time(ob.oldest_ms, oldest);
  json_t *outbox = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s*}", "events", (json_int_t)ob.events,
                             "bytes", (json_int_t)ob.bytes, "pushed", (json_int_t)ob.pushed,
                             "acked", (json_int_t)ob.acked, "dropped", (json_int_t)ob.dropped,
                             "oldest_at", oldest[0] ? oldest : NULL);
  struct pipeline_latency lat;
  pipeline_event_latency(w->pipeline, &lat);
  json_object_set_new(outbox, "latency_ms",
                      json_pack("{s:i, s:i, s:i, s:i}", "p50", lat.p50_ms, "p95", lat.p95_ms, "max",
                                lat.max_ms, "window", lat.window));
  json_t *uploader = json_null();
  if (w->uploader) {
    struct uploader_stats us;
    uploader_get_stats(w->uploader, &us);
    char last_ok[32] = "";
    if (us.last_success_wall_ms)
      event_format_time(us.last_success_wall_ms, last_ok);
    json_t *outcomes = json_object();
    for (int i = 0; i < OUTCOME_COUNT; i++)
      json_object_set_new(outcomes, upload_outcome_name((enum upload_outcome)i),
                          json_integer(us.outcomes[i]));
    uploader = json_pack("{s:I, s:I, s:I, s:o, s:I, s:I, s:s*, s:s*, s:i}", "batches",
                         (json_int_t)us.batches, "events_sent", (json_int_t)us.events_sent,
                         "answered", (json_int_t)us.answered, "outcomes", outcomes, "failures",
                         (json_int_t)us.failures, "last_status", (json_int_t)us.last_status,
                         "last_error", us.last_error[0] ? us.last_error : NULL, "last_success_at",
                         last_ok[0] ? last_ok : NULL, "batch_size", us.batch_now);
  }
  struct staffcache_info si;
  staffcache_get_info(w->staff, &si);
  json_t *staff = json_pack("{s:I, s:i, s:i, s:s*}", "version", (json_int_t)si.version, "members",
                            si.members, "descriptors", si.descriptors, "last_error",
                            si.last_error[0] ? si.last_error : NULL);
  char started[32];
  event_format_time(w->started_wall_ms, started);
  /* error: a camera in error; offline: shutting down */
  const char *status = n > 0 ? "processing" : "idle";
  size_t k;
  json_t *cam;
  json_array_foreach(cams, k, cam) if (!strcmp(json_string_value(json_object_get(cam, "state")),
                                               "error")) status = "error";
  if (atomic_load(&w->stopping))
    status = "offline";
  json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "worker_id", w->worker_id,
                        "status", status, "started_at", started, "uptime_s",
                        (json_int_t)((wall_ms() - w->started_wall_ms) / 1000), "cameras", cams,
                        "outbox", outbox, "uploader", uploader, "staff", staff);
  if (w->fleet)
    json_object_set_new(o, "fleet", fleet_client_status_json(w->fleet));
  return o;
}

json_t *worker_status_json(struct worker *w) {
  return status_json(w, 0);
}

json_t *worker_diagnostics_json(struct worker *w) {
  json_t *o = status_json(w, 1);
  json_t *locks = json_array();
  json_t *cams = json_object_get(o, "cameras");
  size_t i;
  json_t *c;
  json_array_foreach(cams, i, c) {
    const char *reason = json_string_value(json_object_get(c, "reason"));
    json_t *dec = json_object_get(c, "decoder");
    if (json_is_true(json_object_get(dec, "device_locked")) || (reason && strstr(reason, "in use")))
      json_array_append_new(
          locks, json_pack("{s:O, s:b, s:s*}", "camera_id", json_object_get(c, "id"), "held",
                           json_is_true(json_object_get(dec, "device_locked")), "conflict",
                           reason && strstr(reason, "in use") ? reason : NULL));
  }
  json_object_set_new(o, "device_locks", locks);
  json_object_set_new(o, "device_lock_dir", json_string(w->cfg.device_lock_dir));
  json_object_set_new(o, "inference_threads", json_integer(pipeline_thread_count(w->pipeline)));
  return o;
}

struct text {
  char *buf;
  size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
      return;
    if (t->buf && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    size_t cap = t->cap ? t->cap * 2 : 4096;
    while (cap < t->len + (size_t)n + 1)
      cap *= 2;
    char *g = realloc(t->buf, cap);
    if (!g)
      return;
    t->buf = g;
    t->cap = cap;
  }
}

char *worker_metrics_text(struct worker *w) {
  struct text t = {0};
  int ids[64];
  int n = pipeline_camera_ids(w->pipeline, ids, 64);
  static const struct {
    const char *name, *help;
  } per_camera[] = {
      {"footfall_worker_frames_in_total", "Frames decoded."},
      {"footfall_worker_frames_unread_total", "Decoded frames replaced before anyone took them."},
      {"footfall_worker_frames_processed_total", "Sampled frames analysed."},
      {"footfall_worker_samples_skipped_total", "Samples that came due while the pool was busy."},
      {"footfall_worker_still_frames_total", "Frames skipped by the motion gate."},
      {"footfall_worker_faces_total", "Faces detected and kept."},
      {"footfall_worker_events_total", "Events pushed to the outbox."},
      {"footfall_worker_errors_total", "Decode and pipeline errors."},
      {"footfall_worker_reconnects_total", "Camera reconnects."},
      {"footfall_worker_camera_streaming", "1 when the camera is streaming."},
  };
  for (size_t m = 0; m < sizeof per_camera / sizeof per_camera[0]; m++) {
    put(&t, "# HELP %s %s\n# TYPE %s %s\n", per_camera[m].name, per_camera[m].help,
        per_camera[m].name, strstr(per_camera[m].name, "_total") ? "counter" : "gauge");
    for (int i = 0; i < n; i++) {
      struct pipeline_camera_stats ps;
      struct camera_source_stats ss;
      if (pipeline_camera_get(w->pipeline, ids[i], &ps, &ss, NULL))
        continue;
      uint64_t v[] = {ss.frames_in,        ss.frames_unread,
                      ps.frames_processed, ps.samples_skipped,
                      ps.still_frames,     ps.faces,
                      ps.events,           ps.errors + ss.decode_errors,
                      ss.reconnects,       ss.state == CAMERA_STREAMING};
      put(&t, "%s{camera=\"%d\"} %llu\n", per_camera[m].name, ids[i], (unsigned long long)v[m]);
    }
  }
  struct outbox_stats ob;
  outbox_get_stats(w->outbox, &ob);
  put(&t,
      "# HELP footfall_worker_outbox_events Events waiting for the server.\n"
      "# TYPE footfall_worker_outbox_events gauge\nfootfall_worker_outbox_events %lld\n"
      "# HELP footfall_worker_outbox_bytes Size of the waiting events.\n"
      "# TYPE footfall_worker_outbox_bytes gauge\nfootfall_worker_outbox_bytes %lld\n"
      "# HELP footfall_worker_outbox_dropped_total Events dropped by the outbox bounds.\n"
      "# TYPE footfall_worker_outbox_dropped_total counter\n"
      "footfall_worker_outbox_dropped_total %lld\n",
      (long long)ob.events, (long long)ob.bytes, (long long)ob.dropped);
  if (w->uploader) {
    struct uploader_stats us;
    uploader_get_stats(w->uploader, &us);
    put(&t, "# HELP footfall_worker_upload_answers_total Events the server answered, by "
            "outcome.\n# TYPE footfall_worker_upload_answers_total counter\n");
    for (int i = 0; i < OUTCOME_COUNT; i++)
      put(&t, "footfall_worker_upload_answers_total{outcome=\"%s\"} %lld\n",
          upload_outcome_name((enum upload_outcome)i), (long long)us.outcomes[i]);
    put(&t,
        "# HELP footfall_worker_upload_failures_total Upload rounds that were retried.\n"
        "# TYPE footfall_worker_upload_failures_total counter\n"
        "footfall_worker_upload_failures_total %lld\n",
        (long long)us.failures);
  }
  return t.buf;
}

/* --camera may repeat, which the config table does not know: take those
 * out before config_load sees the arguments. */
static int split_cameras(int argc, char **argv, char **rest, int *rest_count,
                         struct camera_spec *specs, int *count, struct ff_error *err) {
  *rest_count = 0;
  for (int i = 0; i < argc; i++) {
    const char *value = NULL;
    if (i > 0 && !strcmp(argv[i], "--camera")) {
      if (i + 1 >= argc)
        return ff_fail(err, FF_EINVAL, "--camera needs a value");
      value = argv[++i];
    } else if (i > 0 && !strncmp(argv[i], "--camera=", 9)) {
      value = argv[i] + 9;
    }
    if (!value) {
      rest[(*rest_count)++] = argv[i];
      continue;
    }
    if (*count >= CAMERA_SPEC_MAX)
      return ff_fail(err, FF_ETOOBIG, "more than %d cameras", CAMERA_SPEC_MAX);
    int rc = camera_spec_parse_flag(value, &specs[*count], err);
    if (rc)
      return rc;
    for (int k = 0; k < *count; k++)
      if (specs[k].id == specs[*count].id)
        return ff_fail(err, FF_EINVAL, "camera id %d given twice", specs[k].id);
    (*count)++;
  }
  rest[*rest_count] = NULL;
  return FF_OK;
}

static int mkdir_p(const char *path) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(buf, 0700) && errno != EEXIST)
        return -1;
      *p = '/';
    }
  return mkdir(buf, 0700) && errno != EEXIST ? -1 : 0;
}

int worker_start(struct worker *w, struct camera_spec *specs, int count, struct ff_error *err) {
  int rc;
  struct config *c = &w->cfg;
  pthread_mutex_init(&w->lease_lock, NULL);
  if (c->heartbeat_interval_ms < 200 || c->heartbeat_interval_ms > 3600000)
    return ff_fail(err, FF_EINVAL, "--heartbeat-interval-ms must be within 200..3600000");
  if (c->max_cameras < 0 || c->max_cameras > CAMERA_SPEC_MAX)
    return ff_fail(err, FF_EINVAL, "--max-cameras must be within 0..%d", CAMERA_SPEC_MAX);
  if (c->state_dir)
    snprintf(w->state_dir, sizeof w->state_dir, "%s", c->state_dir);
  else
    snprintf(w->state_dir, sizeof w->state_dir, "%s/worker", c->data_dir);
  if (mkdir_p(w->state_dir))
    return ff_fail(err, FF_EIO, "cannot create %s: %s", w->state_dir, strerror(errno));
  if ((rc = state_value(w->state_dir, "worker-id", 0, w->worker_id, sizeof w->worker_id, err)))
    return rc;
  if (c->endpoint_secret && *c->endpoint_secret)
    snprintf(w->endpoint_secret, sizeof w->endpoint_secret, "%s", c->endpoint_secret);
  else if ((rc = state_value(w->state_dir, "endpoint.secret", 32, w->endpoint_secret,
                             sizeof w->endpoint_secret, err)))
    return rc;

  if (c->cameras_file) {
    char *text;
    size_t len;
    if ((rc = read_small_file(c->cameras_file, 1024 * 1024, &text, &len, err)))
      return rc;
    rc = camera_spec_parse_json(text, len, specs, &count, err);
    free(text);
    if (rc)
      return rc;
  }

  struct pipeline_options po;
  pipeline_options_default(&po);
  if (!strcmp(c->detector, "tiny"))
    po.detect.detector = FACE_DETECTOR_TINY;
  else if (strcmp(c->detector, "ssd"))
    return ff_fail(err, FF_EINVAL, "--detector must be ssd or tiny");
  if (c->tiny_input_size < 32 || c->tiny_input_size > 1024 || c->tiny_input_size % 32)
    return ff_fail(err, FF_EINVAL, "--tiny-input-size must be a multiple of 32 within 32..1024");
  if (c->upload_batch < 1 || c->upload_batch > UPLOADER_BATCH_LIMIT)
    return ff_fail(err, FF_EINVAL, "--upload-batch must be within 1..%d", UPLOADER_BATCH_LIMIT);
  po.detect.tiny_input_size = c->tiny_input_size;
  double score, staff_distance;
  if ((rc = parse_double("min-detector-score", c->min_detector_score, 0, 1, &score, err)) ||
      (rc = parse_double("staff-match-distance", c->staff_match_distance, 0, 2, &staff_distance,
                         err)))
    return rc;
  po.detect.min_score = (float)score;
  po.min_face_size = c->min_face_size;
  po.threads = c->inference_threads;
  po.staff_max_distance = staff_distance;
  po.tracker.miss_ms = c->track_miss_ms;
  po.tracker.refresh_ms = c->refresh_event_s * 1000;
  po.tracker.reid_ms = c->track_reid_ms;

  /* Only the nets this worker runs: its detector, then the best shot's
   * landmarks, descriptor and age/gender. */
  unsigned nets = (po.detect.detector == FACE_DETECTOR_TINY ? FACE_NET_TINY : FACE_NET_SSD) |
                  FACE_NET_LANDMARKS | FACE_NET_RECOGNITION | FACE_NET_AGE_GENDER;
  if ((rc = face_engine_load_nets(c->models_dir, nets, &w->engine, err)))
    return rc;
  char path[1024];
  snprintf(path, sizeof path, "%s/outbox.db", w->state_dir);
  struct outbox_limits lim = {.max_events = c->outbox_max_events,
                              .max_bytes = c->outbox_max_bytes,
                              .max_age_ms = (int64_t)c->outbox_max_age_s * 1000};
  if ((rc = outbox_open(path, &lim, &w->outbox, err)))
    return rc;
  snprintf(path, sizeof path, "%s/staff.json", w->state_dir);
  if ((rc = staffcache_open(path, &w->staff, err)))
    return rc;
  if ((rc = pipeline_new(w->engine, &po, w->outbox, w->staff, &w->pipeline, err)))
    return rc;

  if (c->server_url && *c->server_url) {
    struct ff_error serr = {0};
    if (staffcache_refresh(w->staff, c->server_url, c->worker_api_key, c->upload_timeout_ms, &serr))
      log_msg(LOG_WARN, "worker.staff", "staff list not refreshed, using the cached one: %s",
              serr.message);
    struct uploader_options uo;
    uploader_options_default(&uo);
    snprintf(uo.server_url, sizeof uo.server_url, "%s", c->server_url);
    snprintf(uo.api_key, sizeof uo.api_key, "%s", c->worker_api_key ? c->worker_api_key : "");
    uo.batch_max = c->upload_batch;
    uo.timeout_ms = c->upload_timeout_ms;
    uo.backoff_base_ms = c->upload_retry_base_ms;
    uo.backoff_cap_ms = c->upload_retry_cap_ms;
    uo.on_result = pipeline_on_result;
    uo.ctx = w->pipeline;
    if ((rc = uploader_new(&uo, w->outbox, &w->uploader, err)) ||
        (rc = uploader_start(w->uploader, err)))
      return rc;
  } else {
    log_msg(LOG_WARN, "worker.config", "no --server-url: events stay in the outbox");
  }
  if ((rc = pipeline_start(w->pipeline, err)))
    return rc;
  for (int i = 0; i < count; i++)
    if ((rc = worker_add_camera(w, &specs[i], err)))
      return rc;
  for (int i = 0; i < count; i++)
    w->local_ids[w->local_count++] = specs[i].id;
  if (c->endpoint_port > 0) {
    if ((rc = endpoint_start(w, c->endpoint_listen, c->endpoint_port, w->endpoint_secret,
                             &w->endpoint, &w->endpoint_port, err)))
      return rc;
  }
  if (c->server_url && *c->server_url && (rc = fleet_client_start(w, &w->fleet, err)))
    return rc;
  return FF_OK;
}

void worker_stop(struct worker *w) {
  /* The server hears "offline" first, so it moves the cameras at once. */
  fleet_client_stop(w->fleet);
  w->fleet = NULL;
  endpoint_stop(w->endpoint);
  w->endpoint = NULL;
  /* Cameras stop first: their open tracks become events in the outbox.
   * The uploader labels tracks through the pipeline: detach it first. */
  if (w->uploader)
    uploader_set_result_callback(w->uploader, NULL, NULL);
  pipeline_free(w->pipeline);
  w->pipeline = NULL;
  if (w->uploader) {
    int64_t t0 = monotonic_ms();
    int rc = uploader_drain(w->uploader, w->cfg.drain_ms);
    struct outbox_stats st;
    outbox_get_stats(w->outbox, &st);
    log_msg(rc ? LOG_WARN : LOG_INFO, "worker.drain", "outbox %s in %lld ms, %lld events left",
            rc ? "not drained" : "drained", (long long)(monotonic_ms() - t0), (long long)st.events);
    uploader_free(w->uploader);
    w->uploader = NULL;
  }
  outbox_close(w->outbox);
  staffcache_close(w->staff);
  face_engine_free(w->engine);
}

/* The worker's threads allocate and free 720p frames all day. glibc's
 * defaults give every thread its own heap and raise the mmap threshold as
 * large blocks come and go, so freed frames stay resident in many heaps.
 * Two heaps and a fixed 1 MiB threshold (frames are mapped and given back
 * at once) took 4 cameras from 270 to 241 MB here (docs/WORKER.md). */
static void tune_malloc(void) {
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

int worker_main(int argc, char **argv) {
  tune_malloc();
  static struct camera_spec specs[CAMERA_SPEC_MAX];
  int count = 0, rest_count = 0, help = 0;
  char **rest = calloc((size_t)argc + 1, sizeof *rest);
  struct worker *w = calloc(1, sizeof *w);
  struct ff_error err = {0};
  int rc = !rest || !w ? ff_fail(&err, FF_ENOMEM, "out of memory")
                       : split_cameras(argc, argv, rest, &rest_count, specs, &count, &err);
  if (rc == FF_OK)
    rc = config_load(&w->cfg, CONFIG_WORKER, rest_count, rest, &help, &err);
  free(rest);
  if (rc) {
    fprintf(stderr, "footfall worker: %s\n", err.message);
    if (w)
      config_free(&w->cfg);
    free(w);
    return 2;
  }
  if (help) {
    config_print_help(
        stdout, "worker",
        "Run a worker: read cameras, find and follow faces, send one event per "
        "person pass to the server.\nCameras: --camera id=N,kind=rtsp|mjpeg|file|v4l2,"
        "url=U[,fps=F][,transport=udp][,loop=1][,motion=0|1] (repeatable) or "
        "--cameras FILE.json.",
        CONFIG_WORKER);
    config_free(&w->cfg);
    free(w);
    return 0;
  }
  enum log_level level;
  if (log_parse_level(w->cfg.log_level, &level) == 0)
    log_set_level(level);
  av_log_set_level(AV_LOG_FATAL); /* camera problems are reported as camera states */
  if (sodium_init() < 0) {
    fprintf(stderr, "footfall worker: libsodium failed to initialise\n");
    return 1;
  }
  /* Signals go to the main thread only: block them before any thread starts. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);
  w->started_wall_ms = wall_ms();

  rc = worker_start(w, specs, count, &err);
  if (rc) {
    log_msg(LOG_ERROR, "worker.start", "%s", err.message);
    fprintf(stderr, "footfall worker: %s\n", err.message);
    worker_stop(w);
    config_free(&w->cfg);
    free(w);
    return 1;
  }
  struct log_line line;
  log_begin(&line, LOG_INFO, "worker.ready");
  log_str(&line, "worker_id", w->worker_id);
  log_int(&line, "cameras", count);
  log_str(&line, "state_dir", w->state_dir);
  if (w->endpoint) {
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d", w->cfg.endpoint_listen, w->endpoint_port);
    log_str(&line, "endpoint", url);
  }
  log_end(&line);
  /* One line on stdout for scripts and tests: where the endpoint is. */
  printf("worker_id=%s endpoint_port=%d\n", w->worker_id, w->endpoint ? w->endpoint_port : 0);
  fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  atomic_store(&w->stopping, 1);
  log_msg(LOG_INFO, "worker.stop", "signal %d: stopping cameras, draining the outbox", sig);
  worker_stop(w);
  int restart = atomic_load(&w->restart);
  config_free(&w->cfg);
  free(w);
  if (restart) {
    /* The restart command: the same program with the same arguments. The
     * command was recorded as done before, so it does not run again. */
    log_msg(LOG_INFO, "worker.restart", "starting again");
    pthread_sigmask(SIG_UNBLOCK, &signals, NULL);
    execv("/proc/self/exe", argv - 1); /* main() passed argv + 1: "worker" ... */
    log_msg(LOG_ERROR, "worker.restart", "exec failed: %s", strerror(errno));
    return 1;
  }
  return 0;
}
