package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type resourceRow struct {
	ID            string  `db:"id"`
	WorkspaceID   string  `db:"workspace_id"`
	Type          string  `db:"type"`
	ExternalID    string  `db:"external_id"`
	Name          string  `db:"name"`
	EnvironmentID *string `db:"environment_id"`
	SpaceID       *string `db:"space_id"`
	CreatedAt     int64   `db:"created_at"`
	UpdatedAt     int64   `db:"updated_at"`
	Version       int64   `db:"version"`
}

const resourceColsR = `r.id, r.workspace_id, r.type, r.external_id, r.name, r.environment_id, r.space_id, r.created_at, r.updated_at, r.version`

func (r resourceRow) resource() core.Resource {
	return core.Resource{ID: r.ID, WorkspaceID: r.WorkspaceID, Type: core.ResourceType(r.Type), ExternalID: r.ExternalID,
		Name: r.Name, EnvironmentID: str(r.EnvironmentID), SpaceID: str(r.SpaceID),
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version}
}

func validResource(r core.Resource) error {
	if !r.Type.Valid() {
		return core.Invalidf("resource type %q is not one of %v", r.Type, core.ResourceTypes)
	}
	if strings.TrimSpace(r.ExternalID) == "" {
		return core.Invalidf("a resource needs its application's id (external_id)")
	}
	if len(r.ExternalID) > 512 || len(r.Name) > 512 {
		return core.Invalidf("resource external_id and name are limited to 512 characters")
	}
	return nil
}

func resourceDetails(r core.Resource) map[string]any {
	d := map[string]any{"workspace_id": r.WorkspaceID, "type": string(r.Type), "external_id": r.ExternalID, "name": r.Name}
	if r.EnvironmentID != "" {
		d["environment_id"] = r.EnvironmentID
	}
	if r.SpaceID != "" {
		d["space_id"] = r.SpaceID
	}
	return d
}

// CreateResource registers a resource in a workspace of the org. Its environment
// and space must be the workspace's own (composite foreign keys hold it).
func (s *SQL) CreateResource(ctx context.Context, actor core.Actor, orgID string, r core.Resource) (core.Resource, error) {
	if err := validResource(r); err != nil {
		return core.Resource{}, err
	}
	now := s.now()
	r.ID, r.CreatedAt, r.UpdatedAt, r.Version = s.NewID(), fromMicros(now), fromMicros(now), 1
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.checkWorkspace(ctx, orgID, r.WorkspaceID); err != nil {
			return err
		}
		if err := t.resourcePlace(ctx, r); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO resources (id, workspace_id, type, external_id, name, environment_id, space_id, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.WorkspaceID, string(r.Type), r.ExternalID, r.Name,
			nullStr(r.EnvironmentID), nullStr(r.SpaceID), now, now, r.Version); err != nil {
			return s.wrapf(err, "%s %q", r.Type, r.ExternalID)
		}
		return t.audit(ctx, orgID, actor, "resource.create", "resource", r.ID, resourceDetails(r))
	})
	if err != nil {
		return core.Resource{}, err
	}
	return r, nil
}

// resourcePlace checks that a resource's environment and space are its workspace's,
// for a clear error; the composite foreign keys are the guarantee.
func (t *tx) resourcePlace(ctx context.Context, r core.Resource) error {
	var n int
	if r.EnvironmentID != "" {
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM environments WHERE workspace_id = ? AND id = ?`, r.WorkspaceID, r.EnvironmentID); err != nil {
			return err
		}
		if n == 0 {
			return notFound("environment", r.EnvironmentID)
		}
	}
	if r.SpaceID != "" {
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM spaces WHERE workspace_id = ? AND id = ?`, r.WorkspaceID, r.SpaceID); err != nil {
			return err
		}
		if n == 0 {
			return notFound("space", r.SpaceID)
		}
	}
	return nil
}

func (t *tx) getResource(ctx context.Context, orgID, id string, lock bool) (core.Resource, error) {
	var r resourceRow
	q := `SELECT ` + resourceColsR + ` FROM resources r JOIN workspaces w ON w.id = r.workspace_id WHERE w.org_id = ? AND r.id = ?`
	if lock {
		q += t.forUpdate("r")
	}
	if err := t.get(ctx, &r, q, orgID, id); err != nil {
		return core.Resource{}, orNotFound(err, "resource", id)
	}
	return r.resource(), nil
}

// GetResource finds a resource of the org by id.
func (s *SQL) GetResource(ctx context.Context, orgID, id string) (core.Resource, error) {
	var r core.Resource
	err := s.read(ctx, func(t *tx) error {
		var err error
		r, err = t.getResource(ctx, orgID, id, false)
		return err
	})
	return r, err
}

// GetResourceByExternalID finds a resource by the application's own id.
func (s *SQL) GetResourceByExternalID(ctx context.Context, orgID, workspaceID string, typ core.ResourceType, externalID string) (core.Resource, error) {
	var r resourceRow
	err := s.read(ctx, func(t *tx) error {
		return orNotFound(t.get(ctx, &r, `SELECT `+resourceColsR+` FROM resources r JOIN workspaces w ON w.id = r.workspace_id
			WHERE w.org_id = ? AND r.workspace_id = ? AND r.type = ? AND r.external_id = ?`, orgID, workspaceID, string(typ), externalID),
			string(typ), externalID)
	})
	if err != nil {
		return core.Resource{}, err
	}
	return r.resource(), nil
}

// UpdateResource renames or moves a resource (name, environment, space) through fn;
// its id, workspace, type and external id cannot change.
func (s *SQL) UpdateResource(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.Resource) error) (core.Resource, error) {
	var out core.Resource
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.getResource(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		r := old
		if err := fn(&r); err != nil {
			return err
		}
		if r.ID != old.ID || r.WorkspaceID != old.WorkspaceID || r.Type != old.Type || r.ExternalID != old.ExternalID {
			return core.Invalidf("a resource's id, workspace, type and external_id cannot change")
		}
		if err := validResource(r); err != nil {
			return err
		}
		if err := t.resourcePlace(ctx, r); err != nil {
			return err
		}
		r.CreatedAt, r.UpdatedAt, r.Version = old.CreatedAt, fromMicros(t.s.now()), old.Version+1
		if _, err := t.exec(ctx, `UPDATE resources SET name = ?, environment_id = ?, space_id = ?, updated_at = ?, version = ? WHERE id = ?`,
			r.Name, nullStr(r.EnvironmentID), nullStr(r.SpaceID), micros(r.UpdatedAt), r.Version, id); err != nil {
			return s.wrapf(err, "%s %q", r.Type, r.ExternalID)
		}
		out = r
		return t.audit(ctx, orgID, actor, "resource.update", "resource", id, resourceDetails(r))
	})
	return out, err
}

// DeleteResource unregisters a resource.
func (s *SQL) DeleteResource(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		r, err := t.getResource(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM resources WHERE id = ?`, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "resource.delete", "resource", id, resourceDetails(r))
	})
}

// ListResources lists a workspace's resources by id, filtered by type, environment, space.
func (s *SQL) ListResources(ctx context.Context, orgID, workspaceID string, q ResourceQuery) ([]core.Resource, error) {
	query := `SELECT ` + resourceColsR + ` FROM resources r JOIN workspaces w ON w.id = r.workspace_id
		WHERE w.org_id = ? AND r.workspace_id = ? AND r.id > ?`
	args := []any{orgID, workspaceID, q.After}
	if q.Type != "" {
		query += ` AND r.type = ?`
		args = append(args, string(q.Type))
	}
	if q.EnvironmentID != "" {
		query += ` AND r.environment_id = ?`
		args = append(args, q.EnvironmentID)
	}
	if q.SpaceID != "" {
		query += ` AND r.space_id = ?`
		args = append(args, q.SpaceID)
	}
	query += ` ORDER BY r.id LIMIT ?`
	args = append(args, q.limit())
	var rows []resourceRow
	err := s.read(ctx, func(t *tx) error {
		if err := t.checkWorkspace(ctx, orgID, workspaceID); err != nil {
			return err
		}
		return t.sel(ctx, &rows, query, args...)
	})
	if err != nil {
		return nil, err
	}
	out := make([]core.Resource, len(rows))
	for i, r := range rows {
		out[i] = r.resource()
	}
	return out, nil
}

// ResourcesByExternalID implements Batches. The keys are joined as a VALUES
// table, so that each is one probe of resources_external_key (workspace, type,
// external id); IN lists per column would read every resource of each workspace.
func (s *SQL) ResourcesByExternalID(ctx context.Context, orgID string, keys []ResourceKey) (map[ResourceKey]core.Resource, error) {
	out := map[ResourceKey]core.Resource{}
	seen := map[ResourceKey]bool{}
	var uniq []ResourceKey
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	const perQuery = 300 // 3 parameters each
	err := s.read(ctx, func(t *tx) error {
		for len(uniq) > 0 {
			part := uniq[:min(perQuery, len(uniq))]
			uniq = uniq[len(part):]
			args := make([]any, 0, 3*len(part)+1)
			for _, k := range part {
				args = append(args, k.WorkspaceID, string(k.Type), k.ExternalID)
			}
			args = append(args, orgID)
			var rows []resourceRow
			if err := t.sel(ctx, &rows, `SELECT `+resourceColsR+` FROM (VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(part)), ", ")+`) k
				JOIN resources r ON r.workspace_id = k.column1 AND r.type = k.column2 AND r.external_id = k.column3
				JOIN workspaces w ON w.id = r.workspace_id
				WHERE w.org_id = ?`, args...); err != nil {
				return err
			}
			for _, r := range rows {
				res := r.resource()
				out[ResourceKey{res.WorkspaceID, res.Type, res.ExternalID}] = res
			}
		}
		return nil
	})
	return out, err
}
