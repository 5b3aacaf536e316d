package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type mappingRow struct {
	ID           string  `db:"id"`
	OrgID        string  `db:"org_id"`
	DirectoryID  *string `db:"directory_id"`
	ConnectionID *string `db:"connection_id"`
	IdPGroup     string  `db:"idp_group"`
	UserGroupID  string  `db:"user_group_id"`
	CreatedAt    int64   `db:"created_at"`
}

const mappingCols = `id, org_id, directory_id, connection_id, idp_group, user_group_id, created_at`

func (r mappingRow) mapping() core.Mapping {
	return core.Mapping{ID: r.ID, OrgID: r.OrgID, DirectoryID: str(r.DirectoryID), ConnectionID: str(r.ConnectionID),
		IdPGroup: r.IdPGroup, UserGroupID: r.UserGroupID, CreatedAt: fromMicros(r.CreatedAt)}
}

// CreateMapping maps an IdP group of one directory or connection onto a user group.
// The IdP group is a rule (id, external id or display name), checked at every read,
// so it may name a group the IdP has not sent yet.
func (s *SQL) CreateMapping(ctx context.Context, actor core.Actor, m core.Mapping) (core.Mapping, error) {
	if (m.DirectoryID == "") == (m.ConnectionID == "") {
		return core.Mapping{}, core.Invalidf("a mapping names exactly one SCIM directory or SSO connection")
	}
	if err := validName("mapping IdP group", m.IdPGroup, 512); err != nil {
		return core.Mapping{}, err
	}
	if m.UserGroupID == "" {
		return core.Mapping{}, core.Invalidf("a mapping needs a user group")
	}
	m.ID, m.CreatedAt = s.NewID(), fromMicros(s.now())
	err := s.inTx(ctx, func(t *tx) error {
		var n int
		if m.DirectoryID != "" {
			if err := t.get(ctx, &n, `SELECT COUNT(*) FROM scim_directories WHERE org_id = ? AND id = ?`, m.OrgID, m.DirectoryID); err != nil {
				return err
			}
			if n == 0 {
				return notFound("directory", m.DirectoryID)
			}
		} else {
			if err := t.get(ctx, &n, `SELECT COUNT(*) FROM sso_connections WHERE org_id = ? AND id = ?`, m.OrgID, m.ConnectionID); err != nil {
				return err
			}
			if n == 0 {
				return notFound("SSO connection", m.ConnectionID)
			}
		}
		var g groupRow
		if err := t.get(ctx, &g, `SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`, m.OrgID, m.UserGroupID); err != nil {
			return orNotFound(err, "user group", m.UserGroupID)
		}
		if _, err := t.exec(ctx, `INSERT INTO group_mappings (`+mappingCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			m.ID, m.OrgID, nullStr(m.DirectoryID), nullStr(m.ConnectionID), m.IdPGroup, m.UserGroupID, micros(m.CreatedAt)); err != nil {
			return s.wrapf(err, "mapping of %q onto %q", m.IdPGroup, g.Name)
		}
		return t.audit(ctx, m.OrgID, actor, "mapping.create", "mapping", m.ID, mappingDetails(m, g.Name))
	})
	if err != nil {
		return core.Mapping{}, err
	}
	return m, nil
}

func mappingDetails(m core.Mapping, groupName string) map[string]any {
	d := map[string]any{"idp_group": m.IdPGroup, "group_id": m.UserGroupID, "group": groupName}
	if m.DirectoryID != "" {
		d["directory_id"] = m.DirectoryID
	}
	if m.ConnectionID != "" {
		d["connection_id"] = m.ConnectionID
	}
	return d
}

func (t *tx) getMapping(ctx context.Context, orgID, id string) (core.Mapping, error) {
	var r mappingRow
	if err := t.get(ctx, &r, `SELECT `+mappingCols+` FROM group_mappings WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
		return core.Mapping{}, orNotFound(err, "mapping", id)
	}
	return r.mapping(), nil
}

// GetMapping finds a mapping of the org by id.
func (s *SQL) GetMapping(ctx context.Context, orgID, id string) (core.Mapping, error) {
	var m core.Mapping
	err := s.read(ctx, func(t *tx) error {
		var err error
		m, err = t.getMapping(ctx, orgID, id)
		return err
	})
	return m, err
}

// ListMappings lists the org's mappings by id.
func (s *SQL) ListMappings(ctx context.Context, orgID string, p Page) ([]core.Mapping, error) {
	var rows []mappingRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+mappingCols+` FROM group_mappings WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`,
			orgID, p.After, p.limit())
	}); err != nil {
		return nil, err
	}
	out := make([]core.Mapping, len(rows))
	for i, r := range rows {
		out[i] = r.mapping()
	}
	return out, nil
}

// DeleteMapping deletes a mapping; memberships through it end at once.
func (s *SQL) DeleteMapping(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		m, err := t.getMapping(ctx, orgID, id)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM group_mappings WHERE id = ?`, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "mapping.delete", "mapping", id, mappingDetails(m, ""))
	})
}
