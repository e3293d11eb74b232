/* Camera definitions from the command line and from a JSON file. */
#include <criterion/criterion.h>
#include <string.h>

#include "camera_spec.h"

Test(camera_spec, flag_with_commas_in_the_url) {
  struct camera_spec s;
  struct ff_error err = {0};
  cr_assert_eq(camera_spec_parse_flag("id=3,kind=mjpeg,url=http://cam/x.mjpg?a=1,b=2,fps=2.5,"
                                      "motion=0",
                                      &s, &err),
               FF_OK, "%s", err.message);
  cr_assert_eq(s.id, 3);
  cr_assert_eq(s.kind, CAMERA_MJPEG);
  cr_assert_str_eq(s.url, "http://cam/x.mjpg?a=1,b=2");
  cr_assert_float_eq(s.fps, 2.5, 1e-9);
  cr_assert_eq(s.motion_gate, 0);
  cr_assert_eq(camera_spec_parse_flag("url=rtsp://u:p@h/s,id=9,transport=udp", &s, &err), FF_OK);
  cr_assert_eq(s.kind, CAMERA_RTSP);
  cr_assert(s.udp);
  cr_assert_eq(s.motion_gate, -1, "unset means the worker's default");
  /* After url, an unknown key cannot be told from the URL's own text. */
  cr_assert_eq(camera_spec_parse_flag("id=1,url=/a.mp4,colour=red", &s, &err), FF_OK);
  cr_assert_str_eq(s.url, "/a.mp4,colour=red");
  const char *bad[] = {"",
                       "id=1",
                       "url=/a.mp4",
                       "id=0,url=/a.mp4",
                       "id=x,url=/a.mp4",
                       "id=1,url=/a.mp4,kind=webcam",
                       "id=1,url=/a.mp4,fps=0",
                       "id=1,url=/a.mp4,fps=120",
                       "id=1,url=/a.mp4,fps=nan",
                       "id=1,url=/a.mp4,transport=sctp",
                       "id=1,url=/a.mp4,loop=2",
                       "id=1,colour=red,url=/a.mp4",
                       "id=1,novalue,url=/a.mp4"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_assert_neq(camera_spec_parse_flag(bad[i], &s, &err), FF_OK, "accepted '%s'", bad[i]);
}

Test(camera_spec, json_file) {
  struct camera_spec specs[CAMERA_SPEC_MAX];
  int n = 0;
  struct ff_error err = {0};
  const char *good = "[{\"id\":1,\"kind\":\"rtsp\",\"url\":\"rtsp://h/1\",\"transport\":\"udp\"},"
                     "{\"id\":2,\"kind\":\"file\",\"url\":\"/v.mp4\",\"loop\":true,\"fps\":4,"
                     "\"motion_gate\":false}]";
  cr_assert_eq(camera_spec_parse_json(good, strlen(good), specs, &n, &err), FF_OK, "%s",
               err.message);
  cr_assert_eq(n, 2);
  cr_assert(specs[0].udp);
  cr_assert_eq(specs[0].motion_gate, -1);
  cr_assert(specs[1].loop);
  cr_assert_eq(specs[1].motion_gate, 0);
  cr_assert_float_eq(specs[1].fps, 4, 1e-9);
  const char *bad[] = {
      "{}",
      "[1]",
      "[{\"id\":1}]",
      "[{\"id\":1,\"url\":\"/a\",\"extra\":1}]",
      "[{\"id\":\"1\",\"url\":\"/a\"}]",
      "[{\"id\":1,\"url\":\"/a\",\"loop\":1}]",
      "[{\"id\":1,\"url\":\"/a\"},{\"id\":1,\"url\":\"/b\"}]",
      "[{\"id\":1,\"url\":\"/a\",\"id\":2}]",
      "[{\"id\":1,\"url\":\"/a\",\"kind\":\"usb\"}]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = 0;
    cr_assert_neq(camera_spec_parse_json(bad[i], strlen(bad[i]), specs, &n, &err), FF_OK,
                  "accepted %s", bad[i]);
  }
}
