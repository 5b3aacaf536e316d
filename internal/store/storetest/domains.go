package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var domainTests = []test{
	{"Domains/ListVerifyAndTokens", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		b, _ := newOrg(t, s, "b")
		if ds := must[[]core.OrgDomain](t)(s.ListOrgDomains(ctx, o.ID)); len(ds) != 0 {
			t.Fatalf("a new org's domains = %+v", ds)
		}
		conn := newConnection(t, s, o.ID, "okta-sso", "acme.example", "corp.example")
		dir := newDirectory(t, s, o.ID, "okta")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, dir.ID, []string{"acme.example"}))

		ds := must[[]core.OrgDomain](t)(s.ListOrgDomains(ctx, o.ID))
		if len(ds) != 2 || ds[0].Domain != "acme.example" || ds[1].Domain != "corp.example" {
			t.Fatalf("domains = %+v", ds)
		}
		acme := ds[0]
		if acme.Status != core.DomainUnverified || acme.Verified || acme.VerifiedAt != nil || acme.Token == "" {
			t.Fatalf("acme.example = %+v", acme)
		}
		wantUsers := []core.Owner{{Kind: core.OwnerConnection, ID: conn, Name: "okta-sso"}, {Kind: core.OwnerDirectory, ID: dir.ID, Name: "okta"}}
		if !reflect.DeepEqual(acme.UsedBy, wantUsers) {
			t.Fatalf("acme.example used by %+v, want %+v", acme.UsedBy, wantUsers)
		}
		// The token is derived: the same at every read, different per domain and per org.
		if g := must[core.OrgDomain](t)(s.GetOrgDomain(ctx, o.ID, " ACME.example ")); g.Token != acme.Token || !reflect.DeepEqual(g.UsedBy, wantUsers) {
			t.Fatalf("GetOrgDomain = %+v", g)
		}
		if ds[1].Token == acme.Token {
			t.Fatal("two domains share a token")
		}
		fromB := must[core.OrgDomain](t)(s.GetOrgDomain(ctx, b.ID, "acme.example"))
		if fromB.Token == acme.Token || fromB.Token == "" || fromB.Status != core.DomainOtherOrg || len(fromB.UsedBy) != 0 {
			t.Fatalf("acme.example as b sees it = %+v", fromB)
		}
		if g := must[core.OrgDomain](t)(s.GetOrgDomain(ctx, b.ID, "free.example")); g.Status != core.DomainUnclaimed {
			t.Fatalf("free.example = %+v", g)
		}
		wantErr(t, second(s.GetOrgDomain(ctx, o.ID, "not a domain")), core.ErrInvalid)
		wantErr(t, second(s.ListOrgDomains(ctx, "missing")), core.ErrNotFound)

		// Verify: by DNS, who asked recorded; audited once; again is a no-op.
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.VerifyOrgDomain(ctx, adm, o.ID, "acme.example", "guess")) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.VerifyOrgDomain(ctx, adm, o.ID, "a@b.example", core.VerifiedByDNS)) })
		v := must[core.OrgDomain](t)(s.VerifyOrgDomain(ctx, adm, o.ID, "acme.example", core.VerifiedByDNS))
		if v.Status != core.DomainVerified || !v.Verified || v.VerifiedAt == nil || v.VerifiedBy != core.VerifiedByDNS ||
			v.VerifiedActor != adm.Name || !reflect.DeepEqual(v.UsedBy, wantUsers) || v.Token != acme.Token {
			t.Fatalf("verified = %+v", v)
		}
		again := must[core.OrgDomain](t)(s.VerifyOrgDomain(ctx, sys, o.ID, "acme.example", core.VerifiedByOperator))
		if again.VerifiedBy != core.VerifiedByDNS || again.VerifiedActor != adm.Name {
			t.Fatalf("verified again = %+v", again)
		}
		if e := audits(t, s, o.ID, "domain.verified"); len(e) != 1 || e[0].TargetID != "acme.example" || e[0].Details["verified_by"] != "dns" {
			t.Fatalf("domain.verified events = %+v", e)
		}
		// A verified domain another org can neither verify nor claim, and it sees so.
		if g := must[core.OrgDomain](t)(s.GetOrgDomain(ctx, b.ID, "acme.example")); g.Status != core.DomainOtherOrgVerified || g.Verified {
			t.Fatalf("acme.example as b sees it = %+v", g)
		}
		unchanged(t, s, b.ID, core.ErrConflict, func() error {
			return second(s.VerifyOrgDomain(ctx, adm, b.ID, "acme.example", core.VerifiedByOperator))
		})
		unchanged(t, s, b.ID, core.ErrConflict, func() error {
			return second(s.CreateSSOConnection(ctx, sys, oidcConnection(b.ID, "b-sso", "acme.example")))
		})
		// A verified domain stays the org's when nothing uses it any more.
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, dir.ID, nil))
		must[store.SSODeletion](t)(s.DeleteSSOConnection(ctx, adm, o.ID, conn))
		ds = must[[]core.OrgDomain](t)(s.ListOrgDomains(ctx, o.ID))
		if len(ds) != 1 || ds[0].Domain != "acme.example" || !ds[0].Verified || len(ds[0].UsedBy) != 0 {
			t.Fatalf("after the users went: %+v", ds)
		}
		// Verifying a domain nobody holds makes it the org's.
		n := must[core.OrgDomain](t)(s.VerifyOrgDomain(ctx, sys, b.ID, "free.example", core.VerifiedByOperator))
		if n.Status != core.DomainVerified || n.VerifiedBy != core.VerifiedByOperator || n.VerifiedActor != sys.Name {
			t.Fatalf("free.example = %+v", n)
		}
		if ds := must[[]core.OrgDomain](t)(s.ListOrgDomains(ctx, b.ID)); len(ds) != 1 || ds[0].Domain != "free.example" {
			t.Fatalf("b's domains = %+v", ds)
		}
	}},
	{"Domains/TakeOverAnUnverifiedClaim", func(t *testing.T, s subject) {
		// Squatting: acme claims a domain it cannot prove; the org that proves it
		// takes it over in one transaction, and acme's log says so.
		squatter, _ := newOrg(t, s, "squatter")
		owner, _ := newOrg(t, s, "owner")
		conn := newConnection(t, s, squatter.ID, "squat-sso", "owner.example", "keep.example")
		dir := newDirectory(t, s, squatter.ID, "squat-dir")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, squatter.ID, dir.ID, []string{"owner.example"}))
		before := must[core.OrgDomain](t)(s.GetOrgDomain(ctx, owner.ID, "owner.example"))
		if before.Status != core.DomainOtherOrg {
			t.Fatalf("before = %+v", before)
		}
		c0, err := s.GetSSOConnection(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		v := must[core.OrgDomain](t)(s.VerifyOrgDomain(ctx, adm, owner.ID, "owner.example", core.VerifiedByDNS))
		if v.Status != core.DomainVerified || len(v.UsedBy) != 0 {
			t.Fatalf("taken over = %+v", v)
		}
		if e := audits(t, s, owner.ID, "domain.verified"); len(e) != 1 || e[0].Details["taken_over"] != true {
			t.Fatalf("owner's domain.verified = %+v", e)
		}
		c1, err := s.GetSSOConnection(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c1.Domains, []string{"keep.example"}) || c1.Version != c0.Version+1 {
			t.Fatalf("squatter's connection after = %v v%d (was v%d)", c1.Domains, c1.Version, c0.Version)
		}
		if d := must[core.Directory](t)(s.GetDirectory(ctx, squatter.ID, dir.ID)); len(d.Domains) != 0 {
			t.Fatalf("squatter's directory kept %v", d.Domains)
		}
		lost := audits(t, s, squatter.ID, "domain.lost")
		if len(lost) != 1 || lost[0].TargetID != "owner.example" || lost[0].Actor.Kind != core.ActorSystem ||
			fmt.Sprint(lost[0].Details["connections"]) != "[squat-sso]" || fmt.Sprint(lost[0].Details["directories"]) != "[squat-dir]" {
			t.Fatalf("squatter's domain.lost = %+v", lost)
		}
		if ds := must[[]core.OrgDomain](t)(s.ListOrgDomains(ctx, squatter.ID)); len(ds) != 1 || ds[0].Domain != "keep.example" {
			t.Fatalf("squatter's domains = %+v", ds)
		}
		// The squatter can claim it back neither by a connection nor by verifying.
		unchanged(t, s, squatter.ID, core.ErrConflict, func() error {
			_, err := s.UpdateSSOConnection(ctx, adm, squatter.ID, conn, func(c *store.SSOConnection) error {
				c.Domains = append(c.Domains, "owner.example")
				return nil
			})
			return err
		})
		unchanged(t, s, squatter.ID, core.ErrConflict, func() error {
			return second(s.VerifyOrgDomain(ctx, sys, squatter.ID, "owner.example", core.VerifiedByOperator))
		})
		// The owner may now route it.
		newConnection(t, s, owner.ID, "owner-sso", "owner.example")
	}},
	{"Domains/TrustedDomainsAndTheSetting", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		b, _ := newOrg(t, s, "b")
		newConnection(t, s, o.ID, "sso", "a.example", "v.example")
		newConnection(t, s, b.ID, "b-sso", "b.example")
		must[core.OrgDomain](t)(s.VerifyOrgDomain(ctx, adm, o.ID, "v.example", core.VerifiedByDNS))
		all := []string{"a.example", "b.example", "v.example", "none.example"}
		if got := must[[]string](t)(s.TrustedDomains(ctx, o.ID, all)); !reflect.DeepEqual(got, []string{"a.example", "v.example"}) {
			t.Fatalf("trusted, not required = %v", got)
		}
		if o.RequireVerifiedDomains {
			t.Fatal("a new org requires verified domains")
		}
		up := must[core.Org](t)(s.UpdateOrg(ctx, adm, o.ID, func(org *core.Org) error { org.RequireVerifiedDomains = true; return nil }))
		if !up.RequireVerifiedDomains || up.Version != o.Version+1 {
			t.Fatalf("updated = %+v", up)
		}
		if g := must[core.Org](t)(s.GetOrg(ctx, o.ID)); !g.RequireVerifiedDomains {
			t.Fatalf("read back = %+v", g)
		}
		if e := audits(t, s, o.ID, "org.update"); len(e) != 1 || e[0].Details["require_verified_domains"] != true {
			t.Fatalf("org.update = %+v", e)
		}
		if got := must[[]string](t)(s.TrustedDomains(ctx, o.ID, all)); !reflect.DeepEqual(got, []string{"v.example"}) {
			t.Fatalf("trusted, required = %v", got)
		}
		if got := must[[]string](t)(s.TrustedDomains(ctx, b.ID, all)); !reflect.DeepEqual(got, []string{"b.example"}) {
			t.Fatalf("b's trusted = %v", got)
		}
		if got := must[[]string](t)(s.TrustedDomains(ctx, o.ID, nil)); got == nil || len(got) != 0 {
			t.Fatalf("none = %#v", got)
		}
	}},
	{"Domains/RacingVerifiers", func(t *testing.T, s subject) {
		// Several orgs verify the same unclaimed domain at once: exactly one wins,
		// the others are refused, and the domain is the winner's.
		const n = 6
		orgs := make([]core.Org, n)
		for i := range orgs {
			orgs[i], _ = newOrg(t, s, fmt.Sprintf("o%d", i))
			newConnection(t, s, orgs[i].ID, "sso", fmt.Sprintf("o%d.example", i))
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range orgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.VerifyOrgDomain(ctx, adm, orgs[i].ID, "race.example", core.VerifiedByDNS)
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("orgs %d and %d both verified race.example", winner, i)
			case !errors.Is(err, core.ErrConflict):
				t.Fatalf("org %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("nobody verified race.example")
		}
		if g := must[core.OrgDomain](t)(s.GetOrgDomain(ctx, orgs[winner].ID, "race.example")); g.Status != core.DomainVerified {
			t.Fatalf("winner sees %+v", g)
		}
	}},
}
