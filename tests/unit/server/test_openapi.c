/* The OpenAPI document and the route table describe the same API: every
 * route is documented, every documented operation exists. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "http.h"

Test(openapi, document_matches_the_route_table) {
  json_error_t jerr;
  json_t *doc = json_load_file(FOOTFALL_OPENAPI_PATH, 0, &jerr);
  cr_assert_not_null(doc, "openapi.json does not parse: %s (line %d)", jerr.text, jerr.line);
  cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
  json_t *paths = json_object_get(doc, "paths");
  cr_assert(json_is_object(paths));

  int documented = 0;
  for (int i = 0; i < http_route_count; i++) {
    const struct route *r = &http_routes[i];
    if (r->flags & ROUTE_HIDDEN)
      continue;
    json_t *item = json_object_get(paths, r->pattern);
    cr_expect_not_null(item, "route %s %s is missing from openapi.json", r->method, r->pattern);
    char method[16];
    size_t n = strlen(r->method);
    for (size_t k = 0; k <= n; k++)
      method[k] =
          (char)(r->method[k] >= 'A' && r->method[k] <= 'Z' ? r->method[k] + 32 : r->method[k]);
    cr_expect_not_null(json_object_get(item, method), "%s %s is not documented", r->method,
                       r->pattern);
    documented++;
  }
  cr_assert_gt(documented, 20);

  const char *path;
  json_t *item;
  json_object_foreach(paths, path, item) {
    const char *method;
    json_t *op;
    json_object_foreach(item, method, op) {
      if (!strcmp(method, "parameters"))
        continue;
      int found = 0;
      for (int i = 0; i < http_route_count && !found; i++)
        found = !strcmp(http_routes[i].pattern, path) && !strcasecmp(http_routes[i].method, method);
      cr_expect(found, "openapi.json lists %s %s, which the server does not have", method, path);
      cr_expect_not_null(json_object_get(op, "responses"), "%s %s has no responses", method, path);
    }
  }
  json_decref(doc);
}

Test(openapi, routes_are_unique) {
  for (int i = 0; i < http_route_count; i++)
    for (int j = i + 1; j < http_route_count; j++)
      cr_expect(strcmp(http_routes[i].method, http_routes[j].method) ||
                    strcmp(http_routes[i].pattern, http_routes[j].pattern),
                "duplicate route %s %s", http_routes[i].method, http_routes[i].pattern);
}

/* x-roles of each operation names exactly the roles the route table lets in,
 * so clients (the dashboard's role guards) can rely on the document. */
Test(openapi, x_roles_match_the_route_table) {
  json_error_t jerr;
  json_t *doc = json_load_file(FOOTFALL_OPENAPI_PATH, 0, &jerr);
  cr_assert_not_null(doc);
  json_t *paths = json_object_get(doc, "paths");
  for (int i = 0; i < http_route_count; i++) {
    const struct route *r = &http_routes[i];
    if (r->flags & ROUTE_HIDDEN)
      continue;
    char method[16];
    size_t n = strlen(r->method);
    for (size_t k = 0; k <= n; k++)
      method[k] =
          (char)(r->method[k] >= 'A' && r->method[k] <= 'Z' ? r->method[k] + 32 : r->method[k]);
    json_t *roles = json_object_get(json_object_get(json_object_get(paths, r->pattern), method),
                                    "x-roles");
    cr_expect(json_is_array(roles), "%s %s has no x-roles", r->method, r->pattern);
    unsigned listed = 0;
    size_t k;
    json_t *v;
    json_array_foreach(roles, k, v) {
      const char *name = json_string_value(v);
      enum role role = ROLE_NONE;
      for (int x = ROLE_WORKER; x < ROLE_COUNT; x++)
        if (name && !strcmp(name, role_name((enum role)x)))
          role = (enum role)x;
      cr_expect_neq(role, ROLE_NONE, "%s %s: x-roles names '%s'", r->method, r->pattern,
                    name ? name : "?");
      listed |= ROLE_BIT(role);
    }
    cr_expect_eq(listed & ~ROLE_BIT(ROLE_NONE), r->roles,
                 "%s %s: x-roles differ from the route table", r->method, r->pattern);
  }
  json_decref(doc);
}
