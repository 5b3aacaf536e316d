package index

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// at brings ix up to the org's generation as st reads it.
func at(t testing.TB, st *store.SQL, ix *Index, org string) *View {
	t.Helper()
	gen, err := st.OrgGeneration(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ix.At(ctx, org, gen)
	if err != nil {
		t.Fatal(err)
	}
	if v.Seq() < gen {
		t.Fatalf("view at %d, generation %d", v.Seq(), gen)
	}
	return v
}

// TestTwoInstances runs two indexes, each over its own connection pool to one
// PostgreSQL database (two Gatehouse instances), and changes the org through
// either: each index reflects every change in its very next At.
func TestTwoInstances(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var sts [2]*store.SQL
	for i := range sts {
		st, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		sts[i] = st
	}
	w := newWorld(t, sts[0], 11)
	w.seed()
	ixs := [2]*Index{New(sts[0], Options{}), New(sts[1], Options{})}
	for i := range ixs {
		at(t, sts[i], ixs[i], w.org)
	}
	steps := 60
	if testing.Short() || raceEnabled {
		steps = 25
	}
	for step := range steps {
		through := step % 2
		w.st = sts[through] // the change commits through this instance
		name, _ := w.randomOp()
		err := w.op(name)
		label := fmt.Sprintf("step %d through %d: %s(%s)", step, through, name, errText(err))
		for i := range ixs {
			v := at(t, sts[i], ixs[i], w.org)
			fresh := at(t, sts[i], New(sts[i], Options{}), w.org)
			if v.Seq() != fresh.Seq() {
				t.Fatalf("%s: instance %d at %d, the database at %d", label, i, v.Seq(), fresh.Seq())
			}
			compareViews(t, fmt.Sprintf("%s, instance %d", label, i), v, fresh, w)
		}
	}
	// A decision that flips: a user joins a group granted Admin through instance 0;
	// instance 1's next check allows.
	w.st = sts[0]
	g, err := sts[0].CreateGroup(ctx, sys, core.UserGroup{OrgID: w.org, Name: "flip"})
	if err != nil {
		t.Fatal(err)
	}
	ws := w.workspaces[0]
	if _, err := sts[0].CreateGrant(ctx, sys, core.Grant{OrgID: w.org, UserGroupID: g.ID, WorkspaceID: ws, Role: core.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	u, err := sts[1].CreateUser(ctx, sys, core.User{OrgID: w.org, UserName: "flipper", Email: "flipper@example.com", Active: true, Source: core.SourceInvited})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(i int) core.Effect {
		f, err := at(t, sts[i], ixs[i], w.org).Facts(u.ID, ws)
		if err != nil {
			t.Fatal(err)
		}
		return core.Decide(f, core.Request{Action: core.ActionManageAccess}).Effect
	}
	if decide(0) != core.Deny || decide(1) != core.Deny {
		t.Fatal("a user in no group is allowed")
	}
	if err := sts[0].AddGroupMember(ctx, sys, w.org, g.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if decide(1) != core.Allow || decide(0) != core.Allow {
		t.Fatal("the next check after a membership change does not see it")
	}
	if _, err := sts[1].UpdateUser(ctx, sys, w.org, u.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if decide(0) != core.Deny || decide(1) != core.Deny {
		t.Fatal("the next check after a deactivation does not see it")
	}
}

// TestNoStaleAnswerUnderConcurrency has checkers call At from many goroutines
// while a writer adds users to a granted group: a checker that starts after a
// change was committed always sees it, and no change is applied twice.
func TestNoStaleAnswerUnderConcurrency(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			st := b.New(t)
			w := newWorld(t, st, 5)
			w.op("createWorkspace")
			g, err := st.CreateGroup(ctx, sys, core.UserGroup{OrgID: w.org, Name: "readers"})
			if err != nil {
				t.Fatal(err)
			}
			ws := w.workspaces[0]
			if _, err := st.CreateGrant(ctx, sys, core.Grant{OrgID: w.org, UserGroupID: g.ID, WorkspaceID: ws, Role: core.RoleViewer}); err != nil {
				t.Fatal(err)
			}
			const n = 40
			users := make([]string, n)
			for i := range users {
				u, err := st.CreateUser(ctx, sys, core.User{OrgID: w.org, UserName: fmt.Sprint("u", i), Active: true, Source: core.SourceInvited})
				if err != nil {
					t.Fatal(err)
				}
				users[i] = u.ID
			}
			ix := New(st, Options{})
			at(t, st, ix, w.org)
			before := ix.Stats().Applies
			var added atomic.Int64 // users[:added] are committed members
			var wg sync.WaitGroup
			stop := make(chan struct{})
			errs := make(chan error, 16)
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						k := added.Load()
						gen, err := st.OrgGeneration(ctx, w.org)
						if err != nil {
							errs <- err
							return
						}
						v, err := ix.At(ctx, w.org, gen)
						if err != nil {
							errs <- err
							return
						}
						for _, u := range users[:k] {
							f, err := v.Facts(u, ws)
							if err != nil {
								errs <- err
								return
							}
							if d := core.Decide(f, core.Request{Action: core.ActionView}); d.Effect != core.Allow {
								errs <- fmt.Errorf("user %s added before the check is %s: %s", u, d.Effect, d.Message)
								return
							}
						}
					}
				}()
			}
			for i, u := range users {
				if err := st.AddGroupMember(ctx, sys, w.org, g.ID, u); err != nil {
					t.Fatal(err)
				}
				added.Store(int64(i + 1))
				time.Sleep(time.Millisecond)
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if applies := ix.Stats().Applies - before; applies > n {
				t.Fatalf("%d catch-ups for %d changes: some were applied more than once", applies, n)
			}
		})
	}
}

// TestVersion: changes no decision reads move the seq, not the version.
func TestVersion(t *testing.T) {
	st := storetest.NewSQLite(t)
	w := newWorld(t, st, 2)
	w.seed()
	ix := New(st, Options{})
	v0 := at(t, st, ix, w.org)
	u := w.users[1]
	steps := []struct {
		name   string
		change func() error
		moves  bool
	}{
		{"display name", func() error {
			_, err := st.UpdateUser(ctx, sys, w.org, u, func(u *core.User) error { u.DisplayName = "New Name"; return nil })
			return err
		}, false},
		{"token", func() error { _, _, err := st.CreateToken(ctx, sys, w.org, store.TokenAPI, "t", ""); return err }, false},
		{"refused sign-in", func() error {
			return st.RecordSSOEvent(ctx, w.org, core.Actor{Kind: core.ActorSSO}, "sso.login_refused", "user", u, nil)
		}, false},
		{"deactivation", func() error {
			_, err := st.UpdateUser(ctx, sys, w.org, u, func(u *core.User) error { u.Active = false; return nil })
			return err
		}, true},
		{"space created", func() error { _, err := st.CreateSpace(ctx, sys, w.org, w.workspaces[0], "fresh"); return err }, true},
	}
	prev := v0
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		v := at(t, st, ix, w.org)
		if v.Seq() != prev.Seq()+1 {
			t.Fatalf("%s: seq %d after %d", s.name, v.Seq(), prev.Seq())
		}
		if moved := v.Version() != prev.Version(); moved != s.moves {
			t.Fatalf("%s: version %d → %d, want moved=%v", s.name, prev.Version(), v.Version(), s.moves)
		}
		if s.moves && v.Version() != v.Seq() {
			t.Fatalf("%s: version %d is not the change's seq %d", s.name, v.Version(), v.Seq())
		}
		prev = v
	}
}

// TestReloads: an event the index does not know, a counted change without its
// event, or a backlog longer than MaxCatchUp make it load the org afresh.
func TestReloads(t *testing.T) {
	st := storetest.NewSQLite(t)
	w := newWorld(t, st, 4)
	w.seed()
	ix := New(st, Options{MaxCatchUp: 5})
	at(t, st, ix, w.org)
	check := func(what string, reloads int64) {
		t.Helper()
		v := at(t, st, ix, w.org)
		fresh := at(t, st, New(st, Options{}), w.org)
		compareViews(t, what, v, fresh, w)
		if got := ix.Stats().Reloads; got != reloads {
			t.Fatalf("%s: %d reloads, want %d", what, got, reloads)
		}
	}
	w.op("addMember")
	w.op("createGrant")
	check("known changes", 0)
	if err := st.RecordSSOEvent(ctx, w.org, core.Actor{Kind: core.ActorSystem}, "something.new", "org", w.org, nil); err != nil {
		t.Fatal(err)
	}
	w.op("createUser")
	check("unknown action", 1)
	// A change written outside the store: the counter moves, no event is written.
	u := w.users[1]
	if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(`UPDATE users SET active = NOT active WHERE id = ?`), u); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(`UPDATE org_generations SET generation = generation + 1 WHERE org_id = ?`), w.org); err != nil {
		t.Fatal(err)
	}
	check("gap in the log", 2)
	for range 6 {
		w.op("createGroup")
	}
	check("backlog past MaxCatchUp", 3)
}

// TestMemberReloads: an event that names a group but not which members changed
// (a bulk change, or one written before the log named them) makes the index read
// the group's members again, adding and removing whom it must.
func TestMemberReloads(t *testing.T) {
	st := storetest.NewSQLite(t)
	w := newWorld(t, st, 6)
	w.seed()
	ix := New(st, Options{})
	at(t, st, ix, w.org)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB().ExecContext(ctx, st.DB().Rebind(q), args...); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 6 {
		g, idp := w.groups[round%len(w.groups)], w.idps[round%len(w.idps)]
		// Members change behind the store's back; an event then says which group.
		exec(`DELETE FROM user_group_members WHERE group_id = ?`, g)
		exec(`DELETE FROM idp_group_members WHERE idp_group_id = ? AND user_id = ?`, idp, w.users[round%len(w.users)])
		for _, u := range w.users[round%3:] {
			if w.rng.IntN(2) == 0 {
				exec(`INSERT INTO user_group_members (org_id, group_id, user_id, created_at) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING`, w.org, g, u)
			} else {
				exec(`INSERT INTO idp_group_members (org_id, idp_group_id, user_id, created_at, member_directory_id, member_display)
					SELECT org_id, ?, id, 0, directory_id, user_name FROM users WHERE org_id = ? AND id = ? ON CONFLICT DO NOTHING`, idp, w.org, u)
			}
		}
		if err := st.RecordSSOEvent(ctx, w.org, sys, "group.member.add", "group", g, map[string]any{"added": 3}); err != nil {
			t.Fatal(err)
		}
		if err := st.RecordSSOEvent(ctx, w.org, sys, "idp_group.members.change", "idp_group", idp, map[string]any{"members_reload": true}); err != nil {
			t.Fatal(err)
		}
		v := at(t, st, ix, w.org)
		compareViews(t, fmt.Sprint("round ", round), v, at(t, st, New(st, Options{}), w.org), w)
		compareStore(t, fmt.Sprint("round ", round), st, v, w)
	}
	if s := ix.Stats(); s.Reloads != 0 {
		t.Fatalf("%d full reloads: the member reloads should have been applied", s.Reloads)
	}
}

// TestEviction: MaxBytes keeps the most recently used orgs that fit, MaxIdle
// drops cold ones, Evict drops one; an evicted org is loaded again on next use.
func TestEviction(t *testing.T) {
	st := storetest.NewSQLite(t)
	a, b := newWorld(t, st, 21), newWorld(t, st, 22)
	a.seed()
	b.seed()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }

	probe := New(st, Options{})
	size := at(t, st, probe, a.org).SizeBytes()
	if size <= 0 {
		t.Fatalf("size estimate %d", size)
	}
	ix := New(st, Options{MaxBytes: size * 3 / 2, Now: now})
	at(t, st, ix, a.org)
	at(t, st, ix, b.org) // past the bound: a, least recently used, goes
	s := ix.Stats()
	if len(s.Orgs) != 1 || s.Orgs[0].OrgID != b.org || s.Evictions != 1 {
		t.Fatalf("after loading b: %+v", s)
	}
	a.op("addMember") // changed while evicted
	v := at(t, st, ix, a.org)
	compareViews(t, "reloaded", v, at(t, st, New(st, Options{}), a.org), a)
	if s := ix.Stats(); s.Loads != 3 || len(s.Orgs) != 1 || s.Orgs[0].OrgID != a.org {
		t.Fatalf("after reloading a: %+v", s)
	}

	ix = New(st, Options{MaxIdle: time.Minute, Now: now})
	at(t, st, ix, a.org)
	clock.Add(int64(30 * time.Second))
	at(t, st, ix, b.org)
	clock.Add(int64(45 * time.Second)) // a idle 75s, b 45s
	at(t, st, ix, b.org)
	if s := ix.Stats(); len(s.Orgs) != 1 || s.Orgs[0].OrgID != b.org {
		t.Fatalf("a idle past MaxIdle is still loaded: %+v", s)
	}
	ix.Evict(b.org)
	if s := ix.Stats(); len(s.Orgs) != 0 || s.Evictions != 2 {
		t.Fatalf("after Evict: %+v", s)
	}
	at(t, st, ix, b.org)
	if s := ix.Stats(); s.Loads != 3 {
		t.Fatalf("b not loaded again: %+v", s)
	}
}

// TestEvictionFair: a large org in use does not push small ones out of the
// bound. With a large org and two small ones loaded past MaxBytes, loading a
// small one again evicts the large org (over its equal share), not the other
// small one, though the large org was used more recently.
func TestEvictionFair(t *testing.T) {
	st := storetest.NewSQLite(t)
	s1, s2 := newWorld(t, st, 31), newWorld(t, st, 32)
	s1.seed()
	s2.seed()
	big, err := seedOrg(ctx, st, "big", size{Users: 400, Groups: 40, IdPGroups: 10, Workspaces: 20, Grants: 80, Resources: 400, IdPPerUser: 2, DirectPerUser: 1})
	if err != nil {
		t.Fatal(err)
	}
	probe := New(st, Options{})
	sz := func(org string) int64 { return at(t, st, probe, org).SizeBytes() }
	small, large := max(sz(s1.org), sz(s2.org)), sz(big)
	if large < 4*small {
		t.Fatalf("the large org (%d bytes) is not much larger than the small ones (%d)", large, small)
	}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { clock.Add(int64(time.Second)); return time.Unix(0, clock.Load()) }
	ix := New(st, Options{MaxBytes: large + small + small/2, Now: now})
	at(t, st, ix, s1.org)
	at(t, st, ix, s2.org)
	at(t, st, ix, big) // past the bound: s1, least recently used, goes
	loaded := func() map[string]bool {
		m := map[string]bool{}
		for _, o := range ix.Stats().Orgs {
			m[o.OrgID] = true
		}
		return m
	}
	if l := loaded(); !l[big] || !l[s2.org] || l[s1.org] {
		t.Fatalf("after loading the large org: %v", l)
	}
	at(t, st, ix, big) // the large org is the most recently used
	at(t, st, ix, s1.org)
	if l := loaded(); l[big] || !l[s1.org] || !l[s2.org] {
		t.Fatalf("a small org came back: the large one should have gone, not the other small one: %v", l)
	}
	at(t, st, ix, big) // and it is loaded again when asked about
	if l := loaded(); !l[big] {
		t.Fatalf("the large org was not loaded again: %v", l)
	}
}

// TestSizeEstimate compares SizeBytes with the heap a loaded org holds.
func TestSizeEstimate(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("seeds 20,000 users; heap figures mean little under the race detector")
	}
	st := storetest.NewSQLite(t)
	org, err := seedOrg(ctx, st, "mid", size{Users: 20_000, Groups: 2_000, IdPGroups: 200, Workspaces: 200, Grants: 4_000,
		Resources: 20_000, IdPPerUser: 3, DirectPerUser: 1})
	if err != nil {
		t.Fatal(err)
	}
	heap, est := measureLoad(t, st, org)
	t.Logf("heap %.1f MB, estimate %.1f MB", heap/1e6, est/1e6)
	if r := est / heap; r < 0.7 || r > 1.4 {
		t.Fatalf("estimate %.1f MB is %.2f× the heap %.1f MB", est/1e6, r, heap/1e6)
	}
}

// TestActionsKnown finds every audit action the code writes and checks that the
// index knows it: an unknown one costs a full load of the org on every occurrence.
// When this fails, add the action to plan (with the rows it changes).
func TestActionsKnown(t *testing.T) {
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`audit\(ctx, [^,]+, [^,]+, "([a-z_.]+)"`),
		regexp.MustCompile(`action\s*:?=\s*"([a-z_.]+)"`),
		regexp.MustCompile(`RecordSSOEvent\([^"\n]*"([a-z_.]+)"`),
	}
	found := map[string]string{}
	root := "../../.."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range patterns {
			for _, m := range re.FindAllStringSubmatch(string(src), -1) {
				found[m[1]] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 30 {
		t.Fatalf("found only %d actions: the patterns no longer match the code", len(found))
	}
	t.Logf("%d actions", len(found))
	for action, path := range found {
		actions := []string{action}
		if strings.HasSuffix(action, ".") {
			// A prefix the code completes at run time ("signin." + kind): every
			// action of the event vocabulary that completes it.
			actions = nil
			for _, ti := range events.Types() {
				for _, a := range ti.Actions {
					if strings.HasPrefix(a, action) {
						actions = append(actions, a)
					}
				}
			}
			if len(actions) == 0 {
				t.Errorf("audit action prefix %q (%s) completes no action of the event vocabulary", action, path)
			}
		}
		for _, a := range actions {
			if _, reload, _ := plan([]core.AuditEvent{{Action: a, TargetID: "x"}}); reload {
				t.Errorf("audit action %q (%s) is unknown to the index", a, path)
			}
		}
	}
}

// TestSnapshotAgrees: the rows ReadOrg and ReadOrgAll read belong to the state
// their seq names, while changes to both halves of the graph commit beside them.
func TestSnapshotAgrees(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			st := b.New(t)
			w := newWorld(t, st, 9)
			done := make(chan error, 1)
			go func() {
				var err error
				for i := 0; i < 60 && err == nil; i++ {
					if i%2 == 0 {
						_, err = st.CreateUser(ctx, sys, core.User{OrgID: w.org, UserName: fmt.Sprint("c", i), Active: true, Source: core.SourceInvited})
					} else {
						_, err = st.CreateWorkspace(ctx, sys, w.org, fmt.Sprint("w", i), "W", []string{"dev"})
					}
				}
				done <- err
			}()
			// agree checks rows read at seq against the log up to seq.
			agree := func(rows *store.OrgRows, seq int64) error {
				events, err := st.Changes(ctx, w.org, 0, 0)
				if err != nil {
					return err
				}
				users, wss := 0, 0
				for _, e := range events {
					switch {
					case e.Seq > seq:
					case e.Action == "user.create":
						users++
					case e.Action == "workspace.create":
						wss++
					}
				}
				if users != len(rows.Users) || wss != len(rows.Workspaces) {
					return fmt.Errorf("seq %d: %d users and %d workspaces created, %d and %d read", seq, users, wss, len(rows.Users), len(rows.Workspaces))
				}
				return nil
			}
			for running, reads := true, 0; running || reads < 3; reads++ {
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					running = false
				default:
				}
				err := st.ReadOrg(ctx, w.org, func(r *store.OrgReader) error {
					rows, err := r.All(ctx)
					if err != nil {
						return err
					}
					return agree(rows, r.Seq())
				})
				if err != nil {
					t.Fatal(err)
				}
				rows, seq, err := st.ReadOrgAll(ctx, w.org)
				if err == nil {
					err = agree(rows, seq)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
