package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestMemberUserPageShowsOnlyVisibleWorkspaces: a member's own user page, in a
// real headless Chromium, names only the workspaces where they hold a role, in
// their access table and in the "why" form's workspace list alike; an org admin
// reading the same page sees every workspace (issue 9, finding 5: the form listed
// every workspace of the org to every member).
func TestMemberUserPageShowsOnlyVisibleWorkspaces(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t) // Ann: Editor of marketing, in development only
	s.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales-secret", "environments": []string{"production"}}).Want(t, 201)
	base := s.srv.URL
	page := base + "/admin/users/" + s.Ann.ID

	s.login.Set(sso.Identity{Subject: "sub-ann", Email: "ann@acme.test", EmailVerified: true})
	b.run("sign in as ann", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "ann@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#why`)))
	b.must(b.text("header .who"), "ann@acme.test", "signed-in header")
	options := b.text(`#why select[name=workspace]`)
	main := b.text("main")
	b.shot("30-member-own-page")
	if !strings.Contains(options, "marketing") {
		t.Fatalf("the why form lacks Ann's own workspace: %q", options)
	}
	if strings.Contains(options, "sales-secret") || strings.Contains(main, "sales-secret") {
		t.Fatalf("Ann's page names a workspace where she holds no role:\n%s", main)
	}

	// The answer to "why" about a workspace she cannot see is the same as about one
	// that does not exist.
	b.run("ask about hidden", chromedp.Navigate(page+"?action=view&workspace=sales-secret#answer"), chromedp.WaitVisible(chromedp.CSS(`#answer`)))
	hidden := strings.ReplaceAll(b.text("#answer"), "sales-secret", "X")
	b.run("ask about missing", chromedp.Navigate(page+"?action=view&workspace=no-such-ws#answer"), chromedp.WaitVisible(chromedp.CSS(`#answer`)))
	if missing := strings.ReplaceAll(b.text("#answer"), "no-such-ws", "X"); hidden != missing {
		t.Errorf("the why answer tells a hidden workspace from a missing one:\n%s\n%s", hidden, missing)
	}

	// An org admin reading Ann's page sees every workspace.
	b.run("sign out", chromedp.Navigate(base+"/sso/logout"), chromedp.WaitVisible(chromedp.CSS(`button[type=submit]`)),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	b.waitText("body", "signed out")
	s.login.Set(sso.Identity{Subject: "admin-1", Email: "admin@acme.test", EmailVerified: true})
	b.run("sign in as admin", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#why`)))
	b.must(b.text("header .who"), "admin@acme.test", "signed-in header")
	b.must(b.text(`#why select[name=workspace]`), "sales-secret", "the org admin's why form")
}
