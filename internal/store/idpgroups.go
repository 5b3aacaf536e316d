package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/jmoiron/sqlx"
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
	// TokenLive is a TokenCheck's column, when the read carries one.
	TokenLive int64 `db:"token_live"`
}

const idpGroupCols = `id, org_id, directory_id, connection_id, external_id, display_name, created_at, updated_at, version`

// dest is where a row of idpGroupCols, and of tokenLiveCol when token, is scanned
// (scanKey), in column order (TestScanDest).
func (r *idpGroupRow) dest(token bool) []any {
	d := []any{&r.ID, &r.OrgID, &r.DirectoryID, &r.ConnectionID, &r.ExternalID, &r.DisplayName, &r.CreatedAt, &r.UpdatedAt, &r.Version}
	if token {
		d = append(d, &r.TokenLive)
	}
	return d
}

func (r idpGroupRow) idpGroup() core.IdPGroup {
	return core.IdPGroup{ID: r.ID, OrgID: r.OrgID, DirectoryID: str(r.DirectoryID), ConnectionID: str(r.ConnectionID),
		ExternalID: str(r.ExternalID), DisplayName: r.DisplayName, CreatedAt: fromMicros(r.CreatedAt),
		UpdatedAt: fromMicros(r.UpdatedAt), Version: r.Version}
}

// idpGroupColsG is idpGroupCols qualified by the alias g.
const idpGroupColsG = `g.id, g.org_id, g.directory_id, g.connection_id, g.external_id, g.display_name, g.created_at, g.updated_at, g.version`

// memberChunk bounds the ids of one IN list (well below SQLite's bind limit).
const memberChunk = 500

// memberOfUserCols are the columns of a membership that copy its user (migration
// 0022), and memberOfUser their values from the user u, for an insert of members:
// the user's directory, and the name a SCIM group shows for the member (the
// displayName, or the userName when it is blank). The trigger
// idp_group_members_follow_user keeps them with the user after.
const (
	memberOfUserCols = `member_directory_id, member_display`
	memberOfUser     = `u.directory_id AS member_directory_id, CASE WHEN u.display_name = '' THEN u.user_name ELSE u.display_name END AS member_display`
)

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

// validSCIMGroup is SCIM's check of a group: the IdP's values are taken as they come.
func validSCIMGroup(g SCIMGroup) error {
	if strings.TrimSpace(g.DisplayName) == "" {
		return core.Invalidf("displayName is required")
	}
	return nil
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

// The idp_groups and idp_group_members tables have one write path, whichever edge
// changes them (the API, SCIM, SSO logins): insertIdPGroup, lockIdPGroup +
// updateIdPGroup, bumpIdPGroup (the version when only the members changed, with
// the change's audit event), deleteIdPGroup, and addIdPMembers, removeIdPMembers
// and removeAllIdPMembers for the members. Every audit event of a membership change says which memberships
// changed through membersChanged.

// insertIdPGroup writes a new IdP group and reports whether it did. A group that
// already exists (the same display name in the directory, external id in the
// connection) is core.ErrConflict, or with ifAbsent is left alone: concurrent SSO
// logins creating a connection's group keep one.
func (t *tx) insertIdPGroup(ctx context.Context, g core.IdPGroup, ifAbsent bool) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO idp_groups (`+idpGroupCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		g.ID, g.OrgID, nullStr(g.DirectoryID), nullStr(g.ConnectionID), nullStr(g.ExternalID), g.DisplayName,
		micros(g.CreatedAt), micros(g.UpdatedAt), g.Version)
	if err != nil {
		return false, t.s.wrapf(err, "IdP group %q", g.DisplayName) // a foreign key: the org, directory or connection
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 0 {
		if ifAbsent {
			return false, nil
		}
		return false, fmt.Errorf("IdP group %q: %w", g.DisplayName, core.ErrConflict)
	}
	return true, nil
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

// lockIdPGroup reads an IdP group for a change of it or of its members, locking its
// row: changes to one group, members included, run one after the other. A
// directoryID other than "" must be the group's (a SCIM directory sees only its own
// groups).
func (t *tx) lockIdPGroup(ctx context.Context, orgID, directoryID, id string) (core.IdPGroup, error) {
	g, err := t.getIdPGroup(ctx, orgID, id, true)
	if err != nil {
		return core.IdPGroup{}, err
	}
	if directoryID != "" && g.DirectoryID != directoryID {
		return core.IdPGroup{}, notFound("IdP group", id)
	}
	return g, nil
}

// updateIdPGroup writes g's display name and external id over old, the group as
// lockIdPGroup read it, with the next version (SCIM's meta.version).
func (t *tx) updateIdPGroup(ctx context.Context, old core.IdPGroup, g *core.IdPGroup) error {
	g.CreatedAt, g.UpdatedAt, g.Version = old.CreatedAt, fromMicros(t.s.now()), old.Version+1
	res, err := t.exec(ctx, `UPDATE idp_groups SET external_id = ?, display_name = ?, updated_at = ?, version = ?
		WHERE org_id = ? AND id = ? AND version = ?`, nullStr(g.ExternalID), g.DisplayName, micros(g.UpdatedAt), g.Version,
		old.OrgID, old.ID, old.Version)
	if err != nil {
		return t.s.wrapf(err, "IdP group %q", g.DisplayName)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return core.ErrVersion // unreachable with the row lock; kept as a guard
	}
	return nil
}

// bumpIdPGroup moves the version of a group whose members changed, and only they,
// and writes the change's audit event, its details completed with the group's
// display name and new version. It is the one statement that locks the group's row,
// so a member change runs its member statements first and this last: the group (and
// the org's change counter, which audit locks) is then locked for this statement and
// the COMMIT only, where lockIdPGroup first held it across every round trip of the
// change. On PostgreSQL the bump, the counter and the event are one statement;
// SQLite, one writer in the process, runs them one after the other. A directoryID
// other than "" must be the group's; a group not found is core.ErrNotFound.
func (t *tx) bumpIdPGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id, action string, details map[string]any) (core.IdPGroup, error) {
	now := t.s.now()
	where, args := `org_id = ? AND id = ?`, []any{orgID, id}
	if directoryID != "" {
		where, args = where+` AND directory_id = ?`, append(args, directoryID)
	}
	var r idpGroupRow
	if t.s.dialect == Postgres && t.deferred == nil && tokenCheckOf(ctx) == nil {
		// One statement; in a batch the audit event waits for the batch's end anyway,
		// and a token to prove live takes tx.audit's checked insert.
		d, err := jsonMarshal(details)
		if err != nil {
			return core.IdPGroup{}, err
		}
		err = t.get(ctx, &r, `WITH g AS (UPDATE idp_groups SET updated_at = ?, version = version + 1 WHERE `+where+` RETURNING `+idpGroupCols+`),
			s AS (INSERT INTO org_generations (org_id, generation) SELECT org_id, 1 FROM g
				ON CONFLICT (org_id) DO UPDATE SET generation = org_generations.generation + 1 RETURNING generation),
			a AS (`+auditInsert+` SELECT ?, g.org_id, s.generation, ?::bigint, ?, ?, ?, ?, 'idp_group', g.id,
				(?::jsonb || jsonb_build_object('display_name', g.display_name, 'version', g.version))::text FROM g, s)
			SELECT `+idpGroupCols+` FROM g`,
			append(append([]any{now}, args...), t.s.NewID(), now, string(actor.Kind), actor.ID, actor.Name, action, string(d))...)
		if err != nil {
			return core.IdPGroup{}, orNotFound(err, "IdP group", id)
		}
		return r.idpGroup(), nil
	}
	if err := t.get(ctx, &r, `UPDATE idp_groups SET updated_at = ?, version = version + 1 WHERE `+where+` RETURNING `+idpGroupCols,
		append([]any{now}, args...)...); err != nil {
		return core.IdPGroup{}, orNotFound(err, "IdP group", id)
	}
	details["display_name"], details["version"] = r.DisplayName, r.Version
	return r.idpGroup(), t.audit(ctx, orgID, actor, action, "idp_group", id, details)
}

// deleteIdPGroup deletes a group read by lockIdPGroup; its memberships go with it
// (foreign keys cascade).
func (t *tx) deleteIdPGroup(ctx context.Context, g core.IdPGroup) error {
	_, err := t.exec(ctx, `DELETE FROM idp_groups WHERE org_id = ? AND id = ?`, g.OrgID, g.ID)
	return err
}

// addIdPMembers adds users of the org to an IdP group, leaving present members alone,
// and returns the ids it added. A chunk is one statement when every id is a new
// member (a one-member PATCH is one round trip); only when some row was not added
// does a second read tell an existing member from an id that is no user of the org,
// which is core.ErrNotFound naming it (the transaction then changes nothing).
// Into a group that does not exist (SCIM's PATCH changes the members before it
// locks the group) it adds nothing.
// With a directory (ownerDir), only the users it owns are users at all: a directory
// adds to its groups only its own users.
func (t *tx) addIdPMembers(ctx context.Context, orgID, ownerDir, groupID string, userIDs []string) ([]string, error) {
	var added []string
	now := t.s.now()
	owned, ownedArgs := "", []any{}
	if ownerDir != "" {
		owned, ownedArgs = " AND u.directory_id = ?", []any{ownerDir}
	}
	for _, part := range chunks(dedupe(userIDs), memberChunk) {
		var got []string
		args := append([]any{now, orgID, groupID}, ownedArgs...)
		if err := t.selIn(ctx, &got, `INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at, `+memberOfUserCols+`)
			SELECT g.org_id, g.id, u.id, ?, `+memberOfUser+` FROM idp_groups g JOIN users u ON u.org_id = g.org_id
			WHERE g.org_id = ? AND g.id = ?`+owned+` AND u.id IN (?)
			ON CONFLICT (idp_group_id, user_id) DO NOTHING RETURNING user_id`, append(args, part)...); err != nil {
			// A user deleted meanwhile: a foreign key.
			return nil, t.s.wrapf(err, "members of IdP group %q", groupID)
		}
		if len(got) < len(part) {
			if err := t.usersExist(ctx, orgID, ownerDir, part); err != nil {
				return nil, err
			}
		}
		added = append(added, got...)
	}
	t.s.analyze.grewMembers(len(added))
	return added, nil
}

// removeIdPMembers removes users from an IdP group and returns the ids it removed;
// removing a non-member is not an error.
func (t *tx) removeIdPMembers(ctx context.Context, orgID, groupID string, userIDs []string) ([]string, error) {
	var removed []string
	for _, part := range chunks(dedupe(userIDs), memberChunk) {
		var got []string
		if err := t.selIn(ctx, &got, `DELETE FROM idp_group_members WHERE org_id = ? AND idp_group_id = ? AND user_id IN (?)
			RETURNING user_id`, orgID, groupID, part); err != nil {
			return nil, err
		}
		removed = append(removed, got...)
	}
	return removed, nil
}

// removeAllIdPMembers empties an IdP group without reading its members (a group may
// have 100,000): its audit event says members_reload.
func (t *tx) removeAllIdPMembers(ctx context.Context, orgID, groupID string) error {
	_, err := t.exec(ctx, `DELETE FROM idp_group_members WHERE org_id = ? AND idp_group_id = ?`, orgID, groupID)
	return err
}

// usersExist checks that every id is a user of the org (owned by ownerDir, when
// set), naming the first that is not.
func (t *tx) usersExist(ctx context.Context, orgID, ownerDir string, ids []string) error {
	for _, part := range chunks(ids, memberChunk) {
		var found []string
		var err error
		if ownerDir != "" {
			err = t.selIn(ctx, &found, `SELECT id FROM users WHERE org_id = ? AND directory_id = ? AND id IN (?)`, orgID, ownerDir, part)
		} else {
			err = t.selIn(ctx, &found, `SELECT id FROM users WHERE org_id = ? AND id IN (?)`, orgID, part)
		}
		if err != nil {
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

// maxMemberIDs is how many user ids an audit event names before it says
// members_reload instead.
const maxMemberIDs = 1000

// membersChanged puts into an audit event's details which memberships the change
// touched. Readers of the change log (Changes: the decision index, webhooks) rely on
// it, so every event of a membership change uses it: group.member.add and
// group.member.remove (a user group's direct members), idp_group.members.change (the
// API), idp_group.create and idp_group.update (SCIM). The event's target is the group;
// "add_user_ids" and "remove_user_ids" list every user whose membership in it changed,
// all of them, when at most maxMemberIDs are involved; the lists are disjoint (a user
// removed and added back by one change, as Okta's remove-then-add does, is in
// neither: their membership did not change). Beyond maxMemberIDs, or when the change
// replaced the members without computing the difference (reload), the event says
// "members_reload": true instead and the reader re-reads the group's members. An
// event without these keys changed no membership of its target. user.idp_groups.set
// (an SSO login) needs neither: its target is the one user whose memberships in the
// groups of its connection_id changed.
func membersChanged(d map[string]any, added, removed []string, reload bool) map[string]any {
	if reload || len(added)+len(removed) > maxMemberIDs {
		d["members_reload"] = true
		return d
	}
	if len(added) > 0 && len(removed) > 0 {
		both := make(map[string]bool, len(removed))
		for _, id := range removed {
			both[id] = true
		}
		var net []string
		for _, id := range added {
			if both[id] {
				both[id] = false // toggled: changed twice, so not at all
			} else {
				net = append(net, id)
			}
		}
		added = net
		net = nil
		for _, id := range removed {
			if both[id] {
				net = append(net, id)
			}
		}
		removed = net
	}
	if len(added) > 0 {
		d["add_user_ids"] = added
	}
	if len(removed) > 0 {
		d["remove_user_ids"] = removed
	}
	return d
}

// scimMembersChanged writes the details of SCIM's idp_group.update (a PATCH or PUT
// of a group, members or attributes): the counts of the members it named
// ("members_added", "members_removed", "members_replaced") and, through
// membersChanged, who changed. A change that named members but changed none (an
// existing member added again, an absent one removed, a remove-then-add of one
// user) says so with two empty lists: an event with counts and no lists is, to the
// change log's readers, one written before membersChanged's contract, and the
// decision index would read the whole group again for it. A change that named no
// members (attributes only) carries none of these keys.
func scimMembersChanged(d map[string]any, mc MemberChange, added, removed []string) map[string]any {
	if mc.Empty() {
		return d
	}
	d["members_added"] = len(mc.Add)
	d["members_removed"] = len(mc.Remove)
	d["members_replaced"] = mc.Replace
	d = membersChanged(d, added, removed, mc.Replace)
	_, reload := d["members_reload"]
	_, add := d["add_user_ids"]
	_, remove := d["remove_user_ids"]
	if !reload && !add && !remove {
		d["add_user_ids"], d["remove_user_ids"] = []string{}, []string{}
	}
	return d
}

// CreateIdPGroup creates an IdP group of a directory or connection of the org.
// Display names are unique per directory (case-insensitively), external ids per connection.
func (s *SQL) CreateIdPGroup(ctx context.Context, actor core.Actor, g core.IdPGroup) (core.IdPGroup, error) {
	if err := validIdPGroup(g); err != nil {
		return core.IdPGroup{}, err
	}
	now := s.now()
	g.ID, g.CreatedAt, g.UpdatedAt, g.Version = s.NewID(), fromMicros(now), fromMicros(now), 1
	err := s.inOrgTx(ctx, g.OrgID, func(t *tx) error {
		if _, err := t.insertIdPGroup(ctx, g, false); err != nil {
			return err
		}
		return t.audit(ctx, g.OrgID, actor, "idp_group.create", "idp_group", g.ID, idpGroupDetails(g))
	})
	if err != nil {
		return core.IdPGroup{}, err
	}
	return g, nil
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
	return idpGroupsOf(rows), nil
}

func idpGroupsOf(rows []idpGroupRow) []core.IdPGroup {
	out := make([]core.IdPGroup, len(rows))
	for i, r := range rows {
		out[i] = r.idpGroup()
	}
	return out
}

// UpdateIdPGroup changes an IdP group's display name or external id through fn.
func (s *SQL) UpdateIdPGroup(ctx context.Context, actor core.Actor, orgID, id string, fn func(*core.IdPGroup) error) (core.IdPGroup, error) {
	var out core.IdPGroup
	err := s.inTx(ctx, func(t *tx) error {
		old, err := t.lockIdPGroup(ctx, orgID, "", id)
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
		if err := t.updateIdPGroup(ctx, old, &g); err != nil {
			return err
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
		g, err := t.lockIdPGroup(ctx, orgID, "", id)
		if err != nil {
			return err
		}
		if err := t.deleteIdPGroup(ctx, g); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "idp_group.delete", "idp_group", id, idpGroupDetails(g))
	})
}

// ChangeIdPGroupMembers adds, then removes, members. Its statements touch only the
// users named, in chunks; an unknown user is core.ErrNotFound and changes nothing.
// A change that changes nothing neither bumps the version nor writes an event.
func (s *SQL) ChangeIdPGroupMembers(ctx context.Context, actor core.Actor, orgID, id string, add, remove []string) error {
	return s.inTx(ctx, func(t *tx) error {
		g, err := t.lockIdPGroup(ctx, orgID, "", id)
		if err != nil {
			return err
		}
		added, err := t.addIdPMembers(ctx, orgID, "", id, add)
		if err != nil {
			return err
		}
		removed, err := t.removeIdPMembers(ctx, orgID, id, remove)
		if err != nil {
			return err
		}
		return t.idpMembersChanged(ctx, actor, g, added, removed)
	})
}

// ReplaceIdPGroupMembers sets the members to exactly userIDs. Its cost is that of
// reading the current member ids once, then changing only the difference.
func (s *SQL) ReplaceIdPGroupMembers(ctx context.Context, actor core.Actor, orgID, id string, userIDs []string) error {
	userIDs = dedupe(userIDs)
	return s.inTx(ctx, func(t *tx) error {
		g, err := t.lockIdPGroup(ctx, orgID, "", id)
		if err != nil {
			return err
		}
		if err := t.usersExist(ctx, orgID, "", userIDs); err != nil {
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
		added, err := t.addIdPMembers(ctx, orgID, "", id, add)
		if err != nil {
			return err
		}
		removed, err := t.removeIdPMembers(ctx, orgID, id, remove)
		if err != nil {
			return err
		}
		return t.idpMembersChanged(ctx, actor, g, added, removed)
	})
}

// idpMembersChanged bumps the group's version (SCIM meta.version) and writes the
// idp_group.members.change event, when the members did change.
func (t *tx) idpMembersChanged(ctx context.Context, actor core.Actor, g core.IdPGroup, added, removed []string) error {
	if len(added) == 0 && len(removed) == 0 {
		return nil
	}
	d := map[string]any{"added": len(added), "removed": len(removed)}
	_, err := t.bumpIdPGroup(ctx, actor, g.OrgID, "", g.ID, "idp_group.members.change", membersChanged(d, added, removed, false))
	return err
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
		return t.setConnectionGroups(ctx, actor, orgID, connectionID, u, values, nil)
	})
}

// SetConnectionGroupsFromDirectory is SetConnectionGroups for a login whose IdP
// sent a pointer to the groups instead of the groups (Entra's groups overage):
// the values are taken from the IdP groups of the directory the connection is
// linked to that the user is a member of (each group's external id, the object
// id Entra's groups claim would carry, or its display name when it has none). It
// reads and writes in one transaction, so the groups are the directory's at that
// moment. A connection linked to no directory, or a user that directory does not
// own, is core.ErrConflict and nothing changes.
func (s *SQL) SetConnectionGroupsFromDirectory(ctx context.Context, actor core.Actor, orgID, connectionID, userID string) (DirectoryGroups, error) {
	var out DirectoryGroups
	err := s.inTx(ctx, func(t *tx) error {
		var conns []struct {
			DirectoryID *string `db:"directory_id"`
		}
		if err := t.sel(ctx, &conns, `SELECT directory_id FROM sso_connections WHERE org_id = ? AND id = ?`, orgID, connectionID); err != nil {
			return err
		}
		if len(conns) == 0 {
			return notFound("SSO connection", connectionID)
		}
		dirID := str(conns[0].DirectoryID)
		if dirID == "" {
			return fmt.Errorf("SSO connection %s is linked to no directory: %w", connectionID, core.ErrConflict)
		}
		u, err := t.getUser(ctx, orgID, userID, true)
		if err != nil {
			return err
		}
		if u.Source != core.SourceSCIM || u.DirectoryID != dirID {
			return fmt.Errorf("user %s is not owned by directory %s, the one SSO connection %s is linked to: %w", userID, dirID, connectionID, core.ErrConflict)
		}
		var rows []idpGroupRow
		if err := t.sel(ctx, &rows, `SELECT `+idpGroupColsG+` FROM idp_group_members m JOIN idp_groups g ON g.id = m.idp_group_id
			WHERE m.user_id = ? AND g.org_id = ? AND g.directory_id = ? ORDER BY g.display_name, g.id`, userID, orgID, dirID); err != nil {
			return err
		}
		out = DirectoryGroups{DirectoryID: dirID}
		for _, r := range rows {
			g := r.idpGroup()
			out.Groups = append(out.Groups, g)
			v := g.ExternalID
			if v == "" {
				v = g.DisplayName
			}
			out.Values = append(out.Values, v)
		}
		out.Values = dedupe(out.Values)
		return t.setConnectionGroups(ctx, actor, orgID, connectionID, u, out.Values, map[string]any{"from_directory": dirID})
	})
	if err != nil {
		return DirectoryGroups{}, err
	}
	return out, nil
}

// setConnectionGroups reconciles user u's IdP groups of the connection to the
// (deduplicated) values; extra goes into the audit event's details.
func (t *tx) setConnectionGroups(ctx context.Context, actor core.Actor, orgID, connectionID string, u core.User, values []string, extra map[string]any) error {
	userID := u.ID
	// The connection's groups for these values, creating the missing ones.
	byValue := map[string]string{} // claim value → IdP group id
	load := func() error {
		for _, part := range chunks(values, memberChunk) {
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
	now := fromMicros(t.s.now())
	for _, v := range values {
		if _, ok := byValue[v]; ok {
			continue
		}
		g := core.IdPGroup{ID: t.s.NewID(), OrgID: orgID, ConnectionID: connectionID, ExternalID: v, DisplayName: v,
			CreatedAt: now, UpdatedAt: now, Version: 1}
		// Another login may create the same group at once: the unique index keeps one.
		inserted, err := t.insertIdPGroup(ctx, g, true)
		if err != nil {
			return err
		}
		if inserted {
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
	var removedNames []string
	for _, c := range current {
		have[c.ID] = true
		if !want[c.ID] {
			if _, err := t.removeIdPMembers(ctx, orgID, c.ID, []string{userID}); err != nil {
				return err
			}
			removedNames = append(removedNames, str(c.ExternalID))
		}
	}
	var addedNames []string
	for _, v := range values {
		id := byValue[v]
		if have[id] {
			continue
		}
		if _, err := t.addIdPMembers(ctx, orgID, "", id, []string{userID}); err != nil {
			return err
		}
		addedNames = append(addedNames, v)
	}
	if len(addedNames) == 0 && len(removedNames) == 0 {
		return nil
	}
	d := map[string]any{"connection_id": connectionID, "user_name": u.UserName}
	for k, v := range extra {
		d[k] = v
	}
	if len(addedNames) > 0 {
		d["added"] = addedNames
	}
	if len(removedNames) > 0 {
		d["removed"] = removedNames
	}
	return t.audit(ctx, orgID, actor, "user.idp_groups.set", "user", userID, d)
}

// SCIMCreateGroup creates an IdP group of the directory with its first members.
func (s *SQL) SCIMCreateGroup(ctx context.Context, actor core.Actor, g SCIMGroup, members []string) (SCIMGroup, error) {
	if err := validSCIMGroup(g); err != nil {
		return SCIMGroup{}, err
	}
	if g.DirectoryID == "" {
		return SCIMGroup{}, core.Invalidf("a SCIM group needs a directory")
	}
	now := fromMicros(s.now())
	g.ID, g.ConnectionID, g.CreatedAt, g.UpdatedAt, g.Version = s.NewID(), "", now, now, 1
	err := s.inOrgTx(ctx, g.OrgID, func(t *tx) error {
		if _, err := t.insertIdPGroup(ctx, g, false); err != nil {
			return err
		}
		added, err := t.addIdPMembers(ctx, g.OrgID, g.DirectoryID, g.ID, members)
		if err != nil {
			return scimMemberError(err)
		}
		d := map[string]any{"directory_id": g.DirectoryID, "display_name": g.DisplayName, "members": len(members)}
		return t.audit(ctx, g.OrgID, actor, "idp_group.create", "idp_group", g.ID, membersChanged(d, added, nil, false))
	})
	if err != nil {
		return SCIMGroup{}, fmt.Errorf("create group %q: %w", g.DisplayName, err)
	}
	return g, nil
}

// scimMemberError is how SCIM reports a member that is not a user of the
// directory: an invalid value (400), not a missing resource.
func scimMemberError(err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return core.Invalidf("a member is not a user of this directory")
	}
	return err
}

// SCIMGetGroup finds a group of the directory.
func (s *SQL) SCIMGetGroup(ctx context.Context, orgID, directoryID, id string) (SCIMGroup, error) {
	var r idpGroupRow
	var err error
	if check := tokenCheckOf(ctx); check != nil {
		col, args := check.liveCol()
		err = s.scanKey(ctx, r.dest(col != ""), `SELECT `+idpGroupCols+col+` FROM idp_groups WHERE org_id = ? AND directory_id = ? AND id = ?`, append(args, orgID, directoryID, id)...)
		if err == nil {
			check.saw(r.TokenLive)
		}
	} else {
		err = s.scanKey(ctx, r.dest(false), scimGroupQuery, orgID, directoryID, id)
	}
	if err != nil {
		return SCIMGroup{}, fmt.Errorf("group %s: %w", id, err)
	}
	return r.idpGroup(), nil
}

const scimGroupQuery = `SELECT ` + idpGroupCols + ` FROM idp_groups WHERE org_id = ? AND directory_id = ? AND id = ?`

// getSCIMGroup is SCIMGetGroup inside a transaction.
func (t *tx) getSCIMGroup(ctx context.Context, orgID, directoryID, id string) (SCIMGroup, error) {
	var r idpGroupRow
	if err := t.get(ctx, &r, scimGroupQuery, orgID, directoryID, id); err != nil {
		return SCIMGroup{}, orNotFound(err, "group", id)
	}
	return r.idpGroup(), nil
}

// SCIMUpdateGroup changes a group's attributes and members in one transaction; every
// call bumps the version (the ETag changes on every write). mc.Replace empties the
// group first; otherwise the removals run before the additions.
func (s *SQL) SCIMUpdateGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id string, fn func(*SCIMGroup) error, mc MemberChange) (SCIMGroup, error) {
	var out SCIMGroup
	var m *memberReq // members alone: may run with the group's other such changes
	if fn == nil && !mc.Replace {
		m = &memberReq{actor: actor, orgID: orgID, directoryID: directoryID, groupID: id, mc: mc, out: &out}
	}
	sh := shape{members: m}
	if m != nil && s.dialect == Postgres && s.bound == nil && s.lanes != nil {
		sh.stmt = s.memberStmt(ctx, m)
	}
	err := s.inOrgTxAs(ctx, orgID, sh, func(t *tx) error {
		if m != nil {
			var err error
			out, err = t.scimChangeMembers(ctx, actor, orgID, directoryID, id, mc)
			return err
		}
		old, err := t.lockIdPGroup(ctx, orgID, directoryID, id)
		if err != nil {
			return err
		}
		g := old
		if fn != nil {
			if err := fn(&g); err != nil {
				return err
			}
		}
		if err := validSCIMGroup(g); err != nil {
			return err
		}
		g.ID, g.OrgID, g.DirectoryID, g.ConnectionID = old.ID, old.OrgID, old.DirectoryID, old.ConnectionID
		if err := t.updateIdPGroup(ctx, old, &g); err != nil {
			return err
		}
		var removed []string
		if mc.Replace {
			err = t.removeAllIdPMembers(ctx, orgID, id)
		} else {
			removed, err = t.removeIdPMembers(ctx, orgID, id, mc.Remove)
		}
		if err != nil {
			return err
		}
		added, err := t.addIdPMembers(ctx, orgID, directoryID, id, mc.Add)
		if err != nil {
			return scimMemberError(err)
		}
		out = g
		d := map[string]any{"directory_id": directoryID, "display_name": g.DisplayName, "version": g.Version}
		return t.audit(ctx, orgID, actor, "idp_group.update", "idp_group", id, scimMembersChanged(d, mc, added, removed))
	})
	if err != nil {
		return SCIMGroup{}, fmt.Errorf("update group %s: %w", id, err)
	}
	return out, nil
}

// scimChangeMembers is SCIMUpdateGroup without fn, of a change that names its members
// (no Replace): the member statements run first, then bumpIdPGroup locks the group
// to move its version. Concurrent changes of one group then overlap but for the
// bump and the COMMIT; the rows of one member are changed one after the other. A
// Replace, or fn reading the group, locks it first (replacing the members reads
// them all; fn decides from the group as it is).
func (t *tx) scimChangeMembers(ctx context.Context, actor core.Actor, orgID, directoryID, id string, mc MemberChange) (SCIMGroup, error) {
	if t.s.dialect == Postgres && t.deferred != nil {
		return t.pgChangeMembers(ctx, actor, orgID, directoryID, id, mc)
	}
	removed, err := t.removeIdPMembers(ctx, orgID, id, mc.Remove)
	if err != nil {
		return SCIMGroup{}, err
	}
	added, err := t.addIdPMembers(ctx, orgID, directoryID, id, mc.Add)
	if err != nil {
		return SCIMGroup{}, t.scimAddError(ctx, orgID, directoryID, id, err)
	}
	d := map[string]any{"directory_id": directoryID}
	return t.bumpIdPGroup(ctx, actor, orgID, directoryID, id, "idp_group.update", scimMembersChanged(d, mc, added, removed))
}

// scimAddError is the error of a SCIM change whose addition of members failed
// (addIdPMembers), the group not locked first: a missing group is 404 before a
// member is 400, as when it is locked first.
func (t *tx) scimAddError(ctx context.Context, orgID, directoryID, id string, err error) error {
	if _, gerr := t.getSCIMGroup(ctx, orgID, directoryID, id); gerr != nil {
		return gerr
	}
	return scimMemberError(err)
}

// pgChangeMembers is scimChangeMembers in a PostgreSQL batch, whose audit events
// are written at its end (tx.deferred): the last member statement and the bump of
// the group's version are one statement, so a one-member PATCH is one round trip
// in its lane instead of two. The statements and their order are scimChangeMembers'
// (removals, additions, then the group locked to move its version), and so are the
// outcomes: a group that is not the directory's is core.ErrNotFound, before a member
// that is not its user is core.ErrInvalid; either undoes the change.
func (t *tx) pgChangeMembers(ctx context.Context, actor core.Actor, orgID, directoryID, id string, mc MemberChange) (SCIMGroup, error) {
	rm, add := chunks(dedupe(mc.Remove), memberChunk), chunks(dedupe(mc.Add), memberChunk)
	var last []string // the chunk that goes with the bump
	lastAdd := len(add) > 0
	if lastAdd {
		last, add = add[len(add)-1], add[:len(add)-1]
	} else if len(rm) > 0 {
		last, rm = rm[len(rm)-1], rm[:len(rm)-1]
	}
	var removed, added []string
	for _, part := range rm {
		got, err := t.removeIdPMembers(ctx, orgID, id, part)
		if err != nil {
			return SCIMGroup{}, err
		}
		removed = append(removed, got...)
	}
	for _, part := range add {
		got, err := t.addIdPMembers(ctx, orgID, directoryID, id, part)
		if err != nil {
			return SCIMGroup{}, t.scimAddError(ctx, orgID, directoryID, id, err)
		}
		added = append(added, got...)
	}
	query, args, err := t.s.memberBump(orgID, directoryID, id, last, lastAdd)
	if err != nil {
		return SCIMGroup{}, err
	}
	var b memberBumped
	if err := t.rows(ctx, b.scan, query, args...); err != nil {
		if lastAdd {
			return SCIMGroup{}, scimMemberError(t.s.wrapf(err, "members of IdP group %q", id)) // a user deleted meanwhile: a foreign key
		}
		return SCIMGroup{}, err
	}
	if !b.found {
		return SCIMGroup{}, notFound("IdP group", id)
	}
	if lastAdd {
		if int(b.known) < len(last) {
			// Some id is no user of the directory: usersExist names it.
			if err := t.usersExist(ctx, orgID, directoryID, last); err != nil {
				return SCIMGroup{}, scimMemberError(err)
			}
		}
		t.s.analyze.grewMembers(len(b.got))
		added = append(added, b.got...)
	} else {
		removed = append(removed, b.got...)
	}
	g := b.g.idpGroup()
	return g, t.auditMembersChange(ctx, actor, g, mc, added, removed)
}

// memberBump is the statement of a member change that changes the members ids of a
// group (adds them when add, else removes them) and moves the group's version, in
// one: for each member changed a row of the group as bumped and the member's id
// (one row with no id when none changed), and with it, for an add, how many of ids
// are the directory's users (known), so that an id added that was already a member
// needs no second statement to tell it from one that is no user (usersExist). No
// row: the group is not the directory's. PostgreSQL only (a data-modifying WITH).
// The list is expanded here (sqlx.In): a one-member change, the common one, is
// then always the same text, with the plan of an equality.
func (s *SQL) memberBump(orgID, directoryID, id string, ids []string, add bool) (string, []any, error) {
	const bump = `bumped AS (UPDATE idp_groups SET updated_at = ?, version = version + 1
		WHERE org_id = ? AND id = ? AND directory_id = ? RETURNING ` + idpGroupCols + `)`
	now := s.now()
	args := []any{now, orgID, id, directoryID}
	var query string
	switch {
	case len(ids) == 0:
		return `WITH ` + bump + ` SELECT bumped.*, NULL AS member_id, 0 AS known FROM bumped`, args, nil
	case add:
		query = `WITH known AS (SELECT u.id, ` + memberOfUser + ` FROM users u WHERE u.org_id = ? AND u.directory_id = ? AND u.id IN (?)),
			m AS (INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at, ` + memberOfUserCols + `)
			SELECT g.org_id, g.id, known.id, ?, known.member_directory_id, known.member_display FROM idp_groups g, known WHERE g.org_id = ? AND g.id = ?
			ON CONFLICT (idp_group_id, user_id) DO NOTHING RETURNING user_id),
			` + bump + ` SELECT bumped.*, m.user_id AS member_id, (SELECT count(*) FROM known) AS known
			FROM bumped LEFT JOIN m ON TRUE`
		args = append([]any{orgID, directoryID, ids, now, orgID, id}, args...)
	default:
		query = `WITH m AS (DELETE FROM idp_group_members WHERE org_id = ? AND idp_group_id = ? AND user_id IN (?) RETURNING user_id),
			` + bump + ` SELECT bumped.*, m.user_id AS member_id, 0 AS known FROM bumped LEFT JOIN m ON TRUE`
		args = append([]any{orgID, id, ids}, args...)
	}
	return sqlx.In(query, args...)
}

// memberBumped is what memberBump's rows say.
type memberBumped struct {
	g     idpGroupRow
	got   []string // the members changed
	known int64
	found bool // the group was bumped
}

// scan reads memberBump's rows, from the start.
func (b *memberBumped) scan(rows rowScanner) error {
	*b = memberBumped{}
	for rows.Next() {
		var member *string
		if err := rows.Scan(append(b.g.dest(false), &member, &b.known)...); err != nil {
			return err
		}
		b.found = true
		if member != nil {
			b.got = append(b.got, *member)
		}
	}
	return rows.Err()
}

// memberStmt is a member change m on PostgreSQL as its one statement (memberBump),
// which a lane's pipeline sends with the changes beside it: one-member PATCHes of a
// group, as an IdP sends them when people join and leave, are then answered
// together in one round trip, each moving the group's version by one, in order.
// nil when the change is more than one statement (additions and removals
// together, or more ids than a chunk). A change whose statement finds the group
// missing or an id that is no user fails the pipeline, which the batch runs again
// with that change done alone by its function (pgChangeMembers), to its error.
func (s *SQL) memberStmt(ctx context.Context, m *memberReq) *oneStmt {
	add, rm := dedupe(m.mc.Add), dedupe(m.mc.Remove)
	if len(add) > 0 && len(rm) > 0 || len(add) > memberChunk || len(rm) > memberChunk {
		return nil
	}
	ids := rm
	if len(add) > 0 {
		ids = add
	}
	query, args, err := s.memberBump(m.orgID, m.directoryID, m.groupID, ids, len(add) > 0)
	if err != nil {
		return nil
	}
	var b memberBumped
	return &oneStmt{query: query, args: args,
		rows: func(rows rowScanner) error {
			if err := b.scan(rows); err != nil {
				return err
			}
			if !b.found || int(b.known) < len(add) {
				return errRunFailed
			}
			return nil
		},
		done: func(t *tx) error {
			added, removed := []string(nil), b.got
			if len(add) > 0 {
				added, removed = b.got, nil
				t.s.analyze.grewMembers(len(b.got))
			}
			g := b.g.idpGroup()
			*m.out = g
			return t.auditMembersChange(ctx, m.actor, g, m.mc, added, removed)
		}}
}

// auditMembersChange writes the audit event of a SCIM member change mc that added
// and removed those ids and left the group as g: the event scimChangeMembers writes
// (through bumpIdPGroup).
func (t *tx) auditMembersChange(ctx context.Context, actor core.Actor, g SCIMGroup, mc MemberChange, added, removed []string) error {
	d := scimMembersChanged(map[string]any{"directory_id": g.DirectoryID}, mc, added, removed)
	d["display_name"], d["version"] = g.DisplayName, g.Version
	return t.audit(ctx, g.OrgID, actor, "idp_group.update", "idp_group", g.ID, d)
}

// SCIMDeleteGroup removes a group of the directory and its memberships.
func (s *SQL) SCIMDeleteGroup(ctx context.Context, actor core.Actor, orgID, directoryID, id string) error {
	err := s.inOrgTx(ctx, orgID, func(t *tx) error {
		g, err := t.lockIdPGroup(ctx, orgID, directoryID, id)
		if err != nil {
			return err
		}
		if err := t.deleteIdPGroup(ctx, g); err != nil {
			return err
		}
		return t.audit(ctx, orgID, actor, "idp_group.delete", "idp_group", id, map[string]any{"directory_id": directoryID, "display_name": g.DisplayName})
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
	var rows []idpGroupRow
	total, err := s.listPage(ctx, orgID, "idp_groups g", where, args, idpGroupColsG, nil, "", nil, s.orderBy("g.id", q), q, &rows, func() int { return len(rows) })
	if err != nil {
		return nil, 0, fmt.Errorf("list groups: %w", err)
	}
	return idpGroupsOf(rows), total, nil
}

// MaxMemberPage bounds a page of SCIMGroupMembers. It is larger than MaxLimit: a
// streamed group is read page by page, and on PostgreSQL each page is a round trip
// and a plan (pages of 5,000 read a 10,000-member group a tenth faster than pages
// of 1,000), while a page of members is small (an id and a name each).
const MaxMemberPage = 5000

// SCIMGroupMembers pages through a group's members by user id (keyset paging), a
// range of the members' primary key: each membership carries its user's display
// and directory (memberOfUser), so no user is read. Only the users the directory
// owns are listed: a user transferred away is no member as the directory sees it.
func (s *SQL) SCIMGroupMembers(ctx context.Context, orgID, directoryID, groupID, after string, limit int) ([]SCIMMember, error) {
	if limit <= 0 || limit > MaxMemberPage {
		limit = MaxMemberPage
	}
	out := make([]SCIMMember, 0, min(limit, 64))
	err := s.rows1(ctx, func(rows *sql.Rows) error {
		var m SCIMMember
		if err := rows.Scan(&m.ID, &m.Display); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	}, `SELECT user_id, member_display FROM idp_group_members
		WHERE org_id = ? AND idp_group_id = ? AND user_id > ? AND member_directory_id = ? ORDER BY user_id LIMIT ?`,
		orgID, groupID, after, directoryID, limit)
	if err != nil {
		return nil, fmt.Errorf("group %s members: %w", groupID, err)
	}
	return out, nil
}
