package web_test

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// firstRun is a server on a database without any organization, as serve starts
// it: the pages, with the sso package's sessions.
type firstRun struct {
	st  *store.SQL
	srv *httptest.Server
}

func newFirstRun(t *testing.T, b storetest.Backend) *firstRun {
	t.Helper()
	st := b.New(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := sso.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	sh := &sso.Handler{Store: st, Logger: apitest.Logger(t), ExternalURL: base, Box: box}
	sh.Mount(mux)
	(&web.Handler{Store: st, Logger: apitest.Logger(t), Sessions: sh, SignIn: sh, ExternalURL: srv.URL}).Mount(mux)
	return &firstRun{st: st, srv: srv}
}

// link issues a setup link at `at` (its clock), as serve does at start.
func (f *firstRun) link(t *testing.T, at time.Time) string {
	t.Helper()
	secret, hash := sso.NewLinkToken()
	o := &ops.Ops{Store: f.st, Now: func() time.Time { return at }}
	issued, _, err := o.IssueSetupLink(context.Background(), hash)
	if err != nil || !issued {
		t.Fatalf("issue setup link: %v, %v", issued, err)
	}
	return f.srv.URL + "/setup?token=" + url.QueryEscape(secret)
}

// TestFirstRunInBrowser: the setup link serve logs opens a form in headless
// Chromium; a refused input comes back with what was typed and the message next
// to the field, and nothing is created; then the organization and its admin are
// created, that person is signed in (a real session) and lands on the next
// steps, with what to paste where. Each page is screenshot.
func TestFirstRunInBrowser(t *testing.T) {
	b := newBrowser(t)
	f := newFirstRun(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	link := f.link(t, time.Now())

	run("open setup link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#setup`)))
	shot("setup-00-form")
	run("fill with a bad slug", chromedp.SendKeys(chromedp.CSS(`#setup input[name=name]`), "Acme Inc"),
		chromedp.SendKeys(chromedp.CSS(`#setup input[name=slug]`), "Acme Inc"),
		chromedp.SendKeys(chromedp.CSS(`#setup input[name=admin_name]`), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS(`#setup input[name=admin_email]`), "ada@acme.example"),
		chromedp.Click(chromedp.CSS(`#setup button`)))
	waitText("#setup", "slug")
	must(text(`#setup label:nth-of-type(2) .field-error`), "is not valid", "message next to the slug")
	if kept := value(b, `#setup input[name=admin_email]`); kept != "ada@acme.example" {
		t.Fatalf("the refused form kept %q", kept)
	}
	if orgs, _ := f.st.ListOrgs(context.Background()); len(orgs) != 0 {
		t.Fatalf("a refused setup created %d organizations", len(orgs))
	}
	shot("setup-01-refused")
	run("fix the slug", chromedp.SetValue(chromedp.CSS(`#setup input[name=slug]`), "acme"),
		chromedp.Click(chromedp.CSS(`#setup button`)))
	waitText("main h1", "Next steps")
	must(text("header .who"), "ada@acme.example", "signed in as the new admin")
	must(text("#step-scim"), f.srv.URL+"/scim/v2?aadOptscim062020", "Entra tenant URL")
	must(text("#step-sso"), f.srv.URL+"/sso/saml/CONNECTION-ID/acs", "SAML ACS")
	must(text("#step-sso"), "gatehouse login-link --org acme --email ada@acme.example", "break-glass reminder")
	must(text("#step-workspace"), "Workspaces page", "workspace step")
	shot("setup-02-next-steps")
	// A real session: the other pages open too.
	run("overview", chromedp.Navigate(f.srv.URL+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	must(text("header .who"), "Acme Inc", "overview header")

	ctx := context.Background()
	org, err := f.st.GetOrg(ctx, "acme")
	if err != nil || org.Name != "Acme Inc" {
		t.Fatalf("org = %+v, %v", org, err)
	}
	admin, err := f.st.GetUserByEmail(ctx, org.ID, "ada@acme.example")
	if err != nil || admin.DisplayName != "Ada Lovelace" {
		t.Fatalf("admin = %+v, %v", admin, err)
	}
	if ok, _ := f.st.IsOrgAdmin(ctx, org.ID, admin.ID); !ok {
		t.Fatal("the person who set up is not an org admin")
	}
	if es, _ := f.st.ListAudit(ctx, org.ID, store.AuditQuery{Action: "signin.setup"}); len(es) != 1 || es[0].TargetID != admin.ID {
		t.Fatalf("setup sign-in audit = %+v", es)
	}
	// The link is used up.
	run("open the link again", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#closed`)))
	must(text("#closed"), "expired or was already used", "used link")
	shot("setup-03-used")
}

// TestFirstRunRefusals: a used, expired or unknown link, bad input and a
// cross-site POST are refused, and create nothing; on both backends.
func TestFirstRunRefusals(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		f := newFirstRun(t, b)
		ctx := context.Background()
		post := func(link string, form url.Values, hdr ...string) (int, string) {
			t.Helper()
			u, _ := url.Parse(link)
			form.Set("token", u.Query().Get("token"))
			req, _ := http.NewRequest("POST", f.srv.URL+"/setup", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
		good := func() url.Values {
			return url.Values{"name": {"Acme"}, "slug": {"acme"}, "admin_name": {"Ada"}, "admin_email": {"ada@acme.example"}}
		}
		nothing := func(what string) {
			t.Helper()
			if orgs, _ := f.st.ListOrgs(ctx); len(orgs) != 0 {
				t.Fatalf("%s created an organization", what)
			}
		}
		link := f.link(t, time.Now())
		for _, tc := range []struct {
			name, field, value, want string
		}{
			{"no name", "name", "", "Give the organization a name"},
			{"bad slug", "slug", "-x-", "is not valid"},
			{"bad email", "admin_email", "not an email", "not a valid email address"},
			{"long admin name", "admin_name", strings.Repeat("a", 201), "longer than 200"},
		} {
			form := good()
			form.Set(tc.field, tc.value)
			code, body := post(link, form)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) || !strings.Contains(body, `class="field-error"`) {
				t.Fatalf("%s: %d %.1500s", tc.name, code, body)
			}
			// What was typed is kept.
			if tc.field != "admin_email" && !strings.Contains(body, `value="ada@acme.example"`) {
				t.Errorf("%s: the email typed is not kept", tc.name)
			}
			nothing(tc.name)
		}
		// A cross-site POST is refused before anything runs.
		if code, _ := post(link, good(), "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
			t.Fatalf("cross-site POST: %d", code)
		}
		nothing("a cross-site POST")
		// An unknown link.
		if code, body := post(f.srv.URL+"/setup?token=forged", good()); code != http.StatusGone || !strings.Contains(body, "expired or was already used") {
			t.Fatalf("forged link: %d %.300s", code, body)
		}
		nothing("a forged link")
		// An expired one (issued 25 hours ago), on GET and on POST.
		old := f.link(t, time.Now().Add(-25*time.Hour))
		if resp, err := http.Get(old); err != nil || resp.StatusCode != http.StatusGone {
			t.Fatalf("GET expired link: %v %v", resp, err)
		}
		if code, _ := post(old, good()); code != http.StatusGone {
			t.Fatalf("expired link: %d", code)
		}
		nothing("an expired link")
		// The good one, once.
		if code, _ := post(link, good()); code != http.StatusSeeOther {
			t.Fatalf("setup: %d", code)
		}
		form := good()
		form.Set("slug", "acme2")
		if code, body := post(link, form); code != http.StatusGone || !strings.Contains(body, "expired or was already used") {
			t.Fatalf("used link: %d %.300s", code, body)
		}
		if orgs, _ := f.st.ListOrgs(ctx); len(orgs) != 1 {
			t.Fatalf("%d organizations, want the one set up", len(orgs))
		}
		// With an organization, serve issues no setup link.
		if issued, _, err := ops.New(f.st).IssueSetupLink(ctx, "h"); issued || err != nil {
			t.Fatalf("a setup link was issued with an organization: %v %v", issued, err)
		}
	})
}
