/* The export's zip writer: archives that unzip reads back byte for byte
 * (CRCs included), names refused before anything is written, no entry after
 * the directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "zip.h"

/* Runs `unzip ARGS ARCHIVE MEMBER`; its output (NUL-terminated) and length. */
static char *unzip_out(const char *archive, const char *args, const char *member, size_t *len) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "unzip %s '%s' %s 2>&1", args, archive, member);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  static char out[8192];
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = 0;
  if (len)
    *len = n;
  cr_expect_eq(pclose(p), 0, "unzip %s failed: %s", args, out);
  return out;
}

Test(zip, entries_read_back_with_their_bytes) {
  struct zip z = {0};
  unsigned char picture[3000];
  for (size_t i = 0; i < sizeof picture; i++)
    picture[i] = (unsigned char)(i * 7 + 3);
  cr_assert_eq(zip_add(&z, "customer.json", "{\"a\": 1}\n", 9, ff_real_ms()), FF_OK);
  cr_assert_eq(zip_add(&z, "pictures/visit-1.jpg", picture, sizeof picture, 0), FF_OK);
  cr_assert_eq(zip_add(&z, "empty.txt", "", 0, 1764990000000), FF_OK);
  cr_assert_eq(zip_finish(&z), FF_OK);
  cr_assert_eq(zip_add(&z, "late.txt", "x", 1, 0), FF_EINVAL, "nothing after the directory");
  char path[] = "/tmp/footfall-zip-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, z.data, z.len), (ssize_t)z.len);
  close(fd);
  unzip_out(path, "-tq", "", NULL); /* every CRC checks */
  cr_expect_str_eq(unzip_out(path, "-p", "customer.json", NULL), "{\"a\": 1}\n");
  size_t len = 0;
  char *bytes = unzip_out(path, "-p", "pictures/visit-1.jpg", &len);
  cr_expect_eq(len, sizeof picture);
  cr_expect_eq(memcmp(bytes, picture, sizeof picture), 0);
  char *names = unzip_out(path, "-Z1", "", NULL);
  cr_expect_str_eq(names, "customer.json\npictures/visit-1.jpg\nempty.txt\n");
  unlink(path);
  zip_free(&z);
}

Test(zip, bad_names_are_refused) {
  struct zip z = {0};
  cr_expect_eq(zip_add(&z, "", "x", 1, 0), FF_EINVAL);
  cr_expect_eq(zip_add(&z, "/etc/passwd", "x", 1, 0), FF_EINVAL);
  cr_expect_eq(zip_add(&z, "a/../../b", "x", 1, 0), FF_EINVAL);
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  cr_expect_eq(zip_add(&z, longname, "x", 1, 0), FF_EINVAL);
  cr_expect_eq(z.entries, 0);
  cr_expect_eq(zip_finish(&z), FF_OK);
  cr_expect_eq(z.len, 22u, "an empty archive is its end record");
  zip_free(&z);
}
