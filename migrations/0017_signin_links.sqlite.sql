-- Sign-in without an identity provider: break-glass links, invitations, first run.

-- A session made by a sign-in link belongs to no SSO connection, so
-- sso_sessions.connection_id becomes nullable. SQLite cannot drop a NOT NULL in
-- place: the table is rebuilt (the trigger on users that names it is dropped first
-- and made again, or the rename would fail on it).
DROP TRIGGER sso_sessions_end_on_deactivate;
CREATE TABLE sso_sessions_rebuilt (
    id_hash                TEXT   NOT NULL,
    org_id                 TEXT   NOT NULL,
    user_id                TEXT   NOT NULL,
    connection_id          TEXT,
    created_at             BIGINT NOT NULL,
    last_seen_at           BIGINT NOT NULL,
    expires_at             BIGINT NOT NULL,
    idle_micros            BIGINT NOT NULL,
    saml_name_id           TEXT   NOT NULL DEFAULT '',
    saml_name_id_format    TEXT   NOT NULL DEFAULT '',
    saml_name_qualifier    TEXT   NOT NULL DEFAULT '',
    saml_sp_name_qualifier TEXT   NOT NULL DEFAULT '',
    saml_session_index     TEXT   NOT NULL DEFAULT '',
    CONSTRAINT sso_sessions_pkey PRIMARY KEY (id_hash),
    CONSTRAINT sso_sessions_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CONSTRAINT sso_sessions_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE,
    CONSTRAINT sso_sessions_times_check CHECK (expires_at > created_at AND idle_micros > 0)
);
INSERT INTO sso_sessions_rebuilt (id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros,
    saml_name_id, saml_name_id_format, saml_name_qualifier, saml_sp_name_qualifier, saml_session_index)
SELECT id_hash, org_id, user_id, connection_id, created_at, last_seen_at, expires_at, idle_micros,
    saml_name_id, saml_name_id_format, saml_name_qualifier, saml_sp_name_qualifier, saml_session_index
FROM sso_sessions;
DROP TABLE sso_sessions;
ALTER TABLE sso_sessions_rebuilt RENAME TO sso_sessions;
CREATE INDEX sso_sessions_user_idx ON sso_sessions (user_id);
CREATE INDEX sso_sessions_expires_idx ON sso_sessions (expires_at);
CREATE INDEX sso_sessions_saml_subject_idx ON sso_sessions (connection_id, saml_name_id);
CREATE TRIGGER sso_sessions_end_on_deactivate
AFTER UPDATE OF active ON users
FOR EACH ROW WHEN NEW.active = 0 AND OLD.active <> 0
BEGIN
    DELETE FROM sso_sessions WHERE user_id = NEW.id;
END;

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
