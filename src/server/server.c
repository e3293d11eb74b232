/* server.c — `footfall server`: start-up, secrets, first admin, signals,
 * orderly shutdown. */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "http.h"
#include "jobs.h"
#include "log.h"
#include "faces.h"
#include "fleet.h"
#include "hub.h"
#include "live.h"
#include "recognizer.h"
#include "rollups.h"
#include "users.h"
#include "vault.h"

int64_t server_now_ms(const struct server *s) {
  (void)s;
  return ff_now_ms();
}

/* Reads a 32-byte key from the settings table, creating it on first start.
 * Several instances starting together agree: the insert is conditional and
 * everyone reads back whichever key won. */
static int load_key(struct server *s, const char *name, unsigned char key[SERVER_KEY_BYTES],
                    struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection for the server keys");
  unsigned char fresh[SERVER_KEY_BYTES];
  char hex[SERVER_KEY_BYTES * 2 + 1];
  randombytes_buf(fresh, sizeof fresh);
  sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
  sodium_memzero(fresh, sizeof fresh);
  int rc = db_exec(c,
                   "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) "
                   "ON CONFLICT (key) DO NOTHING",
                   DB_ARGS(db_text(name), db_text(hex), db_int(server_now_ms(s))), NULL, err);
  struct db_rows *rows = NULL;
  if (!rc)
    rc = db_query(c, "SELECT value FROM settings WHERE key = $1", DB_ARGS(db_text(name)), &rows,
                  err);
  if (!rc) {
    const char *stored = db_rows_count(rows) == 1 ? db_rows_text(rows, 0, 0) : NULL;
    size_t got = 0;
    if (!stored ||
        sodium_hex2bin(key, SERVER_KEY_BYTES, stored, strlen(stored), NULL, &got, NULL) ||
        got != SERVER_KEY_BYTES)
      rc = ff_fail(err, FF_EDB, "setting %s is not a %d-byte hex key", name, SERVER_KEY_BYTES);
  }
  db_rows_free(rows);
  sodium_memzero(hex, sizeof hex);
  db_release(c);
  return rc;
}

static int load_secrets(struct server *s, struct ff_error *err) {
  int rc = load_key(s, "digest_key", s->digest_key, err);
  if (rc)
    return rc;
  if (s->cfg.jwt_secret) {
    if (strlen(s->cfg.jwt_secret) < 32)
      return ff_fail(err, FF_EINVAL, "jwt-secret must be at least 32 characters");
    /* HMAC key = SHA-256 of the configured secret (any length in, 32 bytes out). */
    crypto_hash_sha256(s->jwt_key, (const unsigned char *)s->cfg.jwt_secret,
                       strlen(s->cfg.jwt_secret));
    return FF_OK;
  }
  return load_key(s, "jwt_key", s->jwt_key, err);
}

/* With no system admin in the database, creates one and prints the password
 * once, on standard output (never into the structured log). */
static int ensure_admin(struct server *s, struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "no database connection");
  struct db_rows *rows = NULL;
  int rc =
      db_query(c, "SELECT COUNT(*) FROM users WHERE role = 'system_admin'", DB_NOARGS, &rows, err);
  int have = rc == FF_OK && db_rows_int(rows, 0, 0) > 0;
  db_rows_free(rows);
  if (rc || have) {
    db_release(c);
    return rc;
  }
  char generated[64];
  const char *password = s->cfg.admin_password;
  if (!password) {
    secret_generate("", generated, sizeof generated);
    generated[20] = 0; /* 20 base64url characters: 120 bits */
    password = generated;
  }
  struct user_spec spec = {.username = s->cfg.admin_username,
                           .password = password,
                           .role = ROLE_SYSTEM_ADMIN,
                           .display_name = "System administrator"};
  int64_t id = 0;
  rc = users_create(s, c, &spec, &id, err);
  db_release(c);
  if (rc == FF_ECONFLICT)
    return FF_OK; /* another instance created it first */
  if (rc)
    return rc;
  log_msg(LOG_INFO, "server.admin_created", "created system admin '%s'", spec.username);
  /* A configured password is already known to whoever configured it (the
   * demo prints its own); only a generated one is shown, once. */
  if (!s->cfg.admin_password) {
    printf("\n  First start: a system admin was created.\n"
           "    username: %s\n    password: %s\n"
           "  It is shown only this once; change it after signing in.\n\n",
           spec.username, password);
    fflush(stdout);
  }
  sodium_memzero(generated, sizeof generated);
  return FF_OK;
}

static int prepare_data_dir(const char *dir, struct ff_error *err) {
  if (mkdir(dir, 0700) && errno != EEXIST)
    return ff_fail(err, FF_EIO, "cannot create data folder %s: %s", dir, strerror(errno));
  return FF_OK;
}

int server_init(struct server *s, struct ff_error *err) {
  int rc;
  if (sodium_init() < 0)
    return ff_fail(err, FF_EINTERNAL, "libsodium failed to initialise");
  enum log_level level;
  if (log_parse_level(s->cfg.log_level, &level))
    return ff_fail(err, FF_EINVAL, "log-level must be debug, info, warn or error");
  log_set_level(level);
  if (s->cfg.log_batch_ms < 0 || s->cfg.log_batch_ms > 10000)
    return ff_fail(err, FF_EINVAL, "log-batch-ms must be between 0 and 10000");
  if (s->cfg.auth_cache_ms < 0 || s->cfg.auth_cache_ms > 60000)
    return ff_fail(err, FF_EINVAL, "auth-cache-ms must be between 0 and 60000");
  if ((rc = prepare_data_dir(s->cfg.data_dir, err)))
    return rc;

  char default_url[1200];
  snprintf(default_url, sizeof default_url, "sqlite:%s/footfall.db", s->cfg.data_dir);
  struct db_options dbo = {.url = s->cfg.database_url ? s->cfg.database_url : default_url,
                           .pool_size = s->cfg.db_pool_size};
  if ((rc = db_open(&dbo, &s->db, err)) || (rc = db_migrate(s->db, err)))
    return rc;
  if ((rc = load_secrets(s, err)))
    return rc;
  return vault_load_key(s, err);
}

void server_free(struct server *s) {
  if (s->db)
    db_close(s->db);
  s->db = NULL;
  ratelimit_free(&s->login_limit);
  ratelimit_free(&s->login_addr_limit);
  auth_cache_free(s);
  hub_free(s);
  recognizer_free(s);
  faces_free(s);
  config_free(&s->cfg);
}

static int start(struct server *s, int argc, char **argv, struct ff_error *err) {
  int want_help = 0;
  int rc = config_load(&s->cfg, CONFIG_SERVER, argc, argv, &want_help, err);
  if (rc)
    return rc;
  if (want_help) {
    config_print_help(stdout, "server",
                      "Runs the Footfall server: REST API, dashboard, recognition, fleet control.",
                      CONFIG_SERVER);
    exit(0);
  }
  if ((rc = server_init(s, err)) || (rc = ensure_admin(s, err)) || (rc = reports_backfill(s, err)))
    return rc;
  if (s->cfg.test_clock) {
    /* Test only: an admin may move this process's clock forward. Never on
     * an address other machines can reach. */
    if (strcmp(s->cfg.listen, "127.0.0.1") && strcmp(s->cfg.listen, "::1") &&
        strcmp(s->cfg.listen, "localhost"))
      return ff_fail(err, FF_EINVAL, "test-clock is for tests: listen on 127.0.0.1 or ::1");
    ff_clock_enable_test();
    log_msg(LOG_WARN, "server.test_clock", "the test clock is on: admins may move time forward");
  }
  if (auth_cache_init(s))
    return ff_fail(err, FF_ENOMEM, "out of memory");
  if ((rc = hub_init(s, err)) || (rc = recognizer_init(s, err)) || (rc = live_init(s, err)))
    return rc;
  if (ratelimit_init(&s->login_limit, s->cfg.login_max_failures,
                     (int64_t)s->cfg.login_window_s * 1000) ||
      ratelimit_init(&s->login_addr_limit, s->cfg.login_max_failures_per_address,
                     (int64_t)s->cfg.login_window_s * 1000))
    return ff_fail(err, FF_ENOMEM, "out of memory");
  s->metrics.started_ms = (uint64_t)server_now_ms(s);
  if ((rc = fleet_start(s, err)) || (rc = http_start(s, err)))
    return rc;
  if (s->cfg.jobs && (rc = jobs_start(s, err)))
    return rc;

  struct log_line l;
  log_begin(&l, LOG_INFO, "server.listening");
  log_str(&l, "address", s->cfg.listen);
  log_int(&l, "port", s->port);
  log_str(&l, "database", db_backend_name(s->db));
  log_end(&l);
  if (s->cfg.public_url)
    printf("Footfall is running at %s\n", s->cfg.public_url);
  else
    printf("Footfall is running at http://%s:%d/\n",
           strcmp(s->cfg.listen, "0.0.0.0") ? s->cfg.listen : "localhost", s->port);
  fflush(stdout);
  /* From here on, one write per request's access-log line would be a
   * visible part of a small request's cost: info lines are written in
   * batches (warnings and errors at once). */
  if (log_batch_start(s->cfg.log_batch_ms))
    log_msg(LOG_WARN, "server.log_batch", "cannot batch log lines: each is written at once");
  return FF_OK;
}

static void stop(struct server *s) {
  jobs_stop(s); /* the running job ends at its next safe point */
  fleet_stop(s);
  http_stop(s, s->cfg.shutdown_grace_ms); /* ends the live views too */
  live_stop(s);
  hub_stop(s); /* its threads use the database */
  server_free(s);
}

int server_main(int argc, char **argv) {
  /* Signals are taken synchronously by this thread; every thread started
   * later inherits the mask. */
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  static struct server s;
  struct ff_error err = {0};
  if (start(&s, argc, argv, &err)) {
    log_msg(LOG_ERROR, "server.start_failed", "%s", err.message);
    fprintf(stderr, "footfall server: %s\n", err.message);
    stop(&s);
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log_batch_stop(); /* the shutdown is logged as it happens */
  log_msg(LOG_INFO, "server.stopping", "signal %d: draining in-flight requests", sig);
  stop(&s);
  log_msg(LOG_INFO, "server.stopped", "bye");
  return 0;
}
