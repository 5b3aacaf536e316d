package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// bearerStatus is the status of GET base+path with the API token secret.
func bearerStatus(t *testing.T, base, path, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestAPITokenPagesInBrowser drives the API token pages in headless Chromium: an
// org admin reaches them from the nav, creates a token whose secret is shown once
// with the API base URL and the Authorization header, and the secret answers
// GET /api/v1/users; reloading does not show it again; an empty name is refused
// next to the field; revoking asks first, saying what stops, and the API refuses
// the token from the next request on.
func TestAPITokenPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL

	run("sign in", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	run("nav", chromedp.Click(chromedp.CSS(`nav a[href="/admin/tokens"]`)), chromedp.WaitVisible(chromedp.CSS(`#create-token`)))
	usage := text("#usage")
	must(usage, base+"/api/v1", "API base URL")
	must(usage, "Authorization: Bearer", "how to send it")
	shot("tokens-01-list")

	run("create", chromedp.SendKeys(chromedp.CSS(`#create-token input[name=name]`), "deploy script"),
		chromedp.Click(chromedp.CSS(`#create-token button`)))
	waitText("#new-token", "shown once")
	secret := strings.TrimSpace(text("#new-token code"))
	must(text("#tokens"), "deploy script", "token list")
	shot("tokens-02-created")
	if code := bearerStatus(t, base, "/api/v1/users", secret); code != 200 {
		t.Fatalf("the new token's GET /api/v1/users: %d, want 200", code)
	}
	run("reload", chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.CSS(`#tokens`)))
	if strings.Contains(text("main"), secret) {
		t.Fatal("the secret is shown again")
	}
	// Chromium's own required-field check would stop an empty name: send spaces.
	run("create empty", chromedp.SendKeys(chromedp.CSS(`#create-token input[name=name]`), "   "),
		chromedp.Click(chromedp.CSS(`#create-token button`)))
	waitText("#create-token .field-error", "needs a name")
	shot("tokens-03-refused")

	run("revoke", chromedp.Navigate(base+"/admin/tokens"), chromedp.WaitVisible(chromedp.CSS(`#tokens`)))
	// The newest token is the last row (the world's own API token comes first).
	run("open revoke", chromedp.Click(chromedp.CSS(`#tokens tr:last-child a.danger`)), chromedp.WaitVisible(chromedp.CSS(`#revoke-preview`)))
	preview := text("#revoke-preview")
	must(preview, "deploy script", "which token")
	must(preview, "401", "what revoking stops")
	shot("tokens-04-revoke-confirm")
	if code := bearerStatus(t, base, "/api/v1/users", secret); code != 200 {
		t.Fatalf("the confirmation page alone changed the token: %d", code)
	}
	run("confirm", chromedp.Click(chromedp.CSS(`#confirm-revoke button`)))
	waitText("main .flash", "revoked")
	must(text("#tokens"), "revoked", "token status")
	shot("tokens-05-revoked")
	if code := bearerStatus(t, base, "/api/v1/users", secret); code != 401 {
		t.Errorf("the revoked token's GET /api/v1/users: %d, want 401", code)
	}
}

// TestAPITokenPagesAreGuarded: the API token pages and forms refuse non-admins,
// forms without the CSRF token and cross-site posts; a missing or too long name
// answers with the message next to the field, keeps what was typed and changes
// nothing; a SCIM token is not revoked through these pages. Both backends.
func TestAPITokenPagesAreGuarded(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		s := newSiteOn(t, be)
		base := s.srv.URL
		ctx := context.Background()
		sys := core.Actor{Kind: core.ActorSystem}
		tok, secret, err := s.St.CreateToken(ctx, sys, s.Org.ID, store.TokenAPI, "ci", "")
		if err != nil {
			t.Fatal(err)
		}
		dir, err := s.St.CreateDirectory(ctx, sys, s.Org.ID, "Okta")
		if err != nil {
			t.Fatal(err)
		}
		scimTok, _, err := s.St.CreateToken(ctx, sys, s.Org.ID, store.TokenSCIM, "okta token", dir.ID)
		if err != nil {
			t.Fatal(err)
		}
		admin, csrf := formClient(t, s, "admin@acme.test")
		post := func(c *http.Client, path string, form url.Values, hdr ...string) (int, string) {
			t.Helper()
			return postForm(t, c, base+path, form, hdr...)
		}
		state := func() string {
			ts, _ := s.St.ListTokens(ctx, s.Org.ID)
			var b strings.Builder
			for _, t := range ts {
				b.WriteString(t.ID + " " + t.Name)
				if t.RevokedAt != nil {
					b.WriteString(" revoked")
				}
				b.WriteString(";")
			}
			return b.String()
		}
		before, audits := state(), auditCount(t, s)
		unchanged := func(what string) {
			t.Helper()
			if state() != before || auditCount(t, s) != audits {
				t.Fatalf("%s changed tokens or wrote to the audit log", what)
			}
		}
		revoke := "/admin/tokens/" + tok.ID + "/revoke"
		for _, c := range []struct {
			name, path string
			form       url.Values
			hdr        []string
		}{
			{"create without CSRF", "/admin/tokens", url.Values{"name": {"x"}}, nil},
			{"revoke without CSRF", revoke, url.Values{}, nil},
			{"revoke with a wrong CSRF", revoke, url.Values{"csrf": {"wrong" + csrf[5:]}}, nil},
			{"cross-site create", "/admin/tokens", withCSRF(url.Values{"name": {"x"}}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
			{"cross-site revoke", revoke, withCSRF(url.Values{}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
			{"cross-origin create", "/admin/tokens", withCSRF(url.Values{"name": {"x"}}, csrf), []string{"Origin", "https://evil.example"}},
		} {
			if code, _ := post(admin, c.path, c.form, c.hdr...); code != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", c.name, code)
			}
			unchanged(c.name)
		}
		long := strings.Repeat("n", 201)
		for _, c := range []struct {
			name, typed string
			status      int
			want        string
		}{
			{"no name", "   ", 422, "needs a name"},
			{"name too long", long, 422, "longer than 200 characters"},
		} {
			code, body := post(admin, "/admin/tokens", withCSRF(url.Values{"name": {c.typed}}, csrf))
			if code != c.status || !strings.Contains(body, c.want) || !strings.Contains(body, "field-error") || !strings.Contains(body, `value="`+c.typed+`"`) {
				t.Errorf("%s: %d, want %d with %q next to the field and the name kept", c.name, code, c.status, c.want)
			}
			unchanged(c.name)
		}
		// A SCIM token is not an API token: not found here, and not revoked.
		scimRevoke := "/admin/tokens/" + scimTok.ID + "/revoke"
		if code, _ := post(admin, scimRevoke, withCSRF(url.Values{}, csrf)); code != 404 {
			t.Errorf("revoke a SCIM token here: %d, want 404", code)
		}
		unchanged("revoke a SCIM token here")
		for path, want := range map[string]int{"/admin/tokens": 200, revoke: 200, scimRevoke: 404, "/admin/tokens/nope/revoke": 404} {
			res, err := admin.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
			}
			if strings.Contains(string(body), secret) {
				t.Errorf("GET %s shows a token's secret", path)
			}
		}

		ann, annCSRF := formClient(t, s, "ann@acme.test")
		audits = auditCount(t, s) // her sign-in is audited
		for _, path := range []string{"/admin/tokens", revoke} {
			res, err := ann.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("ann GET %s: %d, want 403", path, res.StatusCode)
			}
		}
		for _, path := range []string{"/admin/tokens", revoke} {
			if code, _ := post(ann, path, withCSRF(url.Values{"name": {"ann's"}}, annCSRF)); code != http.StatusForbidden {
				t.Errorf("ann POST %s: %d, want 403", path, code)
			}
		}
		unchanged("ann")

		// The admin's confirmed revocation goes through, and the API refuses the token at once.
		if code := bearerStatus(t, base, "/api/v1/users", secret); code != 200 {
			t.Fatalf("the token before revocation: %d", code)
		}
		if code, _ := post(admin, revoke, withCSRF(url.Values{}, csrf)); code != http.StatusSeeOther {
			t.Fatalf("revoke: %d", code)
		}
		if code := bearerStatus(t, base, "/api/v1/users", secret); code != 401 {
			t.Errorf("the revoked token: %d, want 401", code)
		}
		// The admin's create goes through with 201 and shows the secret once.
		code, body := post(admin, "/admin/tokens", withCSRF(url.Values{"name": {"deploy"}}, csrf))
		if code != http.StatusCreated || !strings.Contains(body, `id="new-token"`) {
			t.Errorf("create: %d", code)
		}
	})
}
