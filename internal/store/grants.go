package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type grantRow struct {
	ID           string  `db:"id"`
	OrgID        string  `db:"org_id"`
	UserGroupID  string  `db:"user_group_id"`
	WorkspaceID  string  `db:"workspace_id"`
	BuiltinRole  *string `db:"builtin_role"`
	CustomRoleID *string `db:"custom_role_id"`
	CreatedAt    int64   `db:"created_at"`
}

const grantCols = `id, org_id, user_group_id, workspace_id, builtin_role, custom_role_id, created_at`

func (r grantRow) grant() core.Grant {
	return core.Grant{ID: r.ID, OrgID: r.OrgID, UserGroupID: r.UserGroupID, WorkspaceID: r.WorkspaceID,
		Role: str(r.BuiltinRole), CustomRoleID: str(r.CustomRoleID), CreatedAt: fromMicros(r.CreatedAt)}
}

// CreateGrant binds a user group to a role in a workspace, optionally only in some of
// its environments. The role is a pre-built role name (Role) or a custom role
// (CustomRoleID), not both. The same group, workspace and role is granted once.
func (s *SQL) CreateGrant(ctx context.Context, actor core.Actor, g core.Grant) (core.Grant, error) {
	switch {
	case g.Role != "" && g.CustomRoleID != "":
		return core.Grant{}, core.Invalidf("a grant names a pre-built role or a custom role, not both")
	case g.Role == "" && g.CustomRoleID == "":
		return core.Grant{}, core.Invalidf("a grant needs a role")
	case g.Role != "" && !core.IsBuiltinRole(g.Role):
		return core.Grant{}, core.Invalidf("role %q is not a pre-built role (%v); name a custom role by its id", g.Role, core.BuiltinRoles)
	}
	if g.UserGroupID == "" || g.WorkspaceID == "" {
		return core.Grant{}, core.Invalidf("a grant needs a user group and a workspace")
	}
	g.EnvironmentIDs = dedupe(g.EnvironmentIDs)
	g.ID, g.CreatedAt = s.NewID(), fromMicros(s.now())
	err := s.inTx(ctx, func(t *tx) error {
		var grp groupRow
		if err := t.get(ctx, &grp, `SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`, g.OrgID, g.UserGroupID); err != nil {
			return orNotFound(err, "user group", g.UserGroupID)
		}
		var ws workspaceRow
		if err := t.get(ctx, &ws, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND id = ?`, g.OrgID, g.WorkspaceID); err != nil {
			return orNotFound(err, "workspace", g.WorkspaceID)
		}
		roleName := g.Role
		if g.CustomRoleID != "" {
			var name string
			if err := t.get(ctx, &name, `SELECT name FROM custom_roles WHERE org_id = ? AND id = ?`, g.OrgID, g.CustomRoleID); err != nil {
				return orNotFound(err, "custom role", g.CustomRoleID)
			}
			roleName = name
		}
		if len(g.EnvironmentIDs) > 0 {
			var found []string
			if err := t.selIn(ctx, &found, `SELECT id FROM environments WHERE workspace_id = ? AND id IN (?)`, g.WorkspaceID, g.EnvironmentIDs); err != nil {
				return err
			}
			if len(found) != len(g.EnvironmentIDs) {
				ok := map[string]bool{}
				for _, id := range found {
					ok[id] = true
				}
				for _, id := range g.EnvironmentIDs {
					if !ok[id] {
						return notFound("environment of workspace "+ws.Slug, id)
					}
				}
			}
		}
		if _, err := t.exec(ctx, `INSERT INTO grants (`+grantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.OrgID, g.UserGroupID, g.WorkspaceID, nullStr(g.Role), nullStr(g.CustomRoleID), micros(g.CreatedAt)); err != nil {
			return s.wrapf(err, "grant of %s to %q in workspace %s", roleName, grp.Name, ws.Slug)
		}
		for _, e := range g.EnvironmentIDs {
			if _, err := t.exec(ctx, `INSERT INTO grant_environments (grant_id, workspace_id, environment_id) VALUES (?, ?, ?)`,
				g.ID, g.WorkspaceID, e); err != nil {
				return s.wrapf(err, "environment %q", e)
			}
		}
		d := grantDetails(g)
		d["group"], d["workspace"], d["role_name"] = grp.Name, ws.Slug, roleName
		return t.audit(ctx, g.OrgID, actor, "grant.create", "grant", g.ID, d)
	})
	if err != nil {
		return core.Grant{}, err
	}
	return g, nil
}

func grantDetails(g core.Grant) map[string]any {
	d := map[string]any{"group_id": g.UserGroupID, "workspace_id": g.WorkspaceID}
	if g.Role != "" {
		d["role"] = g.Role
	}
	if g.CustomRoleID != "" {
		d["custom_role_id"] = g.CustomRoleID
	}
	if len(g.EnvironmentIDs) > 0 {
		d["environment_ids"] = g.EnvironmentIDs
	}
	return d
}

// grantsWhere loads grants and their environments.
func (t *tx) grantsWhere(ctx context.Context, where string, args ...any) ([]core.Grant, error) {
	var rows []grantRow
	if err := t.selIn(ctx, &rows, `SELECT `+grantCols+` FROM grants WHERE `+where+` ORDER BY id`, args...); err != nil {
		return nil, err
	}
	out := make([]core.Grant, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var envs []struct {
		GrantID       string `db:"grant_id"`
		EnvironmentID string `db:"environment_id"`
	}
	for _, part := range chunks(ids, 500) {
		var es []struct {
			GrantID       string `db:"grant_id"`
			EnvironmentID string `db:"environment_id"`
		}
		if err := t.selIn(ctx, &es, `SELECT ge.grant_id, ge.environment_id FROM grant_environments ge
			JOIN environments e ON e.id = ge.environment_id WHERE ge.grant_id IN (?) ORDER BY ge.grant_id, e.position`, part); err != nil {
			return nil, err
		}
		envs = append(envs, es...)
	}
	byGrant := map[string][]string{}
	for _, e := range envs {
		byGrant[e.GrantID] = append(byGrant[e.GrantID], e.EnvironmentID)
	}
	for i, r := range rows {
		out[i] = r.grant()
		out[i].EnvironmentIDs = byGrant[r.ID]
	}
	return out, nil
}

// GetGrant finds a grant of the org by id.
func (s *SQL) GetGrant(ctx context.Context, orgID, id string) (core.Grant, error) {
	var g core.Grant
	err := s.read(ctx, func(t *tx) error {
		gs, err := t.grantsWhere(ctx, `org_id = ? AND id = ?`, orgID, id)
		if err != nil {
			return err
		}
		if len(gs) == 0 {
			return notFound("grant", id)
		}
		g = gs[0]
		return nil
	})
	return g, err
}

// ListGrants lists the org's grants by id, filtered by workspace and user group.
func (s *SQL) ListGrants(ctx context.Context, orgID string, q GrantQuery) ([]core.Grant, error) {
	where, args := `org_id = ?`, []any{orgID}
	if q.WorkspaceID != "" {
		where += ` AND workspace_id = ?`
		args = append(args, q.WorkspaceID)
	}
	if q.GroupID != "" {
		where += ` AND user_group_id = ?`
		args = append(args, q.GroupID)
	}
	var gs []core.Grant
	err := s.read(ctx, func(t *tx) error {
		var err error
		gs, err = t.grantsWhere(ctx, where, args...)
		return err
	})
	return gs, err
}

// DeleteGrant revokes a grant.
func (s *SQL) DeleteGrant(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		gs, err := t.grantsWhere(ctx, `org_id = ? AND id = ?`, orgID, id)
		if err != nil {
			return err
		}
		if len(gs) == 0 {
			return notFound("grant", id)
		}
		if _, err := t.exec(ctx, `DELETE FROM grants WHERE id = ?`, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "grant.delete", "grant", id, grantDetails(gs[0]))
	})
}
