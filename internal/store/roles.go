package store

import (
	"context"
	"encoding/json"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type customRoleRow struct {
	ID          string `db:"id"`
	OrgID       string `db:"org_id"`
	Name        string `db:"name"`
	Description string `db:"description"`
	Rules       string `db:"rules"`
	CreatedAt   int64  `db:"created_at"`
	Version     int64  `db:"version"`
}

const customRoleCols = `id, org_id, name, description, rules, created_at, version`

func (r customRoleRow) role() (core.CustomRole, error) {
	cr := core.CustomRole{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Description: r.Description,
		CreatedAt: fromMicros(r.CreatedAt), Version: r.Version}
	if err := json.Unmarshal([]byte(r.Rules), &cr.Rules); err != nil {
		return cr, err
	}
	return cr, nil
}

func validCustomRole(r core.CustomRole) error {
	if err := validName("custom role name", r.Name, 200); err != nil {
		return err
	}
	if _, ok := core.BuiltinRole(r.Name); ok {
		return core.Invalidf("custom role name %q is taken by a pre-built role", r.Name)
	}
	if len(r.Description) > 2000 {
		return core.Invalidf("custom role description is longer than 2000 characters")
	}
	if len(r.Rules) == 0 {
		return core.Invalidf("a custom role needs at least one rule")
	}
	if len(r.Rules) > 500 {
		return core.Invalidf("a custom role has at most 500 rules")
	}
	for i, rule := range r.Rules {
		if err := rule.Validate(); err != nil {
			return core.Invalidf("rule %d: %v", i+1, err)
		}
	}
	return nil
}

func rolesOf(rows []customRoleRow) ([]core.CustomRole, error) {
	out := make([]core.CustomRole, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = r.role(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CreateCustomRole creates a custom role; names are unique per org, case-insensitively,
// and may not be a pre-built role's.
func (s *SQL) CreateCustomRole(ctx context.Context, actor core.Actor, r core.CustomRole) (core.CustomRole, error) {
	if err := validCustomRole(r); err != nil {
		return core.CustomRole{}, err
	}
	rules, err := json.Marshal(r.Rules)
	if err != nil {
		return core.CustomRole{}, err
	}
	r.ID, r.CreatedAt, r.Version = s.NewID(), fromMicros(s.now()), 1
	err = s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO custom_roles (`+customRoleCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.OrgID, r.Name, r.Description, string(rules), micros(r.CreatedAt), r.Version); err != nil {
			return s.wrapf(err, "custom role %q", r.Name)
		}
		return t.audit(ctx, r.OrgID, actor, "custom_role.create", "custom_role", r.ID, map[string]any{"name": r.Name, "rules": len(r.Rules)})
	})
	if err != nil {
		return core.CustomRole{}, err
	}
	return r, nil
}

func (t *tx) getCustomRole(ctx context.Context, orgID, idOrName string, lock bool) (core.CustomRole, error) {
	var r customRoleRow
	var err error
	if lock {
		err = t.get(ctx, &r, `SELECT `+customRoleCols+` FROM custom_roles WHERE org_id = ? AND id = ?`+t.forUpdate(), orgID, idOrName)
	} else {
		err = t.get(ctx, &r, `SELECT `+customRoleCols+` FROM custom_roles WHERE org_id = ? AND (id = ? OR lower(name) = lower(?))
			ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, orgID, idOrName, idOrName, idOrName)
	}
	if err != nil {
		return core.CustomRole{}, orNotFound(err, "custom role", idOrName)
	}
	return r.role()
}

// GetCustomRole finds a custom role by id or name (case-insensitive).
func (s *SQL) GetCustomRole(ctx context.Context, orgID, idOrName string) (core.CustomRole, error) {
	var r core.CustomRole
	err := s.read(ctx, func(t *tx) error {
		var err error
		r, err = t.getCustomRole(ctx, orgID, idOrName, false)
		return err
	})
	return r, err
}

// ListCustomRoles lists the org's custom roles by id.
func (s *SQL) ListCustomRoles(ctx context.Context, orgID string) ([]core.CustomRole, error) {
	var rows []customRoleRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+customRoleCols+` FROM custom_roles WHERE org_id = ? ORDER BY id`, orgID)
	}); err != nil {
		return nil, err
	}
	return rolesOf(rows)
}

// UpdateCustomRole changes a custom role's name, description or rules through fn.
// Grants naming the role see the change at their next decision.
func (s *SQL) UpdateCustomRole(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.CustomRole) error) (core.CustomRole, error) {
	var out core.CustomRole
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.getCustomRole(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		r := old
		r.Rules = append([]core.Rule(nil), old.Rules...)
		if err := fn(&r); err != nil {
			return err
		}
		if r.ID != old.ID || r.OrgID != old.OrgID {
			return core.Invalidf("a custom role's id and organization cannot change")
		}
		if err := validCustomRole(r); err != nil {
			return err
		}
		rules, err := json.Marshal(r.Rules)
		if err != nil {
			return err
		}
		r.CreatedAt, r.Version = old.CreatedAt, old.Version+1
		if _, err := t.exec(ctx, `UPDATE custom_roles SET name = ?, description = ?, rules = ?, version = ? WHERE id = ?`,
			r.Name, r.Description, string(rules), r.Version, id); err != nil {
			return s.wrapf(err, "custom role %q", r.Name)
		}
		out = r
		return t.audit(ctx, orgID, actor, "custom_role.update", "custom_role", id, map[string]any{"name": r.Name, "rules": len(r.Rules)})
	})
	return out, err
}

// DeleteCustomRole deletes a custom role and the grants naming it.
func (s *SQL) DeleteCustomRole(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		r, err := t.getCustomRole(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM custom_roles WHERE id = ?`, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "custom_role.delete", "custom_role", id, map[string]any{"name": r.Name})
	})
}
