/* recognizer.h — what the server needs to turn face events into customers,
 * staff passes and visits: per-tenant settings, the in-memory vector
 * indexes (customers' exemplars and staff faces, one of each per tenant,
 * rebuilt from the database at start-up and kept current on every change),
 * the picture store and the time zones of sites.
 *
 * Descriptors are 128 float32, stored as 512 little-endian bytes with the
 * model tag RECOGNITION_MODEL, so a future model can migrate the gallery.
 */
#ifndef FOOTFALL_RECOGNIZER_H
#define FOOTFALL_RECOGNIZER_H

#include <stdint.h>

#include "status.h"

struct server;
struct db_conn;
struct vindex;
struct tz;

#define RECOGNITION_MODEL "face-api-1.7.15"
#define DESCRIPTOR_DIM 128
#define DESCRIPTOR_BYTES (DESCRIPTOR_DIM * 4)
/* A face closer than the tenant's match_threshold plus this to a
 * do-not-track face is that person: the list errs on the side of dropping. */
#define OPTOUT_MARGIN 0.05

struct recognizer_settings {
  double match_threshold;      /* nearest customer must be closer than this */
  double match_margin;         /* ... and closer than the runner-up by this much */
  double staff_threshold;      /* a staff face closer than this is that staff member */
  int64_t visit_gap_ms;        /* same customer, same site, within the gap: one visit */
  int gallery_size;            /* exemplars kept per customer */
  int min_face_px;             /* quality gate: smaller faces are rejected */
  double min_score;            /* quality gate: detector score */
  double min_quality;          /* quality gate: the worker's 0..1 quality */
  int retention_days;          /* face pictures are deleted after this */
  int returning_lookback_days; /* reports: a visitor seen this far back is "returning" */
};

int recognizer_init(struct server *s, struct ff_error *err);
void recognizer_free(struct server *s);

/* The tenant's settings (defaults when the tenant never changed them). */
int recognizer_settings_load(struct db_conn *c, int64_t tenant_id, struct recognizer_settings *out,
                             struct ff_error *err);

/* The tenant's customer-exemplar and staff-face indexes (created empty on
 * first use). */
int recognizer_customers(struct server *s, int64_t tenant_id, struct vindex **out,
                         struct ff_error *err);
int recognizer_staff(struct server *s, int64_t tenant_id, struct vindex **out,
                     struct ff_error *err);
/* The tenant's do-not-track faces (labels are the entries' ids). */
int recognizer_optout(struct server *s, int64_t tenant_id, struct vindex **out,
                      struct ff_error *err);
/* Rebuilds one tenant's indexes from the database (after a rolled-back
 * batch, or a merge, split or erase). */
int recognizer_reload_tenant(struct server *s, struct db_conn *c, int64_t tenant_id,
                             struct ff_error *err);

/* --- several servers (PostgreSQL) ---------------------------------------------------
 * Every instance keeps its own in-memory indexes, so a change committed on
 * one must reach the others: after the commit, the changing code calls
 * recognizer_changed() with what changed, which sends the ids over NOTIFY
 * (channel "index"; nothing on SQLite, which serves one instance); each
 * other instance reloads those entries from the database
 * (recognizer_apply_remote, on the hub's listener thread). Kinds:
 *   RECOGNIZER_CUSTOMERS  ids are customers: their exemplars are reloaded
 *                         (none when erased)
 *   RECOGNIZER_STAFF      ids are staff members: their faces (none when inactive)
 *   RECOGNIZER_OPTOUT     ids are do-not-track entries
 *   RECOGNIZER_TENANT     no ids: the tenant's three indexes are rebuilt
 * After the listener reconnects (notifications may have been missed) every
 * tenant is rebuilt (recognizer_resync). */
enum recognizer_change {
  RECOGNIZER_CUSTOMERS = 'c',
  RECOGNIZER_STAFF = 's',
  RECOGNIZER_OPTOUT = 'o',
  RECOGNIZER_TENANT = 't',
};
void recognizer_changed(struct server *s, enum recognizer_change kind, int64_t tenant_id,
                        const int64_t *ids, int count);
void recognizer_apply_remote(struct server *s, const char *payload);
void recognizer_resync(struct server *s);

/* Recomputes a customer's figures from their visits: visit count, first
 * and last seen, gender (a vote weighted by each visit's probability) and
 * age (the median), after any change to their visits. */
int recognizer_refresh_customer(struct db_conn *c, int64_t customer, int64_t now_ms,
                                struct ff_error *err);

/* A loaded time zone by IANA name, cached for the life of the process. */
const struct tz *recognizer_zone(struct server *s, const char *name, struct ff_error *err);

/* Descriptor <-> stored bytes. */
void descriptor_pack(const float in[DESCRIPTOR_DIM], unsigned char out[DESCRIPTOR_BYTES]);
int descriptor_unpack(const void *in, size_t len, float out[DESCRIPTOR_DIM]);

#endif
