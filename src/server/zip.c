#include "zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tz.h"

static int grow(unsigned char **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return FF_OK;
  size_t n = *cap ? *cap : 4096;
  while (n < need)
    n *= 2;
  unsigned char *p = realloc(*buf, n);
  if (!p)
    return FF_ENOMEM;
  *buf = p;
  *cap = n;
  return FF_OK;
}

static void le16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}
static void le32(unsigned char *p, uint32_t v) {
  le16(p, v & 0xFFFF);
  le16(p + 2, v >> 16);
}

/* DOS date and time of a UTC instant (1980..2107). */
static void dos_time(int64_t ms, unsigned *date, unsigned *time) {
  int64_t s = ms / 1000, days = s / 86400;
  int y, m, d;
  tz_civil_from_days(days, &y, &m, &d);
  if (y < 1980)
    y = 1980, m = 1, d = 1, s = 0;
  int64_t sod = s % 86400;
  *date = (unsigned)(((y - 1980) << 9) | (m << 5) | d);
  *time = (unsigned)(((sod / 3600) << 11) | (((sod / 60) % 60) << 5) | ((sod % 60) / 2));
}

int zip_add(struct zip *z, const char *name, const void *data, size_t len, int64_t mtime_ms) {
  size_t name_len = strlen(name);
  if (z->failed)
    return FF_EINVAL;
  if (!name_len || name_len > 255 || name[0] == '/' || strstr(name, ".."))
    return FF_EINVAL;
  if (z->entries >= ZIP_MAX_ENTRIES ||
      z->len + 30 + name_len + len + z->dir_len + 46 + name_len + 22 > ZIP_MAX_BYTES)
    return FF_ETOOBIG;
  if (grow(&z->data, &z->cap, z->len + 30 + name_len + len) ||
      grow(&z->dir, &z->dir_cap, z->dir_len + 46 + name_len)) {
    z->failed = 1;
    return FF_ENOMEM;
  }
  uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
  crc = (uint32_t)crc32(crc, data, (uInt)len);
  unsigned date, time;
  dos_time(mtime_ms, &date, &time);
  uint32_t offset = (uint32_t)z->len;
  unsigned char *h = z->data + z->len;
  le32(h, 0x04034b50); /* local file header */
  le16(h + 4, 20);     /* version needed: 2.0 */
  le16(h + 6, 0x0800); /* flags: UTF-8 names */
  le16(h + 8, 0);      /* stored */
  le16(h + 10, time);
  le16(h + 12, date);
  le32(h + 14, crc);
  le32(h + 18, (uint32_t)len);
  le32(h + 22, (uint32_t)len);
  le16(h + 26, (unsigned)name_len);
  le16(h + 28, 0);
  memcpy(h + 30, name, name_len);
  if (len)
    memcpy(h + 30 + name_len, data, len);
  z->len += 30 + name_len + len;

  unsigned char *c = z->dir + z->dir_len;
  le32(c, 0x02014b50); /* central directory header */
  le16(c + 4, 0x0314); /* made by: Unix, 2.0 */
  le16(c + 6, 20);
  le16(c + 8, 0x0800);
  le16(c + 10, 0);
  le16(c + 12, time);
  le16(c + 14, date);
  le32(c + 16, crc);
  le32(c + 20, (uint32_t)len);
  le32(c + 24, (uint32_t)len);
  le16(c + 28, (unsigned)name_len);
  le16(c + 30, 0);                       /* extra */
  le16(c + 32, 0);                       /* comment */
  le16(c + 34, 0);                       /* disk */
  le16(c + 36, 0);                       /* internal attributes */
  le32(c + 38, (uint32_t)0100644 << 16); /* external: a regular file, rw-r--r-- */
  le32(c + 42, offset);
  memcpy(c + 46, name, name_len);
  z->dir_len += 46 + name_len;
  z->entries++;
  return FF_OK;
}

int zip_finish(struct zip *z) {
  if (z->failed)
    return FF_EINVAL;
  if (grow(&z->data, &z->cap, z->len + z->dir_len + 22))
    return FF_ENOMEM;
  uint32_t dir_offset = (uint32_t)z->len;
  if (z->dir_len)
    memcpy(z->data + z->len, z->dir, z->dir_len);
  z->len += z->dir_len;
  unsigned char *e = z->data + z->len;
  le32(e, 0x06054b50); /* end of central directory */
  le16(e + 4, 0);
  le16(e + 6, 0);
  le16(e + 8, (unsigned)z->entries);
  le16(e + 10, (unsigned)z->entries);
  le32(e + 12, (uint32_t)z->dir_len);
  le32(e + 16, dir_offset);
  le16(e + 20, 0);
  z->len += 22;
  z->failed = 1; /* nothing may be added after the directory */
  return FF_OK;
}

void zip_free(struct zip *z) {
  free(z->data);
  free(z->dir);
  memset(z, 0, sizeof *z);
}
