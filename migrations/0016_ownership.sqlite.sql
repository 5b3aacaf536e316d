-- Identity sources are trust boundaries (see docs/operations.md, "Identity sources and
-- trust"). Every user has exactly one owner: a SCIM directory (source 'scim',
-- directory_id), an SSO connection that created them just in time (source 'sso',
-- connection_id), or nobody outside Gatehouse: local (source 'invited': the CLI, the
-- API, an invitation). SQLite cannot add a table constraint to an existing table, so
-- the one-owner rule is two triggers here and a CHECK on PostgreSQL; both name it
-- users_owner_check.

ALTER TABLE users ADD COLUMN connection_id TEXT CONSTRAINT users_connection_fkey REFERENCES sso_connections (id);

-- Backfill: a user made by SSO is owned by the connection they first signed in
-- through; with no session left to say which, and a "scim" user without a directory
-- (made by the CLI), they become local, which an org admin can transfer.
UPDATE users SET connection_id = (SELECT s.connection_id FROM sso_sessions s
    WHERE s.org_id = users.org_id AND s.user_id = users.id ORDER BY s.created_at, s.id_hash LIMIT 1)
WHERE source = 'sso';
UPDATE users SET source = 'invited'
WHERE (source = 'sso' AND connection_id IS NULL) OR (source = 'scim' AND directory_id IS NULL);
UPDATE users SET directory_id = NULL WHERE source <> 'scim' AND directory_id IS NOT NULL;
UPDATE users SET connection_id = NULL WHERE source <> 'sso' AND connection_id IS NOT NULL;

CREATE TRIGGER users_owner_check_insert BEFORE INSERT ON users FOR EACH ROW
WHEN NOT ((NEW.source = 'scim' AND NEW.directory_id IS NOT NULL AND NEW.connection_id IS NULL)
       OR (NEW.source = 'sso' AND NEW.connection_id IS NOT NULL AND NEW.directory_id IS NULL
           AND EXISTS (SELECT 1 FROM sso_connections c WHERE c.org_id = NEW.org_id AND c.id = NEW.connection_id))
       OR (NEW.source = 'invited' AND NEW.directory_id IS NULL AND NEW.connection_id IS NULL))
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: users_owner_check');
END;
CREATE TRIGGER users_owner_check_update BEFORE UPDATE OF source, directory_id, connection_id, org_id ON users FOR EACH ROW
WHEN NOT ((NEW.source = 'scim' AND NEW.directory_id IS NOT NULL AND NEW.connection_id IS NULL)
       OR (NEW.source = 'sso' AND NEW.connection_id IS NOT NULL AND NEW.directory_id IS NULL
           AND EXISTS (SELECT 1 FROM sso_connections c WHERE c.org_id = NEW.org_id AND c.id = NEW.connection_id))
       OR (NEW.source = 'invited' AND NEW.directory_id IS NULL AND NEW.connection_id IS NULL))
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: users_owner_check');
END;

-- A directory's reads and writes run WHERE org_id = ? AND directory_id = ?: its own
-- users in id order, and its own users by userName (the lookup every IdP makes).
CREATE INDEX users_owner_directory_idx ON users (org_id, directory_id, id);
CREATE INDEX users_owner_connection_idx ON users (org_id, connection_id, id);

-- A connection may be linked to one directory of its org (the usual Okta SCIM + Okta
-- SAML pair): it then signs in the users that directory owns.
ALTER TABLE sso_connections ADD COLUMN directory_id TEXT CONSTRAINT sso_connections_directory_fkey REFERENCES scim_directories (id);
CREATE TRIGGER sso_connections_directory_org_check_insert BEFORE INSERT ON sso_connections FOR EACH ROW
WHEN NEW.directory_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scim_directories d WHERE d.org_id = NEW.org_id AND d.id = NEW.directory_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: sso_connections_directory_fkey');
END;
CREATE TRIGGER sso_connections_directory_org_check_update BEFORE UPDATE OF directory_id, org_id ON sso_connections FOR EACH ROW
WHEN NEW.directory_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scim_directories d WHERE d.org_id = NEW.org_id AND d.id = NEW.directory_id)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: sso_connections_directory_fkey');
END;

-- Email domains. A domain belongs to one org (org_domains' key), which may have
-- verified it (DNS TXT, or an operator's word); a directory's and a connection's
-- domains are domains of their own org.
CREATE TABLE org_domains (
    domain      TEXT   NOT NULL,
    org_id      TEXT   NOT NULL,
    verified_at BIGINT,
    verified_by TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    CONSTRAINT org_domains_pkey PRIMARY KEY (domain),
    CONSTRAINT org_domains_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT org_domains_org_domain_key UNIQUE (org_id, domain),
    CONSTRAINT org_domains_domain_check CHECK (domain <> '' AND domain = lower(domain))
);
INSERT INTO org_domains (domain, org_id, created_at) SELECT domain, org_id, created_at FROM sso_connection_domains;

CREATE TABLE scim_directory_domains (
    domain       TEXT   NOT NULL,
    org_id       TEXT   NOT NULL,
    directory_id TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT scim_directory_domains_pkey PRIMARY KEY (domain),
    CONSTRAINT scim_directory_domains_directory_fkey FOREIGN KEY (org_id, directory_id) REFERENCES scim_directories (org_id, id) ON DELETE CASCADE,
    CONSTRAINT scim_directory_domains_org_domain_fkey FOREIGN KEY (org_id, domain) REFERENCES org_domains (org_id, domain)
);
CREATE INDEX scim_directory_domains_directory_idx ON scim_directory_domains (org_id, directory_id);

CREATE TRIGGER sso_connection_domains_org_domain_check BEFORE INSERT ON sso_connection_domains FOR EACH ROW
WHEN NOT EXISTS (SELECT 1 FROM org_domains o WHERE o.org_id = NEW.org_id AND o.domain = NEW.domain)
BEGIN
    SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: sso_connection_domains_org_domain_fkey');
END;

-- Whether routing and adoption use only the org's verified domains.
ALTER TABLE organizations ADD COLUMN require_verified_domains BOOLEAN NOT NULL DEFAULT FALSE;
