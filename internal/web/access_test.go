package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestMembersAdminsMappingsInBrowser changes a group's direct members, the org
// admins (add, transfer, remove, and the last-admin rule refusing the last) and
// maps an SSO connection's group, each previewed before it is confirmed, in
// headless Chromium with screenshots.
func TestMembersAdminsMappingsInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	bob, carol := s.User("bob"), s.User("carol")
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))

	// Direct members.
	run("group", chromedp.Navigate(base+"/admin/groups/engineers"), chromedp.WaitVisible(chromedp.CSS(`#add-member`)))
	run("add member", chromedp.SendKeys(chromedp.CSS(`#add-member input[name=user]`), "bob@acme.test"), chromedp.Click(chromedp.CSS(`#add-member button`)))
	waitText("#preview", "gained")
	must(text("#preview table.roles"), "bob@acme.test", "member preview")
	shot("50-member-preview")
	run("confirm member", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "direct member")
	must(text("main"), "bob@acme.test", "members")
	shot("51-group-members")
	if d := s.Check("bob@acme.test", "edit", "model", "m-1", "development"); d.Str("decision") != "allow" {
		t.Fatalf("bob after joining: %s", d.Raw)
	}
	run("remove member", chromedp.Click(chromedp.CSS(`form[action$="/members/`+bob.ID+`/remove"] button`)))
	waitText("#preview", "lost")
	run("confirm removal", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "membership was removed")
	if d := s.Check("bob@acme.test", "edit", "model", "m-1", "development"); d.Str("decision") != "deny" {
		t.Fatalf("bob after leaving: %s", d.Raw)
	}

	// Org admins.
	run("admins", chromedp.Navigate(base+"/admin/admins"), chromedp.WaitVisible(chromedp.CSS(`#admins`)))
	shot("52-admins")
	run("add admin", chromedp.SendKeys(chromedp.CSS(`#add-admin input[name=user]`), "carol@acme.test"), chromedp.Click(chromedp.CSS(`#add-admin button`)))
	waitText("#preview", "carol@acme.test")
	shot("53-admin-preview")
	run("confirm admin", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "now an org admin")
	run("transfer", chromedp.SetValue(chromedp.CSS(`#transfer-admin select[name=from]`), carol.ID),
		chromedp.SendKeys(chromedp.CSS(`#transfer-admin input[name=to]`), "bob@acme.test"), chromedp.Click(chromedp.CSS(`#transfer-admin button`)))
	waitText("h1", "Transfer org admin from carol@acme.test to bob@acme.test")
	run("confirm transfer", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "transferred")
	admins := text("#admins")
	if !strings.Contains(admins, "bob@acme.test") || strings.Contains(admins, "carol@acme.test") {
		t.Fatalf("admins after the transfer: %q", admins)
	}
	run("remove bob", chromedp.Click(chromedp.CSS(`form[action="/admin/admins/`+bob.ID+`/remove"] button`)))
	waitText("#preview", "bob@acme.test")
	run("confirm remove bob", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "no longer an org admin")
	// The last one: refused with the rule, nothing changed.
	run("remove last", chromedp.Click(chromedp.CSS(`form[action="/admin/admins/`+s.Admin.ID+`/remove"] button`)))
	waitText("#remove-error", "at least one active org admin")
	shot("54-admins-last-refused")
	if n := len(s.API("GET", "/api/v1/org/admins", nil).Want(t, 200).Items()); n != 1 {
		t.Fatalf("org admins after the refusal: %d", n)
	}

	// A mapping from the SSO connection's groups.
	conn := connectionID(t, s)
	run("mappings", chromedp.Navigate(base+"/admin/mappings"), chromedp.WaitVisible(chromedp.CSS(`#add-mapping`)))
	run("sso mapping", chromedp.SetValue(chromedp.CSS(`#add-mapping select[name=source]`), "connection:"+conn),
		chromedp.SendKeys(chromedp.CSS(`#add-mapping input[name=idp_group]`), "sso-engineers"),
		chromedp.SetValue(chromedp.CSS(`#add-mapping select[name=group]`), mustGroupID(t, s)),
		chromedp.Click(chromedp.CSS(`#add-mapping button`)))
	waitText("h1", "SSO Okta OIDC")
	run("confirm sso mapping", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "mapping was added")
	must(text("#mappings"), "SSO Okta OIDC", "mappings table")
	shot("55-mappings-sso")
	found := false
	for _, m := range s.API("GET", "/api/v1/mappings", nil).Want(t, 200).Items() {
		found = found || (m["connection_id"] == conn && m["idp_group"] == "sso-engineers")
	}
	if !found {
		t.Fatal("the SSO mapping is not in the API's list")
	}
}

// TestAccessFormsRefuse: the member, org-admin and mapping forms refuse a POST
// without the CSRF token, a cross-site one, and everyone but org admins (a
// workspace's Admin included); bad input (an unknown or deactivated user, the
// last org admin, a transfer to oneself, an unknown source, a duplicate mapping)
// says what is wrong, keeps what was typed and changes nothing. Both backends.
func TestAccessFormsRefuse(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, be))
		state := g.apiState(t, "/api/v1/groups/engineers/members", "/api/v1/org/admins", "/api/v1/mappings", "/api/v1/proposals")
		conn := connectionID(t, g.site)
		ann := g.Ann.ID
		grp := "/admin/groups/" + mustGroupID(t, g.site)
		for path, form := range map[string]url.Values{
			grp + "/members":                          {"user": {"bob@acme.test"}, "confirm": {"yes"}},
			grp + "/members/" + ann + "/remove":       {"confirm": {"yes"}},
			"/admin/admins":                           {"user": {"ann@acme.test"}, "confirm": {"yes"}},
			"/admin/admins/" + g.Admin.ID + "/remove": {"confirm": {"yes"}},
			"/admin/admins/transfer":                  {"from": {g.Admin.ID}, "to": {"ann@acme.test"}, "confirm": {"yes"}},
			"/admin/mappings":                         {"source": {"connection:" + conn}, "idp_group": {"x"}, "group": {"engineers"}, "confirm": {"yes"}},
		} {
			g.refused(t, path, form, state, g.ann, g.bob, g.carol)
		}
		g.API("POST", "/api/v1/users/"+g.User("dave").ID+"/deactivate", nil).Want(t, 200)
		state = g.apiState(t, "/api/v1/groups/engineers/members", "/api/v1/org/admins", "/api/v1/mappings", "/api/v1/proposals")
		g.badInput(t, g.admin, grp+"/members", url.Values{"user": {"nobody@acme.test"}}, 422, "no user", "nobody@acme.test", state)
		g.badInput(t, g.admin, "/admin/admins", url.Values{"user": {"nobody@acme.test"}}, 422, "no user", "nobody@acme.test", state)
		g.badInput(t, g.admin, "/admin/admins", url.Values{"user": {"dave@acme.test"}}, 422, "must be active", "dave@acme.test", state)
		g.badInput(t, g.admin, "/admin/admins/transfer", url.Values{"from": {g.Admin.ID}, "to": {"admin@acme.test"}}, 422, "someone else", "admin@acme.test", state)
		g.badInput(t, g.admin, "/admin/admins/"+g.Admin.ID+"/remove", url.Values{"confirm": {"yes"}}, 409, "at least one active org admin", "", state)
		g.badInput(t, g.admin, "/admin/mappings", url.Values{"source": {"connection:nope"}, "idp_group": {"Typed"}, "group": {"engineers"}}, 422, "no SSO connection", "Typed", state)
		g.badInput(t, g.admin, "/admin/mappings", url.Values{"source": {"directory:okta"}, "group": {"engineers"}}, 422, "Name the IdP group", "", state)
		g.badInput(t, g.admin, "/admin/mappings", url.Values{"source": {"directory:okta"}, "idp_group": {"Data Eng"}, "group": {"engineers"}, "confirm": {"yes"}}, 409, "already exists", "Data Eng", state)
		// Four eyes: a member added from the page is held as a proposal.
		g.API("PATCH", "/api/v1/org", map[string]any{"access_changes_require_approval": true}).Want(t, 200)
		if st, _, loc := g.admin.post(grp+"/members", url.Values{"user": {"bob@acme.test"}, "confirm": {"yes"}}, false, nil); st != 303 || !strings.Contains(loc, "access-held") {
			t.Fatalf("held member: %d %s", st, loc)
		}
		if body := string(g.API("GET", "/api/v1/groups/engineers/members", nil).Want(t, 200).Raw); strings.Contains(body, "bob@acme.test") {
			t.Fatal("a held membership was made")
		}
		// So are a custom role, an org admin and a mapping: nothing changes until approved.
		held := g.apiState(t, "/api/v1/roles", "/api/v1/org/admins", "/api/v1/mappings")
		before := held()
		for path, form := range map[string]url.Values{
			"/admin/roles":    {"name": {"runner"}, "rows": {"1"}, "type_0": {"sync"}, "actions_0": {"run"}, "confirm": {"yes"}},
			"/admin/admins":   {"user": {"ann@acme.test"}, "confirm": {"yes"}},
			"/admin/mappings": {"source": {"connection:" + conn}, "idp_group": {"sso-eng"}, "group": {"engineers"}, "confirm": {"yes"}},
		} {
			if st, _, loc := g.admin.post(path, form, false, nil); st != 303 || !strings.Contains(loc, "/admin/proposals/") || !strings.Contains(loc, "access-held") {
				t.Errorf("held %s: %d %s", path, st, loc)
			}
		}
		if after := held(); after != before {
			t.Errorf("held changes were made:\nbefore %s\nafter  %s", before, after)
		}
		if n := len(g.API("GET", "/api/v1/proposals?state=open", nil).Want(t, 200).Items()); n != 4 {
			t.Errorf("open proposals: %d, want 4", n)
		}
	})
}

// connectionID is the site's SSO connection, read from its own API (the one with
// the SSO setup wired).
func connectionID(t *testing.T, s *site) string {
	t.Helper()
	items := apitest.Call(t, s.srv.URL, "GET", "/api/v1/sso/connections", nil, apitest.WithToken(s.Token)).Want(t, 200).Items()
	if len(items) != 1 {
		t.Fatalf("SSO connections: %v", items)
	}
	return items[0]["id"].(string)
}
