-- Governance core. One SQL text for SQLite and PostgreSQL: TEXT ids (UUIDv7), BIGINT
-- times in Unix microseconds, BOOLEAN. Every constraint is named; hierarchy rules are
-- composite foreign keys so that nothing can point across an org or a workspace.

CREATE TABLE organizations (
    id         TEXT    NOT NULL,
    slug       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    version    BIGINT  NOT NULL DEFAULT 1,
    CONSTRAINT organizations_pkey PRIMARY KEY (id),
    CONSTRAINT organizations_slug_key UNIQUE (slug),
    CONSTRAINT organizations_slug_check CHECK (slug <> '')
);

CREATE TABLE scim_directories (
    id         TEXT   NOT NULL,
    org_id     TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT scim_directories_pkey PRIMARY KEY (id),
    CONSTRAINT scim_directories_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT scim_directories_org_id_key UNIQUE (org_id, id),
    CONSTRAINT scim_directories_name_key UNIQUE (org_id, name)
);

CREATE TABLE sso_connections (
    id         TEXT    NOT NULL,
    org_id     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    config     TEXT    NOT NULL DEFAULT '{}',
    jit        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    version    BIGINT  NOT NULL DEFAULT 1,
    CONSTRAINT sso_connections_pkey PRIMARY KEY (id),
    CONSTRAINT sso_connections_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT sso_connections_org_id_key UNIQUE (org_id, id),
    CONSTRAINT sso_connections_name_key UNIQUE (org_id, name),
    CONSTRAINT sso_connections_kind_check CHECK (kind IN ('saml', 'oidc'))
);

CREATE TABLE users (
    id           TEXT    NOT NULL,
    org_id       TEXT    NOT NULL,
    user_name    TEXT    NOT NULL,
    email        TEXT    NOT NULL DEFAULT '',
    display_name TEXT    NOT NULL DEFAULT '',
    given_name   TEXT    NOT NULL DEFAULT '',
    family_name  TEXT    NOT NULL DEFAULT '',
    external_id  TEXT,
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    source       TEXT    NOT NULL,
    directory_id TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    version      BIGINT  NOT NULL DEFAULT 1,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT users_org_id_key UNIQUE (org_id, id),
    CONSTRAINT users_directory_fkey FOREIGN KEY (org_id, directory_id) REFERENCES scim_directories (org_id, id),
    CONSTRAINT users_source_check CHECK (source IN ('scim', 'sso', 'invited')),
    CONSTRAINT users_user_name_check CHECK (user_name <> '')
);
-- userName is unique per org, case-insensitively (SCIM: caseExact false).
CREATE UNIQUE INDEX users_user_name_key ON users (org_id, lower(user_name));
CREATE INDEX users_email_idx ON users (org_id, lower(email));
CREATE INDEX users_external_id_idx ON users (org_id, external_id);
CREATE INDEX users_directory_idx ON users (directory_id);

CREATE TABLE org_admins (
    org_id     TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT org_admins_pkey PRIMARY KEY (org_id, user_id),
    CONSTRAINT org_admins_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX org_admins_user_idx ON org_admins (user_id);

CREATE TABLE api_tokens (
    id           TEXT   NOT NULL,
    org_id       TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    hash         TEXT   NOT NULL,
    directory_id TEXT,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT api_tokens_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_directory_fkey FOREIGN KEY (org_id, directory_id) REFERENCES scim_directories (org_id, id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash),
    CONSTRAINT api_tokens_kind_check CHECK (kind IN ('scim', 'api')),
    CONSTRAINT api_tokens_directory_check CHECK ((kind = 'scim') = (directory_id IS NOT NULL))
);
CREATE INDEX api_tokens_org_idx ON api_tokens (org_id);

CREATE TABLE workspaces (
    id         TEXT   NOT NULL,
    org_id     TEXT   NOT NULL,
    slug       TEXT   NOT NULL,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    version    BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT workspaces_pkey PRIMARY KEY (id),
    CONSTRAINT workspaces_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT workspaces_org_id_key UNIQUE (org_id, id),
    CONSTRAINT workspaces_slug_key UNIQUE (org_id, slug),
    CONSTRAINT workspaces_slug_check CHECK (slug <> '')
);

CREATE TABLE environments (
    id           TEXT    NOT NULL,
    workspace_id TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    CONSTRAINT environments_pkey PRIMARY KEY (id),
    CONSTRAINT environments_workspace_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE,
    CONSTRAINT environments_ws_id_key UNIQUE (workspace_id, id),
    CONSTRAINT environments_name_key UNIQUE (workspace_id, name),
    CONSTRAINT environments_position_key UNIQUE (workspace_id, position),
    CONSTRAINT environments_name_check CHECK (name <> '')
);

CREATE TABLE spaces (
    id           TEXT   NOT NULL,
    workspace_id TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    CONSTRAINT spaces_pkey PRIMARY KEY (id),
    CONSTRAINT spaces_workspace_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE,
    CONSTRAINT spaces_ws_id_key UNIQUE (workspace_id, id),
    CONSTRAINT spaces_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE resources (
    id             TEXT   NOT NULL,
    workspace_id   TEXT   NOT NULL,
    type           TEXT   NOT NULL,
    external_id    TEXT   NOT NULL,
    name           TEXT   NOT NULL DEFAULT '',
    environment_id TEXT,
    space_id       TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    version        BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT resources_pkey PRIMARY KEY (id),
    CONSTRAINT resources_workspace_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE,
    CONSTRAINT resources_environment_fkey FOREIGN KEY (workspace_id, environment_id) REFERENCES environments (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT resources_space_fkey FOREIGN KEY (workspace_id, space_id) REFERENCES spaces (workspace_id, id),
    CONSTRAINT resources_external_key UNIQUE (workspace_id, type, external_id),
    CONSTRAINT resources_type_check CHECK (type IN ('source', 'destination', 'model', 'parent_model', 'sync', 'audience'))
);
CREATE INDEX resources_space_idx ON resources (space_id);

CREATE TABLE user_groups (
    id          TEXT   NOT NULL,
    org_id      TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT user_groups_pkey PRIMARY KEY (id),
    CONSTRAINT user_groups_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT user_groups_org_id_key UNIQUE (org_id, id),
    CONSTRAINT user_groups_name_check CHECK (name <> '')
);
CREATE UNIQUE INDEX user_groups_name_key ON user_groups (org_id, lower(name));

-- Direct (manual) members. Members through IdP groups are derived from
-- idp_group_members and group_mappings when read, so an IdP change is seen at once.
CREATE TABLE user_group_members (
    org_id     TEXT   NOT NULL,
    group_id   TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT user_group_members_pkey PRIMARY KEY (group_id, user_id),
    CONSTRAINT user_group_members_group_fkey FOREIGN KEY (org_id, group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE,
    CONSTRAINT user_group_members_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX user_group_members_user_idx ON user_group_members (user_id);

CREATE TABLE idp_groups (
    id            TEXT   NOT NULL,
    org_id        TEXT   NOT NULL,
    directory_id  TEXT,
    connection_id TEXT,
    external_id   TEXT,
    display_name  TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    version       BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT idp_groups_pkey PRIMARY KEY (id),
    CONSTRAINT idp_groups_org_id_key UNIQUE (org_id, id),
    CONSTRAINT idp_groups_directory_fkey FOREIGN KEY (org_id, directory_id) REFERENCES scim_directories (org_id, id) ON DELETE CASCADE,
    CONSTRAINT idp_groups_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE,
    CONSTRAINT idp_groups_source_check CHECK ((directory_id IS NULL) <> (connection_id IS NULL))
);
-- SCIM: displayName is unique per directory. SSO: one row per claim value.
CREATE UNIQUE INDEX idp_groups_directory_name_key ON idp_groups (directory_id, lower(display_name)) WHERE directory_id IS NOT NULL;
CREATE UNIQUE INDEX idp_groups_connection_external_key ON idp_groups (connection_id, external_id) WHERE connection_id IS NOT NULL;
CREATE INDEX idp_groups_directory_external_idx ON idp_groups (directory_id, external_id);
-- Mappings name SSO groups by claim value (external_id) or display name too.
CREATE INDEX idp_groups_connection_name_idx ON idp_groups (connection_id, lower(display_name)) WHERE connection_id IS NOT NULL;

CREATE TABLE idp_group_members (
    org_id      TEXT   NOT NULL,
    idp_group_id TEXT  NOT NULL,
    user_id     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    CONSTRAINT idp_group_members_pkey PRIMARY KEY (idp_group_id, user_id),
    CONSTRAINT idp_group_members_group_fkey FOREIGN KEY (org_id, idp_group_id) REFERENCES idp_groups (org_id, id) ON DELETE CASCADE,
    CONSTRAINT idp_group_members_user_fkey FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX idp_group_members_user_idx ON idp_group_members (user_id);

CREATE TABLE group_mappings (
    id            TEXT   NOT NULL,
    org_id        TEXT   NOT NULL,
    directory_id  TEXT,
    connection_id TEXT,
    idp_group     TEXT   NOT NULL,
    user_group_id TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    CONSTRAINT group_mappings_pkey PRIMARY KEY (id),
    CONSTRAINT group_mappings_directory_fkey FOREIGN KEY (org_id, directory_id) REFERENCES scim_directories (org_id, id) ON DELETE CASCADE,
    CONSTRAINT group_mappings_connection_fkey FOREIGN KEY (org_id, connection_id) REFERENCES sso_connections (org_id, id) ON DELETE CASCADE,
    CONSTRAINT group_mappings_group_fkey FOREIGN KEY (org_id, user_group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE,
    CONSTRAINT group_mappings_source_check CHECK ((directory_id IS NULL) <> (connection_id IS NULL)),
    CONSTRAINT group_mappings_idp_group_check CHECK (idp_group <> '')
);
CREATE UNIQUE INDEX group_mappings_key ON group_mappings (org_id, COALESCE(directory_id, ''), COALESCE(connection_id, ''), lower(idp_group), user_group_id);
CREATE INDEX group_mappings_user_group_idx ON group_mappings (user_group_id);
CREATE INDEX group_mappings_directory_idx ON group_mappings (directory_id);
CREATE INDEX group_mappings_connection_idx ON group_mappings (connection_id);

CREATE TABLE custom_roles (
    id          TEXT   NOT NULL,
    org_id      TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    description TEXT   NOT NULL DEFAULT '',
    rules       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    CONSTRAINT custom_roles_pkey PRIMARY KEY (id),
    CONSTRAINT custom_roles_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT custom_roles_org_id_key UNIQUE (org_id, id),
    -- A custom role may not take a pre-built role's name: grants name roles by name.
    CONSTRAINT custom_roles_name_check CHECK (lower(name) NOT IN ('admin', 'editor', 'viewer', 'draft_contributor') AND name <> '')
);
CREATE UNIQUE INDEX custom_roles_name_key ON custom_roles (org_id, lower(name));

CREATE TABLE grants (
    id             TEXT   NOT NULL,
    org_id         TEXT   NOT NULL,
    user_group_id  TEXT   NOT NULL,
    workspace_id   TEXT   NOT NULL,
    builtin_role   TEXT,
    custom_role_id TEXT,
    created_at     BIGINT NOT NULL,
    CONSTRAINT grants_pkey PRIMARY KEY (id),
    CONSTRAINT grants_group_fkey FOREIGN KEY (org_id, user_group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE,
    CONSTRAINT grants_workspace_fkey FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE,
    CONSTRAINT grants_custom_role_fkey FOREIGN KEY (org_id, custom_role_id) REFERENCES custom_roles (org_id, id) ON DELETE CASCADE,
    CONSTRAINT grants_ws_id_key UNIQUE (workspace_id, id),
    CONSTRAINT grants_role_check CHECK ((builtin_role IS NULL) <> (custom_role_id IS NULL)),
    CONSTRAINT grants_builtin_role_check CHECK (builtin_role IS NULL OR builtin_role IN ('admin', 'editor', 'viewer', 'draft_contributor'))
);
CREATE UNIQUE INDEX grants_key ON grants (user_group_id, workspace_id, COALESCE(builtin_role, ''), COALESCE(custom_role_id, ''));
CREATE INDEX grants_workspace_idx ON grants (workspace_id);

-- A grant narrowed to some environments; a grant with no rows here applies to all.
CREATE TABLE grant_environments (
    grant_id       TEXT NOT NULL,
    workspace_id   TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    CONSTRAINT grant_environments_pkey PRIMARY KEY (grant_id, environment_id),
    CONSTRAINT grant_environments_grant_fkey FOREIGN KEY (workspace_id, grant_id) REFERENCES grants (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT grant_environments_env_fkey FOREIGN KEY (workspace_id, environment_id) REFERENCES environments (workspace_id, id) ON DELETE CASCADE
);

CREATE TABLE space_groups (
    space_id      TEXT   NOT NULL,
    workspace_id  TEXT   NOT NULL,
    org_id        TEXT   NOT NULL,
    user_group_id TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    CONSTRAINT space_groups_pkey PRIMARY KEY (space_id, user_group_id),
    CONSTRAINT space_groups_space_fkey FOREIGN KEY (workspace_id, space_id) REFERENCES spaces (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT space_groups_workspace_fkey FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE,
    CONSTRAINT space_groups_group_fkey FOREIGN KEY (org_id, user_group_id) REFERENCES user_groups (org_id, id) ON DELETE CASCADE
);
CREATE INDEX space_groups_group_idx ON space_groups (user_group_id);

-- Append-only: the store has no statement that updates or deletes a row here.
CREATE TABLE audit_events (
    id          TEXT   NOT NULL,
    org_id      TEXT   NOT NULL,
    at          BIGINT NOT NULL,
    actor_kind  TEXT   NOT NULL,
    actor_id    TEXT   NOT NULL DEFAULT '',
    actor_name  TEXT   NOT NULL DEFAULT '',
    action      TEXT   NOT NULL,
    target_kind TEXT   NOT NULL DEFAULT '',
    target_id   TEXT   NOT NULL DEFAULT '',
    details     TEXT   NOT NULL DEFAULT '{}',
    CONSTRAINT audit_events_pkey PRIMARY KEY (id),
    CONSTRAINT audit_events_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE
);
CREATE INDEX audit_events_org_idx ON audit_events (org_id, id);
CREATE INDEX audit_events_org_action_idx ON audit_events (org_id, action, id);
CREATE INDEX audit_events_org_actor_idx ON audit_events (org_id, actor_id, id);
