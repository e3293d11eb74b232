/* devlock.h — one opener per local video device, across cameras and workers.
 *
 * A lock is an flock(2) on a file in lock_dir named after the device path
 * ("/dev/video0" -> "dev_video0.lock"). flock locks belong to the open file,
 * so two cameras of one worker conflict just as two worker processes do,
 * and the kernel drops the lock when the holder dies (even by kill -9): a
 * stale lock file never blocks anyone. The holder writes "pid=N camera=M"
 * into the file so a conflict can say who holds the device.
 */
#ifndef FOOTFALL_WORKER_DEVLOCK_H
#define FOOTFALL_WORKER_DEVLOCK_H

#include "status.h"

struct devlock {
  int fd; /* -1 when not held */
  char path[512];
};

/* Takes the lock for device_path. FF_ECONFLICT (message naming the holder)
 * when another opener has it; FF_EIO when the lock file cannot be made. */
int devlock_acquire(const char *lock_dir, const char *device_path, int camera_id,
                    struct devlock *out, struct ff_error *err);
void devlock_release(struct devlock *lock);

#endif
