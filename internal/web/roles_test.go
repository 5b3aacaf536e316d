package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestRolePagesInBrowser creates a custom role from the rules table in headless
// Chromium, previews and confirms it, adds a rule on one resource, grants the role
// and watches POST /api/v1/check follow; a refused form keeps its rows. Every page
// is screenshot.
func TestRolePagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	run("roles", chromedp.Navigate(base+"/admin/roles"), chromedp.WaitVisible(chromedp.CSS(`#builtin`)))
	must(text("#builtin"), "draft_contributor", "pre-built roles")
	shot("40-roles")

	// A rule without an action on a resource of every type: refused, the row kept.
	run("bad rule", chromedp.SendKeys(chromedp.CSS(`#role-form input[name=name]`), "s1 fixer"),
		chromedp.SetValue(chromedp.CSS(`#rules select[name=type_0]`), "*"),
		chromedp.SendKeys(chromedp.CSS(`#rules input[name=resource_0]`), "s-1"),
		chromedp.Click(chromedp.CSS(`#rules input[name=actions_0][value=edit]`)),
		chromedp.Click(chromedp.CSS(`#role-form button[type=submit]`)))
	waitText("#rules-error", "must name its type")
	if v := value(b, `#rules input[name=resource_0]`); v != "s-1" {
		t.Fatalf("the refused table kept %q", v)
	}
	if v := value(b, `#role-form input[name=name]`); v != "s1 fixer" {
		t.Fatalf("the refused form kept name %q", v)
	}
	shot("41-role-refused")
	run("fix rule", chromedp.SetValue(chromedp.CSS(`#rules select[name=type_0]`), "source"),
		chromedp.Click(chromedp.CSS(`#role-form button[type=submit]`)))
	waitText("#preview", "Nobody gains")
	shot("42-role-preview")
	run("confirm", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "custom role was created")
	must(text("#custom"), "[edit] on source s-1", "custom roles")

	if d := s.Check("ann@acme.test", "edit", "source", "s-1", "development"); d.Str("decision") != "deny" {
		t.Fatalf("before the grant: %s", d.Raw)
	}
	s.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "marketing", "role": "s1 fixer"}).Want(t, 201)
	if d := s.Check("ann@acme.test", "edit", "source", "s-1", "development"); d.Str("decision") != "allow" {
		t.Fatalf("after the grant: %s", d.Raw)
	}
	// Change it: the edit box of the one rule unchecked, run on every sync checked.
	run("open role", chromedp.Click(chromedp.CSS(`#custom a`)))
	waitText("#role-grants", "engineers")
	run("change", chromedp.Click(chromedp.CSS(`#rules input[name=actions_0][value=edit]`)),
		chromedp.Click(chromedp.CSS(`#rules input[name=actions_0][value=view]`)),
		chromedp.SetValue(chromedp.CSS(`#rules select[name=type_1]`), "sync"),
		chromedp.Click(chromedp.CSS(`#rules input[name=actions_1][value=run]`)),
		chromedp.Click(chromedp.CSS(`#role-form button[type=submit]`)))
	waitText("#preview", "Decisions that change")
	must(text("#preview table.flips"), "ann@acme.test", "the change's preview")
	shot("43-role-change-preview")
	run("confirm change", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "saved")
	shot("44-role")
	if d := s.Check("ann@acme.test", "edit", "source", "s-1", "development"); d.Str("decision") != "deny" {
		t.Fatalf("after the change: %s", d.Raw)
	}
	run("delete", chromedp.Click(chromedp.CSS(`#delete-role button`)))
	waitText("h1", "and its 1 grant(s)")
	run("confirm delete", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "deleted with its grants")
	s.API("GET", "/api/v1/roles/s1%20fixer", nil).Want(t, 404)
}

// TestRoleFormsRefuse: the role forms refuse a POST without the CSRF token, a
// cross-site one, and everyone but org admins (Carol, a workspace's Admin,
// included); bad input says what is wrong, keeps what was typed, changes
// nothing. Both store backends.
func TestRoleFormsRefuse(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, be))
		role := g.API("POST", "/api/v1/roles", map[string]any{"name": "runner", "rules": []map[string]any{{"actions": []string{"run"}, "resource_type": "sync"}}}).Want(t, 201).Str("id")
		state := g.apiState(t, "/api/v1/roles", "/api/v1/grants")
		good := url.Values{"name": {"viewer2"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"view"}, "confirm": {"yes"}}
		g.refused(t, "/admin/roles", good, state, g.ann, g.bob, g.carol)
		g.refused(t, "/admin/roles/"+role, good, state, g.ann, g.bob, g.carol)
		g.refused(t, "/admin/roles/"+role+"/delete", url.Values{"confirm": {"yes"}}, state, g.ann, g.bob, g.carol)
		if st, _ := g.carol.get("/admin/roles"); st != 403 {
			t.Errorf("carol GET /admin/roles: %d", st)
		}

		g.badInput(t, g.admin, "/admin/roles", url.Values{"description": {"Kept words"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"view"}}, 422, "needs a name", "Kept words", state)
		g.badInput(t, g.admin, "/admin/roles", url.Values{"name": {"Editor"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"view"}}, 422, "pre-built role", "Editor", state)
		g.badInput(t, g.admin, "/admin/roles", url.Values{"name": {"empty"}, "rows": {"1"}, "type_0": {"model"}}, 422, "at least one rule", "empty", state)
		g.badInput(t, g.admin, "/admin/roles", url.Values{"name": {"odd"}, "rows": {"1"}, "type_0": {"*"}, "resource_0": {"s-1"}, "actions_0": {"edit"}}, 422, "must name its type", "s-1", state)
		g.badInput(t, g.admin, "/admin/roles", url.Values{"name": {"odd"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"fly"}}, 422, "unknown action", "odd", state)
		g.badInput(t, g.admin, "/admin/roles", url.Values{"name": {"Runner"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"view"}, "confirm": {"yes"}}, 409, "already exists", "Runner", state)
		if st, _, loc := g.admin.post("/admin/roles/"+role, url.Values{"name": {"runner"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"view"}, "version": {"1"}, "confirm": {"yes"}}, false, nil); st != 303 || !strings.Contains(loc, "role-saved") {
			t.Fatalf("a good change: %d %s", st, loc)
		}
		// A change made since the form was read is refused.
		g.badInput(t, g.admin, "/admin/roles/"+role, url.Values{"name": {"runner"}, "rows": {"1"}, "type_0": {"model"}, "actions_0": {"edit"}, "version": {"1"}, "confirm": {"yes"}}, 412, "Someone changed the role", "", state)
		if body := string(g.API("GET", "/api/v1/roles/runner", nil).Want(t, 200).Raw); !strings.Contains(body, `"view"`) {
			t.Fatalf("the role after a good change: %s", body)
		}
	})
}
