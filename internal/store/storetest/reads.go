package storetest

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// batchTests cover the Batches contract: each set read answers exactly what the
// single reads it stands for would, references of another org included.
var batchTests = []test{
	{"Batches/SetReadsEqualSingleReads", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		b, badmin := newOrg(t, s, "b")
		d := newDirectory(t, s, o.ID, "okta")
		mk := func(orgID, userName, email string) core.User {
			return must[core.User](t)(s.CreateUser(ctx, sys, core.User{OrgID: orgID, UserName: userName, Email: email, Active: true, Source: core.SourceInvited}))
		}
		jane := mk(o.ID, "jane", "jane@acme.example.com")
		mk(o.ID, "jane2", "JANE@acme.example.com") // a second user with jane's email: the oldest wins
		bob := mk(o.ID, "Bob@Acme.example.com", "")
		mk(o.ID, "carol", "carol@acme.example.com")
		other := mk(b.ID, "jane", "jane@acme.example.com")

		w := newWorkspace(t, s, o.ID, "marketing", "development", "production")
		w2 := newWorkspace(t, s, o.ID, "sales")
		wb := newWorkspace(t, s, b.ID, "marketing")
		sp := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w.ID, "Finance"))
		eng, fin := newGroup(t, s, o.ID, "eng"), newGroup(t, s, o.ID, "finance")
		ok(t, s.AddGroupMember(ctx, adm, o.ID, fin.ID, jane.ID))
		ig := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Engineering"}))
		must[core.Mapping](t)(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "engineering", UserGroupID: eng.ID}))
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, ig.ID, []string{jane.ID, bob.ID}, nil))
		cr := must[core.CustomRole](t)(s.CreateCustomRole(ctx, adm, core.CustomRole{OrgID: o.ID, Name: "runner",
			Rules: []core.Rule{{Actions: []core.Action{core.ActionRun}, ResourceType: core.TypeSync}}}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: eng.ID, WorkspaceID: w.ID, Role: core.RoleEditor,
			EnvironmentIDs: []string{w.Environments[1].ID, w.Environments[0].ID}}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: fin.ID, WorkspaceID: w.ID, CustomRoleID: cr.ID}))
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: fin.ID, WorkspaceID: w2.ID, Role: core.RoleViewer}))
		ok(t, s.AssignSpace(ctx, adm, o.ID, w.ID, sp.ID, fin.ID))
		res := must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeSource, ExternalID: "s-1", SpaceID: sp.ID}))
		must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w.ID, Type: core.TypeModel, ExternalID: "s-1"}))
		must[core.Resource](t)(s.CreateResource(ctx, adm, b.ID, core.Resource{WorkspaceID: wb.ID, Type: core.TypeSource, ExternalID: "s-1"}))

		// Users: an id, else an email (with "@"), else a userName, as the single reads.
		refs := []string{jane.ID, "JANE@acme.example.com", "bob@acme.EXAMPLE.com", "carol", "Carol@acme.example.com", admin.ID,
			other.ID, badmin.UserName, "nobody", "", jane.ID}
		users := must[map[string]core.User](t)(s.UsersByRef(ctx, o.ID, refs))
		for _, ref := range refs {
			want, found := singleUser(t, s, o.ID, ref)
			got, has := users[ref]
			if has != found || got != want {
				t.Errorf("user %q: set read %+v (%v), single reads %+v (%v)", ref, got, has, want, found)
			}
		}
		if users["JANE@acme.example.com"].ID != jane.ID {
			t.Fatalf("email: the oldest user must win, got %+v", users["JANE@acme.example.com"])
		}
		// Workspaces: an id, else a slug.
		wrefs := []string{w.ID, "sales", wb.ID, "missing", w.Slug}
		wss := must[map[string]core.Workspace](t)(s.WorkspacesByRef(ctx, o.ID, wrefs))
		for _, ref := range wrefs {
			want, err := s.GetWorkspace(ctx, o.ID, ref)
			got, has := wss[ref]
			if has != (err == nil) || (has && !reflect.DeepEqual(got, want)) {
				t.Errorf("workspace %q: set read %+v (%v), single read %+v (%v)", ref, got, has, want, err)
			}
		}
		// Resources by the application's ids.
		key := func(ws string, typ core.ResourceType) store.ResourceKey {
			return store.ResourceKey{WorkspaceID: ws, Type: typ, ExternalID: "s-1"}
		}
		keys := []store.ResourceKey{key(w.ID, core.TypeSource), key(w.ID, core.TypeModel), key(w.ID, core.TypeSync),
			key(wb.ID, core.TypeSource), key(w2.ID, core.TypeSource), key(w.ID, core.TypeSource)}
		rs := must[map[store.ResourceKey]core.Resource](t)(s.ResourcesByExternalID(ctx, o.ID, keys))
		for _, k := range keys {
			want, err := s.GetResourceByExternalID(ctx, o.ID, k.WorkspaceID, k.Type, k.ExternalID)
			got, has := rs[k]
			if has != (err == nil) || got != want {
				t.Errorf("resource %+v: set read %+v (%v), single read %+v (%v)", k, got, has, want, err)
			}
		}
		if rs[keys[0]].ID != res.ID {
			t.Fatalf("resource = %+v", rs[keys[0]])
		}
		// Facts of every pair, missing users and workspaces and another org's included.
		var fkeys []store.FactsKey
		for _, u := range []string{jane.ID, bob.ID, admin.ID, other.ID, "missing"} {
			for _, ws := range []string{w.ID, w2.ID, wb.ID, "missing"} {
				fkeys = append(fkeys, store.FactsKey{UserID: u, WorkspaceID: ws})
			}
		}
		facts := must[map[store.FactsKey]*core.Facts](t)(s.FactsMany(ctx, o.ID, fkeys))
		for _, k := range fkeys {
			want, err := s.Facts(ctx, o.ID, k.UserID, k.WorkspaceID)
			got, has := facts[k]
			if err != nil && !errors.Is(err, core.ErrNotFound) {
				t.Fatal(err)
			}
			if has != (err == nil) || (has && !reflect.DeepEqual(got, want)) {
				t.Errorf("facts %+v: set read %+v (%v), single read %+v (%v)", k, got, has, want, err)
			}
		}
		if f := facts[store.FactsKey{UserID: jane.ID, WorkspaceID: w.ID}]; f == nil || len(f.Grants) != 2 || len(f.Memberships) != 2 {
			t.Fatalf("jane's facts = %+v", f)
		}
		// Empty sets are empty answers.
		if m := must[map[string]core.User](t)(s.UsersByRef(ctx, o.ID, nil)); len(m) != 0 {
			t.Fatalf("no refs: %+v", m)
		}
		if m := must[map[store.FactsKey]*core.Facts](t)(s.FactsMany(ctx, o.ID, nil)); len(m) != 0 {
			t.Fatalf("no keys: %+v", m)
		}
	}},
}

// singleUser resolves a reference as the API's single lookups do.
func singleUser(t *testing.T, s Contract, orgID, ref string) (core.User, bool) {
	t.Helper()
	try := func(u core.User, err error) (core.User, bool) {
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			t.Fatal(err)
		}
		return u, err == nil
	}
	if u, ok := try(s.GetUser(ctx, orgID, ref)); ok {
		return u, true
	}
	if strings.Contains(ref, "@") {
		if u, ok := try(s.GetUserByEmail(ctx, orgID, ref)); ok {
			return u, true
		}
	}
	if u, ok := try(s.GetUserByUserName(ctx, orgID, ref)); ok {
		return u, true
	}
	return core.User{}, false
}

// rateLimitTests cover the RateLimits contract: fixed windows counted by one upsert,
// shared by concurrent callers, and pruned.
var rateLimitTests = []test{
	{"RateLimits/Windows", func(t *testing.T, s subject) {
		t0 := time.Date(2026, 5, 1, 9, 0, 10, 0, time.UTC)
		s.clock.set(t0)
		hit := func(key string) int64 { return must[int64](t)(s.Hit(ctx, key, time.Minute)) }
		for i := int64(1); i <= 3; i++ {
			if n := hit("login:1.2.3.4"); n != i {
				t.Fatalf("hit %d counted %d", i, n)
			}
		}
		if n := hit("login:5.6.7.8"); n != 1 {
			t.Fatalf("another key counted %d", n)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.Hit(ctx, "login:1.2.3.4", time.Minute); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := hit("login:1.2.3.4"); n != 12 {
			t.Fatalf("after 8 concurrent hits: %d, want 12", n)
		}
		s.clock.set(t0.Add(time.Minute))
		if n := hit("login:1.2.3.4"); n != 1 {
			t.Fatalf("a new window counted %d", n)
		}
		// Pruning forgets ended windows only.
		ok(t, s.PruneRateLimits(ctx, t0.Add(time.Minute).Truncate(time.Minute)))
		if n := hit("login:1.2.3.4"); n != 2 {
			t.Fatalf("the current window after pruning: %d, want 2", n)
		}
		s.clock.set(t0)
		if n := hit("login:1.2.3.4"); n != 1 {
			t.Fatalf("the pruned window: %d, want 1", n)
		}
	}},
}
