-- 0003 recognition: staff and their faces, anonymous customers with a
-- bounded exemplar gallery, visits, staff passes, the event ledger, and the
-- per-tenant recognition settings. Keep in step with postgres/0003.

ALTER TABLE sites ADD COLUMN staff_version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE tenant_settings (
  tenant_id INTEGER PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  match_threshold REAL NOT NULL DEFAULT 0.55,
  match_margin REAL NOT NULL DEFAULT 0.04,
  staff_threshold REAL NOT NULL DEFAULT 0.5,
  visit_gap_s INTEGER NOT NULL DEFAULT 1800,
  gallery_size INTEGER NOT NULL DEFAULT 10,
  min_face_px INTEGER NOT NULL DEFAULT 40,
  min_score REAL NOT NULL DEFAULT 0.5,
  min_quality REAL NOT NULL DEFAULT 0.15,
  updated_at INTEGER NOT NULL
);

CREATE TABLE staff (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  home_site_id INTEGER REFERENCES sites (id) ON DELETE SET NULL,
  name TEXT NOT NULL,
  birth_year INTEGER,
  phone TEXT,
  email TEXT,
  gender TEXT CHECK (gender IN ('male', 'female')),
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX staff_tenant ON staff (tenant_id, id);

CREATE TABLE staff_faces (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  staff_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
  descriptor BLOB NOT NULL,
  model TEXT NOT NULL,
  quality REAL NOT NULL,
  picture_key TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX staff_faces_staff ON staff_faces (staff_id);
CREATE INDEX staff_faces_tenant ON staff_faces (tenant_id, id);

CREATE TABLE customers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  name TEXT,
  phone TEXT,
  email TEXT,
  notes TEXT,
  gender_manual TEXT CHECK (gender_manual IN ('male', 'female')),
  age_manual INTEGER,
  gender TEXT,
  gender_confidence REAL,
  age REAL,
  first_seen_at INTEGER,
  last_seen_at INTEGER,
  visit_count INTEGER NOT NULL DEFAULT 0,
  erased_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX customers_tenant ON customers (tenant_id, id);

CREATE TABLE customer_faces (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  descriptor BLOB NOT NULL,
  model TEXT NOT NULL,
  quality REAL NOT NULL,
  event_id TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX customer_faces_customer ON customer_faces (customer_id);
CREATE INDEX customer_faces_tenant ON customer_faces (tenant_id, id);

CREATE TABLE visits (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
  customer_id INTEGER REFERENCES customers (id) ON DELETE SET NULL,
  camera_id INTEGER,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  local_day TEXT NOT NULL,
  detections INTEGER NOT NULL DEFAULT 1,
  is_new INTEGER NOT NULL CHECK (is_new IN (0, 1)),
  age REAL,
  gender TEXT,
  gender_probability REAL,
  best_quality REAL NOT NULL,
  best_event_id TEXT,
  picture_key TEXT,
  picture_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX visits_customer_site ON visits (customer_id, site_id, last_seen_at);
CREATE INDEX visits_tenant_time ON visits (tenant_id, first_seen_at);
CREATE INDEX visits_site_time ON visits (site_id, first_seen_at);
CREATE INDEX visits_picture_expiry ON visits (picture_expires_at) WHERE picture_key IS NOT NULL;

CREATE TABLE staff_passes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
  staff_id INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
  camera_id INTEGER,
  seen_at INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX staff_passes_site_time ON staff_passes (site_id, seen_at);

-- The event ledger: one row per event id a worker sent, with the answer it
-- got, so a replay answers the same and changes nothing.
CREATE TABLE face_events (
  tenant_id INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  site_id INTEGER,
  camera_id INTEGER,
  captured_at INTEGER,
  received_at INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT,
  customer_id INTEGER,
  visit_id INTEGER,
  staff_id INTEGER,
  PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX face_events_received ON face_events (received_at);
