/* customers.h — anonymous customer profiles and their visits, as read by
 * the dashboard; and the tenant's recognition settings. */
#ifndef FOOTFALL_CUSTOMERS_H
#define FOOTFALL_CUSTOMERS_H

#include "http.h"

void customers_list(struct request *rq);
void customers_get(struct request *rq);
void visits_list(struct request *rq);
void visits_get(struct request *rq);
void customers_update(struct request *rq);
void customers_merge(struct request *rq);
void customers_erase(struct request *rq);
void customers_search_photo(struct request *rq);
void customers_not_same(struct request *rq);
void customers_split(struct request *rq);
void customers_similar(struct request *rq);
void customers_faces(struct request *rq);
void visits_picture(struct request *rq);
void visits_delete(struct request *rq);
void visits_reassign(struct request *rq);
void visits_merge(struct request *rq);
void settings_get(struct request *rq);
void settings_update(struct request *rq);

#endif
