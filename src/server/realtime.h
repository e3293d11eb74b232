/* realtime.h — the monitoring streams: GET /v1/events (Server-Sent Events)
 * and GET /v1/ws (WebSocket), both fed by the hub (hub.h). Messages are
 * described in docs/PROTOCOL.md ("Realtime events"). */
#ifndef FOOTFALL_REALTIME_H
#define FOOTFALL_REALTIME_H

#include "http.h"

void realtime_events(struct request *rq);
void realtime_ws(struct request *rq);

#endif
