package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/domains/domainstest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestDomainCLI: gatehouse domain list shows an org's domains with the TXT
// record to publish; domain verify asks the DNS server of --dns-resolver (a real
// one on loopback) and verifies only when the record is there; --operator
// verifies without DNS, audited as such; a domain another org verified is
// refused; domain require-verified sets the org's rule, audited.
func TestDomainCLI(t *testing.T) {
	t.Parallel()
	dns := domainstest.Start(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.example")
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "other", "--name", "Other", "--admin-email", "bob@other.example")
			mustRun(t, "token", "create", "--db", b.dsn, "--org", "acme", "--kind", "scim", "--name", "okta", "--external-url", "https://gh.acme.example",
				"--domain", b.name+"-acme.example")
			st := openTestStore(t, b.dsn)
			org, _ := st.GetOrg(ctx, "acme")
			other, _ := st.GetOrg(ctx, "other")
			dom := b.name + "-acme.example"

			out := mustRun(t, "domain", "list", "--db", b.dsn, "--org", "acme")
			m := regexp.MustCompile(`to verify, publish: (_gatehouse-challenge\.` + regexp.QuoteMeta(dom) + `) TXT "(gatehouse-verification=[0-9a-f]+)"`).FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, dom+"  unverified  used by: directory okta") || !strings.Contains(out, "require verified domains off") {
				t.Fatalf("domain list:\n%s", out)
			}
			verify := []string{"domain", "verify", "--db", b.dsn, "--org", "acme", "--domain", dom, "--dns-resolver", dns.Addr}
			_, _, err := gatehouse(t, verify...)
			wantErr(t, err, "--domain: no TXT record at "+m[1])
			dns.SetTXT(m[1], "gatehouse-verification=wrong")
			_, _, err = gatehouse(t, verify...)
			wantErr(t, err, `do not include "`+m[2]+`"`)
			if ds, _ := st.ListOrgDomains(ctx, org.ID); ds[0].Verified {
				t.Fatal("a refused verify verified")
			}
			dns.SetTXT(m[1], m[2])
			out = mustRun(t, verify...)
			if !strings.Contains(out, "email domain "+dom+" is verified for organization acme (by dns, gatehouse cli)") {
				t.Fatalf("verify:\n%s", out)
			}
			if out := mustRun(t, "domain", "list", "--db", b.dsn, "--org", "acme"); !strings.Contains(out, dom+"  verified by dns (gatehouse cli, ") || strings.Contains(out, "publish") {
				t.Fatalf("list after verify:\n%s", out)
			}

			// The operator's word: no DNS, audited as such; never over another org's verified domain.
			out = mustRun(t, "domain", "verify", "--db", b.dsn, "--org", "other", "--domain", "Other.Example", "--operator")
			if !strings.Contains(out, "email domain other.example is verified for organization other (by operator, gatehouse cli)") {
				t.Fatalf("operator verify:\n%s", out)
			}
			if es, _ := st.ListAudit(ctx, other.ID, store.AuditQuery{Action: "domain.verified"}); len(es) != 1 || es[0].Details["verified_by"] != "operator" {
				t.Fatalf("audit: %+v", es)
			}
			_, _, err = gatehouse(t, "domain", "verify", "--db", b.dsn, "--org", "acme", "--domain", "other.example", "--operator")
			wantErr(t, err, "--domain: email domain other.example is verified by another organization")
			for _, c := range []struct {
				args []string
				want string
			}{
				{[]string{"verify", "--org", "acme", "--domain", "not a domain", "--operator"}, `--domain: "not a domain" is not an email domain`},
				{[]string{"verify", "--org", "acme"}, "missing --domain"},
				{[]string{"verify", "--org", "nope", "--domain", "x.example", "--operator"}, `organization "nope" does not exist`},
				{[]string{"verify", "--org", "acme", "--domain", "x.example", "--dns-resolver", "1.2.3.4"}, "--dns-resolver \"1.2.3.4\": want host:port"},
				{[]string{"require-verified", "--org", "acme"}, "give --on or --off"},
			} {
				_, _, err := gatehouse(t, append([]string{"domain", c.args[0], "--db", b.dsn}, c.args[1:]...)...)
				wantErr(t, err, c.want)
			}

			out = mustRun(t, "domain", "require-verified", "--db", b.dsn, "--org", "acme", "--on")
			if !strings.Contains(out, "organization acme now requires verified domains") {
				t.Fatalf("require-verified:\n%s", out)
			}
			if o, _ := st.GetOrg(ctx, "acme"); !o.RequireVerifiedDomains {
				t.Fatal("the rule is not on")
			}
			if es, _ := st.ListAudit(ctx, org.ID, store.AuditQuery{Action: "org.update"}); len(es) != 1 || es[0].Details["require_verified_domains"] != true || es[0].Actor.Kind != core.ActorSystem {
				t.Fatalf("audit: %+v", es)
			}
			if out := mustRun(t, "domain", "list", "--db", b.dsn, "--org", "acme"); !strings.Contains(out, "require verified domains on") {
				t.Fatalf("list:\n%s", out)
			}
			mustRun(t, "domain", "require-verified", "--db", b.dsn, "--org", "acme", "--off")
			if o, _ := st.GetOrg(ctx, "acme"); o.RequireVerifiedDomains {
				t.Fatal("the rule is still on")
			}
		})
	}
}
