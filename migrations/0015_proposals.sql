-- Change management: proposals and their reviews, approval rules per environment,
-- and four eyes on an org's own access changes.

-- An environment that requires approval turns an allow of a change (create, edit,
-- delete) into draft_only for everyone (core.Decide); every proposal in it needs
-- approvals_required approvals.
ALTER TABLE environments ADD COLUMN requires_approval BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE environments ADD COLUMN approvals_required INTEGER NOT NULL DEFAULT 1
    CONSTRAINT environments_approvals_required_check CHECK (approvals_required BETWEEN 1 AND 10);

-- Access changes (grants, mappings, memberships, custom roles, org admins) become
-- proposals that a second org admin approves.
ALTER TABLE organizations ADD COLUMN access_changes_require_approval BOOLEAN NOT NULL DEFAULT FALSE;

-- A proposal moves open → approved | rejected | withdrawn, and approved → applied |
-- failed. Every transition is a conditional UPDATE on state (never a read then a
-- write), written with its audit event in one transaction: two reviewers at once
-- never produce two outcomes. The author and reviewers are kept by id and label,
-- without foreign keys, so that a proposal's record outlives its people, as the
-- audit log does.
CREATE TABLE proposals (
    id                    TEXT    NOT NULL,
    org_id                TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    -- change: its workspace and environment (none: the workspace as a whole);
    -- promote: the environment promoted from, and target_environment_id to.
    -- access: no workspace, or the grant's.
    workspace_id          TEXT,
    environment_id        TEXT,
    target_environment_id TEXT,
    action                TEXT    NOT NULL,
    -- The resource by the application's own id (absent for a create, which names
    -- the type alone), with the Gatehouse id and version it had when the proposal
    -- was opened: a proposal whose resource changed or went since is stale.
    resource_type         TEXT,
    resource_id           TEXT,
    resource_gid          TEXT,
    resource_version      BIGINT,
    space_id              TEXT,
    title                 TEXT    NOT NULL,
    description           TEXT    NOT NULL DEFAULT '',
    -- The host application's own JSON describing the change, opaque to Gatehouse.
    payload               TEXT,
    -- access: the change itself (JSON), applied by Gatehouse when approved, and the
    -- diff it caused, measured in the approval's transaction.
    change                TEXT,
    diff                  TEXT,
    author_kind           TEXT    NOT NULL,
    author_id             TEXT    NOT NULL,
    author_name           TEXT    NOT NULL DEFAULT '',
    state                 TEXT    NOT NULL,
    approvals_required    INTEGER NOT NULL DEFAULT 1,
    approvals             INTEGER NOT NULL DEFAULT 0,
    -- applied / failed: the application's reference and message.
    reference             TEXT    NOT NULL DEFAULT '',
    message               TEXT    NOT NULL DEFAULT '',
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    version               BIGINT  NOT NULL DEFAULT 1,
    CONSTRAINT proposals_pkey PRIMARY KEY (id),
    CONSTRAINT proposals_org_fkey FOREIGN KEY (org_id) REFERENCES organizations (id) ON DELETE CASCADE,
    CONSTRAINT proposals_org_id_key UNIQUE (org_id, id),
    -- Nothing crosses a workspace: its proposals go with it.
    CONSTRAINT proposals_workspace_fkey FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE,
    CONSTRAINT proposals_environment_fkey FOREIGN KEY (workspace_id, environment_id) REFERENCES environments (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT proposals_target_environment_fkey FOREIGN KEY (workspace_id, target_environment_id) REFERENCES environments (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT proposals_kind_check CHECK (kind IN ('change', 'promote', 'access')),
    CONSTRAINT proposals_state_check CHECK (state IN ('open', 'approved', 'rejected', 'withdrawn', 'applied', 'failed')),
    CONSTRAINT proposals_shape_check CHECK (
        (kind = 'change' AND workspace_id IS NOT NULL AND target_environment_id IS NULL AND change IS NULL AND resource_type IS NOT NULL)
     OR (kind = 'promote' AND workspace_id IS NOT NULL AND environment_id IS NOT NULL AND target_environment_id IS NOT NULL
         AND environment_id <> target_environment_id AND resource_type IS NOT NULL AND resource_id IS NOT NULL AND change IS NULL)
     OR (kind = 'access' AND change IS NOT NULL AND environment_id IS NULL AND target_environment_id IS NULL AND resource_type IS NULL)),
    CONSTRAINT proposals_resource_type_check CHECK (resource_type IS NULL OR resource_type IN ('source', 'destination', 'model', 'parent_model', 'sync', 'audience')),
    CONSTRAINT proposals_title_check CHECK (title <> ''),
    CONSTRAINT proposals_approvals_check CHECK (approvals >= 0 AND approvals_required BETWEEN 1 AND 10),
    CONSTRAINT proposals_payload_check CHECK (payload IS NULL OR length(payload) <= 262144)
);
CREATE INDEX proposals_org_idx ON proposals (org_id, id);
CREATE INDEX proposals_workspace_idx ON proposals (workspace_id, id);
CREATE INDEX proposals_state_idx ON proposals (org_id, state, id);
CREATE INDEX proposals_author_idx ON proposals (org_id, author_id, id);
CREATE INDEX proposals_resource_idx ON proposals (workspace_id, resource_type, resource_id);

-- One review per reviewer and proposal: the key refuses a second.
CREATE TABLE proposal_reviews (
    org_id        TEXT   NOT NULL,
    proposal_id   TEXT   NOT NULL,
    reviewer_id   TEXT   NOT NULL,
    reviewer_kind TEXT   NOT NULL,
    reviewer_name TEXT   NOT NULL DEFAULT '',
    verdict       TEXT   NOT NULL,
    comment       TEXT   NOT NULL DEFAULT '',
    at            BIGINT NOT NULL,
    CONSTRAINT proposal_reviews_pkey PRIMARY KEY (proposal_id, reviewer_id),
    CONSTRAINT proposal_reviews_proposal_fkey FOREIGN KEY (org_id, proposal_id) REFERENCES proposals (org_id, id) ON DELETE CASCADE,
    CONSTRAINT proposal_reviews_verdict_check CHECK (verdict IN ('approve', 'reject'))
);

-- A proposal's history is its audit events.
CREATE INDEX audit_events_proposal_idx ON audit_events (org_id, target_id, seq) WHERE target_kind = 'proposal';
