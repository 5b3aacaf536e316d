-- SCIM attributes beyond the core user. The full resource as the IdP sent it (minus
-- password, id and meta) is kept in users.scim (JSON text) so GET returns what was
-- stored; the columns below are projections of it that filters run on. Every filterable
-- string attribute with caseExact=false is compared as lower(column) = lower(value).
ALTER TABLE users ADD COLUMN title TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN timezone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN nick_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN user_type TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN preferred_language TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN employee_number TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN department TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN cost_center TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN organization TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN division TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN manager_id TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN scim TEXT NOT NULL DEFAULT '{}';

-- Lookups IdPs make before every create: externalId (caseExact) is indexed by 0001;
-- displayName and employeeNumber are common Entra matching attributes.
CREATE INDEX users_display_name_idx ON users (org_id, lower(display_name));
CREATE INDEX users_employee_number_idx ON users (org_id, lower(employee_number));

-- One row per SCIM email of a user, so that emails.value eq … and
-- emails[type eq "work"].value eq … are index lookups instead of JSON scans.
CREATE TABLE user_emails (
    org_id     TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    value      TEXT    NOT NULL,
    type       TEXT    NOT NULL DEFAULT '',
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT user_emails_pkey PRIMARY KEY (user_id, position),
    CONSTRAINT user_emails_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX user_emails_value_idx ON user_emails (org_id, lower(value));
