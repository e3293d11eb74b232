-- 0009 report gaps: what lets unique, new and returning visitors be summed
-- over days instead of counted as unions of visitor sets (docs/REPORTS.md,
-- src/server/rollups.h). Keep in step with sqlite/0009.
--
-- A visit's local hour key (local day * 24 + local hour in its site's zone)
-- orders each customer's visits; NULL until the rollups have seen the visit
-- (rows inserted straight get theirs from the rollup check's repair).
ALTER TABLE visits ADD COLUMN hour_key BIGINT;
-- A customer's previous visit (to the tenant, or to one site) in one probe.
CREATE INDEX visits_customer_order ON visits (customer_id, hour_key, first_seen_at, id, site_id);

-- Visits that are their customer's first of the local hour, at any site of
-- the tenant and at their own site: summed over a local hour's rows, its
-- unique visitors.
ALTER TABLE report_hours ADD COLUMN hour_firsts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_hours ADD COLUMN hour_site_firsts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_days ADD COLUMN hour_firsts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE report_days ADD COLUMN hour_site_firsts BIGINT NOT NULL DEFAULT 0;

-- Per site and local day, the gaps in days from each visit back to its
-- customer's previous visit to the tenant (gaps) and to the site
-- (site_gaps), as histograms (rollup_gaps_encode). No row: no visit with a
-- customer that day.
CREATE TABLE report_day_gaps (
  site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  local_day BIGINT NOT NULL,
  gaps BYTEA NOT NULL,
  site_gaps BYTEA NOT NULL,
  PRIMARY KEY (site_id, local_day)
);

-- The day's visitors now carry each visitor's gap (rollup_visitors_encode)
-- and its durations are varint deltas (rollup_ids_encode of the sorted
-- seconds, a quarter of the old size): the old lists go, and the rollup
-- check's repair rebuilds them
-- (`footfall admin rollups-check --repair yes` over the history).
DELETE FROM report_day_sets;
