/* server.h — the one state struct of the `footfall server` process.
 *
 * Created by server_main() and passed to every handler through struct
 * request. Fields set at start-up are read-only afterwards; the few that
 * change say what guards them.
 */
#ifndef FOOTFALL_SERVER_H
#define FOOTFALL_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "ratelimit.h"

struct db;
struct _u_instance;
struct store;
struct vindex_registry;
struct face_pool;
struct http_stream;
struct hub;

#define SERVER_KEY_BYTES 32

struct server {
  struct config cfg;
  struct db *db;
  struct _u_instance *http;
  int port; /* the bound port (cfg.port may be 0) */

  unsigned char jwt_key[SERVER_KEY_BYTES];    /* signs access tokens */
  unsigned char digest_key[SERVER_KEY_BYTES]; /* keys the hashes of stored secrets */
  unsigned char vault_key[SERVER_KEY_BYTES];  /* seals secrets at rest (vault.h) */

  struct auth_cache *auth_cache;          /* resolved principals (auth.h) */
  struct store *store;                    /* face pictures (store.h) */
  struct vindex_registry *customer_index; /* per tenant: customer exemplars */
  struct vindex_registry *staff_index;    /* per tenant: staff faces */
  struct vindex_registry *optout_index;   /* per tenant: the do-not-track list (privacy.h) */
  struct face_pool *faces;                /* the face engine, loaded on first use (faces.h) */
  struct metrics metrics;
  struct ratelimit login_limit;      /* failed logins per username */
  struct ratelimit login_addr_limit; /* failed logins per client address */

  atomic_int draining;           /* set on SIGTERM: readyz fails, new requests get 503 */
  atomic_int in_flight;          /* requests inside http_dispatch */
  atomic_llong last_dispatch_us; /* monotonic time the latest request reached dispatch */

  pthread_mutex_t streams_lock; /* guards streams */
  struct http_stream *streams;  /* open streamed responses (http.c) */
  atomic_int stream_count;
  struct hub *hub; /* realtime events (hub.h) */
};

int server_main(int argc, char **argv);
/* After cfg is loaded: opens and migrates the database and loads the
 * server keys (used by `footfall server` and `footfall admin`). */
int server_init(struct server *s, struct ff_error *err);
void server_free(struct server *s);

/* Milliseconds since the epoch. */
int64_t server_now_ms(const struct server *s);

#endif
