package store

import (
	"context"
	"sort"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// FactsKey names the facts of one user in one workspace.
type FactsKey struct{ UserID, WorkspaceID string }

// ResourceKey names a resource by the application's id.
type ResourceKey struct {
	WorkspaceID string
	Type        core.ResourceType
	ExternalID  string
}

// Batches is what the API's batch check reads ahead in a few set-based queries,
// instead of several queries per question. Each method answers exactly what the
// per-item method would (the tests compare them); missing objects are absent
// from the maps.
type Batches interface {
	// UsersByRef resolves references as an id, else an email (oldest user), else a
	// userName, like the API's single lookups.
	UsersByRef(ctx context.Context, orgID string, refs []string) (map[string]core.User, error)
	// WorkspacesByRef resolves references as an id, else a slug, like GetWorkspace.
	WorkspacesByRef(ctx context.Context, orgID string, refs []string) (map[string]core.Workspace, error)
	// ResourcesByExternalID finds registered resources.
	ResourcesByExternalID(ctx context.Context, orgID string, keys []ResourceKey) (map[ResourceKey]core.Resource, error)
	// FactsMany gathers the facts of many (user, workspace) pairs in one read view.
	FactsMany(ctx context.Context, orgID string, keys []FactsKey) (map[FactsKey]*core.Facts, error)
}

var _ Batches = (*SQL)(nil)

// batchChunk keeps IN lists under SQLite's host-parameter limit.
const batchChunk = 500

// mappingMatch is the join condition of the mapping rule (see core.Mapping): a mapping
// of the IdP group's own directory or connection names it by Gatehouse id, external
// id, or display name case-insensitively. Memberships through IdP groups are derived
// with it at every read, so an IdP change shows in the very next decision.
//
// Both have exactly one source, so comparing the COALESCEd sources means "same
// directory or connection", and the lower(...) IN list is implied by the exact rule:
// together they let the lookup from an IdP group use group_mappings_key.
const mappingMatch = `gm.org_id = ig.org_id
	AND COALESCE(gm.directory_id, '') = COALESCE(ig.directory_id, '')
	AND COALESCE(gm.connection_id, '') = COALESCE(ig.connection_id, '')
	AND lower(gm.idp_group) IN (lower(ig.id), lower(ig.external_id), lower(ig.display_name))
	AND (gm.idp_group = ig.id OR gm.idp_group = ig.external_id OR lower(gm.idp_group) = lower(ig.display_name))`

// mappedIdPGroups joins, from a mapping gm, the IdP groups ig it matches: the same
// rule as mappingMatch, written so that each way of naming the group is an index
// lookup (listing a user group's members starts from its few mappings, and must not
// scan every IdP group of the org).
const mappedIdPGroups = `idp_groups ig ON ig.id IN (
		SELECT x.id FROM idp_groups x WHERE x.id = gm.idp_group
		UNION ALL
		SELECT x.id FROM idp_groups x WHERE x.directory_id = gm.directory_id AND x.external_id = gm.idp_group
		UNION ALL
		SELECT x.id FROM idp_groups x WHERE x.directory_id = gm.directory_id AND lower(x.display_name) = lower(gm.idp_group)
		UNION ALL
		SELECT x.id FROM idp_groups x WHERE x.connection_id = gm.connection_id AND x.external_id = gm.idp_group
		UNION ALL
		SELECT x.id FROM idp_groups x WHERE x.connection_id = gm.connection_id AND lower(x.display_name) = lower(gm.idp_group))
	AND ` + mappingMatch

// viaRow is one path user → IdP group → mapping → user group.
type viaRow struct {
	UserID string `db:"user_id"`

	GID          string `db:"g_id"`
	GOrgID       string `db:"g_org_id"`
	GName        string `db:"g_name"`
	GDescription string `db:"g_description"`
	GCreatedAt   int64  `db:"g_created_at"`
	GVersion     int64  `db:"g_version"`

	IID           string  `db:"i_id"`
	IDirectoryID  *string `db:"i_directory_id"`
	IConnectionID *string `db:"i_connection_id"`
	IExternalID   *string `db:"i_external_id"`
	IDisplayName  string  `db:"i_display_name"`
	ICreatedAt    int64   `db:"i_created_at"`
	IUpdatedAt    int64   `db:"i_updated_at"`
	IVersion      int64   `db:"i_version"`

	MID           string  `db:"m_id"`
	MDirectoryID  *string `db:"m_directory_id"`
	MConnectionID *string `db:"m_connection_id"`
	MIdPGroup     string  `db:"m_idp_group"`
	MCreatedAt    int64   `db:"m_created_at"`

	DirectoryName  *string `db:"directory_name"`
	ConnectionName *string `db:"connection_name"`
}

const viaSelect = `SELECT igm.user_id,
	g.id AS g_id, g.org_id AS g_org_id, g.name AS g_name, g.description AS g_description, g.created_at AS g_created_at, g.version AS g_version,
	ig.id AS i_id, ig.directory_id AS i_directory_id, ig.connection_id AS i_connection_id, ig.external_id AS i_external_id,
	ig.display_name AS i_display_name, ig.created_at AS i_created_at, ig.updated_at AS i_updated_at, ig.version AS i_version,
	gm.id AS m_id, gm.directory_id AS m_directory_id, gm.connection_id AS m_connection_id, gm.idp_group AS m_idp_group, gm.created_at AS m_created_at,
	sd.name AS directory_name, sc.name AS connection_name
	FROM idp_group_members igm
	JOIN idp_groups ig ON ig.id = igm.idp_group_id
	JOIN group_mappings gm ON ` + mappingMatch + `
	JOIN user_groups g ON g.id = gm.user_group_id
	LEFT JOIN scim_directories sd ON sd.id = ig.directory_id
	LEFT JOIN sso_connections sc ON sc.id = ig.connection_id`

func (r viaRow) group() core.UserGroup {
	return groupRow{ID: r.GID, OrgID: r.GOrgID, Name: r.GName, Description: r.GDescription, CreatedAt: r.GCreatedAt, Version: r.GVersion}.group()
}

func (r viaRow) via() core.Via {
	ig := idpGroupRow{ID: r.IID, OrgID: r.GOrgID, DirectoryID: r.IDirectoryID, ConnectionID: r.IConnectionID, ExternalID: r.IExternalID,
		DisplayName: r.IDisplayName, CreatedAt: r.ICreatedAt, UpdatedAt: r.IUpdatedAt, Version: r.IVersion}.idpGroup()
	m := core.Mapping{ID: r.MID, OrgID: r.GOrgID, DirectoryID: str(r.MDirectoryID), ConnectionID: str(r.MConnectionID),
		IdPGroup: r.MIdPGroup, UserGroupID: r.GID, CreatedAt: fromMicros(r.MCreatedAt)}
	v := core.Via{IdPGroup: &ig, Mapping: &m}
	switch {
	case r.DirectoryName != nil:
		v.Source = "SCIM directory " + *r.DirectoryName
	case r.ConnectionName != nil:
		v.Source = "SSO connection " + *r.ConnectionName
	}
	return v
}

// memberships gathers a user's user groups with every path to each: two queries,
// one for direct memberships and one for paths through mapped IdP groups.
func (t *tx) memberships(ctx context.Context, orgID, userID string) ([]core.Membership, error) {
	var direct []groupRow
	if err := t.sel(ctx, &direct, `SELECT `+groupColsG+` FROM user_group_members m JOIN user_groups g ON g.id = m.group_id
		WHERE m.org_id = ? AND m.user_id = ?`, orgID, userID); err != nil {
		return nil, err
	}
	var vias []viaRow
	if err := t.sel(ctx, &vias, viaSelect+` WHERE igm.org_id = ? AND igm.user_id = ? ORDER BY ig.id, gm.id`, orgID, userID); err != nil {
		return nil, err
	}
	byGroup := map[string]*core.Membership{}
	var out []*core.Membership
	add := func(g core.UserGroup) *core.Membership {
		m := byGroup[g.ID]
		if m == nil {
			m = &core.Membership{Group: g}
			byGroup[g.ID] = m
			out = append(out, m)
		}
		return m
	}
	for _, g := range direct {
		m := add(g.group())
		m.Via = append(m.Via, core.Via{})
	}
	for _, v := range vias {
		m := add(v.group())
		m.Via = append(m.Via, v.via())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group.ID < out[j].Group.ID })
	res := make([]core.Membership, len(out))
	for i, m := range out {
		res[i] = *m
	}
	return res, nil
}

// UserMemberships lists a user's user groups, by group id; a direct membership is a
// Via without IdP group, listed first.
func (s *SQL) UserMemberships(ctx context.Context, orgID, userID string) ([]core.Membership, error) {
	var ms []core.Membership
	err := s.read(ctx, func(t *tx) error {
		if _, err := t.getUser(ctx, orgID, userID, false); err != nil {
			return err
		}
		var err error
		ms, err = t.memberships(ctx, orgID, userID)
		return err
	})
	return ms, err
}

// GroupMembers lists a group's members by user id: direct members and members of the
// IdP groups mapped onto it, each once, with every path.
func (s *SQL) GroupMembers(ctx context.Context, orgID, groupID string, p Page) ([]Member, error) {
	var out []Member
	err := s.read(ctx, func(t *tx) error {
		var n int
		if err := t.get(ctx, &n, `SELECT COUNT(*) FROM user_groups WHERE org_id = ? AND id = ?`, orgID, groupID); err != nil {
			return err
		}
		if n == 0 {
			return notFound("user group", groupID)
		}
		var users []userRow
		if err := t.sel(ctx, &users, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id IN (
				SELECT user_id FROM user_group_members WHERE group_id = ? AND user_id > ?
				UNION
				SELECT igm.user_id FROM group_mappings gm
				JOIN `+mappedIdPGroups+`
				JOIN idp_group_members igm ON igm.idp_group_id = ig.id
				WHERE gm.user_group_id = ? AND igm.user_id > ?)
			ORDER BY id LIMIT ?`, orgID, groupID, p.After, groupID, p.After, p.limit()); err != nil {
			return err
		}
		if len(users) == 0 {
			return nil
		}
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		var direct []string
		if err := t.selIn(ctx, &direct, `SELECT user_id FROM user_group_members WHERE group_id = ? AND user_id IN (?)`, groupID, ids); err != nil {
			return err
		}
		var vias []viaRow
		if err := t.selIn(ctx, &vias, viaSelect+` WHERE gm.user_group_id = ? AND igm.user_id IN (?) ORDER BY ig.id, gm.id`, groupID, ids); err != nil {
			return err
		}
		isDirect := map[string]bool{}
		for _, id := range direct {
			isDirect[id] = true
		}
		via := map[string][]core.Via{}
		for _, v := range vias {
			via[v.UserID] = append(via[v.UserID], v.via())
		}
		out = make([]Member, len(users))
		for i, u := range users {
			out[i] = Member{User: u.user(), Direct: isDirect[u.ID], Via: via[u.ID]}
		}
		return nil
	})
	return out, err
}

// Facts gathers everything Decide needs about a user in a workspace, in one read
// view: the user, the workspace with its environments, the user's memberships, the
// grants of those groups in the workspace with their custom roles, and the
// workspace's spaces with the user's groups assigned to each.
func (s *SQL) Facts(ctx context.Context, orgID, userID, workspaceID string) (*core.Facts, error) {
	f := &core.Facts{CustomRoles: map[string]core.CustomRole{}, SpaceGroups: map[string][]string{}, Spaces: map[string]core.Space{}}
	err := s.read(ctx, func(t *tx) error {
		var err error
		if f.User, err = t.getUser(ctx, orgID, userID, false); err != nil {
			return err
		}
		if f.Workspace, err = t.getWorkspace(ctx, orgID, workspaceID); err != nil {
			return err
		}
		if f.Memberships, err = t.memberships(ctx, orgID, userID); err != nil {
			return err
		}
		groupIDs := make([]string, len(f.Memberships))
		for i, m := range f.Memberships {
			groupIDs[i] = m.Group.ID
		}
		if err := t.factsSpaces(ctx, f, groupIDs); err != nil {
			return err
		}
		if len(groupIDs) == 0 {
			return nil
		}
		return t.factsGrants(ctx, f, orgID, groupIDs)
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// factsSpaces fills the workspace's spaces and, for each, the user's groups assigned
// to it, in one query.
func (t *tx) factsSpaces(ctx context.Context, f *core.Facts, groupIDs []string) error {
	var rows []struct {
		spaceRow
		GroupID *string `db:"user_group_id"`
	}
	q, args := `SELECT `+spaceColsS+`, NULL AS user_group_id FROM spaces s WHERE s.workspace_id = ?`, []any{f.Workspace.ID}
	if len(groupIDs) > 0 {
		q = `SELECT ` + spaceColsS + `, sg.user_group_id FROM spaces s
			LEFT JOIN space_groups sg ON sg.space_id = s.id AND sg.user_group_id IN (?)
			WHERE s.workspace_id = ? ORDER BY s.id, sg.user_group_id`
		args = []any{groupIDs, f.Workspace.ID}
	}
	if err := t.selIn(ctx, &rows, q, args...); err != nil {
		return err
	}
	for _, r := range rows {
		f.Spaces[r.ID] = r.space()
		if r.GroupID != nil {
			f.SpaceGroups[r.ID] = append(f.SpaceGroups[r.ID], *r.GroupID)
		}
	}
	return nil
}

// factsGrants fills the grants of the user's groups in the workspace, with their
// environments and custom roles, in one query.
func (t *tx) factsGrants(ctx context.Context, f *core.Facts, orgID string, groupIDs []string) error {
	var rows []struct {
		grantRow
		EnvironmentID *string `db:"environment_id"`
		RoleName      *string `db:"cr_name"`
		RoleDesc      *string `db:"cr_description"`
		RoleRules     *string `db:"cr_rules"`
		RoleCreatedAt *int64  `db:"cr_created_at"`
		RoleVersion   *int64  `db:"cr_version"`
	}
	if err := t.selIn(ctx, &rows, `SELECT g.id, g.org_id, g.user_group_id, g.workspace_id, g.builtin_role, g.custom_role_id, g.created_at,
			ge.environment_id, cr.name AS cr_name, cr.description AS cr_description, cr.rules AS cr_rules,
			cr.created_at AS cr_created_at, cr.version AS cr_version
		FROM grants g
		LEFT JOIN grant_environments ge ON ge.grant_id = g.id
		LEFT JOIN environments e ON e.id = ge.environment_id
		LEFT JOIN custom_roles cr ON cr.id = g.custom_role_id
		WHERE g.org_id = ? AND g.workspace_id = ? AND g.user_group_id IN (?)
		ORDER BY g.id, e.position`, orgID, f.Workspace.ID, groupIDs); err != nil {
		return err
	}
	for _, r := range rows {
		if n := len(f.Grants); n == 0 || f.Grants[n-1].ID != r.ID {
			f.Grants = append(f.Grants, r.grant())
		}
		g := &f.Grants[len(f.Grants)-1]
		if r.EnvironmentID != nil {
			g.EnvironmentIDs = append(g.EnvironmentIDs, *r.EnvironmentID)
		}
		if r.RoleName != nil {
			if _, ok := f.CustomRoles[*r.CustomRoleID]; !ok {
				cr, err := customRoleRow{ID: *r.CustomRoleID, OrgID: orgID, Name: *r.RoleName, Description: *r.RoleDesc,
					Rules: *r.RoleRules, CreatedAt: *r.RoleCreatedAt, Version: *r.RoleVersion}.role()
				if err != nil {
					return err
				}
				f.CustomRoles[cr.ID] = cr
			}
		}
	}
	return nil
}

// FactsMany implements Batches with the same reads as Facts, each over every pair.
func (s *SQL) FactsMany(ctx context.Context, orgID string, keys []FactsKey) (map[FactsKey]*core.Facts, error) {
	out := map[FactsKey]*core.Facts{}
	var userIDs, wsIDs []string
	for _, k := range keys {
		userIDs = append(userIDs, k.UserID)
		wsIDs = append(wsIDs, k.WorkspaceID)
	}
	userIDs, wsIDs = dedupe(userIDs), dedupe(wsIDs)
	err := s.read(ctx, func(t *tx) error {
		users := map[string]core.User{}
		memberships := map[string][]core.Membership{}
		for _, part := range chunks(userIDs, batchChunk) {
			var rows []userRow
			if err := t.selIn(ctx, &rows, `SELECT `+userCols+` FROM users WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				users[r.ID] = r.user()
			}
			ms, err := t.membershipsOf(ctx, orgID, part)
			if err != nil {
				return err
			}
			for u, m := range ms {
				memberships[u] = m
			}
		}
		workspaces := map[string]core.Workspace{}
		spaces := map[string][]core.Space{}
		for _, part := range chunks(wsIDs, batchChunk) {
			var rows []workspaceRow
			if err := t.selIn(ctx, &rows, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
				return err
			}
			ws, err := t.workspacesOf(ctx, rows)
			if err != nil {
				return err
			}
			for _, w := range ws {
				workspaces[w.ID] = w
			}
			var sps []spaceRow
			if err := t.selIn(ctx, &sps, `SELECT `+spaceColsS+` FROM spaces s WHERE s.workspace_id IN (?)`, part); err != nil {
				return err
			}
			for _, sp := range sps {
				spaces[sp.WorkspaceID] = append(spaces[sp.WorkspaceID], sp.space())
			}
		}
		var groupIDs []string
		for _, ms := range memberships {
			for _, m := range ms {
				groupIDs = append(groupIDs, m.Group.ID)
			}
		}
		groupIDs = dedupe(groupIDs)
		type wg struct{ ws, group string }
		grants := map[wg][]core.Grant{}
		spaceGroups := map[wg][]string{} // (workspace, group) → spaces
		roles := map[string]core.CustomRole{}
		var roleIDs []string
		// By group only (grants_key and space_groups_group_idx lead with it), keeping
		// the wanted workspaces in Go: an IN list on both columns makes SQLite probe
		// every (group, workspace) combination.
		wantWS := map[string]bool{}
		for _, id := range wsIDs {
			wantWS[id] = true
		}
		for _, gs := range chunks(groupIDs, batchChunk) {
			gr, err := t.grantsWhere(ctx, `org_id = ? AND user_group_id IN (?)`, orgID, gs)
			if err != nil {
				return err
			}
			for _, g := range gr {
				if !wantWS[g.WorkspaceID] {
					continue
				}
				k := wg{g.WorkspaceID, g.UserGroupID}
				grants[k] = append(grants[k], g)
				if g.CustomRoleID != "" {
					roleIDs = append(roleIDs, g.CustomRoleID)
				}
			}
			var sgs []struct {
				SpaceID     string `db:"space_id"`
				WorkspaceID string `db:"workspace_id"`
				GroupID     string `db:"user_group_id"`
			}
			if err := t.selIn(ctx, &sgs, `SELECT space_id, workspace_id, user_group_id FROM space_groups
				WHERE org_id = ? AND user_group_id IN (?) ORDER BY space_id, user_group_id`, orgID, gs); err != nil {
				return err
			}
			for _, sg := range sgs {
				if wantWS[sg.WorkspaceID] {
					k := wg{sg.WorkspaceID, sg.GroupID}
					spaceGroups[k] = append(spaceGroups[k], sg.SpaceID)
				}
			}
		}
		for _, part := range chunks(dedupe(roleIDs), batchChunk) {
			var rows []customRoleRow
			if err := t.selIn(ctx, &rows, `SELECT `+customRoleCols+` FROM custom_roles WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
				return err
			}
			rs, err := rolesOf(rows)
			if err != nil {
				return err
			}
			for _, r := range rs {
				roles[r.ID] = r
			}
		}
		for _, k := range keys {
			u, okU := users[k.UserID]
			ws, okW := workspaces[k.WorkspaceID]
			if !okU || !okW {
				continue
			}
			ms := memberships[u.ID]
			if ms == nil {
				ms = []core.Membership{} // as memberships() returns for a user in no group
			}
			f := &core.Facts{User: u, Workspace: ws, Memberships: ms,
				CustomRoles: map[string]core.CustomRole{}, SpaceGroups: map[string][]string{}, Spaces: map[string]core.Space{}}
			for _, sp := range spaces[ws.ID] {
				f.Spaces[sp.ID] = sp
			}
			for _, m := range f.Memberships {
				for _, g := range grants[wg{ws.ID, m.Group.ID}] {
					f.Grants = append(f.Grants, g)
					if g.CustomRoleID != "" {
						if r, ok := roles[g.CustomRoleID]; ok {
							f.CustomRoles[r.ID] = r
						}
					}
				}
				for _, sp := range spaceGroups[wg{ws.ID, m.Group.ID}] {
					f.SpaceGroups[sp] = append(f.SpaceGroups[sp], m.Group.ID)
				}
			}
			sort.Slice(f.Grants, func(i, j int) bool { return f.Grants[i].ID < f.Grants[j].ID })
			for sp := range f.SpaceGroups {
				sort.Strings(f.SpaceGroups[sp])
			}
			out[k] = f
		}
		return nil
	})
	return out, err
}

// membershipsOf is memberships for several users at once.
func (t *tx) membershipsOf(ctx context.Context, orgID string, userIDs []string) (map[string][]core.Membership, error) {
	var direct []struct {
		MemberID string `db:"member_user_id"`
		groupRow
	}
	if err := t.selIn(ctx, &direct, `SELECT m.user_id AS member_user_id, `+groupColsG+` FROM user_group_members m JOIN user_groups g ON g.id = m.group_id
		WHERE m.org_id = ? AND m.user_id IN (?)`, orgID, userIDs); err != nil {
		return nil, err
	}
	var vias []viaRow
	if err := t.selIn(ctx, &vias, viaSelect+` WHERE igm.org_id = ? AND igm.user_id IN (?) ORDER BY ig.id, gm.id`, orgID, userIDs); err != nil {
		return nil, err
	}
	type ug struct{ user, group string }
	byKey := map[ug]*core.Membership{}
	order := map[string][]*core.Membership{}
	add := func(user string, g core.UserGroup) *core.Membership {
		k := ug{user, g.ID}
		m := byKey[k]
		if m == nil {
			m = &core.Membership{Group: g}
			byKey[k] = m
			order[user] = append(order[user], m)
		}
		return m
	}
	for _, d := range direct {
		m := add(d.MemberID, d.group())
		m.Via = append(m.Via, core.Via{})
	}
	for _, v := range vias {
		m := add(v.UserID, v.group())
		m.Via = append(m.Via, v.via())
	}
	out := map[string][]core.Membership{}
	for user, ms := range order {
		sort.Slice(ms, func(i, j int) bool { return ms[i].Group.ID < ms[j].Group.ID })
		res := make([]core.Membership, len(ms))
		for i, m := range ms {
			res[i] = *m
		}
		out[user] = res
	}
	return out, nil
}
