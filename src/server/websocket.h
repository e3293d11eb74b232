/* websocket.h — server-side WebSocket connections on top of ulfius.
 *
 * A route marked ROUTE_WEBSOCKET goes through the normal dispatcher (request
 * id, authentication, roles, metrics, access log); its handler checks what
 * it needs and either answers with an ordinary error (http_error: 400, 403,
 * 404...) or accepts the upgrade with ws_accept(). From then on the
 * connection is a struct ws_conn:
 *
 * - Sending: ws_send_text()/ws_send_binary() may be called from any thread.
 *   They copy the frame into the connection's bounded outgoing queue
 *   (ws_options: frames and bytes) and return at once; the connection's own
 *   thread writes the queue to the socket in order. A full queue refuses the
 *   frame with FF_EBUSY (nothing queued): the caller decides whether that
 *   means "drop this frame" (live video) or "this client is too slow"
 *   (ws_close). A closed connection refuses with FF_EIO.
 * - Receiving: on_message runs on ulfius's reader thread for each complete
 *   text or binary message (fragments joined; at most max_message_bytes,
 *   a larger one closes the connection). Pings are answered by ulfius; the
 *   connection pings the peer every ping_interval_ms and closes it when
 *   no pong came back by the next ping.
 * - Lifetime: a reference count. ws_accept's connection holds one reference
 *   until on_close has returned; whoever keeps the pointer beyond a callback
 *   (a registry of connected workers, a subscriber list) takes its own with
 *   ws_ref() and drops it with ws_unref(). on_close is called exactly once,
 *   after the socket is gone and no more on_message calls will come: free
 *   the per-connection user data there (or in a ws_unref-triggered free).
 * - Closing: ws_close() from any thread; the close frame goes after the
 *   frames already queued. The server's shutdown closes every connection.
 */
#ifndef FOOTFALL_WEBSOCKET_H
#define FOOTFALL_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"

struct ws_conn;

struct ws_handlers {
  /* Right after the handshake, on the connection's writer thread. Optional. */
  void (*on_open)(struct ws_conn *c, void *user);
  /* One complete message (binary = 0 for text, which is valid UTF-8). */
  void (*on_message)(struct ws_conn *c, int binary, const char *data, size_t len, void *user);
  /* Once, at the end. Optional. */
  void (*on_close)(struct ws_conn *c, void *user);
};

struct ws_options {
  int max_queue_frames;     /* default 256 */
  size_t max_queue_bytes;   /* default 8 MiB */
  size_t max_message_bytes; /* incoming; default 1 MiB */
  int ping_interval_ms;     /* 0 = never ping (opts NULL: 20000) */
};

/* In a ROUTE_WEBSOCKET handler: checks the upgrade headers (400
 * "websocket_required" if they are missing), then accepts. user is handed to
 * every callback. opts may be NULL (defaults). Replies either way; returns
 * FF_OK when the upgrade will happen. *out (may be NULL) receives the
 * connection with a reference for the caller (ws_unref when done). */
int ws_accept(struct request *rq, const struct ws_handlers *h, const struct ws_options *opts,
              void *user, struct ws_conn **out);

int ws_send_text(struct ws_conn *c, const char *data, size_t len);
int ws_send_binary(struct ws_conn *c, const void *data, size_t len);
/* Compact JSON text frame; does not take ownership. */
int ws_send_json(struct ws_conn *c, const json_t *message);
void ws_close(struct ws_conn *c);
int ws_is_open(const struct ws_conn *c);
void *ws_user(const struct ws_conn *c);
/* Frames waiting in the outgoing queue. */
int ws_queued(const struct ws_conn *c);

void ws_ref(struct ws_conn *c);
void ws_unref(struct ws_conn *c);

/* Open connections (all routes), for /metrics. */
int ws_open_count(void);

#endif
