package index

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/google/uuid"
)

// TestEquivalence changes random worlds through the real store and checks, after
// every step, that the incrementally maintained view answers exactly as the store
// does (Facts, memberships, lookups, core.Decide) and as a view loaded afresh does.
func TestEquivalence(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			steps := 150
			if b.Name == "postgres" || raceEnabled {
				steps = 80
			}
			if testing.Short() {
				steps = 30
			}
			for seed := range uint64(2) {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					t.Parallel()
					st := b.New(t)
					if seed == 1 {
						// Random (v4) ids: interning order is not id order.
						st.NewID = uuid.NewString
					}
					equivalence(t, st, seed, steps)
				})
			}
		})
	}
}

func equivalence(t *testing.T, st *store.SQL, seed uint64, steps int) {
	w := newWorld(t, st, seed)
	ix := New(st, Options{})
	w.seed()
	prev := checkWorld(t, st, ix, w, "seed", nil, false)
	for step := range steps {
		n := 1 + w.rng.IntN(3)
		if w.rng.IntN(15) == 0 {
			n = 12 // a burst: many changes applied in one catch-up
		}
		var names []string
		nonDecision := true
		for range n {
			name, nd := w.randomOp()
			err := w.op(name)
			names = append(names, fmt.Sprintf("%s(%v)", name, errText(err)))
			nonDecision = nonDecision && nd
		}
		prev = checkWorld(t, st, ix, w, fmt.Sprintf("step %d: %s", step, strings.Join(names, ", ")), prev, nonDecision)
	}
	s := ix.Stats()
	t.Logf("seed %d: %d steps, %+v, %+v", seed, steps, s.Orgs[0].Counts, struct{ Loads, Reloads, Applies int64 }{s.Loads, s.Reloads, s.Applies})
	if s.Reloads != 0 || s.Loads != 1 {
		t.Errorf("loads %d, reloads %d: every change should have been applied, not reloaded", s.Loads, s.Reloads)
	}
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	for _, e := range []error{core.ErrNotFound, core.ErrConflict, core.ErrInvalid, core.ErrLastAdmin, core.ErrVersion} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}

// checkWorld brings the index up to the org's generation and compares it with
// the store and with a fresh load.
func checkWorld(t *testing.T, st *store.SQL, ix *Index, w *world, step string, prev *View, nonDecision bool) *View {
	t.Helper()
	gen, err := st.OrgGeneration(ctx, w.org)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ix.At(ctx, w.org, gen)
	if err != nil {
		t.Fatalf("%s: At: %v", step, err)
	}
	if v.Seq() != gen {
		t.Fatalf("%s: view at %d, generation %d", step, v.Seq(), gen)
	}
	if prev != nil && nonDecision && v.Version() != prev.Version() {
		t.Errorf("%s: version moved from %d to %d for changes no decision reads", step, prev.Version(), v.Version())
	}
	fresh, err := New(st, Options{}).At(ctx, w.org, gen)
	if err != nil {
		t.Fatal(err)
	}
	if prev != nil && v.Version() == prev.Version() && !sameAnswers(prev, fresh, w) {
		t.Errorf("%s: version %d kept, but answers changed", step, v.Version())
	}
	compareViews(t, step, v, fresh, w)
	compareStore(t, step, st, v, w)
	return v
}

// refs are the users' ids, emails and userNames in several cases, and unknown ones.
func (w *world) refs(v *View) []string {
	out := []string{"nobody", "nobody@example.com", ""}
	for _, id := range append(slices.Clone(w.users), w.goneUsers...) {
		out = append(out, id)
		if u, ok := v.UserByID(id); ok {
			out = append(out, u.Email, strings.ToUpper(u.Email), strings.ToLower(u.Email), u.UserName, strings.ToUpper(u.UserName))
		}
	}
	return out
}

func (w *world) wsRefs(v *View) []string {
	out := []string{"nope"}
	for _, id := range append(slices.Clone(w.workspaces), w.goneWorkspaces...) {
		out = append(out, id)
		if ws, ok := v.Workspace(id); ok {
			out = append(out, ws.Slug)
		}
	}
	return out
}

// sameAnswers reports whether two views decide alike for every user and
// workspace of the world (used to check that a kept version means kept answers).
func sameAnswers(a, b *View, w *world) bool {
	for _, u := range w.users {
		for _, ws := range w.workspaces {
			fa, ea := a.Facts(u, ws)
			fb, eb := b.Facts(u, ws)
			if (ea == nil) != (eb == nil) {
				return false
			}
			if ea == nil && !reflect.DeepEqual(normFacts(fa), normFacts(fb)) {
				return false
			}
		}
	}
	return true
}

func compareViews(t *testing.T, step string, v, fresh *View, w *world) {
	t.Helper()
	if v.Counts() != fresh.Counts() {
		t.Errorf("%s: counts %+v, fresh %+v", step, v.Counts(), fresh.Counts())
	}
	if a, b := memberIDs(v), memberIDs(fresh); !reflect.DeepEqual(a, b) {
		t.Errorf("%s: member lists\n got %v\nfresh %v", step, a, b)
	}
	for _, ref := range w.refs(fresh) {
		a, okA := v.User(ref)
		b, okB := fresh.User(ref)
		if okA != okB || a != b {
			t.Errorf("%s: User(%q) = %+v %v, fresh %+v %v", step, ref, a, okA, b, okB)
		}
		for _, ws := range w.wsRefs(fresh) {
			fa, ea := v.FactsOf(ref, ws)
			fb, eb := fresh.FactsOf(ref, ws)
			if ea != eb || !reflect.DeepEqual(fa, fb) {
				t.Errorf("%s: FactsOf(%q, %q) = %s %v, fresh %s %v", step, ref, ws, show(fa), ea, show(fb), eb)
			}
			if ea == nil {
				if f, _ := v.Facts(a.ID, fa.Workspace.ID); !reflect.DeepEqual(f, fa) {
					t.Errorf("%s: FactsOf(%q, %q) is not Facts of the user and workspace", step, ref, ws)
				}
			}
		}
	}
	for _, ref := range w.wsRefs(fresh) {
		a, okA := v.Workspace(ref)
		b, okB := fresh.Workspace(ref)
		if okA != okB || !reflect.DeepEqual(a, b) {
			t.Errorf("%s: Workspace(%q) = %+v, fresh %+v", step, ref, a, b)
		}
	}
	for _, u := range append(append(slices.Clone(w.users), w.goneUsers...), "nobody") {
		if v.IsOrgAdmin(u) != fresh.IsOrgAdmin(u) {
			t.Errorf("%s: IsOrgAdmin(%s) differs", step, u)
		}
		ma, ea := v.Memberships(u)
		mb, eb := fresh.Memberships(u)
		if (ea == nil) != (eb == nil) || !reflect.DeepEqual(ma, mb) {
			t.Errorf("%s: Memberships(%s)\n got %s\nfresh %s", step, u, show(ma), show(mb))
		}
		wa, _ := v.GrantWorkspaces(u)
		wb, _ := fresh.GrantWorkspaces(u)
		if !slices.Equal(wa, wb) {
			t.Errorf("%s: GrantWorkspaces(%s) = %v, fresh %v", step, u, wa, wb)
		}
		for _, ws := range append(append(slices.Clone(w.workspaces), w.goneWorkspaces...), "nope") {
			fa, ea := v.Facts(u, ws)
			fb, eb := fresh.Facts(u, ws)
			if (ea == nil) != (eb == nil) || (ea == nil && !reflect.DeepEqual(fa, fb)) {
				t.Errorf("%s: Facts(%s, %s)\n got %s\nfresh %s", step, u, ws, show(fa), show(fb))
			}
		}
	}
	fresh.workspaces.all(func(id string, fw *workspace) {
		for k := range fw.resources {
			a, okA := v.Resource(id, k.typ, k.ext)
			b, _ := fresh.Resource(id, k.typ, k.ext)
			if !okA || a != b {
				t.Errorf("%s: Resource(%s, %s, %s) = %+v, fresh %+v", step, id, k.typ, k.ext, a, b)
			}
		}
	})
}

func compareStore(t *testing.T, step string, st *store.SQL, v *View, w *world) {
	t.Helper()
	// Lookups as the API resolves them (httpapi's resolveUser), for a sample: the
	// comparison with a fresh view covers every one.
	for _, ref := range sample(w, w.refs(v), 12) {
		want, err := st.GetUser(ctx, w.org, ref)
		if errors.Is(err, core.ErrNotFound) && strings.Contains(ref, "@") {
			want, err = st.GetUserByEmail(ctx, w.org, ref)
		}
		if errors.Is(err, core.ErrNotFound) {
			want, err = st.GetUserByUserName(ctx, w.org, ref)
		}
		got, ok := v.User(ref)
		if ok != (err == nil) || (ok && got != normUser(want)) {
			t.Errorf("%s: User(%q) = %+v %v, store %+v %v", step, ref, got, ok, normUser(want), err)
		}
	}
	for _, ref := range w.wsRefs(v) {
		want, err := st.GetWorkspace(ctx, w.org, ref)
		got, ok := v.Workspace(ref)
		want.CreatedAt, want.Version = time.Time{}, 0
		if ok != (err == nil) || (ok && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s: Workspace(%q) = %+v, store %+v %v", step, ref, got, want, err)
		}
	}
	for _, id := range w.resources {
		want, err := st.GetResource(ctx, w.org, id)
		if err != nil {
			continue
		}
		got, ok := v.Resource(want.WorkspaceID, want.Type, want.ExternalID)
		want.Name, want.CreatedAt, want.UpdatedAt, want.Version = "", time.Time{}, time.Time{}, 0
		if !ok || got != want {
			t.Errorf("%s: Resource %s = %+v, store %+v", step, id, got, want)
		}
	}
	for _, u := range sample(w, w.users, 6) {
		admin, err := st.IsOrgAdmin(ctx, w.org, u)
		if err == nil && admin != v.IsOrgAdmin(u) {
			t.Errorf("%s: IsOrgAdmin(%s) = %v, store %v", step, u, v.IsOrgAdmin(u), admin)
		}
		ms, err := st.UserMemberships(ctx, w.org, u)
		got, gerr := v.Memberships(u)
		if (err == nil) != (gerr == nil) || (err == nil && !reflect.DeepEqual(normMemberships(got), normMemberships(ms))) {
			t.Errorf("%s: Memberships(%s)\n got %s\nstore %s", step, u, show(got), show(ms))
		}
		if err == nil {
			var want []string
			for _, m := range ms {
				gs, err := st.ListGrants(ctx, w.org, store.GrantQuery{GroupID: m.Group.ID})
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range gs {
					want = append(want, g.WorkspaceID)
				}
			}
			slices.Sort(want)
			if got, _ := v.GrantWorkspaces(u); !slices.Equal(got, slices.Compact(want)) {
				t.Errorf("%s: GrantWorkspaces(%s) = %v, store %v", step, u, got, want)
			}
		}
	}
	// Facts and decisions for a sample of pairs (all of them in small worlds).
	type pair struct{ user, ws string }
	var pairs []pair
	for _, u := range append(append(slices.Clone(w.users), pick(w, w.goneUsers)), "nobody") {
		for _, ws := range append(append(slices.Clone(w.workspaces), pick(w, w.goneWorkspaces)), "nope") {
			pairs = append(pairs, pair{u, ws})
		}
	}
	resources := map[string][]core.Resource{}
	for _, p := range sample(w, pairs, 20) {
		want, werr := st.Facts(ctx, w.org, p.user, p.ws)
		got, gerr := v.Facts(p.user, p.ws)
		if (werr == nil) != (gerr == nil) || (werr != nil && !errors.Is(gerr, core.ErrNotFound)) {
			t.Errorf("%s: Facts(%s, %s): error %v, store %v", step, p.user, p.ws, gerr, werr)
			continue
		}
		if werr != nil {
			continue
		}
		if a, b := normFacts(got), normFacts(want); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: Facts(%s, %s)\n got %s\nstore %s", step, p.user, p.ws, show(a), show(b))
			continue
		}
		if _, ok := resources[p.ws]; !ok {
			resources[p.ws], _ = st.ListResources(ctx, w.org, p.ws, store.ResourceQuery{})
		}
		for _, req := range w.requests(want, resources[p.ws]) {
			if a, b := core.Decide(got, req), core.Decide(want, req); !reflect.DeepEqual(a, b) {
				t.Errorf("%s: Decide(%s, %s, %+v) = %+v, store %+v", step, p.user, p.ws, req, a, b)
			}
		}
	}
}

// requests are questions about the facts' workspace: every action, by workspace,
// environment (name, id, unknown) and resource (by type, registered ones, in spaces).
func (w *world) requests(f *core.Facts, res []core.Resource) []core.Request {
	envs := []string{"", "production", "nope"}
	for _, e := range f.Workspace.Environments {
		envs = append(envs, e.ID)
	}
	var out []core.Request
	for _, a := range core.Actions {
		out = append(out, core.Request{Action: a, Environment: pick(w, envs)})
		out = append(out, core.Request{Action: a, ResourceType: pick(w, core.ResourceTypes), Environment: pick(w, envs)})
		for sp := range f.Spaces {
			out = append(out, core.Request{Action: a, ResourceType: core.TypeModel, SpaceID: sp})
		}
		if len(res) > 0 {
			r := pick(w, res)
			out = append(out, core.Request{Action: a, Resource: &r, Environment: pick(w, []string{"", r.EnvironmentID})})
		}
	}
	return out
}

// memberIDs is the view's member lists by group id (user groups and IdP groups),
// as user ids: what the lists hold, whatever the interning order.
func memberIDs(v *View) map[string][]string {
	out := map[string][]string{}
	add := func(id string, us []int32) {
		if len(us) == 0 {
			return
		}
		for _, ui := range us {
			out[id] = append(out[id], v.users.get(ui).id)
		}
		slices.Sort(out[id])
	}
	v.groups.all(func(i int32, g *group) {
		if g != nil {
			add(g.id, v.groupMembers.at(i))
		}
	})
	v.idps.all(func(i int32, g *core.IdPGroup) {
		if g != nil {
			add(g.ID, v.idpMembers.at(i))
		}
	})
	return out
}

// sample picks up to n of l at random.
func sample[T any](w *world, l []T, n int) []T {
	if len(l) <= n {
		return l
	}
	l = slices.Clone(l)
	w.rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
	return l[:n]
}

func normUser(u core.User) core.User {
	return core.User{ID: u.ID, OrgID: u.OrgID, UserName: u.UserName, Email: u.Email, Active: u.Active}
}

// normMemberships keeps what the index keeps of memberships.
func normMemberships(ms []core.Membership) []core.Membership {
	out := make([]core.Membership, len(ms))
	for i, m := range ms {
		out[i] = core.Membership{Group: core.UserGroup{ID: m.Group.ID, OrgID: m.Group.OrgID, Name: m.Group.Name}}
		for _, v := range m.Via {
			if v.IdPGroup != nil {
				ig := *v.IdPGroup
				ig.CreatedAt, ig.UpdatedAt, ig.Version = time.Time{}, time.Time{}, 0
				mp := *v.Mapping
				mp.CreatedAt = time.Time{}
				v = core.Via{IdPGroup: &ig, Mapping: &mp, Source: v.Source}
			}
			out[i].Via = append(out[i].Via, v)
		}
	}
	return out
}

// normFacts keeps what the index keeps, and treats empty and nil alike.
func normFacts(f *core.Facts) *core.Facts {
	c := &core.Facts{User: normUser(f.User), Workspace: f.Workspace, Memberships: normMemberships(f.Memberships)}
	c.Workspace.CreatedAt, c.Workspace.Version = time.Time{}, 0
	for _, g := range f.Grants {
		g.CreatedAt = time.Time{}
		c.Grants = append(c.Grants, g)
	}
	for id, r := range f.CustomRoles {
		if c.CustomRoles == nil {
			c.CustomRoles = map[string]core.CustomRole{}
		}
		c.CustomRoles[id] = core.CustomRole{ID: r.ID, OrgID: r.OrgID, Name: r.Name, Rules: r.Rules}
	}
	if len(f.SpaceGroups) > 0 {
		c.SpaceGroups = maps.Clone(f.SpaceGroups)
	}
	for id, sp := range f.Spaces {
		if c.Spaces == nil {
			c.Spaces = map[string]core.Space{}
		}
		sp.CreatedAt = time.Time{}
		c.Spaces[id] = sp
	}
	return c
}

func show(x any) string {
	switch f := x.(type) {
	case *core.Facts:
		if f == nil {
			return "nil"
		}
		return fmt.Sprintf("user %+v ws %s memberships %s grants %+v roles %v spacegroups %v spaces %v",
			f.User, f.Workspace.ID, show(f.Memberships), f.Grants, slices.Sorted(maps.Keys(f.CustomRoles)), f.SpaceGroups, slices.Sorted(maps.Keys(f.Spaces)))
	case []core.Membership:
		var parts []string
		for _, m := range f {
			var vias []string
			for _, v := range m.Via {
				if v.IdPGroup == nil {
					vias = append(vias, "direct")
				} else {
					vias = append(vias, fmt.Sprintf("%s/%s/%s", v.IdPGroup.DisplayName, v.Mapping.IdPGroup, v.Source))
				}
			}
			parts = append(parts, fmt.Sprintf("%s[%s]", m.Group.Name, strings.Join(vias, " ")))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprint(x)
}
