/* audit.h — the audit log: who did what to which target, when.
 *
 * audit_record() is called inside the transaction of the change it
 * describes, so a change and its record commit or roll back together.
 */
#ifndef FOOTFALL_AUDIT_H
#define FOOTFALL_AUDIT_H

#include <stdint.h>

#include "http.h"

struct db_conn;

int audit_record(struct db_conn *c, struct request *rq, int64_t tenant_id, const char *action,
                 const char *target_type, int64_t target_id, const char *summary);

void audit_list(struct request *rq);
void audit_export_csv(struct request *rq);

#endif
