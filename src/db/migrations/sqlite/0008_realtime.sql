-- 0008_realtime: on PostgreSQL, the sequence of realtime event ids shared by
-- several servers. SQLite serves one server, whose hub numbers events in
-- memory (src/server/hub.h): nothing to store. The statement keeps the two
-- migration sets in step.
SELECT 1;
