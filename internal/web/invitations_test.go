package web_test

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// inviteSite is an org (acme, admin@acme.test, an API token) with no SSO
// connection, served with the API, the pages and sign-in links, as the stack
// wires them; mailer nil: no SMTP settings.
type inviteSite struct {
	st    *store.SQL
	srv   *httptest.Server
	base  *url.URL
	org   core.Org
	admin core.User
	token string
}

func newInviteSite(t *testing.T, b storetest.Backend, mailer ops.Mailer) *inviteSite {
	t.Helper()
	st := b.New(t)
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	org, admin, err := st.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := st.CreateToken(ctx, sys, org.ID, store.TokenAPI, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := sso.NewBox(key)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	sh := &sso.Handler{Store: st, Logger: apitest.Logger(t), ExternalURL: base, Box: box}
	sh.Mount(mux)
	o := &ops.Ops{Store: st, LinkURL: func(s string) string { return sso.SignInLinkURL(base, s) }}
	if mailer != nil {
		o.Mail = mailer
	}
	(&api.Handler{Store: st, Ops: o, Logger: apitest.Logger(t), Sessions: sh}).Mount(mux)
	(&web.Handler{Store: st, Ops: o, Logger: apitest.Logger(t), Sessions: sh, SignIn: sh, ExternalURL: srv.URL}).Mount(mux)
	return &inviteSite{st: st, srv: srv, base: base, org: org, admin: admin, token: secret}
}

// breakGlass is a sign-in link for the org admin, as gatehouse login-link makes.
func (s *inviteSite) breakGlass(t *testing.T) string {
	t.Helper()
	secret, hash := sso.NewLinkToken()
	now := time.Now()
	if err := s.st.CreateSignInLink(context.Background(), core.Actor{Kind: core.ActorSystem}, store.SignInLink{
		TokenHash: hash, Kind: store.SignInBreakGlass, OrgID: s.org.ID, UserID: s.admin.ID, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return sso.SignInLinkURL(s.base, secret)
}

// followLink opens a sign-in link in a new cookie jar and presses its button:
// the status and the path it lands on.
func followLink(t *testing.T, link string) (int, string, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.PostForm(u.Scheme+"://"+u.Host+"/sso/link", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(body)
}

// TestInvitations: POST /api/v1/invitations creates the local user and returns,
// once, a single-use link that signs them in the first time; with SMTP settings
// the link is mailed (a loopback SMTP server here), a failed mail leaves the
// invitation standing and says so; bad input and a taken email change nothing;
// everything is audited. SQLite and PostgreSQL.
func TestInvitations(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		relay := mailtest.New(t)
		s := newInviteSite(t, b, &mail.SMTP{Addr: relay.Addr, From: "Gatehouse <gatehouse@acme.test>"})
		call := func(body map[string]any) apitest.Resp {
			return apitest.Call(t, s.srv.URL, "POST", "/api/v1/invitations", body, apitest.WithToken(s.token))
		}
		inv := call(map[string]any{"email": "bob@acme.test", "display_name": "Bob Smith"}).Want(t, 201)
		link := inv.Str("invitation_url")
		if !strings.HasPrefix(link, s.srv.URL+"/sso/link?token=") || inv.Body["emailed"] != true {
			t.Fatalf("invitation: %s", inv.Raw)
		}
		msgs := relay.Messages()
		if len(msgs) != 1 || msgs[0].To[0] != "bob@acme.test" || !strings.Contains(msgs[0].Data, link) || !strings.Contains(msgs[0].Data, "invited you to Acme") {
			t.Fatalf("mail = %+v", msgs)
		}
		bob, err := s.st.GetUserByEmail(ctx, s.org.ID, "bob@acme.test")
		if err != nil || bob.Source != core.SourceInvited || !bob.Active || bob.DisplayName != "Bob Smith" {
			t.Fatalf("bob = %+v, %v", bob, err)
		}
		// Following it signs Bob in (a member: the overview opens), once.
		if code, path, body := followLink(t, link); code != 200 || path != "/admin/" || !strings.Contains(body, "bob@acme.test") {
			t.Fatalf("following the invitation: %d %s %.300s", code, path, body)
		}
		if code, _, body := followLink(t, link); code != http.StatusGone || !strings.Contains(body, "expired or was already used") {
			t.Fatalf("second use: %d %.300s", code, body)
		}
		for action, n := range map[string]int{"user.create": 2, "signin_link.create": 1, "signin.invitation": 1} {
			if es, _ := s.st.ListAudit(ctx, s.org.ID, store.AuditQuery{Action: action}); len(es) != n {
				t.Errorf("%d %s events, want %d", len(es), action, n)
			}
		}
		users := func() int {
			us, _ := s.st.ListUsers(ctx, s.org.ID, store.UserQuery{})
			return len(us)
		}
		before := users()
		call(map[string]any{"email": "BOB@acme.test"}).Want(t, 409)
		call(map[string]any{"email": "not-an-email"}).Want(t, 422)
		call(map[string]any{"display_name": "No Email"}).Want(t, 422)
		call(map[string]any{"email": "eve@acme.test", "active": false}).Want(t, 422)
		if users() != before {
			t.Fatalf("refused invitations created users")
		}
		// The relay refuses: the invitation stands, the answer says so and carries the link.
		relay.SetRefuseRecipients(true)
		inv = call(map[string]any{"email": "cy@acme.test"}).Want(t, 201)
		if inv.Body["emailed"] != false || inv.Str("email_error") == "" || inv.Str("invitation_url") == "" {
			t.Fatalf("failed mail: %s", inv.Raw)
		}
		if code, path, _ := followLink(t, inv.Str("invitation_url")); code != 200 || path != "/admin/" {
			t.Fatalf("following an unmailed invitation: %d %s", code, path)
		}

		// Without SMTP settings the link is returned, and nothing is mailed.
		plain := newInviteSite(t, b, nil)
		inv = apitest.Call(t, plain.srv.URL, "POST", "/api/v1/invitations", map[string]any{"email": "dee@acme.test"}, apitest.WithToken(plain.token)).Want(t, 201)
		if inv.Body["emailed"] != false || inv.Str("email_error") != "" || !strings.HasPrefix(inv.Str("invitation_url"), plain.srv.URL+"/sso/link?token=") {
			t.Fatalf("invitation without SMTP: %s", inv.Raw)
		}
	})
}

// TestInvitationPagesInBrowser: an org admin with no SSO connection signs in with
// a break-glass link, invites a person on the Invite page (a refused email keeps
// what was typed and says why next to the field), copies the link shown once,
// and the invited person follows it into the pages. Screenshots invite-*.png.
func TestInvitationPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newInviteSite(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite}, nil)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must

	run("open break-glass link", chromedp.Navigate(s.breakGlass(t)), chromedp.WaitVisible(chromedp.CSS(`#continue`)))
	shot("invite-00-break-glass")
	run("sign in", chromedp.Click(chromedp.CSS(`#continue`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	must(text("header .who"), "admin@acme.test", "signed in with the break-glass link")
	run("users", chromedp.Navigate(s.srv.URL+"/admin/users"), chromedp.WaitVisible(chromedp.CSS(`#invite-link`)))
	run("invite page", chromedp.Click(chromedp.CSS(`#invite-link`)), chromedp.WaitVisible(chromedp.CSS(`#invite`)))
	must(text("#invite"), "shown here for you to pass on", "no SMTP")
	shot("invite-01-form")
	run("bad email", chromedp.SendKeys(chromedp.CSS(`#invite input[name=email]`), "bob@"),
		chromedp.SendKeys(chromedp.CSS(`#invite input[name=display_name]`), "Bob Smith"),
		// The browser's own email check would stop the form: the server's is tested.
		chromedp.SetAttributeValue(chromedp.CSS(`#invite input[name=email]`), "type", "text"),
		chromedp.Click(chromedp.CSS(`#invite button`)))
	waitText("#invite .field-error", "not a valid email address")
	if kept := value(b, `#invite input[name=display_name]`); kept != "Bob Smith" {
		t.Fatalf("the refused form kept %q", kept)
	}
	shot("invite-02-refused")
	run("invite", chromedp.SetValue(chromedp.CSS(`#invite input[name=email]`), "bob@acme.test"),
		chromedp.Click(chromedp.CSS(`#invite button`)))
	waitText("#invitation", "shown once")
	link := strings.TrimSpace(text("#invitation code"))
	if !strings.HasPrefix(link, s.srv.URL+"/sso/link?token=") {
		t.Fatalf("link shown: %q", link)
	}
	shot("invite-03-link")
	// The invited person follows it (here in the same browser: the session changes to theirs).
	run("follow invitation", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#continue`)))
	run("accept", chromedp.Click(chromedp.CSS(`#continue`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	must(text("header .who"), "bob@acme.test", "signed in as the invited person")
	shot("invite-04-signed-in")
}

// TestInvitationFormRefusals: the Invite form refuses people who are not org
// admins (a member, another workspace's Admin, a workspace Admin), a missing CSRF
// token and cross-site posts, and bad input with the message next to the field
// and what was typed kept; none of them creates a user. SQLite and PostgreSQL.
func TestInvitationFormRefusals(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, b))
		state := g.apiState(t, "/api/v1/users?limit=1000")
		g.refused(t, "/admin/invitations", url.Values{"email": {"zed@acme.test"}, "display_name": {"Zed"}}, state, g.ann, g.bob, g.carol)
		for _, p := range []*person{g.ann, g.carol} {
			if st, _ := p.get("/admin/invitations"); st != http.StatusForbidden {
				t.Errorf("%s GET /admin/invitations: %d, want 403", p.email, st)
			}
		}
		g.badInput(t, g.admin, "/admin/invitations", url.Values{"display_name": {"Typed Name"}}, 422, "Give the email address", "Typed Name", state)
		g.badInput(t, g.admin, "/admin/invitations", url.Values{"email": {"zed@"}, "display_name": {"Typed Name"}}, 422, "not a valid email address", "Typed Name", state)
		g.badInput(t, g.admin, "/admin/invitations", url.Values{"email": {"ann@acme.test"}, "display_name": {"Typed Name"}}, 409, "already exists", "Typed Name", state)
		// And the admin's invitation goes through, with the link shown once.
		st, body, _ := g.admin.post("/admin/invitations", url.Values{"email": {"zed@acme.test"}}, false, nil)
		if st != http.StatusCreated || !strings.Contains(body, "/sso/link?token=") {
			t.Fatalf("invite: %d %.500s", st, body)
		}
	})
}
