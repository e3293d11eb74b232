/* accounts.h — sessions and the caller's own account: login, refresh
 * (rotating, with reuse detection), logout, /v1/me, password change, a
 * system admin switching into a tenant, and stream tickets. */
#ifndef FOOTFALL_ACCOUNTS_H
#define FOOTFALL_ACCOUNTS_H

#include "http.h"

void accounts_login(struct request *rq);
void accounts_refresh(struct request *rq);
void accounts_logout(struct request *rq);
void accounts_me(struct request *rq);
void accounts_change_password(struct request *rq);
void accounts_switch_tenant(struct request *rq);
void accounts_stream_ticket(struct request *rq);

#endif
