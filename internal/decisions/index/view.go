package index

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// View is one org's access graph as of one point of its change log. A View is
// immutable: any number of goroutines may read it while the index builds the next
// one, and what it hands out (Facts and the values in them) is shared, read-only.
type View struct {
	orgID   string
	seq     int64 // the last change applied
	version int64 // the last change applied that could change a decision
	tokens  int64 // the last change applied that could change an API token
	unicode bool  // names fold like the database's lower(): Unicode or ASCII only

	users       vec[*user]
	userByID    smap[int32]
	userByEmail smap[int32]   // folded email → its oldest (smallest id) user
	emailShared smap[[]int32] // folded email of several users → them, oldest first
	userByName  smap[int32]   // folded userName → user
	liveUsers   int

	groups    vec[*group]
	groupByID smap[int32]

	idps    vec[*core.IdPGroup]
	idpByID smap[int32]

	// While ids were interned in increasing order (loads read in id order; UUIDv7
	// ids grow), index order is id order and memberships sort by index without
	// reading the records. maxGroup and maxIdP are the greatest ids interned.
	groupsOrdered, idpsOrdered bool
	maxGroup, maxIdP           string

	// The memberships the other way round: each user group's direct members and
	// each IdP group's members, as ascending user indexes, so that reading a
	// group's members again, or deleting a group, costs the group's size.
	groupMembers, idpMembers vec[[]int32]

	// The small collections are copied whole when a batch changes them.
	mappings map[string]*core.Mapping
	sources  map[string]string // directory or connection id → "SCIM directory okta"
	roles    map[string]core.CustomRole
	// idpMaps is derived from mappings and IdP groups: for each IdP group, the
	// mappings that match it, by mapping id; idpSource names each group's source
	// ("SCIM directory okta"). Both are rebuilt when mappings, IdP groups or
	// sources change.
	idpMaps   [][]mapRef
	idpSource []string

	workspaces smap[*workspace]
	wsBySlug   smap[string]
	grantLoc   smap[grantLoc]
	resLoc     smap[string] // resource id → workspace id

	size atomic.Int64 // estimate in bytes, computed on first use
}

// user is a user as decisions see them, with their memberships: one slice holds
// both lists (one allocation per user, not two).
type user struct {
	id, userName, email string // userName and email share one string when equal
	active, admin       bool
	nDirect             int32
	groups              []int32 // user groups (ascending), then IdP groups (ascending)
}

func newUser(id, userName, email string, active, admin bool, direct, idp []int32) *user {
	if userName == email {
		userName = email
	}
	u := &user{id: id, userName: userName, email: email, active: active, admin: admin, nDirect: int32(len(direct))}
	if n := len(direct) + len(idp); n > 0 {
		u.groups = append(append(make([]int32, 0, n), direct...), idp...)
	}
	return u
}

// direct is the user's user groups; idp their IdP groups.
func (u *user) direct() []int32 { return u.groups[:u.nDirect:u.nDirect] }
func (u *user) idp() []int32    { return u.groups[u.nDirect:] }

// withLists is u with other memberships.
func (u *user) withLists(direct, idp []int32) *user {
	return newUser(u.id, u.userName, u.email, u.active, u.admin, direct, idp)
}

type group struct {
	id, name string
	grantWS  []string // workspaces where the group holds a grant, ascending
}

// mapRef is a mapping that matches an IdP group, with its user group.
type mapRef struct {
	m     *core.Mapping
	group int32
}

type workspace struct {
	ws core.Workspace
	// spaces is handed out as Facts.Spaces: never written once published.
	spaces      map[string]core.Space
	spaceGroups map[int32][]string     // user group → its spaces here, ascending
	grants      map[int32][]core.Grant // user group → its grants here, by id
	resources   map[resKey]resource
}

// resource is a registered resource of a workspace, its type and application id
// being its key there.
type resource struct{ id, env, space string }

type resKey struct {
	typ core.ResourceType
	ext string
}

type grantLoc struct {
	ws    string
	group int32
}

// OrgID is the org the view is of.
func (v *View) OrgID() string { return v.orgID }

// Seq is the number of the last change of the org's change log the view holds.
func (v *View) Seq() int64 { return v.seq }

// TokensSeq is the seq of the last change that may have created or revoked an
// API token (token.*), or of the load: a token authenticated at a view with the
// same TokensSeq is still good, whatever else changed since.
func (v *View) TokensSeq() int64 { return v.tokens }

// Version moves only with changes that may change a decision: two views of the
// org with the same Version answer every question alike, so a memo of answers
// keyed by it survives changes that cannot affect them (a display name, a token,
// a sign-in). It is the seq of the last such change, or of the load.
func (v *View) Version() int64 { return v.version }

func (v *View) fold(s string) string {
	if v.unicode {
		return strings.ToLower(s)
	}
	return lowerASCII(s)
}

// lowerASCII is SQLite's lower(): it folds A–Z only.
func lowerASCII(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return 'A' <= r && r <= 'Z' })
	if i < 0 {
		return s
	}
	b := []byte(s)
	for j := i; j < len(b); j++ {
		if 'A' <= b[j] && b[j] <= 'Z' {
			b[j] += 'a' - 'A'
		}
	}
	return string(b)
}

func (v *View) coreUser(u *user) core.User {
	return core.User{ID: u.id, OrgID: v.orgID, UserName: u.userName, Email: u.email, Active: u.active}
}

// Errors of FactsOf: which reference found nothing. Both wrap core.ErrNotFound.
var (
	ErrNoUser      = fmt.Errorf("no such user: %w", core.ErrNotFound)
	ErrNoWorkspace = fmt.Errorf("no such workspace: %w", core.ErrNotFound)
)

// userByRef finds a user as User does.
func (v *View) userByRef(ref string) *user {
	if u := v.userOf(ref); u != nil {
		return u
	}
	if strings.Contains(ref, "@") && strings.TrimSpace(ref) != "" {
		if i, ok := v.userByEmail.get(v.fold(ref)); ok {
			return v.users.get(i)
		}
	}
	if i, ok := v.userByName.get(v.fold(ref)); ok {
		return v.users.get(i)
	}
	return nil
}

func (v *View) userOf(id string) *user {
	i, ok := v.userByID.get(id)
	if !ok {
		return nil
	}
	return v.users.get(i)
}

// UserByID finds a user by id.
func (v *View) UserByID(id string) (core.User, bool) {
	u := v.userOf(id)
	if u == nil {
		return core.User{}, false
	}
	return v.coreUser(u), true
}

// User finds a user as the API names them: by id, else by email when ref holds an
// @ (case-insensitively; with several, the oldest user), else by userName
// (case-insensitively). The user carries ID, OrgID, UserName, Email and Active.
func (v *View) User(ref string) (core.User, bool) {
	if u := v.userByRef(ref); u != nil {
		return v.coreUser(u), true
	}
	return core.User{}, false
}

// IsOrgAdmin reports whether the user is an org admin (active or not).
func (v *View) IsOrgAdmin(userID string) bool {
	u := v.userOf(userID)
	return u != nil && u.admin
}

func (v *View) workspaceOf(ref string) *workspace {
	if w, ok := v.workspaces.get(ref); ok {
		return w
	}
	if id, ok := v.wsBySlug.get(ref); ok {
		w, _ := v.workspaces.get(id)
		return w
	}
	return nil
}

// Workspace finds a workspace by id, else by slug, with its environments in
// promotion order (shared: do not modify them).
func (v *View) Workspace(ref string) (core.Workspace, bool) {
	if w := v.workspaceOf(ref); w != nil {
		return w.ws, true
	}
	return core.Workspace{}, false
}

// Resource finds a registered resource by the application's id in a workspace
// (by id). It carries ID, WorkspaceID, Type, ExternalID, EnvironmentID and SpaceID.
func (v *View) Resource(workspaceID string, t core.ResourceType, externalID string) (core.Resource, bool) {
	w, ok := v.workspaces.get(workspaceID)
	if !ok {
		return core.Resource{}, false
	}
	k := resKey{t, externalID}
	r, ok := w.resources[k]
	if !ok {
		return core.Resource{}, false
	}
	return core.Resource{ID: r.id, WorkspaceID: w.ws.ID, Type: k.typ, ExternalID: k.ext, EnvironmentID: r.env, SpaceID: r.space}, true
}

// Facts is store.Facts from the index: everything Decide needs about a user in a
// workspace (both by id), equal to what the store gathers for the same state but
// for the fields the index leaves out (timestamps, versions, descriptions, a
// user's profile beyond userName and email). The Facts and what they hold are
// shared with other readers: read them, never modify them.
func (v *View) Facts(userID, workspaceID string) (*core.Facts, error) {
	u := v.userOf(userID)
	if u == nil {
		return nil, fmt.Errorf("user %q: %w", userID, core.ErrNotFound)
	}
	w, ok := v.workspaces.get(workspaceID)
	if !ok {
		return nil, fmt.Errorf("workspace %q: %w", workspaceID, core.ErrNotFound)
	}
	return v.facts(u, w), nil
}

// FactsOf is Facts for a user and a workspace named as the API names them (User,
// Workspace): one lookup each, for a check. The error is ErrNoUser or
// ErrNoWorkspace.
func (v *View) FactsOf(userRef, workspaceRef string) (*core.Facts, error) {
	u := v.userByRef(userRef)
	if u == nil {
		return nil, ErrNoUser
	}
	w := v.workspaceOf(workspaceRef)
	if w == nil {
		return nil, ErrNoWorkspace
	}
	return v.facts(u, w), nil
}

// WithFacts calls fn with the Facts of a user in a workspace (both by id), equal
// to those Facts returns but built in memory reused from call to call: fn may
// read them only while it runs and must keep nothing of them (core.Decide's
// answer holds nothing of its facts). It is an access check's path, where
// allocating the facts cost as much as deciding on them.
func (v *View) WithFacts(userID, workspaceID string, fn func(*core.Facts)) error {
	u := v.userOf(userID)
	if u == nil {
		return fmt.Errorf("user %q: %w", userID, core.ErrNotFound)
	}
	w, ok := v.workspaces.get(workspaceID)
	if !ok {
		return fmt.Errorf("workspace %q: %w", workspaceID, core.ErrNotFound)
	}
	b := factsBufs.Get().(*factsBuf)
	v.fill(b, u, w)
	fn(&b.f)
	factsBufs.Put(b)
	return nil
}

// factsBuf holds the Facts fill builds and the memory it builds them in.
type factsBuf struct {
	f           core.Facts
	ms          []core.Membership
	vias        []core.Via
	grants      []core.Grant
	spaceGroups map[string][]string
	roles       map[string]core.CustomRole
}

var factsBufs = sync.Pool{New: func() any { return new(factsBuf) }}

func (v *View) facts(u *user, w *workspace) *core.Facts {
	var b factsBuf // nothing to reuse: every slice and map is the Facts' own
	v.fill(&b, u, w)
	f := b.f
	return &f
}

// fill builds u's Facts in w into b.f, in b's memory. Lists and maps with nothing
// in them are nil, whatever b held before, as for a new factsBuf.
func (v *View) fill(b *factsBuf, u *user, w *workspace) {
	var buf [32]int32
	var gis []int32
	b.ms, b.vias, gis = v.memberships(u, b.ms, b.vias, buf[:0])
	f := core.Facts{User: v.coreUser(u), Workspace: w.ws, Memberships: b.ms, Spaces: w.spaces}
	if len(b.ms) == 0 {
		f.Memberships = []core.Membership{}
	}
	grants := b.grants[:0]
	clear(b.spaceGroups)
	clear(b.roles)
	from := 0 // how many groups contributed grants: one needs no sort
	for i, gi := range gis {
		if gs := w.grants[gi]; len(gs) > 0 {
			if grants == nil {
				grants = make([]core.Grant, 0, len(gs)+2)
			}
			grants = append(grants, gs...)
			from++
		}
		for _, sp := range w.spaceGroups[gi] {
			if b.spaceGroups == nil {
				b.spaceGroups = map[string][]string{}
			}
			b.spaceGroups[sp] = append(b.spaceGroups[sp], b.ms[i].Group.ID)
		}
	}
	if from > 1 {
		slices.SortFunc(grants, func(x, y core.Grant) int { return strings.Compare(x.ID, y.ID) })
	}
	for _, g := range grants {
		if g.CustomRoleID == "" {
			continue
		}
		if cr, ok := v.roles[g.CustomRoleID]; ok {
			if b.roles == nil {
				b.roles = map[string]core.CustomRole{}
			}
			b.roles[cr.ID] = cr
		}
	}
	b.grants = grants
	if len(grants) > 0 {
		f.Grants = grants
	}
	if len(b.spaceGroups) > 0 {
		f.SpaceGroups = b.spaceGroups
	}
	if len(b.roles) > 0 {
		f.CustomRoles = b.roles
	}
	b.f = f
}

// Memberships lists a user's user groups by group id, each with every path to it
// (store.UserMemberships from the index).
func (v *View) Memberships(userID string) ([]core.Membership, error) {
	u := v.userOf(userID)
	if u == nil {
		return nil, fmt.Errorf("user %q: %w", userID, core.ErrNotFound)
	}
	ms, _, _ := v.memberships(u, nil, nil, nil)
	if ms == nil {
		ms = []core.Membership{}
	}
	return ms, nil
}

// GrantWorkspaces lists the ids of the workspaces, ascending, where one of the
// user's groups holds a grant, whether or not the user is active: where the user
// has a role to show (/users/{id}/access, /me).
func (v *View) GrantWorkspaces(userID string) ([]string, error) {
	u := v.userOf(userID)
	if u == nil {
		return nil, fmt.Errorf("user %q: %w", userID, core.ErrNotFound)
	}
	_, _, gis := v.memberships(u, nil, nil, nil)
	var out []string
	for _, gi := range gis {
		out = append(out, v.groups.get(gi).grantWS...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// memberVia is one path of a user into a user group.
type memberVia struct {
	group, idp int32
	via        core.Via
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// memberships builds a user's memberships as store.UserMemberships orders them:
// by group id; in each, the direct membership first, then the paths through IdP
// groups by IdP group id and mapping id; in the memory of ms and vias (the paths),
// reused. gis receives the group of each.
func (v *View) memberships(u *user, ms []core.Membership, vias []core.Via, gis []int32) ([]core.Membership, []core.Via, []int32) {
	var buf [16]memberVia
	paths := buf[:0]
	for _, gi := range u.direct() {
		if v.groups.at(gi) != nil {
			paths = append(paths, memberVia{group: gi})
		}
	}
	for _, ii := range u.idp() {
		ig := v.idps.at(ii)
		if ig == nil || int(ii) >= len(v.idpMaps) {
			continue
		}
		src := v.idpSource[ii]
		for _, r := range v.idpMaps[ii] {
			paths = append(paths, memberVia{group: r.group, idp: ii, via: core.Via{IdPGroup: ig, Mapping: r.m, Source: src}})
		}
	}
	if len(paths) == 0 {
		return ms[:0], vias, gis
	}
	slices.SortFunc(paths, func(a, b memberVia) int {
		if a.group != b.group {
			if v.groupsOrdered {
				return cmp.Compare(a.group, b.group)
			}
			return strings.Compare(v.groups.get(a.group).id, v.groups.get(b.group).id)
		}
		// The direct membership first, then by IdP group id and mapping id.
		if a.via.IdPGroup == nil || b.via.IdPGroup == nil {
			return cmp.Compare(boolInt(a.via.IdPGroup != nil), boolInt(b.via.IdPGroup != nil))
		}
		if a.via.IdPGroup != b.via.IdPGroup {
			if v.idpsOrdered {
				return cmp.Compare(a.idp, b.idp)
			}
			return strings.Compare(a.via.IdPGroup.ID, b.via.IdPGroup.ID)
		}
		return strings.Compare(a.via.Mapping.ID, b.via.Mapping.ID)
	})
	vias = slices.Grow(vias[:0], len(paths))[:len(paths)]
	n := 1
	for i := 1; i < len(paths); i++ {
		if paths[i].group != paths[i-1].group {
			n++
		}
	}
	ms = slices.Grow(ms[:0], n)
	start := 0
	for i := range paths {
		vias[i] = paths[i].via
		if i+1 == len(paths) || paths[i+1].group != paths[i].group {
			g := v.groups.get(paths[i].group)
			ms = append(ms, core.Membership{Group: core.UserGroup{ID: g.id, OrgID: v.orgID, Name: g.name},
				Via: vias[start : i+1 : i+1]})
			gis = append(gis, paths[i].group)
			start = i + 1
		}
	}
	return ms, vias, gis
}

// internGroup adds a user group, keeping track of whether index order is id order.
func (v *View) internGroup(ep uint64, g *group) int32 {
	if g.id < v.maxGroup {
		v.groupsOrdered = false
	} else {
		v.maxGroup = g.id
	}
	i := v.groups.push(ep, g)
	v.groupMembers.push(ep, nil)
	v.groupByID.set(ep, g.id, i)
	return i
}

// internIdP adds an IdP group likewise.
func (v *View) internIdP(ep uint64, g *core.IdPGroup) int32 {
	if g.ID < v.maxIdP {
		v.idpsOrdered = false
	} else {
		v.maxIdP = g.ID
	}
	i := v.idps.push(ep, g)
	v.idpMembers.push(ep, nil)
	v.idpByID.set(ep, g.ID, i)
	return i
}

// sourceOf is the directory or SSO connection an IdP group comes from.
func sourceOf(ig *core.IdPGroup) string {
	if ig.DirectoryID != "" {
		return ig.DirectoryID
	}
	return ig.ConnectionID
}
