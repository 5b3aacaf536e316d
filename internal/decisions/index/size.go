package index

import (
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Counts are the sizes of an org's access graph.
type Counts struct {
	Users, Groups, IdPGroups, Mappings, Workspaces, Grants, Resources int
	// Memberships counts direct and IdP-group memberships.
	Memberships int
}

// Counts reports the sizes of the view's graph.
func (v *View) Counts() Counts {
	c := Counts{Users: v.liveUsers, Groups: v.groupByID.len(), IdPGroups: v.idpByID.len(), Mappings: len(v.mappings),
		Workspaces: v.workspaces.len(), Grants: v.grantLoc.len(), Resources: v.resLoc.len()}
	v.users.all(func(_ int32, u *user) {
		if u != nil {
			c.Memberships += len(u.groups)
		}
	})
	return c
}

// Per-entry costs of the structures, in bytes, on a 64-bit platform. A map entry
// costs its key and value and a control byte, at a load of 7/8.
const (
	ptrSize     = 8
	strHdr      = 16
	sliceHdr    = 24
	mapOverhead = 48
)

func mapEntry(key, val uintptr) int64 { return int64(key+val+1) * 8 / 7 }

// alloc rounds an allocation up roughly as the allocator's size classes do.
func alloc(n int64) int64 {
	switch {
	case n == 0:
		return 0
	case n <= 16:
		return 16
	case n <= 128:
		return (n + 15) &^ 15
	default:
		return (n + 127) &^ 127
	}
}

func strBytes(s string) int64 { return alloc(int64(len(s))) }

// SizeBytes estimates the memory the view holds, the parts it shares with older
// views included: the number an org counts against Options.MaxBytes. It is
// computed once per view, on first use.
func (v *View) SizeBytes() int64 {
	if s := v.size.Load(); s > 0 {
		return s
	}
	s := v.estimate()
	v.size.Store(s)
	return s
}

func (v *View) estimate() int64 {
	var n int64
	// Users: the record, its strings and lists, its slot, and its three lookups.
	n += int64(v.users.len()) * ptrSize
	v.users.all(func(_ int32, u *user) {
		if u == nil {
			return
		}
		n += alloc(int64(unsafe.Sizeof(user{}))) + strBytes(u.id) + strBytes(u.email) + alloc(int64(cap(u.groups))*4)
		if unsafe.StringData(u.userName) != unsafe.StringData(u.email) {
			n += strBytes(u.userName)
		}
		// The lookup keys are the folded names: shared when already lower case.
		n += mapEntry(strHdr, 4) * 3
	})
	v.emailShared.all(func(_ string, us []int32) {
		n += mapEntry(strHdr, sliceHdr) + alloc(int64(cap(us))*4)
	})
	for _, rev := range []vec[[]int32]{v.groupMembers, v.idpMembers} {
		n += int64(rev.len()) * sliceHdr
		rev.all(func(_ int32, us []int32) { n += alloc(int64(cap(us)) * 4) })
	}
	n += int64(v.groups.len()) * ptrSize
	v.groups.all(func(_ int32, g *group) {
		if g != nil {
			n += alloc(int64(unsafe.Sizeof(group{}))) + strBytes(g.id) + strBytes(g.name) +
				alloc(int64(cap(g.grantWS))*strHdr) + mapEntry(strHdr, 4)
		}
	})
	n += int64(v.idps.len())*ptrSize + int64(len(v.idpMaps))*sliceHdr
	v.idps.all(func(i int32, ig *core.IdPGroup) {
		if ig != nil {
			n += alloc(int64(unsafe.Sizeof(core.IdPGroup{}))) + strBytes(ig.ID) + strBytes(ig.ExternalID) +
				strBytes(ig.DisplayName) + mapEntry(strHdr, 4)
		}
	})
	for _, refs := range v.idpMaps {
		n += alloc(int64(cap(refs)) * int64(unsafe.Sizeof(mapRef{})))
	}
	for _, m := range v.mappings {
		n += alloc(int64(unsafe.Sizeof(core.Mapping{}))) + strBytes(m.ID) + strBytes(m.IdPGroup) + mapEntry(strHdr, ptrSize)
	}
	for _, r := range v.roles {
		n += int64(unsafe.Sizeof(core.CustomRole{})) + strBytes(r.ID) + strBytes(r.Name) +
			alloc(int64(cap(r.Rules))*int64(unsafe.Sizeof(core.Rule{})))
	}
	v.workspaces.all(func(_ string, w *workspace) {
		n += alloc(int64(unsafe.Sizeof(workspace{}))) + 4*mapOverhead + mapEntry(strHdr, ptrSize) + mapEntry(strHdr, strHdr) +
			strBytes(w.ws.ID) + strBytes(w.ws.Slug) + strBytes(w.ws.Name)
		for _, e := range w.ws.Environments {
			n += int64(unsafe.Sizeof(e)) + strBytes(e.ID) + strBytes(e.Name)
		}
		for _, sp := range w.spaces {
			n += mapEntry(strHdr, unsafe.Sizeof(sp)) + strBytes(sp.ID) + strBytes(sp.Name)
		}
		for _, sps := range w.spaceGroups {
			n += mapEntry(4, sliceHdr) + alloc(int64(cap(sps))*strHdr)
		}
		for _, gs := range w.grants {
			n += mapEntry(4, sliceHdr) + alloc(int64(cap(gs))*int64(unsafe.Sizeof(core.Grant{})))
			for _, g := range gs {
				n += strBytes(g.ID) + alloc(int64(cap(g.EnvironmentIDs))*strHdr) + mapEntry(strHdr, unsafe.Sizeof(grantLoc{}))
			}
		}
		for k, r := range w.resources {
			n += mapEntry(unsafe.Sizeof(k), unsafe.Sizeof(r)) + strBytes(k.ext) + strBytes(r.id) +
				mapEntry(strHdr, strHdr)
		}
	})
	return n
}

// clone is a shallow copy: the new view shares every structure with v.
func (v *View) clone() *View {
	return &View{orgID: v.orgID, seq: v.seq, version: v.version, tokens: v.tokens, unicode: v.unicode, users: v.users, userByID: v.userByID,
		userByEmail: v.userByEmail, emailShared: v.emailShared, userByName: v.userByName, liveUsers: v.liveUsers, groups: v.groups,
		groupByID: v.groupByID, idps: v.idps, idpByID: v.idpByID, groupsOrdered: v.groupsOrdered, idpsOrdered: v.idpsOrdered,
		groupMembers: v.groupMembers, idpMembers: v.idpMembers,
		maxGroup: v.maxGroup, maxIdP: v.maxIdP, mappings: v.mappings, sources: v.sources,
		roles: v.roles, idpMaps: v.idpMaps, idpSource: v.idpSource, workspaces: v.workspaces, wsBySlug: v.wsBySlug,
		grantLoc: v.grantLoc, resLoc: v.resLoc}
}
