package sso_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// TestConcurrentFirstLogins: the same new person logging in from several browsers
// at once gets one user, and every login succeeds.
func TestConcurrentFirstLogins(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		c := ssotest.New(sso.Identity{Subject: "s", Email: "zoe@acme.test", EmailVerified: true, Groups: []string{"eng", "ops"}})
		g.h.Connectors = ssotest.Connectors(c)
		conn, err := g.st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, ssotest.Connection(g.org.ID, "test"))
		fatalIf(t, err, "connection")
		const n = 8
		var wg sync.WaitGroup
		codes := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := newBrowser(t)
				p := b.get(g.url.String() + "/sso/oidc/" + conn.ID + "/login?return_to=/api/v1/me")
				codes[i] = p.status
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusOK {
				t.Errorf("login %d: %d\n%s", i, c, g.logs.String())
			}
		}
		us, err := g.st.ListUsers(ctx, g.org.ID, store.UserQuery{Search: "zoe"})
		fatalIf(t, err, "list users")
		if len(us) != 1 {
			t.Errorf("%d users for one person", len(us))
		}
		gs, err := g.st.ListIdPGroups(ctx, g.org.ID, conn.ID, store.Page{})
		fatalIf(t, err, "idp groups")
		if len(gs) != 2 {
			t.Errorf("%d IdP groups, want 2", len(gs))
		}
	})
}
