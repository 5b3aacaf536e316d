package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestDomainsPageInBrowser drives the Domains page in headless Chromium: an org
// admin reaches it from the nav and sees the SSO connection's domain, not
// verified, with the TXT record to publish; Verify before the record exists is
// refused next to the domain, saying what to publish, and changes nothing; once
// the DNS server on loopback answers the record, Verify makes it verified; a
// domain the org does not hold is looked up with its own record; the
// require-verified setting is saved and audited.
func TestDomainsPageInBrowser(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	run, shot, text, waitText, must := b.run, b.shot, b.text, b.waitText, b.must
	base := s.srv.URL
	ctx := context.Background()
	row := `tr[id="domain-acme.test"]`

	run("sign in", chromedp.Navigate(base+"/admin/"), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "admin@acme.test"), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`header .who`)))
	run("nav", chromedp.Click(chromedp.CSS(`nav a[href="/admin/domains"]`)), chromedp.WaitVisible(chromedp.CSS(`#domains`)))
	r := text(row)
	must(r, "not verified", "state")
	must(r, "connection Okta OIDC", "used by")
	must(r, "_gatehouse-challenge.acme.test", "record name")
	value := strings.TrimSpace(text(row + " .record-value"))
	if !strings.HasPrefix(value, "gatehouse-verification=") {
		t.Fatalf("record value %q", value)
	}
	shot("domains-01-list")

	run("verify, nothing published", chromedp.Click(chromedp.CSS(row+` button`)))
	waitText(row+" .field-error", "No TXT record at _gatehouse-challenge.acme.test")
	must(text(".flash.error"), "Nothing was changed", "flash")
	if ds, _ := s.St.ListOrgDomains(ctx, s.Org.ID); ds[0].Verified {
		t.Fatal("a refused verify verified the domain")
	}
	shot("domains-02-refused")

	s.dns.SetTXT("_gatehouse-challenge.acme.test", value)
	run("verify, published", chromedp.Click(chromedp.CSS(row+` button`)))
	waitText(".flash", "The domain is verified")
	must(text(row), "verified by dns (admin@acme.test", "state after verify")
	shot("domains-03-verified")

	run("look up another", chromedp.SendKeys(chromedp.CSS(`#lookup-domain input[name=domain]`), "Other.Test"),
		chromedp.Click(chromedp.CSS(`#lookup-domain button`)))
	other := waitText(`tr[id="domain-other.test"]`, "_gatehouse-challenge.other.test")
	must(other, "not yours yet", "an unclaimed domain")

	run("require verified", chromedp.Click(chromedp.CSS(`#domain-settings input[name=require_verified_domains]`)),
		chromedp.Click(chromedp.CSS(`#domain-settings button`)))
	waitText(".flash", "The setting was saved")
	if o, _ := s.St.GetOrg(ctx, s.Org.ID); !o.RequireVerifiedDomains {
		t.Fatal("the setting was not saved")
	}
	shot("domains-04-required")
}

// TestDomainPagesAreGuarded: a member who is not an org admin gets 403 from the
// Domains page and its forms, a form without the CSRF token is refused, and
// neither changes anything; a malformed domain is refused next to the field.
func TestDomainPagesAreGuarded(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, be storetest.Backend) {
		s := newSiteOn(t, be)
		base := s.srv.URL
		ctx := context.Background()
		if _, err := s.St.CreateUser(ctx, core.Actor{Kind: core.ActorSystem}, core.User{OrgID: s.Org.ID, UserName: "mem@acme.test",
			Email: "mem@acme.test", Active: true, Source: core.SourceInvited}); err != nil {
			t.Fatal(err)
		}
		admin, csrf := formClient(t, s, "admin@acme.test")
		member, mcsrf := formClient(t, s, "mem@acme.test")
		state := func() string {
			ds, _ := s.St.ListOrgDomains(ctx, s.Org.ID)
			o, _ := s.St.GetOrg(ctx, s.Org.ID)
			var b strings.Builder
			for _, d := range ds {
				b.WriteString(d.Domain + " " + d.Status + ";")
			}
			b.WriteString(map[bool]string{true: "required", false: "not required"}[o.RequireVerifiedDomains])
			return b.String()
		}
		before, audits := state(), auditCount(t, s)
		s.dns.SetTXT("_gatehouse-challenge.acme.test", "gatehouse-verification=whatever")
		for _, c := range []struct {
			client *http.Client
			path   string
			form   url.Values
			status int
		}{
			{member, "/admin/domains/acme.test/verify", url.Values{"csrf": {mcsrf}}, 403},
			{member, "/admin/domains/settings", url.Values{"csrf": {mcsrf}, "require_verified_domains": {"on"}}, 403},
			{admin, "/admin/domains/settings", url.Values{"require_verified_domains": {"on"}}, 403},
			{admin, "/admin/domains/acme.test/verify", url.Values{"csrf": {csrf}}, 422},
		} {
			if code, body := postForm(t, c.client, base+c.path, c.form); code != c.status {
				t.Errorf("POST %s: %d, want %d: %.300s", c.path, code, c.status, body)
			}
		}
		if state() != before || auditCount(t, s) != audits {
			t.Fatalf("a refused form changed something: %s → %s", before, state())
		}
		res, err := member.Get(base + "/admin/domains")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("member GET /admin/domains: %d", res.StatusCode)
		}
		res, err = admin.Get(base + "/admin/domains?domain=" + url.QueryEscape("not a domain"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 422 {
			t.Errorf("a malformed lookup: %d", res.StatusCode)
		}
	})
}
