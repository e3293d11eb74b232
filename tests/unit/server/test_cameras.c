#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "cameras.h"
#include "server.h"
#include "vault.h"

static void masked(const char *in, const char *want) {
  char out[256];
  camera_source_mask(in, out, sizeof out);
  cr_expect_str_eq(out, want, "mask(%s)", in);
}

Test(cameras, masking_hides_passwords_only) {
  masked("rtsp://admin:pw@10.0.0.1:554/s", "rtsp://admin:****@10.0.0.1:554/s");
  masked("rtsp://admin@10.0.0.1/s", "rtsp://admin@10.0.0.1/s");
  masked("rtsp://10.0.0.1/s", "rtsp://10.0.0.1/s");
  masked("rtsp://u:p@ss@h/x", "rtsp://u:****@h/x");
  masked("http://h/v.mjpg?user=a&password=b&x=1", "http://h/v.mjpg?user=a&password=****&x=1");
  masked("http://h/v?PWD=1&apiKey=z#frag", "http://h/v?PWD=****&apiKey=****#frag");
  masked("/dev/video0", "/dev/video0");
  masked("rtsp://h/path@with/at", "rtsp://h/path@with/at");
  char tiny[8];
  camera_source_mask("rtsp://admin:pw@host/s", tiny, sizeof tiny);
  cr_expect_eq(strlen(tiny), 7, "bounded by the buffer");
}

Test(cameras, source_rules_per_kind) {
  struct ff_error err;
  cr_expect_eq(camera_source_check(CAMERA_RTSP, "rtsps://h:322/x", &err), FF_OK);
  cr_expect_eq(camera_source_check(CAMERA_RTSP, "rtsp://:554/x", &err), FF_EINVAL);
  cr_expect_eq(camera_source_check(CAMERA_MJPEG, "https://cam/x.mjpg", &err), FF_OK);
  cr_expect_eq(camera_source_check(CAMERA_FILE, "file:///srv/a.mp4", &err), FF_OK);
  cr_expect_eq(camera_source_check(CAMERA_FILE, "file://../a.mp4", &err), FF_EINVAL);
  cr_expect_eq(camera_source_check(CAMERA_V4L2, "/dev/video12", &err), FF_OK);
  cr_expect_eq(camera_source_check(CAMERA_V4L2, "/dev/v4l/by-id/usb-cam-video-index0", &err),
               FF_OK);
  cr_expect_eq(camera_source_check(CAMERA_V4L2, "/dev/v4l/by-id/../../sda", &err), FF_EINVAL);
  cr_expect_eq(camera_source_check(CAMERA_V4L2, "/dev/video", &err), FF_EINVAL);
  cr_expect_eq(camera_source_check(CAMERA_RTSP, "rtsp://h/\x01", &err), FF_EINVAL);
}

Test(vault, seal_open_round_trip_and_tamper) {
  cr_assert_geq(sodium_init(), 0);
  static struct server s;
  randombytes_buf(s.vault_key, sizeof s.vault_key);
  char *sealed = vault_seal(&s, "rtsp://u:secret@h/x");
  cr_assert_not_null(sealed);
  cr_assert_null(strstr(sealed, "secret"));
  char *plain = vault_open(&s, sealed);
  cr_assert_str_eq(plain, "rtsp://u:secret@h/x");
  free(plain);
  char *again = vault_seal(&s, "rtsp://u:secret@h/x");
  cr_assert_str_neq(sealed, again, "a fresh nonce each time");
  free(again);
  sealed[10] = sealed[10] == 'A' ? 'B' : 'A';
  cr_assert_null(vault_open(&s, sealed), "tampered text does not open");
  cr_assert_null(vault_open(&s, "v1:"));
  cr_assert_null(vault_open(&s, "plain"));
  free(sealed);
}
