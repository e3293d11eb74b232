-- 0006 background jobs and privacy: the scheduler's leader lease, job
-- claims and run records, the queue of picture deletions (retention and
-- erasure: the reference is cleared first, the object deleted after, the
-- queue row removed last), the last staff list workers were signalled, and
-- the do-not-track list. Keep in step with postgres/0006.

CREATE TABLE scheduler_lease (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  acquired_at INTEGER NOT NULL
);

CREATE TABLE job_state (
  job TEXT PRIMARY KEY,
  next_run_at INTEGER NOT NULL,
  running_by TEXT,
  running_until INTEGER,
  run_id INTEGER
);

CREATE TABLE job_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  instance TEXT NOT NULL,
  trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
  requested_by INTEGER,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  outcome TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'error', 'failed', 'interrupted')),
  result TEXT,
  error TEXT
);
CREATE INDEX job_runs_job ON job_runs (job, id);

CREATE TABLE picture_deletions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL,
  picture_key TEXT NOT NULL,
  reason TEXT NOT NULL,
  queued_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX picture_deletions_key ON picture_deletions (picture_key);
CREATE INDEX visits_picture_key ON visits (picture_key) WHERE picture_key IS NOT NULL;
CREATE INDEX staff_faces_picture_key ON staff_faces (picture_key) WHERE picture_key IS NOT NULL;

CREATE TABLE staff_list_digests (
  tenant_id INTEGER PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  digest TEXT NOT NULL,
  version INTEGER NOT NULL,
  checked_at INTEGER NOT NULL
);

CREATE TABLE do_not_track (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  descriptor BLOB NOT NULL,
  model TEXT NOT NULL,
  note TEXT,
  created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX do_not_track_tenant ON do_not_track (tenant_id, id);
