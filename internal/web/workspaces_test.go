package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestWorkspacePagesInBrowser drives the workspace pages in headless Chromium as
// an org admin: a refused create keeps what was typed and says what was wrong, a
// workspace is created with its promotion path, an environment added at its end
// with an approval rule, a space created and shown to a user group, a grant
// previewed and made (and POST /api/v1/check follows), the space and then the
// workspace deleted after pages that say what goes. Every page is screenshot.
func TestWorkspacePagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))

	run("workspaces", chromedp.Navigate(base+"/admin/workspaces"), chromedp.WaitVisible(chromedp.CSS(`#workspaces`)))
	must(text("#workspaces"), "development → production", "promotion path")
	shot("20-workspaces")
	// No slug: the form comes back with the environments typed and the message.
	run("create without slug", chromedp.SetValue(chromedp.CSS(`#create-workspace input[name=environments]`), "dev, staging, prod"),
		chromedp.SendKeys(chromedp.CSS(`#create-workspace input[name=name]`), "Analytics"),
		chromedp.Click(chromedp.CSS(`#create-workspace button`)))
	waitText("#create-workspace", "needs a slug")
	if kept := value(b, `#create-workspace input[name=environments]`); kept != "dev, staging, prod" {
		t.Fatalf("the refused form kept %q", kept)
	}
	shot("21-workspace-create-refused")
	run("create", chromedp.SendKeys(chromedp.CSS(`#create-workspace input[name=slug]`), "analytics"),
		chromedp.Click(chromedp.CSS(`#create-workspace button`)))
	waitText(".flash", "workspace was created")
	must(text("#environments"), "staging", "environments")

	run("add environment", chromedp.SendKeys(chromedp.CSS(`#add-environment input[name=name]`), "sandbox"),
		chromedp.Click(chromedp.CSS(`#add-environment button`)))
	waitText(".flash", "end of the promotion path")
	envs := text("#environments")
	if strings.Index(envs, "prod") > strings.Index(envs, "sandbox") {
		t.Fatalf("sandbox is not last: %q", envs)
	}
	run("approval rule", chromedp.Click(chromedp.CSS(`#environments tr:nth-child(4) input[type=checkbox]`)),
		chromedp.SetValue(chromedp.CSS(`#environments tr:nth-child(4) input[name=approvals_required]`), "2"),
		chromedp.Click(chromedp.CSS(`#environments tr:nth-child(4) form.row button`)))
	waitText(".flash", "approval rule was saved")
	ws := s.API("GET", "/api/v1/workspaces/analytics", nil).Want(t, 200)
	if !strings.Contains(string(ws.Raw), `"name":"prod","position":2,"requires_approval":true,"approvals_required":2`) {
		t.Fatalf("approval rule: %s", ws.Raw)
	}

	// The promotion path: sandbox moved before prod, renamed, then deleted.
	run("move up", chromedp.Click(chromedp.CSS(`#environments tr:nth-child(5) .moves button`)))
	waitText(".flash", "promotion path was changed")
	if envs := text("#environments"); strings.Index(envs, "sandbox") > strings.Index(envs, "prod") {
		t.Fatalf("sandbox did not move before prod: %q", envs)
	}
	run("environment page", chromedp.Click(chromedp.CSS(`#environments tr:nth-child(4) .moves a`)))
	waitText("h1", "Environment sandbox")
	run("rename environment", chromedp.SetValue(chromedp.CSS(`#rename-environment input[name=name]`), "preview"),
		chromedp.Click(chromedp.CSS(`#rename-environment button`)))
	waitText(".flash", "environment was renamed")
	must(text("#environments"), "preview", "renamed environment")
	run("environment page again", chromedp.Click(chromedp.CSS(`#environments tr:nth-child(4) .moves a`)))
	waitText("#removes", "move up one place")
	shot("26-environment")
	run("delete environment", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText(".flash", "removed from the promotion path")
	if envs := text("#environments"); strings.Contains(envs, "preview") || !strings.Contains(envs, "prod") {
		t.Fatalf("after deleting preview: %q", envs)
	}

	run("space", chromedp.SendKeys(chromedp.CSS(`#add-space input[name=name]`), "finance"),
		chromedp.Click(chromedp.CSS(`#add-space button`)))
	waitText(".flash", "space was created")
	run("assign", chromedp.SetValue(chromedp.CSS(`#space-list select[name=group]`), mustGroupID(t, s)),
		chromedp.Click(chromedp.CSS(`#space-list form.row button`)))
	waitText(".flash", "now sees the space")
	must(text("#space-list"), "engineers", "space groups")

	// A grant: previewed (Ann gains viewer in staging), then made.
	run("grant", chromedp.SetValue(chromedp.CSS(`#add-grant select[name=group]`), mustGroupID(t, s)),
		chromedp.SetValue(chromedp.CSS(`#add-grant select[name=role]`), "viewer"),
		chromedp.Click(chromedp.CSS(`#add-grant input[value=staging]`)),
		chromedp.Click(chromedp.CSS(`#add-grant button`)))
	waitText("#preview", "gained")
	must(text("#preview table.roles"), "ann@acme.test", "grant preview")
	shot("23-grant-preview")
	if d := apiCheck(t, s, "analytics", "staging"); d != "deny" {
		t.Fatalf("the preview made the grant: %s", d)
	}
	run("confirm grant", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "grant was made")
	must(text("#grants"), "viewer", "grants")
	if d := apiCheck(t, s, "analytics", "staging"); d != "allow" {
		t.Fatalf("after the grant: %s", d)
	}
	if d := apiCheck(t, s, "analytics", "dev"); d != "deny" {
		t.Fatalf("the grant reaches beyond staging: %s", d)
	}
	shot("22-workspace")

	run("delete space", chromedp.Click(chromedp.CSS(`#space-list a[href$="/delete"]`)))
	waitText("#removes", "engineers no longer sees it")
	shot("24-space-delete")
	run("confirm space delete", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText(".flash", "space was deleted")

	run("delete workspace", chromedp.Navigate(base+"/admin/workspaces/analytics/delete"), chromedp.WaitVisible(chromedp.CSS(`#removes`)))
	must(text("#removes"), "1 grant(s)", "what deleting removes")
	must(text("#removes"), "3 environment(s)", "what deleting removes")
	run("wrong slug", chromedp.SendKeys(chromedp.CSS(`#confirm-delete input[name=confirm_slug]`), "analytic"), chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText("#confirm-delete", "Type the workspace's slug")
	shot("25-workspace-delete")
	s.API("GET", "/api/v1/workspaces/analytics", nil).Want(t, 200)
	run("right slug", chromedp.SetValue(chromedp.CSS(`#confirm-delete input[name=confirm_slug]`), "analytics"), chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText(".flash", "workspace was deleted")
	s.API("GET", "/api/v1/workspaces/analytics", nil).Want(t, 404)
}

// apiCheck asks whether Ann may view in ws's env.
func apiCheck(t *testing.T, s *site, ws, env string) string {
	t.Helper()
	return s.API("POST", "/api/v1/check", map[string]any{"user": "ann@acme.test", "workspace": ws, "environment": env, "action": "view"}).Want(t, 200).Str("decision")
}

// TestWorkspaceFormsRefuse: every workspace form refuses a POST without the CSRF
// token, a cross-site one, and people who may not (Ann: no Admin; Bob: Admin of
// another workspace); bad input gets a clear message, keeps what was typed and
// changes nothing. Both store backends.
func TestWorkspaceFormsRefuse(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, be))
		mkt := "/admin/workspaces/marketing"
		env := g.API("GET", "/api/v1/workspaces/marketing", nil).Want(t, 200).Body["environments"].([]any)[1].(map[string]any)["id"].(string)
		g.API("POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "finance"}).Want(t, 201)
		g.API("PUT", "/api/v1/workspaces/marketing/spaces/finance/groups/sales-admins", nil).Want(t, 204)
		state := g.apiState(t, "/api/v1/workspaces", "/api/v1/workspaces/marketing/spaces", "/api/v1/grants", "/api/v1/workspaces/marketing/spaces/finance/groups")
		grant := g.API("GET", "/api/v1/grants?workspace=marketing", nil).Want(t, 200).Items()[0]["id"].(string)
		forms := []struct {
			path string
			form url.Values
		}{
			{"/admin/workspaces", url.Values{"slug": {"x"}, "environments": {"dev"}}},
			{mkt + "/rename", url.Values{"name": {"Renamed"}}},
			{mkt + "/environments", url.Values{"name": {"qa"}}},
			{mkt + "/environments/" + env + "/approval", url.Values{"requires_approval": {"on"}, "approvals_required": {"1"}}},
			{mkt + "/delete", url.Values{"confirm_slug": {"marketing"}}},
			{mkt + "/environments/" + env + "/rename", url.Values{"name": {"prod"}}},
			{mkt + "/environments/" + env + "/move", url.Values{"position": {"0"}}},
			{mkt + "/environments/" + env + "/delete", nil},
			{mkt + "/spaces", url.Values{"name": {"hr"}}},
			{mkt + "/spaces/finance/assign", url.Values{"group": {"engineers"}}},
			{mkt + "/spaces/finance/unassign", url.Values{"group": {"sales-admins"}, "confirm": {"yes"}}},
			{mkt + "/spaces/finance/delete", nil},
			{mkt + "/grants", url.Values{"group": {"engineers"}, "role": {"viewer"}, "confirm": {"yes"}}},
			{"/admin/grants/" + grant + "/delete", url.Values{"confirm": {"yes"}}},
		}
		for _, f := range forms {
			g.refused(t, f.path, f.form, state, g.ann, g.bob)
		}
		// Carol, Admin of marketing, may not create or delete workspaces.
		g.refused(t, "/admin/workspaces", url.Values{"slug": {"x"}, "environments": {"dev"}}, state, g.carol)
		g.refused(t, mkt+"/delete", url.Values{"confirm_slug": {"marketing"}}, state, g.carol)
		// Bob does not even learn that marketing exists.
		if st, _ := g.bob.get(mkt); st != http.StatusNotFound {
			t.Errorf("bob GET %s: %d, want 404", mkt, st)
		}

		g.badInput(t, g.admin, "/admin/workspaces", url.Values{"name": {"Kept Name"}, "environments": {"dev"}}, 422, "needs a slug", "Kept Name", state)
		g.badInput(t, g.admin, "/admin/workspaces", url.Values{"slug": {"fresh"}, "environments": {" , "}}, 422, "at least one environment", "fresh", state)
		g.badInput(t, g.admin, "/admin/workspaces", url.Values{"slug": {"marketing"}, "environments": {"dev"}}, 409, "already exists", "marketing", state)
		g.badInput(t, g.admin, "/admin/workspaces", url.Values{"slug": {"Not A Slug!"}, "environments": {"dev"}}, 422, "slug", "Not A Slug!", state)
		g.badInput(t, g.admin, mkt+"/rename", url.Values{"name": {"  "}}, 422, "needs a name", "", state)
		g.badInput(t, g.admin, mkt+"/environments", url.Values{"name": {"production"}}, 409, "already has an environment", "production", state)
		g.badInput(t, g.admin, mkt+"/environments/"+env+"/approval", url.Values{"approvals_required": {"99"}}, 422, "from 1 to", "99", state)
		g.badInput(t, g.admin, mkt+"/delete", url.Values{"confirm_slug": {"marketin"}}, 422, "Type the workspace", "marketin", state)
		dev := g.API("GET", "/api/v1/workspaces/marketing", nil).Want(t, 200).Body["environments"].([]any)[0].(map[string]any)["id"].(string)
		g.badInput(t, g.admin, mkt+"/environments/"+env+"/rename", url.Values{"name": {"development"}}, 409, "already has an environment", "development", state)
		g.badInput(t, g.admin, mkt+"/environments/"+env+"/rename", url.Values{"name": {"Not Valid"}}, 422, "not valid", "Not Valid", state)
		g.badInput(t, g.admin, mkt+"/environments/"+env+"/move", url.Values{"position": {"9"}}, 422, "no place", "", state)
		g.badInput(t, g.admin, mkt+"/environments/"+dev+"/delete", nil, 422, "still holds 2 resources", "", state)
		if st, body := g.admin.get(mkt + "/environments/" + dev); st != 200 || !strings.Contains(body, "cannot be deleted yet") || !strings.Contains(body, "the grant of editor to engineers") {
			t.Errorf("development's page: %d", st)
		}
		if st, _ := g.bob.get(mkt + "/environments/" + dev); st != 404 {
			t.Errorf("bob GET development's page: %d", st)
		}
		g.badInput(t, g.admin, mkt+"/spaces", url.Values{"name": {"finance"}}, 409, "already has a space", "finance", state)
		g.badInput(t, g.admin, mkt+"/spaces/finance/assign", url.Values{"group": {"nobody"}}, 422, "no user group", "", state)
		g.badInput(t, g.admin, mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"owner"}}, 422, "neither a pre-built role", "", state)
		g.badInput(t, g.admin, mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"viewer"}, "environments": {"staging"}}, 422, "no environment", "", state)
		g.badInput(t, g.admin, mkt+"/grants", url.Values{"role": {"viewer"}}, 422, "Choose the user group", "", state)
		g.badInput(t, g.admin, mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"editor"}, "environments": {"development"}, "confirm": {"yes"}}, 409, "already has that role", "", state)
		// Taking a space away from a group asks first and changes nothing until confirmed.
		if st, body, _ := g.admin.post(mkt+"/spaces/finance/unassign", url.Values{"group": {"sales-admins"}}, false, nil); st != 200 || !strings.Contains(body, "stop seeing space finance") {
			t.Errorf("unassign without confirm: %d", st)
		}
		if after := g.API("GET", "/api/v1/workspaces/marketing/spaces/finance/groups", nil).Want(t, 200); !strings.Contains(string(after.Raw), "sales-admins") {
			t.Error("unassign without confirm took the space away")
		}
		// A space that still holds resources is not deleted; the page says why.
		g.API("PATCH", "/api/v1/workspaces/marketing/resources/source:s-1", map[string]any{"space": "finance"}).Want(t, 200)
		state2 := g.apiState(t, "/api/v1/workspaces/marketing/spaces", "/api/v1/workspaces/marketing/resources")
		g.badInput(t, g.admin, mkt+"/spaces/finance/delete", nil, 422, "still holds 1 resources", "", state2)
	})
}

// TestWorkspaceAdminManagesOwnWorkspace: Carol, Admin of marketing and no org
// admin, manages its spaces and grants from the pages (the authorizer decides, as
// for the API), and the org's four eyes turn her grant into a proposal. Both
// store backends.
func TestWorkspaceAdminManagesOwnWorkspace(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, be))
		mkt := "/admin/workspaces/marketing"
		if st, body := g.carol.get("/admin/workspaces"); st != 200 || !strings.Contains(body, "marketing") || strings.Contains(body, "sales") || strings.Contains(body, "create-workspace") {
			t.Fatalf("carol's workspaces: %d %s", st, body)
		}
		if st, body := g.carol.get(mkt); st != 200 || !strings.Contains(body, `id="add-grant"`) || strings.Contains(body, "Delete this workspace") {
			t.Fatalf("carol's marketing: %d", st)
		}
		if st, body := g.ann.get(mkt); st != 200 || strings.Contains(body, `id="add-grant"`) {
			t.Fatalf("ann's marketing (no forms): %d", st)
		}
		prod := g.API("GET", "/api/v1/workspaces/marketing", nil).Want(t, 200).Body["environments"].([]any)[1].(map[string]any)["id"].(string)
		if st, _, loc := g.carol.post(mkt+"/environments/"+prod+"/rename", url.Values{"name": {"live"}}, false, nil); st != 303 || !strings.Contains(loc, "environment-renamed") {
			t.Fatalf("carol renames production: %d %s", st, loc)
		}
		if st, _, loc := g.carol.post(mkt+"/spaces", url.Values{"name": {"hr"}}, false, nil); st != 303 || !strings.Contains(loc, "space-created") {
			t.Fatalf("carol creates a space: %d %s", st, loc)
		}
		st, body, _ := g.carol.post(mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"viewer"}}, false, nil)
		if st != 200 || !strings.Contains(body, `id="preview"`) || !strings.Contains(body, "ann@acme.test") {
			t.Fatalf("carol's grant preview: %d", st)
		}
		if st, _, loc := g.carol.post(mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"viewer"}, "confirm": {"yes"}}, false, nil); st != 303 || !strings.Contains(loc, "grant-created") {
			t.Fatalf("carol grants: %d %s", st, loc)
		}
		if n := len(g.API("GET", "/api/v1/grants?workspace=marketing", nil).Want(t, 200).Items()); n != 3 {
			t.Fatalf("marketing's grants after carol's: %d", n)
		}
		// Four eyes: the same kind of change is held as a proposal.
		g.API("PATCH", "/api/v1/org", map[string]any{"access_changes_require_approval": true}).Want(t, 200)
		st, body, _ = g.carol.post(mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"admin"}}, false, nil)
		if st != 200 || !strings.Contains(body, "Propose the change") {
			t.Fatalf("held preview: %d", st)
		}
		if st, _, loc := g.carol.post(mkt+"/grants", url.Values{"group": {"engineers"}, "role": {"admin"}, "confirm": {"yes"}}, false, nil); st != 303 || !strings.Contains(loc, "/admin/proposals/") || !strings.Contains(loc, "access-held") {
			t.Fatalf("held grant: %d %s", st, loc)
		}
		if n := len(g.API("GET", "/api/v1/grants?workspace=marketing", nil).Want(t, 200).Items()); n != 3 {
			t.Fatalf("a held grant was made: %d grants", n)
		}
	})
}

// value reads a form field's value in the browser.
func value(b *browser, sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}

// TestWorkspaceAdminInBrowser: Carol, Admin of marketing and no org admin, signs
// in and manages marketing from the pages in headless Chromium: she sees only the
// workspaces she has a role in, none of the org admins' pages, and creates a space
// and grants a role (previewed) there.
func TestWorkspaceAdminInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	carol := s.User("carol")
	s.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"development"}}).Want(t, 201)
	g := s.API("POST", "/api/v1/groups", map[string]any{"name": "marketing-admins"}).Want(t, 201)
	s.API("PUT", "/api/v1/groups/"+g.Str("id")+"/members/"+carol.ID, nil).Want(t, 204)
	s.API("POST", "/api/v1/grants", map[string]any{"group": "marketing-admins", "workspace": "marketing", "role": "admin"}).Want(t, 201)
	s.login.Set(sso.Identity{Subject: "carol-1", Email: "carol@acme.test", EmailVerified: true})
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "carol@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	if nav := text("header nav"); strings.Contains(nav, "Mappings") || !strings.Contains(nav, "Workspaces") {
		t.Fatalf("carol's navigation: %q", nav)
	}
	run("workspaces", chromedp.Navigate(base+"/admin/workspaces"), chromedp.WaitVisible(chromedp.CSS(`#workspaces`)))
	if ws := text("#workspaces"); !strings.Contains(ws, "marketing") || strings.Contains(ws, "sales") {
		t.Fatalf("carol's workspaces: %q", ws)
	}
	run("marketing", chromedp.Click(chromedp.CSS(`#workspaces a`)))
	waitText("h1", "Marketing")
	run("space", chromedp.SendKeys(chromedp.CSS(`#add-space input[name=name]`), "campaigns"), chromedp.Click(chromedp.CSS(`#add-space button`)))
	waitText(".flash", "space was created")
	run("assign", chromedp.SetValue(chromedp.CSS(`#space-list select[name=group]`), mustGroupID(t, s)),
		chromedp.Click(chromedp.CSS(`#space-list form.row button`)))
	waitText(".flash", "now sees the space")
	// Taking the space away asks first, saying what its members stop seeing.
	run("unassign", chromedp.Click(chromedp.CSS(`#space-list .chip button`)))
	waitText("#removes", "stop seeing space campaigns")
	shot("28-space-unassign")
	run("confirm unassign", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText(".flash", "no longer sees the space")
	run("grant", chromedp.SetValue(chromedp.CSS(`#add-grant select[name=group]`), mustGroupID(t, s)),
		chromedp.SetValue(chromedp.CSS(`#add-grant select[name=role]`), "viewer"),
		chromedp.Click(chromedp.CSS(`#add-grant input[value=production]`)),
		chromedp.Click(chromedp.CSS(`#add-grant button`)))
	waitText("#preview", "gained")
	run("confirm", chromedp.Click(chromedp.CSS(`#confirm button`)))
	waitText(".flash", "grant was made")
	must(text("#grants"), "(production)", "carol's grant")
	if html := outerHTML(b, "#grants"); strings.Contains(html, "/admin/groups/") {
		t.Fatal("carol's grants link to the org admins' group pages")
	}
	shot("27-workspace-admin")
	if d := s.Check("ann@acme.test", "view", "", "", "production"); d.Str("decision") != "allow" {
		t.Fatalf("ann after carol's grant: %s", d.Raw)
	}
	run("org page", chromedp.Navigate(base+"/admin/roles"), chromedp.WaitVisible(chromedp.CSS(`main`)))
	must(text("main"), "org admins", "carol on an org admins' page")
}

// outerHTML reads an element's HTML in the browser.
func outerHTML(b *browser, sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return v
}
