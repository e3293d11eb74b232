/* retention.h — picture retention shared by the retention job (retention.c),
 * tenant settings and customer erasure.
 *
 * A picture leaves in three steps: its reference is cleared and its key
 * queued (retention_queue) in the caller's transaction; after the commit the
 * object is deleted and the queue row removed (retention_delete_now); what
 * fails stays queued and the retention job retries it.
 */
#ifndef FOOTFALL_RETENTION_H
#define FOOTFALL_RETENTION_H

#include <stdint.h>

#include "status.h"

struct db_conn;
struct server;

/* Queues a picture for deletion (inside the caller's write transaction). */
int retention_queue(struct db_conn *c, int64_t tenant, const char *key, const char *reason,
                    int64_t now, struct ff_error *err);
/* After the commit: deletes the object and its queue row. */
int retention_delete_now(struct server *s, struct db_conn *c, const char *key,
                         struct ff_error *err);
/* A tenant's retention changes to new_days: every kept picture's expiry
 * moves by the difference (call before updating tenants.retention_days, in
 * the same transaction). */
int retention_reschedule(struct db_conn *c, int64_t tenant, int new_days, struct ff_error *err);

#endif
