/* admin.c — `footfall admin ...`: bootstrap tasks run against the database
 * directly (create a tenant, a user, a worker API key). Each prints what it
 * created as one JSON line, for scripts. */
#include "admin.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_keys.h"
#include "audit.h"
#include "db.h"
#include "rollups.h"
#include "server.h"
#include "tenants.h"
#include "tz.h"
#include "users.h"

#define MAX_ARGS 64

struct command_args {
  const char *names[8];
  const char *values[8];
  int count;
};

static const char *arg(const struct command_args *a, const char *name) {
  for (int i = 0; i < a->count; i++)
    if (!strcmp(a->names[i], name))
      return a->values[i];
  return NULL;
}

static int64_t arg_int(const struct command_args *a, const char *name) {
  const char *v = arg(a, name);
  return v ? strtoll(v, NULL, 10) : 0;
}

/* Moves the command's own --flags out of argv; the rest are settings. */
static int split_args(int argc, char **argv, const char *const *own, struct command_args *a,
                      int *rest_argc, char **rest) {
  *rest_argc = 0;
  rest[(*rest_argc)++] = argv[0];
  for (int i = 1; i < argc && *rest_argc < MAX_ARGS - 1; i++) {
    const char *name = argv[i] + 2, *eq = strchr(argv[i], '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int mine = 0;
    for (const char *const *o = own; *o && !mine && !strncmp(argv[i], "--", 2); o++)
      if (strlen(*o) == len && !strncmp(*o, name, len)) {
        mine = 1;
        if (a->count == 8)
          return -1;
        a->names[a->count] = *o;
        if (eq) {
          a->values[a->count] = eq + 1;
        } else if (i + 1 < argc) {
          a->values[a->count] = argv[++i];
        } else {
          fprintf(stderr, "footfall admin: --%s needs a value\n", *o);
          return -1;
        }
        a->count++;
      }
    if (!mine)
      rest[(*rest_argc)++] = argv[i];
  }
  rest[*rest_argc] = NULL;
  return 0;
}

static int usage(FILE *out) {
  fprintf(out,
          "usage: footfall admin <task> [options] [settings]\n\n"
          "tasks:\n"
          "  create-tenant  --name NAME [--retention-days N]\n"
          "  create-user    --username U --password P --role ROLE [--tenant-id T] [--site-id S]\n"
          "                 [--display-name NAME]   (ROLE: system_admin, tenant_admin,\n"
          "                 site_manager, viewer)\n"
          "  create-site    --tenant-id T --name NAME --timezone ZONE\n"
          "  create-api-key --tenant-id T --name NAME [--site-id S]\n"
          "  rollups-check  [--tenant-id T] --from TIME --to TIME [--repair yes]\n"
          "                 (TIME: RFC 3339; compares the report rollups with the raw\n"
          "                 visits of every local day overlapping the range)\n\n"
          "settings: the database options of `footfall server --help` (--data-dir, "
          "--database-url, --config).\n");
  return out == stdout ? 0 : 2;
}

static int run(struct server *s, const char *task, const struct command_args *a,
               struct ff_error *err) {
  struct db_conn *c = db_acquire(s->db, 10000);
  if (!c)
    return ff_fail(err, FF_EBUSY, "the database is busy");
  int rc = db_begin(c, DB_TX_WRITE, err);
  int64_t id = 0;
  json_t *out = NULL;
  char secret[128] = "";
  if (rc) {
  } else if (!strcmp(task, "create-tenant")) {
    int days = arg(a, "retention-days") ? (int)arg_int(a, "retention-days") : 30;
    const char *name = arg(a, "name");
    rc = name ? tenants_create(s, c, name, days, &id, err)
              : ff_fail(err, FF_EINVAL, "--name is required");
    if (!rc)
      out = json_pack("{s:I,s:s,s:i}", "tenant_id", (json_int_t)id, "name", name, "retention_days",
                      days);
  } else if (!strcmp(task, "create-user")) {
    struct user_spec spec = {.username = arg(a, "username"),
                             .password = arg(a, "password"),
                             .display_name = arg(a, "display-name"),
                             .role = role_parse(arg(a, "role")),
                             .tenant_id = arg_int(a, "tenant-id"),
                             .site_id = arg_int(a, "site-id")};
    rc = users_create(s, c, &spec, &id, err);
    if (!rc)
      out = json_pack("{s:I,s:s,s:s}", "user_id", (json_int_t)id, "username", spec.username, "role",
                      role_name(spec.role));
  } else if (!strcmp(task, "create-site")) {
    const char *name = arg(a, "name"), *tz = arg(a, "timezone");
    int64_t tenant = arg_int(a, "tenant-id");
    struct db_rows *rows = NULL;
    if (!name || !tz || !tenant)
      rc = ff_fail(err, FF_EINVAL, "--tenant-id, --name and --timezone are required");
    else if (!timezone_valid(tz))
      rc = ff_fail(err, FF_EINVAL, "'%s' is not an IANA time zone known to this system", tz);
    else
      rc = db_query(c,
                    "INSERT INTO sites (tenant_id, name, timezone, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $4) RETURNING id",
                    DB_ARGS(db_int(tenant), db_text(name), db_text(tz), db_int(server_now_ms(s))),
                    &rows, err);
    if (!rc)
      id = db_rows_int(rows, 0, 0);
    db_rows_free(rows);
    if (!rc)
      out = json_pack("{s:I,s:I,s:s,s:s}", "site_id", (json_int_t)id, "tenant_id",
                      (json_int_t)tenant, "name", name, "timezone", tz);
  } else if (!strcmp(task, "create-api-key")) {
    int64_t tenant = arg_int(a, "tenant-id");
    rc = tenant ? api_keys_create(s, c, tenant, arg_int(a, "site-id"), arg(a, "name"), 0, 0, &id,
                                  secret, sizeof secret, err)
                : ff_fail(err, FF_EINVAL, "--tenant-id is required");
    if (!rc)
      out = json_pack("{s:I,s:I,s:s}", "api_key_id", (json_int_t)id, "tenant_id",
                      (json_int_t)tenant, "secret", secret);
  } else {
    rc = ff_fail(err, FF_EINVAL, "unknown task '%s'", task);
  }
  if (!rc) {
    char summary[160];
    snprintf(summary, sizeof summary, "footfall admin %s", task);
    rc = audit_record(c, NULL, 0, task, "cli", id, summary);
  }
  if (!rc)
    rc = db_commit(c, err);
  else
    db_rollback(c);
  db_release(c);
  sodium_memzero(secret, sizeof secret);
  if (!rc) {
    char *text = json_dumps(out, JSON_COMPACT);
    printf("%s\n", text ? text : "{}");
    free(text);
  }
  json_decref(out);
  return rc;
}

/* Compares (and with --repair yes, repairs) the report rollups. */
static int rollups_check(struct server *s, const struct command_args *a, struct ff_error *err) {
  int64_t from, to;
  const char *f = arg(a, "from"), *t = arg(a, "to"), *repair = arg(a, "repair");
  if (!f || !t || tz_parse_rfc3339(f, &from) || tz_parse_rfc3339(t, &to))
    return ff_fail(err, FF_EINVAL, "--from and --to are RFC 3339 times");
  struct rollup_check out;
  int rc = reports_rollups_check(s, arg_int(a, "tenant-id"), from, to,
                                 repair && !strcmp(repair, "yes"), &out, err);
  if (!rc)
    printf("{\"sites\":%lld,\"days\":%lld,\"hours_differing\":%lld,"
           "\"visitors_differing\":%lld,\"keys_differing\":%lld,\"days_differing\":%lld,"
           "\"days_repaired\":%lld}\n",
           (long long)out.sites, (long long)out.days, (long long)out.hours_differing,
           (long long)out.visitors_differing, (long long)out.keys_differing,
           (long long)out.days_differing, (long long)out.days_repaired);
  return rc;
}

int admin_main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
    return usage(argc < 2 ? stderr : stdout);
  static const char *const own[] = {
      "name",         "retention-days", "username", "password", "role",   "tenant-id", "site-id",
      "display-name", "timezone",       "from",     "to",       "repair", NULL};
  struct command_args a = {0};
  char *rest[MAX_ARGS];
  int rest_argc;
  if (split_args(argc - 1, argv + 1, own, &a, &rest_argc, rest))
    return 2;
  static struct server s;
  struct ff_error err = {0};
  int want_help = 0;
  int rc = config_load(&s.cfg, CONFIG_ADMIN, rest_argc, rest, &want_help, &err);
  if (!rc && want_help) {
    config_free(&s.cfg);
    return usage(stdout);
  }
  if (!rc)
    rc = server_init(&s, &err);
  if (!rc)
    rc =
        strcmp(argv[1], "rollups-check") ? run(&s, argv[1], &a, &err) : rollups_check(&s, &a, &err);
  server_free(&s);
  if (rc) {
    fprintf(stderr, "footfall admin %s: %s\n", argv[1], err.message);
    return 1;
  }
  return 0;
}
