-- The ordered per-org change log. Every change writes its audit event in its own
-- transaction; seq numbers those events per org in commit order. seq is taken from
-- org_generations in the same transaction (UPDATE … RETURNING), whose row lock holds
-- back the org's next change until this one commits, so a reader that sees seq n sees
-- every seq below it. Readers of the log (the event stream, webhook delivery, the
-- decision index) page with "seq > cursor"; the cursor survives restarts.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;

-- Events written before this migration are numbered in id (creation) order.
UPDATE audit_events SET seq = x.rn
FROM (SELECT id, row_number() OVER (PARTITION BY org_id ORDER BY id) AS rn FROM audit_events) AS x
WHERE audit_events.id = x.id;

-- The counter continues after the numbered events (it may already be ahead: it was
-- bumped by every change since 0007, and events before 0007 never bumped it).
INSERT INTO org_generations (org_id, generation)
SELECT org_id, MAX(seq) FROM audit_events WHERE seq IS NOT NULL GROUP BY org_id
ON CONFLICT (org_id) DO UPDATE SET generation = CASE
    WHEN excluded.generation > org_generations.generation THEN excluded.generation
    ELSE org_generations.generation END;

CREATE UNIQUE INDEX audit_events_org_seq_key ON audit_events (org_id, seq);
