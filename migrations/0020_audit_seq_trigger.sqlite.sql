-- On SQLite an audit event's insert takes its seq itself, and a trigger moves the
-- org's change counter to it: one statement per event where there were two (the
-- counter's upsert … RETURNING, then the insert). Every change audits, and each
-- statement costs the single writer a round through database/sql and the driver,
-- about as much as the upsert itself. The writer is alone, so the counter read by
-- the insert is the one the trigger then moves, in the same statement.
--
-- The insert (tx.audit) names seq as the counter plus one (0 for an org that never
-- changed); the trigger sets the counter to the event's seq, creating it if
-- needed: what the upsert did. An event without a seq leaves the counter alone.
-- PostgreSQL numbers events in its own statements (tx.audit, writeAudit).
CREATE TRIGGER audit_events_seq AFTER INSERT ON audit_events FOR EACH ROW
WHEN NEW.seq IS NOT NULL
BEGIN
    INSERT INTO org_generations (org_id, generation) VALUES (NEW.org_id, NEW.seq)
    ON CONFLICT (org_id) DO UPDATE SET generation = excluded.generation;
END;
