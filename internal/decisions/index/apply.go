package index

import (
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// builder makes the next view from a published one, copying on write what a
// batch of changes touches (see persist.go).
type builder struct {
	v       *View
	base    *View
	ep      uint64
	changed bool // something a decision reads changed: the version moves
	remap   bool // mappings or IdP groups changed: idpMaps is derived again

	ownMappings, ownSources, ownRoles bool
	ws                                map[string]*wsOwn
	deadGroups, deadIdPs              map[int32]bool
	// ownRev marks the member lists (by group; IdP groups when idp) this builder
	// allocated, which it may change in place.
	ownRev map[revKey]bool
}

type revKey struct {
	idp   bool
	group int32
}

// wsOwn is a workspace record the builder copied, with the maps it copied so far.
type wsOwn struct {
	w                                      *workspace
	spaces, spaceGroups, grants, resources bool
}

// apply makes the view that holds the changes up to seq, from the rows k named,
// read in the snapshot at seq. The new view shares all the base does not change.
func (base *View) apply(seq int64, k store.OrgKeys, rows *store.OrgRows) (*View, error) {
	b := &builder{base: base, ep: epochs.Add(1), ws: map[string]*wsOwn{},
		deadGroups: map[int32]bool{}, deadIdPs: map[int32]bool{}, ownRev: map[revKey]bool{}}
	nv := base.clone()
	b.v = nv
	// Referenced rows first: groups before the memberships, grants and space
	// assignments that name them, workspaces before their spaces and grants.
	steps := []func() error{
		func() error { b.groups(k.Groups, rows.Groups); return nil },
		func() error { b.idpGroups(k.IdPGroups, rows.IdPGroups); return nil },
		func() error { b.sources(k.Sources, rows.Sources); return nil },
		func() error { return b.workspaces(k.Workspaces, rows) },
		func() error { return b.spaces(k.Spaces, rows) },
		func() error { b.roles(k.Roles, rows.Roles); return nil },
		func() error { return b.users(k.Users, rows) },
		func() error { return b.reloadMembers(k.GroupMembers, rows.Members, false) },
		func() error { return b.reloadMembers(k.IdPGroupMembers, rows.IdPMembers, true) },
		func() error { b.mappings(k.Mappings, rows.Mappings); return nil },
		func() error { return b.grants(k.Grants, rows.Grants) },
		func() error { return b.resources(k.Resources, rows.Resources) },
		func() error { b.cascade(); return nil },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if b.remap {
		nv.remap()
	}
	nv.seq, nv.version = seq, base.version
	if b.changed {
		nv.version = seq
	}
	return nv, nil
}

// ---- user groups and IdP groups ----

func (b *builder) groups(keys []string, rows []core.UserGroup) {
	byID := map[string]core.UserGroup{}
	for _, g := range rows {
		byID[g.ID] = g
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		gi, known := b.v.groupByID.get(id)
		switch {
		case present && known:
			if old := b.v.groups.get(gi); old.name != row.Name {
				b.v.groups.set(b.ep, gi, &group{id: id, name: row.Name, grantWS: old.grantWS})
				b.changed = true
			}
		case present:
			b.v.internGroup(b.ep, &group{id: id, name: row.Name})
			b.changed = true
		case known:
			b.deadGroups[gi] = true
		}
	}
}

func (b *builder) idpGroups(keys []string, rows []core.IdPGroup) {
	byID := map[string]*core.IdPGroup{}
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		ii, known := b.v.idpByID.get(id)
		switch {
		case present && known:
			if *b.v.idps.get(ii) != *row {
				b.v.idps.set(b.ep, ii, row)
				b.changed, b.remap = true, true
			}
		case present:
			b.v.internIdP(b.ep, row)
			b.changed, b.remap = true, true
		case known:
			b.deadIdPs[ii] = true
		}
	}
}

// ---- sources, mappings, roles (small: copied whole) ----

func (b *builder) sources(keys []string, rows []store.OrgSource) {
	byID := map[string]string{}
	for _, s := range rows {
		byID[s.ID] = sourceLabel(s)
	}
	for _, id := range dedupe(keys) {
		label, present := byID[id]
		old, known := b.v.sources[id]
		if present == known && label == old {
			continue
		}
		if !b.ownSources {
			b.v.sources, b.ownSources = maps.Clone(b.v.sources), true
		}
		b.changed, b.remap = true, true
		if present {
			b.v.sources[id] = label
			continue
		}
		// A deleted connection took its IdP groups, their members and its mappings.
		delete(b.v.sources, id)
		b.v.idps.all(func(i int32, ig *core.IdPGroup) {
			if ig != nil && sourceOf(ig) == id {
				b.deadIdPs[i] = true
			}
		})
		for mid, m := range b.v.mappings {
			if m.DirectoryID == id || m.ConnectionID == id {
				b.deleteMapping(mid)
			}
		}
	}
}

func (b *builder) deleteMapping(id string) {
	if _, ok := b.v.mappings[id]; !ok {
		return
	}
	if !b.ownMappings {
		b.v.mappings, b.ownMappings = maps.Clone(b.v.mappings), true
	}
	delete(b.v.mappings, id)
	b.changed, b.remap = true, true
}

func (b *builder) mappings(keys []string, rows []core.Mapping) {
	byID := map[string]*core.Mapping{}
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		if !present {
			b.deleteMapping(id)
			continue
		}
		if old, ok := b.v.mappings[id]; ok && *old == *row {
			continue
		}
		if !b.ownMappings {
			b.v.mappings, b.ownMappings = maps.Clone(b.v.mappings), true
		}
		b.v.mappings[id] = row
		b.changed, b.remap = true, true
	}
}

func (b *builder) roles(keys []string, rows []core.CustomRole) {
	byID := map[string]core.CustomRole{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		old, known := b.v.roles[id]
		if present == known && (!present || reflect.DeepEqual(old, row)) {
			continue
		}
		if !b.ownRoles {
			b.v.roles, b.ownRoles = maps.Clone(b.v.roles), true
		}
		b.changed = true
		if present {
			b.v.roles[id] = row
			continue
		}
		delete(b.v.roles, id)
		// Its grants went with it (a foreign key cascade writes no event of its own).
		var gone []string
		b.v.workspaces.all(func(_ string, w *workspace) {
			for _, gs := range w.grants {
				for _, g := range gs {
					if g.CustomRoleID == id {
						gone = append(gone, g.ID)
					}
				}
			}
		})
		for _, gid := range gone {
			b.removeGrant(gid)
		}
	}
}

// ---- users and memberships ----

func (b *builder) users(keys []string, rows *store.OrgRows) error {
	keys = dedupe(keys)
	if len(keys) == 0 {
		return nil
	}
	byID := map[string]store.OrgUser{}
	for _, u := range rows.Users {
		byID[u.ID] = u
	}
	direct, idp := map[string][]int32{}, map[string][]int32{}
	for _, m := range rows.Members {
		if _, ok := byID[m.UserID]; !ok {
			continue // a member of a group read again whole, not a user read here
		}
		gi, ok := b.v.groupByID.get(m.GroupID)
		if !ok {
			return inconsistent("user %s is a member of unknown group %s", m.UserID, m.GroupID)
		}
		direct[m.UserID] = append(direct[m.UserID], gi)
	}
	for _, m := range rows.IdPMembers {
		if _, ok := byID[m.UserID]; !ok {
			continue
		}
		ii, ok := b.v.idpByID.get(m.GroupID)
		if !ok {
			return inconsistent("user %s is a member of unknown IdP group %s", m.UserID, m.GroupID)
		}
		idp[m.UserID] = append(idp[m.UserID], ii)
	}
	// Keys (email, userName) leave before any arrive, so that two users trading
	// names in one batch do not clobber each other.
	type next struct {
		i   int32
		old *user
		u   *user
	}
	var nexts []next
	for _, id := range keys {
		i, known := b.v.userByID.get(id)
		var old *user
		if known {
			old = b.v.users.get(i)
		}
		row, present := byID[id]
		if !present {
			if known {
				b.v.unindexUserKeys(b.ep, i, old)
				b.setUser(i, old, nil)
				b.v.userByID.del(b.ep, id)
				b.v.liveUsers--
				b.changed = true
			}
			continue
		}
		u := newUser(id, row.UserName, row.Email, row.Active, row.OrgAdmin, sortedSet(direct[id]), sortedSet(idp[id]))
		if known && sameUser(old, u) {
			continue
		}
		b.changed = true
		if known {
			b.v.unindexUserKeys(b.ep, i, old)
		} else {
			i = b.v.users.push(b.ep, nil)
			b.v.userByID.set(b.ep, id, i)
			b.v.liveUsers++
		}
		b.setUser(i, old, u)
		nexts = append(nexts, next{i, old, u})
	}
	for _, n := range nexts {
		b.v.indexUserKeys(b.ep, n.i, n.u)
	}
	return nil
}

func sameUser(a, b *user) bool {
	return a.id == b.id && a.userName == b.userName && a.email == b.email && a.active == b.active && a.admin == b.admin &&
		a.nDirect == b.nDirect && slices.Equal(a.groups, b.groups)
}

// setUser replaces user i's record (nil: deleted; old nil: new), keeping the
// groups' member lists in step.
func (b *builder) setUser(i int32, old, u *user) {
	var oldD, oldI, newD, newI []int32
	if old != nil {
		oldD, oldI = old.direct(), old.idp()
	}
	if u != nil {
		newD, newI = u.direct(), u.idp()
	}
	diff(oldD, newD, func(gi int32, on bool) { b.setMember(false, gi, i, on) })
	diff(oldI, newI, func(gi int32, on bool) { b.setMember(true, gi, i, on) })
	b.v.users.set(b.ep, i, u)
}

// diff calls fn for each element of one sorted set and not the other: on for
// those only in b.
func diff(a, b []int32, fn func(x int32, on bool)) {
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			fn(a[0], false)
			a = a[1:]
		case len(a) == 0 || b[0] < a[0]:
			fn(b[0], true)
			b = b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
}

// members is a group's member list (an IdP group's when idp).
func (b *builder) members(idp bool, gi int32) []int32 {
	if idp {
		return b.v.idpMembers.at(gi)
	}
	return b.v.groupMembers.at(gi)
}

func (b *builder) setMembers(idp bool, gi int32, us []int32) {
	if idp {
		b.v.idpMembers.set(b.ep, gi, us)
	} else {
		b.v.groupMembers.set(b.ep, gi, us)
	}
}

// setMember adds user ui to (or removes them from) group gi's member list.
func (b *builder) setMember(idp bool, gi, ui int32, on bool) {
	us := b.members(idp, gi)
	at, has := slices.BinarySearch(us, ui)
	if has == on {
		return
	}
	if k := (revKey{idp, gi}); !b.ownRev[k] {
		us = slices.Clone(us)
		b.ownRev[k] = true
	}
	if on {
		us = slices.Insert(us, at, ui)
	} else {
		us = slices.Delete(us, at, at+1)
	}
	b.setMembers(idp, gi, us)
}

// reloadMembers makes the members of each group (IdP groups when idp) exactly
// those rows name. It looks only at the group's old and new members.
func (b *builder) reloadMembers(keys []string, rows []store.OrgMember, idp bool) error {
	want := map[int32][]int32{} // group → members, as read
	wantID := map[string]int32{}
	for _, id := range dedupe(keys) {
		var gi int32
		var ok bool
		if idp {
			gi, ok = b.v.idpByID.get(id)
		} else {
			gi, ok = b.v.groupByID.get(id)
		}
		if !ok || (idp && b.deadIdPs[gi]) || (!idp && b.deadGroups[gi]) {
			continue // deleted: the cascade drops its members
		}
		want[gi], wantID[id] = []int32{}, gi
	}
	if len(want) == 0 {
		return nil
	}
	for _, m := range rows {
		gi, ok := wantID[m.GroupID]
		if !ok {
			continue
		}
		ui, ok := b.v.userByID.get(m.UserID)
		if !ok {
			return inconsistent("member %s of %s is no user", m.UserID, m.GroupID)
		}
		want[gi] = append(want[gi], ui)
	}
	// Each user whose memberships change is written once, however many groups.
	type edit struct{ add, remove []int32 }
	edits := map[int32]*edit{}
	for gi, us := range want {
		us = sortedSet(us)
		diff(b.members(idp, gi), us, func(ui int32, on bool) {
			e := edits[ui]
			if e == nil {
				e = &edit{}
				edits[ui] = e
			}
			if on {
				e.add = append(e.add, gi)
			} else {
				e.remove = append(e.remove, gi)
			}
		})
		b.setMembers(idp, gi, us)
		b.ownRev[revKey{idp, gi}] = true
	}
	for ui, e := range edits {
		b.editUser(ui, idp, e.add, e.remove)
	}
	return nil
}

// editUser adds and removes groups (IdP groups when idp) of user ui's record; the
// member lists are the caller's to keep.
func (b *builder) editUser(ui int32, idp bool, add, remove []int32) {
	u := b.v.users.get(ui)
	list := u.direct()
	if idp {
		list = u.idp()
	}
	nl := slices.DeleteFunc(slices.Clone(list), func(gi int32) bool { return slices.Contains(remove, gi) })
	nl = sortedSet(append(nl, add...))
	if slices.Equal(nl, list) {
		return
	}
	nu := u.withLists(nl, u.idp())
	if idp {
		nu = u.withLists(u.direct(), nl)
	}
	b.v.users.set(b.ep, ui, nu)
	b.changed = true
}

// ---- workspaces, spaces, grants, resources ----

// wsFor returns the workspace record to change, copying it once per batch.
func (b *builder) wsFor(id string) *wsOwn {
	if o := b.ws[id]; o != nil {
		return o
	}
	w, ok := b.v.workspaces.get(id)
	if !ok {
		return nil
	}
	cp := *w
	o := &wsOwn{w: &cp}
	b.v.workspaces.set(b.ep, id, o.w)
	b.ws[id] = o
	return o
}

func (o *wsOwn) spacesW() map[string]core.Space {
	if !o.spaces {
		o.w.spaces, o.spaces = maps.Clone(o.w.spaces), true
	}
	return o.w.spaces
}

func (o *wsOwn) spaceGroupsW() map[int32][]string {
	if !o.spaceGroups {
		o.w.spaceGroups, o.spaceGroups = maps.Clone(o.w.spaceGroups), true
	}
	return o.w.spaceGroups
}

func (o *wsOwn) grantsW() map[int32][]core.Grant {
	if !o.grants {
		o.w.grants, o.grants = maps.Clone(o.w.grants), true
	}
	return o.w.grants
}

func (o *wsOwn) resourcesW() map[resKey]resource {
	if !o.resources {
		o.w.resources, o.resources = maps.Clone(o.w.resources), true
	}
	return o.w.resources
}

func (b *builder) workspaces(keys []string, rows *store.OrgRows) error {
	byID := map[string]core.Workspace{}
	keys = slices.Clone(keys)
	for _, w := range rows.Workspaces {
		byID[w.ID] = w
		keys = append(keys, w.ID) // also those of the environments named
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		_, known := b.v.workspaces.get(id)
		switch {
		case !present && known:
			b.deleteWorkspace(id)
			continue
		case !present:
			continue
		case !known:
			w := newWorkspace(row)
			b.v.workspaces.set(b.ep, id, w)
			b.ws[id] = &wsOwn{w: w, spaces: true, spaceGroups: true, grants: true, resources: true}
			b.v.wsBySlug.set(b.ep, row.Slug, id)
			b.changed = true
		}
		o := b.wsFor(id)
		if old := o.w.ws; old.Slug != row.Slug || old.Name != row.Name || !slices.Equal(old.Environments, row.Environments) {
			if old.Slug != row.Slug {
				if cur, _ := b.v.wsBySlug.get(old.Slug); cur == id {
					b.v.wsBySlug.del(b.ep, old.Slug)
				}
				b.v.wsBySlug.set(b.ep, row.Slug, id)
			}
			row.Environments = slices.Clip(row.Environments)
			o.w.ws = row
			b.changed = true
		}
		// The workspace's spaces and their groups, as read.
		spaces := map[string]core.Space{}
		for _, sp := range rows.Spaces {
			if sp.WorkspaceID == id {
				spaces[sp.ID] = sp
			}
		}
		if !maps.Equal(spaces, o.w.spaces) {
			o.w.spaces, o.spaces = spaces, true
			b.changed = true
		}
		sg, err := b.spaceGroupsOf(rows.SpaceGroups, func(sg store.OrgSpaceGroup) bool { return sg.WorkspaceID == id })
		if err != nil {
			return err
		}
		if !maps.EqualFunc(sg, o.w.spaceGroups, slices.Equal) {
			o.w.spaceGroups, o.spaceGroups = sg, true
			b.changed = true
		}
	}
	return nil
}

// spaceGroupsOf builds group → spaces from the rows keep selects.
func (b *builder) spaceGroupsOf(rows []store.OrgSpaceGroup, keep func(store.OrgSpaceGroup) bool) (map[int32][]string, error) {
	out := map[int32][]string{}
	for _, sg := range rows {
		if !keep(sg) {
			continue
		}
		gi, ok := b.v.groupByID.get(sg.GroupID)
		if !ok {
			return nil, inconsistent("space %s assigned to unknown group %s", sg.SpaceID, sg.GroupID)
		}
		out[gi] = append(out[gi], sg.SpaceID)
	}
	for gi, sps := range out {
		out[gi] = slices.Clip(slices.Compact(slices.Sorted(slices.Values(sps))))
	}
	return out, nil
}

func (b *builder) deleteWorkspace(id string) {
	w, _ := b.v.workspaces.get(id)
	for gi, gs := range w.grants {
		for _, g := range gs {
			b.v.grantLoc.del(b.ep, g.ID)
		}
		b.setGrantWS(gi, id, false)
	}
	for _, r := range w.resources {
		b.v.resLoc.del(b.ep, r.id)
	}
	if cur, _ := b.v.wsBySlug.get(w.ws.Slug); cur == id {
		b.v.wsBySlug.del(b.ep, w.ws.Slug)
	}
	b.v.workspaces.del(b.ep, id)
	delete(b.ws, id)
	b.changed = true
}

func (b *builder) spaces(keys []string, rows *store.OrgRows) error {
	byID := map[string]core.Space{}
	for _, sp := range rows.Spaces {
		byID[sp.ID] = sp
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		wsID := row.WorkspaceID
		if !present {
			b.v.workspaces.all(func(wid string, w *workspace) {
				if _, ok := w.spaces[id]; ok {
					wsID = wid
				}
			})
		}
		o := b.wsFor(wsID)
		if o == nil {
			continue // gone with its workspace
		}
		if old, ok := o.w.spaces[id]; ok != present || old != row {
			if present {
				o.spacesW()[id] = row
			} else {
				delete(o.spacesW(), id)
			}
			b.changed = true
		}
		want, err := b.spaceGroupsOf(rows.SpaceGroups, func(sg store.OrgSpaceGroup) bool { return sg.SpaceID == id })
		if err != nil {
			return err
		}
		for gi, sps := range o.w.spaceGroups {
			if _, has := slices.BinarySearch(sps, id); has && want[gi] == nil {
				b.setSpaceGroup(o, gi, id, false)
			}
		}
		for gi := range want {
			b.setSpaceGroup(o, gi, id, true)
		}
	}
	return nil
}

// setSpaceGroup assigns (or unassigns) space to group gi in a workspace.
func (b *builder) setSpaceGroup(o *wsOwn, gi int32, space string, on bool) {
	sps := o.w.spaceGroups[gi]
	at, has := slices.BinarySearch(sps, space)
	if has == on {
		return
	}
	m := o.spaceGroupsW()
	if on {
		m[gi] = slices.Insert(slices.Clip(sps), at, space)
	} else if len(sps) == 1 {
		delete(m, gi)
	} else {
		m[gi] = slices.Delete(slices.Clone(sps), at, at+1)
	}
	b.changed = true
}

// setGrantWS records whether group gi holds a grant in workspace ws.
func (b *builder) setGrantWS(gi int32, ws string, on bool) {
	g := b.v.groups.at(gi)
	if g == nil {
		return
	}
	at, has := slices.BinarySearch(g.grantWS, ws)
	if has == on {
		return
	}
	ng := *g
	if on {
		ng.grantWS = slices.Insert(slices.Clip(g.grantWS), at, ws)
	} else {
		ng.grantWS = slices.Delete(slices.Clone(g.grantWS), at, at+1)
	}
	b.v.groups.set(b.ep, gi, &ng)
}

func (b *builder) removeGrant(id string) {
	loc, ok := b.v.grantLoc.get(id)
	if !ok {
		return
	}
	b.v.grantLoc.del(b.ep, id)
	b.changed = true
	o := b.wsFor(loc.ws)
	if o == nil {
		return
	}
	gs := slices.DeleteFunc(slices.Clone(o.w.grants[loc.group]), func(g core.Grant) bool { return g.ID == id })
	if len(gs) == 0 {
		delete(o.grantsW(), loc.group)
		b.setGrantWS(loc.group, loc.ws, false)
	} else {
		o.grantsW()[loc.group] = slices.Clip(gs)
	}
}

func (b *builder) grants(keys []string, rows []core.Grant) error {
	byID := map[string]core.Grant{}
	for _, g := range rows {
		byID[g.ID] = g
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		if loc, ok := b.v.grantLoc.get(id); ok && present {
			if w, ok := b.v.workspaces.get(loc.ws); ok {
				if i := slices.IndexFunc(w.grants[loc.group], func(g core.Grant) bool { return g.ID == id }); i >= 0 &&
					reflect.DeepEqual(w.grants[loc.group][i], row) {
					continue
				}
			}
		}
		b.removeGrant(id)
		if !present {
			continue
		}
		gi, ok := b.v.groupByID.get(row.UserGroupID)
		o := b.wsFor(row.WorkspaceID)
		if !ok || o == nil {
			return inconsistent("grant %s of group %s in workspace %s", id, row.UserGroupID, row.WorkspaceID)
		}
		row.EnvironmentIDs = slices.Clip(row.EnvironmentIDs)
		gs := o.w.grants[gi]
		at, _ := slices.BinarySearchFunc(gs, id, func(g core.Grant, id string) int { return strings.Compare(g.ID, id) })
		o.grantsW()[gi] = slices.Insert(slices.Clip(gs), at, row)
		b.v.grantLoc.set(b.ep, id, grantLoc{ws: row.WorkspaceID, group: gi})
		b.setGrantWS(gi, row.WorkspaceID, true)
		b.changed = true
	}
	return nil
}

func (b *builder) resources(keys []string, rows []core.Resource) error {
	byID := map[string]core.Resource{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	for _, id := range dedupe(keys) {
		row, present := byID[id]
		k := resKey{row.Type, row.ExternalID}
		nr := resource{id: id, env: row.EnvironmentID, space: row.SpaceID}
		ws, known := b.v.resLoc.get(id)
		if known && present && ws == row.WorkspaceID {
			if w, ok := b.v.workspaces.get(ws); ok && w.resources[k] == nr {
				continue
			}
		}
		if known {
			b.v.resLoc.del(b.ep, id)
			if o := b.wsFor(ws); o != nil {
				// A resource's key does not change, but find it by id all the same.
				for key, r := range o.w.resources {
					if r.id == id {
						delete(o.resourcesW(), key)
						break
					}
				}
			}
			b.changed = true
		}
		if !present {
			continue
		}
		o := b.wsFor(row.WorkspaceID)
		if o == nil {
			return inconsistent("resource %s in unknown workspace %s", id, row.WorkspaceID)
		}
		o.resourcesW()[k] = nr
		b.v.resLoc.set(b.ep, id, row.WorkspaceID)
		b.changed = true
	}
	return nil
}

// ---- deletions that cascade ----

// cascade removes what deleted user groups and IdP groups took with them through
// foreign keys: memberships, grants, space assignments and mappings.
func (b *builder) cascade() {
	if len(b.deadGroups) == 0 && len(b.deadIdPs) == 0 {
		return
	}
	b.changed = true
	if len(b.deadIdPs) > 0 {
		b.remap = true
	}
	// The dead groups' own member lists name exactly the users to change.
	for _, idp := range []bool{false, true} {
		dead := b.deadGroups
		if idp {
			dead = b.deadIdPs
		}
		edits := map[int32][]int32{}
		for gi := range dead {
			for _, ui := range b.members(idp, gi) {
				edits[ui] = append(edits[ui], gi)
			}
			b.setMembers(idp, gi, nil)
		}
		for ui, gis := range edits {
			b.editUser(ui, idp, nil, gis)
		}
	}
	for ii := range b.deadIdPs {
		b.v.idpByID.del(b.ep, b.v.idps.get(ii).ID)
		b.v.idps.set(b.ep, ii, nil)
	}
	if len(b.deadGroups) == 0 {
		return
	}
	var grants []string
	var wsIDs []string
	b.v.workspaces.all(func(id string, w *workspace) {
		for gi := range b.deadGroups {
			if _, ok := w.grants[gi]; ok {
				wsIDs = append(wsIDs, id)
				for _, g := range w.grants[gi] {
					grants = append(grants, g.ID)
				}
			} else if _, ok := w.spaceGroups[gi]; ok {
				wsIDs = append(wsIDs, id)
			}
		}
	})
	for _, id := range grants {
		b.removeGrant(id)
	}
	for _, id := range dedupe(wsIDs) {
		o := b.wsFor(id)
		for gi := range b.deadGroups {
			if _, ok := o.w.spaceGroups[gi]; ok {
				delete(o.spaceGroupsW(), gi)
			}
		}
	}
	for gi := range b.deadGroups {
		g := b.v.groups.get(gi)
		for mid, m := range b.v.mappings {
			if m.UserGroupID == g.id {
				b.deleteMapping(mid)
			}
		}
		b.v.groupByID.del(b.ep, g.id)
		b.v.groups.set(b.ep, gi, nil)
	}
}

// dedupe returns ids without repeats, in first-seen order.
func dedupe(ids []string) []string {
	if len(ids) < 2 {
		return ids
	}
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
