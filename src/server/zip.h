/* zip.h — a small writer of zip archives with stored (uncompressed) entries,
 * for exports of JPEG pictures (already compressed) and JSON. CRC-32 comes
 * from zlib. No ZIP64: an archive stays under ZIP_MAX_BYTES.
 */
#ifndef FOOTFALL_ZIP_H
#define FOOTFALL_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define ZIP_MAX_BYTES (1024u * 1024u * 1024u) /* 1 GiB */
#define ZIP_MAX_ENTRIES 65000

struct zip {
  unsigned char *data; /* local headers and contents */
  size_t len, cap;
  unsigned char *dir; /* the central directory, appended at zip_finish */
  size_t dir_len, dir_cap;
  int entries;
  int failed;
};

/* Adds a file; name is a relative path with '/' separators (1..255 bytes);
 * mtime_ms sets its DOS timestamp (UTC). FF_ENOMEM, FF_ETOOBIG, FF_EINVAL. */
int zip_add(struct zip *z, const char *name, const void *data, size_t len, int64_t mtime_ms);
/* Writes the central directory; the archive is z->data[0 .. z->len). */
int zip_finish(struct zip *z);
void zip_free(struct zip *z);

#endif
