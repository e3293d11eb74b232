/* exif.c — just enough EXIF to find the Orientation tag (0x0112) in IFD0.
 * Every read is bounds-checked against the segment; anything odd means
 * "no orientation" (1), never an error: a picture with a broken EXIF block
 * is still a picture. */
#include "image.h"

static unsigned read16(const uint8_t *p, int big_endian) {
  return big_endian ? (unsigned)(p[0] << 8 | p[1]) : (unsigned)(p[1] << 8 | p[0]);
}

static uint32_t read32(const uint8_t *p, int big_endian) {
  return big_endian ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                    : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int face_exif_orientation_tiff(const uint8_t *tiff, size_t size) {
  if (size < 8)
    return 1;
  int big;
  if (tiff[0] == 'I' && tiff[1] == 'I')
    big = 0;
  else if (tiff[0] == 'M' && tiff[1] == 'M')
    big = 1;
  else
    return 1;
  if (read16(tiff + 2, big) != 42)
    return 1;
  uint32_t ifd = read32(tiff + 4, big);
  if (ifd > size - 2)
    return 1;
  unsigned entries = read16(tiff + ifd, big);
  for (unsigned i = 0; i < entries; i++) {
    size_t at = (size_t)ifd + 2 + (size_t)i * 12;
    if (at + 12 > size)
      return 1;
    if (read16(tiff + at, big) != 0x0112)
      continue;
    unsigned type = read16(tiff + at + 2, big);
    uint32_t count = read32(tiff + at + 4, big);
    if (type != 3 || count != 1) /* SHORT, one value, stored inline */
      return 1;
    unsigned v = read16(tiff + at + 8, big);
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

int face_exif_orientation_jpeg(const uint8_t *data, size_t size) {
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8)
    return 1;
  size_t at = 2;
  /* Walk the marker segments up to the first scan; APP1 "Exif\0\0" holds it. */
  while (at + 4 <= size) {
    if (data[at] != 0xFF)
      return 1;
    uint8_t marker = data[at + 1];
    if (marker == 0xFF) { /* fill byte */
      at++;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) /* start of scan / end of image */
      return 1;
    size_t len = (size_t)data[at + 2] << 8 | data[at + 3];
    if (len < 2 || at + 2 + len > size)
      return 1;
    const uint8_t *seg = data + at + 4;
    size_t seg_len = len - 2;
    if (marker == 0xE1 && seg_len >= 6 && seg[0] == 'E' && seg[1] == 'x' && seg[2] == 'i' &&
        seg[3] == 'f' && seg[4] == 0 && seg[5] == 0)
      return face_exif_orientation_tiff(seg + 6, seg_len - 6);
    at += 2 + len;
  }
  return 1;
}
