-- 0002 cameras: the video sources of a site. The full source URL (it may
-- carry credentials) is stored sealed with the server's vault key; the masked
-- form is what the API shows. Keep in step with postgres/0002_cameras.sql.

CREATE TABLE cameras (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
  site_id INTEGER NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
  name TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('rtsp', 'mjpeg', 'file', 'v4l2')),
  source_sealed TEXT NOT NULL,
  source_masked TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  processing INTEGER NOT NULL DEFAULT 1 CHECK (processing IN (0, 1)),
  sample_fps REAL NOT NULL DEFAULT 5 CHECK (sample_fps > 0 AND sample_fps <= 30),
  entrance INTEGER NOT NULL DEFAULT 1 CHECK (entrance IN (0, 1)),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (site_id, name)
);
CREATE INDEX cameras_tenant ON cameras (tenant_id, id);
