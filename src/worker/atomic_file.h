/* atomic_file.h — replace a small file so readers see the old or the new
 * content, never a torn one, even across a crash: write a temporary file
 * beside it, fsync, rename over, fsync the folder. */
#ifndef FOOTFALL_WORKER_ATOMIC_FILE_H
#define FOOTFALL_WORKER_ATOMIC_FILE_H

#include <stddef.h>

#include "status.h"

int atomic_write(const char *path, const void *data, size_t size, struct ff_error *err);
/* Reads a whole file up to max bytes (FF_ETOOBIG beyond, FF_ENOTFOUND when
 * absent). *out is malloc'd and NUL-terminated. */
int read_small_file(const char *path, size_t max, char **out, size_t *size, struct ff_error *err);

#endif
