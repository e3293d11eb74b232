#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum option_type { OPT_STRING, OPT_INT, OPT_BYTES };

struct option_def {
  const char *name; /* flag --name, file key name, env FOOTFALL_NAME (upper, - -> _) */
  enum option_type type;
  size_t offset;
  const char *fallback; /* default, as text; NULL = unset */
  unsigned scope;
  int secret; /* never echoed */
  const char *help;
};

#define ALL (CONFIG_SERVER | CONFIG_WORKER | CONFIG_DEMO | CONFIG_ADMIN)
#define SRV (CONFIG_SERVER | CONFIG_DEMO)
#define SRV_ADMIN (CONFIG_SERVER | CONFIG_DEMO | CONFIG_ADMIN)
#define F(field) offsetof(struct config, field)

static const struct option_def options[] = {
    {"config", OPT_STRING, F(config_file), NULL, ALL, 0,
     "Read settings from this file (lines of `name = value`, # comments)."},
    {"data-dir", OPT_STRING, F(data_dir), "./data", ALL, 0,
     "Folder for the SQLite database, pictures, secrets and state."},
    {"log-level", OPT_STRING, F(log_level), "info", ALL, 0, "debug, info, warn or error."},
    {"log-batch-ms", OPT_INT, F(log_batch_ms), "50", SRV, 0,
     "The server writes info lines (the access log) in batches, at most this late (0: each at "
     "once, 0-10000); warnings and errors are never held back."},
    {"models-dir", OPT_STRING, F(models_dir), "./data/models", ALL, 0,
     "Folder with the face-api model files."},

    {"listen", OPT_STRING, F(listen), "127.0.0.1", SRV, 0,
     "Address the server listens on (0.0.0.0 for all interfaces)."},
    {"port", OPT_INT, F(port), "8080", SRV, 0, "TCP port of the server (0 picks a free one)."},
    {"public-url", OPT_STRING, F(public_url), NULL, SRV, 0,
     "URL users reach the server at (printed at start; default http://LISTEN:PORT)."},
    {"web-dir", OPT_STRING, F(web_dir), "./web/dist", SRV, 0,
     "Built dashboard to serve; a placeholder page is served when it is missing."},
    {"cors-origins", OPT_STRING, F(cors_origins), NULL, SRV, 0,
     "Comma-separated origins allowed cross-origin access; empty = same origin only."},
    {"max-body-bytes", OPT_BYTES, F(max_body_bytes), "1m", SRV, 0,
     "Largest JSON request body (413 above it). Suffixes k, m, g."},
    {"max-upload-bytes", OPT_BYTES, F(max_upload_bytes), "12m", SRV, 0,
     "Largest picture upload or event batch body."},
    {"shutdown-grace-ms", OPT_INT, F(shutdown_grace_ms), "10000", SRV, 0,
     "On SIGTERM, how long in-flight requests may take to finish."},

    {"database-url", OPT_STRING, F(database_url), NULL, SRV_ADMIN, 1,
     "sqlite:PATH or postgres://user:pass@host:port/db; default sqlite:DATA_DIR/footfall.db."},
    {"store-url", OPT_STRING, F(store_url), NULL, SRV_ADMIN, 0,
     "Where face pictures go: file:PATH or s3://BUCKET; default file:DATA_DIR/pictures."},
    {"s3-endpoint", OPT_STRING, F(s3_endpoint), NULL, SRV_ADMIN, 0,
     "S3-compatible endpoint URL (MinIO: http://host:9000); default AWS for the region."},
    {"s3-region", OPT_STRING, F(s3_region), NULL, SRV_ADMIN, 0, "S3 region (default us-east-1)."},
    {"s3-access-key", OPT_STRING, F(s3_access_key), NULL, SRV_ADMIN, 1, "S3 access key id."},
    {"s3-secret-key", OPT_STRING, F(s3_secret_key), NULL, SRV_ADMIN, 1, "S3 secret access key."},
    {"db-pool-size", OPT_INT, F(db_pool_size), "8", SRV_ADMIN, 0, "Database connections kept."},
    {"jobs", OPT_INT, F(jobs), "1", SRV, 0,
     "Run the background jobs (retention, expiry, ...): 1 or 0. With several instances on one "
     "PostgreSQL, one leader runs them."},
    {"test-clock", OPT_INT, F(test_clock), "0", SRV, 0,
     "TESTS ONLY: 1 lets a system admin move this server's clock forward "
     "(POST /v1/admin/clock). Refused unless listening on 127.0.0.1 or ::1."},

    {"jwt-secret", OPT_STRING, F(jwt_secret), NULL, SRV, 1,
     "Key that signs access tokens (32+ bytes). Default: generated once and kept in the database."},
    {"vault-key", OPT_STRING, F(vault_key), NULL, SRV_ADMIN, 1,
     "64 hex characters sealing camera credentials at rest; the same on every instance. "
     "Default: DATA_DIR/vault.key, created on first start."},
    {"access-token-ttl-s", OPT_INT, F(access_token_ttl_s), "900", SRV, 0,
     "Lifetime of an access token, seconds."},
    {"refresh-token-ttl-s", OPT_INT, F(refresh_token_ttl_s), "2592000", SRV, 0,
     "Lifetime of a refresh token, seconds."},
    {"stream-ticket-ttl-s", OPT_INT, F(stream_ticket_ttl_s), "60", SRV, 0,
     "Lifetime of a single-use stream ticket, seconds."},
    {"realtime-history", OPT_INT, F(realtime_history), "1024", SRV, 0,
     "Realtime events kept for clients resuming with Last-Event-ID."},
    {"realtime-client-queue", OPT_INT, F(realtime_client_queue), "256", SRV, 0,
     "Events queued for one realtime client; a client further behind is disconnected."},
    {"sse-keepalive-s", OPT_INT, F(sse_keepalive_s), "15", SRV, 0,
     "A keep-alive comment goes to an idle event stream this often, seconds."},
    {"sse-retry-ms", OPT_INT, F(sse_retry_ms), "3000", SRV, 0,
     "Reconnection delay suggested to event-stream clients (the retry field)."},
    {"admin-username", OPT_STRING, F(admin_username), "admin", SRV, 0,
     "Name of the system admin created on first start with an empty database."},
    {"admin-password", OPT_STRING, F(admin_password), NULL, SRV, 1,
     "Password for that admin; default: random, printed once."},
    {"auth-cache-ms", OPT_INT, F(auth_cache_ms), "1000", SRV, 0,
     "How long a checked token's account is trusted without reading it again (0-60000; 0: read "
     "on every request). Changes made through this server apply at once; other servers on the "
     "same PostgreSQL database are told when they commit."},
    {"login-max-failures", OPT_INT, F(login_max_failures), "5", SRV, 0,
     "Failed logins allowed per username within the window."},
    {"login-max-failures-per-address", OPT_INT, F(login_max_failures_per_address), "20", SRV, 0,
     "Failed logins allowed per client address within the window (shops share addresses)."},
    {"login-window-s", OPT_INT, F(login_window_s), "300", SRV, 0,
     "Window of the login rate limit, seconds."},
    {"fleet-sweep-ms", OPT_INT, F(fleet_sweep_ms), "1000", SRV, 0,
     "How often the server derives worker status changes, moves the cameras of lost workers "
     "and expires commands (0 = never; heartbeats still place cameras)."},
    {"fleet-ack-timeout-ms", OPT_INT, F(fleet_ack_timeout_ms), "15000", SRV, 0,
     "A command sent to a worker and not acknowledged within this is sent again; an acknowledged "
     "one the worker said nothing more about for this long is asked for again."},
    {"fleet-command-ttl-s", OPT_INT, F(fleet_command_ttl_s), "3600", SRV, 0,
     "Default lifetime of a worker command; an undelivered command then expires."},
    {"fleet-command-attempts", OPT_INT, F(fleet_command_attempts), "3", SRV, 0,
     "How many times a command is sent before it fails as not acknowledged."},
    {"fleet-history-days", OPT_INT, F(fleet_history_days), "30", SRV, 0,
     "Finished worker commands are kept this long (the fleet-history job deletes older ones)."},

    {"server-url", OPT_STRING, F(server_url), NULL, CONFIG_WORKER, 0,
     "Server the worker sends events to, e.g. http://server:8080; unset = events wait in "
     "the outbox."},
    {"worker-api-key", OPT_STRING, F(worker_api_key), NULL, CONFIG_WORKER, 1,
     "The worker's API key (role worker), sent as Bearer."},
    {"state-dir", OPT_STRING, F(state_dir), NULL, CONFIG_WORKER, 0,
     "Worker state: id, endpoint secret, outbox, staff cache. Default DATA_DIR/worker."},
    {"cameras", OPT_STRING, F(cameras_file), NULL, CONFIG_WORKER, 0,
     "JSON file with the cameras ([{\"id\",\"kind\",\"url\",\"fps\",\"loop\",\"transport\","
     "\"motion_gate\"}]); also --camera id=N,kind=K,url=U[,fps=F,loop=1,transport=udp,motion=1], "
     "repeatable."},
    {"endpoint-listen", OPT_STRING, F(endpoint_listen), "127.0.0.1", CONFIG_WORKER, 0,
     "Address of the worker's local HTTP endpoint."},
    {"endpoint-port", OPT_INT, F(endpoint_port), "8090", CONFIG_WORKER, 0,
     "Port of the worker's local HTTP endpoint (0 = off)."},
    {"endpoint-secret", OPT_STRING, F(endpoint_secret), NULL, CONFIG_WORKER, 1,
     "Bearer secret of the local endpoint. Default: generated once into "
     "STATE_DIR/endpoint.secret."},
    {"detector", OPT_STRING, F(detector), "ssd", CONFIG_WORKER, 0,
     "Face detector: ssd (more accurate) or tiny (faster)."},
    {"tiny-input-size", OPT_INT, F(tiny_input_size), "416", CONFIG_WORKER, 0,
     "Input size of the Tiny detector, a multiple of 32."},
    {"min-face-size", OPT_INT, F(min_face_size), "40", CONFIG_WORKER, 0,
     "Smallest face tracked, shorter side in pixels."},
    {"min-detector-score", OPT_STRING, F(min_detector_score), "0.5", CONFIG_WORKER, 0,
     "Lowest detector score kept, 0..1."},
    {"inference-threads", OPT_INT, F(inference_threads), "0", CONFIG_WORKER, 0,
     "Face-analysis threads shared by all cameras; 0 = one per core."},
    {"sample-fps", OPT_STRING, F(sample_fps), "5", CONFIG_WORKER, 0,
     "Frames analysed per second per camera (a camera's fps overrides it)."},
    {"motion-gate", OPT_INT, F(motion_gate), "1", CONFIG_WORKER, 0,
     "1 = skip detection on still frames when nobody is being tracked."},
    {"motion-threshold", OPT_STRING, F(motion_threshold), "2.0", CONFIG_WORKER, 0,
     "Mean gray-level change (0..255) that counts as motion."},
    {"track-miss-ms", OPT_INT, F(track_miss_ms), "1500", CONFIG_WORKER, 0,
     "A face not seen for this long has left: its track ends and its event is made."},
    {"refresh-event-s", OPT_INT, F(refresh_event_s), "300", CONFIG_WORKER, 0,
     "Someone who stays gets a refresh event this often; 0 = never."},
    {"staff-match-distance", OPT_STRING, F(staff_match_distance), "0.5", CONFIG_WORKER, 0,
     "Descriptor distance under which a face is taken for a staff member."},
    {"outbox-max-events", OPT_INT, F(outbox_max_events), "100000", CONFIG_WORKER, 0,
     "Events the outbox keeps while the server is away; the oldest are dropped beyond."},
    {"outbox-max-bytes", OPT_BYTES, F(outbox_max_bytes), "1g", CONFIG_WORKER, 0,
     "Size bound of the outbox."},
    {"outbox-max-age-s", OPT_INT, F(outbox_max_age_s), "604800", CONFIG_WORKER, 0,
     "Events older than this are dropped from the outbox."},
    {"upload-batch", OPT_INT, F(upload_batch), "50", CONFIG_WORKER, 0,
     "Events per upload request, at most 100."},
    {"upload-timeout-ms", OPT_INT, F(upload_timeout_ms), "15000", CONFIG_WORKER, 0,
     "Longest wait for the server's answer to a batch."},
    {"upload-retry-base-ms", OPT_INT, F(upload_retry_base_ms), "1000", CONFIG_WORKER, 0,
     "First retry delay after a failed upload (doubles, with jitter)."},
    {"upload-retry-cap-ms", OPT_INT, F(upload_retry_cap_ms), "30000", CONFIG_WORKER, 0,
     "Longest retry delay for uploads."},
    {"source-timeout-ms", OPT_INT, F(source_timeout_ms), "10000", CONFIG_WORKER, 0,
     "A camera silent this long (open or read) is reconnected."},
    {"reconnect-base-ms", OPT_INT, F(reconnect_base_ms), "1000", CONFIG_WORKER, 0,
     "First camera reconnect delay (doubles, with jitter)."},
    {"reconnect-cap-ms", OPT_INT, F(reconnect_cap_ms), "30000", CONFIG_WORKER, 0,
     "Longest camera reconnect delay."},
    {"device-lock-dir", OPT_STRING, F(device_lock_dir), "/run/lock/footfall", CONFIG_WORKER, 0,
     "Folder of the lock files that keep two cameras or workers off one local device."},
    {"drain-ms", OPT_INT, F(drain_ms), "10000", CONFIG_WORKER, 0,
     "On SIGTERM, how long the worker keeps uploading its outbox before it exits."},
    {"track-reid-ms", OPT_INT, F(track_reid_ms), "0", CONFIG_WORKER, 0,
     "After a face is lost, how long a returning face with the same descriptor continues its "
     "pass (someone hidden behind another person) instead of starting a new one; 0 = off."},
    {"heartbeat-interval-ms", OPT_INT, F(heartbeat_interval_ms), "30000", CONFIG_WORKER, 0,
     "How often the worker reports to the server (it is offline after three missed)."},
    {"channel", OPT_INT, F(channel), "1", CONFIG_WORKER, 0,
     "1: keep a WebSocket to the server for commands; 0: commands come with heartbeats only."},
    {"max-cameras", OPT_INT, F(max_cameras), "8", CONFIG_WORKER, 0,
     "How many cameras the server may lease to this worker (its capacity)."},
    {"worker-name", OPT_STRING, F(worker_name), NULL, CONFIG_WORKER, 0,
     "Name shown in the dashboard; default the host name."},
    {"endpoint-url", OPT_STRING, F(endpoint_url), NULL, CONFIG_WORKER, 0,
     "URL at which the server can reach the local endpoint (live views); default "
     "http://ENDPOINT_LISTEN:PORT."},

    {"demo-camera-dir", OPT_STRING, F(demo_camera_dir), "./data/demo-camera", CONFIG_DEMO, 0,
     "Folder made by tools/demo-video.mjs: the demo video, the staff pictures and demo.json."},
    {"demo-timezone", OPT_STRING, F(demo_timezone), NULL, CONFIG_DEMO, 0,
     "IANA time zone of the demo store; default this machine's zone (UTC when unknown)."},
    {"demo-worker-port", OPT_INT, F(demo_worker_port), "8090", CONFIG_DEMO, 0,
     "Port of the demo worker's local endpoint (live view, diagnostics) on 127.0.0.1."},
};

#define OPTION_COUNT (sizeof options / sizeof options[0])

static void env_name(const char *name, char *out, size_t size) {
  size_t n = (size_t)snprintf(out, size, "FOOTFALL_");
  for (const char *p = name; *p && n + 1 < size; p++)
    out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  out[n] = 0;
}

static int parse_int64(const char *s, int64_t *out, int bytes) {
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s)
    return -1;
  int64_t mult = 1;
  if (bytes && *end) {
    switch (tolower((unsigned char)*end)) {
    case 'k': mult = 1024; break;
    case 'm': mult = 1024 * 1024; break;
    case 'g': mult = 1024LL * 1024 * 1024; break;
    default: return -1;
    }
    end++;
    if (tolower((unsigned char)*end) == 'b')
      end++;
  }
  if (*end)
    return -1;
  if (v < 0 || (mult > 1 && v > INT64_MAX / mult))
    return -1;
  *out = v * mult;
  return 0;
}

static int set_value(struct config *cfg, const struct option_def *o, const char *value,
                     const char *origin, struct ff_error *err) {
  char *field = (char *)cfg + o->offset;
  switch (o->type) {
  case OPT_STRING: {
    char *copy = strdup(value);
    if (!copy)
      return ff_fail(err, FF_ENOMEM, "out of memory");
    free(*(char **)field);
    *(char **)field = copy;
    return FF_OK;
  }
  case OPT_INT: {
    int64_t v;
    if (parse_int64(value, &v, 0) || v > 2147483647)
      return ff_fail(err, FF_EINVAL, "%s: %s expects a non-negative integer, got '%s'", origin,
                     o->name, value);
    *(int *)field = (int)v;
    return FF_OK;
  }
  case OPT_BYTES: {
    int64_t v;
    if (parse_int64(value, &v, 1))
      return ff_fail(err, FF_EINVAL, "%s: %s expects a size like 512k or 10m, got '%s'", origin,
                     o->name, value);
    *(int64_t *)field = v;
    return FF_OK;
  }
  }
  return FF_EINTERNAL;
}

static const struct option_def *find(const char *name, size_t len, unsigned scope) {
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if ((options[i].scope & scope) && strlen(options[i].name) == len &&
        !strncmp(options[i].name, name, len))
      return &options[i];
  return NULL;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = 0;
  return s;
}

static int load_file(struct config *cfg, unsigned scope, const char *path, struct ff_error *err) {
  FILE *f = fopen(path, "r");
  if (!f)
    return ff_fail(err, FF_EIO, "cannot read config file %s: %s", path, strerror(errno));
  char line[4096];
  int lineno = 0, rc = FF_OK;
  while (rc == FF_OK && fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = ff_fail(err, FF_EINVAL, "%s:%d: expected `name = value`", path, lineno);
      break;
    }
    *eq = 0;
    char *key = trim(s), *value = trim(eq + 1);
    const struct option_def *o = find(key, strlen(key), scope);
    if (!o) {
      rc = ff_fail(err, FF_EINVAL, "%s:%d: unknown setting '%s'", path, lineno, key);
      break;
    }
    char origin[300];
    snprintf(origin, sizeof origin, "%s:%d", path, lineno);
    rc = set_value(cfg, o, value, origin, err);
  }
  fclose(f);
  return rc;
}

int config_load(struct config *cfg, unsigned scope, int argc, char **argv, int *want_help,
                struct ff_error *err) {
  memset(cfg, 0, sizeof *cfg);
  *want_help = 0;
  int rc;
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if ((options[i].scope & scope) && options[i].fallback &&
        (rc = set_value(cfg, &options[i], options[i].fallback, "default", err)))
      return rc;

  /* The file comes first in precedence order, so find --config early. */
  const char *file = getenv("FOOTFALL_CONFIG");
  for (int i = 1; i < argc; i++) {
    if (!strncmp(argv[i], "--config=", 9))
      file = argv[i] + 9;
    else if (!strcmp(argv[i], "--config") && i + 1 < argc)
      file = argv[i + 1];
  }
  if (file && *file && (rc = load_file(cfg, scope, file, err)))
    return rc;

  for (size_t i = 0; i < OPTION_COUNT; i++) {
    if (!(options[i].scope & scope))
      continue;
    char name[128];
    env_name(options[i].name, name, sizeof name);
    const char *value = getenv(name);
    if (value && (rc = set_value(cfg, &options[i], value, name, err)))
      return rc;
  }

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      *want_help = 1;
      continue;
    }
    if (strncmp(arg, "--", 2))
      return ff_fail(err, FF_EINVAL, "unexpected argument '%s'", arg);
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const struct option_def *o = find(name, len, scope);
    if (!o)
      return ff_fail(err, FF_EINVAL, "unknown option '--%.*s' (see --help)", (int)len, name);
    const char *value = eq ? eq + 1 : NULL;
    if (!value) {
      if (i + 1 >= argc)
        return ff_fail(err, FF_EINVAL, "option --%s needs a value", o->name);
      value = argv[++i];
    }
    char origin[160];
    snprintf(origin, sizeof origin, "--%s", o->name);
    if ((rc = set_value(cfg, o, value, origin, err)))
      return rc;
  }
  return FF_OK;
}

unsigned config_scope_of(const char *name, size_t len) {
  unsigned scope = 0;
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len))
      scope |= options[i].scope;
  return scope;
}

void config_free(struct config *cfg) {
  for (size_t i = 0; i < OPTION_COUNT; i++)
    if (options[i].type == OPT_STRING) {
      char **field = (char **)((char *)cfg + options[i].offset);
      free(*field);
      *field = NULL;
    }
}

void config_print_help(FILE *out, const char *command, const char *summary, unsigned scope) {
  fprintf(out, "usage: footfall %s [options]\n\n%s\n\noptions (flag, environment, default):\n",
          command, summary);
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const struct option_def *o = &options[i];
    if (!(o->scope & scope))
      continue;
    char env[128];
    env_name(o->name, env, sizeof env);
    fprintf(out, "  --%-22s %s\n  %-24s env %s", o->name, o->help, "", env);
    if (o->fallback)
      fprintf(out, ", default %s", o->fallback);
    fputc('\n', out);
  }
}

static const char *scope_names(unsigned scope, char *buf, size_t size) {
  static const char *names[] = {"server", "worker", "demo", "admin"};
  size_t n = 0;
  buf[0] = 0;
  for (int b = 0; b < 4; b++)
    if (scope & (1u << b))
      n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", names[b]);
  return buf;
}

void config_print_markdown(FILE *out) {
  fputs("# Configuration\n\n"
        "Generated by `footfall config --markdown` from the option table in "
        "`src/common/config.c`; do not edit by hand.\n\n"
        "Every setting can be given, from lowest to highest precedence, as its default, in a "
        "config file (`--config PATH` or `FOOTFALL_CONFIG`; lines of `name = value`, `#` starts a "
        "comment), as an environment variable, or as a command-line flag. Sizes take the "
        "suffixes `k`, `m`, `g`.\n\n"
        "| setting | environment | default | commands | meaning |\n"
        "|---|---|---|---|---|\n",
        out);
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const struct option_def *o = &options[i];
    char env[128], scopes[64];
    env_name(o->name, env, sizeof env);
    fprintf(out, "| `--%s` | `%s` | %s%s%s | %s | %s%s |\n", o->name, env, o->fallback ? "`" : "",
            o->fallback ? o->fallback : "—", o->fallback ? "`" : "",
            scope_names(o->scope, scopes, sizeof scopes), o->help,
            o->secret ? " *Secret: never logged.*" : "");
  }
}
