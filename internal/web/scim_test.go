package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestSCIMPagesInBrowser drives the SCIM pages in headless Chromium: an org
// admin creates a directory with its first token (shown once, and it opens
// SCIM), is refused a second directory of the same name with the message next
// to the field and the name kept, opens the directory (what to paste into Okta
// and Entra), sets its email domains (a bad one refused next to the field with
// what was typed kept), rotates in a second token, and revokes the first after a
// confirmation that says what it stops; the revoked token no longer opens SCIM.
func TestSCIMPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	ctx := context.Background()

	run("sign in", chromedp.Navigate(base+"/admin/scim"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#create-directory`)))
	shot("scim-01-list")
	run("create", chromedp.SendKeys(chromedp.CSS(`#create-directory input[name=name]`), "Entra"),
		chromedp.Click(chromedp.CSS(`#create-directory button`)))
	waitText("#new-token", "shown once")
	first := strings.TrimSpace(text("#new-token code"))
	if _, err := s.St.Authenticate(ctx, first); err != nil {
		t.Fatalf("the first token does not open SCIM: %v", err)
	}
	must(text("#directories"), "Entra", "directory list")
	shot("scim-02-created")

	run("create again", chromedp.SendKeys(chromedp.CSS(`#create-directory input[name=name]`), "Entra"),
		chromedp.Click(chromedp.CSS(`#create-directory button`)))
	waitText("#create-directory .field-error", "already exists")
	if v := b.value(`#create-directory input[name=name]`); v != "Entra" {
		t.Errorf("the refused form lost the name: %q", v)
	}
	if strings.Contains(text("main"), first) {
		t.Fatal("the first token is shown again")
	}
	shot("scim-03-refused")

	d, err := s.St.GetDirectory(ctx, s.Org.ID, "Entra")
	if err != nil {
		t.Fatal(err)
	}
	run("directory", chromedp.Navigate(base+"/admin/scim/"+d.ID), chromedp.WaitVisible(chromedp.CSS(`#paste`)))
	paste := text("#paste")
	must(paste, base+"/scim/v2", "Okta base URL")
	must(paste, base+"/scim/v2?aadOptscim062020", "Entra tenant URL")
	must(paste, "userName", "Okta unique identifier")
	shot("scim-04-directory")
	run("bad domains", chromedp.SetValue(chromedp.CSS(`#domains input[name=domains]`), "entra.example, not a domain"),
		chromedp.Click(chromedp.CSS(`#domains button`)))
	waitText("#domains .field-error", "is not an email domain")
	if v := b.value(`#domains input[name=domains]`); v != "entra.example, not a domain" {
		t.Errorf("the refused form lost the domains: %q", v)
	}
	if got, _ := s.St.GetDirectory(ctx, s.Org.ID, d.ID); len(got.Domains) != 0 {
		t.Errorf("a refused form changed the domains: %v", got.Domains)
	}
	shot("scim-04b-domains-refused")
	run("domains", chromedp.SetValue(chromedp.CSS(`#domains input[name=domains]`), "Entra.Example, eu.entra.example"),
		chromedp.Click(chromedp.CSS(`#domains button`)))
	waitText("main .flash", "are now entra.example, eu.entra.example")
	if v := b.value(`#domains input[name=domains]`); v != "entra.example, eu.entra.example" {
		t.Errorf("the saved domains shown: %q", v)
	}
	if got, _ := s.St.GetDirectory(ctx, s.Org.ID, d.ID); strings.Join(got.Domains, ",") != "entra.example,eu.entra.example" {
		t.Errorf("stored domains: %v", got.Domains)
	}
	shot("scim-04c-domains")
	run("rotate", chromedp.Click(chromedp.CSS(`#rotate button`)))
	waitText("#new-token", "shown once")
	second := strings.TrimSpace(text("#new-token code"))
	if second == first {
		t.Fatal("rotation showed the old token")
	}
	run("directory again", chromedp.Navigate(base+"/admin/scim/"+d.ID), chromedp.WaitVisible(chromedp.CSS(`table.tokens`)))
	run("revoke first", chromedp.Click(chromedp.CSS(`table.tokens a.danger`)), chromedp.WaitVisible(chromedp.CSS(`#revoke-preview`)))
	preview := text("#revoke-preview")
	must(preview, "401", "what revoking stops")
	must(preview, "1 other live token", "what is left")
	shot("scim-05-revoke-confirm")
	run("confirm", chromedp.Click(chromedp.CSS(`#confirm-revoke button`)))
	waitText("main .flash", "revoked")
	must(text("table.tokens"), "revoked", "token status")
	shot("scim-06-revoked")
	if _, err := s.St.Authenticate(ctx, first); err == nil {
		t.Error("the revoked token still opens SCIM")
	}
	if _, err := s.St.Authenticate(ctx, second); err != nil {
		t.Errorf("the rotated-in token does not open SCIM: %v", err)
	}
}

// TestSCIMPagesAreGuarded: the SCIM pages and forms refuse non-admins, forms
// without the CSRF token and cross-site posts; a missing or taken name answers
// with the message next to the field and changes nothing; a token of another
// directory is not found through this one.
func TestSCIMPagesAreGuarded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	base := s.srv.URL
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem}
	mine, err := s.St.CreateDirectory(ctx, sys, s.Org.ID, "Mine")
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.St.CreateToken(ctx, sys, s.Org.ID, store.TokenSCIM, "mine token", mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.St.CreateDirectory(ctx, sys, s.Org.ID, "Other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.St.SetDirectoryDomains(ctx, sys, s.Org.ID, other.ID, []string{"taken.example"}); err != nil {
		t.Fatal(err)
	}
	admin, csrf := formClient(t, s, "admin@acme.test")
	post := func(c *http.Client, path string, form url.Values, hdr ...string) (int, string) {
		t.Helper()
		return postForm(t, c, base+path, form, hdr...)
	}
	state := func() string {
		ds, _ := s.St.ListDirectories(ctx, s.Org.ID)
		ts, _ := s.St.ListTokens(ctx, s.Org.ID)
		var b strings.Builder
		for _, d := range ds {
			b.WriteString(d.ID + " " + d.Name + " " + strings.Join(d.Domains, ",") + ";")
		}
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
			t.Fatalf("%s changed directories or tokens, or wrote to the audit log", what)
		}
	}
	revoke := "/admin/scim/" + mine.ID + "/tokens/" + tok.ID + "/revoke"
	for _, c := range []struct {
		name, path string
		form       url.Values
		hdr        []string
	}{
		{"create without CSRF", "/admin/scim", url.Values{"name": {"x"}}, nil},
		{"rotate without CSRF", "/admin/scim/" + mine.ID + "/tokens", url.Values{}, nil},
		{"domains without CSRF", "/admin/scim/" + mine.ID + "/domains", url.Values{"domains": {"x.example"}}, nil},
		{"cross-site domains", "/admin/scim/" + mine.ID + "/domains", withCSRF(url.Values{"domains": {"x.example"}}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"revoke with a wrong CSRF", revoke, url.Values{"csrf": {"wrong" + csrf[5:]}}, nil},
		{"cross-site create", "/admin/scim", withCSRF(url.Values{"name": {"x"}}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-site revoke", revoke, withCSRF(url.Values{}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-origin rotate", "/admin/scim/" + mine.ID + "/tokens", withCSRF(url.Values{}, csrf), []string{"Origin", "https://evil.example"}},
	} {
		if code, _ := post(admin, c.path, c.form, c.hdr...); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, code)
		}
		unchanged(c.name)
	}
	for _, c := range []struct {
		name, typed string
		status      int
		want        string
	}{
		{"no name", "   ", 422, "needs a name"},
		{"name taken", "Mine", 409, "already exists"},
	} {
		code, body := post(admin, "/admin/scim", withCSRF(url.Values{"name": {c.typed}}, csrf))
		if code != c.status || !strings.Contains(body, c.want) || !strings.Contains(body, "field-error") || !strings.Contains(body, `value="`+c.typed+`"`) {
			t.Errorf("%s: %d, want %d with %q next to the field and the name kept", c.name, code, c.status, c.want)
		}
		unchanged(c.name)
	}
	// Email domains: a bad one or one another directory uses is shown next to the
	// field with what was typed, and nothing changes.
	for _, c := range []struct {
		name, typed string
		status      int
		want        string
	}{
		{"bad domain", "ok.example, bad_domain", 422, "is not an email domain"},
		{"domain taken", "mine.example, taken.example", 409, "taken.example is already used by another SCIM directory"},
	} {
		code, body := post(admin, "/admin/scim/"+mine.ID+"/domains", withCSRF(url.Values{"domains": {c.typed}}, csrf))
		if code != c.status || !strings.Contains(body, c.want) || !strings.Contains(body, "field-error") || !strings.Contains(body, `value="`+c.typed+`"`) {
			t.Errorf("%s: %d, want %d with %q next to the field and the domains kept:\n%s", c.name, code, c.status, c.want, body)
		}
		unchanged(c.name)
	}
	if code, _ := post(admin, "/admin/scim/nope/domains", withCSRF(url.Values{"domains": {"x.example"}}, csrf)); code != 404 {
		t.Errorf("domains of an unknown directory: %d", code)
	}
	unchanged("domains of an unknown directory")
	// A token is revoked through its own directory only.
	if code, _ := post(admin, "/admin/scim/"+other.ID+"/tokens/"+tok.ID+"/revoke", withCSRF(url.Values{}, csrf)); code != 404 {
		t.Errorf("revoke through another directory: %d", code)
	}
	unchanged("revoke through another directory")
	for path, want := range map[string]int{"/admin/scim/nope": 404, "/admin/scim/" + other.ID + "/tokens/" + tok.ID + "/revoke": 404,
		"/admin/scim/" + mine.ID + "/tokens/nope/revoke": 404, "/admin/scim/" + mine.ID: 200, revoke: 200} {
		res, err := admin.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}

	ann, annCSRF := formClient(t, s, "ann@acme.test")
	audits = auditCount(t, s) // her sign-in is audited
	for _, path := range []string{"/admin/scim", "/admin/scim/" + mine.ID, revoke} {
		res, err := ann.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("ann GET %s: %d, want 403", path, res.StatusCode)
		}
	}
	for _, path := range []string{"/admin/scim", "/admin/scim/" + mine.ID + "/tokens", "/admin/scim/" + mine.ID + "/domains", revoke} {
		if code, _ := post(ann, path, withCSRF(url.Values{"name": {"ann's"}, "domains": {"ann.example"}}, annCSRF)); code != http.StatusForbidden {
			t.Errorf("ann POST %s: %d, want 403", path, code)
		}
	}
	unchanged("ann")

	// The admin's domains go through, normalized and audited.
	if code, body := post(admin, "/admin/scim/"+mine.ID+"/domains", withCSRF(url.Values{"domains": {"Mine.Example  eu.mine.example"}}, csrf)); code != 200 || !strings.Contains(body, "are now eu.mine.example, mine.example") {
		t.Fatalf("domains: %d\n%s", code, body)
	}
	if d, _ := s.St.GetDirectory(ctx, s.Org.ID, mine.ID); strings.Join(d.Domains, ",") != "eu.mine.example,mine.example" {
		t.Fatalf("domains stored: %v", d.Domains)
	}
	// The admin's confirmed revocation goes through.
	if code, _ := post(admin, revoke, withCSRF(url.Values{}, csrf)); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	if _, err := s.St.Authenticate(ctx, "x"); err == nil {
		t.Fatal("nonsense authenticates")
	}
	ts, _ := s.St.ListTokens(ctx, s.Org.ID)
	for _, x := range ts {
		if x.ID == tok.ID && x.RevokedAt == nil {
			t.Error("the token was not revoked")
		}
	}
}
