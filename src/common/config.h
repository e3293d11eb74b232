/* config.h — every setting of every command, defined once.
 *
 * The table in config.c is the single source of truth: each option has a
 * name (also the --flag and the key in a config file), an environment
 * variable FOOTFALL_<NAME>, a default, a type and a one-line meaning. The same
 * table produces `--help`, `footfall config --markdown` (docs/CONFIG.md) and
 * the values in struct config.
 *
 * Precedence, lowest to highest: default < config file (--config PATH or
 * FOOTFALL_CONFIG) < environment < command-line flag.
 *
 * Memory: string fields of struct config are owned by it; config_free()
 * releases them.
 */
#ifndef FOOTFALL_CONFIG_H
#define FOOTFALL_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "status.h"

/* Which commands an option applies to (bit set). */
enum config_scope {
  CONFIG_SERVER = 1 << 0,
  CONFIG_WORKER = 1 << 1,
  CONFIG_DEMO = 1 << 2,
  CONFIG_ADMIN = 1 << 3,
};

struct config {
  /* everywhere */
  char *config_file;
  char *data_dir;
  char *log_level;
  int log_batch_ms;
  int auth_cache_ms;
  char *models_dir;

  /* server: network and HTTP */
  char *listen;
  int port;
  char *public_url;
  char *web_dir;
  char *cors_origins;
  int64_t max_body_bytes;
  int64_t max_upload_bytes;
  int shutdown_grace_ms;

  /* server: storage */
  char *database_url;
  char *store_url;
  char *s3_endpoint;
  char *s3_region;
  char *s3_access_key;
  char *s3_secret_key;
  int db_pool_size;

  /* server: background jobs */
  int jobs;
  int test_clock;

  /* server: accounts */
  char *jwt_secret;
  char *vault_key;
  int access_token_ttl_s;
  int refresh_token_ttl_s;
  int stream_ticket_ttl_s;
  int realtime_history;
  int realtime_client_queue;
  int sse_keepalive_s;
  int sse_retry_ms;
  char *admin_username;
  char *admin_password;
  int login_max_failures;
  int login_max_failures_per_address;
  int login_window_s;
  int fleet_sweep_ms;
  int fleet_ack_timeout_ms;
  int fleet_command_ttl_s;
  int fleet_command_attempts;
  int fleet_history_days;

  /* worker */
  char *server_url;
  char *worker_api_key;
  char *state_dir;
  char *cameras_file;
  char *endpoint_listen;
  int endpoint_port;
  char *endpoint_secret;
  char *detector;
  int tiny_input_size;
  int min_face_size;
  char *min_detector_score;
  int inference_threads;
  char *sample_fps;
  int motion_gate;
  char *motion_threshold;
  int track_miss_ms;
  int refresh_event_s;
  char *staff_match_distance;
  int outbox_max_events;
  int64_t outbox_max_bytes;
  int outbox_max_age_s;
  int upload_batch;
  int upload_timeout_ms;
  int upload_retry_base_ms;
  int upload_retry_cap_ms;
  int source_timeout_ms;
  int reconnect_base_ms;
  int reconnect_cap_ms;
  char *device_lock_dir;
  int drain_ms;
  int track_reid_ms;
  int heartbeat_interval_ms;
  int channel;
  int max_cameras;
  char *worker_name;
  char *endpoint_url;

  /* demo */
  char *demo_camera_dir;
  char *demo_timezone;
  int demo_worker_port;
};

/* Fills cfg from defaults, file, environment and argv (argv[0] is the
 * command name). Returns FF_OK; FF_EINVAL with a message for an unknown flag
 * or a bad value. *want_help is set when --help was given. */
int config_load(struct config *cfg, unsigned scope, int argc, char **argv, int *want_help,
                struct ff_error *err);
void config_free(struct config *cfg);

/* The commands an option (its name without "--", len bytes) applies to; 0
 * when there is no such option. The demo uses it to hand each of its
 * processes the flags that are theirs. */
unsigned config_scope_of(const char *name, size_t len);

/* The --help text for one command. */
void config_print_help(FILE *out, const char *command, const char *summary, unsigned scope);
/* docs/CONFIG.md, generated from the table. */
void config_print_markdown(FILE *out);

#endif
