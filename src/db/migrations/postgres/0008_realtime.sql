-- 0008_realtime: ids of realtime events when several servers share the
-- database. The hub takes nextval and sends the event's NOTIFY in one write
-- transaction, so id order is commit order, which is the order every
-- instance's listener receives notifications in (see src/server/hub.h).
CREATE SEQUENCE realtime_event_id;
