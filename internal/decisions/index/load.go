package index

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// epochs numbers builders: the parts of a persistent structure a builder owns
// carry its epoch (see persist.go). Only uniqueness matters, so one counter
// serves every index in the process.
var epochs atomic.Uint64

// errInconsistent means rows or changes did not fit the view (a change the log
// does not describe): the caller loads the org afresh.
type errInconsistent struct{ what string }

func (e errInconsistent) Error() string { return "index: inconsistent change: " + e.what }

func inconsistent(format string, args ...any) error {
	return errInconsistent{fmt.Sprintf(format, args...)}
}

func sourceLabel(s store.OrgSource) string {
	if s.Connection {
		return "SSO connection " + s.Name
	}
	return "SCIM directory " + s.Name
}

func newWorkspace(ws core.Workspace) *workspace {
	ws.Environments = slices.Clip(ws.Environments)
	return &workspace{ws: ws, spaces: map[string]core.Space{}, spaceGroups: map[int32][]string{},
		grants: map[int32][]core.Grant{}, resources: map[resKey]resource{}}
}

// load builds a view of the org from all its rows, read at seq.
func load(orgID string, seq int64, unicode bool, rows *store.OrgRows) (*View, error) {
	ep := epochs.Add(1)
	v := &View{orgID: orgID, seq: seq, version: seq, tokens: seq, unicode: unicode, groupsOrdered: true, idpsOrdered: true,
		mappings: map[string]*core.Mapping{}, sources: map[string]string{}, roles: map[string]core.CustomRole{}}
	for _, s := range rows.Sources {
		v.sources[s.ID] = sourceLabel(s)
	}
	// The records and strings the view keeps go into a few large blocks (arena.go).
	var strs strArena
	var lists int32Arena
	for _, g := range rows.Groups {
		v.internGroup(ep, &group{id: strs.str(g.ID), name: strs.str(g.Name)})
	}
	for i := range rows.IdPGroups {
		ig := &rows.IdPGroups[i]
		ig.ID, ig.OrgID, ig.DirectoryID, ig.ConnectionID = strs.str(ig.ID), strs.str(ig.OrgID), strs.str(ig.DirectoryID), strs.str(ig.ConnectionID)
		ig.ExternalID, ig.DisplayName = strs.str(ig.ExternalID), strs.str(ig.DisplayName)
		v.internIdP(ep, ig)
	}
	v.userByID.grow(ep, len(rows.Users))
	v.userByName.grow(ep, len(rows.Users))
	v.userByEmail.grow(ep, len(rows.Users))
	// Rows read by All number their memberships by position in Users, Groups and
	// IdPGroups, which are the indexes interned above and below.
	direct := make([][]int32, len(rows.Users))
	idp := make([][]int32, len(rows.Users))
	for _, m := range rows.Members {
		if m.User < 0 || int(m.User) >= len(rows.Users) || m.Group < 0 || int(m.Group) >= len(rows.Groups) {
			return nil, inconsistent("membership of %s in %s", m.UserID, m.GroupID)
		}
		direct[m.User] = append(direct[m.User], m.Group)
	}
	for _, m := range rows.IdPMembers {
		if m.User < 0 || int(m.User) >= len(rows.Users) || m.Group < 0 || int(m.Group) >= len(rows.IdPGroups) {
			return nil, inconsistent("membership of %s in IdP group %s", m.UserID, m.GroupID)
		}
		idp[m.User] = append(idp[m.User], m.Group)
	}
	groupMembers := make([][]int32, len(rows.Groups))
	idpMembers := make([][]int32, len(rows.IdPGroups))
	users := make([]user, len(rows.Users))
	for i, r := range rows.Users {
		d, ii := sortedSet(direct[i]), sortedSet(idp[i])
		u := &users[i]
		*u = user{id: strs.str(r.ID), email: strs.str(r.Email), active: r.Active, admin: r.OrgAdmin,
			nDirect: int32(len(d)), groups: lists.concat(d, ii)}
		u.userName = u.email // one string when equal, as newUser
		if r.UserName != r.Email {
			u.userName = strs.str(r.UserName)
		}
		ui := v.users.push(ep, u)
		v.userByID.set(ep, u.id, ui)
		v.indexUserKeys(ep, ui, u)
		for _, gi := range u.direct() {
			groupMembers[gi] = append(groupMembers[gi], ui)
		}
		for _, ii := range u.idp() {
			idpMembers[ii] = append(idpMembers[ii], ui)
		}
	}
	for gi, us := range groupMembers {
		v.groupMembers.set(ep, int32(gi), slices.Clip(us))
	}
	for ii, us := range idpMembers {
		v.idpMembers.set(ep, int32(ii), slices.Clip(us))
	}
	v.liveUsers = len(rows.Users)
	for i := range rows.Mappings {
		m := &rows.Mappings[i]
		m.ID, m.OrgID, m.DirectoryID, m.ConnectionID = strs.str(m.ID), strs.str(m.OrgID), strs.str(m.DirectoryID), strs.str(m.ConnectionID)
		m.IdPGroup, m.UserGroupID = strs.str(m.IdPGroup), strs.str(m.UserGroupID)
		v.mappings[m.ID] = m
	}
	for _, r := range rows.Roles {
		v.roles[r.ID] = r
	}
	wss := map[string]*workspace{}
	for _, ws := range rows.Workspaces {
		w := newWorkspace(ws)
		wss[ws.ID] = w
		v.wsBySlug.set(ep, ws.Slug, ws.ID)
	}
	for _, sp := range rows.Spaces {
		if w := wss[sp.WorkspaceID]; w != nil {
			w.spaces[sp.ID] = sp
		}
	}
	for _, sg := range rows.SpaceGroups {
		w, gi, ok := wss[sg.WorkspaceID], int32(0), false
		if w != nil {
			gi, ok = v.groupByID.get(sg.GroupID)
		}
		if !ok {
			return nil, inconsistent("space group %s of %s", sg.GroupID, sg.SpaceID)
		}
		w.spaceGroups[gi] = append(w.spaceGroups[gi], sg.SpaceID)
	}
	grantWS := map[int32][]string{}
	for _, g := range rows.Grants {
		w := wss[g.WorkspaceID]
		gi, ok := v.groupByID.get(g.UserGroupID)
		if w == nil || !ok {
			return nil, inconsistent("grant %s", g.ID)
		}
		g.ID, g.OrgID, g.UserGroupID, g.WorkspaceID = strs.str(g.ID), strs.str(g.OrgID), strs.str(g.UserGroupID), w.ws.ID
		g.Role, g.CustomRoleID = core.RoleName(strs.str(string(g.Role))), strs.str(g.CustomRoleID)
		g.EnvironmentIDs = slices.Clip(g.EnvironmentIDs)
		for i, e := range g.EnvironmentIDs {
			g.EnvironmentIDs[i] = strs.str(e)
		}
		w.grants[gi] = append(w.grants[gi], g)
		v.grantLoc.set(ep, g.ID, grantLoc{ws: g.WorkspaceID, group: gi})
		grantWS[gi] = append(grantWS[gi], g.WorkspaceID)
	}
	for gi, ws := range grantWS {
		v.groups.get(gi).grantWS = slices.Compact(slices.Sorted(slices.Values(ws)))
	}
	for i := range rows.Resources {
		r := &rows.Resources[i]
		w := wss[r.WorkspaceID]
		if w == nil {
			return nil, inconsistent("resource %s", r.ID)
		}
		id := strs.str(r.ID)
		k := resKey{r.Type, strs.str(r.ExternalID)}
		w.resources[k] = resource{id: id, env: strs.str(r.EnvironmentID), space: strs.str(r.SpaceID)}
		v.resLoc.set(ep, id, w.ws.ID)
	}
	for id, w := range wss {
		for gi, sps := range w.spaceGroups {
			w.spaceGroups[gi] = slices.Clip(slices.Compact(slices.Sorted(slices.Values(sps))))
		}
		for gi, gs := range w.grants {
			slices.SortFunc(gs, func(a, b core.Grant) int { return strings.Compare(a.ID, b.ID) })
			w.grants[gi] = slices.Clip(gs)
		}
		v.workspaces.set(ep, id, w)
	}
	v.remap()
	return v, nil
}

// indexUserKeys adds a user's email and userName to the lookups.
func (v *View) indexUserKeys(ep uint64, i int32, u *user) {
	v.userByName.set(ep, v.fold(u.userName), i)
	if strings.TrimSpace(u.email) == "" {
		return
	}
	k := v.fold(u.email)
	first, ok := v.userByEmail.get(k)
	if !ok {
		v.userByEmail.set(ep, k, i)
		return
	}
	// Several users share the email: the oldest (smallest id) answers, as
	// GetUserByEmail's ORDER BY id.
	us, ok := v.emailShared.get(k)
	if !ok {
		us = []int32{first}
	}
	at, _ := slices.BinarySearchFunc(us, u.id, func(j int32, id string) int { return strings.Compare(v.users.get(j).id, id) })
	us = slices.Insert(slices.Clip(us), at, i)
	v.emailShared.set(ep, k, us)
	v.userByEmail.set(ep, k, us[0])
}

// unindexUserKeys removes a user's email and userName from the lookups.
func (v *View) unindexUserKeys(ep uint64, i int32, u *user) {
	if k := v.fold(u.userName); func() bool { j, ok := v.userByName.get(k); return ok && j == i }() {
		v.userByName.del(ep, k)
	}
	if strings.TrimSpace(u.email) == "" {
		return
	}
	k := v.fold(u.email)
	us, shared := v.emailShared.get(k)
	if !shared {
		if j, ok := v.userByEmail.get(k); ok && j == i {
			v.userByEmail.del(ep, k)
		}
		return
	}
	at := slices.Index(us, i)
	if at < 0 {
		return
	}
	us = slices.Delete(slices.Clone(us), at, at+1)
	if len(us) == 1 {
		v.emailShared.del(ep, k)
	} else {
		v.emailShared.set(ep, k, us)
	}
	v.userByEmail.set(ep, k, us[0])
}

// sortedSet sorts ids and drops repeats.
func sortedSet(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Clip(slices.Compact(ids))
}

// remap derives, for every IdP group, the mappings that match it: a mapping of the
// group's own directory or connection that names it by id, by external id, or by
// display name case-insensitively (store's mappingMatch).
func (v *View) remap() {
	type srcKey struct{ src, key string }
	byExt := map[srcKey][]int32{}
	byName := map[srcKey][]int32{}
	v.idps.all(func(i int32, ig *core.IdPGroup) {
		if ig == nil {
			return
		}
		src := sourceOf(ig)
		if ig.ExternalID != "" {
			byExt[srcKey{src, ig.ExternalID}] = append(byExt[srcKey{src, ig.ExternalID}], i)
		}
		k := srcKey{src, v.fold(ig.DisplayName)}
		byName[k] = append(byName[k], i)
	})
	out := make([][]mapRef, v.idps.len())
	v.idpSource = make([]string, v.idps.len())
	v.idps.all(func(i int32, ig *core.IdPGroup) {
		if ig != nil {
			v.idpSource[i] = v.sources[sourceOf(ig)]
		}
	})
	ms := make([]*core.Mapping, 0, len(v.mappings))
	for _, m := range v.mappings {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *core.Mapping) int { return strings.Compare(a.ID, b.ID) })
	var hit []int32
	for _, m := range ms {
		gi, ok := v.groupByID.get(m.UserGroupID)
		if !ok {
			continue
		}
		src := m.DirectoryID + m.ConnectionID
		hit = hit[:0]
		if i, ok := v.idpByID.get(m.IdPGroup); ok && sourceOf(v.idps.get(i)) == src {
			hit = append(hit, i)
		}
		hit = append(hit, byExt[srcKey{src, m.IdPGroup}]...)
		hit = append(hit, byName[srcKey{src, v.fold(m.IdPGroup)}]...)
		slices.Sort(hit)
		for _, i := range slices.Compact(hit) {
			out[i] = append(out[i], mapRef{m: m, group: gi})
		}
	}
	v.idpMaps = out
}
