-- 0010 upgrades: work a server does once, at its next start, after a
-- migration that cannot do it in SQL (src/server/rollups.c reports_backfill).
-- Keep in step with the other backend's 0010.
--
-- reports_backfill: visits recorded before 0009 have no hour key and no gap
-- data; the server rolls every tenant's history up again, then deletes the row.
CREATE TABLE pending_upgrades (
  name TEXT PRIMARY KEY
);
INSERT INTO pending_upgrades (name)
SELECT 'reports_backfill' WHERE EXISTS (SELECT 1 FROM visits WHERE hour_key IS NULL);
