package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// An environment renamed, moved along the promotion path, or deleted. Each runs in
// one transaction that locks the workspace, bumps its version (what caches of the
// workspace compare) and audits the change.

// lockedEnvironments reads a locked workspace's environments in promotion order
// and the one with id.
func (t *tx) lockedEnvironments(ctx context.Context, workspaceID, id string) ([]environmentRow, int, error) {
	var rows []environmentRow
	if err := t.sel(ctx, &rows, `SELECT `+environmentCols+` FROM environments WHERE workspace_id = ? ORDER BY position`, workspaceID); err != nil {
		return nil, 0, err
	}
	for i, r := range rows {
		if r.ID == id {
			return rows, i, nil
		}
	}
	return nil, 0, notFound("environment", id)
}

// bumpWorkspace marks a workspace changed.
func (t *tx) bumpWorkspace(ctx context.Context, workspaceID string) error {
	_, err := t.exec(ctx, `UPDATE workspaces SET version = version + 1 WHERE id = ?`, workspaceID)
	return err
}

// RenameEnvironment gives an environment a new name (the slug rule, unique in the
// workspace: core.ErrConflict otherwise). Grants and resources keep it: they name
// it by id.
func (s *SQL) RenameEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id, name string) (core.Environment, error) {
	if err := validEnvironmentName(name); err != nil {
		return core.Environment{}, err
	}
	var out core.Environment
	err := s.inTx(ctx, func(t *tx) error {
		w, err := t.lockWorkspace(ctx, orgID, workspaceID)
		if err != nil {
			return err
		}
		rows, i, err := t.lockedEnvironments(ctx, workspaceID, id)
		if err != nil {
			return err
		}
		old := rows[i].env()
		out = old
		out.Name = name
		if old.Name == name {
			return nil
		}
		if _, err := t.exec(ctx, `UPDATE environments SET name = ? WHERE id = ?`, name, id); err != nil {
			return s.wrapf(err, "environment %q", name)
		}
		if err := t.bumpWorkspace(ctx, workspaceID); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "environment.rename", "environment", id, map[string]any{
			"workspace_id": workspaceID, "workspace": w.Slug, "name": name, "old_name": old.Name})
	})
	return out, err
}

// MoveEnvironment puts an environment at position (0 is the start of the promotion
// path) and shifts the ones between; positions stay 0..n-1. It returns the
// workspace's environments in their new order.
func (s *SQL) MoveEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string, position int) ([]core.Environment, error) {
	var out []core.Environment
	err := s.inTx(ctx, func(t *tx) error {
		w, err := t.lockWorkspace(ctx, orgID, workspaceID)
		if err != nil {
			return err
		}
		rows, i, err := t.lockedEnvironments(ctx, workspaceID, id)
		if err != nil {
			return err
		}
		if position < 0 || position >= len(rows) {
			return core.Invalidf("position must be from 0 to %d, not %d", len(rows)-1, position)
		}
		moved := rows[i]
		order := append(append([]environmentRow{}, rows[:i]...), rows[i+1:]...)
		order = append(order[:position], append([]environmentRow{moved}, order[position:]...)...)
		out = make([]core.Environment, len(order))
		for p, r := range order {
			r.Position = p
			out[p] = r.env()
		}
		if position == i {
			return nil
		}
		// Positions are unique per workspace, checked row by row on some engines:
		// park every row on a negative position first, then give each its place.
		if _, err := t.exec(ctx, `UPDATE environments SET position = -1 - position WHERE workspace_id = ?`, workspaceID); err != nil {
			return err
		}
		for p, r := range order {
			if _, err := t.exec(ctx, `UPDATE environments SET position = ? WHERE id = ?`, p, r.ID); err != nil {
				return err
			}
		}
		if err := t.bumpWorkspace(ctx, workspaceID); err != nil {
			return err
		}
		names := make([]string, len(order))
		for p, r := range order {
			names[p] = r.Name
		}
		return t.audit(ctx, orgID, actor, "environment.move", "environment", id, map[string]any{
			"workspace_id": workspaceID, "workspace": w.Slug, "name": moved.Name, "position": position, "old_position": i, "order": names})
	})
	return out, err
}

// DeleteEnvironment removes an environment from the promotion path; the ones after
// it move up. It refuses (core.ErrInvalid, changing nothing) while resources are
// registered in it, grants are limited to it or open proposals name it: deleting
// it would take them along, and a grant that loses its last environment would
// reach every environment.
func (s *SQL) DeleteEnvironment(ctx context.Context, actor core.Actor, orgID, workspaceID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		w, err := t.lockWorkspace(ctx, orgID, workspaceID)
		if err != nil {
			return err
		}
		rows, i, err := t.lockedEnvironments(ctx, workspaceID, id)
		if err != nil {
			return err
		}
		env := rows[i]
		var n int
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM resources WHERE workspace_id = ? AND environment_id = ?`, workspaceID, id); err != nil {
			return err
		}
		if n > 0 {
			return core.Invalidf("environment %q still holds %d resources: move or delete them first", env.Name, n)
		}
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM grant_environments WHERE workspace_id = ? AND environment_id = ?`, workspaceID, id); err != nil {
			return err
		}
		if n > 0 {
			return core.Invalidf("%d grants are limited to environment %q: remove them or grant every environment first", n, env.Name)
		}
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM proposals WHERE workspace_id = ? AND (environment_id = ? OR target_environment_id = ?) AND state IN ('open', 'approved')`,
			workspaceID, id, id); err != nil {
			return err
		}
		if n > 0 {
			return core.Invalidf("%d open proposals are about environment %q: decide or withdraw them first", n, env.Name)
		}
		if _, err := t.exec(ctx, `DELETE FROM environments WHERE id = ?`, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE environments SET position = -1 - position WHERE workspace_id = ? AND position > ?`, workspaceID, env.Position); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE environments SET position = -2 - position WHERE workspace_id = ? AND position < 0`, workspaceID); err != nil {
			return err
		}
		if err := t.bumpWorkspace(ctx, workspaceID); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "environment.delete", "environment", id, map[string]any{
			"workspace_id": workspaceID, "workspace": w.Slug, "name": env.Name, "position": env.Position})
	})
}
