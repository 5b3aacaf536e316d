package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestResourcePagesInBrowser registers, renames, moves and deletes a resource
// from the pages in headless Chromium, with screenshots; a refused registration
// keeps what was typed.
func TestResourcePagesInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	s.API("POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "finance"}).Want(t, 201)
	run("open admin", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
	run("sign in", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	run("resources", chromedp.Navigate(base+"/admin/workspaces/marketing/resources"), chromedp.WaitVisible(chromedp.CSS(`#resources`)))
	must(text("#resources"), "Salesforce", "resources")
	shot("30-resources")

	run("register without id", chromedp.SetValue(chromedp.CSS(`#register select[name=type]`), "destination"),
		chromedp.SendKeys(chromedp.CSS(`#register input[name=name]`), "Braze"),
		chromedp.SetValue(chromedp.CSS(`#register select[name=environment]`), "production"),
		chromedp.Click(chromedp.CSS(`#register button`)))
	waitText("#register", "application's own id")
	if v := value(b, `#register input[name=name]`); v != "Braze" {
		t.Fatalf("refused registration kept name %q", v)
	}
	if v := value(b, `#register select[name=environment]`); v != "production" {
		t.Fatalf("refused registration kept environment %q", v)
	}
	shot("31-resource-register-refused")
	run("register", chromedp.SendKeys(chromedp.CSS(`#register input[name=id]`), "d-9"), chromedp.Click(chromedp.CSS(`#register button`)))
	waitText(".flash", "registered")
	must(text("#resources"), "d-9", "registered resource")
	s.API("GET", "/api/v1/workspaces/marketing/resources/destination:d-9", nil).Want(t, 200)

	run("open resource", chromedp.Click(chromedp.CSS(`#resources a[href$="/resources/`+resourceID(t, s, "destination:d-9")+`"]`)))
	waitText("h1", "d-9")
	run("move", chromedp.SetValue(chromedp.CSS(`#edit input[name=name]`), "Braze EU"),
		chromedp.SetValue(chromedp.CSS(`#edit select[name=environment]`), "development"),
		chromedp.SetValue(chromedp.CSS(`#edit select[name=space]`), "finance"),
		chromedp.Click(chromedp.CSS(`#edit button`)))
	waitText(".flash", "saved")
	must(text("dl.setup"), "finance", "moved resource")
	shot("32-resource")
	got := s.API("GET", "/api/v1/workspaces/marketing/resources/destination:d-9", nil).Want(t, 200)
	if got.Str("name") != "Braze EU" || got.Str("space_id") == "" {
		t.Fatalf("after the move: %s", got.Raw)
	}
	run("delete", chromedp.Click(chromedp.CSS(`a.danger-link`)))
	waitText("#removes", "not registered")
	shot("33-resource-delete")
	run("confirm delete", chromedp.Click(chromedp.CSS(`#confirm-delete button`)))
	waitText(".flash", "deleted")
	s.API("GET", "/api/v1/workspaces/marketing/resources/destination:d-9", nil).Want(t, 404)
}

func resourceID(t *testing.T, s *site, ref string) string {
	t.Helper()
	return s.API("GET", "/api/v1/workspaces/marketing/resources/"+ref, nil).Want(t, 200).Str("id")
}

// TestResourceFormsRefuse: the resource forms refuse a POST without the CSRF
// token, a cross-site one, Ann where core.Decide denies her (production, where
// she has no role; editing or deleting a source as Editor) and Bob (Admin of
// another workspace, who does not see marketing); bad input says what is wrong,
// keeps what was typed and changes nothing; Ann registers a model in
// development, which her Editor role allows. Both store backends.
func TestResourceFormsRefuse(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		g := newGoverned(t, newSiteOn(t, be))
		g.API("POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "finance"}).Want(t, 201)
		state := g.apiState(t, "/api/v1/workspaces/marketing/resources")
		rs := "/admin/workspaces/marketing/resources"
		s1 := rs + "/" + resourceID(t, g.site, "source:s-1")
		g.refused(t, rs, url.Values{"type": {"model"}, "id": {"m-2"}, "environment": {"production"}}, state, g.ann, g.bob)
		g.refused(t, s1, url.Values{"name": {"Renamed"}, "environment": {"development"}}, state, g.ann, g.bob)
		g.refused(t, s1+"/delete", nil, state, g.ann, g.bob)
		if st, _ := g.bob.get(s1); st != 404 {
			t.Errorf("bob GET %s: %d, want 404", s1, st)
		}

		g.badInput(t, g.admin, rs, url.Values{"id": {"x-1"}, "name": {"Typed"}}, 422, "Choose the resource", "Typed", state)
		g.badInput(t, g.admin, rs, url.Values{"type": {"model"}, "name": {"Typed"}}, 422, "own id", "Typed", state)
		g.badInput(t, g.admin, rs, url.Values{"type": {"model"}, "id": {"m-9"}, "environment": {"staging"}}, 422, "no environment", "m-9", state)
		g.badInput(t, g.admin, rs, url.Values{"type": {"model"}, "id": {"m-9"}, "space": {"hr"}}, 422, "no space", "m-9", state)
		g.badInput(t, g.admin, rs, url.Values{"type": {"source"}, "id": {"s-1"}}, 409, "already registered", "s-1", state)
		g.badInput(t, g.admin, s1, url.Values{"name": {"Kept"}, "space": {"hr"}}, 422, "no space", "Kept", state)

		// Ann may register a model in development: core.Decide allows her, the page does too.
		if st, _, loc := g.ann.post(rs, url.Values{"type": {"model"}, "id": {"m-2"}, "environment": {"development"}}, false, nil); st != 303 || !strings.Contains(loc, "resource-registered") {
			t.Fatalf("ann registers a model: %d %s", st, loc)
		}
		// Carol, Admin of marketing, renames and moves the source.
		if st, _, loc := g.carol.post(s1, url.Values{"name": {"SFDC"}, "environment": {"production"}, "space": {"finance"}}, false, nil); st != 303 || !strings.Contains(loc, "resource-saved") {
			t.Fatalf("carol moves s-1: %d %s", st, loc)
		}
		if got := g.API("GET", "/api/v1/workspaces/marketing/resources/source:s-1", nil).Want(t, 200); got.Str("name") != "SFDC" {
			t.Fatalf("after carol's move: %s", got.Raw)
		}
	})
}
