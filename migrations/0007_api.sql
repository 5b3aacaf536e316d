-- A per-org change counter. Every change to an org's data writes an audit event, and
-- the store bumps this row in that same transaction, so a reader that sees generation
-- g sees every change committed up to g. The API's decision cache keys its entries by
-- it: one indexed read per check tells every instance whether its cache is still good.
CREATE TABLE org_generations (
    org_id     TEXT   NOT NULL,
    generation BIGINT NOT NULL,
    CONSTRAINT org_generations_pkey PRIMARY KEY (org_id),
    CONSTRAINT org_generations_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE
);

-- Users by email, oldest first (GetUserByEmail: "ORDER BY id LIMIT 1"). With only
-- users_email_idx, SQLite walks the org's users in id order through
-- users_org_id_key to satisfy the ORDER BY, testing every email: tens of
-- milliseconds per lookup at 100,000 users. This index answers it with one search;
-- access checks name users by email on the hot path.
CREATE INDEX users_email_id_idx ON users (org_id, lower(email), id);
