package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestPipeline: a directory's creates, updates and deletes sent at once, as an IdP
// sends them, end as they would one after the other, whether a batch did them by
// their one statement (oneStmt: sent with others in a pipeline on PostgreSQL, alone
// on SQLite) or as a whole:
// of two creates of one userName one wins; two updates of one user read at the
// same version both keep their change, each with its own version and event; an
// admin's deactivation and delete take their full path; a rename onto a taken
// userName fails alone; of two deletes of one user one wins.
func TestPipeline(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			o, d := acmeOkta(t, s)
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: "okta"}
			sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
			name := func(i int) string { return fmt.Sprintf("p%d@acme.test", i) }
			const n = 40
			at := func(f func(i int)) {
				var wg sync.WaitGroup
				for i := range 2 * n {
					wg.Go(func() { f(i) })
				}
				wg.Wait()
			}

			// Creates: names 0 to 7 are posted twice.
			var mu sync.Mutex
			ids := map[string]string{}
			conflicts := 0
			at(func(i int) {
				if i >= n+8 {
					return
				}
				u, err := s.SCIMCreateUser(ctx, actor, newSCIMUser(d, name(i%n)))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, core.ErrConflict):
					conflicts++
				case err != nil:
					t.Errorf("create %s: %v", name(i%n), err)
				case ids[name(i%n)] != "":
					t.Errorf("%s created twice", name(i%n))
				default:
					ids[name(i%n)] = u.ID
				}
			})
			if len(ids) != n || conflicts != 8 {
				t.Fatalf("%d users created, %d conflicts; want %d and 8", len(ids), conflicts, n)
			}
			for _, i := range []int{0, 1} {
				if err := s.AddOrgAdmin(ctx, sys, o.ID, ids[name(i)]); err != nil {
					t.Fatal(err)
				}
			}

			// Updates: two of each user at once, one setting the title, the other
			// the department; users 0 to 3 (0 and 1 admins) deactivated by the
			// first; user 5's second renamed onto user 6's name.
			versions := make([][]int64, n)
			at(func(i int) {
				u, second := i%n, i >= n
				out, err := s.SCIMUpdateUser(ctx, actor, o.ID, d.ID, ids[name(u)], func(x *store.SCIMUser) error {
					if second {
						x.Department = fmt.Sprint("d", u)
						if u == 5 {
							x.UserName = name(6)
						}
						return nil
					}
					x.Title = fmt.Sprint("t", u)
					x.Active = u >= 4
					return nil
				})
				if u == 5 && second {
					if !errors.Is(err, core.ErrConflict) {
						t.Errorf("rename onto a taken userName: %v, want a conflict", err)
					}
					return
				}
				if err != nil {
					t.Errorf("update %d: %v", i, err)
					return
				}
				mu.Lock()
				versions[u] = append(versions[u], out.Version)
				mu.Unlock()
			})
			updates := 0
			for u := range n {
				cur, err := s.SCIMGetUser(ctx, o.ID, d.ID, ids[name(u)])
				if err != nil {
					t.Fatal(err)
				}
				want := []int64{2, 3}
				dept := fmt.Sprint("d", u)
				if u == 5 {
					want, dept = []int64{2}, ""
				}
				slices.Sort(versions[u])
				if !slices.Equal(versions[u], want) || cur.Version != want[len(want)-1] {
					t.Errorf("user %d: versions %v, now %d; want %v", u, versions[u], cur.Version, want)
				}
				if cur.Title != fmt.Sprint("t", u) || cur.Department != dept || cur.Active != (u >= 4) || cur.UserName != name(u) {
					t.Errorf("user %d is %q %q active=%v %q: an update was lost or wrong", u, cur.Title, cur.Department, cur.Active, cur.UserName)
				}
				updates += len(versions[u])
			}
			events, err := s.ListAudit(ctx, o.ID, store.AuditQuery{Action: "user.", Page: store.Page{Limit: store.MaxLimit}})
			if err != nil {
				t.Fatal(err)
			}
			count := func(pred func(core.AuditEvent) bool) int {
				k := 0
				for _, e := range events {
					if pred(e) {
						k++
					}
				}
				return k
			}
			if k := count(func(e core.AuditEvent) bool { return e.Action == "user.create" && e.Actor.ID == d.ID }); k != n {
				t.Errorf("%d create events, want %d", k, n)
			}
			if k := count(func(e core.AuditEvent) bool { _, ok := e.Details["version"]; return ok && e.Actor.ID == d.ID }); k != updates {
				t.Errorf("%d update events, want %d", k, updates)
			}
			lastAdmin := count(func(e core.AuditEvent) bool { return e.Details["last_admin"] == true })

			// Deletes: two of each user at once.
			deleted := 0
			at(func(i int) {
				err := s.SCIMDeleteUser(ctx, actor, o.ID, d.ID, ids[name(i%n)])
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					deleted++
				case !errors.Is(err, core.ErrNotFound):
					t.Errorf("delete %d: %v", i, err)
				}
			})
			if deleted != n {
				t.Errorf("%d deletes succeeded, want %d", deleted, n)
			}
			if users, err := s.ListUsers(ctx, o.ID, store.UserQuery{Page: store.Page{Limit: store.MaxLimit}}); err != nil || len(users) != 1 || users[0].UserName != "admin@acme.test" {
				t.Errorf("users left %v (%v), want the org's admin alone", users, err)
			}
			if events, err = s.ListAudit(ctx, o.ID, store.AuditQuery{Action: "user.delete", Page: store.Page{Limit: store.MaxLimit}}); err != nil || len(events) != n {
				t.Errorf("%d delete events (%v), want %d", len(events), err, n)
			}
			// The admins were deactivated with the org's own admin still active.
			if lastAdmin != 0 {
				t.Errorf("%d events say the last admin left", lastAdmin)
			}
			if b.Name == "postgres" && store.PipedChanges(s) == 0 {
				t.Error("no change was done by its statement in a pipeline")
			}
			for _, e := range events {
				if !strings.HasPrefix(e.Details["user_name"].(string), "p") {
					t.Errorf("delete event of %v", e.Details["user_name"])
				}
			}
		})
	}
}
