package store

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

type userRow struct {
	ID          string  `db:"id"`
	OrgID       string  `db:"org_id"`
	UserName    string  `db:"user_name"`
	Email       string  `db:"email"`
	DisplayName string  `db:"display_name"`
	GivenName   string  `db:"given_name"`
	FamilyName  string  `db:"family_name"`
	ExternalID  *string `db:"external_id"`
	Active      bool    `db:"active"`
	Source      string  `db:"source"`
	DirectoryID *string `db:"directory_id"`
	CreatedAt   int64   `db:"created_at"`
	UpdatedAt   int64   `db:"updated_at"`
	Version     int64   `db:"version"`
}

const userCols = `id, org_id, user_name, email, display_name, given_name, family_name, external_id, active, source, directory_id, created_at, updated_at, version`

// userColsU is userCols qualified by the alias u, for joins.
const userColsU = `u.id, u.org_id, u.user_name, u.email, u.display_name, u.given_name, u.family_name, u.external_id, u.active, u.source, u.directory_id, u.created_at, u.updated_at, u.version`

func (r userRow) user() core.User {
	return core.User{
		ID: r.ID, OrgID: r.OrgID, UserName: r.UserName, Email: r.Email, DisplayName: r.DisplayName,
		GivenName: r.GivenName, FamilyName: r.FamilyName, ExternalID: str(r.ExternalID), Active: r.Active,
		Source: core.UserSource(r.Source), DirectoryID: str(r.DirectoryID),
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version,
	}
}

func toUserRow(u core.User) userRow {
	return userRow{
		ID: u.ID, OrgID: u.OrgID, UserName: u.UserName, Email: u.Email, DisplayName: u.DisplayName,
		GivenName: u.GivenName, FamilyName: u.FamilyName, ExternalID: nullStr(u.ExternalID), Active: u.Active,
		Source: string(u.Source), DirectoryID: nullStr(u.DirectoryID),
		CreatedAt: micros(u.CreatedAt), UpdatedAt: micros(u.UpdatedAt), Version: u.Version,
	}
}

func usersOf(rows []userRow) []core.User {
	out := make([]core.User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out
}

// userDetails is what the audit log keeps of a user: their own fields only.
func userDetails(u core.User) map[string]any {
	d := map[string]any{"user_name": u.UserName, "active": u.Active, "source": string(u.Source)}
	if u.Email != "" {
		d["email"] = u.Email
	}
	if u.DisplayName != "" {
		d["display_name"] = u.DisplayName
	}
	if u.ExternalID != "" {
		d["external_id"] = u.ExternalID
	}
	if u.DirectoryID != "" {
		d["directory_id"] = u.DirectoryID
	}
	return d
}

func validUser(u core.User) error {
	if strings.TrimSpace(u.UserName) == "" {
		return core.Invalidf("userName must not be empty")
	}
	if len(u.UserName) > 512 {
		return core.Invalidf("userName is longer than 512 characters")
	}
	for _, f := range []struct{ name, v string }{
		{"email", u.Email}, {"display name", u.DisplayName}, {"given name", u.GivenName},
		{"family name", u.FamilyName}, {"externalId", u.ExternalID},
	} {
		if len(f.v) > 512 {
			return core.Invalidf("%s is longer than 512 characters", f.name)
		}
	}
	switch u.Source {
	case core.SourceSCIM, core.SourceSSO, core.SourceInvited:
	default:
		return core.Invalidf("user source %q is not one of scim, sso, invited", u.Source)
	}
	return nil
}

func (t *tx) insertUser(ctx context.Context, r userRow) error {
	_, err := t.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.OrgID, r.UserName, r.Email, r.DisplayName, r.GivenName, r.FamilyName, r.ExternalID,
		r.Active, r.Source, r.DirectoryID, r.CreatedAt, r.UpdatedAt, r.Version)
	if err != nil {
		// The only unique rule a new row can break is its userName; a foreign key, its
		// org or directory.
		return t.s.wrapf(err, "user %q", r.UserName)
	}
	return nil
}

// getUser reads a user of the org, locking its row for update when lock is set.
func (t *tx) getUser(ctx context.Context, orgID, id string, lock bool) (core.User, error) {
	var r userRow
	q := `SELECT ` + userCols + ` FROM users WHERE org_id = ? AND id = ?`
	if lock {
		q += t.forUpdate()
	}
	if err := t.get(ctx, &r, q, orgID, id); err != nil {
		return core.User{}, orNotFound(err, "user", id)
	}
	return r.user(), nil
}

// CreateUser creates a user with a new id; the org, and the directory if any, must exist.
func (s *SQL) CreateUser(ctx context.Context, actor core.Actor, u core.User) (core.User, error) {
	if err := validUser(u); err != nil {
		return core.User{}, err
	}
	now := s.Now()
	u.ID, u.CreatedAt, u.UpdatedAt, u.Version = s.NewID(), now, now, 1
	// Round-trip precision: the schema keeps microseconds.
	u.CreatedAt, u.UpdatedAt = fromMicros(micros(now)), fromMicros(micros(now))
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.insertUser(ctx, toUserRow(u)); err != nil {
			return err
		}
		return t.audit(ctx, u.OrgID, actor, "user.create", "user", u.ID, userDetails(u))
	})
	if err != nil {
		return core.User{}, err
	}
	return u, nil
}

// GetUser finds a user of the org by id.
func (s *SQL) GetUser(ctx context.Context, orgID, id string) (core.User, error) {
	var r userRow
	if err := orNotFound(s.readOne(ctx, &r, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, orgID, id), "user", id); err != nil {
		return core.User{}, err
	}
	return r.user(), nil
}

// GetUserByUserName finds a user by userName, case-insensitively (the unique index
// is on lower(user_name), so this is one index lookup).
func (s *SQL) GetUserByUserName(ctx context.Context, orgID, userName string) (core.User, error) {
	var r userRow
	err := orNotFound(s.readOne(ctx, &r, `SELECT `+userCols+` FROM users WHERE org_id = ? AND lower(user_name) = lower(?)`,
		orgID, userName), "user", userName)
	if err != nil {
		return core.User{}, err
	}
	return r.user(), nil
}

// GetUserByEmail finds the oldest user with that email, case-insensitively.
func (s *SQL) GetUserByEmail(ctx context.Context, orgID, email string) (core.User, error) {
	var r userRow
	err := s.read(ctx, func(t *tx) error {
		if strings.TrimSpace(email) == "" {
			return notFound("user with email", email)
		}
		return orNotFound(t.get(ctx, &r, `SELECT `+userCols+` FROM users WHERE org_id = ? AND lower(email) = lower(?)
			ORDER BY id LIMIT 1`, orgID, email), "user with email", email)
	})
	if err != nil {
		return core.User{}, err
	}
	return r.user(), nil
}

// UpdateUser reads the user, lets fn change it and writes it back with a new version.
// fn may return an error (core.ErrVersion after comparing Version with an If-Match,
// say) to change nothing. Id, org and creation time cannot change; deactivating the
// last active org admin is core.ErrLastAdmin.
func (s *SQL) UpdateUser(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.User) error) (core.User, error) {
	var out core.User
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.getUser(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		u := old
		if err := fn(&u); err != nil {
			return err
		}
		if u.ID != old.ID || u.OrgID != old.OrgID {
			return core.Invalidf("a user's id and organization cannot change")
		}
		if err := validUser(u); err != nil {
			return err
		}
		if old.Active && !u.Active {
			admin, err := t.isOrgAdmin(ctx, orgID, id)
			if err != nil {
				return err
			}
			if admin {
				if err := t.lockOrg(ctx, orgID); err != nil {
					return err
				}
				if err := t.keepsAnAdmin(ctx, orgID, id); err != nil {
					return err
				}
			}
		}
		u.CreatedAt = old.CreatedAt
		u.UpdatedAt = fromMicros(t.s.now())
		u.Version = old.Version + 1
		r := toUserRow(u)
		res, err := t.exec(ctx, `UPDATE users SET user_name = ?, email = ?, display_name = ?, given_name = ?, family_name = ?,
			external_id = ?, active = ?, source = ?, directory_id = ?, updated_at = ?, version = ?
			WHERE org_id = ? AND id = ? AND version = ?`,
			r.UserName, r.Email, r.DisplayName, r.GivenName, r.FamilyName, r.ExternalID, r.Active, r.Source,
			r.DirectoryID, r.UpdatedAt, r.Version, orgID, id, old.Version)
		if err != nil {
			return s.wrapf(err, "user %q", u.UserName)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.ErrVersion // unreachable with the row lock; kept as a guard
		}
		action := "user.update"
		switch {
		case old.Active && !u.Active:
			action = "user.deactivate"
		case !old.Active && u.Active:
			action = "user.reactivate"
		}
		out = u
		return t.audit(ctx, orgID, actor, action, "user", id, userChanges(old, u))
	})
	return out, err
}

// userChanges lists the fields an update changed, with their new values.
func userChanges(old, u core.User) map[string]any {
	d := map[string]any{"user_name": u.UserName}
	set := func(name string, changed bool, v any) {
		if changed {
			d[name] = v
		}
	}
	var changed []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"user_name", old.UserName, u.UserName}, {"email", old.Email, u.Email},
		{"display_name", old.DisplayName, u.DisplayName}, {"given_name", old.GivenName, u.GivenName},
		{"family_name", old.FamilyName, u.FamilyName}, {"external_id", old.ExternalID, u.ExternalID},
		{"active", old.Active, u.Active}, {"source", old.Source, u.Source}, {"directory_id", old.DirectoryID, u.DirectoryID},
	} {
		if f.a != f.b {
			changed = append(changed, f.name)
			set(f.name, true, f.b)
		}
	}
	d["changed"] = changed
	return d
}

// DeleteUser removes the user; their memberships and admin role go with them
// (foreign keys cascade). Deleting the last active org admin is core.ErrLastAdmin.
func (s *SQL) DeleteUser(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		u, err := t.getUser(ctx, orgID, id, true)
		if err != nil {
			return err
		}
		if u.Active {
			admin, err := t.isOrgAdmin(ctx, orgID, id)
			if err != nil {
				return err
			}
			if admin {
				if err := t.lockOrg(ctx, orgID); err != nil {
					return err
				}
				if err := t.keepsAnAdmin(ctx, orgID, id); err != nil {
					return err
				}
			}
		}
		if _, err := t.exec(ctx, `DELETE FROM users WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "user.delete", "user", id, userDetails(u))
	})
}

// ListUsers lists users by id; Search matches a substring of userName, email or
// display name, case-insensitively.
func (s *SQL) ListUsers(ctx context.Context, orgID string, q UserQuery) ([]core.User, error) {
	query := `SELECT ` + userCols + ` FROM users WHERE org_id = ? AND id > ?`
	args := []any{orgID, q.After}
	if q.Search != "" {
		pat := "%" + likeEscape(strings.ToLower(q.Search)) + "%"
		query += ` AND (lower(user_name) LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\' OR lower(display_name) LIKE ? ESCAPE '\')`
		args = append(args, pat, pat, pat)
	}
	if q.Active != nil {
		query += ` AND active = ?`
		args = append(args, *q.Active)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, q.limit())
	var rows []userRow
	if err := s.read(ctx, func(t *tx) error { return t.sel(ctx, &rows, query, args...) }); err != nil {
		return nil, err
	}
	return usersOf(rows), nil
}

// CountUsers counts the org's users.
func (s *SQL) CountUsers(ctx context.Context, orgID string) (int, error) {
	return s.countInOrg(ctx, "users", orgID)
}

// CountGroups counts the org's user groups.
func (s *SQL) CountGroups(ctx context.Context, orgID string) (int, error) {
	return s.countInOrg(ctx, "user_groups", orgID)
}

// CountMappings counts the org's group mappings.
func (s *SQL) CountMappings(ctx context.Context, orgID string) (int, error) {
	return s.countInOrg(ctx, "group_mappings", orgID)
}

// countInOrg counts the rows of an org in one of the tables above (a constant, never
// caller input), with an index on org_id.
func (s *SQL) countInOrg(ctx context.Context, table, orgID string) (int, error) {
	var n int
	err := s.read(ctx, func(t *tx) error {
		return t.get(ctx, &n, `SELECT COUNT(*) FROM `+table+` WHERE org_id = ?`, orgID)
	})
	return n, err
}
