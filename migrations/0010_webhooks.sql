-- Webhooks: an org's event stream pushed to application URLs, signed, at least once,
-- in stream order. The outbox is the change log itself: every change writes its
-- audit event (with the org's next seq) in its own transaction, so a webhook only
-- keeps a cursor into that log (the last seq delivered or skipped) and the state of
-- the attempts at the event after it. Delivery state changes without an audit event
-- and without a version bump: version is for an admin's edits (If-Match).
CREATE TABLE webhooks (
    id                         TEXT    NOT NULL,
    org_id                     TEXT    NOT NULL,
    url                        TEXT    NOT NULL,
    description                TEXT    NOT NULL DEFAULT '',
    -- JSON array of types and "prefix.*" patterns; empty: every type.
    event_types                TEXT    NOT NULL DEFAULT '[]',
    -- The signing secret, sealed under the server's key (it must be read back to
    -- sign). After a rotation the previous one also signs until it expires.
    secret_sealed              TEXT    NOT NULL,
    previous_secret_sealed     TEXT,
    previous_secret_expires_at BIGINT,
    active                     BOOLEAN NOT NULL DEFAULT TRUE,
    cursor_seq                 BIGINT  NOT NULL DEFAULT 0,
    -- Failed attempts at the first subscribed event after cursor_seq, since when,
    -- and when the next is due (0: now).
    attempts                   INTEGER NOT NULL DEFAULT 0,
    failing_since              BIGINT,
    next_attempt_at            BIGINT  NOT NULL DEFAULT 0,
    -- The delivering instance's lease: taken by a conditional UPDATE, so two
    -- instances never both hold it; a crashed holder's lease expires.
    lease_owner                TEXT,
    lease_expires_at           BIGINT  NOT NULL DEFAULT 0,
    created_at                 BIGINT  NOT NULL,
    updated_at                 BIGINT  NOT NULL,
    version                    BIGINT  NOT NULL DEFAULT 1,
    CONSTRAINT webhooks_pkey PRIMARY KEY (id),
    CONSTRAINT webhooks_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT webhooks_org_id_key UNIQUE (org_id, id),
    CONSTRAINT webhooks_url_check CHECK (url <> ''),
    CONSTRAINT webhooks_secret_check CHECK (secret_sealed <> ''),
    CONSTRAINT webhooks_previous_secret_check CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL)),
    CONSTRAINT webhooks_cursor_check CHECK (cursor_seq >= 0),
    CONSTRAINT webhooks_attempts_check CHECK (attempts >= 0),
    CONSTRAINT webhooks_lease_check CHECK (lease_owner IS NOT NULL OR lease_expires_at = 0)
);
-- Claims look for active webhooks whose next attempt is due.
CREATE INDEX webhooks_due_idx ON webhooks (next_attempt_at) WHERE active = TRUE;

-- Every attempt, for the pages and the API; pruned after a configurable age.
CREATE TABLE webhook_deliveries (
    id            TEXT    NOT NULL,
    org_id        TEXT    NOT NULL,
    webhook_id    TEXT    NOT NULL,
    seq           BIGINT  NOT NULL,
    event_id      TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    redelivery    BOOLEAN NOT NULL DEFAULT FALSE,
    outcome       TEXT    NOT NULL,
    started_at    BIGINT  NOT NULL,
    finished_at   BIGINT  NOT NULL,
    status        INTEGER,
    error_message TEXT    NOT NULL DEFAULT '',
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_webhook_fkey FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks (org_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_deliveries_outcome_check CHECK (outcome IN ('delivered', 'failed', 'dead_lettered')),
    CONSTRAINT webhook_deliveries_attempt_check CHECK (attempt >= 1),
    CONSTRAINT webhook_deliveries_time_check CHECK (finished_at >= started_at)
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_started_idx ON webhook_deliveries (started_at);

-- Events given up on after the retry window; the cursor moved past them. An admin
-- may ask for a redelivery (one attempt, out of stream order).
CREATE TABLE webhook_dead_letters (
    org_id                 TEXT    NOT NULL,
    webhook_id             TEXT    NOT NULL,
    seq                    BIGINT  NOT NULL,
    event_id               TEXT    NOT NULL,
    event_type             TEXT    NOT NULL,
    attempts               INTEGER NOT NULL,
    last_status            INTEGER,
    last_error             TEXT    NOT NULL DEFAULT '',
    dead_lettered_at       BIGINT  NOT NULL,
    redeliver_requested_at BIGINT,
    redelivered_at         BIGINT,
    CONSTRAINT webhook_dead_letters_pkey PRIMARY KEY (webhook_id, seq),
    CONSTRAINT webhook_dead_letters_webhook_fkey FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks (org_id, id) ON DELETE CASCADE,
    CONSTRAINT webhook_dead_letters_attempts_check CHECK (attempts >= 1)
);
CREATE INDEX webhook_dead_letters_pending_idx ON webhook_dead_letters (webhook_id) WHERE redeliver_requested_at IS NOT NULL;
