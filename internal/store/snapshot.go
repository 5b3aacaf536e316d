package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/jmoiron/sqlx"
)

// OrgSnapshots is what a decision index reads: one org's access graph and change log
// inside one read snapshot, so that the rows and the change number agree.
type OrgSnapshots interface {
	// ReadOrg runs fn in one read-only snapshot of the org (see SQL.ReadOrg).
	ReadOrg(ctx context.Context, orgID string, fn func(*OrgReader) error) error
	// ReadOrgAll reads every row of the org's graph and the seq it is at.
	ReadOrgAll(ctx context.Context, orgID string) (*OrgRows, int64, error)
}

var _ OrgSnapshots = (*SQL)(nil)

// OrgRows are rows of one org's access graph, with the fields decisions and their
// explanations read: no timestamps, versions, descriptions, nor a user's profile
// beyond userName and email, which change without changing a decision.
type OrgRows struct {
	// FoldsUnicode is set, by All, when the database's lower() folds letters
	// beyond ASCII (PostgreSQL in a UTF-8 locale does, SQLite does not): a reader
	// matching names in memory folds them as the SQL does.
	FoldsUnicode bool

	Users []OrgUser
	// Groups are user groups (ID, OrgID, Name).
	Groups []core.UserGroup
	// Members are direct (manual) user-group memberships.
	Members []OrgMember
	// IdPGroups carry their source, external id and display name.
	IdPGroups []core.IdPGroup
	// IdPMembers are IdP-group memberships (GroupID is the IdP group's).
	IdPMembers []OrgMember
	Mappings   []core.Mapping
	// Sources are the org's SCIM directories and SSO connections, by name.
	Sources     []OrgSource
	Roles       []core.CustomRole // ID, OrgID, Name, Rules
	Workspaces  []core.Workspace  // ID, OrgID, Slug, Name, Environments in promotion order
	Spaces      []core.Space      // ID, WorkspaceID, Name
	SpaceGroups []OrgSpaceGroup
	// Grants carry their environments in promotion order (none: every environment).
	Grants []core.Grant
	// Resources carry ID, WorkspaceID, Type, ExternalID, EnvironmentID and SpaceID.
	Resources []core.Resource
}

// OrgUser is a user as decisions see them.
type OrgUser struct {
	ID, UserName, Email string
	Active, OrgAdmin    bool
}

// OrgMember is one membership of a user in a user group or an IdP group. In rows
// read by All, Group and User are also the positions of the group in Groups (or
// IdPGroups) and of the user in Users, so that a reader need not look the ids up;
// elsewhere they are -1.
type OrgMember struct {
	GroupID, UserID string
	Group, User     int32
}

// OrgSource is a SCIM directory (Connection false) or an SSO connection.
type OrgSource struct {
	ID, Name   string
	Connection bool
}

// OrgSpaceGroup is one user group assigned to a space.
type OrgSpaceGroup struct{ SpaceID, WorkspaceID, GroupID string }

// OrgKeys names what a targeted read (OrgReader.Rows) returns. A key whose row is
// absent from the result does not exist (any more) in the snapshot.
type OrgKeys struct {
	// Users: each user's row, org-admin flag and every membership, direct and IdP.
	Users  []string
	Groups []string
	// GroupMembers: every direct member of these user groups.
	GroupMembers []string
	IdPGroups    []string
	// IdPGroupMembers: every member of these IdP groups.
	IdPGroupMembers []string
	Mappings        []string
	Roles           []string
	Grants          []string
	// Workspaces: each workspace's row, environments, spaces and space groups.
	Workspaces []string
	// Environments: their workspaces, as under Workspaces.
	Environments []string
	// Spaces: each space's row and groups.
	Spaces    []string
	Resources []string
	// Sources: directories and SSO connections.
	Sources []string
}

// Empty reports whether k names nothing.
func (k OrgKeys) Empty() bool {
	for _, l := range [][]string{k.Users, k.Groups, k.GroupMembers, k.IdPGroups, k.IdPGroupMembers, k.Mappings, k.Roles,
		k.Grants, k.Workspaces, k.Environments, k.Spaces, k.Resources, k.Sources} {
		if len(l) > 0 {
			return false
		}
	}
	return true
}

// OrgReader reads one org inside the read snapshot of SQL.ReadOrg. Every read sees
// the state the change log stands at Seq.
type OrgReader struct {
	t     *tx
	orgID string
	seq   int64
}

// ReadOrg runs fn in one read-only snapshot (see SQL.read): the org's generation is
// read first, so Seq and every row fn reads belong to the same state, which holds
// exactly the changes 1..Seq of the org's change log.
func (s *SQL) ReadOrg(ctx context.Context, orgID string, fn func(*OrgReader) error) error {
	return s.read(ctx, func(t *tx) error {
		r := &OrgReader{t: t, orgID: orgID}
		err := t.get(ctx, &r.seq, `SELECT generation FROM org_generations WHERE org_id = ?`, orgID)
		if err != nil && !isNotFound(translate(err)) {
			return fmt.Errorf("store: read org %s: %w", orgID, err)
		}
		return fn(r)
	})
}

// Seq is the number of the last change in the snapshot (0: the org never changed).
func (r *OrgReader) Seq() int64 { return r.seq }

// Changes is Audit.Changes inside the snapshot: events with after < Seq ≤ r.Seq().
func (r *OrgReader) Changes(ctx context.Context, after int64, limit int) ([]core.AuditEvent, error) {
	var rows []auditRow
	if err := r.t.sel(ctx, &rows, `SELECT `+auditCols+` FROM audit_events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		r.orgID, after, Page{Limit: limit}.limit()); err != nil {
		return nil, fmt.Errorf("store: changes of org %s: %w", r.orgID, err)
	}
	return auditEvents(rows)
}

// foldsUnicode asks whether the database's lower() folds letters beyond ASCII.
func (r *OrgReader) foldsUnicode(ctx context.Context) (bool, error) {
	var got string
	if err := r.t.get(ctx, &got, `SELECT lower(?)`, "ÀΣ"); err != nil {
		return false, fmt.Errorf("store: probe lower(): %w", err)
	}
	return got == "àσ", nil
}

// All reads the org's whole access graph in set reads, one per table. Ids that
// several rows name (a user in each of their memberships, a workspace in each of
// its resources) share one string, so the rows cost little more than the graph.
func (r *OrgReader) All(ctx context.Context) (*OrgRows, error) {
	out := &OrgRows{}
	var err error
	if out.FoldsUnicode, err = r.foldsUnicode(ctx); err == nil {
		err = r.people(ctx, out)
	}
	if err == nil {
		err = r.places(ctx, out)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read org %s: %w", r.orgID, err)
	}
	out.share()
	return out, nil
}

// ReadOrgAll is ReadOrg with All: the org's whole graph and the seq it is at. On
// a SQLite file or PostgreSQL it reads the two halves of the graph (people and
// their memberships; workspaces and what is in them) in two read transactions at
// once. They hold the same state when both read the same generation, since every
// change moves it in its own transaction; when a change commits between their
// starts, they are read again, and after a few tries in one transaction.
func (s *SQL) ReadOrgAll(ctx context.Context, orgID string) (*OrgRows, int64, error) {
	if s.bound == nil && (s.dialect == Postgres || s.rdb != s.db) {
		for range 3 {
			var halves [2]OrgRows
			var seqs [2]int64
			var errs [2]error
			var wg sync.WaitGroup
			for i, half := range []func(*OrgReader, context.Context, *OrgRows) error{(*OrgReader).people, (*OrgReader).places} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.ReadOrg(ctx, orgID, func(r *OrgReader) error {
						seqs[i] = r.seq
						if i == 0 {
							var err error
							if halves[i].FoldsUnicode, err = r.foldsUnicode(ctx); err != nil {
								return err
							}
						}
						return half(r, ctx, &halves[i])
					})
				}()
			}
			wg.Wait()
			if err := errors.Join(errs[:]...); err != nil {
				return nil, 0, fmt.Errorf("store: read org %s: %w", orgID, err)
			}
			if seqs[0] == seqs[1] {
				out := &halves[0]
				out.Workspaces, out.Spaces, out.SpaceGroups, out.Grants, out.Resources =
					halves[1].Workspaces, halves[1].Spaces, halves[1].SpaceGroups, halves[1].Grants, halves[1].Resources
				out.share()
				return out, seqs[0], nil
			}
		}
	}
	var rows *OrgRows
	var seq int64
	err := s.ReadOrg(ctx, orgID, func(r *OrgReader) error {
		var err error
		rows, err = r.All(ctx)
		seq = r.seq
		return err
	})
	return rows, seq, err
}

// people reads users, user groups, IdP groups, their memberships, mappings,
// sources and custom roles.
func (r *OrgReader) people(ctx context.Context, out *OrgRows) error {
	t, org := r.t, r.orgID
	var err error
	if out.Users, err = r.users(ctx, `u.org_id = ?`, org); err != nil {
		return err
	}
	if out.Groups, err = r.groups(ctx, `org_id = ?`, org); err != nil {
		return err
	}
	if out.IdPGroups, err = r.idpGroups(ctx, `org_id = ?`, org); err != nil {
		return err
	}
	users := make(map[string]int32, len(out.Users))
	for i, u := range out.Users {
		users[u.ID] = int32(i)
	}
	groups := make(map[string]int32, len(out.Groups))
	for i, g := range out.Groups {
		groups[g.ID] = int32(i)
	}
	idps := make(map[string]int32, len(out.IdPGroups))
	for i, g := range out.IdPGroups {
		idps[g.ID] = int32(i)
	}
	// The membership tables have no org index: each is reached through its group,
	// so rows come group by group.
	if out.Members, err = scanMembers(ctx, t, groups, users, out.Groups, out.Users, `SELECT m.group_id, m.user_id FROM user_groups g
		JOIN user_group_members m ON m.group_id = g.id WHERE g.org_id = ?`, org); err != nil {
		return err
	}
	idpGroups := make([]core.UserGroup, len(out.IdPGroups)) // their ids, for scanMembers
	for i, g := range out.IdPGroups {
		idpGroups[i].ID = g.ID
	}
	if out.IdPMembers, err = scanMembers(ctx, t, idps, users, idpGroups, out.Users, `SELECT m.idp_group_id, m.user_id FROM idp_groups g
		JOIN idp_group_members m ON m.idp_group_id = g.id WHERE g.org_id = ?`, org); err != nil {
		return err
	}
	if out.Mappings, err = r.mappings(ctx, `org_id = ?`, org); err != nil {
		return err
	}
	if out.Sources, err = r.sources(ctx, `org_id = ?`, org); err != nil {
		return err
	}
	out.Roles, err = r.roles(ctx, `org_id = ?`, org)
	return err
}

// places reads workspaces with their environments, spaces, space groups, grants
// and resources.
func (r *OrgReader) places(ctx context.Context, out *OrgRows) error {
	t, org := r.t, r.orgID
	var err error
	if out.Workspaces, err = r.workspaces(ctx, `w.org_id = ?`, org); err != nil {
		return err
	}
	if out.Spaces, err = r.spaces(ctx, `w.org_id = ?`, org); err != nil {
		return err
	}
	if out.SpaceGroups, err = r.spaceGroups(ctx, `FROM workspaces w JOIN spaces s ON s.workspace_id = w.id
		JOIN space_groups sg ON sg.space_id = s.id WHERE w.org_id = ?`, org); err != nil {
		return err
	}
	if out.Grants, err = r.grants(ctx, `FROM workspaces w JOIN grants g ON g.workspace_id = w.id WHERE w.org_id = ?`,
		`FROM workspaces w JOIN grants g ON g.workspace_id = w.id JOIN grant_environments ge ON ge.grant_id = g.id
		JOIN environments e ON e.id = ge.environment_id WHERE w.org_id = ?`, org); err != nil {
		return err
	}
	out.Resources, err = scanResources(ctx, t, out.Workspaces, out.Spaces, `FROM workspaces w JOIN resources r ON r.workspace_id = w.id WHERE w.org_id = ?`, org)
	return err
}

// share makes the ids grants and space groups name share the strings of the
// groups, workspaces, environments and spaces they name.
func (out *OrgRows) share() {
	canon := map[string]string{}
	for _, g := range out.Groups {
		canon[g.ID] = g.ID
	}
	for _, w := range out.Workspaces {
		canon[w.ID] = w.ID
		for _, e := range w.Environments {
			canon[e.ID] = e.ID
		}
	}
	for _, sp := range out.Spaces {
		canon[sp.ID] = sp.ID
	}
	for i, sg := range out.SpaceGroups {
		out.SpaceGroups[i] = OrgSpaceGroup{canonical(canon, sg.SpaceID), canonical(canon, sg.WorkspaceID), canonical(canon, sg.GroupID)}
	}
	for i := range out.Grants {
		g := &out.Grants[i]
		g.UserGroupID, g.WorkspaceID = canonical(canon, g.UserGroupID), canonical(canon, g.WorkspaceID)
		for j, e := range g.EnvironmentIDs {
			g.EnvironmentIDs[j] = canonical(canon, e)
		}
	}
}

// canonical returns the shared copy of an id when there is one.
func canonical(canon map[string]string, id string) string {
	if c, ok := canon[id]; ok {
		return c
	}
	return id
}

// scanMembers reads (group id, user id) pairs, numbering them by position in
// groups and users. Rows come group by group, so a group is looked up once;
// each user is one lookup, and no string is made per row.
func scanMembers(ctx context.Context, t *tx, groupPos, userPos map[string]int32, groups []core.UserGroup, users []OrgUser,
	query string, args ...any) ([]OrgMember, error) {
	rows, err := t.QueryContext(ctx, t.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OrgMember
	var g, u sql.RawBytes
	gi := int32(-1)
	for rows.Next() {
		if err := rows.Scan(&g, &u); err != nil {
			return nil, err
		}
		if gi < 0 || groups[gi].ID != string(g) {
			var ok bool
			if gi, ok = groupPos[string(g)]; !ok {
				return nil, fmt.Errorf("membership of unknown group %s", g)
			}
		}
		ui, ok := userPos[string(u)]
		if !ok {
			return nil, fmt.Errorf("membership of unknown user %s", u)
		}
		out = append(out, OrgMember{GroupID: groups[gi].ID, UserID: users[ui].ID, Group: gi, User: ui})
	}
	return out, rows.Err()
}

// scanResources reads resources, sharing the strings of their workspaces,
// environments, spaces and types with wss and spaces (when given). Rows come
// workspace by workspace: each workspace is looked up once.
func scanResources(ctx context.Context, t *tx, wss []core.Workspace, spaces []core.Space, from string, args ...any) ([]core.Resource, error) {
	wsPos := make(map[string]int, len(wss))
	for i, w := range wss {
		wsPos[w.ID] = i
	}
	spacesOf := make(map[string][]string, len(wss))
	for _, sp := range spaces {
		spacesOf[sp.WorkspaceID] = append(spacesOf[sp.WorkspaceID], sp.ID)
	}
	rows, err := t.QueryContext(ctx, t.Rebind(`SELECT r.id, r.workspace_id, r.type, r.external_id, r.environment_id, r.space_id `+from), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []core.Resource
	var id, ws, typ, ext, env, space sql.RawBytes
	var cur *core.Workspace
	// share returns the string among known equal to b, or a new one.
	share := func(b sql.RawBytes, known []string) string {
		for _, k := range known {
			if k == string(b) {
				return k
			}
		}
		return string(b)
	}
	types := make([]string, len(core.ResourceTypes))
	for i, t := range core.ResourceTypes {
		types[i] = string(t)
	}
	var envIDs []string
	for rows.Next() {
		if err := rows.Scan(&id, &ws, &typ, &ext, &env, &space); err != nil {
			return nil, err
		}
		if cur == nil || cur.ID != string(ws) {
			cur = nil
			if i, ok := wsPos[string(ws)]; ok {
				cur = &wss[i]
				envIDs = envIDs[:0]
				for _, e := range cur.Environments {
					envIDs = append(envIDs, e.ID)
				}
			}
		}
		res := core.Resource{ID: string(id), Type: core.ResourceType(share(typ, types)), ExternalID: string(ext)}
		if cur != nil {
			res.WorkspaceID = cur.ID
			if env != nil {
				res.EnvironmentID = share(env, envIDs)
			}
			if space != nil {
				res.SpaceID = share(space, spacesOf[cur.ID])
			}
		} else {
			res.WorkspaceID = string(ws)
			if env != nil {
				res.EnvironmentID = string(env)
			}
			if space != nil {
				res.SpaceID = string(space)
			}
		}
		out = append(out, res)
	}
	return out, rows.Err()
}

// Rows reads the rows k names, in set reads of at most batchChunk ids each.
func (r *OrgReader) Rows(ctx context.Context, k OrgKeys) (*OrgRows, error) {
	out := &OrgRows{}
	if err := r.rows(ctx, k, out); err != nil {
		return nil, fmt.Errorf("store: read rows of org %s: %w", r.orgID, err)
	}
	return out, nil
}

func (r *OrgReader) rows(ctx context.Context, k OrgKeys, out *OrgRows) error {
	t, org := r.t, r.orgID
	each := func(ids []string, fn func(part []string) error) error {
		for _, part := range chunks(dedupe(ids), batchChunk) {
			if err := fn(part); err != nil {
				return err
			}
		}
		return nil
	}
	members := func(dst *[]OrgMember, query string) func([]string) error {
		return func(part []string) error {
			var rows []struct {
				GroupID string `db:"group_id"`
				UserID  string `db:"user_id"`
			}
			if err := t.selIn(ctx, &rows, query, org, part); err != nil {
				return err
			}
			for _, m := range rows {
				*dst = append(*dst, OrgMember{GroupID: m.GroupID, UserID: m.UserID, Group: -1, User: -1})
			}
			return nil
		}
	}
	steps := []struct {
		ids []string
		fn  func([]string) error
	}{
		{k.Users, func(part []string) error {
			us, err := r.users(ctx, `u.org_id = ? AND u.id IN (?)`, org, part)
			out.Users = append(out.Users, us...)
			return err
		}},
		{k.Users, members(&out.Members, `SELECT group_id, user_id FROM user_group_members WHERE org_id = ? AND user_id IN (?)`)},
		{k.Users, members(&out.IdPMembers, `SELECT idp_group_id AS group_id, user_id FROM idp_group_members WHERE org_id = ? AND user_id IN (?)`)},
		{k.GroupMembers, members(&out.Members, `SELECT group_id, user_id FROM user_group_members WHERE org_id = ? AND group_id IN (?)`)},
		{k.IdPGroupMembers, members(&out.IdPMembers, `SELECT idp_group_id AS group_id, user_id FROM idp_group_members WHERE org_id = ? AND idp_group_id IN (?)`)},
		{k.Groups, func(part []string) error {
			gs, err := r.groups(ctx, `org_id = ? AND id IN (?)`, org, part)
			out.Groups = append(out.Groups, gs...)
			return err
		}},
		{k.IdPGroups, func(part []string) error {
			gs, err := r.idpGroups(ctx, `org_id = ? AND id IN (?)`, org, part)
			out.IdPGroups = append(out.IdPGroups, gs...)
			return err
		}},
		{k.Mappings, func(part []string) error {
			ms, err := r.mappings(ctx, `org_id = ? AND id IN (?)`, org, part)
			out.Mappings = append(out.Mappings, ms...)
			return err
		}},
		{k.Roles, func(part []string) error {
			rs, err := r.roles(ctx, `org_id = ? AND id IN (?)`, org, part)
			out.Roles = append(out.Roles, rs...)
			return err
		}},
		{k.Grants, func(part []string) error {
			gs, err := r.grants(ctx, `FROM grants g WHERE g.org_id = ? AND g.id IN (?)`,
				`FROM grants g JOIN grant_environments ge ON ge.grant_id = g.id JOIN environments e ON e.id = ge.environment_id
				WHERE g.org_id = ? AND g.id IN (?)`, org, part)
			out.Grants = append(out.Grants, gs...)
			return err
		}},
		{k.Spaces, func(part []string) error {
			ss, err := r.spaces(ctx, `w.org_id = ? AND s.id IN (?)`, org, part)
			if err != nil {
				return err
			}
			out.Spaces = append(out.Spaces, ss...)
			sgs, err := r.spaceGroups(ctx, `FROM space_groups sg WHERE sg.org_id = ? AND sg.space_id IN (?)`, org, part)
			out.SpaceGroups = append(out.SpaceGroups, sgs...)
			return err
		}},
		{k.Resources, func(part []string) error {
			rs, err := scanResources(ctx, t, nil, nil, `FROM resources r JOIN workspaces w ON w.id = r.workspace_id
				WHERE w.org_id = ? AND r.id IN (`+placeholders(len(part))+`)`, append([]any{org}, anys(part)...)...)
			out.Resources = append(out.Resources, rs...)
			return err
		}},
		{k.Sources, func(part []string) error {
			ss, err := r.sources(ctx, `org_id = ? AND id IN (?)`, org, part)
			out.Sources = append(out.Sources, ss...)
			return err
		}},
	}
	for _, st := range steps {
		if err := each(st.ids, st.fn); err != nil {
			return err
		}
	}
	// Workspaces, with those of the environments named.
	wsIDs := append([]string(nil), k.Workspaces...)
	if err := each(k.Environments, func(part []string) error {
		var ids []string
		if err := t.selIn(ctx, &ids, `SELECT e.workspace_id FROM environments e JOIN workspaces w ON w.id = e.workspace_id
			WHERE w.org_id = ? AND e.id IN (?)`, org, part); err != nil {
			return err
		}
		wsIDs = append(wsIDs, ids...)
		return nil
	}); err != nil {
		return err
	}
	return each(wsIDs, func(part []string) error {
		ws, err := r.workspaces(ctx, `w.org_id = ? AND w.id IN (?)`, org, part)
		if err != nil {
			return err
		}
		out.Workspaces = append(out.Workspaces, ws...)
		ss, err := r.spaces(ctx, `w.org_id = ? AND s.workspace_id IN (?)`, org, part)
		if err != nil {
			return err
		}
		out.Spaces = append(out.Spaces, ss...)
		sgs, err := r.spaceGroups(ctx, `FROM workspaces w JOIN spaces s ON s.workspace_id = w.id
			JOIN space_groups sg ON sg.space_id = s.id WHERE w.org_id = ? AND w.id IN (?)`, org, part)
		out.SpaceGroups = append(out.SpaceGroups, sgs...)
		return err
	})
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// users reads users and their org-admin flags; where is on users u. Rows are
// scanned by hand: at 100,000 users, reflection costs as much as the read.
func (r *OrgReader) users(ctx context.Context, where string, args ...any) ([]OrgUser, error) {
	q, qargs, err := sqlx.In(`SELECT u.id, u.user_name, u.email, u.active FROM users u WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	rows, err := r.t.QueryContext(ctx, r.t.Rebind(q), qargs...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OrgUser
	for rows.Next() {
		var u OrgUser
		if err := rows.Scan(&u.ID, &u.UserName, &u.Email, &u.Active); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var admins []string
	q, qargs, err = sqlx.In(`SELECT u.id FROM org_admins a JOIN users u ON u.org_id = a.org_id AND u.id = a.user_id WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	if err := r.t.sel(ctx, &admins, q, qargs...); err != nil {
		return nil, err
	}
	if len(admins) > 0 {
		admin := make(map[string]bool, len(admins))
		for _, id := range admins {
			admin[id] = true
		}
		for i := range out {
			out[i].OrgAdmin = admin[out[i].ID]
		}
	}
	return out, nil
}

func (r *OrgReader) groups(ctx context.Context, where string, args ...any) ([]core.UserGroup, error) {
	var rows []struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	if err := r.t.selIn(ctx, &rows, `SELECT id, name FROM user_groups WHERE `+where+` ORDER BY id`, args...); err != nil {
		return nil, err
	}
	out := make([]core.UserGroup, len(rows))
	for i, g := range rows {
		out[i] = core.UserGroup{ID: g.ID, OrgID: r.orgID, Name: g.Name}
	}
	return out, nil
}

func (r *OrgReader) idpGroups(ctx context.Context, where string, args ...any) ([]core.IdPGroup, error) {
	var rows []struct {
		ID           string  `db:"id"`
		DirectoryID  *string `db:"directory_id"`
		ConnectionID *string `db:"connection_id"`
		ExternalID   *string `db:"external_id"`
		DisplayName  string  `db:"display_name"`
	}
	if err := r.t.selIn(ctx, &rows, `SELECT id, directory_id, connection_id, external_id, display_name FROM idp_groups
		WHERE `+where+` ORDER BY id`, args...); err != nil {
		return nil, err
	}
	out := make([]core.IdPGroup, len(rows))
	for i, g := range rows {
		out[i] = core.IdPGroup{ID: g.ID, OrgID: r.orgID, DirectoryID: str(g.DirectoryID), ConnectionID: str(g.ConnectionID),
			ExternalID: str(g.ExternalID), DisplayName: g.DisplayName}
	}
	return out, nil
}

func (r *OrgReader) mappings(ctx context.Context, where string, args ...any) ([]core.Mapping, error) {
	var rows []mappingRow
	if err := r.t.selIn(ctx, &rows, `SELECT `+mappingCols+` FROM group_mappings WHERE `+where+` ORDER BY id`, args...); err != nil {
		return nil, err
	}
	out := make([]core.Mapping, len(rows))
	for i, m := range rows {
		out[i] = m.mapping()
		out[i].CreatedAt = time.Time{}
	}
	return out, nil
}

func (r *OrgReader) sources(ctx context.Context, where string, args ...any) ([]OrgSource, error) {
	var rows []struct {
		ID         string `db:"id"`
		Name       string `db:"name"`
		Connection bool   `db:"connection"`
	}
	// The same condition on both tables: where names only their common columns.
	q := `SELECT id, name, ` + r.t.boolLit(false) + ` AS connection FROM scim_directories WHERE ` + where +
		` UNION ALL SELECT id, name, ` + r.t.boolLit(true) + ` AS connection FROM sso_connections WHERE ` + where
	if err := r.t.selIn(ctx, &rows, q, append(args, args...)...); err != nil {
		return nil, err
	}
	out := make([]OrgSource, len(rows))
	for i, s := range rows {
		out[i] = OrgSource{ID: s.ID, Name: s.Name, Connection: s.Connection}
	}
	return out, nil
}

// boolLit is a boolean literal of the dialect.
func (t *tx) boolLit(v bool) string {
	switch {
	case t.s.dialect == Postgres && v:
		return "TRUE"
	case t.s.dialect == Postgres:
		return "FALSE"
	case v:
		return "1"
	}
	return "0"
}

func (r *OrgReader) roles(ctx context.Context, where string, args ...any) ([]core.CustomRole, error) {
	var rows []customRoleRow
	if err := r.t.selIn(ctx, &rows, `SELECT `+customRoleCols+` FROM custom_roles WHERE `+where+` ORDER BY id`, args...); err != nil {
		return nil, err
	}
	out, err := rolesOf(rows)
	if err != nil {
		return nil, err
	}
	for i, cr := range out {
		out[i] = core.CustomRole{ID: cr.ID, OrgID: cr.OrgID, Name: cr.Name, Rules: cr.Rules}
	}
	return out, nil
}

// workspaces reads workspaces (where is on workspaces w) with their environments in
// promotion order.
func (r *OrgReader) workspaces(ctx context.Context, where string, args ...any) ([]core.Workspace, error) {
	var rows []struct {
		ID        string  `db:"id"`
		Slug      string  `db:"slug"`
		Name      string  `db:"name"`
		EnvID     *string `db:"e_id"`
		EnvName   *string `db:"e_name"`
		Position  *int    `db:"e_position"`
		Approval  *bool   `db:"e_requires_approval"`
		Approvals *int    `db:"e_approvals_required"`
	}
	if err := r.t.selIn(ctx, &rows, `SELECT w.id, w.slug, w.name, e.id AS e_id, e.name AS e_name, e.position AS e_position,
			e.requires_approval AS e_requires_approval, e.approvals_required AS e_approvals_required
		FROM workspaces w LEFT JOIN environments e ON e.workspace_id = w.id
		WHERE `+where+` ORDER BY w.id, e.position`, args...); err != nil {
		return nil, err
	}
	var out []core.Workspace
	for _, row := range rows {
		if n := len(out); n == 0 || out[n-1].ID != row.ID {
			out = append(out, core.Workspace{ID: row.ID, OrgID: r.orgID, Slug: row.Slug, Name: row.Name, Environments: []core.Environment{}})
		}
		if row.EnvID != nil {
			w := &out[len(out)-1]
			w.Environments = append(w.Environments, core.Environment{ID: *row.EnvID, WorkspaceID: w.ID, Name: *row.EnvName, Position: *row.Position,
				RequiresApproval: *row.Approval, ApprovalsRequired: *row.Approvals})
		}
	}
	return out, nil
}

// spaces reads spaces; where is on spaces s joined to their workspaces w.
func (r *OrgReader) spaces(ctx context.Context, where string, args ...any) ([]core.Space, error) {
	var rows []struct {
		ID          string `db:"id"`
		WorkspaceID string `db:"workspace_id"`
		Name        string `db:"name"`
	}
	if err := r.t.selIn(ctx, &rows, `SELECT s.id, s.workspace_id, s.name FROM spaces s JOIN workspaces w ON w.id = s.workspace_id
		WHERE `+where+` ORDER BY s.id`, args...); err != nil {
		return nil, err
	}
	out := make([]core.Space, len(rows))
	for i, s := range rows {
		out[i] = core.Space{ID: s.ID, WorkspaceID: s.WorkspaceID, Name: s.Name}
	}
	return out, nil
}

// spaceGroups reads space assignments; from joins space_groups sg.
func (r *OrgReader) spaceGroups(ctx context.Context, from string, args ...any) ([]OrgSpaceGroup, error) {
	var rows []struct {
		SpaceID     string `db:"space_id"`
		WorkspaceID string `db:"workspace_id"`
		GroupID     string `db:"user_group_id"`
	}
	if err := r.t.selIn(ctx, &rows, `SELECT sg.space_id, sg.workspace_id, sg.user_group_id `+from, args...); err != nil {
		return nil, err
	}
	out := make([]OrgSpaceGroup, len(rows))
	for i, sg := range rows {
		out[i] = OrgSpaceGroup{SpaceID: sg.SpaceID, WorkspaceID: sg.WorkspaceID, GroupID: sg.GroupID}
	}
	return out, nil
}

// grants reads grants (from joins grants g) and their environments in promotion
// order (envFrom joins grant_environments ge and environments e); both take args.
func (r *OrgReader) grants(ctx context.Context, from, envFrom string, args ...any) ([]core.Grant, error) {
	var rows []struct {
		ID           string  `db:"id"`
		GroupID      string  `db:"user_group_id"`
		WorkspaceID  string  `db:"workspace_id"`
		BuiltinRole  *string `db:"builtin_role"`
		CustomRoleID *string `db:"custom_role_id"`
	}
	if err := r.t.selIn(ctx, &rows, `SELECT g.id, g.user_group_id, g.workspace_id, g.builtin_role, g.custom_role_id `+from+` ORDER BY g.id`, args...); err != nil {
		return nil, err
	}
	var envs []struct {
		GrantID string `db:"grant_id"`
		EnvID   string `db:"environment_id"`
	}
	if err := r.t.selIn(ctx, &envs, `SELECT ge.grant_id, ge.environment_id `+envFrom+` ORDER BY ge.grant_id, e.position`, args...); err != nil {
		return nil, err
	}
	byGrant := make(map[string][]string, len(envs))
	for _, e := range envs {
		byGrant[e.GrantID] = append(byGrant[e.GrantID], e.EnvID)
	}
	out := make([]core.Grant, len(rows))
	for i, g := range rows {
		out[i] = core.Grant{ID: g.ID, OrgID: r.orgID, UserGroupID: g.GroupID, WorkspaceID: g.WorkspaceID,
			Role: str(g.BuiltinRole), CustomRoleID: str(g.CustomRoleID), EnvironmentIDs: byGrant[g.ID]}
	}
	return out, nil
}
