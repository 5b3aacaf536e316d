package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestGroupPagesInBrowser creates, renames and deletes a user group in headless
// Chromium: a refused create keeps the description, the delete page says which
// mappings and grants go, and checks follow. Screenshots of each page.
func TestGroupPagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	run("groups", chromedp.Navigate(base+"/admin/groups"), chromedp.WaitVisible(chromedp.CSS(`#create-group`)))
	run("create taken name", chromedp.SendKeys(chromedp.CSS(`#create-group input[name=name]`), "engineers"),
		chromedp.SendKeys(chromedp.CSS(`#create-group input[name=description]`), "kept words"),
		chromedp.Click(chromedp.CSS(`#create-group button`)))
	waitText("#create-group", "already exists")
	if v := value(b, `#create-group input[name=description]`); v != "kept words" {
		t.Fatalf("the refused form kept %q", v)
	}
	shot("60-group-create-refused")
	run("rename", chromedp.Navigate(base+"/admin/groups/engineers"), chromedp.WaitVisible(chromedp.CSS(`#edit-group`)),
		chromedp.SetValue(chromedp.CSS(`#edit-group input[name=name]`), "data-engineers"),
		chromedp.Click(chromedp.CSS(`#edit-group button`)))
	waitText(".flash", "group was saved")
	must(text("h1"), "data-engineers", "renamed group")
	run("delete", chromedp.Click(chromedp.CSS(`#edit-group a.danger-link`)))
	waitText("#removes", "IdP group Data Eng")
	must(text("#removes"), "editor in marketing (development)", "what deleting removes")
	shot("61-group-delete")
	run("confirm delete", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText(".flash", "group was deleted")
	s.API("GET", "/api/v1/groups/data-engineers", nil).Want(t, 404)
	if d := s.Check("ann@acme.test", "view", "model", "m-1", "development"); d.Str("decision") != "deny" {
		t.Fatalf("after deleting the group: %s", d.Raw)
	}
}

// TestGroupFormsRefuse: creating, renaming and deleting a group are refused
// without the CSRF token, cross-site, and to everyone but org admins; bad input
// says what is wrong, keeps what was typed and changes nothing. Both backends.
func TestGroupFormsRefuse(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, be))
		state := g.apiState(t, "/api/v1/groups", "/api/v1/mappings", "/api/v1/grants")
		grp := "/admin/groups/" + mustGroupID(t, g.site)
		g.refused(t, "/admin/groups", url.Values{"name": {"new"}}, state, g.ann, g.bob, g.carol)
		g.refused(t, grp, url.Values{"name": {"renamed"}}, state, g.ann, g.bob, g.carol)
		g.refused(t, grp+"/delete", nil, state, g.ann, g.bob, g.carol)
		g.badInput(t, g.admin, "/admin/groups", url.Values{"description": {"Typed"}}, 422, "needs a name", "Typed", state)
		g.badInput(t, g.admin, "/admin/groups", url.Values{"name": {"engineers"}}, 409, "already exists", "engineers", state)
		g.badInput(t, g.admin, grp, url.Values{"name": {" "}, "description": {"Typed"}}, 422, "needs a name", "Typed", state)
		g.badInput(t, g.admin, grp, url.Values{"name": {"sales-admins"}}, 409, "already exists", "sales-admins", state)
		if st, body := g.admin.get(grp + "/delete"); st != 200 || !strings.Contains(body, "Data Eng") {
			t.Fatalf("delete page: %d", st)
		}
	})
}
