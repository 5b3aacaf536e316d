package storetest

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// adoptionTests: a directory's create of a userName the org already has adopts
// that user when the directory may (a local or connection-owned user, the userName
// in one of its domains, verified ones when the org requires them): same id, the
// directory as owner, the request's attributes, one user.adopted event. Every other
// collision is core.ErrConflict with nothing changed.
var adoptionTests = []test{
	{"Adoption/LocalAdmin", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme") // admin@acme.example.com, local, org admin
		d := newDirectory(t, s, o.ID, "okta")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"acme.example.com"}))
		users, g := must[int](t)(s.CountUsers(ctx, o.ID)), gen(t, s, o.ID)

		in := scimUser(o.ID, d.ID, "Admin@ACME.example.com")
		in.GivenName, in.FamilyName, in.DisplayName, in.ExternalID = "Ada", "Admin", "Ada Admin", "00u1okta"
		in.Email, in.Emails = "ada.admin@acme.example.com", []store.SCIMEmail{{Value: "ada.admin@acme.example.com", Type: "work", Primary: true}}
		in.Doc = []byte(`{"userName":"Admin@ACME.example.com","externalId":"00u1okta"}`)
		got := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), in))
		if got.ID != admin.ID || got.Owner != (core.Owner{Kind: core.OwnerDirectory, ID: d.ID, Name: "okta"}) || got.Source != core.SourceSCIM {
			t.Fatalf("adopted: %+v", got)
		}
		if got.UserName != "Admin@ACME.example.com" || got.ExternalID != "00u1okta" || got.GivenName != "Ada" || got.Email != "ada.admin@acme.example.com" ||
			got.Version != admin.Version+1 || !got.CreatedAt.Equal(admin.CreatedAt) {
			t.Fatalf("the request's attributes were not applied as a create's: %+v", got)
		}
		if n := must[int](t)(s.CountUsers(ctx, o.ID)); n != users {
			t.Fatalf("adoption made a user: %d → %d", users, n)
		}
		if after := gen(t, s, o.ID); after != g+1 {
			t.Fatalf("generation %d → %d, want one change", g, after)
		}
		ev := audits(t, s, o.ID, "user.adopted")
		if len(ev) != 1 || ev[0].TargetID != admin.ID || ev[0].Actor.ID != d.ID ||
			ev[0].Details["from"].(map[string]any)["kind"] != "local" || ev[0].Details["owner"].(map[string]any)["id"] != d.ID {
			t.Fatalf("user.adopted events: %+v", ev)
		}
		if n := len(audits(t, s, o.ID, "user.create")); n != 1 { // the org's admin only
			t.Fatalf("%d user.create events", n)
		}
		// The directory now reads and manages its user; the admin stays admin.
		read := must[store.SCIMUser](t)(s.SCIMGetUser(ctx, o.ID, d.ID, admin.ID))
		if read.Version != got.Version || read.Email != "ada.admin@acme.example.com" || string(read.Doc) != string(in.Doc) {
			t.Fatalf("read back: %+v", read)
		}
		if !must[bool](t)(s.IsOrgAdmin(ctx, o.ID, admin.ID)) {
			t.Fatal("the adopted admin lost the org admin role")
		}
		// The same POST again is a plain duplicate.
		unchangedUser(t, s, o.ID, admin.ID, func() error { return second(s.SCIMCreateUser(ctx, scimActor(d), in)) })
	}},
	{"Adoption/ConnectionOwnedAndDeactivated", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"acme.example.com"}))
		conn := newConnection(t, s, o.ID, "google", "acme.example.com")
		jit := must[core.User](t)(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "jo@acme.example.com", Email: "jo@acme.example.com", Active: true,
			Source: core.SourceSSO, ConnectionID: conn}))
		got := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, "jo@acme.example.com")))
		if got.ID != jit.ID || got.Owner.Kind != core.OwnerDirectory || got.ConnectionID != "" {
			t.Fatalf("adopted from the connection: %+v", got)
		}
		if ev := audits(t, s, o.ID, "user.adopted"); len(ev) != 1 || ev[0].Details["from"].(map[string]any)["name"] != "google" {
			t.Fatalf("events: %+v", ev)
		}
		// A deactivated local user: the IdP is authoritative, its active applies.
		off := newUser(t, s, o.ID, "max@acme.example.com")
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, off.ID, func(u *core.User) error { u.Active = false; return nil }))
		if got := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, "max@acme.example.com"))); got.ID != off.ID || !got.Active {
			t.Fatalf("a deactivated local user posted active: %+v", got)
		}
		still := newUser(t, s, o.ID, "rita@acme.example.com")
		in := scimUser(o.ID, d.ID, "rita@acme.example.com")
		in.Active = false
		if got := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), in)); got.ID != still.ID || got.Active {
			t.Fatalf("a local user posted inactive: %+v", got)
		}
		// The org's only admin posted inactive: the owning directory may, and says so.
		solo, soloAdmin := newOrg(t, s, "solo")
		sd := newDirectory(t, s, solo.ID, "okta")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, solo.ID, sd.ID, []string{"solo.example.com"}))
		in = scimUser(solo.ID, sd.ID, "admin@solo.example.com")
		in.Active = false
		if got := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(sd), in)); got.ID != soloAdmin.ID || got.Active {
			t.Fatalf("the last admin posted inactive: %+v", got)
		}
		if ev := audits(t, s, solo.ID, "user.adopted"); len(ev) != 1 || ev[0].Details["last_admin"] != true {
			t.Fatalf("the last admin's adoption: %+v", ev)
		}
	}},
	{"Adoption/Refusals", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		d2 := newDirectory(t, s, o.ID, "entra")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"acme.example.com"}))
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d2.ID, []string{"entra.example.com"}))
		olga := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d2), scimUser(o.ID, d2.ID, "olga@acme.example.com")))
		ada := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, "ada@acme.example.com")))
		eve := newUser(t, s, o.ID, "eve@elsewhere.example.com")
		bob := newUser(t, s, o.ID, "bob")
		for _, c := range []struct {
			name, userName, user string
			dir                  core.Directory
		}{
			{"another directory's user, in this one's domain", "olga@acme.example.com", olga.ID, d},
			{"the directory's own user again", "ADA@acme.example.com", ada.ID, d},
			{"a local user outside the directory's domains", "eve@elsewhere.example.com", eve.ID, d},
			{"a local userName that is no address", "bob", bob.ID, d},
			{"a directory whose domains are others", "admin@acme.example.com", admin.ID, d2},
		} {
			t.Run(c.name, func(t *testing.T) {
				unchangedUser(t, s, o.ID, c.user, func() error {
					return second(s.SCIMCreateUser(ctx, scimActor(c.dir), scimUser(o.ID, c.dir.ID, c.userName)))
				})
			})
		}
		// Connections adopt only local users, and only by their domains.
		conn := newConnection(t, s, o.ID, "google", "acme.example.com")
		for _, id := range []string{ada.ID, olga.ID} {
			unchangedUser(t, s, o.ID, id, func() error {
				return second(s.AdoptUser(ctx, adm, o.ID, id, core.Owner{Kind: core.OwnerConnection, ID: conn}, "ada@acme.example.com"))
			})
		}
		unchangedUser(t, s, o.ID, eve.ID, func() error {
			return second(s.AdoptUser(ctx, adm, o.ID, eve.ID, core.Owner{Kind: core.OwnerConnection, ID: conn}, "eve@elsewhere.example.com"))
		})
		// An address that is not the user's own does not lend its domain.
		unchangedUser(t, s, o.ID, eve.ID, func() error {
			return second(s.AdoptUser(ctx, adm, o.ID, eve.ID, core.Owner{Kind: core.OwnerConnection, ID: conn}, "eve@acme.example.com"))
		})
	}},
	{"Adoption/VerifiedDomainsOnly", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"acme.example.com"}))
		conn := newConnection(t, s, o.ID, "google", "acme.example.com")
		local := newUser(t, s, o.ID, "lu@acme.example.com")
		must[core.Org](t)(s.UpdateOrg(ctx, adm, o.ID, func(o *core.Org) error { o.RequireVerifiedDomains = true; return nil }))
		unchangedUser(t, s, o.ID, admin.ID, func() error {
			return second(s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, "admin@acme.example.com")))
		})
		unchangedUser(t, s, o.ID, local.ID, func() error {
			return second(s.AdoptUser(ctx, adm, o.ID, local.ID, core.Owner{Kind: core.OwnerConnection, ID: conn}, "lu@acme.example.com"))
		})
		must[core.OrgDomain](t)(s.VerifyOrgDomain(ctx, adm, o.ID, "acme.example.com", core.VerifiedByOperator))
		if got := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, "admin@acme.example.com"))); got.ID != admin.ID {
			t.Fatalf("with the domain verified: %+v", got)
		}
		if got := must[core.User](t)(s.AdoptUser(ctx, adm, o.ID, local.ID, core.Owner{Kind: core.OwnerConnection, ID: conn}, "LU@acme.example.com")); got.Owner.ID != conn {
			t.Fatalf("the connection with the domain verified: %+v", got)
		}
	}},
}

// unchangedUser runs a create or adoption that must be refused as core.ErrConflict
// and checks that nothing changed: not the user, not the org's users, its generation
// or its audit log.
func unchangedUser(t *testing.T, s Contract, orgID, id string, change func() error) {
	t.Helper()
	before := must[core.User](t)(s.GetUser(ctx, orgID, id))
	n, g := must[int](t)(s.CountUsers(ctx, orgID)), gen(t, s, orgID)
	unchanged(t, s, orgID, core.ErrConflict, change)
	if after := must[core.User](t)(s.GetUser(ctx, orgID, id)); after != before {
		t.Fatalf("a refused adoption changed the user:\n%+v\n%+v", before, after)
	}
	if after := must[int](t)(s.CountUsers(ctx, orgID)); after != n {
		t.Fatalf("a refused adoption changed the user count: %d → %d", n, after)
	}
	if after := gen(t, s, orgID); after != g {
		t.Fatalf("a refused adoption moved the generation: %d → %d", g, after)
	}
}
