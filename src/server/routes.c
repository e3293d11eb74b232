/* routes.c — every endpoint of the server, in one table.
 *
 * The table drives dispatch (http.c), metrics labels and the OpenAPI check
 * (tests/unit/server: every route here is in openapi.json and vice versa).
 */
#include "accounts.h"
#include "api_keys.h"
#include "audit.h"
#include "cameras.h"
#include "customers.h"
#include "events.h"
#include "fleet.h"
#include "staff.h"
#include "health.h"
#include "jobs.h"
#include "privacy.h"
#include "http.h"
#include "reports.h"
#include "live.h"
#include "realtime.h"
#include "tenants.h"
#include "users.h"

#define ANY_USER ROLES_USERS
#define ADMINS ROLES_ADMINS
#define MANAGERS ROLES_MANAGERS
#define SYSTEM ROLES_SYSTEM
#define WORKER ROLES_WORKER

const struct route http_routes[] = {
    /* operations */
    {"GET", "/healthz", health_live, 0, BODY_NONE, ROUTE_PUBLIC},
    {"GET", "/readyz", health_ready, 0, BODY_NONE, ROUTE_PUBLIC},
    {"GET", "/metrics", health_metrics, 0, BODY_NONE, ROUTE_PUBLIC},
    {"GET", "/v1/openapi.json", health_openapi, 0, BODY_NONE, ROUTE_PUBLIC},

    /* sessions and the caller's account */
    {"POST", "/v1/auth/login", accounts_login, 0, BODY_JSON, ROUTE_PUBLIC},
    {"POST", "/v1/auth/refresh", accounts_refresh, 0, BODY_JSON, ROUTE_PUBLIC},
    {"POST", "/v1/auth/logout", accounts_logout, 0, BODY_JSON, ROUTE_PUBLIC},
    {"POST", "/v1/auth/switch-tenant", accounts_switch_tenant, SYSTEM, BODY_JSON, 0},
    {"GET", "/v1/me", accounts_me, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/me/password", accounts_change_password, ANY_USER, BODY_JSON, 0},
    {"POST", "/v1/stream-tickets", accounts_stream_ticket, ANY_USER, BODY_JSON, 0},

    /* tenants and sites */
    {"GET", "/v1/tenants", tenants_list, SYSTEM, BODY_NONE, 0},
    {"POST", "/v1/tenants", tenants_create_handler, SYSTEM, BODY_JSON, 0},
    {"GET", "/v1/tenants/{id}", tenants_get, ANY_USER, BODY_NONE, 0},
    {"PATCH", "/v1/tenants/{id}", tenants_update, SYSTEM, BODY_JSON, 0},
    {"DELETE", "/v1/tenants/{id}", tenants_delete, SYSTEM, BODY_NONE, 0},
    {"GET", "/v1/tenants/{id}/settings", settings_get, ADMINS, BODY_NONE, 0},
    {"PATCH", "/v1/tenants/{id}/settings", settings_update, ADMINS, BODY_JSON, 0},
    {"GET", "/v1/sites", sites_list, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/sites", sites_create, ADMINS, BODY_JSON, 0},
    {"GET", "/v1/sites/{id}", sites_get, ANY_USER, BODY_NONE, 0},
    {"PATCH", "/v1/sites/{id}", sites_update, MANAGERS, BODY_JSON, 0},
    {"DELETE", "/v1/sites/{id}", sites_delete, ADMINS, BODY_NONE, 0},

    /* cameras */
    {"GET", "/v1/cameras", cameras_list, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/cameras", cameras_create, MANAGERS, BODY_JSON, 0},
    {"GET", "/v1/cameras/{id}", cameras_get, ANY_USER, BODY_NONE, 0},
    {"PATCH", "/v1/cameras/{id}", cameras_update, MANAGERS, BODY_JSON, 0},
    {"DELETE", "/v1/cameras/{id}", cameras_delete, MANAGERS, BODY_NONE, 0},
    {"PUT", "/v1/cameras/{id}/lease", cameras_lease_set, ADMINS, BODY_JSON, 0},
    {"DELETE", "/v1/cameras/{id}/lease", cameras_lease_release, ADMINS, BODY_NONE, 0},
    {"POST", "/v1/cameras/{id}/commands", cameras_command, MANAGERS, BODY_JSON, 0},

    /* the fleet: workers and their commands */
    {"GET", "/v1/workers", workers_list, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/workers/{id}", workers_get, ANY_USER, BODY_NONE, 0},
    {"DELETE", "/v1/workers/{id}", workers_forget, ADMINS, BODY_NONE, 0},
    {"PUT", "/v1/workers/{id}/maintenance", workers_set_maintenance, ADMINS, BODY_JSON, 0},
    {"GET", "/v1/workers/{id}/commands", workers_list_commands, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/workers/{id}/commands", workers_send_command, ADMINS, BODY_JSON, 0},
    {"GET", "/v1/commands/{id}", commands_get, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/commands/{id}/cancel", commands_cancel, ADMINS, BODY_NONE, 0},

    /* customers and visits */
    {"GET", "/v1/customers", customers_list, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/customers/merge", customers_merge, ADMINS, BODY_JSON, 0},
    {"POST", "/v1/customers/search", customers_search_photo, MANAGERS, BODY_UPLOAD, 0},
    {"GET", "/v1/customers/{id}", customers_get, ANY_USER, BODY_NONE, 0},
    {"PATCH", "/v1/customers/{id}", customers_update, MANAGERS, BODY_JSON, 0},
    {"POST", "/v1/customers/{id}/erase", customers_erase, ADMINS, BODY_NONE, 0},
    {"POST", "/v1/customers/{id}/split", customers_split, MANAGERS, BODY_JSON, 0},
    {"POST", "/v1/customers/{id}/not-same-person", customers_not_same, MANAGERS, BODY_JSON, 0},
    {"GET", "/v1/customers/{id}/similar", customers_similar, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/customers/{id}/faces", customers_faces, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/customers/{id}/export", privacy_export, ADMINS, BODY_NONE, ROUTE_TICKET},
    {"GET", "/v1/visits", visits_list, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/visits/{id}", visits_get, ANY_USER, BODY_NONE, 0},
    {"DELETE", "/v1/visits/{id}", visits_delete, MANAGERS, BODY_NONE, 0},
    {"POST", "/v1/visits/{id}/reassign", visits_reassign, MANAGERS, BODY_JSON, 0},
    {"POST", "/v1/visits/{id}/merge", visits_merge, MANAGERS, BODY_JSON, 0},
    {"GET", "/v1/visits/{id}/picture", visits_picture, ANY_USER, BODY_NONE, ROUTE_TICKET},

    /* staff */
    {"GET", "/v1/staff", staff_list, ANY_USER, BODY_NONE, 0},
    {"POST", "/v1/staff", staff_create, MANAGERS, BODY_JSON, 0},
    {"POST", "/v1/staff/recognize", staff_recognize, MANAGERS, BODY_UPLOAD, 0},
    {"GET", "/v1/staff/{id}", staff_get, ANY_USER, BODY_NONE, 0},
    {"PATCH", "/v1/staff/{id}", staff_update, MANAGERS, BODY_JSON, 0},
    {"DELETE", "/v1/staff/{id}", staff_delete, MANAGERS, BODY_NONE, 0},
    {"POST", "/v1/staff/{id}/faces", staff_add_face, MANAGERS, BODY_UPLOAD, 0},
    {"DELETE", "/v1/staff/{id}/faces/{face_id}", staff_delete_face, MANAGERS, BODY_NONE, 0},
    {"GET", "/v1/staff/{id}/faces/{face_id}/picture", staff_face_picture, ANY_USER, BODY_NONE, 0},

    /* the worker protocol (worker API keys) */
    {"GET", "/v1/worker/staff", staff_for_worker, WORKER, BODY_NONE, 0},
    {"POST", "/v1/worker/events", events_ingest, WORKER, BODY_JSON_LARGE, 0},
    {"POST", "/v1/worker/register", fleet_register, WORKER, BODY_JSON, 0},
    {"POST", "/v1/worker/heartbeat", fleet_heartbeat, WORKER, BODY_JSON, 0},
    {"GET", "/v1/worker/channel", fleet_channel, WORKER, BODY_NONE, ROUTE_WEBSOCKET},
    {"POST", "/v1/worker/commands/{id}", fleet_command_update, WORKER, BODY_JSON, 0},

    /* users and worker keys */
    {"GET", "/v1/users", users_list, ADMINS, BODY_NONE, 0},
    {"POST", "/v1/users", users_create_handler, ADMINS, BODY_JSON, 0},
    {"GET", "/v1/users/{id}", users_get, ADMINS, BODY_NONE, 0},
    {"PATCH", "/v1/users/{id}", users_update, ADMINS, BODY_JSON, 0},
    {"DELETE", "/v1/users/{id}", users_delete, ADMINS, BODY_NONE, 0},
    {"GET", "/v1/api-keys", api_keys_list, ADMINS, BODY_NONE, 0},
    {"POST", "/v1/api-keys", api_keys_create_handler, ADMINS, BODY_JSON, 0},
    {"GET", "/v1/api-keys/{id}", api_keys_get, ADMINS, BODY_NONE, 0},
    {"DELETE", "/v1/api-keys/{id}", api_keys_revoke, ADMINS, BODY_NONE, 0},

    /* privacy: the do-not-track list */
    {"GET", "/v1/do-not-track", privacy_optout_list, ADMINS, BODY_NONE, 0},
    {"POST", "/v1/do-not-track", privacy_optout_enrol, ADMINS, BODY_UPLOAD, 0},
    {"DELETE", "/v1/do-not-track/{id}", privacy_optout_delete, ADMINS, BODY_NONE, 0},

    /* background jobs */
    {"GET", "/v1/jobs", jobs_list, ADMINS, BODY_NONE, 0},
    {"POST", "/v1/jobs/{name}/run", jobs_trigger, SYSTEM, BODY_NONE, 0},
    {"POST", "/v1/admin/clock", jobs_clock, SYSTEM, BODY_JSON, 0},
    /* reports (site-bound callers see their site only) */
    {"GET", "/v1/reports/summary", reports_summary, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/reports/series", reports_series, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/reports/heatmap", reports_heatmap, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/reports/demographics", reports_demographics, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/reports/new-returning", reports_new_returning, ANY_USER, BODY_NONE, 0},
    {"GET", "/v1/reports/sites", reports_sites, ANY_USER, BODY_NONE, 0},
    /* realtime */
    {"GET", "/v1/events", realtime_events, ANY_USER, BODY_NONE, ROUTE_TICKET},
    {"GET", "/v1/ws", realtime_ws, ANY_USER, BODY_NONE, ROUTE_TICKET | ROUTE_WEBSOCKET},
    {"GET", "/v1/cameras/{id}/live.mjpeg", live_mjpeg, ANY_USER, BODY_NONE, ROUTE_TICKET},
    {"GET", "/v1/workers/{id}/logs", live_worker_logs, MANAGERS, BODY_NONE, 0},

    /* audit */
    {"GET", "/v1/audit", audit_list, ADMINS, BODY_NONE, 0},
    {"GET", "/v1/audit/export.csv", audit_export_csv, ADMINS, BODY_NONE, ROUTE_TICKET},
};

const int http_route_count = sizeof http_routes / sizeof http_routes[0];
