-- SSO login state. Everything a login needs between two requests lives here, never
-- in one instance's memory, so any Gatehouse sharing the database can finish a login
-- another one started and sees the same sessions. Secrets are stored hashed
-- (session ids, OIDC states) or encrypted by the application (client secrets, SP keys,
-- inside sso_connections.config).

-- Email domains routed to a connection by /sso/login. A domain belongs to one
-- connection across all orgs: otherwise one org could capture another's logins.
CREATE TABLE sso_connection_domains (
    domain        TEXT   NOT NULL,
    org_id        TEXT   NOT NULL,
    connection_id TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    CONSTRAINT sso_connection_domains_pkey PRIMARY KEY (domain),
    CONSTRAINT sso_connection_domains_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE,
    CONSTRAINT sso_connection_domains_domain_check CHECK (domain <> '' AND domain = lower(domain))
);
CREATE INDEX sso_connection_domains_connection_idx ON sso_connection_domains (connection_id);

-- Browser sessions. id_hash is the SHA-256 (hex) of the cookie value; the value
-- itself is never stored. A session is valid while now < expires_at (absolute
-- timeout) and now < last_seen_at + idle_micros (idle timeout), and only while its
-- user is active: the lookup joins users, so a deactivation ends it at once.
CREATE TABLE sso_sessions (
    id_hash       TEXT   NOT NULL,
    org_id        TEXT   NOT NULL,
    user_id       TEXT   NOT NULL,
    connection_id TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    idle_micros   BIGINT NOT NULL,
    CONSTRAINT sso_sessions_pkey PRIMARY KEY (id_hash),
    CONSTRAINT sso_sessions_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CONSTRAINT sso_sessions_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE,
    CONSTRAINT sso_sessions_times_check CHECK (expires_at > created_at AND idle_micros > 0)
);
CREATE INDEX sso_sessions_user_idx ON sso_sessions (user_id);
CREATE INDEX sso_sessions_expires_idx ON sso_sessions (expires_at);

-- SP-initiated SAML AuthnRequests awaiting their response. relay_hash is the
-- SHA-256 of the RelayState sent with the request; the row is deleted when the
-- response arrives, so each request id is answered once.
CREATE TABLE sso_saml_requests (
    relay_hash    TEXT   NOT NULL,
    request_id    TEXT   NOT NULL,
    connection_id TEXT   NOT NULL,
    return_to     TEXT   NOT NULL DEFAULT '/',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    CONSTRAINT sso_saml_requests_pkey PRIMARY KEY (relay_hash),
    CONSTRAINT sso_saml_requests_connection_fkey FOREIGN KEY (connection_id) REFERENCES sso_connections (id) ON DELETE CASCADE
);
CREATE INDEX sso_saml_requests_expires_idx ON sso_saml_requests (expires_at);

-- Assertion ids already accepted, per connection, until the assertion would expire.
-- The primary key makes a second use fail atomically, on every instance.
CREATE TABLE sso_saml_assertions (
    connection_id TEXT   NOT NULL,
    assertion_id  TEXT   NOT NULL,
    expires_at    BIGINT NOT NULL,
    CONSTRAINT sso_saml_assertions_pkey PRIMARY KEY (connection_id, assertion_id),
    CONSTRAINT sso_saml_assertions_connection_fkey FOREIGN KEY (connection_id) REFERENCES sso_connections (id) ON DELETE CASCADE
);
CREATE INDEX sso_saml_assertions_expires_idx ON sso_saml_assertions (expires_at);

-- OIDC logins in flight: state_hash is the SHA-256 of the state parameter.
CREATE TABLE sso_oidc_states (
    state_hash    TEXT   NOT NULL,
    connection_id TEXT   NOT NULL,
    nonce         TEXT   NOT NULL,
    pkce_verifier TEXT   NOT NULL,
    return_to     TEXT   NOT NULL DEFAULT '/',
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    CONSTRAINT sso_oidc_states_pkey PRIMARY KEY (state_hash),
    CONSTRAINT sso_oidc_states_connection_fkey FOREIGN KEY (connection_id) REFERENCES sso_connections (id) ON DELETE CASCADE
);
CREATE INDEX sso_oidc_states_expires_idx ON sso_oidc_states (expires_at);
