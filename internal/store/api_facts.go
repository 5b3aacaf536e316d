package store

import (
	"context"
	"sort"
	"strings"

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

// WorkspacesByRef implements Batches: ids and slugs each in IN lists (both are
// index probes), an id winning over a slug as in GetWorkspace.
func (s *SQL) WorkspacesByRef(ctx context.Context, orgID string, refs []string) (map[string]core.Workspace, error) {
	refs = dedupe(refs)
	out := map[string]core.Workspace{}
	err := s.read(ctx, func(t *tx) error {
		byID := map[string]workspaceRow{}
		bySlug := map[string]workspaceRow{}
		for _, part := range chunks(refs, batchChunk) {
			var rows []workspaceRow
			if err := t.selIn(ctx, &rows, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND id IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				byID[r.ID] = r
			}
			rows = nil
			if err := t.selIn(ctx, &rows, `SELECT `+workspaceCols+` FROM workspaces WHERE org_id = ? AND slug IN (?)`, orgID, part); err != nil {
				return err
			}
			for _, r := range rows {
				bySlug[r.Slug] = r
			}
		}
		found := map[string]workspaceRow{}
		for _, ref := range refs {
			if r, ok := byID[ref]; ok {
				found[ref] = r
			} else if r, ok := bySlug[ref]; ok {
				found[ref] = r
			}
		}
		var ids []string
		for _, r := range found {
			ids = append(ids, r.ID)
		}
		envs := map[string][]core.Environment{}
		for _, part := range chunks(dedupe(ids), batchChunk) {
			es, err := t.environments(ctx, part...)
			if err != nil {
				return err
			}
			for id, e := range es {
				envs[id] = e
			}
		}
		for ref, r := range found {
			out[ref] = r.workspace(envs[r.ID])
		}
		return nil
	})
	return out, err
}

// ResourcesByExternalID implements Batches. The keys are joined as a VALUES
// table, so that each is one probe of resources_external_key (workspace, type,
// external id); IN lists per column would read every resource of each workspace.
func (s *SQL) ResourcesByExternalID(ctx context.Context, orgID string, keys []ResourceKey) (map[ResourceKey]core.Resource, error) {
	out := map[ResourceKey]core.Resource{}
	seen := map[ResourceKey]bool{}
	var uniq []ResourceKey
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	const perQuery = 300 // 3 parameters each
	err := s.read(ctx, func(t *tx) error {
		for len(uniq) > 0 {
			part := uniq[:min(perQuery, len(uniq))]
			uniq = uniq[len(part):]
			args := make([]any, 0, 3*len(part)+1)
			for _, k := range part {
				args = append(args, k.WorkspaceID, string(k.Type), k.ExternalID)
			}
			args = append(args, orgID)
			var rows []resourceRow
			if err := t.sel(ctx, &rows, `SELECT `+resourceColsR+` FROM (VALUES `+strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(part)), ", ")+`) k
				JOIN resources r ON r.workspace_id = k.column1 AND r.type = k.column2 AND r.external_id = k.column3
				JOIN workspaces w ON w.id = r.workspace_id
				WHERE w.org_id = ?`, args...); err != nil {
				return err
			}
			for _, r := range rows {
				res := r.resource()
				out[ResourceKey{res.WorkspaceID, res.Type, res.ExternalID}] = res
			}
		}
		return nil
	})
	return out, err
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
			ids := make([]string, len(rows))
			for i, r := range rows {
				ids[i] = r.ID
			}
			envs, err := t.environments(ctx, ids...)
			if err != nil {
				return err
			}
			for _, r := range rows {
				workspaces[r.ID] = r.workspace(envs[r.ID])
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
