package api_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestDomainsAPI: GET /api/v1/domains lists the org's domains with the TXT
// record to publish; POST /api/v1/domains/{domain}/verify asks a real DNS server
// on loopback and verifies the domain only when the record is there. A missing
// or wrong record, a server that does not answer, a malformed domain and another
// org's verified domain are problem+json naming the field, and change nothing.
// An org that proves a domain another org holds unverified takes it over. The
// org's require_verified_domains is set through PATCH /api/v1/org. Org admins only.
func TestDomainsAPI(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e, dns := apitest.NewDomainsEnv(t, b)
		ctx := context.Background()
		sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
		e.API("POST", "/api/v1/directories", map[string]any{"name": "okta"}).Want(t, 201)
		e.API("PATCH", "/api/v1/directories/okta", map[string]any{"domains": []string{"acme.example", "corp.example"}}).Want(t, 200)

		l := e.API("GET", "/api/v1/domains", nil).Want(t, 200)
		items := l.Items()
		if len(items) != 2 || items[0]["domain"] != "acme.example" || items[0]["status"] != "unverified" || items[0]["verified"] != false {
			t.Fatalf("list: %s", l.Raw)
		}
		rec := items[0]["record"].(map[string]any)
		value, _ := rec["value"].(string)
		if rec["name"] != "_gatehouse-challenge.acme.example" || rec["type"] != "TXT" || !strings.HasPrefix(value, "gatehouse-verification=") || len(value) < 40 {
			t.Fatalf("record: %v", rec)
		}
		if u := items[0]["used_by"].([]any); len(u) != 1 || u[0].(map[string]any)["kind"] != "directory" || u[0].(map[string]any)["name"] != "okta" {
			t.Fatalf("used_by: %v", u)
		}
		if g := e.API("GET", "/api/v1/domains/ACME.example", nil).Want(t, 200); !reflect.DeepEqual(g.Body["record"], items[0]["record"]) {
			t.Fatalf("get: %s", g.Raw)
		}

		state := func() string {
			l := e.API("GET", "/api/v1/domains", nil).Want(t, 200)
			a := e.API("GET", "/api/v1/audit?limit=1000", nil).Want(t, 200)
			return string(l.Raw) + "\n" + string(a.Raw)
		}
		refused := func(path string, status int, detail string) {
			t.Helper()
			before := state()
			r := e.API("POST", path, nil)
			if r.Status != status || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Str("detail"), detail) {
				t.Fatalf("POST %s: %d %s", path, r.Status, r.Raw)
			}
			if after := state(); after != before {
				t.Fatalf("POST %s changed something:\n%s\n%s", path, before, after)
			}
		}
		// Nothing published, a wrong record, a server that does not answer.
		refused("/api/v1/domains/acme.example/verify", 422, "domain: no TXT record at _gatehouse-challenge.acme.example: publish")
		dns.SetTXT("_gatehouse-challenge.acme.example", "gatehouse-verification=not-ours")
		refused("/api/v1/domains/acme.example/verify", 422, `"gatehouse-verification=not-ours"`)
		dns.SetTXT("_gatehouse-challenge.acme.example", value)
		dns.Silence(true)
		refused("/api/v1/domains/acme.example/verify", 422, "failed (timed out); nothing was changed")
		dns.Silence(false)
		refused("/api/v1/domains/not%20a%20domain/verify", 422, "domain: ")

		// The right record: verified by DNS, audited.
		v := e.API("POST", "/api/v1/domains/acme.example/verify", nil).Want(t, 200)
		if v.Body["status"] != "verified" || v.Body["verified"] != true || v.Body["verified_by"] != "dns" || v.Str("verified_at") == "" {
			t.Fatalf("verified: %s", v.Raw)
		}
		if a := e.API("GET", "/api/v1/audit?action=domain.verified", nil).Want(t, 200); len(a.Items()) != 1 {
			t.Fatalf("audit: %s", a.Raw)
		}

		// Squatting: another org claimed owner.example without proof; proving it takes it over.
		other, _, err := e.St.CreateOrg(ctx, sys, "other", "Other", "admin@other.example")
		if err != nil {
			t.Fatal(err)
		}
		od, err := e.St.CreateDirectory(ctx, sys, other.ID, "other-okta")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.SetDirectoryDomains(ctx, sys, other.ID, od.ID, []string{"owner.example", "theirs.example"}); err != nil {
			t.Fatal(err)
		}
		e.API("PATCH", "/api/v1/directories/okta", map[string]any{"domains": []string{"owner.example"}}).Want(t, 409)
		g := e.API("GET", "/api/v1/domains/owner.example", nil).Want(t, 200)
		if g.Body["status"] != "claimed_by_another_org" || len(g.Body["used_by"].([]any)) != 0 {
			t.Fatalf("another org's domain: %s", g.Raw)
		}
		dns.SetTXT("_gatehouse-challenge.owner.example", g.Body["record"].(map[string]any)["value"].(string))
		if v := e.API("POST", "/api/v1/domains/owner.example/verify", nil).Want(t, 200); v.Body["status"] != "verified" {
			t.Fatalf("taken over: %s", v.Raw)
		}
		if d, err := e.St.GetDirectory(ctx, other.ID, od.ID); err != nil || !reflect.DeepEqual(d.Domains, []string{"theirs.example"}) {
			t.Fatalf("other's directory after the takeover: %v %v", d.Domains, err)
		}
		e.API("PATCH", "/api/v1/directories/okta", map[string]any{"domains": []string{"owner.example"}}).Want(t, 200)
		// A domain another org verified cannot be taken, even with a record.
		if _, err := e.St.VerifyOrgDomain(ctx, sys, other.ID, "theirs.example", core.VerifiedByOperator); err != nil {
			t.Fatal(err)
		}
		g = e.API("GET", "/api/v1/domains/theirs.example", nil).Want(t, 200)
		dns.SetTXT("_gatehouse-challenge.theirs.example", g.Body["record"].(map[string]any)["value"].(string))
		refused("/api/v1/domains/theirs.example/verify", 409, "domain: email domain theirs.example is verified by another organization")

		// The setting.
		o := e.API("GET", "/api/v1/org", nil).Want(t, 200)
		if o.Body["require_verified_domains"] != false {
			t.Fatalf("org: %s", o.Raw)
		}
		if o := e.API("PATCH", "/api/v1/org", map[string]any{"require_verified_domains": true}).Want(t, 200); o.Body["require_verified_domains"] != true {
			t.Fatalf("patched: %s", o.Raw)
		}
		if a := e.API("GET", "/api/v1/audit?action=org.update", nil).Want(t, 200); len(a.Items()) != 1 ||
			a.Items()[0]["details"].(map[string]any)["require_verified_domains"] != true {
			t.Fatalf("audit: %s", a.Raw)
		}
		e.API("PATCH", "/api/v1/org?dry_run=true", map[string]any{"require_verified_domains": false}).Want(t, 400)

		// Members are not org admins.
		m := e.Session(e.User("member"))
		for _, c := range [][2]string{{"GET", "/api/v1/domains"}, {"GET", "/api/v1/domains/acme.example"}, {"POST", "/api/v1/domains/corp.example/verify"}} {
			if r := apitest.Call(t, e.Srv.URL, c[0], c[1], nil, m); r.Status != 403 {
				t.Fatalf("member %s %s: %d %s", c[0], c[1], r.Status, r.Raw)
			}
		}
	})
}
