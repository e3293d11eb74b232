/* worker_command, the one entry point of commands, on a worker built in
 * this process: cameras assigned and released, status, refusals. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "worker.h"

static char dir[64];
static struct worker w;

static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/footfall-cmd-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  char state[128], locks[128];
  snprintf(state, sizeof state, "%s/state", dir);
  snprintf(locks, sizeof locks, "%s/locks", dir);
  char *argv[] = {
      "worker",      "--state-dir", state, "--device-lock-dir", locks, "--endpoint-port", "0",
      "--log-level", "error",       NULL};
  int help;
  struct ff_error err = {0};
  memset(&w, 0, sizeof w);
  cr_assert_eq(config_load(&w.cfg, CONFIG_WORKER, 9, argv, &help, &err), FF_OK, "%s", err.message);
  free(w.cfg.models_dir);
  w.cfg.models_dir = strdup(face_default_models_dir());
  static struct camera_spec specs[CAMERA_SPEC_MAX];
  cr_assert_eq(worker_start(&w, specs, 0, &err), FF_OK, "%s", err.message);
}

static void teardown(void) {
  worker_stop(&w);
  config_free(&w.cfg);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(commands, .init = setup, .fini = teardown, .timeout = 60);

static json_t *camera_status(int id) {
  json_t *s = worker_status_json(&w);
  json_t *found = NULL;
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(s, "cameras"), i, c) {
    if (json_integer_value(json_object_get(c, "id")) == id)
      found = json_incref(c);
  }
  json_decref(s);
  return found;
}

static int streaming(void *arg) {
  json_t *c = camera_status(*(int *)arg);
  int ok = c && !strcmp(json_string_value(json_object_get(c, "state")), "streaming");
  json_decref(c);
  return ok;
}

Test(commands, assign_release_status_and_refusals) {
  const char *videos = env_or_null("FOOTFALL_TEST_VIDEO_DIR");
  cr_assert_not_null(videos);
  char url[512];
  snprintf(url, sizeof url, "%s/testsrc.mp4", videos);
  /* A lease from the server: the camera with its lease generation. */
  json_t *spec = json_pack("{s:i, s:s, s:s, s:b, s:f}", "id", 5, "kind", "file", "url", url, "loop",
                           1, "fps", 2.0);
  json_t *params = json_pack("{s:O, s:i}", "camera", spec, "generation", 2);
  json_t *result;
  struct ff_error err = {0};
  cr_assert_eq(worker_command(&w, "assign_camera", params, &result, &err), FF_OK, "%s",
               err.message);
  cr_assert_eq(json_integer_value(json_object_get(result, "camera_id")), 5);
  json_decref(result);
  int id = 5;
  cr_assert(wait_until(streaming, &id, 10000), "assigned camera not streaming");
  /* The same lease again (a retried command): nothing changes. An older
   * generation (a stale assignment) is refused. */
  cr_assert_eq(worker_command(&w, "assign_camera", params, &result, &err), FF_OK, "%s",
               err.message);
  cr_assert(json_is_true(json_object_get(result, "already_running")));
  json_decref(result);
  json_decref(params);
  params = json_pack("{s:O, s:i}", "camera", spec, "generation", 1);
  cr_assert_eq(worker_command(&w, "assign_camera", params, &result, &err), FF_ECONFLICT);
  json_decref(params);

  cr_assert_eq(worker_command(&w, "status_report", NULL, &result, &err), FF_OK);
  cr_assert_str_eq(json_string_value(json_object_get(result, "worker_id")), w.worker_id);
  cr_assert_str_eq(json_string_value(json_object_get(result, "status")), "processing");
  json_decref(result);

  json_t *bad = json_pack("{s:i, s:s, s:s}", "id", 6, "kind", "webcam", "url", "/dev/video9");
  cr_assert_eq(worker_command(&w, "assign_camera", bad, &result, &err), FF_EINVAL);
  json_decref(bad);
  /* A stale release is refused; the current one stops the camera; again: not running. */
  json_t *stale = json_pack("{s:i, s:i}", "camera_id", 5, "generation", 1);
  cr_assert_eq(worker_command(&w, "release_camera", stale, &result, &err), FF_ECONFLICT);
  json_decref(stale);
  cr_assert_not_null(camera_status(5));
  json_t *release = json_pack("{s:i}", "camera_id", 5);
  cr_assert_eq(worker_command(&w, "release_camera", release, &result, &err), FF_OK, "%s",
               err.message);
  json_decref(result);
  cr_assert_null(camera_status(5));
  cr_assert_eq(worker_command(&w, "release_camera", release, &result, &err), FF_ENOTFOUND);
  json_decref(release);

  json_t *wrong = json_pack("{s:s}", "camera_id", "5");
  cr_assert_eq(worker_command(&w, "release_camera", wrong, &result, &err), FF_EINVAL);
  json_decref(wrong);
  cr_assert_eq(worker_command(&w, "refresh_staff", NULL, &result, &err), FF_EINVAL,
               "no server is configured");
  /* restart and shutdown signal this process: the fleet test runs them on real workers. */
  cr_assert_eq(worker_command(&w, "start_streaming", NULL, &result, &err), FF_EUNSUPPORTED,
               "live frames need the server channel");
  cr_assert_eq(worker_command(&w, "dance", NULL, &result, &err), FF_EUNSUPPORTED);
  cr_assert_null(result);
  cr_assert_eq(worker_command(&w, "status_report", NULL, &result, &err), FF_OK);
  cr_assert_str_eq(json_string_value(json_object_get(result, "status")), "idle");
  json_decref(result);

  /* An operator's camera (a bare spec, no lease) stays like one from the
   * command line: assigning it again changes nothing, releasing it is refused. */
  json_object_set_new(spec, "id", json_integer(7));
  cr_assert_eq(worker_command(&w, "assign_camera", spec, &result, &err), FF_OK, "%s", err.message);
  json_decref(result);
  cr_assert_eq(worker_command(&w, "assign_camera", spec, &result, &err), FF_OK);
  cr_assert(json_is_true(json_object_get(result, "local")));
  json_decref(result);
  json_t *local = json_pack("{s:i}", "camera_id", 7);
  cr_assert_eq(worker_command(&w, "release_camera", local, &result, &err), FF_ECONFLICT);
  json_decref(local);
  json_decref(spec);
}
