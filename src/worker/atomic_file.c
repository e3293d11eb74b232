#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int atomic_write(const char *path, const void *data, size_t size, struct ff_error *err) {
  char tmp[1024];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
    return ff_fail(err, FF_EINVAL, "path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return ff_fail(err, FF_EIO, "cannot create %s: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = size;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      int e = errno;
      close(fd);
      unlink(tmp);
      return ff_fail(err, FF_EIO, "cannot write %s: %s", tmp, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) || close(fd)) {
    int e = errno;
    unlink(tmp);
    return ff_fail(err, FF_EIO, "cannot sync %s: %s", tmp, strerror(e));
  }
  if (rename(tmp, path)) {
    int e = errno;
    unlink(tmp);
    return ff_fail(err, FF_EIO, "cannot rename %s: %s", tmp, strerror(e));
  }
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd); /* the rename itself must reach the disk */
    close(dfd);
  }
  return FF_OK;
}

int read_small_file(const char *path, size_t max, char **out, size_t *size, struct ff_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return errno == ENOENT ? ff_fail(err, FF_ENOTFOUND, "%s does not exist", path)
                           : ff_fail(err, FF_EIO, "cannot read %s: %s", path, strerror(errno));
  char *buf = malloc(max + 1);
  if (!buf) {
    fclose(f);
    return ff_fail(err, FF_ENOMEM, "out of memory");
  }
  size_t n = fread(buf, 1, max + 1, f);
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(buf);
    return ff_fail(err, FF_EIO, "cannot read %s", path);
  }
  if (n > max) {
    free(buf);
    return ff_fail(err, FF_ETOOBIG, "%s is larger than %zu bytes", path, max);
  }
  buf[n] = 0;
  *out = buf;
  *size = n;
  return FF_OK;
}
