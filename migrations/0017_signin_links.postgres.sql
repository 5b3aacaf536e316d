-- Sign-in without an identity provider: break-glass links, invitations, first run.

-- A session made by a sign-in link belongs to no SSO connection.
ALTER TABLE sso_sessions ALTER COLUMN connection_id DROP NOT NULL;

-- Single-use sign-in links: break-glass links an operator prints for an org admin
-- (gatehouse login-link), invitations, and the first-run setup link. token_hash is
-- the SHA-256 (hex) of the secret in the link; the secret itself is never stored.
-- A link is used once: taking it sets used_at, in the transaction that starts the
-- session, with "used_at IS NULL" in the WHERE clause, so a second use (on any
-- instance) finds nothing. A setup link names no org or user (it creates them).
CREATE TABLE signin_links (
    token_hash TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    org_id     TEXT,
    user_id    TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    CONSTRAINT signin_links_pkey PRIMARY KEY (token_hash),
    CONSTRAINT signin_links_kind_check CHECK (kind IN ('break_glass', 'invitation', 'setup')),
    CONSTRAINT signin_links_target_check CHECK ((kind = 'setup' AND org_id IS NULL AND user_id IS NULL)
        OR (kind <> 'setup' AND org_id IS NOT NULL AND user_id IS NOT NULL)),
    CONSTRAINT signin_links_times_check CHECK (expires_at > created_at),
    CONSTRAINT signin_links_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX signin_links_user_idx ON signin_links (org_id, user_id);
CREATE INDEX signin_links_expires_idx ON signin_links (expires_at);
