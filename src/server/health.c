#include "health.h"

#include <stdlib.h>

#include "db.h"
#include "metrics.h"
#include "server.h"

void health_live(struct request *rq) {
  http_json(rq, 200, json_pack("{s:s}", "status", "ok"));
}

void health_ready(struct request *rq) {
  struct server *s = rq->server;
  if (atomic_load(&s->draining)) {
    http_json(rq, 503, json_pack("{s:s,s:s}", "status", "unavailable", "reason", "shutting down"));
    return;
  }
  int current = 0, latest = 0;
  struct ff_error err = {0};
  int rc = db_schema_version(s->db, &current, &latest, &err);
  if (rc) {
    http_json(rq, 503,
              json_pack("{s:s,s:s,s:s}", "status", "unavailable", "reason", "database unreachable",
                        "detail", err.message));
    return;
  }
  json_t *body = json_pack(
      "{s:s,s:s,s:i,s:i}", "status", current == latest ? "ready" : "unavailable", "database",
      db_backend_name(s->db), "schema_version", current, "schema_latest", latest);
  if (current != latest)
    json_object_set_new(body, "reason", json_string("database migrations are not current"));
  http_json(rq, current == latest ? 200 : 503, body);
}

void health_metrics(struct request *rq) {
  char *text = metrics_render(rq->server);
  if (!text) {
    http_error(rq, 500, "internal", "out of memory");
    return;
  }
  rq->status = 200;
  ulfius_set_string_body_response(rq->res, 200, text);
  free(text);
  http_header(rq, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

void health_openapi(struct request *rq) {
  rq->status = 200;
  ulfius_set_binary_body_response(rq->res, 200, openapi_json, openapi_json_size);
  http_header(rq, "Content-Type", "application/json");
}
