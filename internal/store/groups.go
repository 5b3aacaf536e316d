package store

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type groupRow struct {
	ID          string `db:"id"`
	OrgID       string `db:"org_id"`
	Name        string `db:"name"`
	Description string `db:"description"`
	CreatedAt   int64  `db:"created_at"`
	Version     int64  `db:"version"`
}

const groupCols = `id, org_id, name, description, created_at, version`
const groupColsG = `g.id, g.org_id, g.name, g.description, g.created_at, g.version`

func (r groupRow) group() core.UserGroup {
	return core.UserGroup{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Description: r.Description,
		CreatedAt: fromMicros(r.CreatedAt), Version: r.Version}
}

func groupsOf(rows []groupRow) []core.UserGroup {
	out := make([]core.UserGroup, len(rows))
	for i, r := range rows {
		out[i] = r.group()
	}
	return out
}

func validGroup(g core.UserGroup) error {
	if err := validName("user group name", g.Name, 200); err != nil {
		return err
	}
	if len(g.Description) > 2000 {
		return core.Invalidf("user group description is longer than 2000 characters")
	}
	return nil
}

// CreateGroup creates a user group; names are unique per org, case-insensitively.
func (s *SQL) CreateGroup(ctx context.Context, actor core.Actor, g core.UserGroup) (core.UserGroup, error) {
	if err := validGroup(g); err != nil {
		return core.UserGroup{}, err
	}
	now := s.now()
	g.ID, g.CreatedAt, g.Version = s.NewID(), fromMicros(now), 1
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO user_groups (`+groupCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			g.ID, g.OrgID, g.Name, g.Description, now, g.Version); err != nil {
			return s.wrapf(err, "user group %q", g.Name)
		}
		return t.audit(ctx, g.OrgID, actor, "group.create", "group", g.ID, map[string]any{"name": g.Name})
	})
	if err != nil {
		return core.UserGroup{}, err
	}
	return g, nil
}

func (t *tx) getGroup(ctx context.Context, orgID, idOrName string, lock bool) (core.UserGroup, error) {
	var r groupRow
	q := `SELECT ` + groupCols + ` FROM user_groups WHERE org_id = ? AND (id = ? OR lower(name) = lower(?))
		ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`
	if lock {
		q = `SELECT ` + groupCols + ` FROM user_groups WHERE org_id = ? AND id = ?` + t.forUpdate()
		if err := t.get(ctx, &r, q, orgID, idOrName); err != nil {
			return core.UserGroup{}, orNotFound(err, "user group", idOrName)
		}
		return r.group(), nil
	}
	if err := t.get(ctx, &r, q, orgID, idOrName, idOrName, idOrName); err != nil {
		return core.UserGroup{}, orNotFound(err, "user group", idOrName)
	}
	return r.group(), nil
}

// GetGroup finds a user group by id or name (case-insensitive).
func (s *SQL) GetGroup(ctx context.Context, orgID, idOrName string) (core.UserGroup, error) {
	var g core.UserGroup
	err := s.read(ctx, func(t *tx) error {
		var err error
		g, err = t.getGroup(ctx, orgID, idOrName, false)
		return err
	})
	return g, err
}

// ListGroups lists the org's user groups by id.
func (s *SQL) ListGroups(ctx context.Context, orgID string, p Page) ([]core.UserGroup, error) {
	var rows []groupRow
	if err := s.read(ctx, func(t *tx) error {
		return t.sel(ctx, &rows, `SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id > ? ORDER BY id LIMIT ?`,
			orgID, p.After, p.limit())
	}); err != nil {
		return nil, err
	}
	return groupsOf(rows), nil
}

// UpdateGroup changes a group's name or description through fn.
func (s *SQL) UpdateGroup(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.UserGroup) error) (core.UserGroup, error) {
	var out core.UserGroup
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.getGroup(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		g := old
		if err := fn(&g); err != nil {
			return err
		}
		if g.ID != old.ID || g.OrgID != old.OrgID {
			return core.Invalidf("a user group's id and organization cannot change")
		}
		if err := validGroup(g); err != nil {
			return err
		}
		g.CreatedAt, g.Version = old.CreatedAt, old.Version+1
		if _, err := t.exec(ctx, `UPDATE user_groups SET name = ?, description = ?, version = ? WHERE org_id = ? AND id = ?`,
			g.Name, g.Description, g.Version, orgID, id); err != nil {
			return s.wrapf(err, "user group %q", g.Name)
		}
		d := map[string]any{"name": g.Name}
		if old.Name != g.Name {
			d["old_name"] = old.Name
		}
		if old.Description != g.Description {
			d["description"] = g.Description
		}
		out = g
		return t.audit(ctx, orgID, actor, "group.update", "group", id, d)
	})
	return out, err
}

// DeleteGroup deletes a user group with its memberships, mappings, grants and
// space assignments (foreign keys cascade).
func (s *SQL) DeleteGroup(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		g, err := t.getGroup(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM user_groups WHERE org_id = ? AND id = ?`, orgID, g.ID); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "group.delete", "group", g.ID, map[string]any{"name": g.Name})
	})
}

// AddGroupMember adds a direct member; adding a member again is a no-op.
func (s *SQL) AddGroupMember(ctx context.Context, actor core.Actor, orgID, groupID, userID string) error {
	return s.inTx(ctx, func(t *tx) error {
		g, u, err := t.groupAndUser(ctx, orgID, groupID, userID)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `INSERT INTO user_group_members (org_id, group_id, user_id, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, orgID, groupID, userID, t.s.now())
		if err != nil {
			// A foreign key: the user or group was deleted meanwhile.
			return s.wrapf(err, "user group %q or user %q", groupID, userID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return t.audit(ctx, orgID, actor, "group.member.add", "group", groupID, membersChanged(
			map[string]any{"group": g.Name, "user_id": userID, "user_name": u.UserName}, []string{userID}, nil, false))
	})
}

// RemoveGroupMember removes a direct member; removing a non-member is a no-op.
// Memberships through IdP groups are not touched: they follow the IdP.
func (s *SQL) RemoveGroupMember(ctx context.Context, actor core.Actor, orgID, groupID, userID string) error {
	return s.inTx(ctx, func(t *tx) error {
		g, u, err := t.groupAndUser(ctx, orgID, groupID, userID)
		if err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM user_group_members WHERE org_id = ? AND group_id = ? AND user_id = ?`, orgID, groupID, userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return t.audit(ctx, orgID, actor, "group.member.remove", "group", groupID, membersChanged(
			map[string]any{"group": g.Name, "user_id": userID, "user_name": u.UserName}, nil, []string{userID}, false))
	})
}

// groupAndUser reads a group and a user of the org, by id, for a membership change.
func (t *tx) groupAndUser(ctx context.Context, orgID, groupID, userID string) (groupRow, userRow, error) {
	var g groupRow
	if err := t.get(ctx, &g, `SELECT `+groupCols+` FROM user_groups WHERE org_id = ? AND id = ?`, orgID, groupID); err != nil {
		return g, userRow{}, orNotFound(err, "user group", groupID)
	}
	var u userRow
	if err := t.get(ctx, &u, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, orgID, userID); err != nil {
		return g, u, orNotFound(err, "user", userID)
	}
	return g, u, nil
}
