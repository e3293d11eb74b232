/* vault.h — seals small secrets at rest (camera URLs with credentials).
 *
 * XSalsa20-Poly1305 (libsodium secretbox) with the server's vault key, which
 * lives outside the database: `--vault-key` (64 hex characters; required to
 * be the same on every instance sharing a database) or, by default, the file
 * DATA_DIR/vault.key created on first start with mode 0600. A database dump
 * alone therefore does not reveal camera passwords.
 * Sealed text: "v1:" + base64(nonce || ciphertext).
 */
#ifndef FOOTFALL_VAULT_H
#define FOOTFALL_VAULT_H

#include <stddef.h>

#include "status.h"

struct server;

int vault_load_key(struct server *s, struct ff_error *err);
/* Returns a malloc'd sealed string, or NULL when out of memory. */
char *vault_seal(const struct server *s, const char *plaintext);
/* Returns the malloc'd plaintext, or NULL when the text was not sealed with
 * this key (or is damaged). */
char *vault_open(const struct server *s, const char *sealed);

#endif
