-- Binds an SP-initiated SAML login to the browser that started it: binding_hash is
-- the SHA-256 of a random value set in a cookie at /login and required at the ACS
-- (login CSRF: otherwise anyone could post their own solicited response into
-- someone else's browser). Empty for rows written before this migration.
ALTER TABLE sso_saml_requests ADD COLUMN binding_hash TEXT NOT NULL DEFAULT '';
