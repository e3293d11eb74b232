-- 0005 reports: rollups per site and local hour, the visitors of each site
-- and local day (unique visitors are not additive across hours or sites, so
-- they are counted exactly from this table), and the look-back that decides
-- "returning". Maintained in the transaction that changes a visit
-- (src/server/rollups.c). Keep in step with sqlite/0005.
ALTER TABLE tenant_settings ADD COLUMN returning_lookback_days BIGINT NOT NULL DEFAULT 365;

CREATE TABLE report_hours (
  tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  hour_start BIGINT NOT NULL,
  local_day BIGINT NOT NULL,
  local_hour BIGINT NOT NULL,
  weekday BIGINT NOT NULL,
  visits BIGINT NOT NULL DEFAULT 0,
  anonymous_visits BIGINT NOT NULL DEFAULT 0,
  staff_passes BIGINT NOT NULL DEFAULT 0,
  duration_ms BIGINT NOT NULL DEFAULT 0,
  male BIGINT NOT NULL DEFAULT 0,
  female BIGINT NOT NULL DEFAULT 0,
  gender_unknown BIGINT NOT NULL DEFAULT 0,
  age_0_17 BIGINT NOT NULL DEFAULT 0,
  age_18_24 BIGINT NOT NULL DEFAULT 0,
  age_25_34 BIGINT NOT NULL DEFAULT 0,
  age_35_44 BIGINT NOT NULL DEFAULT 0,
  age_45_54 BIGINT NOT NULL DEFAULT 0,
  age_55_64 BIGINT NOT NULL DEFAULT 0,
  age_65_plus BIGINT NOT NULL DEFAULT 0,
  age_unknown BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (site_id, hour_start)
);
CREATE INDEX report_hours_day ON report_hours (site_id, local_day);

CREATE TABLE report_visitors (
  tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  local_day BIGINT NOT NULL,
  local_month BIGINT NOT NULL,
  customer_id BIGINT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  PRIMARY KEY (site_id, local_day, customer_id)
);
CREATE INDEX report_visitors_customer ON report_visitors (customer_id);

-- "Returning" looks for any earlier visit of the customer: by customer, then time.
CREATE INDEX visits_customer_time ON visits (customer_id, first_seen_at);
