package web_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/domains"
	"github.com/gatehouse-dev/gatehouse/internal/domains/domainstest"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/sso"
	"github.com/gatehouse-dev/gatehouse/sso/ssotest"
)

// site is the whole server a browser meets: the admin pages, the API and the sso
// package's real login (with its test connector standing in for the IdP), wired as
// the stack wires them.
type site struct {
	*apitest.World
	srv   *httptest.Server
	login *ssotest.Connector
	dns   *domainstest.Server // where domain verification looks records up
}

func newSite(t *testing.T) *site {
	return newSiteOn(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
}

// newSiteOn is newSite on the store backend b.
func newSiteOn(t *testing.T, b storetest.Backend) *site {
	return newSiteWith(t, b, sso.Network{AllowLoopback: true})
}

// newSiteWith is newSiteOn whose SSO setup fetches IdPs under that network
// policy (newSiteOn's allows loopback test IdPs: --sso-allow-loopback).
func newSiteWith(t *testing.T, b storetest.Backend, network sso.Network) *site {
	w := apitest.NewWorld(t, b)
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem}
	if _, err := w.St.CreateSSOConnection(ctx, sys, ssotest.Connection(w.Org.ID, "Okta OIDC", "acme.test")); err != nil {
		t.Fatal(err)
	}
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
	login := ssotest.New(sso.Identity{Subject: "admin-1", Email: "admin@acme.test", EmailVerified: true})
	sh := &sso.Handler{Store: w.St, Logger: apitest.Logger(t), ExternalURL: base, Box: box, Connectors: ssotest.Connectors(login)}
	sh.Mount(mux)
	gr, err := w.St.NewGenerationReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gr.Close() })
	engine := decisions.New(w.St, gr)
	setup := stack.SSOSetup{Store: w.St, ExternalURL: base}
	// One set of operations, as the stack builds it; webhooks may reach loopback
	// receivers over http (serve's --webhook-allow-http-loopback).
	operations := &ops.Ops{Store: w.St, Secrets: storetest.Box(t), SSOSecrets: storetest.Box(t), WebhookPolicy: webhooks.Policy{AllowHTTPLoopback: true},
		SSONetwork: network,
		LinkURL:    func(secret string) string { return sso.SignInLinkURL(base, secret) }}
	dns := domainstest.Start(t)
	operations.DNS = &domains.Checker{Resolver: domains.NewResolver(dns.Addr), Timeout: 5 * time.Second}
	(&api.Handler{Store: w.St, Decisions: engine, Ops: operations, Logger: apitest.Logger(t), Sessions: sh, SSO: setup}).Mount(mux)
	(&web.Handler{Store: w.St, Decisions: engine, Ops: operations, Logger: apitest.Logger(t), Sessions: sh, SSO: setup, ExternalURL: srv.URL}).Mount(mux)
	return &site{World: w, srv: srv, login: login, dns: dns}
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// artifactDir is artifacts/screenshots at the module root (gitignored).
func artifactDir(t *testing.T) string {
	dir, _ := os.Getwd()
	for ; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
	}
	out := filepath.Join(dir, "artifacts", "screenshots")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAdminPagesInBrowser drives the admin pages in a real headless Chromium: it
// signs in through the SSO login, reads the mappings table, changes a mapping
// through the form and watches POST /api/v1/check answer with the new reason,
// asks the user page why, creates a SCIM directory (token shown once), and keeps a
// screenshot of every page under artifacts/screenshots.
func TestAdminPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL

	// Sign in: the admin pages send an anonymous browser to the SSO login.
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	shot("00-login")
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	must(text("header .who"), "admin@acme.test", "signed-in header")
	must(text("main"), "marketing", "overview")
	shot("01-overview")

	// The mappings page: IdP group → user group → workspace / environment → role.
	run("mappings", chromedp.Navigate(base+"/admin/mappings"), chromedp.WaitVisible(chromedp.CSS(`#mappings`)))
	row := text("#mappings")
	for _, want := range []string{"Data Eng", "SCIM okta", "engineers", "marketing", "(development)", "editor"} {
		must(row, want, "mappings table")
	}
	shot("02-mappings")
	check := func() apitest.Resp {
		return s.API("POST", "/api/v1/check", map[string]any{"user": "ann@acme.test", "workspace": "marketing", "action": "edit",
			"resource": map[string]any{"type": "model", "id": "m-1"}}).Want(t, 200)
	}
	if d := check(); d.Str("decision") != "allow" || !strings.Contains(string(d.Raw), s.Mapping) {
		t.Fatalf("before the change: %s", d.Raw)
	}

	// Change the mapping through the forms: remove it, and map the IdP group again by
	// its external id. The check's answer follows, with the new reason.
	// Every access change shows its preview first: who loses which role.
	run("remove mapping", chromedp.Click(chromedp.CSS(`#mappings form button`)))
	waitText("#preview", "lost")
	must(text("#preview table.roles"), "ann@acme.test", "preview of the removal")
	run("confirm removal", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "removed")
	if d := check(); d.Str("decision") != "deny" || d.Str("reason") != core.ReasonNoGrant {
		t.Fatalf("after removing the mapping in the browser: %s", d.Raw)
	}
	run("add mapping", chromedp.SendKeys(chromedp.CSS(`input[name=idp_group]`), "00g1"),
		chromedp.SetValue(chromedp.CSS(`form.row select[name=group]`), mustGroupID(t, s)),
		chromedp.Click(chromedp.CSS(`form.row button[type=submit]`)))
	waitText("#preview", "gained")
	run("confirm mapping", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "added")
	must(text("#mappings"), "00g1", "mappings after add")
	shot("03-mappings-changed")
	d := check()
	if d.Str("decision") != "allow" || strings.Contains(string(d.Raw), s.Mapping) || !strings.Contains(string(d.Raw), "00g1") {
		t.Fatalf("after adding the mapping in the browser: %s", d.Raw)
	}

	// The user page: her owner, effective access, and why an action is allowed or denied.
	s.API("POST", "/api/v1/users/"+s.Ann.ID+"/owner", map[string]any{"kind": "directory", "id": "okta"}).Want(t, 200)
	run("user", chromedp.Navigate(base+"/admin/users/"+s.Ann.ID), chromedp.WaitVisible(chromedp.CSS(`#access`)))
	must(text("#owner"), "owned by directory okta", "user page owner")
	must(text("#access"), "editor", "access matrix")
	run("why", chromedp.SetValue(chromedp.CSS(`#why select[name=action]`), "edit"),
		chromedp.SetValue(chromedp.CSS(`#why select[name=type]`), "source"),
		chromedp.SendKeys(chromedp.CSS(`#why input[name=resource]`), "s-1"),
		chromedp.Click(chromedp.CSS(`#why button`)))
	waitText("#answer", "deny")
	ans := text("#answer")
	must(ans, "deny", "why answer")
	must(ans, "Editor may not edit existing sources", "why answer")
	shot("04-user")

	run("users", chromedp.Navigate(base+"/admin/users?q=ann"), chromedp.WaitVisible(chromedp.CSS(`main table`)))
	must(text("main table"), "ann@acme.test", "users search")
	must(text("main table td.owner"), "directory okta", "users list owner")
	shot("05-users")
	run("groups", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(chromedp.CSS(`main table`)))
	shot("06-groups")
	run("group", chromedp.Click(chromedp.CSS(`main table a`)))
	waitText("main", "Mapped IdP groups")
	must(text("main"), "ann@acme.test", "group members")
	shot("07-group")

	// SCIM setup: the values to paste, and a new directory's token shown once.
	run("scim", chromedp.Navigate(base+"/admin/scim"), chromedp.WaitVisible(chromedp.CSS(`dl.setup`)))
	must(text("dl.setup"), base+"/scim/v2?aadOptscim062020", "Entra tenant URL")
	run("new directory", chromedp.SendKeys(chromedp.CSS(`input[name=name]`), "entra"),
		chromedp.Click(chromedp.CSS(`form.card button`)))
	waitText("#new-token", "shown once")
	secret := text("#new-token code")
	if _, err := s.St.Authenticate(context.Background(), strings.TrimSpace(secret)); err != nil {
		t.Fatalf("the token shown does not authenticate: %v", err)
	}
	shot("08-scim")
	run("scim again", chromedp.Navigate(base+"/admin/scim"), chromedp.WaitVisible(chromedp.CSS(`dl.setup`)))
	if strings.Contains(text("main"), strings.TrimSpace(secret)) {
		t.Fatal("the SCIM token is shown a second time")
	}
	run("sso", chromedp.Navigate(base+"/admin/sso"), chromedp.WaitVisible(chromedp.CSS(`main .card`)))
	must(text("main"), "/sso/oidc/", "SSO redirect URI")
	shot("09-sso")
	if r := apitest.Call(t, base, "GET", "/api/v1/sso/connections", nil, apitest.WithToken(s.Token)).Want(t, 200); len(r.Items()) != 1 || !strings.Contains(r.Items()[0]["redirect_uri"].(string), "/sso/oidc/") {
		t.Fatalf("SSO connections over the API: %s", r.Raw)
	}
	run("audit", chromedp.Navigate(base+"/admin/audit?action=mapping."), chromedp.WaitVisible(chromedp.CSS(`#audit`)))
	must(text("#audit"), "mapping.delete", "audit filter")
	shot("10-audit")

	// While a local admin remains, the overview shows no recovery; once every
	// active org admin is a directory's (which may deprovision the last one), it
	// says how an operator recovers the org.
	run("overview, local admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`main .grid`)))
	if strings.Contains(text("main"), "If your identity provider removes every org admin") {
		t.Error("recovery shown while a local admin remains")
	}
	s.API("POST", "/api/v1/users/"+s.Admin.ID+"/owner", map[string]any{"kind": "directory", "id": "okta"}).Want(t, 200)
	run("overview, directory admins", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`#recovery`)))
	must(text("#recovery"), "gatehouse org add-admin --org acme --email", "recovery card")
	shot("11-overview-recovery")
}

func mustGroupID(t *testing.T, s *site) string {
	g, err := s.St.GetGroup(context.Background(), s.Org.ID, "engineers")
	if err != nil {
		t.Fatal(err)
	}
	return g.ID
}

// TestAdminPagesAreGuarded: security headers, sign-in redirect, CSRF, cross-origin
// refusal, and that org-admin pages refuse other people.
func TestAdminPagesAreGuarded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	base := s.srv.URL
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := get("/admin/mappings", nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/sso/login?return_to=") {
		t.Fatalf("anonymous: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	for k, want := range map[string]string{"Content-Security-Policy": "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
		if !strings.Contains(res.Header.Get(k), want) {
			t.Errorf("%s = %q, want %q", k, res.Header.Get(k), want)
		}
	}
	// An API token does not open the pages.
	if res := get("/admin/mappings", map[string]string{"Authorization": "Bearer " + s.Token}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("bearer on a page: %d", res.StatusCode)
	}

	// The pages authenticate through the sso handler here, so people sign in for real.
	jar := signIn(t, s, "admin@acme.test")
	client := &http.Client{Jar: jar, CheckRedirect: noRedirect.CheckRedirect}
	post := func(path string, form url.Values, hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	pageRes, err := client.Get(base + "/admin/mappings")
	if err != nil || pageRes.StatusCode != 200 {
		t.Fatalf("signed-in mappings: %v %v", err, pageRes)
	}
	pageRes.Body.Close()
	var csrf string
	for _, c := range jar.Cookies(pageRes.Request.URL) {
		if c.Name == "gatehouse_csrf" {
			csrf = c.Value
		}
	}
	if csrf == "" {
		t.Fatal("no CSRF cookie for /admin/")
	}
	form := url.Values{"directory": {"okta"}, "idp_group": {"x"}, "group": {"engineers"}, "confirm": {"yes"}}
	if res := post("/admin/mappings", form, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without CSRF token: %d", res.StatusCode)
	}
	form.Set("csrf", "wrong"+csrf[5:])
	if res := post("/admin/mappings", form, nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", res.StatusCode)
	}
	form.Set("csrf", csrf)
	if res := post("/admin/mappings", form, map[string]string{"Sec-Fetch-Site": "cross-site"}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", res.StatusCode)
	}
	if n := len(s.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items()); n != 1 {
		t.Fatalf("a refused form wrote a mapping: %d mappings", n)
	}
	if res := post("/admin/mappings", form, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("good POST: %d", res.StatusCode)
	}
	if n := len(s.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items()); n != 2 {
		t.Fatalf("the form did not write the mapping: %d mappings", n)
	}

	// Ann is no org admin: she sees her own page, not the admin ones.
	annJar := signIn(t, s, "ann@acme.test")
	ann := &http.Client{Jar: annJar, CheckRedirect: noRedirect.CheckRedirect}
	for path, want := range map[string]int{"/admin/": 200, "/admin/users/" + s.Ann.ID: 200, "/admin/mappings": 403, "/admin/scim": 403,
		"/admin/audit": 403, "/admin/users/" + s.Admin.ID: 404} {
		res, err := ann.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("ann GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}
}

// signIn logs email in through the sso package's real login (form, redirect to the
// connection, callback, session cookie) and returns the cookie jar.
func signIn(t *testing.T, s *site, email string) http.CookieJar {
	t.Helper()
	s.login.Set(sso.Identity{Subject: "sub-" + email, Email: email, EmailVerified: true})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	res, err := c.PostForm(s.srv.URL+"/sso/login", url.Values{"email": {email}, "return_to": {"/admin/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/admin/" {
		t.Fatalf("sign in %s: %d at %s", email, res.StatusCode, res.Request.URL)
	}
	return jar
}
