-- 0007 fleet: the workers of each site (registry), which worker runs which
-- camera (leases) and the commands sent to workers. Everything the server
-- knows about the fleet is here, so a restart loses nothing. Keep in step
-- with postgres/0007_fleet.sql; docs/PROTOCOL.md describes the messages.

CREATE TABLE workers (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uuid TEXT NOT NULL UNIQUE,              -- the worker's own id (STATE_DIR/worker-id)
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  site_id INTEGER REFERENCES sites (id) ON DELETE SET NULL, -- from the API key
  key_id INTEGER,                         -- the API key it last used
  name TEXT NOT NULL,
  version TEXT,
  reported_status TEXT NOT NULL,          -- idle, processing, online, error, maintenance, offline
  derived_status TEXT NOT NULL,           -- last status the sweeper saw (for change events)
  maintenance INTEGER NOT NULL DEFAULT 0 CHECK (maintenance IN (0, 1)),
  heartbeat_interval_ms INTEGER NOT NULL,
  capacity INTEGER NOT NULL DEFAULT 0,    -- cameras it offers to run
  capabilities TEXT NOT NULL DEFAULT '{}',
  cameras TEXT NOT NULL DEFAULT '[]',     -- per-camera state and figures, last heartbeat
  local_cameras TEXT NOT NULL DEFAULT '[]', -- camera ids given on its command line
  endpoint_url TEXT,
  last_error TEXT,
  channel_connected INTEGER NOT NULL DEFAULT 0,
  registered_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX workers_tenant ON workers (tenant_id, id);
CREATE INDEX workers_site ON workers (site_id, id);

-- One row per camera once it has been placed; worker_id NULL = not leased.
-- generation grows with every change, so a worker can tell a stale
-- assignment from a current one.
CREATE TABLE camera_leases (
  camera_id INTEGER PRIMARY KEY REFERENCES cameras (id) ON DELETE CASCADE,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  worker_id INTEGER REFERENCES workers (id) ON DELETE SET NULL,
  generation INTEGER NOT NULL,
  manual INTEGER NOT NULL DEFAULT 0 CHECK (manual IN (0, 1)),
  expires_at INTEGER NOT NULL,
  assigned_at INTEGER NOT NULL,
  state TEXT,                             -- as the holder reported it
  reason TEXT,                            -- e.g. a device conflict
  state_at INTEGER
);
CREATE INDEX camera_leases_worker ON camera_leases (worker_id);

CREATE TABLE worker_commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  worker_id INTEGER NOT NULL REFERENCES workers (id) ON DELETE CASCADE,
  type TEXT NOT NULL CHECK (type IN ('assign_camera', 'release_camera', 'start_processing',
    'stop_processing', 'start_streaming', 'stop_streaming', 'status_report', 'refresh_staff',
    'restart', 'shutdown')),
  params TEXT NOT NULL,
  priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3), -- low, normal, high, urgent
  status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'acknowledged', 'completed',
    'failed', 'expired', 'cancelled')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  result TEXT,
  error TEXT,
  created_by INTEGER,
  created_at INTEGER NOT NULL,
  sent_at INTEGER,
  acknowledged_at INTEGER,
  finished_at INTEGER,
  expires_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX worker_commands_worker ON worker_commands (worker_id, status, id);
CREATE INDEX worker_commands_open ON worker_commands (status, expires_at);
