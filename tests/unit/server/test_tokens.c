#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "auth.h"
#include "server.h"

static struct server s;

static void setup(void) {
  cr_assert_geq(sodium_init(), 0);
  memset(&s, 0, sizeof s);
  randombytes_buf(s.jwt_key, sizeof s.jwt_key);
  randombytes_buf(s.digest_key, sizeof s.digest_key);
  s.cfg.access_token_ttl_s = 900;
}

TestSuite(tokens, .init = setup);

Test(tokens, round_trip) {
  struct principal p = {.role = ROLE_SYSTEM_ADMIN, .user_id = 42, .tenant_id = 7};
  char *t = NULL;
  cr_assert_eq(token_issue(&s, &p, 1000, &t), FF_OK);
  struct principal out;
  cr_assert_eq(token_verify(&s, t, 1001, &out), FF_OK);
  cr_assert_eq(out.user_id, 42);
  cr_assert_eq(out.tenant_id, 7);
  free(t);
}

Test(tokens, expired_is_refused) {
  struct principal p = {.role = ROLE_VIEWER, .user_id = 1};
  char *t = NULL;
  token_issue(&s, &p, 1000, &t);
  struct principal out;
  cr_assert_eq(token_verify(&s, t, 1000 + 900, &out), FF_EAUTH);
  cr_assert_eq(token_verify(&s, t, 1000 + 899, &out), FF_OK);
  free(t);
}

Test(tokens, tampering_is_refused) {
  struct principal p = {.role = ROLE_VIEWER, .user_id = 1};
  char *t = NULL;
  token_issue(&s, &p, 1000, &t);
  struct principal out;
  size_t len = strlen(t);
  for (size_t i = 0; i < len; i += 7) {
    char saved = t[i];
    t[i] = saved == 'A' ? 'B' : 'A';
    if (t[i] != saved)
      cr_expect_eq(token_verify(&s, t, 1001, &out), FF_EAUTH, "flipped byte %zu accepted", i);
    t[i] = saved;
  }
  /* Another key. */
  randombytes_buf(s.jwt_key, sizeof s.jwt_key);
  cr_assert_eq(token_verify(&s, t, 1001, &out), FF_EAUTH);
  free(t);
}

Test(tokens, alg_none_and_garbage_are_refused) {
  struct principal out;
  /* {"alg":"none","typ":"JWT"}.{"sub":"1","exp":99999999999,...}. */
  const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                     "eyJpc3MiOiJmb290ZmFsbCIsImF1ZCI6ImZvb3RmYWxsLWFwaSIsInN1YiI6IjEiLCJleHAiOjk5"
                     "OTk5OTk5OTk5fQ.";
  cr_assert_eq(token_verify(&s, none, 1000, &out), FF_EAUTH);
  cr_assert_eq(token_verify(&s, "", 1000, &out), FF_EAUTH);
  cr_assert_eq(token_verify(&s, "a.b.c", 1000, &out), FF_EAUTH);
  char big[5000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  cr_assert_eq(token_verify(&s, big, 1000, &out), FF_EAUTH);
}

Test(secrets, digest_depends_on_key_and_secret) {
  char a[65], b[65], c[65];
  secret_digest(&s, "ffk_x", a);
  secret_digest(&s, "ffk_y", b);
  cr_assert_str_neq(a, b);
  randombytes_buf(s.digest_key, sizeof s.digest_key);
  secret_digest(&s, "ffk_x", c);
  cr_assert_str_neq(a, c);
  char g1[80], g2[80];
  secret_generate("p_", g1, sizeof g1);
  secret_generate("p_", g2, sizeof g2);
  cr_assert_str_neq(g1, g2);
  cr_assert_eq(strlen(g1), 2 + 43);
}

Test(passwords, argon2id_round_trip) {
  char hash[256];
  cr_assert_eq(password_hash("correct horse battery", hash, sizeof hash), FF_OK);
  cr_assert(!strncmp(hash, "$argon2id$", 10), "%s", hash);
  cr_assert(password_verify(hash, "correct horse battery"));
  cr_assert_not(password_verify(hash, "correct horse battery!"));
}

Test(roles, parse_never_yields_worker) {
  cr_assert_eq(role_parse("worker"), ROLE_NONE);
  cr_assert_eq(role_parse("system_admin"), ROLE_SYSTEM_ADMIN);
  cr_assert_eq(role_parse("SYSTEM_ADMIN"), ROLE_NONE);
  cr_assert_eq(role_parse(NULL), ROLE_NONE);
}
