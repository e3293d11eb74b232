/* reports.h — GET /v1/reports/...: figures per tenant and site in each
 * site's local time, as JSON or streamed CSV (docs/REPORTS.md).
 *
 * Every report takes the same range and scope: from/to as local dates
 * (YYYY-MM-DD, both inclusive, each site its own local days) or as RFC 3339
 * instants ([from, to), the same instants for every site); site_id as a
 * comma-separated list (tenant-wide callers) — a site-bound caller always
 * gets their own site. Whole local days are read from the rollups
 * (rollups.h); the partial days at the edges of an RFC 3339 range from the
 * raw visits.
 */
#ifndef FOOTFALL_REPORTS_H
#define FOOTFALL_REPORTS_H

#include "http.h"

#define REPORTS_MAX_DAYS 732     /* two years and change */
#define REPORTS_MAX_HOUR_DAYS 31 /* hourly series */
#define REPORTS_MAX_SITES 100

void reports_summary(struct request *rq);
void reports_series(struct request *rq);
void reports_heatmap(struct request *rq);
void reports_demographics(struct request *rq);
void reports_new_returning(struct request *rq);
void reports_sites(struct request *rq);

#endif
