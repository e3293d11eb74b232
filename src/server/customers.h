/* customers.h — anonymous customer profiles and their visits, as read by
 * the dashboard; and the tenant's recognition settings. */
#ifndef FOOTFALL_CUSTOMERS_H
#define FOOTFALL_CUSTOMERS_H

#include "http.h"

void customers_list(struct request *rq);
void customers_get(struct request *rq);
void visits_list(struct request *rq);
void visits_get(struct request *rq);
void settings_get(struct request *rq);
void settings_update(struct request *rq);

#endif
