#include "devlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void lock_file_name(const char *lock_dir, const char *device_path, char *out, size_t size) {
  size_t n = (size_t)snprintf(out, size, "%s/", lock_dir);
  const char *p = device_path;
  while (*p == '/')
    p++;
  for (; *p && n + 6 < size; p++)
    out[n++] = (*p == '/' || *p == '.') ? '_' : *p;
  snprintf(out + n, size - n, ".lock");
}

int devlock_acquire(const char *lock_dir, const char *device_path, int camera_id,
                    struct devlock *out, struct ff_error *err) {
  out->fd = -1;
  if (mkdir(lock_dir, 0777) && errno != EEXIST)
    return ff_fail(err, FF_EIO, "cannot create lock folder %s: %s", lock_dir, strerror(errno));
  lock_file_name(lock_dir, device_path, out->path, sizeof out->path);
  int fd = open(out->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0)
    return ff_fail(err, FF_EIO, "cannot open lock file %s: %s", out->path, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB)) {
    int e = errno;
    char holder[128] = "";
    ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
    holder[n > 0 ? n : 0] = 0;
    holder[strcspn(holder, "\n")] = 0;
    close(fd);
    if (e == EWOULDBLOCK)
      return ff_fail(err, FF_ECONFLICT, "device %s is in use (%s)", device_path,
                     *holder ? holder : "holder unknown");
    return ff_fail(err, FF_EIO, "cannot lock %s: %s", out->path, strerror(e));
  }
  char holder[128];
  int len = snprintf(holder, sizeof holder, "pid=%d camera=%d\n", (int)getpid(), camera_id);
  if (ftruncate(fd, 0) == 0 && pwrite(fd, holder, (size_t)len, 0) < 0) {
    /* the note is informative only; the lock is what counts */
  }
  out->fd = fd;
  return FF_OK;
}

void devlock_release(struct devlock *lock) {
  if (lock->fd >= 0) {
    close(lock->fd); /* drops the flock */
    lock->fd = -1;
  }
}
