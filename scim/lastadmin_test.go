package scim

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestOwningDirectoryDeprovisionsLastAdmin: the identity provider is authoritative
// for people who leave. When the org's last active admin is a user the directory
// owns, its deactivation (PATCH active=false) and its DELETE succeed, the audit
// event says last_admin, and the server logs a WARN naming the recovery; through
// the admin API the last-admin rule still holds. On both backends.
func TestOwningDirectoryDeprovisionsLastAdmin(t *testing.T) {
	eachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		for _, how := range []string{"deactivate", "delete"} {
			t.Run(how, func(t *testing.T) {
				e := newEnv(t, newStore)
				logs := &syncLog{}
				e.h.Logger = slog.New(slog.NewTextHandler(logs, nil))
				id := e.createUser("boss@example.com", "")
				if err := e.s.AddOrgAdmin(ctx, sys, e.org.ID, id); err != nil {
					t.Fatal(err)
				}
				// The first, local admin leaves by hand: the directory's user is now the last one.
				if _, err := e.s.UpdateUser(ctx, sys, e.org.ID, e.admin.ID, func(u *core.User) error { u.Active = false; return nil }); err != nil {
					t.Fatal(err)
				}
				// By hand, the rule holds for the last one.
				if _, err := e.s.UpdateUser(ctx, sys, e.org.ID, id, func(u *core.User) error { u.Active = false; return nil }); err == nil {
					t.Fatal("a manual deactivation removed the last active admin")
				}
				action := "user.deactivate"
				if how == "deactivate" {
					e.do("PATCH", "/Users/"+id, `{"Operations":[{"op":"replace","path":"active","value":false}]}`).must(t, 200)
					if u, _ := e.s.GetUser(ctx, e.org.ID, id); u.Active {
						t.Fatal("still active")
					}
				} else {
					action = "user.delete"
					e.do("DELETE", "/Users/"+id, "").must(t, 204)
					if _, err := e.s.GetUser(ctx, e.org.ID, id); err == nil {
						t.Fatal("still there")
					}
				}
				evs, err := e.s.ListAudit(ctx, e.org.ID, store.AuditQuery{Action: action})
				if err != nil {
					t.Fatal(err)
				}
				var last bool
				for _, ev := range evs {
					last = last || (ev.TargetID == id && ev.Details["last_admin"] == true && ev.Actor.ID == e.dir.ID)
				}
				if !last {
					t.Errorf("no %s event with last_admin naming the directory: %+v", action, evs)
				}
				if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "last active admin") || !strings.Contains(l, "org add-admin") {
					t.Errorf("no WARN with the recovery: %s", l)
				}
			})
		}
	})
}
