-- SSO lifecycle: single logout, IdP certificate records and scheduled metadata
-- refresh. (Attribute and claim mappings live in sso_connections.config, JSON.)

-- Single logout: a session remembers the SAML subject it came from, so an IdP's
-- LogoutRequest (which names the NameID and, usually, the SessionIndex) finds the
-- sessions to end, and an SP-initiated LogoutRequest names them back to the IdP.
-- Empty for OIDC sessions and for sessions made before this migration.
ALTER TABLE sso_sessions ADD COLUMN saml_name_id TEXT NOT NULL DEFAULT '';
ALTER TABLE sso_sessions ADD COLUMN saml_name_id_format TEXT NOT NULL DEFAULT '';
ALTER TABLE sso_sessions ADD COLUMN saml_name_qualifier TEXT NOT NULL DEFAULT '';
ALTER TABLE sso_sessions ADD COLUMN saml_sp_name_qualifier TEXT NOT NULL DEFAULT '';
ALTER TABLE sso_sessions ADD COLUMN saml_session_index TEXT NOT NULL DEFAULT '';
CREATE INDEX sso_sessions_saml_subject_idx ON sso_sessions (connection_id, saml_name_id);

-- A pending SP-initiated message is a login (AuthnRequest, answered at the ACS) or
-- a logout (LogoutRequest, answered at the SLO endpoint); each is taken only by
-- the endpoint of its purpose.
ALTER TABLE sso_saml_requests ADD COLUMN purpose TEXT NOT NULL DEFAULT 'login'
    CONSTRAINT sso_saml_requests_purpose_check CHECK (purpose IN ('login', 'logout'));

-- The signing certificates (SAML) and keys (OIDC JWKS) each connection's IdP has
-- published, with their validity, so admins see what is trusted and are warned
-- before a certificate expires. retired_at is set when the IdP stops listing it
-- (and cleared if it lists it again); only listed ones are trusted.
CREATE TABLE sso_idp_certificates (
    connection_id TEXT   NOT NULL,
    org_id        TEXT   NOT NULL,
    fingerprint   TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    key_id        TEXT   NOT NULL DEFAULT '',
    subject       TEXT   NOT NULL DEFAULT '',
    not_before    BIGINT,
    not_after     BIGINT,
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    retired_at    BIGINT,
    CONSTRAINT sso_idp_certificates_pkey PRIMARY KEY (connection_id, fingerprint),
    CONSTRAINT sso_idp_certificates_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE,
    CONSTRAINT sso_idp_certificates_kind_check CHECK (kind IN ('saml_signing', 'oidc_key')),
    CONSTRAINT sso_idp_certificates_fingerprint_check CHECK (fingerprint <> '')
);
CREATE INDEX sso_idp_certificates_org_idx ON sso_idp_certificates (org_id, not_after);

-- Scheduled refresh of IdP metadata (SAML) and discovery/JWKS (OIDC). next_at is
-- both the schedule and the claim: an instance takes a due connection by moving
-- next_at forward in one UPDATE, so several instances never refresh it at once.
CREATE TABLE sso_refresh (
    connection_id   TEXT    NOT NULL,
    org_id          TEXT    NOT NULL,
    next_at         BIGINT  NOT NULL,
    last_attempt_at BIGINT,
    last_success_at BIGINT,
    last_error      TEXT    NOT NULL DEFAULT '',
    failures        INTEGER NOT NULL DEFAULT 0,
    digest          TEXT    NOT NULL DEFAULT '',
    CONSTRAINT sso_refresh_pkey PRIMARY KEY (connection_id),
    CONSTRAINT sso_refresh_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sso_refresh_next_idx ON sso_refresh (next_at);
