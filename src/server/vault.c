#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

#define SEAL_PREFIX "v1:"

static int parse_hex_key(const char *hex, unsigned char key[SERVER_KEY_BYTES]) {
  size_t got = 0;
  return strlen(hex) == SERVER_KEY_BYTES * 2 &&
                 !sodium_hex2bin(key, SERVER_KEY_BYTES, hex, strlen(hex), NULL, &got, NULL) &&
                 got == SERVER_KEY_BYTES
             ? 0
             : -1;
}

int vault_load_key(struct server *s, struct ff_error *err) {
  if (s->cfg.vault_key) {
    if (parse_hex_key(s->cfg.vault_key, s->vault_key))
      return ff_fail(err, FF_EINVAL, "vault-key must be 64 hexadecimal characters");
    return FF_OK;
  }
  char path[1100];
  snprintf(path, sizeof path, "%s/vault.key", s->cfg.data_dir);
  char hex[SERVER_KEY_BYTES * 2 + 2] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    unsigned char fresh[SERVER_KEY_BYTES];
    randombytes_buf(fresh, sizeof fresh);
    sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
    sodium_memzero(fresh, sizeof fresh);
    /* O_EXCL: two processes starting together cannot both write a key. */
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out >= 0) {
      ssize_t n = write(out, hex, SERVER_KEY_BYTES * 2);
      int synced = fsync(out);
      close(out);
      if (n != SERVER_KEY_BYTES * 2 || synced) {
        unlink(path);
        return ff_fail(err, FF_EIO, "cannot write %s", path);
      }
    } else if (errno != EEXIST) {
      return ff_fail(err, FF_EIO, "cannot create %s: %s", path, strerror(errno));
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0)
    return ff_fail(err, FF_EIO, "cannot read %s: %s", path, strerror(errno));
  ssize_t n = read(fd, hex, sizeof hex - 1);
  close(fd);
  hex[n > 0 ? n : 0] = 0;
  while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == ' '))
    hex[--n] = 0;
  int rc = parse_hex_key(hex, s->vault_key)
               ? ff_fail(err, FF_EINVAL, "%s does not hold a 64-hex-character key", path)
               : FF_OK;
  sodium_memzero(hex, sizeof hex);
  return rc;
}

char *vault_seal(const struct server *s, const char *plaintext) {
  size_t len = strlen(plaintext);
  size_t raw_len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + len;
  unsigned char *raw = malloc(raw_len);
  size_t b64_len = sodium_base64_ENCODED_LEN(raw_len, sodium_base64_VARIANT_ORIGINAL);
  char *out = malloc(sizeof SEAL_PREFIX + b64_len);
  if (!raw || !out) {
    free(raw);
    free(out);
    return NULL;
  }
  randombytes_buf(raw, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(raw + crypto_secretbox_NONCEBYTES, (const unsigned char *)plaintext, len,
                        raw, s->vault_key);
  memcpy(out, SEAL_PREFIX, sizeof SEAL_PREFIX - 1);
  sodium_bin2base64(out + sizeof SEAL_PREFIX - 1, b64_len, raw, raw_len,
                    sodium_base64_VARIANT_ORIGINAL);
  free(raw);
  return out;
}

char *vault_open(const struct server *s, const char *sealed) {
  if (strncmp(sealed, SEAL_PREFIX, sizeof SEAL_PREFIX - 1))
    return NULL;
  const char *b64 = sealed + sizeof SEAL_PREFIX - 1;
  size_t cap = strlen(b64), raw_len = 0;
  unsigned char *raw = malloc(cap + 1);
  if (!raw)
    return NULL;
  char *out = NULL;
  if (!sodium_base642bin(raw, cap, b64, strlen(b64), NULL, &raw_len, NULL,
                         sodium_base64_VARIANT_ORIGINAL) &&
      raw_len >= crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    size_t len = raw_len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
    out = malloc(len + 1);
    if (out &&
        crypto_secretbox_open_easy((unsigned char *)out, raw + crypto_secretbox_NONCEBYTES,
                                   raw_len - crypto_secretbox_NONCEBYTES, raw, s->vault_key)) {
      free(out);
      out = NULL;
    } else if (out) {
      out[len] = 0;
    }
  }
  free(raw);
  return out;
}
