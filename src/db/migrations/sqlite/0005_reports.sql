-- 0005 reports: rollups per site and local hour and per site and local day
-- (with the day's visitors and visit durations), and the look-back that
-- decides "returning". Maintained in the transaction that changes a visit
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
  PRIMARY KEY (site_id, local_day, hour_start)
) WITHOUT ROWID;

-- The same counters per site and local day: what long ranges read, kept
-- small (many rows to a page) by holding the lists apart, below.
CREATE TABLE report_days (
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  local_day INTEGER NOT NULL,
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
  PRIMARY KEY (site_id, local_day)
) WITHOUT ROWID;

-- The lists of a site and local day: its visit durations in whole seconds,
-- sorted (little-endian uint32 each), from which medians are exact; and its
-- visitors, the distinct customer ids, sorted, each the LEB128 varint of its
-- difference to the previous one. Unique visitors are not additive across
-- hours, days or sites, so reports count them exactly as unions of these sets.
-- No row: both lists are empty.
CREATE TABLE report_day_sets (
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
  local_day INTEGER NOT NULL,
  durations BLOB NOT NULL,
  visitors BLOB NOT NULL,
  PRIMARY KEY (site_id, local_day)
) WITHOUT ROWID;
