package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type workspaceRow struct {
	ID        string `db:"id"`
	OrgID     string `db:"org_id"`
	Slug      string `db:"slug"`
	Name      string `db:"name"`
	CreatedAt int64  `db:"created_at"`
	Version   int64  `db:"version"`
}

const workspaceCols = `id, org_id, slug, name, created_at, version`

func (r workspaceRow) workspace(envs []core.Environment) core.Workspace {
	if envs == nil {
		envs = []core.Environment{}
	}
	return core.Workspace{ID: r.ID, OrgID: r.OrgID, Slug: r.Slug, Name: r.Name, Environments: envs,
		CreatedAt: fromMicros(r.CreatedAt), Version: r.Version}
}

type environmentRow struct {
	ID                string `db:"id"`
	WorkspaceID       string `db:"workspace_id"`
	Name              string `db:"name"`
	Position          int    `db:"position"`
	RequiresApproval  bool   `db:"requires_approval"`
	ApprovalsRequired int    `db:"approvals_required"`
}

const environmentCols = `id, workspace_id, name, position, requires_approval, approvals_required`

func (r environmentRow) env() core.Environment {
	return core.Environment{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, Position: r.Position,
		RequiresApproval: r.RequiresApproval, ApprovalsRequired: r.ApprovalsRequired}
}

// validEnvironmentName: environment names are named in decision requests and CLI
// flags, so they follow the slug rule too.
func validEnvironmentName(name string) error {
	if err := validSlug("environment", name); err != nil {
		return core.Invalidf("environment name %q is not valid: use 1 to 63 lowercase letters, digits and dashes", name)
	}
	return nil
}

// CreateWorkspace creates a workspace with its environments, positions 0..n-1 in the
// order given (the promotion path).
func (s *SQL) CreateWorkspace(ctx context.Context, actor core.Actor, orgID, slug, name string, environments []string) (core.Workspace, error) {
	if err := validSlug("workspace", slug); err != nil {
		return core.Workspace{}, err
	}
	if err := validName("workspace name", name, 200); err != nil {
		return core.Workspace{}, err
	}
	seen := map[string]bool{}
	for _, e := range environments {
		if err := validEnvironmentName(e); err != nil {
			return core.Workspace{}, err
		}
		if seen[e] {
			return core.Workspace{}, core.Invalidf("environment %q is listed twice", e)
		}
		seen[e] = true
	}
	now := s.now()
	w := workspaceRow{ID: s.NewID(), OrgID: orgID, Slug: slug, Name: name, CreatedAt: now, Version: 1}
	envs := make([]core.Environment, len(environments))
	for i, e := range environments {
		envs[i] = core.Environment{ID: s.NewID(), WorkspaceID: w.ID, Name: e, Position: i, ApprovalsRequired: 1}
	}
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO workspaces (`+workspaceCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			w.ID, w.OrgID, w.Slug, w.Name, w.CreatedAt, w.Version); err != nil {
			return s.wrapf(err, "workspace %q", slug)
		}
		for _, e := range envs {
			if _, err := t.exec(ctx, `INSERT INTO environments (id, workspace_id, name, position) VALUES (?, ?, ?, ?)`,
				e.ID, e.WorkspaceID, e.Name, e.Position); err != nil {
				return err
			}
		}
		return t.audit(ctx, orgID, actor, "workspace.create", "workspace", w.ID,
			map[string]any{"slug": slug, "name": name, "environments": environments})
	})
	if err != nil {
		return core.Workspace{}, err
	}
	return w.workspace(envs), nil
}

func (t *tx) environments(ctx context.Context, workspaceIDs ...string) (map[string][]core.Environment, error) {
	out := map[string][]core.Environment{}
	if len(workspaceIDs) == 0 {
		return out, nil
	}
	var rows []environmentRow
	if err := t.selIn(ctx, &rows, `SELECT `+environmentCols+` FROM environments WHERE workspace_id IN (?)
		ORDER BY workspace_id, position`, workspaceIDs); err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.WorkspaceID] = append(out[r.WorkspaceID], r.env())
	}
	return out, nil
}

// workspacesOf completes workspace rows with their environments, in one query.
func (t *tx) workspacesOf(ctx context.Context, rows []workspaceRow) ([]core.Workspace, error) {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	envs, err := t.environments(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]core.Workspace, len(rows))
	for i, r := range rows {
		out[i] = r.workspace(envs[r.ID])
	}
	return out, nil
}

// getWorkspace reads a workspace of the org by id or slug, with its environments,
// in one query.
func (t *tx) getWorkspace(ctx context.Context, orgID, idOrSlug string) (core.Workspace, error) {
	var rows []struct {
		workspaceRow
		EnvID        *string `db:"e_id"`
		EnvName      *string `db:"e_name"`
		EnvPosition  *int    `db:"e_position"`
		EnvApproval  *bool   `db:"e_requires_approval"`
		EnvApprovals *int    `db:"e_approvals_required"`
	}
	if err := t.sel(ctx, &rows, `SELECT w.id, w.org_id, w.slug, w.name, w.created_at, w.version,
			e.id AS e_id, e.name AS e_name, e.position AS e_position,
			e.requires_approval AS e_requires_approval, e.approvals_required AS e_approvals_required
		FROM workspaces w LEFT JOIN environments e ON e.workspace_id = w.id
		WHERE w.org_id = ? AND (w.id = ? OR w.slug = ?)
		ORDER BY CASE WHEN w.id = ? THEN 0 ELSE 1 END, w.id, e.position`, orgID, idOrSlug, idOrSlug, idOrSlug); err != nil {
		return core.Workspace{}, err
	}
	if len(rows) == 0 {
		return core.Workspace{}, notFound("workspace", idOrSlug)
	}
	w := rows[0].workspaceRow
	var envs []core.Environment
	for _, r := range rows {
		if r.ID != w.ID || r.EnvID == nil {
			continue
		}
		envs = append(envs, core.Environment{ID: *r.EnvID, WorkspaceID: w.ID, Name: *r.EnvName, Position: *r.EnvPosition,
			RequiresApproval: *r.EnvApproval, ApprovalsRequired: *r.EnvApprovals})
	}
	return w.workspace(envs), nil
}

// lockWorkspace checks that a workspace belongs to the org and, on PostgreSQL, locks
// its row so that changes to its environments are serialized.
func (t *tx) lockWorkspace(ctx context.Context, orgID, id string) (workspaceRow, error) {
	var r workspaceRow
	err := t.get(ctx, &r, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND id = ?`+t.forUpdate(), orgID, id)
	return r, orNotFound(err, "workspace", id)
}

// checkWorkspace checks that a workspace belongs to the org, without locking it.
func (t *tx) checkWorkspace(ctx context.Context, orgID, id string) error {
	var n int
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM workspaces WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
		return err
	}
	if n == 0 {
		return notFound("workspace", id)
	}
	return nil
}

// GetWorkspace finds a workspace of the org by id or slug.
func (s *SQL) GetWorkspace(ctx context.Context, orgID, idOrSlug string) (core.Workspace, error) {
	var w core.Workspace
	err := s.read(ctx, func(t *tx) error {
		var err error
		w, err = t.getWorkspace(ctx, orgID, idOrSlug)
		return err
	})
	return w, err
}

// ListWorkspaces lists the org's workspaces by id, with their environments.
func (s *SQL) ListWorkspaces(ctx context.Context, orgID string, p Page) ([]core.Workspace, error) {
	var out []core.Workspace
	err := s.read(ctx, func(t *tx) error {
		var rows []workspaceRow
		if err := t.sel(ctx, &rows, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`,
			orgID, p.After, p.limit()); err != nil {
			return err
		}
		var err error
		out, err = t.workspacesOf(ctx, rows)
		return err
	})
	return out, err
}

// RenameWorkspace changes a workspace's display name; its slug stays.
func (s *SQL) RenameWorkspace(ctx context.Context, actor core.Actor, orgID, id, name string) (core.Workspace, error) {
	if err := validName("workspace name", name, 200); err != nil {
		return core.Workspace{}, err
	}
	var w core.Workspace
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.lockWorkspace(ctx, orgID, id)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE workspaces SET name = ?, version = version + 1 WHERE id = ?`, name, id); err != nil {
			return err
		}
		if w, err = t.getWorkspace(ctx, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "workspace.rename", "workspace", id, map[string]any{"slug": old.Slug, "name": name, "old_name": old.Name})
	})
	return w, err
}

// DeleteWorkspace deletes a workspace with everything in it (environments, spaces,
// resources, grants).
func (s *SQL) DeleteWorkspace(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		w, err := t.lockWorkspace(ctx, orgID, id)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM workspaces WHERE id = ?`, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "workspace.delete", "workspace", id, map[string]any{"slug": w.Slug, "name": w.Name})
	})
}

// AddEnvironment appends an environment at the end of the promotion path.
func (s *SQL) AddEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, name string) (core.Environment, error) {
	if err := validEnvironmentName(name); err != nil {
		return core.Environment{}, err
	}
	var e core.Environment
	err := s.inTx(ctx, func(t *tx) error {
		w, err := t.lockWorkspace(ctx, orgID, workspaceID)
		if err != nil {
			return err
		}
		var next int
		if err := t.get(ctx, &next, `SELECT COALESCE(MAX(position) + 1, 0) FROM environments WHERE workspace_id = ?`, workspaceID); err != nil {
			return err
		}
		e = core.Environment{ID: t.s.NewID(), WorkspaceID: workspaceID, Name: name, Position: next, ApprovalsRequired: 1}
		if _, err := t.exec(ctx, `INSERT INTO environments (id, workspace_id, name, position) VALUES (?, ?, ?, ?)`,
			e.ID, e.WorkspaceID, e.Name, e.Position); err != nil {
			return s.wrapf(err, "environment %q", name)
		}
		if _, err := t.exec(ctx, `UPDATE workspaces SET version = version + 1 WHERE id = ?`, workspaceID); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "environment.create", "environment", e.ID,
			map[string]any{"workspace": w.Slug, "name": name, "position": next})
	})
	return e, err
}

// UpdateEnvironment changes an environment's approval rule through fn (its
// RequiresApproval and ApprovalsRequired; nothing else may change), in one
// transaction that locks the workspace, bumps its version and audits
// environment.update with the rule as it now is. ApprovalsRequired is 1 to
// core.MaxApprovals. A change that changes nothing writes nothing.
func (s *SQL) UpdateEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string, fn func(*core.Environment) error) (core.Environment, error) {
	var out core.Environment
	err := s.inTx(ctx, func(t *tx) error {
		w, err := t.lockWorkspace(ctx, orgID, workspaceID)
		if err != nil {
			return err
		}
		var r environmentRow
		if err := t.get(ctx, &r, `SELECT `+environmentCols+` FROM environments WHERE workspace_id = ? AND id = ?`, workspaceID, id); err != nil {
			return orNotFound(err, "environment", id)
		}
		old := r.env()
		e := old
		if err := fn(&e); err != nil {
			return err
		}
		if e.ID != old.ID || e.WorkspaceID != old.WorkspaceID || e.Name != old.Name || e.Position != old.Position {
			return core.Invalidf("only an environment's approval rule can be changed")
		}
		if e.ApprovalsRequired < 1 || e.ApprovalsRequired > core.MaxApprovals {
			return core.Invalidf("approvals_required must be from 1 to %d, not %d", core.MaxApprovals, e.ApprovalsRequired)
		}
		out = e
		if e == old {
			return nil
		}
		if _, err := t.exec(ctx, `UPDATE environments SET requires_approval = ?, approvals_required = ? WHERE id = ?`,
			e.RequiresApproval, e.ApprovalsRequired, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE workspaces SET version = version + 1 WHERE id = ?`, workspaceID); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "environment.update", "environment", id, map[string]any{
			"workspace_id": workspaceID, "workspace": w.Slug, "name": e.Name,
			"requires_approval": e.RequiresApproval, "approvals_required": e.ApprovalsRequired,
			"old_requires_approval": old.RequiresApproval, "old_approvals_required": old.ApprovalsRequired})
	})
	return out, err
}

type spaceRow struct {
	ID          string `db:"id"`
	WorkspaceID string `db:"workspace_id"`
	Name        string `db:"name"`
	CreatedAt   int64  `db:"created_at"`
}

const spaceColsS = `s.id, s.workspace_id, s.name, s.created_at`

func (r spaceRow) space() core.Space {
	return core.Space{ID: r.ID, WorkspaceID: r.WorkspaceID, Name: r.Name, CreatedAt: fromMicros(r.CreatedAt)}
}

// CreateSpace creates a space in a workspace of the org; names are unique per workspace.
func (s *SQL) CreateSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, name string) (core.Space, error) {
	if err := validName("space name", name, 200); err != nil {
		return core.Space{}, err
	}
	sp := core.Space{ID: s.NewID(), WorkspaceID: workspaceID, Name: name, CreatedAt: fromMicros(s.now())}
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.checkWorkspace(ctx, orgID, workspaceID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO spaces (id, workspace_id, name, created_at) VALUES (?, ?, ?, ?)`,
			sp.ID, workspaceID, name, micros(sp.CreatedAt)); err != nil {
			return s.wrapf(err, "space %q", name)
		}
		return t.audit(ctx, orgID, actor, "space.create", "space", sp.ID, map[string]any{"workspace_id": workspaceID, "name": name})
	})
	if err != nil {
		return core.Space{}, err
	}
	return sp, nil
}

// getSpace reads a space of a workspace of the org by id or name.
func (t *tx) getSpace(ctx context.Context, orgID, workspaceID, idOrName string) (core.Space, error) {
	var r spaceRow
	err := t.get(ctx, &r, `SELECT `+spaceColsS+` FROM spaces s JOIN workspaces w ON w.id = s.workspace_id
		WHERE w.org_id = ? AND s.workspace_id = ? AND (s.id = ? OR s.name = ?)
		ORDER BY CASE WHEN s.id = ? THEN 0 ELSE 1 END LIMIT 1`, orgID, workspaceID, idOrName, idOrName, idOrName)
	if err != nil {
		return core.Space{}, orNotFound(err, "space", idOrName)
	}
	return r.space(), nil
}

// GetSpace finds a space of the workspace by id or name.
func (s *SQL) GetSpace(ctx context.Context, orgID, workspaceID, idOrName string) (core.Space, error) {
	var sp core.Space
	err := s.read(ctx, func(t *tx) error {
		var err error
		sp, err = t.getSpace(ctx, orgID, workspaceID, idOrName)
		return err
	})
	return sp, err
}

// ListSpaces lists a workspace's spaces by id.
func (s *SQL) ListSpaces(ctx context.Context, orgID, workspaceID string) ([]core.Space, error) {
	var rows []spaceRow
	err := s.read(ctx, func(t *tx) error {
		if _, err := t.getWorkspace(ctx, orgID, workspaceID); err != nil {
			return err
		}
		return t.sel(ctx, &rows, `SELECT `+spaceColsS+` FROM spaces s WHERE s.workspace_id = ? ORDER BY s.id`, workspaceID)
	})
	if err != nil {
		return nil, err
	}
	out := make([]core.Space, len(rows))
	for i, r := range rows {
		out[i] = r.space()
	}
	return out, nil
}

// DeleteSpace deletes a space. Resources in it are refused: they would become
// visible to everyone, so they must be moved or deleted first.
func (s *SQL) DeleteSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, spaceID string) error {
	return s.inTx(ctx, func(t *tx) error {
		sp, err := t.getSpace(ctx, orgID, workspaceID, spaceID)
		if err != nil || sp.ID != spaceID {
			return orNotFound(err, "space", spaceID)
		}
		var n int
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM resources WHERE space_id = ?`, spaceID); err != nil {
			return err
		}
		if n > 0 {
			return core.Invalidf("space %q still holds %d resources: move or delete them first", sp.Name, n)
		}
		if _, err := t.exec(ctx, `DELETE FROM spaces WHERE id = ?`, spaceID); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "space.delete", "space", spaceID, map[string]any{"workspace_id": workspaceID, "name": sp.Name})
	})
}

// AssignSpace makes a space visible to a user group of the same org (idempotent).
func (s *SQL) AssignSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, spaceID, groupID string) error {
	return s.inTx(ctx, func(t *tx) error {
		sp, g, err := t.spaceAndGroup(ctx, orgID, workspaceID, spaceID, groupID)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `INSERT INTO space_groups (space_id, workspace_id, org_id, user_group_id, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, spaceID, workspaceID, orgID, groupID, t.s.now())
		if err != nil {
			return s.wrapf(err, "space %q or user group %q", spaceID, groupID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return t.audit(ctx, orgID, actor, "space.assign", "space", spaceID,
			map[string]any{"workspace_id": workspaceID, "space": sp.Name, "group_id": groupID, "group": g.Name})
	})
}

// UnassignSpace takes a space's visibility from a user group; a no-op when not assigned.
func (s *SQL) UnassignSpace(ctx context.Context, actor core.Actor, orgID, workspaceID, spaceID, groupID string) error {
	return s.inTx(ctx, func(t *tx) error {
		sp, g, err := t.spaceAndGroup(ctx, orgID, workspaceID, spaceID, groupID)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM space_groups WHERE space_id = ? AND user_group_id = ?`, spaceID, groupID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return t.audit(ctx, orgID, actor, "space.unassign", "space", spaceID,
			map[string]any{"workspace_id": workspaceID, "space": sp.Name, "group_id": groupID, "group": g.Name})
	})
}

func (t *tx) spaceAndGroup(ctx context.Context, orgID, workspaceID, spaceID, groupID string) (core.Space, groupRow, error) {
	sp, err := t.getSpace(ctx, orgID, workspaceID, spaceID)
	if err != nil {
		return sp, groupRow{}, err
	}
	if sp.ID != spaceID {
		return sp, groupRow{}, notFound("space", spaceID)
	}
	var g groupRow
	if err := t.get(ctx, &g, `SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`, orgID, groupID); err != nil {
		return sp, g, orNotFound(err, "user group", groupID)
	}
	return sp, g, nil
}

// SpaceGroups lists the user groups assigned to a space, by group id.
func (s *SQL) SpaceGroups(ctx context.Context, orgID, workspaceID, spaceID string) ([]core.UserGroup, error) {
	var rows []groupRow
	err := s.read(ctx, func(t *tx) error {
		sp, err := t.getSpace(ctx, orgID, workspaceID, spaceID)
		if err != nil {
			return err
		}
		if sp.ID != spaceID {
			return notFound("space", spaceID)
		}
		return t.sel(ctx, &rows, `SELECT `+groupColsG+` FROM space_groups sg JOIN user_groups g ON g.id = sg.user_group_id
			WHERE sg.space_id = ? ORDER BY g.id`, spaceID)
	})
	if err != nil {
		return nil, err
	}
	return groupsOf(rows), nil
}

// WorkspacesByRef implements Batches: ids and slugs each in IN lists (both are
// index probes), an id winning over a slug as in GetWorkspace.
func (s *SQL) WorkspacesByRef(ctx context.Context, orgID string, refs []string) (map[string]core.Workspace, error) {
	refs = dedupe(refs)
	out := map[string]core.Workspace{}
	err := s.read(ctx, func(t *tx) error {
		byID := map[string]workspaceRow{}
		bySlug := map[string]workspaceRow{}
		for _, part := range chunks(refs, batchChunk) {
			var rows []workspaceRow
			if err := t.selIn(ctx, &rows, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				byID[r.ID] = r
			}
			rows = nil
			if err := t.selIn(ctx, &rows, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND slug IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				bySlug[r.Slug] = r
			}
		}
		found := map[string]workspaceRow{}
		for _, ref := range refs {
			if r, ok := byID[ref]; ok {
				found[ref] = r
			} else if r, ok := bySlug[ref]; ok {
				found[ref] = r
			}
		}
		var ids []string
		for _, r := range found {
			ids = append(ids, r.ID)
		}
		envs := map[string][]core.Environment{}
		for _, part := range chunks(dedupe(ids), batchChunk) {
			es, err := t.environments(ctx, part...)
			if err != nil {
				return err
			}
			for id, e := range es {
				envs[id] = e
			}
		}
		for ref, r := range found {
			out[ref] = r.workspace(envs[r.ID])
		}
		return nil
	})
	return out, err
}
