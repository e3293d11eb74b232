/* The whole camera pipeline on generated videos of faces-bbt people
 * (skipped when the dataset is absent): Amy walks in, stays, leaves and
 * comes back; Raj (enrolled as staff from other pictures) passes once.
 * Exactly three events must reach the outbox — one per pass, not one per
 * frame — with Raj marked as staff and Amy's two passes the same person. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "face.h"
#include "harness.h"
#include "pipeline.h"

static char dir[64];
static const char *bbt;
static struct face_engine *engine;

static void setup(void) {
  bbt = env_or_null("FOOTFALL_FACES_BBT");
  snprintf(dir, sizeof dir, "/tmp/footfall-pipe-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}
static void teardown(void) {
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
  face_engine_free(engine);
  engine = NULL;
}
TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 120);

static int have_data(void) {
  char probe[512];
  snprintf(probe, sizeof probe, "%s/amy/amy1.png", bbt ? bbt : "");
  if (!bbt || access(probe, R_OK)) {
    cr_skip_test("faces-bbt not found (FOOTFALL_FACES_BBT=%s): skipping", bbt ? bbt : "unset");
    return 0;
  }
  struct ff_error err = {0};
  cr_assert_eq(face_engine_load(face_default_models_dir(), &engine, &err), FF_OK, "%s",
               err.message);
  return 1;
}

static void run(const char *cmd) {
  cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

/* A picture of the face on a gray background, and its descriptor. */
static void descriptor_of(const char *png, float out[FACE_DESCRIPTOR_SIZE]) {
  char jpg[256], cmd[1024];
  snprintf(jpg, sizeof jpg, "%s/staff.jpg", dir);
  snprintf(cmd, sizeof cmd,
           "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=0x808080:s=400x400 -i %s "
           "-filter_complex '[1]scale=180:180[f];[0][f]overlay=110:110' -frames:v 1 %s",
           png, jpg);
  run(cmd);
  struct face_image img;
  struct face_session *session;
  struct face_detect_options o;
  face_detect_options_default(&o);
  struct face_result r[4];
  int n = 0;
  cr_assert_eq(face_image_load(jpg, NULL, &img, NULL), FF_OK);
  cr_assert_eq(face_session_new(engine, &session, NULL), FF_OK);
  cr_assert_eq(face_analyze(session, &img, &o, r, 4, &n, NULL), FF_OK);
  cr_assert_eq(n, 1, "%s: %d faces", png, n);
  memcpy(out, r[0].descriptor, sizeof r[0].descriptor);
  face_session_free(session);
  face_image_free(&img);
}

static void write_staff(const char *path) {
  float a[FACE_DESCRIPTOR_SIZE], b[FACE_DESCRIPTOR_SIZE];
  char png[512];
  snprintf(png, sizeof png, "%s/raj/raj2.png", bbt);
  descriptor_of(png, a);
  snprintf(png, sizeof png, "%s/raj/raj3.png", bbt);
  descriptor_of(png, b);
  json_t *da = json_array(), *db = json_array();
  for (int i = 0; i < FACE_DESCRIPTOR_SIZE; i++) {
    json_array_append_new(da, json_real(a[i]));
    json_array_append_new(db, json_real(b[i]));
  }
  json_t *root = json_pack("{s:i, s:i, s:[{s:i, s:s, s:[o,o]}]}", "site_id", 1, "version", 3,
                           "staff", "id", 42, "name", "Raj", "descriptors", da, db);
  char *text = json_dumps(root, JSON_COMPACT);
  cr_assert_eq(atomic_write(path, text, strlen(text), NULL), FF_OK);
  free(text);
  json_decref(root);
}

struct quiet {
  struct pipeline *p;
  struct camera_source_stats source;
  struct pipeline_camera_stats stats;
};
static int finished(void *arg) {
  struct quiet *q = arg;
  pipeline_camera_get(q->p, 9, &q->stats, &q->source, NULL);
  return q->source.state == CAMERA_STOPPED && q->stats.active_tracks == 0;
}

Test(pipeline, one_event_per_pass_and_staff_marked) {
  if (!have_data())
    return;
  char video[256], cmd[2048], staff_path[256], outbox_path[256];
  snprintf(video, sizeof video, "%s/walk.mp4", dir);
  /* 7 s at 25 fps: Amy 0.3-2.0 s walking right, back 4.5-6.0 s standing;
   * Raj 0.6-2.4 s. */
  snprintf(cmd, sizeof cmd,
           "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=0x808080:s=640x360:r=25 "
           "-i %s/amy/amy1.png -i %s/raj/raj1.png -filter_complex "
           "\"[1]scale=160:160[a];[2]scale=160:160[b];"
           "[0][a]overlay=x='if(lt(t,3),40+40*t,120)':y=100:"
           "enable='between(t,0.3,2.0)+between(t,4.5,6.0)'[t];"
           "[t][b]overlay=x=420:y=90:enable='between(t,0.6,2.4)'\" "
           "-t 7 -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p %s",
           bbt, bbt, video);
  run(cmd);
  snprintf(staff_path, sizeof staff_path, "%s/staff.json", dir);
  write_staff(staff_path);
  snprintf(outbox_path, sizeof outbox_path, "%s/outbox.db", dir);

  struct outbox *ob;
  struct outbox_limits lim = {0};
  cr_assert_eq(outbox_open(outbox_path, &lim, &ob, NULL), FF_OK);
  struct staffcache *staff;
  cr_assert_eq(staffcache_open(staff_path, &staff, NULL), FF_OK);
  struct staffcache_info info;
  staffcache_get_info(staff, &info);
  cr_assert_eq(info.members, 1, "%s", info.last_error);

  struct pipeline_options po;
  pipeline_options_default(&po);
  po.tracker.miss_ms = 1500; /* the default; Amy is away for 2.5 s */
  po.threads = 2;
  struct pipeline *p;
  struct ff_error err = {0};
  cr_assert_eq(pipeline_new(engine, &po, ob, staff, &p, &err), FF_OK, "%s", err.message);
  cr_assert_eq(pipeline_start(p, &err), FF_OK, "%s", err.message);
  struct camera_source_options so;
  camera_source_options_default(&so);
  so.camera_id = 9;
  so.kind = CAMERA_FILE;
  snprintf(so.url, sizeof so.url, "%s", video);
  struct camera_source *src;
  cr_assert_eq(camera_source_start(&so, &src, NULL), FF_OK);
  struct pipeline_camera_options pc = {.camera_id = 9, .sample_fps = 5};
  cr_assert_eq(pipeline_add_camera(p, &pc, src, &err), FF_OK, "%s", err.message);

  struct quiet q = {.p = p};
  cr_assert(wait_until(finished, &q, 30000), "video did not finish: state %s, tracks %d",
            camera_source_state_name(q.source.state), q.stats.active_tracks);
  pipeline_free(p);

  cr_assert_geq(q.stats.frames_processed, 20, "processed %llu",
                (unsigned long long)q.stats.frames_processed);
  cr_assert_geq(q.stats.faces, 15, "faces %llu", (unsigned long long)q.stats.faces);
  cr_assert_eq(q.stats.errors, 0, "%s", q.stats.last_error);

  struct outbox_batch batch;
  cr_assert_eq(outbox_peek(ob, 100, &batch, NULL), FF_OK);
  cr_assert_eq(batch.count, 3, "expected 3 events (Amy twice, Raj once), got %d (faces %llu)",
               batch.count, (unsigned long long)q.stats.faces);
  json_t *ev[3];
  int staff_events = 0, amy[2], na = 0;
  for (int i = 0; i < 3; i++) {
    ev[i] = json_loads(batch.items[i].json, 0, NULL);
    cr_assert_not_null(ev[i]);
    json_t *sid = json_object_get(ev[i], "staff_id");
    if (json_is_integer(sid)) {
      cr_assert_eq(json_integer_value(sid), 42);
      cr_assert_str_eq(json_string_value(json_object_get(ev[i], "gender")), "male");
      cr_assert_gt(json_number_value(json_object_get(json_object_get(ev[i], "box"), "x")), 300);
      staff_events++;
    } else {
      cr_assert(json_is_null(sid));
      cr_assert_str_eq(json_string_value(json_object_get(ev[i], "gender")), "female");
      amy[na++] = i;
    }
    cr_assert_eq(json_integer_value(json_object_get(ev[i], "camera_id")), 9);
    cr_assert_gt(json_string_length(json_object_get(ev[i], "crop_jpeg")), 1000);
  }
  cr_assert_eq(staff_events, 1);
  cr_assert_eq(na, 2);
  float d0[FACE_DESCRIPTOR_SIZE], d1[FACE_DESCRIPTOR_SIZE];
  for (int k = 0; k < FACE_DESCRIPTOR_SIZE; k++) {
    d0[k] = (float)json_number_value(json_array_get(json_object_get(ev[amy[0]], "descriptor"), k));
    d1[k] = (float)json_number_value(json_array_get(json_object_get(ev[amy[1]], "descriptor"), k));
  }
  cr_assert_lt(face_distance(d0, d1), 0.45, "Amy's passes look like different people");
  for (int i = 0; i < 3; i++)
    json_decref(ev[i]);
  outbox_batch_free(&batch);
  staffcache_close(staff);
  outbox_close(ob);
}

Test(pipeline, motion_gate_skips_still_frames) {
  if (!have_data())
    return;
  char video[256], cmd[1024], outbox_path[256];
  snprintf(video, sizeof video, "%s/still.mp4", dir);
  snprintf(cmd, sizeof cmd,
           "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=0x606060:s=640x360:r=25 "
           "-t 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p %s",
           video);
  run(cmd);
  snprintf(outbox_path, sizeof outbox_path, "%s/outbox.db", dir);
  struct outbox *ob;
  struct outbox_limits lim = {0};
  cr_assert_eq(outbox_open(outbox_path, &lim, &ob, NULL), FF_OK);
  struct pipeline_options po;
  pipeline_options_default(&po);
  po.threads = 1;
  struct pipeline *p;
  cr_assert_eq(pipeline_new(engine, &po, ob, NULL, &p, NULL), FF_OK);
  cr_assert_eq(pipeline_start(p, NULL), FF_OK);
  struct camera_source_options so;
  camera_source_options_default(&so);
  so.camera_id = 9;
  so.kind = CAMERA_FILE;
  snprintf(so.url, sizeof so.url, "%s", video);
  struct camera_source *src;
  cr_assert_eq(camera_source_start(&so, &src, NULL), FF_OK);
  struct pipeline_camera_options pc = {.camera_id = 9, .sample_fps = 10, .motion_gate = 1};
  cr_assert_eq(pipeline_add_camera(p, &pc, src, NULL), FF_OK);
  struct quiet q = {.p = p};
  cr_assert(wait_until(finished, &q, 10000));
  cr_assert_geq(q.stats.frames_processed, 10);
  /* Only the first frame is "moving" (nothing to compare with). */
  cr_assert_eq(q.stats.still_frames, q.stats.frames_processed - 1, "still %llu of %llu",
               (unsigned long long)q.stats.still_frames,
               (unsigned long long)q.stats.frames_processed);
  cr_assert_eq(pipeline_remove_camera(p, 9), FF_OK);
  cr_assert_eq(pipeline_remove_camera(p, 9), FF_ENOTFOUND);
  pipeline_free(p);
  outbox_close(ob);
}

/* Two people cross; Raj passes in front and hides Amy for longer than the
 * miss time. With re-identification on, Amy's face reappearing on the
 * other side continues her track: one event per person, each of the right
 * person (Amy female and not staff, Raj male and staff). */
Test(pipeline, crossing_people_keep_their_tracks) {
  if (!have_data())
    return;
  char video[256], cmd[2048], staff_path[256], outbox_path[256];
  snprintf(video, sizeof video, "%s/cross.mp4", dir);
  snprintf(cmd, sizeof cmd,
           "ffmpeg -hide_banner -loglevel error -y -f lavfi -i color=c=0x808080:s=640x360:r=25 "
           "-i %s/amy/amy1.png -i %s/raj/raj1.png -filter_complex "
           "\"[1]scale=150:150[a];[2]scale=150:150[b];"
           "[0][a]overlay=x='20+110*t':y=90:enable='between(t,0.2,4.2)'[t];"
           "[t][b]overlay=x='470-110*t':y=110:enable='between(t,0.2,4.2)'\" "
           "-t 6 -c:v libx264 -preset ultrafast -g 25 -pix_fmt yuv420p %s",
           bbt, bbt, video);
  run(cmd);
  snprintf(staff_path, sizeof staff_path, "%s/staff.json", dir);
  write_staff(staff_path);
  snprintf(outbox_path, sizeof outbox_path, "%s/outbox.db", dir);
  struct outbox *ob;
  struct outbox_limits lim = {0};
  cr_assert_eq(outbox_open(outbox_path, &lim, &ob, NULL), FF_OK);
  struct staffcache *staff;
  cr_assert_eq(staffcache_open(staff_path, &staff, NULL), FF_OK);
  struct pipeline_options po;
  pipeline_options_default(&po);
  po.threads = 2;
  /* Amy is hidden behind Raj for longer than the miss time. */
  po.tracker.reid_ms = 2000;
  struct pipeline *p;
  cr_assert_eq(pipeline_new(engine, &po, ob, staff, &p, NULL), FF_OK);
  cr_assert_eq(pipeline_start(p, NULL), FF_OK);
  struct camera_source_options so;
  camera_source_options_default(&so);
  so.camera_id = 9;
  so.kind = CAMERA_FILE;
  snprintf(so.url, sizeof so.url, "%s", video);
  struct camera_source *src;
  cr_assert_eq(camera_source_start(&so, &src, NULL), FF_OK);
  struct pipeline_camera_options pc = {.camera_id = 9, .sample_fps = 5};
  cr_assert_eq(pipeline_add_camera(p, &pc, src, NULL), FF_OK);
  struct quiet q = {.p = p};
  cr_assert(wait_until(finished, &q, 30000));
  pipeline_free(p);
  struct outbox_batch batch;
  cr_assert_eq(outbox_peek(ob, 100, &batch, NULL), FF_OK);
  int amy = 0, raj = 0;
  for (int i = 0; i < batch.count; i++) {
    json_t *e = json_loads(batch.items[i].json, 0, NULL);
    int is_staff = json_is_integer(json_object_get(e, "staff_id"));
    const char *g = json_string_value(json_object_get(e, "gender"));
    raj += is_staff && !strcmp(g, "male");
    amy += !is_staff && !strcmp(g, "female");
    json_decref(e);
  }
  cr_assert_eq(batch.count, 2, "expected one event per person, got %d (tracks %llu)", batch.count,
               (unsigned long long)q.stats.tracks);
  cr_assert_eq(amy, 1);
  cr_assert_eq(raj, 1);
  outbox_batch_free(&batch);
  staffcache_close(staff);
  outbox_close(ob);
}
