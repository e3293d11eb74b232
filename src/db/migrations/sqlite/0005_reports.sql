-- 0005 reports: rollups per site and local hour, the visitors of each site
-- and local day (unique visitors are not additive across hours or sites, so
-- they are counted exactly from this table), and the look-back that decides
-- "returning". Maintained in the transaction that changes a visit
-- (src/server/rollups.c). Keep in step with postgres/0005.
ALTER TABLE tenant_settings ADD COLUMN returning_lookback_days INTEGER NOT NULL DEFAULT 365;

CREATE TABLE report_hours (
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  hour_start INTEGER NOT NULL,
  local_day INTEGER NOT NULL,
  local_hour INTEGER NOT NULL,
  weekday INTEGER NOT NULL,
  visits INTEGER NOT NULL DEFAULT 0,
  anonymous_visits INTEGER NOT NULL DEFAULT 0,
  staff_passes INTEGER NOT NULL DEFAULT 0,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  male INTEGER NOT NULL DEFAULT 0,
  female INTEGER NOT NULL DEFAULT 0,
  gender_unknown INTEGER NOT NULL DEFAULT 0,
  age_0_17 INTEGER NOT NULL DEFAULT 0,
  age_18_24 INTEGER NOT NULL DEFAULT 0,
  age_25_34 INTEGER NOT NULL DEFAULT 0,
  age_35_44 INTEGER NOT NULL DEFAULT 0,
  age_45_54 INTEGER NOT NULL DEFAULT 0,
  age_55_64 INTEGER NOT NULL DEFAULT 0,
  age_65_plus INTEGER NOT NULL DEFAULT 0,
  age_unknown INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (site_id, hour_start)
) WITHOUT ROWID;
CREATE INDEX report_hours_day ON report_hours (site_id, local_day);

CREATE TABLE report_visitors (
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  local_day INTEGER NOT NULL,
  local_month INTEGER NOT NULL,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  PRIMARY KEY (site_id, local_day, customer_id)
) WITHOUT ROWID;
CREATE INDEX report_visitors_customer ON report_visitors (customer_id);

-- "Returning" looks for any earlier visit of the customer: by customer, then time.
CREATE INDEX visits_customer_time ON visits (customer_id, first_seen_at);
