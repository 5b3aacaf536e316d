package sso_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestSignInLinks: a break-glass link signs its admin in with no SSO connection
// (a session /api/v1/me accepts, idle and absolute timeouts on the handler's
// clock), once; by the handler's test clock it expires; opening it (GET) does
// not use it up; a forged token is refused. SQLite and PostgreSQL.
func TestSignInLinks(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		admin, err := g.st.GetUserByEmail(ctx, g.org.ID, "admin@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		link := func(ttl time.Duration) string {
			secret, hash := sso.NewLinkToken()
			now := g.clock.Now()
			if err := g.st.CreateSignInLink(ctx, core.Actor{Kind: core.ActorSystem}, store.SignInLink{TokenHash: hash, Kind: store.SignInBreakGlass,
				OrgID: g.org.ID, UserID: admin.ID, CreatedAt: now, ExpiresAt: now.Add(ttl)}); err != nil {
				t.Fatal(err)
			}
			return sso.SignInLinkURL(g.url, secret)
		}

		// Expiry, by the handler's clock: opened in time, pressed too late.
		b := newBrowser(t)
		form := b.get(link(15 * time.Minute))
		if form.status != http.StatusOK || !strings.Contains(form.body, `name="token"`) {
			t.Fatalf("GET link: %d %.300s", form.status, form.body)
		}
		g.clock.Advance(16 * time.Minute)
		if p := b.submit(form, nil); p.status != http.StatusGone || !strings.Contains(p.body, "expired or was already used") {
			t.Fatalf("expired link: %d %.300s", p.status, p.body)
		}

		// In time: a session, with no SSO connection, that /api/v1/me accepts.
		l := link(15 * time.Minute)
		b = newBrowser(t)
		b.get(l) // opening it twice uses nothing up
		form = b.get(l)
		b.stopAt.Store("/admin/")
		p := b.submit(form, nil)
		if p.status != http.StatusSeeOther || p.location != "/admin/" {
			t.Fatalf("sign in: %d %s %.300s", p.status, p.location, p.body)
		}
		b.stopAt.Store("")
		if me := b.get(g.url.String() + "/api/v1/me"); me.status != http.StatusOK || !strings.Contains(me.body, "admin@acme.example") {
			t.Fatalf("/me after a break-glass sign-in: %d %.300s", me.status, me.body)
		}
		// The session keeps the handler's idle timeout (30 minutes here).
		g.clock.Advance(31 * time.Minute)
		if me := b.get(g.url.String() + "/api/v1/me"); me.status != http.StatusUnauthorized {
			t.Fatalf("/me after the idle timeout: %d", me.status)
		}
		// Once only.
		if p := newBrowser(t).submit(form, nil); p.status != http.StatusGone {
			t.Fatalf("second use: %d %.300s", p.status, p.body)
		}
		// A forged or empty token.
		if p := newBrowser(t).post(g.url.String()+"/sso/link", map[string][]string{"token": {"forged"}}); p.status != http.StatusGone {
			t.Fatalf("forged token: %d", p.status)
		}
		if p := newBrowser(t).get(g.url.String() + "/sso/link"); p.status != http.StatusNotFound {
			t.Fatalf("no token: %d", p.status)
		}
		if es, _ := g.st.ListAudit(ctx, g.org.ID, store.AuditQuery{Action: "signin.break_glass"}); len(es) != 1 {
			t.Fatalf("%d break-glass sign-ins audited, want 1", len(es))
		}
	})
}
