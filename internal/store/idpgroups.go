package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type idpGroupRow struct {
	ID           string  `db:"id"`
	OrgID        string  `db:"org_id"`
	DirectoryID  *string `db:"directory_id"`
	ConnectionID *string `db:"connection_id"`
	ExternalID   *string `db:"external_id"`
	DisplayName  string  `db:"display_name"`
	CreatedAt    int64   `db:"created_at"`
	UpdatedAt    int64   `db:"updated_at"`
	Version      int64   `db:"version"`
}

const idpGroupCols = `id, org_id, directory_id, connection_id, external_id, display_name, created_at, updated_at, version`

func (r idpGroupRow) idpGroup() core.IdPGroup {
	return core.IdPGroup{ID: r.ID, OrgID: r.OrgID, DirectoryID: str(r.DirectoryID), ConnectionID: str(r.ConnectionID),
		ExternalID: str(r.ExternalID), DisplayName: r.DisplayName, CreatedAt: fromMicros(r.CreatedAt),
		UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version}
}

// memberChunk bounds the rows of one multi-row statement (4 parameters a row stays
// far below SQLite's and PostgreSQL's parameter limits).
const memberChunk = 250

func validIdPGroup(g core.IdPGroup) error {
	if (g.DirectoryID == "") == (g.ConnectionID == "") {
		return core.Invalidf("an IdP group belongs to exactly one SCIM directory or SSO connection")
	}
	if err := validName("IdP group display name", g.DisplayName, 512); err != nil {
		return err
	}
	if len(g.ExternalID) > 512 {
		return core.Invalidf("IdP group externalId is longer than 512 characters")
	}
	return nil
}

// CreateIdPGroup creates an IdP group of a directory or connection of the org.
// Display names are unique per directory (case-insensitively), external ids per connection.
func (s *SQL) CreateIdPGroup(ctx context.Context, actor core.Actor, g core.IdPGroup) (core.IdPGroup, error) {
	if err := validIdPGroup(g); err != nil {
		return core.IdPGroup{}, err
	}
	now := s.now()
	g.ID, g.CreatedAt, g.UpdatedAt, g.Version = s.NewID(), fromMicros(now), fromMicros(now), 1
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.insertIdPGroup(ctx, g); err != nil {
			return err
		}
		return t.audit(ctx, g.OrgID, actor, "idp_group.create", "idp_group", g.ID, idpGroupDetails(g))
	})
	if err != nil {
		return core.IdPGroup{}, err
	}
	return g, nil
}

func (t *tx) insertIdPGroup(ctx context.Context, g core.IdPGroup) error {
	_, err := t.exec(ctx, `INSERT INTO idp_groups (`+idpGroupCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		g.ID, g.OrgID, nullStr(g.DirectoryID), nullStr(g.ConnectionID), nullStr(g.ExternalID), g.DisplayName,
		micros(g.CreatedAt), micros(g.UpdatedAt), g.Version)
	return t.s.wrapf(err, "IdP group %q", g.DisplayName)
}

func idpGroupDetails(g core.IdPGroup) map[string]any {
	d := map[string]any{"display_name": g.DisplayName}
	if g.ExternalID != "" {
		d["external_id"] = g.ExternalID
	}
	if g.DirectoryID != "" {
		d["directory_id"] = g.DirectoryID
	}
	if g.ConnectionID != "" {
		d["connection_id"] = g.ConnectionID
	}
	return d
}

func (t *tx) getIdPGroup(ctx context.Context, orgID, id string, lock bool) (core.IdPGroup, error) {
	var r idpGroupRow
	q := `SELECT ` + idpGroupCols + ` FROM idp_groups WHERE org_id = ? AND id = ?`
	if lock {
		q += t.forUpdate()
	}
	if err := t.get(ctx, &r, q, orgID, id); err != nil {
		return core.IdPGroup{}, orNotFound(err, "IdP group", id)
	}
	return r.idpGroup(), nil
}

// GetIdPGroup finds an IdP group of the org by id.
func (s *SQL) GetIdPGroup(ctx context.Context, orgID, id string) (core.IdPGroup, error) {
	var g core.IdPGroup
	err := s.read(ctx, func(t *tx) error {
		var err error
		g, err = t.getIdPGroup(ctx, orgID, id, false)
		return err
	})
	return g, err
}

// ListIdPGroups lists the IdP groups of one directory or connection, or of the org.
func (s *SQL) ListIdPGroups(ctx context.Context, orgID, sourceID string, p Page) ([]core.IdPGroup, error) {
	q := `SELECT ` + idpGroupCols + ` FROM idp_groups WHERE org_id = ? AND id > ?`
	args := []any{orgID, p.After}
	if sourceID != "" {
		q += ` AND (directory_id = ? OR connection_id = ?)`
		args = append(args, sourceID, sourceID)
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, p.limit())
	var rows []idpGroupRow
	if err := s.read(ctx, func(t *tx) error { return t.sel(ctx, &rows, q, args...) }); err != nil {
		return nil, err
	}
	out := make([]core.IdPGroup, len(rows))
	for i, r := range rows {
		out[i] = r.idpGroup()
	}
	return out, nil
}

// UpdateIdPGroup changes an IdP group's display name or external id through fn.
func (s *SQL) UpdateIdPGroup(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.IdPGroup) error) (core.IdPGroup, error) {
	var out core.IdPGroup
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.getIdPGroup(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		g := old
		if err := fn(&g); err != nil {
			return err
		}
		if g.ID != old.ID || g.OrgID != old.OrgID || g.DirectoryID != old.DirectoryID || g.ConnectionID != old.ConnectionID {
			return core.Invalidf("an IdP group's id, organization, directory and connection cannot change")
		}
		if err := validIdPGroup(g); err != nil {
			return err
		}
		g.CreatedAt, g.UpdatedAt, g.Version = old.CreatedAt, fromMicros(t.s.now()), old.Version+1
		if _, err := t.exec(ctx, `UPDATE idp_groups SET external_id = ?, display_name = ?, updated_at = ?, version = ?
			WHERE org_id = ? AND id = ?`, nullStr(g.ExternalID), g.DisplayName, micros(g.UpdatedAt), g.Version, orgID, id); err != nil {
			return s.wrapf(err, "IdP group %q", g.DisplayName)
		}
		d := idpGroupDetails(g)
		if old.DisplayName != g.DisplayName {
			d["old_display_name"] = old.DisplayName
		}
		out = g
		return t.audit(ctx, orgID, actor, "idp_group.update", "idp_group", id, d)
	})
	return out, err
}

// DeleteIdPGroup deletes an IdP group and its memberships. Mappings naming it stay:
// they are rules, and match again if the IdP sends the group back.
func (s *SQL) DeleteIdPGroup(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		g, err := t.getIdPGroup(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM idp_groups WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "idp_group.delete", "idp_group", id, idpGroupDetails(g))
	})
}

// ChangeIdPGroupMembers adds, then removes, members. Its statements touch only the
// users named, in chunks; an unknown user is core.ErrNotFound and changes nothing.
func (s *SQL) ChangeIdPGroupMembers(ctx context.Context, actor core.Actor, orgID, id string, add, remove []string) error {
	add, remove = dedupe(add), dedupe(remove)
	return s.inTx(ctx, func(t *tx) error {
		g, err := t.getIdPGroup(ctx, orgID, id, true) // serializes changes to one group
		if err != nil {
			return err
		}
		if err := t.usersExist(ctx, orgID, add); err != nil {
			return err
		}
		added, err := t.addIdPMembers(ctx, orgID, id, add)
		if err != nil {
			return err
		}
		removed, err := t.removeIdPMembers(ctx, id, remove)
		if err != nil {
			return err
		}
		return t.membersChanged(ctx, actor, g, added, removed, add, remove)
	})
}

// ReplaceIdPGroupMembers sets the members to exactly userIDs. Its cost is that of
// reading the current member ids once, then changing only the difference.
func (s *SQL) ReplaceIdPGroupMembers(ctx context.Context, actor core.Actor, orgID, id string, userIDs []string) error {
	userIDs = dedupe(userIDs)
	return s.inTx(ctx, func(t *tx) error {
		g, err := t.getIdPGroup(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if err := t.usersExist(ctx, orgID, userIDs); err != nil {
			return err
		}
		var current []string
		if err := t.sel(ctx, &current, `SELECT user_id FROM idp_group_members WHERE idp_group_id = ?`, id); err != nil {
			return err
		}
		want := make(map[string]bool, len(userIDs))
		for _, u := range userIDs {
			want[u] = true
		}
		have := make(map[string]bool, len(current))
		var remove []string
		for _, u := range current {
			have[u] = true
			if !want[u] {
				remove = append(remove, u)
			}
		}
		var add []string
		for _, u := range userIDs {
			if !have[u] {
				add = append(add, u)
			}
		}
		added, err := t.addIdPMembers(ctx, orgID, id, add)
		if err != nil {
			return err
		}
		removed, err := t.removeIdPMembers(ctx, id, remove)
		if err != nil {
			return err
		}
		return t.membersChanged(ctx, actor, g, added, removed, add, remove)
	})
}

// usersExist checks that every id is a user of the org, naming the first that is not.
func (t *tx) usersExist(ctx context.Context, orgID string, ids []string) error {
	for _, part := range chunks(ids, 500) {
		var found []string
		if err := t.selIn(ctx, &found, `SELECT id FROM users WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
			return err
		}
		if len(found) == len(part) {
			continue
		}
		ok := make(map[string]bool, len(found))
		for _, id := range found {
			ok[id] = true
		}
		for _, id := range part {
			if !ok[id] {
				return notFound("user", id)
			}
		}
	}
	return nil
}

func (t *tx) addIdPMembers(ctx context.Context, orgID, groupID string, ids []string) (int64, error) {
	var n int64
	now := t.s.now()
	for _, part := range chunks(ids, memberChunk) {
		q := `INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", len(part)), ", ") + ` ON CONFLICT DO NOTHING`
		args := make([]any, 0, 4*len(part))
		for _, u := range part {
			args = append(args, orgID, groupID, u, now)
		}
		res, err := t.execRaw(ctx, q, args...)
		if err != nil {
			// A user deleted since usersExist looked: a foreign key.
			return n, t.s.wrapf(err, "members of IdP group %q", groupID)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

func (t *tx) removeIdPMembers(ctx context.Context, groupID string, ids []string) (int64, error) {
	var n int64
	for _, part := range chunks(ids, 500) {
		k, err := t.execIn(ctx, `DELETE FROM idp_group_members WHERE idp_group_id = ? AND user_id IN (?)`, groupID, part)
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// membersChanged bumps the group's version (SCIM meta.version) and writes the audit
// event, when the members did change.
func (t *tx) membersChanged(ctx context.Context, actor core.Actor, g core.IdPGroup, added, removed int64, add, remove []string) error {
	if added == 0 && removed == 0 {
		return nil
	}
	if _, err := t.exec(ctx, `UPDATE idp_groups SET version = version + 1, updated_at = ? WHERE id = ?`, t.s.now(), g.ID); err != nil {
		return err
	}
	d := map[string]any{"display_name": g.DisplayName, "added": added, "removed": removed}
	// The ids themselves only while they stay readable; a bulk sync logs counts.
	if len(add)+len(remove) <= 100 {
		if len(add) > 0 {
			d["add_user_ids"] = add
		}
		if len(remove) > 0 {
			d["remove_user_ids"] = remove
		}
	}
	return t.audit(ctx, g.OrgID, actor, "idp_group.members.change", "idp_group", g.ID, d)
}

// IdPGroupMembers lists an IdP group's members by user id.
func (s *SQL) IdPGroupMembers(ctx context.Context, orgID, id string, p Page) ([]core.User, error) {
	var rows []userRow
	if err := s.read(ctx, func(t *tx) error {
		if _, err := t.getIdPGroup(ctx, orgID, id, false); err != nil {
			return err
		}
		return t.sel(ctx, &rows, `SELECT `+userColsU+` FROM idp_group_members m JOIN users u ON u.id = m.user_id
			WHERE m.idp_group_id = ? AND m.user_id > ? ORDER BY m.user_id LIMIT ?`, id, p.After, p.limit())
	}); err != nil {
		return nil, err
	}
	return usersOf(rows), nil
}

// SetConnectionGroups makes the user's IdP groups of one SSO connection exactly the
// claim values given (an IdP group per value, created on first sight, external id and
// display name both the value), leaving other sources' memberships alone.
func (s *SQL) SetConnectionGroups(ctx context.Context, actor core.Actor, orgID, connectionID, userID string, claimValues []string) error {
	values := dedupe(claimValues)
	for _, v := range values {
		if len(v) > 512 {
			return core.Invalidf("group claim value is longer than 512 characters")
		}
	}
	return s.inTx(ctx, func(t *tx) error {
		var n int
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM sso_connections WHERE org_id = ? AND id = ?`, orgID, connectionID); err != nil {
			return err
		}
		if n == 0 {
			return notFound("SSO connection", connectionID)
		}
		u, err := t.getUser(ctx, orgID, userID, false)
		if err != nil {
			return err
		}
		// The connection's groups for these values, creating the missing ones.
		byValue := map[string]string{} // claim value → IdP group id
		load := func() error {
			for _, part := range chunks(values, 500) {
				var rows []struct {
					ID         string `db:"id"`
					ExternalID string `db:"external_id"`
				}
				if err := t.selIn(ctx, &rows, `SELECT id, external_id FROM idp_groups WHERE connection_id = ? AND external_id IN (?)`,
					connectionID, part); err != nil {
					return err
				}
				for _, r := range rows {
					byValue[r.ExternalID] = r.ID
				}
			}
			return nil
		}
		if err := load(); err != nil {
			return err
		}
		created := false
		now := t.s.now()
		for _, v := range values {
			if _, ok := byValue[v]; ok {
				continue
			}
			g := core.IdPGroup{ID: t.s.NewID(), OrgID: orgID, ConnectionID: connectionID, ExternalID: v, DisplayName: v,
				CreatedAt: fromMicros(now), UpdatedAt: fromMicros(now), Version: 1}
			// Another login may create the same group at once: the unique index keeps one.
			res, err := t.exec(ctx, `INSERT INTO idp_groups (`+idpGroupCols+`) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
				g.ID, orgID, connectionID, v, v, now, now)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				created = true
				if err := t.audit(ctx, orgID, actor, "idp_group.create", "idp_group", g.ID, idpGroupDetails(g)); err != nil {
					return err
				}
			}
		}
		if created || len(byValue) < len(values) {
			if err := load(); err != nil {
				return err
			}
		}
		var current []struct {
			ID         string  `db:"id"`
			ExternalID *string `db:"external_id"`
		}
		if err := t.sel(ctx, &current, `SELECT g.id, g.external_id FROM idp_group_members m JOIN idp_groups g ON g.id = m.idp_group_id
			WHERE m.user_id = ? AND g.connection_id = ?`, userID, connectionID); err != nil {
			return err
		}
		want := map[string]bool{}
		for _, id := range byValue {
			want[id] = true
		}
		have := map[string]bool{}
		var remove, removedNames []string
		for _, c := range current {
			have[c.ID] = true
			if !want[c.ID] {
				remove = append(remove, c.ID)
				removedNames = append(removedNames, str(c.ExternalID))
			}
		}
		var addedNames []string
		for _, v := range values {
			id := byValue[v]
			if have[id] {
				continue
			}
			addedNames = append(addedNames, v)
			if _, err := t.exec(ctx, `INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at) VALUES (?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, orgID, id, userID, now); err != nil {
				return t.s.wrapf(err, "user %q", userID)
			}
		}
		for _, part := range chunks(remove, 500) {
			if _, err := t.execIn(ctx, `DELETE FROM idp_group_members WHERE user_id = ? AND idp_group_id IN (?)`, userID, part); err != nil {
				return err
			}
		}
		if len(addedNames) == 0 && len(remove) == 0 {
			return nil
		}
		d := map[string]any{"connection_id": connectionID, "user_name": u.UserName}
		if len(addedNames) > 0 {
			d["added"] = addedNames
		}
		if len(removedNames) > 0 {
			d["removed"] = removedNames
		}
		return t.audit(ctx, orgID, actor, "user.idp_groups.set", "user", userID, d)
	})
}
