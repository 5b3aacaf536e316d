package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/jmoiron/sqlx"
)

// scimUserCols are the users columns SCIM reads, in scimUserRow order.
const scimUserCols = `u.id, u.org_id, u.user_name, u.email, u.display_name, u.given_name, u.family_name,
	u.external_id, u.active, u.source, u.directory_id, u.created_at, u.updated_at, u.version,
	u.title, u.locale, u.timezone, u.nick_name, u.user_type, u.preferred_language, u.employee_number,
	u.department, u.cost_center, u.organization, u.division, u.manager_id, u.scim`

type scimUserRow struct {
	ID                string         `db:"id"`
	OrgID             string         `db:"org_id"`
	UserName          string         `db:"user_name"`
	Email             string         `db:"email"`
	DisplayName       string         `db:"display_name"`
	GivenName         string         `db:"given_name"`
	FamilyName        string         `db:"family_name"`
	ExternalID        sql.NullString `db:"external_id"`
	Active            bool           `db:"active"`
	Source            string         `db:"source"`
	DirectoryID       sql.NullString `db:"directory_id"`
	CreatedAt         int64          `db:"created_at"`
	UpdatedAt         int64          `db:"updated_at"`
	Version           int64          `db:"version"`
	Title             string         `db:"title"`
	Locale            string         `db:"locale"`
	Timezone          string         `db:"timezone"`
	NickName          string         `db:"nick_name"`
	UserType          string         `db:"user_type"`
	PreferredLanguage string         `db:"preferred_language"`
	EmployeeNumber    string         `db:"employee_number"`
	Department        string         `db:"department"`
	CostCenter        string         `db:"cost_center"`
	Organization      string         `db:"organization"`
	Division          string         `db:"division"`
	ManagerID         string         `db:"manager_id"`
	Doc               string         `db:"scim"`
}

func (r scimUserRow) user() SCIMUser {
	return SCIMUser{
		User: core.User{
			ID: r.ID, OrgID: r.OrgID, UserName: r.UserName, Email: r.Email, DisplayName: r.DisplayName,
			GivenName: r.GivenName, FamilyName: r.FamilyName, ExternalID: r.ExternalID.String,
			Active: r.Active, Source: core.UserSource(r.Source), DirectoryID: r.DirectoryID.String,
			CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version,
		},
		Title: r.Title, Locale: r.Locale, Timezone: r.Timezone, NickName: r.NickName, UserType: r.UserType,
		PreferredLanguage: r.PreferredLanguage, EmployeeNumber: r.EmployeeNumber, Department: r.Department,
		CostCenter: r.CostCenter, Organization: r.Organization, Division: r.Division, ManagerID: r.ManagerID,
		Doc: []byte(r.Doc),
	}
}

// get1 and sel1 run one read statement outside a transaction (readOne's rule): a
// lone SELECT is consistent by itself, and on SQLite the BEGIN/COMMIT pair around it
// cost as much as the indexed lookup. On SQLite the statement comes from the
// reader pool's statement cache (bounded; filter texts of one shape share one entry).
func (s *SQL) get1(ctx context.Context, dest any, query string, args ...any) error {
	return s.readOne(ctx, dest, query, args...)
}

func (s *SQL) sel1(ctx context.Context, dest any, query string, args ...any) error {
	if s.bound != nil {
		return s.translate(s.bound.sel(ctx, dest, query, args...))
	}
	if s.rstmts != nil {
		if st, err := s.rstmts.get(ctx, query); err == nil && st != nil {
			return s.translate(st.SelectContext(ctx, dest, args...))
		}
	}
	return s.translate(s.rdb.SelectContext(ctx, dest, s.rdb.Rebind(query), args...))
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func validateSCIMUser(u *SCIMUser) error {
	if strings.TrimSpace(u.UserName) == "" {
		return core.Invalidf("userName is required")
	}
	if u.Doc == nil {
		u.Doc = []byte("{}")
	}
	return nil
}

// SCIMCreateUser inserts a user provisioned by the directory actor.ID.
func (s *SQL) SCIMCreateUser(ctx context.Context, actor core.Actor, u SCIMUser) (SCIMUser, error) {
	if err := validateSCIMUser(&u); err != nil {
		return SCIMUser{}, err
	}
	now := s.Now()
	u.ID = s.NewID()
	u.Source = core.SourceSCIM
	u.CreatedAt, u.UpdatedAt = fromMicros(micros(now)), fromMicros(micros(now))
	u.Version = 1
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO users (id, org_id, user_name, email, display_name, given_name, family_name,
			external_id, active, source, directory_id, created_at, updated_at, version,
			title, locale, timezone, nick_name, user_type, preferred_language, employee_number,
			department, cost_center, organization, division, manager_id, scim)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.OrgID, u.UserName, u.Email, u.DisplayName, u.GivenName, u.FamilyName,
			nullString(u.ExternalID), u.Active, string(u.Source), nullString(u.DirectoryID), micros(u.CreatedAt), micros(u.UpdatedAt), u.Version,
			u.Title, u.Locale, u.Timezone, u.NickName, u.UserType, u.PreferredLanguage, u.EmployeeNumber,
			u.Department, u.CostCenter, u.Organization, u.Division, u.ManagerID, string(u.Doc)); err != nil {
			return err
		}
		if err := t.insertEmails(ctx, u.OrgID, u.ID, u.Emails); err != nil {
			return err
		}
		return t.audit(ctx, u.OrgID, actor, "user.create", "user", u.ID, map[string]any{"directory_id": actor.ID, "user_name": u.UserName, "active": u.Active})
	})
	if err != nil {
		return SCIMUser{}, fmt.Errorf("create user %q: %w", u.UserName, err)
	}
	return u, nil
}

func (t *tx) insertEmails(ctx context.Context, orgID, userID string, emails []SCIMEmail) error {
	for i, e := range emails {
		if _, err := t.exec(ctx, `INSERT INTO user_emails (org_id, user_id, position, value, type, is_primary) VALUES (?, ?, ?, ?, ?, ?)`,
			orgID, userID, i, e.Value, e.Type, e.Primary); err != nil {
			return err
		}
	}
	return nil
}

// SCIMGetUser finds a user of the org, active or not.
func (s *SQL) SCIMGetUser(ctx context.Context, orgID, id string) (SCIMUser, error) {
	var r scimUserRow
	err := s.get1(ctx, &r, `SELECT `+scimUserCols+` FROM users u WHERE u.org_id = ? AND u.id = ?`, orgID, id)
	if err != nil {
		return SCIMUser{}, fmt.Errorf("user %s: %w", id, err)
	}
	return r.user(), nil
}

func (s *SQL) forUpdate() string {
	if s.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// checkLastAdmin refuses a change that would leave the org without an active org
// admin, when userID is an admin who stops being an active one.
func (t *tx) checkLastAdmin(ctx context.Context, orgID, userID string) error {
	var n int
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM org_admins WHERE org_id = ? AND user_id = ?`, orgID, userID); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := t.lockOrg(ctx, orgID); err != nil {
		return err
	}
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM org_admins a JOIN users u ON u.org_id = a.org_id AND u.id = a.user_id
		WHERE a.org_id = ? AND u.active = ? AND u.id <> ?`, orgID, true, userID); err != nil {
		return err
	}
	if n == 0 {
		return core.ErrLastAdmin
	}
	return nil
}

// SCIMUpdateUser is read-modify-write of one user in one transaction.
func (s *SQL) SCIMUpdateUser(ctx context.Context, actor core.Actor, orgID, id string, fn func(*SCIMUser) error) (SCIMUser, error) {
	var out SCIMUser
	err := s.inTx(ctx, func(t *tx) error {
		var r scimUserRow
		if err := t.get(ctx, &r, `SELECT `+scimUserCols+` FROM users u WHERE u.org_id = ? AND u.id = ?`+s.forUpdate(), orgID, id); err != nil {
			return err
		}
		old := r.user()
		emails := emailsOfDoc(old.Doc)
		old.Emails = emails
		u := old
		u.Emails = slices.Clone(emails)
		if err := fn(&u); err != nil {
			return err
		}
		if err := validateSCIMUser(&u); err != nil {
			return err
		}
		u.ID, u.OrgID, u.CreatedAt, u.Source = old.ID, old.OrgID, old.CreatedAt, old.Source
		u.Version = old.Version + 1
		u.UpdatedAt = fromMicros(s.now())
		if u.DirectoryID == "" {
			u.DirectoryID = old.DirectoryID
		}
		if old.Active && !u.Active {
			if err := t.checkLastAdmin(ctx, orgID, id); err != nil {
				return err
			}
		}
		res, err := t.exec(ctx, `UPDATE users SET user_name = ?, email = ?, display_name = ?, given_name = ?, family_name = ?,
			external_id = ?, active = ?, directory_id = ?, updated_at = ?, version = ?,
			title = ?, locale = ?, timezone = ?, nick_name = ?, user_type = ?, preferred_language = ?, employee_number = ?,
			department = ?, cost_center = ?, organization = ?, division = ?, manager_id = ?, scim = ?
			WHERE org_id = ? AND id = ? AND version = ?`,
			u.UserName, u.Email, u.DisplayName, u.GivenName, u.FamilyName,
			nullString(u.ExternalID), u.Active, nullString(u.DirectoryID), micros(u.UpdatedAt), u.Version,
			u.Title, u.Locale, u.Timezone, u.NickName, u.UserType, u.PreferredLanguage, u.EmployeeNumber,
			u.Department, u.CostCenter, u.Organization, u.Division, u.ManagerID, string(u.Doc),
			orgID, id, old.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return core.ErrVersion
		}
		if !slices.Equal(old.Emails, u.Emails) {
			if _, err := t.exec(ctx, `DELETE FROM user_emails WHERE org_id = ? AND user_id = ?`, orgID, id); err != nil {
				return err
			}
			if err := t.insertEmails(ctx, orgID, id, u.Emails); err != nil {
				return err
			}
		}
		action := "user.update"
		switch {
		case old.Active && !u.Active:
			action = "user.deactivate"
		case !old.Active && u.Active:
			action = "user.activate"
		}
		out = u
		return t.audit(ctx, orgID, actor, action, "user", id, map[string]any{"directory_id": actor.ID, "user_name": u.UserName, "version": u.Version})
	})
	if err != nil {
		return SCIMUser{}, fmt.Errorf("update user %s: %w", id, err)
	}
	return out, nil
}

// emailsOfDoc reads the emails of a stored document: the rows of user_emails are
// written from it in the same transaction, so it tells them without a query.
func emailsOfDoc(doc []byte) []SCIMEmail {
	var d struct {
		Emails []struct {
			Value   string `json:"value"`
			Type    string `json:"type"`
			Primary bool   `json:"primary"`
		} `json:"emails"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil
	}
	var out []SCIMEmail
	for _, e := range d.Emails {
		out = append(out, SCIMEmail{Value: e.Value, Type: e.Type, Primary: e.Primary})
	}
	return out
}

// SCIMDeleteUser removes a user and, through foreign keys, every membership.
func (s *SQL) SCIMDeleteUser(ctx context.Context, actor core.Actor, orgID, id string) error {
	err := s.inTx(ctx, func(t *tx) error {
		var name string
		if err := t.get(ctx, &name, `SELECT user_name FROM users WHERE org_id = ? AND id = ?`+s.forUpdate(), orgID, id); err != nil {
			return err
		}
		if err := t.checkLastAdmin(ctx, orgID, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM users WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "user.delete", "user", id, map[string]any{"directory_id": actor.ID, "user_name": name})
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

// listPage runs the page query and, when the page alone cannot tell the exact
// total, a COUNT. A lookup (userName eq …) is then one indexed query.
func (s *SQL) listPage(ctx context.Context, from, where string, args []any, cols, order string, q SCIMQuery, dest any, rows func() int) (int, error) {
	if q.Count > 0 {
		pageArgs := append(slices.Clone(args), q.Count, q.StartIndex-1)
		if err := s.sel1(ctx, dest, `SELECT `+cols+` FROM `+from+` WHERE `+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, pageArgs...); err != nil {
			return 0, err
		}
		// A short, non-empty page (or an empty first page) ends the list: the
		// total is known without counting.
		if n := rows(); n < q.Count && (n > 0 || q.StartIndex == 1) {
			return q.StartIndex - 1 + n, nil
		}
	}
	var total int
	err := s.get1(ctx, &total, `SELECT COUNT(*) FROM `+from+` WHERE `+where, args...)
	return total, err
}

// orderBy is the stable order of a list. With a filter on SQLite the sort column is
// written +col: without statistics SQLite otherwise walks the (org_id, id) index
// for its order and tests every row, instead of seeking the filter's own index
// (externalId eq … scanned the whole org). The few matches are then sorted.
func (s *SQL) orderBy(col string, q SCIMQuery) string {
	if q.Filter != nil && s.dialect == SQLite {
		return "+" + col
	}
	return col
}

func normalizeQuery(q *SCIMQuery) {
	if q.StartIndex < 1 {
		q.StartIndex = 1
	}
	if q.Count > MaxLimit {
		q.Count = MaxLimit
	}
}

// withFilter narrows a list's WHERE clause by q.Filter, translated for the schema.
func (s *SQL) withFilter(where string, args []any, fs *filterSchema, orgID string, q SCIMQuery) (string, []any, error) {
	if q.Filter == nil {
		return where, args, nil
	}
	cond, fargs, err := translateFilter(s.dialect, fs, orgID, q.Filter)
	if err != nil {
		return "", nil, err
	}
	return where + " AND (" + cond + ")", append(args, fargs...), nil
}

// SCIMListUsers lists the org's users matching q.Filter, in id order.
func (s *SQL) SCIMListUsers(ctx context.Context, orgID string, q SCIMQuery) ([]SCIMUser, int, error) {
	normalizeQuery(&q)
	where, args, err := s.withFilter("u.org_id = ?", []any{orgID}, &userFilterSchema, orgID, q)
	if err != nil {
		return nil, 0, err
	}
	var rows []scimUserRow
	total, err := s.listPage(ctx, "users u", where, args, scimUserCols, s.orderBy("u.id", q), q, &rows, func() int { return len(rows) })
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	out := make([]SCIMUser, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, total, nil
}

const scimGroupCols = `g.id, g.org_id, g.directory_id, g.external_id, g.display_name, g.created_at, g.updated_at, g.version`

type scimGroupRow struct {
	ID          string         `db:"id"`
	OrgID       string         `db:"org_id"`
	DirectoryID sql.NullString `db:"directory_id"`
	ExternalID  sql.NullString `db:"external_id"`
	DisplayName string         `db:"display_name"`
	CreatedAt   int64          `db:"created_at"`
	UpdatedAt   int64          `db:"updated_at"`
	Version     int64          `db:"version"`
}

func (r scimGroupRow) group() SCIMGroup {
	return SCIMGroup{ID: r.ID, OrgID: r.OrgID, DirectoryID: r.DirectoryID.String, ExternalID: r.ExternalID.String,
		DisplayName: r.DisplayName, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version}
}

// SCIMCreateGroup creates an IdP group of the directory with its first members.
func (s *SQL) SCIMCreateGroup(ctx context.Context, actor core.Actor, g SCIMGroup, members []string) (SCIMGroup, error) {
	if strings.TrimSpace(g.DisplayName) == "" {
		return SCIMGroup{}, core.Invalidf("displayName is required")
	}
	if g.DirectoryID == "" {
		return SCIMGroup{}, core.Invalidf("a SCIM group needs a directory")
	}
	now := fromMicros(s.now())
	g.ID, g.ConnectionID, g.CreatedAt, g.UpdatedAt, g.Version = s.NewID(), "", now, now, 1
	err := s.inTx(ctx, func(t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO idp_groups (id, org_id, directory_id, external_id, display_name, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, g.ID, g.OrgID, g.DirectoryID, nullString(g.ExternalID), g.DisplayName, micros(now), micros(now), g.Version); err != nil {
			return err
		}
		if err := t.addMembers(ctx, g.OrgID, g.ID, members); err != nil {
			return err
		}
		return t.audit(ctx, g.OrgID, actor, "idp_group.create", "idp_group", g.ID, map[string]any{"directory_id": g.DirectoryID, "display_name": g.DisplayName, "members": len(members)})
	})
	if err != nil {
		return SCIMGroup{}, fmt.Errorf("create group %q: %w", g.DisplayName, err)
	}
	return g, nil
}

// scimChunk bounds the ids of one IN list (well below SQLite's bind limit).
const scimChunk = 500

// addMembers adds users of the org to a group; present members are left alone. An id
// that is not a user of the org is core.ErrInvalid.
func (t *tx) addMembers(ctx context.Context, orgID, groupID string, ids []string) error {
	now := t.s.now()
	for _, c := range chunks(dedupe(ids), scimChunk) {
		q, args, err := sqlx.In(`SELECT COUNT(*) FROM users WHERE org_id = ? AND id IN (?)`, orgID, c)
		if err != nil {
			return err
		}
		var n int
		if err := t.get(ctx, &n, q, args...); err != nil {
			return err
		}
		if n != len(c) {
			return core.Invalidf("a member is not a user of this organization")
		}
		q, args, err = sqlx.In(`INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at)
			SELECT ?, ?, u.id, ? FROM users u WHERE u.org_id = ? AND u.id IN (?)
			ON CONFLICT (idp_group_id, user_id) DO NOTHING`, orgID, groupID, now, orgID, c)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) removeMembers(ctx context.Context, groupID string, ids []string) error {
	for _, c := range chunks(dedupe(ids), scimChunk) {
		q, args, err := sqlx.In(`DELETE FROM idp_group_members WHERE idp_group_id = ? AND user_id IN (?)`, groupID, c)
		if err != nil {
			return err
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// SCIMGetGroup finds a group of the directory.
func (s *SQL) SCIMGetGroup(ctx context.Context, orgID, directoryID, id string) (SCIMGroup, error) {
	var r scimGroupRow
	err := s.get1(ctx, &r, `SELECT `+scimGroupCols+` FROM idp_groups g WHERE g.org_id = ? AND g.directory_id = ? AND g.id = ?`, orgID, directoryID, id)
	if err != nil {
		return SCIMGroup{}, fmt.Errorf("group %s: %w", id, err)
	}
	return r.group(), nil
}

// SCIMUpdateGroup changes a group's attributes and members in one transaction.
func (s *SQL) SCIMUpdateGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id string, fn func(*SCIMGroup) error, mc MemberChange) (SCIMGroup, error) {
	var out SCIMGroup
	err := s.inTx(ctx, func(t *tx) error {
		var r scimGroupRow
		if err := t.get(ctx, &r, `SELECT `+scimGroupCols+` FROM idp_groups g WHERE g.org_id = ? AND g.directory_id = ? AND g.id = ?`+s.forUpdate(), orgID, directoryID, id); err != nil {
			return err
		}
		old := r.group()
		g := old
		if fn != nil {
			if err := fn(&g); err != nil {
				return err
			}
		}
		if strings.TrimSpace(g.DisplayName) == "" {
			return core.Invalidf("displayName is required")
		}
		g.ID, g.OrgID, g.DirectoryID, g.CreatedAt = old.ID, old.OrgID, old.DirectoryID, old.CreatedAt
		g.Version = old.Version + 1
		g.UpdatedAt = fromMicros(s.now())
		res, err := t.exec(ctx, `UPDATE idp_groups SET display_name = ?, external_id = ?, updated_at = ?, version = ?
			WHERE org_id = ? AND id = ? AND version = ?`, g.DisplayName, nullString(g.ExternalID), micros(g.UpdatedAt), g.Version, orgID, id, old.Version)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return core.ErrVersion
		}
		if mc.Replace {
			if _, err := t.exec(ctx, `DELETE FROM idp_group_members WHERE idp_group_id = ?`, id); err != nil {
				return err
			}
		} else if err := t.removeMembers(ctx, id, mc.Remove); err != nil {
			return err
		}
		if err := t.addMembers(ctx, orgID, id, mc.Add); err != nil {
			return err
		}
		out = g
		details := map[string]any{"directory_id": directoryID, "display_name": g.DisplayName, "version": g.Version}
		if !mc.Empty() {
			details["members_added"] = len(mc.Add)
			details["members_removed"] = len(mc.Remove)
			details["members_replaced"] = mc.Replace
		}
		return t.audit(ctx, orgID, actor, "idp_group.update", "idp_group", id, details)
	})
	if err != nil {
		return SCIMGroup{}, fmt.Errorf("update group %s: %w", id, err)
	}
	return out, nil
}

// SCIMDeleteGroup removes a group of the directory and its memberships.
func (s *SQL) SCIMDeleteGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id string) error {
	err := s.inTx(ctx, func(t *tx) error {
		var name string
		if err := t.get(ctx, &name, `SELECT display_name FROM idp_groups WHERE org_id = ? AND directory_id = ? AND id = ?`, orgID, directoryID, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM idp_groups WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "idp_group.delete", "idp_group", id, map[string]any{"directory_id": directoryID, "display_name": name})
	})
	if err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

// SCIMListGroups lists the directory's groups matching q.Filter, in id order.
func (s *SQL) SCIMListGroups(ctx context.Context, orgID, directoryID string, q SCIMQuery) ([]SCIMGroup, int, error) {
	normalizeQuery(&q)
	where, args, err := s.withFilter("g.org_id = ? AND g.directory_id = ?", []any{orgID, directoryID}, &groupFilterSchema, orgID, q)
	if err != nil {
		return nil, 0, err
	}
	var rows []scimGroupRow
	total, err := s.listPage(ctx, "idp_groups g", where, args, scimGroupCols, s.orderBy("g.id", q), q, &rows, func() int { return len(rows) })
	if err != nil {
		return nil, 0, fmt.Errorf("list groups: %w", err)
	}
	out := make([]SCIMGroup, len(rows))
	for i, r := range rows {
		out[i] = r.group()
	}
	return out, total, nil
}

// SCIMGroupMembers pages through a group's members by user id (keyset paging).
func (s *SQL) SCIMGroupMembers(ctx context.Context, orgID, groupID, after string, limit int) ([]SCIMMember, error) {
	if limit <= 0 || limit > MaxLimit {
		limit = MaxLimit
	}
	var rows []struct {
		ID          string `db:"id"`
		UserName    string `db:"user_name"`
		DisplayName string `db:"display_name"`
	}
	err := s.sel1(ctx, &rows, `SELECT u.id, u.user_name, u.display_name FROM idp_group_members m
		JOIN users u ON u.org_id = m.org_id AND u.id = m.user_id
		WHERE m.org_id = ? AND m.idp_group_id = ? AND m.user_id > ? ORDER BY m.user_id LIMIT ?`, orgID, groupID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("group %s members: %w", groupID, err)
	}
	out := make([]SCIMMember, len(rows))
	for i, r := range rows {
		d := r.DisplayName
		if d == "" {
			d = r.UserName
		}
		out[i] = SCIMMember{ID: r.ID, Display: d}
	}
	return out, nil
}
