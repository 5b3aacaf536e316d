package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// changeSite is the site with change management set up: the admin is an Admin of
// marketing (so a publisher there), Dana a Draft Contributor, and model m-prod is
// registered in production.
type changeSite struct {
	*site
	dana, zed core.User
}

func newChangeSite(t *testing.T) *changeSite {
	s := newSite(t)
	cs := &changeSite{site: s, dana: s.User("dana"), zed: s.User("zed")}
	for _, g := range []struct{ group, user, role string }{{"leads", s.Admin.ID, "admin"}, {"drafters", cs.dana.ID, "draft_contributor"}} {
		s.API("POST", "/api/v1/groups", map[string]any{"name": g.group}).Want(t, 201)
		s.API("PUT", "/api/v1/groups/"+g.group+"/members/"+g.user, nil).Want(t, 204)
		s.API("POST", "/api/v1/grants", map[string]any{"group": g.group, "workspace": "marketing", "role": g.role}).Want(t, 201)
	}
	s.API("POST", "/api/v1/workspaces/marketing/resources", map[string]any{"type": "model", "id": "m-prod", "name": "Revenue", "environment": "production"}).Want(t, 201)
	return cs
}

// propose opens a proposal by author through the API token.
func (cs *changeSite) propose(t *testing.T, author, title, action, typ, id string, payload any) string {
	t.Helper()
	res := map[string]any{"type": typ}
	if id != "" {
		res["id"] = id
	}
	return cs.API("POST", "/api/v1/proposals", map[string]any{"workspace": "marketing", "environment": "production", "action": action,
		"resource": res, "title": title, "author": author, "payload": payload}).Want(t, 201).Str("id")
}

// TestChangeManagementPagesInBrowser drives the proposals, approvals and preview
// pages in headless Chromium as an org admin who is an Admin of marketing: a
// Draft Contributor's proposal shown as a diff and approved, another rejected, the
// admin's own withdrawn, an environment's rule set, four eyes turned on through
// its preview, and then a mapping previewed and held as a proposal that its
// author may not approve.
func TestChangeManagementPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	cs := newChangeSite(t)
	base := cs.srv.URL
	diffed := cs.propose(t, "dana@acme.test", "Tighten revenue model", "edit", "model", "m-prod", map[string]any{
		"before": map[string]any{"sql": "select * from orders", "window_days": 90, "columns": []string{"id", "amount"}},
		"after":  map[string]any{"sql": "select * from orders where paid", "window_days": 90, "columns": []string{"id", "net"}, "owner": "finance"}})
	plain := cs.propose(t, "dana@acme.test", "New VIP audience", "create", "audience", "", map[string]any{"name": "VIPs", "rules": []string{"ltv > 1000"}})
	mine := cs.propose(t, "admin@acme.test", "Admin's own idea", "create", "sync", "", nil)

	b.run("sign in", chromedp.Navigate(base+"/admin/proposals"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)))
	list := b.waitText("#proposals", "Tighten revenue model")
	for _, want := range []string{"New VIP audience", "Admin's own idea", "dana@acme.test", "production", "0 / 1"} {
		if !strings.Contains(list, want) {
			t.Fatalf("proposals list lacks %q: %s", want, list)
		}
	}
	b.shot("20-proposals")

	// The detail shows the payload as the application described it: a diff.
	b.run("open proposal", chromedp.Click(chromedp.CSS(`#proposals a[href="/admin/proposals/`+diffed+`"]`)))
	payload := b.waitText("#payload", "window_days")
	for _, want := range []string{"select * from orders", "select * from orders where paid", "changed", "added", "columns[1]", `"net"`} {
		if !strings.Contains(payload, want) {
			t.Fatalf("payload diff lacks %q: %s", want, payload)
		}
	}
	b.shot("21-proposal-diff")
	b.run("approve", chromedp.SendKeys(chromedp.CSS(`#approve input[name=comment]`), "ship it"), chromedp.Click(chromedp.CSS(`#approve button`)))
	b.waitText(".flash", "You approved")
	b.waitText("#state", "approved")
	if g := cs.API("GET", "/api/v1/proposals/"+diffed, nil).Want(t, 200); g.Str("state") != "approved" || !strings.Contains(string(g.Raw), "ship it") {
		t.Fatalf("after approving in the browser: %s", g.Raw)
	}
	b.waitText("#history", "proposal.approve")
	b.shot("22-proposal-approved")

	// Pretty JSON when there is no before/after; rejected.
	b.run("open plain", chromedp.Navigate(base+"/admin/proposals/"+plain))
	b.waitText("#payload", `"ltv > 1000"`)
	b.run("reject", chromedp.Click(chromedp.CSS(`#approve button.danger`)))
	b.waitText("#state", "rejected")
	// The admin's own: withdrawn.
	b.run("open mine", chromedp.Navigate(base+"/admin/proposals/"+mine))
	b.run("withdraw", chromedp.Click(chromedp.CSS(`#withdraw button`)))
	b.waitText("#state", "withdrawn")
	if g := cs.API("GET", "/api/v1/proposals/"+mine, nil).Want(t, 200); g.Str("state") != "withdrawn" {
		t.Fatalf("withdrawn in the browser: %s", g.Raw)
	}

	// The approval rule of production: two approvals, every change reviewed.
	b.run("approvals", chromedp.Navigate(base+"/admin/approvals"))
	b.waitText("#environments", "production")
	prodForm := `#environments tr:nth-child(3) form`
	b.run("set rule", chromedp.Click(chromedp.CSS(prodForm+` input[name=requires_approval]`)),
		chromedp.SetValue(chromedp.CSS(prodForm+` input[name=approvals_required]`), "2"),
		chromedp.Click(chromedp.CSS(prodForm+` button`)))
	b.waitText(".flash", "approval rule was saved")
	ws := cs.API("GET", "/api/v1/workspaces/marketing", nil).Want(t, 200)
	if envs := ws.Body["environments"].([]any); envs[1].(map[string]any)["requires_approval"] != true || envs[1].(map[string]any)["approvals_required"] != float64(2) ||
		envs[0].(map[string]any)["requires_approval"] != false {
		t.Fatalf("environments after the form: %s", ws.Raw)
	}
	if d := cs.API("POST", "/api/v1/check", map[string]any{"user": "admin@acme.test", "workspace": "marketing", "action": "edit",
		"resource": map[string]any{"type": "model", "id": "m-prod"}}).Want(t, 200); d.Str("reason") != core.ReasonApprovalRequired {
		t.Fatalf("the rule set in the browser: %s", d.Raw)
	}
	b.shot("23-approvals")

	// Four eyes on access changes: its own preview, then confirmed.
	b.run("require approval", chromedp.Click(chromedp.CSS(`#org-approval button`)))
	b.waitText("#preview", "Nobody gains or loses a role")
	b.run("confirm", chromedp.Click(chromedp.CSS(`#confirm button`)))
	b.waitText(".flash", "approval setting was saved")
	// A mapping is previewed (Ann, in IdP group Data Eng, would become an Admin of
	// marketing), then proposed, not made.
	leads, err := cs.St.GetGroup(context.Background(), cs.Org.ID, "leads")
	if err != nil {
		t.Fatal(err)
	}
	b.run("mappings", chromedp.Navigate(base+"/admin/mappings"), chromedp.WaitVisible(chromedp.CSS(`form.row`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=idp_group]`), "00g1"),
		chromedp.SetValue(chromedp.CSS(`form.row select[name=group]`), leads.ID),
		chromedp.Click(chromedp.CSS(`form.row button[type=submit]`)))
	b.waitText("#held", "second org admin")
	roles := b.waitText("#preview table.roles", "ann@acme.test")
	if !strings.Contains(roles, "admin") || !strings.Contains(roles, "gained") {
		t.Fatalf("preview of the mapping: %s", roles)
	}
	b.shot("24-access-preview-held")
	mappings := len(cs.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items())
	b.run("propose mapping", chromedp.Click(chromedp.CSS(`#confirm button`)))
	b.waitText(".flash", "held as this proposal")
	b.waitText("#preview", "ann@acme.test")
	if n := len(cs.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items()); n != mappings {
		t.Fatalf("a held mapping was made: %d mappings, was %d", n, mappings)
	}
	// Its author may not approve it: refused on the page, with the reason.
	b.run("approve own", chromedp.Click(chromedp.CSS(`#approve button`)))
	b.waitText("#refusal", "their own proposal")
	b.waitText("#state", "open")
	b.shot("25-own-access-proposal-refused")
}

// TestChangeManagementPagesAreGuarded: a reviewer who may not publish sees the
// refusal and changes nothing; forms need their CSRF token and the same site;
// bad input is refused with a clear page; pages for org admins refuse others, and
// a proposal of a workspace one cannot see is not found.
func TestChangeManagementPagesAreGuarded(t *testing.T) {
	t.Parallel()
	cs := newChangeSite(t)
	base := cs.srv.URL
	id := cs.propose(t, "dana@acme.test", "Edit revenue", "edit", "model", "m-prod", map[string]any{"before": 1, "after": 2})
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client := func(email string) (*http.Client, string) {
		jar := signIn(t, cs.site, email)
		c := &http.Client{Jar: jar, CheckRedirect: noRedirect}
		res, err := c.Get(base + "/admin/proposals")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for _, ck := range jar.Cookies(res.Request.URL) {
			if ck.Name == "gatehouse_csrf" {
				return c, ck.Value
			}
		}
		t.Fatal("no CSRF cookie")
		return nil, ""
	}
	post := func(c *http.Client, path string, form url.Values, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := res.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return res.StatusCode, body.String()
	}
	get := func(c *http.Client, path string) int {
		res, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	state := func() string { return cs.API("GET", "/api/v1/proposals/"+id, nil).Want(t, 200).Str("state") }

	// Ann is an Editor of development only: she sees the proposal, may not
	// approve a change to production, and is told why.
	ann, annCSRF := client("ann@acme.test")
	if code := get(ann, "/admin/proposals/"+id); code != 200 {
		t.Fatalf("ann reads the proposal: %d", code)
	}
	code, body := post(ann, "/admin/proposals/"+id+"/approve", url.Values{"csrf": {annCSRF}}, nil)
	if code != http.StatusForbidden || !strings.Contains(body, "id=\"refusal\"") || !strings.Contains(body, "production") {
		t.Fatalf("ann approves: %d %s", code, body)
	}
	// Only the author withdraws.
	if code, _ := post(ann, "/admin/proposals/"+id+"/withdraw", url.Values{"csrf": {annCSRF}}, nil); code != http.StatusForbidden {
		t.Fatalf("ann withdraws dana's: %d", code)
	}
	for path, want := range map[string]int{"/admin/proposals": 200, "/admin/approvals": 403} {
		if code := get(ann, path); code != want {
			t.Errorf("ann GET %s: %d, want %d", path, code, want)
		}
	}
	if code, _ := post(ann, "/admin/approvals/environments", url.Values{"csrf": {annCSRF}, "workspace": {"marketing"}, "environment": {"production"}, "approvals_required": {"1"}}, nil); code != http.StatusForbidden {
		t.Fatalf("ann sets a rule: %d", code)
	}
	// Zed holds no role: the proposal does not exist for him.
	zed, zedCSRF := client("zed@acme.test")
	if code := get(zed, "/admin/proposals/"+id); code != http.StatusNotFound {
		t.Fatalf("zed reads the proposal: %d", code)
	}
	if code, body := post(zed, "/admin/proposals/"+id+"/approve", url.Values{"csrf": {zedCSRF}}, nil); code != http.StatusNotFound || strings.Contains(body, "Edit revenue") {
		t.Fatalf("zed approves: %d", code)
	}

	// The admin: CSRF and same-site, then bad input, each leaving things unchanged.
	admin, csrf := client("admin@acme.test")
	if code, _ := post(admin, "/admin/proposals/"+id+"/approve", url.Values{}, nil); code != http.StatusForbidden {
		t.Fatalf("approve without CSRF: %d", code)
	}
	if code, _ := post(admin, "/admin/proposals/"+id+"/approve", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Fatalf("cross-site approve: %d", code)
	}
	if s := state(); s != "open" {
		t.Fatalf("refused forms changed the proposal: %s", s)
	}
	rules := len(cs.API("GET", "/api/v1/audit?action=environment.update", nil).Want(t, 200).Items())
	for _, bad := range []url.Values{
		{"workspace": {"marketing"}, "environment": {"production"}, "approvals_required": {"0"}},
		{"workspace": {"marketing"}, "environment": {"production"}, "approvals_required": {"eleven"}},
		{"workspace": {"marketing"}, "environment": {"staging"}, "approvals_required": {"1"}},
		{"workspace": {"nowhere"}, "environment": {"production"}, "approvals_required": {"1"}},
	} {
		bad.Set("csrf", csrf)
		if code, body := post(admin, "/admin/approvals/environments", bad, nil); code < 400 || !strings.Contains(body, "<h1>") {
			t.Errorf("bad rule %v: %d", bad, code)
		}
	}
	if code, _ := post(admin, "/admin/approvals/org", url.Values{"csrf": {csrf}, "require": {"maybe"}}, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad org setting: %d", code)
	}
	if code, _ := post(admin, "/admin/mappings", url.Values{"csrf": {csrf}, "directory": {"okta"}, "group": {"engineers"}, "idp_group": {" "}}, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("mapping without an IdP group: %d", code)
	}
	if n := len(cs.API("GET", "/api/v1/audit?action=environment.update", nil).Want(t, 200).Items()); n != rules {
		t.Fatalf("bad input changed rules: %d events, was %d", n, rules)
	}
	if o := cs.API("GET", "/api/v1/org", nil).Want(t, 200); o.Body["access_changes_require_approval"] != false {
		t.Fatalf("bad input changed the org: %s", o.Raw)
	}
	// A preview changes nothing until confirmed.
	before := len(cs.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items())
	if code, body := post(admin, "/admin/mappings", url.Values{"csrf": {csrf}, "directory": {"okta"}, "group": {"engineers"}, "idp_group": {"Other"}}, nil); code != 200 || !strings.Contains(body, "id=\"confirm\"") {
		t.Fatalf("preview: %d", code)
	}
	if n := len(cs.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items()); n != before {
		t.Fatalf("the preview made the mapping: %d, was %d", n, before)
	}
	if code, _ := post(admin, "/admin/proposals/"+id+"/approve", url.Values{"csrf": {csrf}, "comment": {"fine"}}, nil); code != http.StatusSeeOther {
		t.Fatalf("admin approves: %d", code)
	}
	if s := state(); s != "approved" {
		t.Fatalf("after the admin's approval: %s", s)
	}
}
