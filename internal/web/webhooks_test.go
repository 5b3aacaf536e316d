package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks/webhookstest"
)

// TestWebhookPagesInBrowser drives the event log and the webhook pages in
// headless Chromium: the log filtered and paged by cursor; a private URL refused
// with its reason and nothing created; a webhook created with its secret shown
// once; its deliveries (status, attempts, next retry) from a real deliverer; a
// dead letter redelivered from its button; an edit, a rotation, and a delete
// behind its confirmation page.
func TestWebhookPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	ctx := context.Background()
	base := s.srv.URL
	sys := core.Actor{Kind: core.ActorSystem}
	// 60 group.created events after the world's own: more than one page.
	for i := range 60 {
		if _, err := s.St.CreateGroup(ctx, sys, core.UserGroup{OrgID: s.Org.ID, Name: fmt.Sprintf("team-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	last, err := s.St.OrgGeneration(ctx, s.Org.ID)
	if err != nil {
		t.Fatal(err)
	}

	b.run("sign in", chromedp.Navigate(base+"/admin/events"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`#events`)))

	// The event log: the latest events first (the sign-in is the very last),
	// then older ones by cursor.
	log := b.text("#events")
	b.must(log, fmt.Sprintf("%d\t", last), "latest seq")
	b.must(log, "sso.login", "the sign-in")
	b.must(log, "group.created", "event types")
	if strings.Contains(log, "org.created") {
		t.Fatalf("the first page reaches back to the org's creation: %s", log)
	}
	b.shot("20-events")
	b.run("older", chromedp.Click(chromedp.CSS(`#older`)), chromedp.WaitVisible(chromedp.CSS(`#newer`)))
	older := b.text("#events")
	b.must(older, "org.created", "the first page of the stream")
	// The seq is a row's first cell: an id elsewhere on the row may end in the same
	// digits.
	if strings.Contains("\n"+older, fmt.Sprintf("\n%d\t", last)) || strings.Contains(older, "sso.login") {
		t.Fatalf("the older page repeats the latest events: %s", older)
	}
	b.run("newer", chromedp.Click(chromedp.CSS(`#newer`)), chromedp.WaitVisible(chromedp.CSS(`#older`)))
	b.must(b.text("#events"), "sso.login", "back to newer events")
	// Filtered by type.
	b.run("filter", chromedp.Navigate(base+"/admin/events?types="+url.QueryEscape("mapping.*, grant.created")), chromedp.WaitVisible(chromedp.CSS(`#events`)))
	filtered := b.text("#events")
	b.must(filtered, "mapping.created", "filtered log")
	b.must(filtered, "grant.created", "filtered log")
	if strings.Contains(filtered, "group.created") {
		t.Fatalf("the filter let group.created through: %s", filtered)
	}
	b.shot("21-events-filtered")

	// A private address is refused with its reason, and nothing is created. The
	// receiver checks timestamps on the deliverer's clock, which the test moves.
	clk := webhookstest.NewClock(time.Now())
	rc := webhookstest.New(t, clk.Now)
	b.run("webhooks", chromedp.Navigate(base+"/admin/webhooks"), chromedp.WaitVisible(chromedp.CSS(`#create-webhook`)))
	b.run("private URL", chromedp.SendKeys(chromedp.CSS(`#create-webhook input[name=url]`), "https://10.20.30.40/hook"),
		chromedp.SendKeys(chromedp.CSS(`#create-webhook input[name=types]`), "group.*"),
		chromedp.Click(chromedp.CSS(`#create-webhook button`)))
	b.waitText("main .flash.error", "private address")
	b.must(b.text("#webhooks"), "No webhook yet", "after a refused create")
	b.shot("22-webhook-refused")
	if n := len(s.API("GET", "/api/v1/webhooks", nil).Want(t, 200).Items()); n != 0 {
		t.Fatalf("a refused form created %d webhooks", n)
	}

	// Created: the secret once.
	b.run("create", chromedp.SetValue(chromedp.CSS(`#create-webhook input[name=url]`), rc.URL()),
		chromedp.Click(chromedp.CSS(`#create-webhook button`)), chromedp.WaitVisible(chromedp.CSS(`#new-secret`)))
	secret := strings.TrimSpace(b.text("#new-secret code"))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	rc.SetSecret(secret)
	b.shot("23-webhook-created")
	hooks := s.API("GET", "/api/v1/webhooks", nil).Want(t, 200).Items()
	if len(hooks) != 1 || hooks[0]["url"] != rc.URL() {
		t.Fatalf("webhooks: %v", hooks)
	}
	id := hooks[0]["id"].(string)
	page := base + "/admin/webhooks/" + id
	b.run("reload", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#state`)))
	if strings.Contains(b.text("main"), secret) {
		t.Fatal("the secret is shown again")
	}

	// A receiver that fails: the page shows the failing state and the next retry;
	// after the retry window the event is a dead letter.
	d, err := webhooks.New(webhooks.Options{Store: s.St, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
		Logger: apitest.Logger(t), Now: clk.Now, BackoffBase: time.Minute, BackoffMax: time.Hour, RetryWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rc.SetStatus(http.StatusServiceUnavailable)
	s.API("POST", "/api/v1/groups", map[string]any{"name": "failing"}).Want(t, 201)
	webhookstest.RunOnce(t, d)
	b.run("failing", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#next-retry`)))
	b.must(b.text("#state"), "failing", "state")
	b.must(b.text("#state"), "1 failed attempts", "state")
	b.must(b.text("#deliveries"), "503", "deliveries")
	b.shot("24-webhook-failing")
	clk.Add(2 * time.Hour)
	webhookstest.RunOnce(t, d)
	b.run("dead letter", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#dead-letters form`)))
	b.must(b.text("#dead-letters"), "group.created", "dead letters")
	b.must(b.text("#deliveries"), "dead_lettered", "deliveries")

	// Redelivered from its button once the receiver is back.
	rc.SetStatus(0)
	b.run("redeliver", chromedp.Click(chromedp.CSS(`#dead-letters form button`)))
	b.waitText("main .flash", "redelivery was queued")
	b.must(b.text("#dead-letters"), "redelivery queued", "dead letters")
	webhookstest.RunOnce(t, d)
	b.run("redelivered", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#deliveries`)))
	b.must(b.text("#dead-letters"), "redelivered", "dead letters")
	b.must(b.text("#deliveries"), "redelivery", "deliveries")
	if got, _, bad := rc.Snapshot(); len(got) != 1 || got[0].Type != "group.created" || len(bad) != 0 {
		t.Fatalf("the receiver got %v, refused %v", got, bad)
	}
	b.shot("25-webhook-redelivered")

	// Edit: a private URL is refused and changes nothing; a good edit is saved.
	b.run("edit refused", chromedp.SetValue(chromedp.CSS(`#edit-webhook input[name=url]`), "https://192.168.7.7/"),
		chromedp.SetValue(chromedp.CSS(`#edit-webhook input[name=description]`), "moved"),
		chromedp.Click(chromedp.CSS(`#edit-webhook button`)))
	b.waitText("main .flash.error", "private address")
	if w := s.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 200); w.Str("url") != rc.URL() || w.Str("description") != "" {
		t.Fatalf("a refused edit changed the webhook: %s", w.Raw)
	}
	b.run("edit", chromedp.SetValue(chromedp.CSS(`#edit-webhook input[name=url]`), rc.URL()),
		chromedp.SetValue(chromedp.CSS(`#edit-webhook input[name=types]`), "group.*, membership.added"),
		chromedp.Click(chromedp.CSS(`#edit-webhook button`)))
	b.waitText("main .flash", "The webhook was saved")
	if w := s.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 200); w.Str("description") != "moved" || len(w.Body["event_types"].([]any)) != 2 {
		t.Fatalf("the edit was not saved: %s", w.Raw)
	}

	// Rotate: the new secret once.
	b.run("rotate", chromedp.Click(chromedp.CSS(`#rotate button`)), chromedp.WaitVisible(chromedp.CSS(`#new-secret`)))
	if rotated := strings.TrimSpace(b.text("#new-secret code")); rotated == secret || !strings.HasPrefix(rotated, "whsec_") {
		t.Fatalf("rotated secret %q", rotated)
	}
	b.must(b.text("#state"), "still signs until", "previous secret")
	b.shot("26-webhook-rotated")

	// Delete behind a confirmation page.
	b.run("delete", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#delete`)), chromedp.Click(chromedp.CSS(`#delete`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-delete`)))
	b.must(b.text("main"), rc.URL(), "confirmation")
	b.shot("27-webhook-delete")
	s.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 200)
	b.run("confirm", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	b.waitText("main .flash", "was deleted")
	s.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 404)
}

// TestWebhookPagesAreGuarded: people who are not org admins, forms without the
// CSRF token and cross-site posts are refused and change nothing; bad input gets
// its reason.
func TestWebhookPagesAreGuarded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	base := s.srv.URL
	rc := webhookstest.New(t, time.Now)
	// The site's API, whose operations may make webhooks to loopback receivers.
	hook := apitest.Call(t, base, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL()}, apitest.WithToken(s.Token)).Want(t, 201)
	id := hook.Str("id")
	admin, csrf := formClient(t, s, "admin@acme.test")
	post := func(c *http.Client, path string, form url.Values, hdr ...string) (int, string) {
		t.Helper()
		return postForm(t, c, base+path, form, hdr...)
	}
	unchanged := func(what string) {
		t.Helper()
		ws := s.API("GET", "/api/v1/webhooks", nil).Want(t, 200).Items()
		if len(ws) != 1 || ws[0]["id"] != id || ws[0]["version"].(float64) != hook.Body["version"].(float64) {
			t.Fatalf("%s changed the webhooks: %v", what, ws)
		}
	}
	create := url.Values{"url": {rc.URL()}, "types": {""}}
	edit := url.Values{"url": {rc.URL()}, "description": {"x"}, "active": {"on"}}

	// Forms without the token, with a wrong one, or from another site.
	for _, c := range []struct {
		name, path string
		form       url.Values
		hdr        []string
	}{
		{"create without CSRF", "/admin/webhooks", create, nil},
		{"edit without CSRF", "/admin/webhooks/" + id, edit, nil},
		{"delete without CSRF", "/admin/webhooks/" + id + "/delete", url.Values{}, nil},
		{"rotate with a wrong CSRF", "/admin/webhooks/" + id + "/rotate", url.Values{"csrf": {"wrong" + csrf[5:]}, "overlap": {"0"}}, nil},
		{"cross-site create", "/admin/webhooks", withCSRF(create, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-site delete", "/admin/webhooks/" + id + "/delete", withCSRF(url.Values{}, csrf), []string{"Sec-Fetch-Site", "cross-site"}},
		{"cross-origin edit", "/admin/webhooks/" + id, withCSRF(edit, csrf), []string{"Origin", "https://evil.example"}},
	} {
		if code, _ := post(admin, c.path, c.form, c.hdr...); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", c.name, code)
		}
		unchanged(c.name)
	}

	// Bad input: a clear reason on the page, nothing written.
	before := auditCount(t, s)
	for url, want := range map[string]string{
		"https://10.0.0.1/":        "private address",
		"http://example.com/":      "must use https://",
		"https://169.254.169.254/": "link-local",
	} {
		code, body := post(admin, "/admin/webhooks", withCSRF(urlForm(url), csrf))
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, want) || !strings.Contains(body, "Nothing was changed") {
			t.Errorf("create %s: %d, want 422 saying %q", url, code, want)
		}
	}
	if code, body := post(admin, "/admin/webhooks/"+id, withCSRF(url.Values{"url": {"https://[fd12::1]/"}, "active": {"on"}}, csrf)); code != 422 || !strings.Contains(body, "unique local") {
		t.Errorf("edit to a ULA: %d", code)
	}
	if code, body := post(admin, "/admin/webhooks", withCSRF(url.Values{"url": {rc.URL()}, "types": {"user.exploded"}}, csrf)); code != 422 || !strings.Contains(body, "user.exploded") {
		t.Errorf("a bad event type: %d", code)
	}
	if code, _ := post(admin, "/admin/webhooks/"+id+"/dead-letters/7/redeliver", withCSRF(url.Values{}, csrf)); code != 404 {
		t.Errorf("redeliver a missing dead letter: %d", code)
	}
	unchanged("bad input")
	if n := auditCount(t, s); n != before {
		t.Fatalf("refused forms wrote %d audit events", n-before)
	}
	for path, want := range map[string]int{
		"/admin/events?types=nope": 400, "/admin/events?before=x": 400, "/admin/events?after=-1": 400,
		"/admin/webhooks/nope": 404, "/admin/webhooks/" + id + "?dead_before=x": 400,
	} {
		res, err := admin.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}

	// Ann is no org admin: every page and form is refused, with her own token.
	ann, annCSRF := formClient(t, s, "ann@acme.test")
	for _, path := range []string{"/admin/events", "/admin/webhooks", "/admin/webhooks/" + id, "/admin/webhooks/" + id + "/delete"} {
		res, err := ann.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("ann GET %s: %d, want 403", path, res.StatusCode)
		}
	}
	for _, path := range []string{"/admin/webhooks", "/admin/webhooks/" + id, "/admin/webhooks/" + id + "/delete", "/admin/webhooks/" + id + "/rotate"} {
		if code, _ := post(ann, path, withCSRF(url.Values{"url": {rc.URL()}, "overlap": {"0"}}, annCSRF)); code != http.StatusForbidden {
			t.Errorf("ann POST %s: %d, want 403", path, code)
		}
	}
	unchanged("ann")

	// The admin's good form goes through.
	if code, _ := post(admin, "/admin/webhooks/"+id+"/delete", withCSRF(url.Values{}, csrf)); code != http.StatusSeeOther {
		t.Fatalf("delete: %d", code)
	}
	s.API("GET", "/api/v1/webhooks/"+id, nil).Want(t, 404)
}

func urlForm(u string) url.Values { return url.Values{"url": {u}} }

func withCSRF(v url.Values, csrf string) url.Values {
	out := url.Values{"csrf": {csrf}}
	for k, vs := range v {
		out[k] = vs
	}
	return out
}

// formClient signs a person in and returns a client that does not follow
// redirects, with the CSRF token its cookie holds.
func formClient(t *testing.T, s *site, email string) (*http.Client, string) {
	t.Helper()
	jar := signIn(t, s, email)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(s.srv.URL + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, ck := range jar.Cookies(res.Request.URL) {
		if ck.Name == "gatehouse_csrf" {
			return c, ck.Value
		}
	}
	t.Fatal("no CSRF cookie for /admin/")
	return nil, ""
}

func auditCount(t *testing.T, s *site) int {
	t.Helper()
	evs, err := s.St.ListAudit(context.Background(), s.Org.ID, store.AuditQuery{Page: store.Page{Limit: store.MaxLimit}})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}
