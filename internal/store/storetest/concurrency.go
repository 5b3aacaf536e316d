package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// RunConcurrencyTests runs concurrent writers against the backend and checks that
// nothing is lost and no invariant breaks.
func RunConcurrencyTests(t *testing.T, newStore NewStore) {
	t.Run("WritersLoseNothing", func(t *testing.T) { writersLoseNothing(t, newStore.open(t)) })
	t.Run("LastAdminUnderRace", func(t *testing.T) { lastAdminUnderRace(t, newStore.open(t)) })
	t.Run("ConflictsUnderRace", func(t *testing.T) { conflictsUnderRace(t, newStore.open(t)) })
	t.Run("AdoptionUnderRace", func(t *testing.T) { adoptionUnderRace(t, newStore.open(t)) })
}

// writersLoseNothing: 16 goroutines each create users and add them to, then remove
// some from, the same user group and the same IdP group, all at once.
func writersLoseNothing(t *testing.T, s Contract) {
	const workers, perWorker = 16, 12
	o, _ := newOrg(t, s, "acme")
	d := newDirectory(t, s, o.ID, "okta")
	g := newGroup(t, s, o.ID, "everyone")
	ig := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "All"}))

	var (
		mu            sync.Mutex
		keptDirect    []string
		keptIdP       []string
		created       []string
		wg            sync.WaitGroup
		errs          = make(chan error, workers)
		actor         = core.Actor{Kind: core.ActorSCIM, ID: d.ID}
		keepDirect    = func(i int) bool { return i%3 != 0 }
		keepIdPMember = func(i int) bool { return i%4 != 0 }
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				for i := range perWorker {
					u, err := s.CreateUser(ctx, actor, core.User{OrgID: o.ID, UserName: fmt.Sprintf("w%d-u%d@acme.example.com", w, i),
						Active: true, Source: core.SourceSCIM, DirectoryID: d.ID})
					if err != nil {
						return fmt.Errorf("create: %w", err)
					}
					if err := s.AddGroupMember(ctx, actor, o.ID, g.ID, u.ID); err != nil {
						return fmt.Errorf("add member: %w", err)
					}
					if err := s.ChangeIdPGroupMembers(ctx, actor, o.ID, ig.ID, []string{u.ID}, nil); err != nil {
						return fmt.Errorf("add idp member: %w", err)
					}
					if !keepDirect(i) {
						if err := s.RemoveGroupMember(ctx, actor, o.ID, g.ID, u.ID); err != nil {
							return fmt.Errorf("remove member: %w", err)
						}
					}
					if !keepIdPMember(i) {
						if err := s.ChangeIdPGroupMembers(ctx, actor, o.ID, ig.ID, nil, []string{u.ID}); err != nil {
							return fmt.Errorf("remove idp member: %w", err)
						}
					}
					mu.Lock()
					created = append(created, u.ID)
					if keepDirect(i) {
						keptDirect = append(keptDirect, u.ID)
					}
					if keepIdPMember(i) {
						keptIdP = append(keptIdP, u.ID)
					}
					mu.Unlock()
				}
				return nil
			}()
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := must[int](t)(s.CountUsers(ctx, o.ID)); n != workers*perWorker+1 {
		t.Fatalf("users = %d, want %d", n, workers*perWorker+1)
	}
	var direct []string
	for _, m := range must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, g.ID, store.Page{})) {
		if m.Direct {
			direct = append(direct, m.User.ID)
		}
	}
	if !sameSet(direct, keptDirect) {
		t.Fatalf("direct members: %d, want %d", len(direct), len(keptDirect))
	}
	idp := userIDs(must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, ig.ID, store.Page{})))
	if !sameSet(idp, keptIdP) {
		t.Fatalf("IdP group members: %d, want %d", len(idp), len(keptIdP))
	}
	// Every change left its audit event.
	want := map[string]int{
		"user.create":              workers*perWorker + 1, // and the org's first admin
		"group.member.add":         workers * perWorker,
		"group.member.remove":      workers*perWorker - len(keptDirect),
		"idp_group.members.change": workers*perWorker + workers*perWorker - len(keptIdP),
	}
	for action, n := range want {
		if got := countAll(t, s, o.ID, action); got != n {
			t.Errorf("%s events = %d, want %d", action, got, n)
		}
	}
	if v := must[core.IdPGroup](t)(s.GetIdPGroup(ctx, o.ID, ig.ID)).Version; v != int64(1+want["idp_group.members.change"]) {
		t.Errorf("IdP group version = %d, want %d", v, 1+want["idp_group.members.change"])
	}
	_ = created
}

// countAll counts audit events of an action across pages.
func countAll(t *testing.T, s Contract, orgID, action string) int {
	t.Helper()
	n, after := 0, ""
	for {
		es, err := s.ListAudit(ctx, orgID, store.AuditQuery{Action: action, Page: store.Page{After: after, Limit: 500}})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return n
		}
		n += len(es)
		after = es[len(es)-1].ID
	}
}

// lastAdminUnderRace: two admins take each other away at once, in every way the
// invariant can be attacked; exactly one must succeed each round.
func lastAdminUnderRace(t *testing.T, s Contract) {
	ops := map[string]func(orgID, userID string) error{
		"remove": func(orgID, userID string) error { return s.RemoveOrgAdmin(ctx, adm, orgID, userID) },
		"deactivate": func(orgID, userID string) error {
			_, err := s.UpdateUser(ctx, adm, orgID, userID, func(u *core.User) error { u.Active = false; return nil })
			return err
		},
		"delete": func(orgID, userID string) error { return s.DeleteUser(ctx, adm, orgID, userID) },
	}
	names := []string{"remove", "deactivate", "delete"}
	round := 0
	for _, a := range names {
		for _, b := range names {
			for range 3 {
				round++
				o, first := newOrg(t, s, fmt.Sprintf("race-%d", round))
				second := newUser(t, s, o.ID, "second@race.example.com")
				ok(t, s.AddOrgAdmin(ctx, adm, o.ID, second.ID))
				var wg sync.WaitGroup
				results := make([]error, 2)
				start := make(chan struct{})
				for i, op := range []struct {
					f    func(string, string) error
					user string
				}{{ops[a], first.ID}, {ops[b], second.ID}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						results[i] = op.f(o.ID, op.user)
					}()
				}
				close(start)
				wg.Wait()
				okCount := 0
				for _, err := range results {
					switch {
					case err == nil:
						okCount++
					case errors.Is(err, core.ErrLastAdmin):
						noDriverText(t, err)
					default:
						t.Fatalf("%s/%s: unexpected error %v", a, b, err)
					}
				}
				if okCount != 1 {
					t.Fatalf("%s/%s: %d of 2 succeeded, want exactly 1", a, b, okCount)
				}
				active := 0
				for _, u := range must[[]core.User](t)(s.ListOrgAdmins(ctx, o.ID)) {
					if u.Active {
						active++
					}
				}
				if active != 1 {
					t.Fatalf("%s/%s: %d active admins left, want 1", a, b, active)
				}
			}
		}
	}
}

// conflictsUnderRace: 16 goroutines create the same userNames at once, each beside a
// userName of its own. Every name is created once; every loser gets ErrConflict and
// leaves nothing behind; the winners and the distinct creates all stay.
func conflictsUnderRace(t *testing.T, s Contract) {
	const workers, names = 16, 10
	o, _ := newOrg(t, s, "acme")
	var (
		wg        sync.WaitGroup
		created   = make([]int, workers)
		conflicts = make([]int, workers)
		errs      = make([]error, workers)
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range names {
				for _, name := range []string{fmt.Sprintf("shared-%d", i), fmt.Sprintf("own-%d-%d", w, i)} {
					_, err := s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: name, Active: true, Source: core.SourceInvited})
					switch {
					case err == nil:
						created[w]++
					case errors.Is(err, core.ErrConflict) && strings.HasPrefix(name, "shared-"):
						if msg := strings.ToLower(err.Error()); strings.Contains(msg, "constraint") || strings.Contains(msg, "sqlstate") || strings.Contains(msg, "unique") {
							errs[w] = fmt.Errorf("driver text in %q", err)
							return
						}
						conflicts[w]++
					default:
						errs[w] = fmt.Errorf("create %s: %w", name, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	total, lost := 0, 0
	for w := range workers {
		if errs[w] != nil {
			t.Fatal(errs[w])
		}
		total += created[w]
		lost += conflicts[w]
	}
	if total != names+workers*names || lost != (workers-1)*names {
		t.Fatalf("created %d (want %d), conflicts %d (want %d)", total, names+workers*names, lost, (workers-1)*names)
	}
	if n := must[int](t)(s.CountUsers(ctx, o.ID)); n != total+1 {
		t.Fatalf("users = %d, want %d", n, total+1)
	}
	if n := countAll(t, s, o.ID, "user.create"); n != total+1 {
		t.Fatalf("user.create events = %d, want %d", n, total+1)
	}
}

// adoptionUnderRace: each round, the directory okta (whose domain the address is)
// and entra each POST the same userName from several goroutines at once, while the
// connection google (same domain) tries to adopt the user at sign-in. For an
// existing local user exactly one of okta's POSTs adopts them (same id) and every
// other POST is ErrConflict; the connection adopts them first or not at all, and
// okta owns them at the end in every interleaving, with one user.adopted event per
// adoption and no new user. For a new userName exactly one POST, of either
// directory, creates the user.
func adoptionUnderRace(t *testing.T, s Contract) {
	const rounds, perDir = 4, 4
	o, _ := newOrg(t, s, "acme")
	okta := newDirectory(t, s, o.ID, "okta")
	entra := newDirectory(t, s, o.ID, "entra")
	must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, okta.ID, []string{"acme.example.com"}))
	must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, entra.ID, []string{"entra.example.com"}))
	google := newConnection(t, s, o.ID, "google", "acme.example.com")
	for round := range rounds {
		for _, existing := range []bool{true, false} {
			name := fmt.Sprintf("r%d-%t@acme.example.com", round, existing)
			var local core.User
			if existing {
				local = newUser(t, s, o.ID, name)
			}
			users, adoptedBefore := must[int](t)(s.CountUsers(ctx, o.ID)), countAll(t, s, o.ID, "user.adopted")
			type result struct {
				dir core.Directory
				u   store.SCIMUser
				err error
			}
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				results = make(chan result, 2*perDir)
				connErr = make(chan error, 1)
			)
			for i := range 2 * perDir {
				d := okta
				if i%2 == 1 {
					d = entra
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					u, err := s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, name))
					results <- result{d, u, err}
				}()
			}
			if existing {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := s.AdoptUser(ctx, sys, o.ID, local.ID, core.Owner{Kind: core.OwnerConnection, ID: google}, name)
					connErr <- err
				}()
			}
			close(start)
			wg.Wait()
			close(results)
			var won []result
			for r := range results {
				switch {
				case r.err == nil:
					won = append(won, r)
				case errors.Is(r.err, core.ErrConflict):
					noDriverText(t, r.err)
				default:
					t.Fatalf("%s: %s: unexpected error %v", name, r.dir.Name, r.err)
				}
			}
			if len(won) != 1 {
				t.Fatalf("%s: %d POSTs succeeded, want exactly 1", name, len(won))
			}
			wantUsers, wantAdopted := users+1, adoptedBefore
			if existing {
				wantUsers, wantAdopted = users, adoptedBefore+1
				if won[0].dir.ID != okta.ID || won[0].u.ID != local.ID {
					t.Fatalf("%s: %s won with user %s; want okta adopting %s", name, won[0].dir.Name, won[0].u.ID, local.ID)
				}
				switch err := <-connErr; {
				case err == nil:
					wantAdopted++ // the connection first, then okta from the connection
				case !errors.Is(err, core.ErrConflict):
					t.Fatalf("%s: the connection's adoption: %v", name, err)
				}
			}
			got := must[core.User](t)(s.GetUserByUserName(ctx, o.ID, name))
			if got.ID != won[0].u.ID || got.Owner.Kind != core.OwnerDirectory || got.Owner.ID != won[0].dir.ID {
				t.Fatalf("%s at the end: %+v; want owned by %s", name, got, won[0].dir.Name)
			}
			if n := must[int](t)(s.CountUsers(ctx, o.ID)); n != wantUsers {
				t.Fatalf("%s: users = %d, want %d", name, n, wantUsers)
			}
			if n := countAll(t, s, o.ID, "user.adopted"); n != wantAdopted {
				t.Fatalf("%s: user.adopted events = %d, want %d", name, n, wantAdopted)
			}
		}
	}
}
