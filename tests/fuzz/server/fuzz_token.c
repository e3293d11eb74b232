/* Bearer tokens from the network: token_verify must refuse anything that is
 * not a token we signed, without crashing or reading out of bounds. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct server s;
  static int ready;
  if (!ready) {
    if (sodium_init() < 0)
      abort();
    memset(s.jwt_key, 7, sizeof s.jwt_key);
    s.cfg.access_token_ttl_s = 900;
    ready = 1;
  }
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  struct principal p;
  if (token_verify(&s, text, 1000, &p) == FF_OK)
    __builtin_trap(); /* no forgery without the key */
  free(text);
  return 0;
}
