package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
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
	ConnID      *string `db:"connection_id"`
	CreatedAt   int64   `db:"created_at"`
	UpdatedAt   int64   `db:"updated_at"`
	Version     int64   `db:"version"`
	OwnerName   string  `db:"owner_name"`
}

// ownerName is the name of a user's owner (a directory's or a connection's; empty
// for a local user) as a column of a user row read from the table alias a: two
// primary-key lookups.
func ownerName(a string) string {
	return `COALESCE((SELECT od.name FROM scim_directories od WHERE od.id = ` + a + `.directory_id),
		(SELECT oc.name FROM sso_connections oc WHERE oc.id = ` + a + `.connection_id), '') AS owner_name`
}

var userCols = `id, org_id, user_name, email, display_name, given_name, family_name, external_id, active, source, directory_id, connection_id, created_at, updated_at, version, ` + ownerName("users")

// userColsU is userCols qualified by the alias u, for joins.
var userColsU = `u.id, u.org_id, u.user_name, u.email, u.display_name, u.given_name, u.family_name, u.external_id, u.active, u.source, u.directory_id, u.connection_id, u.created_at, u.updated_at, u.version, ` + ownerName("u")

func (r userRow) user() core.User {
	return core.User{
		ID: r.ID, OrgID: r.OrgID, UserName: r.UserName, Email: r.Email, DisplayName: r.DisplayName,
		GivenName: r.GivenName, FamilyName: r.FamilyName, ExternalID: str(r.ExternalID), Active: r.Active,
		Source: core.UserSource(r.Source), DirectoryID: str(r.DirectoryID), ConnectionID: str(r.ConnID),
		CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version,
	}.WithOwner(r.OwnerName)
}

func usersOf(rows []userRow) []core.User {
	out := make([]core.User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out
}

// scimUserCols are every column of a user, in scimUserRow order: the core ones, the
// SCIM attributes filters run on, and the stored SCIM resource. A user made by
// another path than SCIM has the columns' defaults (empty strings, an empty document).
var scimUserCols = userColsU + `, u.title, u.locale, u.timezone, u.nick_name, u.user_type, u.preferred_language,
	u.employee_number, u.department, u.cost_center, u.organization, u.division, u.manager_id, u.scim`

// directoryUserCols are scimUserCols for users of one directory (WHERE
// u.directory_id = ?): their owner is that directory, so its name is one
// uncorrelated lookup per statement, whose argument (the directory's id) comes
// first, instead of two subqueries per row.
var directoryUserCols = strings.Replace(scimUserCols, ownerName("u"),
	`COALESCE((SELECT od.name FROM scim_directories od WHERE od.id = ?), '') AS owner_name`, 1)

type scimUserRow struct {
	userRow
	Title             string `db:"title"`
	Locale            string `db:"locale"`
	Timezone          string `db:"timezone"`
	NickName          string `db:"nick_name"`
	UserType          string `db:"user_type"`
	PreferredLanguage string `db:"preferred_language"`
	EmployeeNumber    string `db:"employee_number"`
	Department        string `db:"department"`
	CostCenter        string `db:"cost_center"`
	Organization      string `db:"organization"`
	Division          string `db:"division"`
	ManagerID         string `db:"manager_id"`
	Doc               string `db:"scim"`
	// TokenLive is a TokenCheck's column, when the read carries one.
	TokenLive int64 `db:"token_live"`
}

// listDest is where a row of listUserCols (or outerUserCols), and of tokenLiveCol
// when token, is scanned, in column order: a lookup's row without sqlx's
// reflection, which was a twentieth of the lookup (TestScanDest checks the order).
func (r *scimUserRow) listDest(token bool) []any {
	d := []any{&r.ID, &r.OrgID, &r.UserName, &r.ExternalID, &r.Active, &r.Source, &r.DirectoryID,
		&r.CreatedAt, &r.UpdatedAt, &r.Version, &r.Doc}
	if token {
		d = append(d, &r.TokenLive)
	}
	return d
}

// dest is where a row of scimUserCols is scanned (scanKey), in column order
// (TestScanDest).
func (r *scimUserRow) dest() []any {
	return []any{&r.ID, &r.OrgID, &r.UserName, &r.Email, &r.DisplayName, &r.GivenName, &r.FamilyName, &r.ExternalID,
		&r.Active, &r.Source, &r.DirectoryID, &r.ConnID, &r.CreatedAt, &r.UpdatedAt, &r.Version, &r.OwnerName,
		&r.Title, &r.Locale, &r.Timezone, &r.NickName, &r.UserType, &r.PreferredLanguage,
		&r.EmployeeNumber, &r.Department, &r.CostCenter, &r.Organization, &r.Division, &r.ManagerID, &r.Doc}
}

// scanListRows returns a scan function for rows of listUserCols (listDest) that
// appends each to *rows.
func scanListRows(rows *[]scimUserRow, token bool) func(*sql.Rows) error {
	return func(rs *sql.Rows) error {
		var r scimUserRow
		if err := rs.Scan(r.listDest(token)...); err != nil {
			return err
		}
		*rows = append(*rows, r)
		return nil
	}
}

func (r scimUserRow) scimUser() SCIMUser {
	return SCIMUser{
		User:  r.userRow.user(),
		Title: r.Title, Locale: r.Locale, Timezone: r.Timezone, NickName: r.NickName, UserType: r.UserType,
		PreferredLanguage: r.PreferredLanguage, EmployeeNumber: r.EmployeeNumber, Department: r.Department,
		CostCenter: r.CostCenter, Organization: r.Organization, Division: r.Division, ManagerID: r.ManagerID,
		Doc: []byte(r.Doc),
	}
}

// ownerDetails is how the audit log names an owner.
func ownerDetails(o core.Owner) map[string]any {
	d := map[string]any{"kind": string(o.Kind)}
	if o.ID != "" {
		d["id"] = o.ID
	}
	if o.Name != "" {
		d["name"] = o.Name
	}
	return d
}

// namedOwner is the user's owner with its name, read in the transaction.
func (t *tx) namedOwner(ctx context.Context, u core.User) (core.Owner, error) {
	o := core.OwnerOf(u)
	var q string
	switch o.Kind {
	case core.OwnerDirectory:
		q = `SELECT name FROM scim_directories WHERE org_id = ? AND id = ?`
	case core.OwnerConnection:
		q = `SELECT name FROM sso_connections WHERE org_id = ? AND id = ?`
	default:
		return o, nil
	}
	if err := t.get(ctx, &o.Name, q, u.OrgID, o.ID); err != nil {
		return o, orNotFound(err, string(o.Kind), o.ID)
	}
	return o, nil
}

// userDetails is what the audit log keeps of a user: their own fields only.
func userDetails(u core.User) map[string]any {
	d := map[string]any{"user_name": u.UserName, "active": u.Active, "source": string(u.Source), "owner": ownerDetails(u.Owner)}
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
	return validOwner(u)
}

// validOwner checks that a user has exactly one owner: the source says its kind
// and only that kind's id is set (users_owner_check says it again in SQL).
func validOwner(u core.User) error {
	switch u.Source {
	case core.SourceSCIM:
		if u.DirectoryID == "" || u.ConnectionID != "" {
			return core.Invalidf("a user owned by a directory names that directory and no connection")
		}
	case core.SourceSSO:
		if u.ConnectionID == "" || u.DirectoryID != "" {
			return core.Invalidf("a user owned by a connection names that connection and no directory")
		}
	case core.SourceInvited:
		if u.DirectoryID != "" || u.ConnectionID != "" {
			return core.Invalidf("a local user names no directory or connection")
		}
	default:
		return core.Invalidf("user source %q is not one of scim, sso, invited", u.Source)
	}
	return nil
}

// validSCIMUser is SCIM's check of a user: the SCIM edge checks the resource itself,
// and IdPs' values are taken as they come (no length limits).
func validSCIMUser(u *SCIMUser) error {
	if strings.TrimSpace(u.UserName) == "" {
		return core.Invalidf("userName is required")
	}
	if u.Doc == nil {
		u.Doc = []byte("{}")
	}
	return nil
}

// The users table has one write path, whichever edge changes it (the API, the CLI,
// SSO, SCIM): insertUser, lockUser + updateUser, deleteUser, and keepActiveAdmin, the
// one last-admin rule.

// errUserNameTaken is insertUser's answer when the org already has the userName
// (case-insensitively). The INSERT did nothing rather than fail, so the transaction
// is still usable (PostgreSQL aborts one on a failed statement): SCIM's create goes
// on to lock the existing user and see whether its directory may adopt them.
var errUserNameTaken = fmt.Errorf("userName is taken: %w", core.ErrConflict)

// insertUser writes a new user with its SCIM attributes and emails (none for a user
// made elsewhere than SCIM). A taken userName is errUserNameTaken, decided by the
// unique index users_user_name_key, not by a read before the insert.
func (t *tx) insertUser(ctx context.Context, u SCIMUser) error {
	res, err := t.exec(ctx, userInsertSQL, userInsertArgs(u)...)
	if err != nil {
		// A foreign key: the org or the directory.
		return t.s.wrapf(err, "user %q", u.UserName)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("user %q: %w", u.UserName, errUserNameTaken)
	}
	t.s.analyze.grew(1)
	return t.insertEmails(ctx, u.OrgID, u.ID, u.Emails)
}

// insertSCIMUser is insertUser of a directory's user that also returns its owner,
// named (namedOwner). The INSERT returns the directory's name: on PostgreSQL one
// round trip less for every SCIM create, on SQLite one statement less in the
// writer.
func (t *tx) insertSCIMUser(ctx context.Context, u SCIMUser) (core.Owner, error) {
	o := core.OwnerOf(u.User)
	if o.Kind != core.OwnerDirectory {
		if err := t.insertUser(ctx, u); err != nil {
			return core.Owner{}, err
		}
		return t.namedOwner(ctx, u.User)
	}
	pg := t.s.dialect == Postgres
	query, args := userInsertSQL+` RETURNING (SELECT d.name FROM scim_directories d WHERE d.org_id = users.org_id AND d.id = users.directory_id)`, userInsertArgs(u)
	if pg {
		query, args = pgSCIMUserInsert(u) // with the emails
	}
	err := t.get(ctx, &o.Name, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Owner{}, fmt.Errorf("user %q: %w", u.UserName, errUserNameTaken)
	}
	if err != nil {
		return core.Owner{}, t.s.wrapf(err, "user %q", u.UserName) // a foreign key: the org or the directory
	}
	t.s.analyze.grew(1)
	if !pg {
		return o, t.insertEmails(ctx, u.OrgID, u.ID, u.Emails)
	}
	return o, nil
}

// pgSCIMUserInsert is a directory's user's insert on PostgreSQL, with the user's
// emails (pgUserEmailsSQL), returning the directory's name: a create is one round
// trip in its org's lane. No row: the org has the userName.
func pgSCIMUserInsert(u SCIMUser) (string, []any) {
	values, types, primary := make([]string, len(u.Emails)), make([]string, len(u.Emails)), make([]bool, len(u.Emails))
	for i, e := range u.Emails {
		values[i], types[i], primary[i] = e.Value, e.Type, e.Primary
	}
	return `WITH u AS (` + userInsertSQL + ` RETURNING org_id, id, directory_id),
		e AS (` + pgUserEmailsSQL + `)
		SELECT (SELECT d.name FROM scim_directories d WHERE d.org_id = u.org_id AND d.id = u.directory_id) FROM u`,
		append(userInsertArgs(u), values, types, primary)
}

// pgUserEmailsSQL inserts the emails of the user just inserted (u) from three
// arrays, values, types and primary flags, in position order, as insertEmails does.
const pgUserEmailsSQL = `INSERT INTO user_emails (org_id, user_id, position, value, type, is_primary)
		SELECT u.org_id, u.id, e.n - 1, e.value, e.type, e.is_primary
		FROM u, unnest(?::text[], ?::text[], ?::boolean[]) WITH ORDINALITY AS e(value, type, is_primary, n)`

// userInsertSQL inserts a user unless the org has the userName (userInsertArgs).
const userInsertSQL = `INSERT INTO users (id, org_id, user_name, email, display_name, given_name, family_name,
		external_id, active, source, directory_id, connection_id, created_at, updated_at, version,
		title, locale, timezone, nick_name, user_type, preferred_language, employee_number,
		department, cost_center, organization, division, manager_id, scim)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, lower(user_name)) DO NOTHING`

func userInsertArgs(u SCIMUser) []any {
	doc := "{}"
	if u.Doc != nil {
		doc = string(u.Doc)
	}
	return []any{u.ID, u.OrgID, u.UserName, u.Email, u.DisplayName, u.GivenName, u.FamilyName,
		nullStr(u.ExternalID), u.Active, string(u.Source), nullStr(u.DirectoryID), nullStr(u.ConnectionID), micros(u.CreatedAt), micros(u.UpdatedAt), u.Version,
		u.Title, u.Locale, u.Timezone, u.NickName, u.UserType, u.PreferredLanguage, u.EmployeeNumber,
		u.Department, u.CostCenter, u.Organization, u.Division, u.ManagerID, doc}
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

// getUser reads a user of the org, locking its row for update when lock is set.
func (t *tx) getUser(ctx context.Context, orgID, id string, lock bool) (core.User, error) {
	return t.getOwnedUser(ctx, orgID, "", id, lock)
}

// getOwnedUser is getUser seen from a directory (ownerDir, when set): a user it
// does not own is not found.
func (t *tx) getOwnedUser(ctx context.Context, orgID, ownerDir, id string, lock bool) (core.User, error) {
	var r userRow
	q, args := `SELECT `+userCols+` FROM users WHERE org_id = ? AND id = ?`, []any{orgID, id}
	if ownerDir != "" {
		q, args = q+` AND directory_id = ?`, append(args, ownerDir)
	}
	if lock {
		q += t.forUpdate()
	}
	if err := t.get(ctx, &r, q, args...); err != nil {
		return core.User{}, orNotFound(err, "user", id)
	}
	return r.user(), nil
}

// lockUser reads a user with every column, and its emails, for a read-modify-write,
// locking its row.
func (t *tx) lockUser(ctx context.Context, orgID, id string) (SCIMUser, error) {
	u, _, err := t.lockOwnedUser(ctx, orgID, "", id, false)
	return u, err
}

// lockOwnedUser is lockUser seen from a directory (ownerDir, when set): a user it
// does not own is not found. admin asks, in the same statement, whether the user
// is an org admin: a directory's deactivation asks it of every user, and only for
// an admin has more to check (lastAdminLeaves).
func (t *tx) lockOwnedUser(ctx context.Context, orgID, ownerDir, id string, admin bool) (SCIMUser, bool, error) {
	var r scimUserRow
	var isAdmin bool
	dest := r.dest()
	q, args := `SELECT `+scimUserCols, []any{orgID, id}
	if ownerDir != "" { // the owner's name is the directory's
		q, args = `SELECT `+directoryUserCols, []any{ownerDir, orgID, id}
	}
	if admin {
		q += `, EXISTS (SELECT 1 FROM org_admins a WHERE a.org_id = u.org_id AND a.user_id = u.id) AS is_admin`
		dest = append(dest, &isAdmin)
	}
	q += ` FROM users u WHERE u.org_id = ? AND u.id = ?`
	if ownerDir != "" {
		q, args = q+` AND u.directory_id = ?`, append(args, ownerDir)
	}
	if err := t.scanOne(ctx, dest, q+t.forUpdate("u"), args...); err != nil {
		return SCIMUser{}, false, orNotFound(err, "user", id)
	}
	u := r.scimUser()
	// The rows of user_emails are written from the document in the same
	// transaction, so it tells them without a query.
	u.Emails = emailsOfDoc(u.Doc)
	return u, isAdmin, nil
}

// updateUser writes u over old, the user as lockUser read it, with the next version:
// the one UPDATE of users. Deactivating the org's last active admin is
// core.ErrLastAdmin; the emails are rewritten only when they changed.
func (t *tx) updateUser(ctx context.Context, old SCIMUser, u *SCIMUser) error {
	if old.Active && !u.Active {
		if err := t.keepActiveAdmin(ctx, old.OrgID, old.ID); err != nil {
			return err
		}
	}
	return t.writeUser(ctx, old, u)
}

// lastAdminLeaves says whether deactivating or deleting the user leaves the org
// without an active admin: what the last-admin rule refuses, except when the
// directory that owns the user deprovisions them (the IdP is authoritative for
// people who leave).
func (t *tx) lastAdminLeaves(ctx context.Context, orgID, id string) (bool, error) {
	err := t.keepActiveAdmin(ctx, orgID, id)
	if errors.Is(err, core.ErrLastAdmin) {
		return true, nil
	}
	return false, err
}

// writeUser is updateUser without the last-admin rule. It sets only the columns
// that changed (and updated_at, version): SQLite rewrites the entries of every
// index whose columns an UPDATE sets, changed or not, and fires the triggers of
// the columns it names, so a deactivation that set all of them rewrote the eleven
// index entries of the row for nothing.
func (t *tx) writeUser(ctx context.Context, old SCIMUser, u *SCIMUser) error {
	set, args := userSet(old, u, t.s.now())
	res, err := t.exec(ctx, `UPDATE users SET `+set+` WHERE org_id = ? AND id = ? AND version = ?`,
		append(args, old.OrgID, old.ID, old.Version)...)
	if err != nil {
		return t.s.wrapf(err, "user %q", u.UserName)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return core.ErrVersion // unreachable with the row lock; kept as a guard
	}
	if !slices.Equal(old.Emails, u.Emails) {
		if _, err := t.exec(ctx, `DELETE FROM user_emails WHERE org_id = ? AND user_id = ?`, old.OrgID, old.ID); err != nil {
			return err
		}
		return t.insertEmails(ctx, old.OrgID, old.ID, u.Emails)
	}
	return nil
}

// userSet is the SET clause, and its arguments, of an UPDATE of users that writes
// u over old at the time now (micros) with the next version, which it gives u.
func userSet(old SCIMUser, u *SCIMUser, now int64) (string, []any) {
	u.CreatedAt = old.CreatedAt
	u.UpdatedAt = fromMicros(now)
	u.Version = old.Version + 1
	set, args := []string{"updated_at = ?", "version = ?"}, []any{micros(u.UpdatedAt), u.Version}
	for _, c := range []struct {
		col     string
		changed bool
		v       any
	}{
		{"user_name", old.UserName != u.UserName, u.UserName}, {"email", old.Email != u.Email, u.Email},
		{"display_name", old.DisplayName != u.DisplayName, u.DisplayName},
		{"given_name", old.GivenName != u.GivenName, u.GivenName}, {"family_name", old.FamilyName != u.FamilyName, u.FamilyName},
		{"external_id", old.ExternalID != u.ExternalID, nullStr(u.ExternalID)}, {"active", old.Active != u.Active, u.Active},
		{"source", old.Source != u.Source, string(u.Source)},
		{"directory_id", old.DirectoryID != u.DirectoryID, nullStr(u.DirectoryID)},
		{"connection_id", old.ConnectionID != u.ConnectionID, nullStr(u.ConnectionID)},
		{"title", old.Title != u.Title, u.Title}, {"locale", old.Locale != u.Locale, u.Locale},
		{"timezone", old.Timezone != u.Timezone, u.Timezone}, {"nick_name", old.NickName != u.NickName, u.NickName},
		{"user_type", old.UserType != u.UserType, u.UserType},
		{"preferred_language", old.PreferredLanguage != u.PreferredLanguage, u.PreferredLanguage},
		{"employee_number", old.EmployeeNumber != u.EmployeeNumber, u.EmployeeNumber},
		{"department", old.Department != u.Department, u.Department}, {"cost_center", old.CostCenter != u.CostCenter, u.CostCenter},
		{"organization", old.Organization != u.Organization, u.Organization}, {"division", old.Division != u.Division, u.Division},
		{"manager_id", old.ManagerID != u.ManagerID, u.ManagerID}, {"scim", !bytes.Equal(old.Doc, u.Doc), string(u.Doc)},
	} {
		if c.changed {
			set, args = append(set, c.col+" = ?"), append(args, c.v)
		}
	}
	return strings.Join(set, ", "), args
}

// deleteUser removes a user, and through foreign keys their emails, memberships,
// admin role and sessions, and returns the user as they were. With a directory
// (ownerDir), only a user it owns exists. Deleting the org's last active admin is
// core.ErrLastAdmin.
func (t *tx) deleteUser(ctx context.Context, orgID, ownerDir, id string) (core.User, error) {
	u, err := t.getOwnedUser(ctx, orgID, ownerDir, id, true)
	if err != nil {
		return core.User{}, err
	}
	if u.Active && ownerDir == "" { // the owning directory may remove the last admin
		if err := t.keepActiveAdmin(ctx, orgID, id); err != nil {
			return core.User{}, err
		}
	}
	if _, err := t.exec(ctx, `DELETE FROM users WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
		return core.User{}, err
	}
	return u, nil
}

// userUpdateAction names the audit event of an update. A reactivation is
// "user.reactivate", except through SCIM, where it has always been "user.activate";
// readers of the change log know both names.
func userUpdateAction(old, u core.User, reactivate string) string {
	switch {
	case old.Active && !u.Active:
		return "user.deactivate"
	case !old.Active && u.Active:
		return reactivate
	}
	return "user.update"
}

// CreateUser creates a user with a new id; the org, and the directory if any, must exist.
func (s *SQL) CreateUser(ctx context.Context, actor core.Actor, u core.User) (core.User, error) {
	if err := validUser(u); err != nil {
		return core.User{}, err
	}
	now := s.Now()
	// Round-trip precision: the schema keeps microseconds.
	u.ID, u.CreatedAt, u.UpdatedAt, u.Version = s.NewID(), fromMicros(micros(now)), fromMicros(micros(now)), 1
	err := s.inTx(ctx, func(t *tx) error {
		if err := t.insertUser(ctx, SCIMUser{User: u}); err != nil {
			return err
		}
		o, err := t.namedOwner(ctx, u)
		if err != nil {
			return err
		}
		u.Owner = o
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
// last active org admin is core.ErrLastAdmin. The SCIM attributes are kept.
func (s *SQL) UpdateUser(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.User) error) (core.User, error) {
	var out core.User
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.lockUser(ctx, orgID, id)
		if err != nil {
			return err
		}
		u := old
		if err := fn(&u.User); err != nil {
			return err
		}
		if u.ID != old.ID || u.OrgID != old.OrgID {
			return core.Invalidf("a user's id and organization cannot change")
		}
		// The owner changes only by TransferUser or an adoption.
		u.Source, u.DirectoryID, u.ConnectionID, u.Owner = old.Source, old.DirectoryID, old.ConnectionID, old.Owner
		if err := validUser(u.User); err != nil {
			return err
		}
		if err := t.updateUser(ctx, old, &u); err != nil {
			return err
		}
		out = u.User
		return t.audit(ctx, orgID, actor, userUpdateAction(old.User, u.User, "user.reactivate"), "user", id, userChanges(old.User, u.User))
	})
	return out, err
}

// userChanges lists the fields an update changed, with their new values.
func userChanges(old, u core.User) map[string]any {
	d := map[string]any{"user_name": u.UserName}
	var changed []string
	for _, f := range []struct {
		name string
		a, b any
	}{
		{"user_name", old.UserName, u.UserName}, {"email", old.Email, u.Email},
		{"display_name", old.DisplayName, u.DisplayName}, {"given_name", old.GivenName, u.GivenName},
		{"family_name", old.FamilyName, u.FamilyName}, {"external_id", old.ExternalID, u.ExternalID},
		{"active", old.Active, u.Active}, {"source", old.Source, u.Source}, {"directory_id", old.DirectoryID, u.DirectoryID},
		{"connection_id", old.ConnectionID, u.ConnectionID},
	} {
		if f.a != f.b {
			changed = append(changed, f.name)
			d[f.name] = f.b
		}
	}
	d["changed"] = changed
	return d
}

// DeleteUser removes the user; their memberships and admin role go with them
// (foreign keys cascade). Deleting the last active org admin is core.ErrLastAdmin.
func (s *SQL) DeleteUser(ctx context.Context, actor core.Actor, orgID, id string) error {
	return s.inTx(ctx, func(t *tx) error {
		u, err := t.deleteUser(ctx, orgID, "", id)
		if err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "user.delete", "user", id, userDetails(u))
	})
}

// SCIMCreateUser inserts a user provisioned by the directory u.DirectoryID. When
// the org already has the userName, the directory adopts that user if it may
// (adoptOnCreate); otherwise it is core.ErrConflict and nothing changes.
func (s *SQL) SCIMCreateUser(ctx context.Context, actor core.Actor, u SCIMUser) (SCIMUser, error) {
	if err := validSCIMUser(&u); err != nil {
		return SCIMUser{}, err
	}
	now := s.Now()
	u.ID = s.NewID()
	u.Source, u.ConnectionID = core.SourceSCIM, ""
	u.CreatedAt, u.UpdatedAt = fromMicros(micros(now)), fromMicros(micros(now))
	u.Version = 1
	var out SCIMUser
	var left bool
	created := func(t *tx, o core.Owner) error {
		out = u
		out.Owner = o
		return t.audit(ctx, u.OrgID, actor, "user.create", "user", u.ID, map[string]any{"directory_id": actor.ID, "user_name": u.UserName, "active": u.Active, "owner": ownerDetails(o)})
	}
	var sh shape
	if o := core.OwnerOf(u.User); s.dialect == Postgres && o.Kind == core.OwnerDirectory {
		query, args := pgSCIMUserInsert(u)
		sh.stmt = &oneStmt{query: query, args: args, dest: &o.Name, done: func(t *tx) error {
			t.s.analyze.grew(1)
			return created(t, o)
		}}
	}
	err := s.inOrgTxAs(ctx, u.OrgID, sh, func(t *tx) error {
		o, err := t.insertSCIMUser(ctx, u)
		if errors.Is(err, errUserNameTaken) {
			out, left, err = t.adoptOnCreate(ctx, actor, u)
			return err
		}
		if err != nil {
			return err
		}
		return created(t, o)
	})
	if err != nil {
		return SCIMUser{}, fmt.Errorf("create user %q: %w", u.UserName, err)
	}
	tellLastAdmin(ctx, left)
	return out, nil
}

// adoptOnCreate is a directory's POST /Users of a userName the org already has:
// when the directory may adopt that user (mayAdopt: a local or connection-owned
// user, the userName in one of the directory's domains) it becomes their owner and
// the request's attributes replace theirs as a create would set them (so active
// comes from the IdP, which may reactivate a deactivated local user); the id, the
// creation time, the admin role, memberships and sessions stay. This is how Okta
// links the org admin made by org create or first-run setup. Anything else,
// including the directory's own user posted again, is errUserNameTaken, the 409 a
// duplicate has always been. The existing row is locked first, so of two
// concurrent POSTs one adopts and the other sees the adopted user (a conflict).
func (t *tx) adoptOnCreate(ctx context.Context, actor core.Actor, u SCIMUser) (_ SCIMUser, lastAdmin bool, _ error) {
	taken := fmt.Errorf("user %q: %w", u.UserName, errUserNameTaken)
	var r scimUserRow
	err := t.get(ctx, &r, `SELECT `+scimUserCols+` FROM users u WHERE u.org_id = ? AND lower(u.user_name) = lower(?)`+t.forUpdate(),
		u.OrgID, u.UserName)
	if errors.Is(t.s.translate(err), core.ErrNotFound) {
		return SCIMUser{}, false, taken // deleted since the insert saw it: the IdP retries
	}
	if err != nil {
		return SCIMUser{}, false, err
	}
	old := r.scimUser()
	old.Emails = emailsOfDoc(old.Doc)
	to := core.Owner{Kind: core.OwnerDirectory, ID: u.DirectoryID}
	if err := t.mayAdopt(ctx, old.User, to, u.UserName); err != nil {
		return SCIMUser{}, false, fmt.Errorf("%w (%v)", taken, err)
	}
	n := u
	n.ID, n.OrgID = old.ID, old.OrgID
	n.SetOwner(to)
	// The directory now owns the user: like its PATCH active=false, the request may
	// deactivate even the org's last active admin; the event says so.
	if old.Active && !n.Active {
		if lastAdmin, err = t.lastAdminLeaves(ctx, old.OrgID, old.ID); err != nil {
			return SCIMUser{}, false, err
		}
	}
	if err := t.writeUser(ctx, old, &n); err != nil {
		return SCIMUser{}, false, err
	}
	if n.Owner, err = t.namedOwner(ctx, n.User); err != nil {
		return SCIMUser{}, false, err
	}
	d := userChanges(old.User, n.User)
	d["directory_id"], d["from"], d["owner"] = actor.ID, ownerDetails(old.Owner), ownerDetails(n.Owner)
	if lastAdmin {
		d["last_admin"] = true
	}
	return n, lastAdmin, t.audit(ctx, old.OrgID, actor, "user.adopted", "user", old.ID, d)
}

// SCIMGetUser finds a user the directory owns, active or not.
func (s *SQL) SCIMGetUser(ctx context.Context, orgID, directoryID, id string) (SCIMUser, error) {
	var r scimUserRow
	check := tokenCheckOf(ctx)
	col, args := check.liveCol()
	args = append(append([]any{directoryID}, args...), orgID, directoryID, id)
	err := s.getKey(ctx, &r, `SELECT `+directoryUserCols+col+` FROM users u WHERE u.org_id = ? AND u.directory_id = ? AND u.id = ?`, args...)
	if err != nil {
		return SCIMUser{}, fmt.Errorf("user %s: %w", id, err)
	}
	check.saw(r.TokenLive)
	return r.scimUser(), nil
}

// SCIMUpdateUser is read-modify-write of one user in one transaction. fn cannot
// change the user's id, org, creation time or source; an empty directory keeps the
// user's.
func (s *SQL) SCIMUpdateUser(ctx context.Context, actor core.Actor, orgID, directoryID, id string, fn func(*SCIMUser) error) (SCIMUser, error) {
	var out SCIMUser
	var left bool
	edit := func(old SCIMUser) (SCIMUser, error) {
		u := old
		u.Emails = slices.Clone(old.Emails)
		if err := fn(&u); err != nil {
			return u, err
		}
		if err := validSCIMUser(&u); err != nil {
			return u, err
		}
		// The owner changes only by TransferUser or an adoption.
		u.ID, u.OrgID = old.ID, old.OrgID
		u.Source, u.DirectoryID, u.ConnectionID, u.Owner = old.Source, old.DirectoryID, old.ConnectionID, old.Owner
		return u, nil
	}
	updated := func(t *tx, old, u SCIMUser, lastAdmin bool) error {
		out, left = u, lastAdmin
		d := map[string]any{"directory_id": actor.ID, "user_name": u.UserName, "version": u.Version}
		if lastAdmin {
			d["last_admin"] = true
		}
		return t.audit(ctx, orgID, actor, userUpdateAction(old.User, u.User, "user.activate"), "user", id, d)
	}
	var sh shape
	// On PostgreSQL, the user is read first, outside the lane (userUpdateStmt). Not
	// on SQLite: a reader's page cache is dropped whenever another connection
	// commits, so while the directory writes, each read outside the writer goes to
	// the file for every page, where the single writer, whose cache stays warm,
	// reads the user for less than it cost a reader (at 100,000 users, 3,965
	// deactivations/s read outside, 5,216/s inside).
	if s.bound == nil && directoryID != "" && s.dialect == Postgres {
		sh.stmt = s.userUpdateStmt(ctx, orgID, directoryID, id, edit, updated)
	}
	err := s.inOrgTxAs(ctx, orgID, sh, func(t *tx) error {
		old, admin, err := t.lockOwnedUser(ctx, orgID, directoryID, id, true)
		if err != nil {
			return err
		}
		u, err := edit(old)
		if err != nil {
			return err
		}
		// The directory owns the user: it may deactivate even the org's last
		// active admin (the IdP is authoritative for people who leave); the event says so.
		lastAdmin := false
		if admin && old.Active && !u.Active {
			if lastAdmin, err = t.lastAdminLeaves(ctx, orgID, id); err != nil {
				return err
			}
		}
		if err := t.writeUser(ctx, old, &u); err != nil {
			return err
		}
		return updated(t, old, u, lastAdmin)
	})
	if err != nil {
		return SCIMUser{}, fmt.Errorf("update user %s: %w", id, err)
	}
	tellLastAdmin(ctx, left)
	return out, nil
}

// userUpdateStmt is a directory's update of a user as one statement (oneStmt) on
// PostgreSQL: the user is read now, unlocked, outside the org's lane, changed by
// edit, and written by the statement if still at the version read; updated then
// finishes it. What the lane does for an update is then that statement and the
// event, pipelined with the changes beside it, not the read and the document's
// edit too.
// nil when the change is more than that statement: a user not found or an edit
// failing (the change then fails as a whole, under the row lock), emails that
// change (their rows are rewritten), an admin's deactivation (lastAdminLeaves).
func (s *SQL) userUpdateStmt(ctx context.Context, orgID, directoryID, id string, edit func(SCIMUser) (SCIMUser, error), updated func(t *tx, old, u SCIMUser, lastAdmin bool) error) *oneStmt {
	var r struct {
		scimUserRow
		Admin bool `db:"is_admin"`
	}
	if err := s.scanKey(ctx, append(r.dest(), &r.Admin), `SELECT `+directoryUserCols+`, EXISTS (SELECT 1 FROM org_admins a WHERE a.org_id = u.org_id AND a.user_id = u.id) AS is_admin
		FROM users u WHERE u.org_id = ? AND u.id = ? AND u.directory_id = ?`, directoryID, orgID, id, directoryID); err != nil {
		return nil
	}
	old := r.scimUser()
	old.Emails = emailsOfDoc(old.Doc)
	u, err := edit(old)
	deactivates := old.Active && !u.Active
	if err != nil || !slices.Equal(old.Emails, u.Emails) || r.Admin && deactivates {
		return nil
	}
	set, args := userSet(old, &u, s.now())
	query := `UPDATE users AS u SET ` + set + ` WHERE u.org_id = ? AND u.id = ? AND u.directory_id = ? AND u.version = ?`
	if deactivates { // made an admin since: lastAdminLeaves
		query += ` AND NOT EXISTS (SELECT 1 FROM org_admins a WHERE a.org_id = u.org_id AND a.user_id = u.id)`
	}
	var version int64
	return &oneStmt{query: query + ` RETURNING version`, args: append(args, orgID, id, directoryID, old.Version), dest: &version,
		done: func(t *tx) error { return updated(t, old, u, false) }}
}

// emailsOfDoc reads the emails of a stored SCIM document.
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

// SCIMDeleteUser removes a user the directory owns and, through foreign keys,
// every membership.
func (s *SQL) SCIMDeleteUser(ctx context.Context, actor core.Actor, orgID, directoryID, id string) error {
	var left bool
	// One statement for a user who is no org admin, as nearly every one is: what
	// the statements below read (the user, locked, and whether they are an admin)
	// is the DELETE's condition. No row: a user the directory does not own, or an
	// admin, which the statements below tell apart.
	var name string
	deleted := func(t *tx) error {
		return t.audit(ctx, orgID, actor, "user.delete", "user", id, map[string]any{"directory_id": actor.ID, "user_name": name})
	}
	var sh shape
	if directoryID != "" {
		sh.stmt = &oneStmt{query: `DELETE FROM users AS u WHERE u.org_id = ? AND u.id = ? AND u.directory_id = ?
			AND NOT EXISTS (SELECT 1 FROM org_admins a WHERE a.org_id = u.org_id AND a.user_id = u.id) RETURNING user_name`,
			args: []any{orgID, id, directoryID}, dest: &name, done: deleted}
	}
	err := s.inOrgTxAs(ctx, orgID, sh, func(t *tx) error {
		// Only the userName, whether active and whether an org admin: the row
		// goes, and reading and scanning every column (the stored document
		// among them) cost more than the DELETE's own lookup.
		var u struct {
			UserName string `db:"user_name"`
			Active   bool   `db:"active"`
			Admin    bool   `db:"is_admin"`
		}
		q, args := `SELECT u.user_name, u.active, EXISTS (SELECT 1 FROM org_admins a WHERE a.org_id = u.org_id AND a.user_id = u.id) AS is_admin
			FROM users u WHERE u.org_id = ? AND u.id = ?`, []any{orgID, id}
		if directoryID != "" {
			q, args = q+` AND u.directory_id = ?`, append(args, directoryID)
		}
		if err := t.get(ctx, &u, q+t.forUpdate("u"), args...); err != nil {
			return orNotFound(err, "user", id)
		}
		// The directory owns the user: it may delete even the org's last active
		// admin (the IdP is authoritative for people who leave); the event says so.
		lastAdmin := false
		if u.Admin {
			var err error
			if lastAdmin, err = t.lastAdminLeaves(ctx, orgID, id); err != nil {
				return err
			}
		}
		if _, err := t.exec(ctx, `DELETE FROM users WHERE org_id = ? AND id = ?`, orgID, id); err != nil {
			return err
		}
		d := map[string]any{"directory_id": actor.ID, "user_name": u.UserName}
		left = lastAdmin && u.Active
		if left {
			d["last_admin"] = true
		}
		return t.audit(ctx, orgID, actor, "user.delete", "user", id, d)
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	tellLastAdmin(ctx, left)
	return nil
}

// listUserCols are the columns of a user that a SCIM list reads: those its
// representation shows besides the stored document (the edge renders a user from
// the document and these), and the owner's. The other attribute columns are for
// filters and the other paths; reading and scanning them too cost a sixth of a page
// of 100 users. A list's owner is the directory, named by its id alone.
const listUserCols = `u.id, u.org_id, u.user_name, u.external_id, u.active, u.source, u.directory_id, u.created_at, u.updated_at, u.version, u.scim`

// tokenCheckRow is a row of listUserCols and tokenLiveCol with no user in it (an
// empty id) but the token check's column: a SCIM user list on SQLite appends it
// to its page (listPage's tail), so that even an empty page proves the token.
const tokenCheckRow = `SELECT '', '', '', NULL, FALSE, '', NULL, 0, 0, 0, '',
	(SELECT COUNT(*) FROM api_tokens WHERE id = ? AND revoked_at IS NULL)`

// SCIMListUsers lists the directory's users matching q.Filter, in id order, with
// the columns of listUserCols.
func (s *SQL) SCIMListUsers(ctx context.Context, orgID, directoryID string, q SCIMQuery) ([]SCIMUser, int, error) {
	normalizeQuery(&q)
	where, args, err := s.withFilter("u.org_id = ? AND u.directory_id = ?", []any{orgID, directoryID}, &userFilterSchema, orgID, q)
	if err != nil {
		return nil, 0, err
	}
	var rows []scimUserRow
	check := tokenCheckOf(ctx)
	col, colArgs := check.liveCol()
	if s.gdb != nil && s.bound == nil && isUserNameEq(q.Filter) {
		return s.scimUserByName(ctx, directoryID, where, args, q, check)
	}
	// On SQLite a token check's page ends with one more row, tokenCheckRow, so that the
	// statement proves the token even when no user matches (a lookup before a
	// create): no token read of its own before the empty answer.
	var tail string
	var tailArgs []any
	if check != nil && s.dialect == SQLite {
		tail, tailArgs = tokenCheckRow, []any{check.id}
	}
	total, err := s.listPage(ctx, orgID, "users u", where, args, listUserCols+col, colArgs, tail, tailArgs, s.orderBy("u.id", q), q, scanListRows(&rows, col != ""), func() int {
		if tail != "" {
			for i := len(rows) - 1; i >= 0; i-- {
				if rows[i].ID == "" { // tokenCheckRow: no user has an empty id
					check.saw(rows[i].TokenLive)
					rows = slices.Delete(rows, i, i+1)
					break
				}
			}
		}
		return len(rows)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	if len(rows) > 0 {
		check.saw(rows[0].TokenLive)
	}
	out := make([]SCIMUser, len(rows))
	for i, r := range rows {
		out[i] = r.scimUser()
	}
	return out, total, nil
}

// isUserNameEq reports whether f is userName eq "…": the lookup every IdP makes
// before it creates a user, which matches one user at most (the org's userNames
// are unique, case-insensitively: users_user_name_key).
func isUserNameEq(f Filter) bool {
	c, ok := f.(*FilterCompare)
	return ok && c != nil && c.Attr == AttrUserName && c.Op == OpEq
}

// scimUserByName is SCIMListUsers of a userName eq filter on PostgreSQL (where and
// args are its compiled conditions). A token's lookup runs on the key pool,
// planned once, when analyzer.planOnce says a generic plan is safe (statistics
// of users, or a small table); otherwise it stays planned for its values (a
// generic plan made on a large table never analyzed may read every user of the
// org, and would be kept). Its shape is cheap to plan either way: without the
// page's subquery, ORDER BY and LIMIT (at most one row matches; the page is cut
// here), about 0.2 ms of planning instead of 1.2 ms, which was nearly all of a
// lookup's cost in PostgreSQL. The directory is compared as an expression, so no
// plan walks the directory's users (users_owner_directory_idx) for it.
func (s *SQL) scimUserByName(ctx context.Context, directoryID, where string, args []any, q SCIMQuery, check *TokenCheck) ([]SCIMUser, int, error) {
	const dirCond = "u.directory_id = ?"
	if !strings.HasPrefix(where, "u.org_id = ? AND "+dirCond) {
		return nil, 0, fmt.Errorf("list users: unexpected conditions %q", where)
	}
	where = "u.org_id = ? AND (u.directory_id || '') = ?" + strings.TrimPrefix(where, "u.org_id = ? AND "+dirCond)
	var rows []scimUserRow
	var err error
	if check == nil {
		err = s.rows1(ctx, scanListRows(&rows, false), `SELECT `+listUserCols+` FROM users u WHERE `+where, args...)
	} else {
		// The token's row comes with or without a user (LEFT JOIN, a user's columns
		// then their zero values, the id empty), so a lookup that finds nobody, as
		// every one before a create does, proves the token too: no Authenticate
		// statement after it.
		_, tokenArgs := check.liveCol()
		query := `SELECT ` + outerUserCols + `, t.token_live
			FROM (SELECT COUNT(*) AS token_live FROM api_tokens WHERE id = ? AND revoked_at IS NULL) t
			LEFT JOIN LATERAL (SELECT ` + listUserCols + ` FROM users u WHERE ` + where + `) x ON TRUE`
		qargs := append(tokenArgs, args...)
		// Planned once on the key pool when planOnce says a generic plan is safe:
		// planning was most of the lookup's cost in PostgreSQL.
		rs, qerr := s.readRows(ctx, s.analyze.planOnce(ctx), query, qargs...)
		err = s.scanRows(rs, qerr, scanListRows(&rows, true))
		if err == nil && len(rows) > 0 {
			check.saw(rows[0].TokenLive)
			if rows[0].ID == "" {
				rows = nil
			}
		}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	total := len(rows)
	rows = rows[min(q.StartIndex-1, len(rows)):]
	rows = rows[:min(max(q.Count, 0), len(rows))]
	out := make([]SCIMUser, len(rows))
	for i, r := range rows {
		out[i] = r.scimUser()
	}
	return out, total, nil
}

// outerUserCols are the columns of listUserCols, read from the subquery x of a
// LEFT JOIN: the zero value of each (NULL for a nullable one) when x has no row.
var outerUserCols = func() string {
	listed := map[string]bool{}
	for _, c := range strings.Split(listUserCols, ", ") {
		listed[strings.TrimPrefix(c, "u.")] = true
	}
	var cols []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			tag := f.Tag.Get("db")
			if !listed[tag] {
				continue
			}
			switch f.Type.Kind() {
			case reflect.String:
				cols = append(cols, "COALESCE(x."+tag+", '') AS "+tag)
			case reflect.Bool:
				cols = append(cols, "COALESCE(x."+tag+", FALSE) AS "+tag)
			case reflect.Int64:
				cols = append(cols, "COALESCE(x."+tag+", 0) AS "+tag)
			default: // *string: nullable
				cols = append(cols, "x."+tag)
			}
		}
	}
	walk(reflect.TypeOf(scimUserRow{}))
	return strings.Join(cols, ", ")
}()

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

// UsersByRef implements Batches.
func (s *SQL) UsersByRef(ctx context.Context, orgID string, refs []string) (map[string]core.User, error) {
	refs = dedupe(refs)
	out := map[string]core.User{}
	err := s.read(ctx, func(t *tx) error {
		byID := map[string]core.User{}
		byEmail := map[string]core.User{}
		byName := map[string]core.User{}
		lower := make([]string, len(refs))
		for i, r := range refs {
			lower[i] = strings.ToLower(r)
		}
		for _, part := range chunks(refs, batchChunk) {
			var rows []userRow
			if err := t.selIn(ctx, &rows, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				byID[r.ID] = r.user()
			}
		}
		for _, part := range chunks(lower, batchChunk) {
			var rows []userRow
			// The oldest (smallest id) per email wins, as GetUserByEmail. Kept in Go:
			// with ORDER BY id, SQLite's planner walks the whole org in id order
			// instead of probing users_email_id_idx (100k rows per chunk at size).
			if err := t.selIn(ctx, &rows, `SELECT `+userCols+` FROM users WHERE org_id = ? AND lower(email) IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				if k := strings.ToLower(r.Email); byEmail[k].ID == "" || r.ID < byEmail[k].ID {
					byEmail[k] = r.user()
				}
			}
			rows = nil
			if err := t.selIn(ctx, &rows, `SELECT `+userCols+` FROM users WHERE org_id = ? AND lower(user_name) IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				byName[strings.ToLower(r.UserName)] = r.user()
			}
		}
		for _, ref := range refs {
			if u, ok := byID[ref]; ok {
				out[ref] = u
			} else if u, ok := byEmail[strings.ToLower(ref)]; ok && strings.Contains(ref, "@") {
				out[ref] = u
			} else if u, ok := byName[strings.ToLower(ref)]; ok {
				out[ref] = u
			}
		}
		return nil
	})
	return out, err
}

// TransferUser makes to the user's owner: an org admin's explicit transfer, in one
// transaction with its audit event ("user.owner_transfer", naming both owners). The
// new owner must be a directory or connection of the org, or local.
func (s *SQL) TransferUser(ctx context.Context, actor core.Actor, orgID, id string, to core.Owner) (core.User, error) {
	switch to.Kind {
	case core.OwnerLocal:
		to.ID = ""
	case core.OwnerDirectory, core.OwnerConnection:
		if to.ID == "" {
			return core.User{}, core.Invalidf("a %s owner needs an id", to.Kind)
		}
	default:
		return core.User{}, core.Invalidf("owner kind %q is not one of directory, connection, local", to.Kind)
	}
	var out core.User
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.lockUser(ctx, orgID, id)
		if err != nil {
			return err
		}
		if to.Kind != core.OwnerLocal {
			table, what := "scim_directories", "directory"
			if to.Kind == core.OwnerConnection {
				table, what = "sso_connections", "SSO connection"
			}
			var r struct {
				ID   string `db:"id"`
				Name string `db:"name"`
			}
			err := t.get(ctx, &r, `SELECT id, name FROM `+table+` WHERE org_id = ? AND (id = ? OR name = ?)
				ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, orgID, to.ID, to.ID, to.ID)
			if errors.Is(t.s.translate(err), core.ErrNotFound) {
				return core.Invalidf("no %s %q in this organization", what, to.ID)
			}
			if err != nil {
				return err
			}
			to.ID, to.Name = r.ID, r.Name
		}
		u := old
		u.SetOwner(to)
		if err := t.updateUser(ctx, old, &u); err != nil {
			return err
		}
		out = u.User
		return t.audit(ctx, orgID, actor, "user.owner_transfer", "user", id, map[string]any{
			"user_name": u.UserName, "from": ownerDetails(old.Owner), "owner": ownerDetails(u.Owner)})
	})
	return out, err
}

// AdoptUser makes a directory or connection (to) the owner of a user it may adopt
// (mayAdopt: a directory a local or connection-owned user, a connection a local
// one, found by an address in one of its domains), in one transaction with its
// audit event ("user.adopted", naming both owners). A user it may not adopt is
// core.ErrConflict and nothing changes.
func (s *SQL) AdoptUser(ctx context.Context, actor core.Actor, orgID, id string, to core.Owner, address string) (core.User, error) {
	var out core.User
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.lockUser(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := t.mayAdopt(ctx, old.User, to, address); err != nil {
			return err
		}
		u := old
		u.SetOwner(to)
		o, err := t.namedOwner(ctx, u.User)
		if err != nil {
			return core.Invalidf("no %s %q in this organization", to.Kind, to.ID)
		}
		u.Owner = o
		if err := t.updateUser(ctx, old, &u); err != nil {
			return err
		}
		out = u.User
		return t.audit(ctx, orgID, actor, "user.adopted", "user", id, map[string]any{
			"user_name": u.UserName, "from": ownerDetails(old.Owner), "owner": ownerDetails(u.Owner)})
	})
	return out, err
}

type lastAdminKey struct{}

// WatchLastAdmin returns a context under which a successful SCIMUpdateUser,
// SCIMDeleteUser or adopting SCIMCreateUser (one posting "active": false) sets *left when its change removed the org's last active admin
// (the owning directory may; the audit event says last_admin). The SCIM edge warns
// the operator from it without reading the admins again after every
// deprovisioning.
func WatchLastAdmin(ctx context.Context) (context.Context, *bool) {
	left := new(bool)
	return context.WithValue(ctx, lastAdminKey{}, left), left
}

// tellLastAdmin reports a committed change's last-admin outcome to WatchLastAdmin.
func tellLastAdmin(ctx context.Context, left bool) {
	if p, ok := ctx.Value(lastAdminKey{}).(*bool); ok {
		*p = left
	}
}

// mayAdopt is the one rule of adoption, for a directory's POST /Users and a
// connection's sign-in, checked in the adopting transaction with the user's row
// locked: the owners allow it (core.MayAdopt), address is the user's (their userName
// or email, as the caller found them) and its domain is one of the adopter's
// domains, a verified one when the org requires verified domains. A refusal is
// core.ErrConflict.
func (t *tx) mayAdopt(ctx context.Context, u core.User, to core.Owner, address string) error {
	if !core.MayAdopt(u.Owner, to.Kind) {
		return fmt.Errorf("user %s is owned by %s %s, which %s %s may not take over: %w", u.ID, u.Owner.Kind, u.Owner.ID, to.Kind, to.ID, core.ErrConflict)
	}
	if !strings.EqualFold(address, u.UserName) && !strings.EqualFold(address, u.Email) {
		return fmt.Errorf("%q is neither the userName nor the email of user %s: %w", address, u.ID, core.ErrConflict)
	}
	domain := core.AddressDomain(address)
	table, col := "scim_directory_domains", "directory_id"
	if to.Kind == core.OwnerConnection {
		table, col = "sso_connection_domains", "connection_id"
	}
	var n int
	if err := t.get(ctx, &n, `SELECT COUNT(*) FROM `+table+` s
		JOIN org_domains d ON d.org_id = s.org_id AND d.domain = s.domain
		JOIN organizations o ON o.id = s.org_id
		WHERE s.org_id = ? AND s.`+col+` = ? AND s.domain = ? AND `+trustedDomain, u.OrgID, to.ID, domain); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("domain %q of %q is not a trusted domain of %s %s: %w", domain, address, to.Kind, to.ID, core.ErrConflict)
	}
	return nil
}
