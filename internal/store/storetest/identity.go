package storetest

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var orgTests = []test{
	{"Org/CreateGet", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		if o.Slug != "acme" || o.Version != 1 || o.CreatedAt.IsZero() {
			t.Fatalf("org = %+v", o)
		}
		if admin.Source != core.SourceInvited || admin.UserName != "admin@acme.example.com" || !admin.Active || admin.OrgID != o.ID {
			t.Fatalf("admin = %+v", admin)
		}
		for _, key := range []string{o.ID, "acme"} {
			got := must[core.Org](t)(s.GetOrg(ctx, key))
			if got != o {
				t.Fatalf("GetOrg(%s) = %+v, want %+v", key, got, o)
			}
		}
		wantErr(t, second(s.GetOrg(ctx, "nope")), core.ErrNotFound)
		if !must[bool](t)(s.IsOrgAdmin(ctx, o.ID, admin.ID)) {
			t.Fatal("first user is not org admin")
		}
		admins := must[[]core.User](t)(s.ListOrgAdmins(ctx, o.ID))
		if len(admins) != 1 || admins[0].ID != admin.ID {
			t.Fatalf("admins = %+v", admins)
		}
		var acts []string
		for _, e := range audits(t, s, o.ID, "") {
			acts = append(acts, e.Action)
		}
		if !sameSet(acts, []string{"org.create", "user.create", "org_admin.add"}) {
			t.Fatalf("audit actions = %v", acts)
		}
		orgs := must[[]core.Org](t)(s.ListOrgs(ctx))
		if len(orgs) != 1 || orgs[0].ID != o.ID {
			t.Fatalf("orgs = %+v", orgs)
		}
	}},
	{"Org/Invalid", func(t *testing.T, s subject) {
		for _, c := range []struct{ slug, name, email string }{
			{"", "x", "a@b.c"}, {"Acme", "x", "a@b.c"}, {"-acme", "x", "a@b.c"}, {strings.Repeat("a", 64), "x", "a@b.c"},
			{"acme", "", "a@b.c"}, {"acme", "x", "not-an-email"}, {"acme", "x", ""},
		} {
			_, _, err := s.CreateOrg(ctx, sys, c.slug, c.name, c.email)
			wantErr(t, err, core.ErrInvalid)
		}
		if orgs := must[[]core.Org](t)(s.ListOrgs(ctx)); len(orgs) != 0 {
			t.Fatalf("invalid creates left orgs: %+v", orgs)
		}
	}},
	{"Org/SlugConflict", func(t *testing.T, s subject) {
		newOrg(t, s, "acme")
		_, _, err := s.CreateOrg(ctx, sys, "acme", "Other", "x@other.example.com")
		wantErr(t, err, core.ErrConflict)
		if orgs := must[[]core.Org](t)(s.ListOrgs(ctx)); len(orgs) != 1 {
			t.Fatalf("conflicting create left %d orgs", len(orgs))
		}
	}},
	{"Org/Admins", func(t *testing.T, s subject) {
		o, first := newOrg(t, s, "acme")
		u := newUser(t, s, o.ID, "bob@acme.example.com")
		ok(t, s.AddOrgAdmin(ctx, adm, o.ID, u.ID))
		ok(t, s.AddOrgAdmin(ctx, adm, o.ID, u.ID)) // idempotent
		if n := len(audits(t, s, o.ID, "org_admin.add")); n != 2 {
			t.Fatalf("org_admin.add events = %d, want 2 (one at create, one here)", n)
		}
		if len(must[[]core.User](t)(s.ListOrgAdmins(ctx, o.ID))) != 2 {
			t.Fatal("want two admins")
		}
		ok(t, s.RemoveOrgAdmin(ctx, adm, o.ID, first.ID))
		unchanged(t, s, o.ID, core.ErrLastAdmin, func() error { return s.RemoveOrgAdmin(ctx, adm, o.ID, u.ID) })
		if !must[bool](t)(s.IsOrgAdmin(ctx, o.ID, u.ID)) {
			t.Fatal("last admin was removed")
		}
		ok(t, s.RemoveOrgAdmin(ctx, adm, o.ID, first.ID)) // not an admin: no-op
		// Other org: nothing visible, nothing changeable.
		o2, _ := newOrg(t, s, "other")
		wantErr(t, s.AddOrgAdmin(ctx, adm, o2.ID, u.ID), core.ErrNotFound)
		wantErr(t, s.RemoveOrgAdmin(ctx, adm, o2.ID, u.ID), core.ErrNotFound)
		if must[bool](t)(s.IsOrgAdmin(ctx, o2.ID, u.ID)) {
			t.Fatal("admin of another org")
		}
		wantErr(t, s.AddOrgAdmin(ctx, adm, o.ID, "missing"), core.ErrNotFound)
		wantErr(t, second(s.ListOrgAdmins(ctx, "missing")), core.ErrNotFound)
	}},
	{"Org/LastAdminDeactivateDelete", func(t *testing.T, s subject) {
		o, first := newOrg(t, s, "acme")
		deactivate := func(u *core.User) error { u.Active = false; return nil }
		unchanged(t, s, o.ID, core.ErrLastAdmin, func() error { return second(s.UpdateUser(ctx, adm, o.ID, first.ID, deactivate)) })
		unchanged(t, s, o.ID, core.ErrLastAdmin, func() error { return s.DeleteUser(ctx, adm, o.ID, first.ID) })
		// An inactive admin does not count: with a second, inactive admin, the first is still the last.
		u := newUser(t, s, o.ID, "bob@acme.example.com")
		ok(t, s.AddOrgAdmin(ctx, adm, o.ID, u.ID))
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, deactivate))
		wantErr(t, second(s.UpdateUser(ctx, adm, o.ID, first.ID, deactivate)), core.ErrLastAdmin)
		wantErr(t, s.RemoveOrgAdmin(ctx, adm, o.ID, first.ID), core.ErrLastAdmin)
		ok(t, s.RemoveOrgAdmin(ctx, adm, o.ID, u.ID)) // an inactive admin can go
		// An org admin must be active: a deactivated user is refused, whichever edge asks.
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.AddOrgAdmin(ctx, adm, o.ID, u.ID) })
		// Reactivated second admin: now the first may go.
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(u *core.User) error { u.Active = true; return nil }))
		ok(t, s.AddOrgAdmin(ctx, adm, o.ID, u.ID))
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, first.ID, deactivate))
		ok(t, s.DeleteUser(ctx, adm, o.ID, first.ID))
		wantErr(t, s.DeleteUser(ctx, adm, o.ID, u.ID), core.ErrLastAdmin)
		admins := must[[]core.User](t)(s.ListOrgAdmins(ctx, o.ID))
		if len(admins) != 1 || admins[0].ID != u.ID {
			t.Fatalf("admins = %+v", admins)
		}
	}},
}

func second[T any](_ T, err error) error { return err }

var userTests = []test{
	{"User/PanicAndCancel", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		u := newUser(t, s, o.ID, "jane")
		before := auditCount(t, s, o.ID)
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Fatalf("recovered %v, want the closure's panic", p)
				}
			}()
			_, _ = s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error {
				x.DisplayName = "half done"
				panic("boom")
			})
		}()
		// The store goes on working, and the panicking change left nothing.
		if got := must[core.User](t)(s.GetUser(ctx, o.ID, u.ID)); got != u {
			t.Fatalf("user after panic = %+v", got)
		}
		newUser(t, s, o.ID, "bob")
		if n := auditCount(t, s, o.ID); n != before+1 {
			t.Fatalf("audit events = %d, want %d", n, before+1)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.CreateUser(cctx, sys, core.User{OrgID: o.ID, UserName: "carol", Active: true, Source: core.SourceInvited})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled create: %v", err)
		}
		wantErr(t, second(s.GetUserByUserName(ctx, o.ID, "carol")), core.ErrNotFound)
	}},
	{"User/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		in := core.User{OrgID: o.ID, UserName: "Jane.Doe@acme.example.com", Email: "jane@acme.example.com", DisplayName: "Jane Doe",
			GivenName: "Jane", FamilyName: "Doe", ExternalID: "00u1", Active: true, Source: core.SourceSCIM, DirectoryID: d.ID}
		u := must[core.User](t)(s.CreateUser(ctx, sys, in))
		if u.ID == "" || u.Version != 1 || u.CreatedAt.IsZero() || u.DirectoryID != d.ID || u.ExternalID != "00u1" {
			t.Fatalf("created = %+v", u)
		}
		for name, get := range map[string]func() (core.User, error){
			"id":       func() (core.User, error) { return s.GetUser(ctx, o.ID, u.ID) },
			"userName": func() (core.User, error) { return s.GetUserByUserName(ctx, o.ID, "jane.doe@ACME.example.com") },
			"email":    func() (core.User, error) { return s.GetUserByEmail(ctx, o.ID, "JANE@acme.example.com") },
		} {
			got := must[core.User](t)(get())
			if got != u {
				t.Fatalf("by %s: got %+v, want %+v", name, got, u)
			}
		}
		if e := audits(t, s, o.ID, "user.create"); len(e) != 2 || e[0].TargetID != u.ID || e[0].Details["user_name"] != in.UserName {
			t.Fatalf("user.create events = %+v", e)
		}
		up := must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error {
			x.DisplayName = "Jane Q. Doe"
			x.ExternalID = ""
			return nil
		}))
		if up.Version != 2 || up.DisplayName != "Jane Q. Doe" || up.ExternalID != "" || up.CreatedAt != u.CreatedAt {
			t.Fatalf("updated = %+v", up)
		}
		if got := must[core.User](t)(s.GetUser(ctx, o.ID, u.ID)); got != up {
			t.Fatalf("after update got %+v, want %+v", got, up)
		}
		e := audits(t, s, o.ID, "user.update")
		if len(e) != 1 || e[0].Actor != adm || e[0].Details["display_name"] != "Jane Q. Doe" {
			t.Fatalf("user.update events = %+v", e)
		}
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.Active = false; return nil }))
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.Active = true; return nil }))
		if len(audits(t, s, o.ID, "user.deactivate")) != 1 || len(audits(t, s, o.ID, "user.reactivate")) != 1 {
			t.Fatal("want one user.deactivate and one user.reactivate event")
		}
		ok(t, s.DeleteUser(ctx, adm, o.ID, u.ID))
		wantErr(t, second(s.GetUser(ctx, o.ID, u.ID)), core.ErrNotFound)
		wantErr(t, s.DeleteUser(ctx, adm, o.ID, u.ID), core.ErrNotFound)
		if len(audits(t, s, o.ID, "user.delete")) != 1 {
			t.Fatal("want one user.delete event")
		}
	}},
	{"User/Errors", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		u := newUser(t, s, o.ID, "jane@acme.example.com")
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "JANE@acme.example.com", Source: core.SourceInvited}))
		})
		for _, bad := range []core.User{
			{OrgID: o.ID, UserName: "", Source: core.SourceInvited},
			{OrgID: o.ID, UserName: "x", Source: "ldap"},
			{OrgID: o.ID, UserName: strings.Repeat("x", 600), Source: core.SourceInvited},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateUser(ctx, sys, bad)) })
		}
		wantErr(t, second(s.CreateUser(ctx, sys, core.User{OrgID: "missing", UserName: "x", Source: core.SourceInvited})), core.ErrNotFound)
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "x", Source: core.SourceSCIM, DirectoryID: "missing"}))
		})
		v := newUser(t, s, o.ID, "bob@acme.example.com")
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.UpdateUser(ctx, adm, o.ID, v.ID, func(x *core.User) error { x.UserName = "Jane@acme.example.com"; return nil }))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateUser(ctx, adm, o.ID, v.ID, func(x *core.User) error { x.ID = "other"; return nil }))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateUser(ctx, adm, o.ID, v.ID, func(x *core.User) error { x.OrgID = "other"; return nil }))
		})
		// fn refusing (an If-Match that does not hold) changes nothing.
		unchanged(t, s, o.ID, core.ErrVersion, func() error {
			return second(s.UpdateUser(ctx, adm, o.ID, v.ID, func(x *core.User) error {
				x.DisplayName = "changed"
				if x.Version != 7 {
					return core.ErrVersion
				}
				return nil
			}))
		})
		if got := must[core.User](t)(s.GetUser(ctx, o.ID, v.ID)); got != v {
			t.Fatalf("refused updates changed the user: %+v", got)
		}
		wantErr(t, second(s.GetUserByUserName(ctx, o.ID, "nobody")), core.ErrNotFound)
		wantErr(t, second(s.GetUserByEmail(ctx, o.ID, "")), core.ErrNotFound)
		wantErr(t, second(s.UpdateUser(ctx, adm, o.ID, "missing", func(*core.User) error { return nil })), core.ErrNotFound)
		_ = u
	}},
	{"User/OtherOrg", func(t *testing.T, s subject) {
		a, _ := newOrg(t, s, "a")
		b, _ := newOrg(t, s, "b")
		u := newUser(t, s, a.ID, "jane@a.example.com")
		wantErr(t, second(s.GetUser(ctx, b.ID, u.ID)), core.ErrNotFound)
		wantErr(t, second(s.GetUserByUserName(ctx, b.ID, u.UserName)), core.ErrNotFound)
		wantErr(t, second(s.GetUserByEmail(ctx, b.ID, u.Email)), core.ErrNotFound)
		called := false
		wantErr(t, second(s.UpdateUser(ctx, adm, b.ID, u.ID, func(*core.User) error { called = true; return nil })), core.ErrNotFound)
		if called {
			t.Fatal("update fn saw another org's user")
		}
		wantErr(t, s.DeleteUser(ctx, adm, b.ID, u.ID), core.ErrNotFound)
		for _, us := range [][]core.User{must[[]core.User](t)(s.ListUsers(ctx, b.ID, store.UserQuery{}))} {
			for _, x := range us {
				if x.OrgID != b.ID {
					t.Fatalf("ListUsers of b returned %+v", x)
				}
			}
		}
		// The same userName may exist in two orgs.
		newUser(t, s, b.ID, "jane@a.example.com")
		if n := must[int](t)(s.CountUsers(ctx, b.ID)); n != 2 {
			t.Fatalf("CountUsers(b) = %d, want 2", n)
		}
	}},
	{"User/ListSearchPage", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		var all []string
		all = append(all, admin.ID)
		for _, n := range []string{"alice", "bob", "carol", "dave", "erin_x"} {
			all = append(all, newUser(t, s, o.ID, n+"@acme.example.com").ID)
		}
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, all[2], func(u *core.User) error { u.Active = false; return nil }))
		var got []string
		after := ""
		for {
			page := must[[]core.User](t)(s.ListUsers(ctx, o.ID, store.UserQuery{Page: store.Page{After: after, Limit: 2}}))
			if len(page) == 0 {
				break
			}
			got = append(got, userIDs(page)...)
			after = page[len(page)-1].ID
		}
		if strings.Join(got, ",") != strings.Join(all, ",") {
			t.Fatalf("paged ids = %v, want %v", got, all)
		}
		search := func(q string) []string {
			return userIDs(must[[]core.User](t)(s.ListUsers(ctx, o.ID, store.UserQuery{Search: q})))
		}
		if r := search("CAROL"); len(r) != 1 || r[0] != all[3] {
			t.Fatalf("search CAROL = %v", r)
		}
		// LIKE wildcards in a search match literally.
		if r := search("_"); len(r) != 1 || r[0] != all[5] {
			t.Fatalf("search _ = %v", r)
		}
		if r := search("%"); len(r) != 0 {
			t.Fatalf("search %% = %v", r)
		}
		f := false
		if r := userIDs(must[[]core.User](t)(s.ListUsers(ctx, o.ID, store.UserQuery{Active: &f}))); len(r) != 1 || r[0] != all[2] {
			t.Fatalf("inactive = %v", r)
		}
		if n := must[int](t)(s.CountUsers(ctx, o.ID)); n != 6 {
			t.Fatalf("count = %d", n)
		}
	}},
	{"User/EmailOldestWins", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		u1 := must[core.User](t)(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "u1", Email: "same@acme.example.com", Source: core.SourceInvited, Active: true}))
		must[core.User](t)(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "u2", Email: "Same@acme.example.com", Source: core.SourceInvited, Active: true}))
		if got := must[core.User](t)(s.GetUserByEmail(ctx, o.ID, "same@ACME.example.com")); got.ID != u1.ID {
			t.Fatalf("by email got %s, want oldest %s", got.ID, u1.ID)
		}
	}},
}

var directoryTests = []test{
	{"Directory/Ensure", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		again := newDirectory(t, s, o.ID, "okta")
		if !reflect.DeepEqual(d, again) || d.ID == "" {
			t.Fatalf("ensure twice: %+v, %+v", d, again)
		}
		if n := len(audits(t, s, o.ID, "directory.create")); n != 1 {
			t.Fatalf("directory.create events = %d, want 1", n)
		}
		for _, key := range []string{d.ID, "okta"} {
			if got := must[core.Directory](t)(s.GetDirectory(ctx, o.ID, key)); !reflect.DeepEqual(got, d) {
				t.Fatalf("GetDirectory(%s) = %+v", key, got)
			}
		}
		newDirectory(t, s, o.ID, "entra")
		if ds := must[[]core.Directory](t)(s.ListDirectories(ctx, o.ID)); len(ds) != 2 || ds[0].ID != d.ID {
			t.Fatalf("directories = %+v", ds)
		}
		wantErr(t, second(s.EnsureDirectory(ctx, sys, o.ID, " ")), core.ErrInvalid)
		wantErr(t, second(s.EnsureDirectory(ctx, sys, "missing", "okta")), core.ErrNotFound)
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.GetDirectory(ctx, b.ID, d.ID)), core.ErrNotFound)
		wantErr(t, second(s.GetDirectory(ctx, b.ID, "okta")), core.ErrNotFound)
		if ds := must[[]core.Directory](t)(s.ListDirectories(ctx, b.ID)); len(ds) != 0 {
			t.Fatalf("b sees directories %+v", ds)
		}
		// Users of another org's directory are refused.
		wantErr(t, second(s.CreateUser(ctx, sys, core.User{OrgID: b.ID, UserName: "x", Source: core.SourceSCIM, DirectoryID: d.ID})), core.ErrNotFound)
	}},
	{"Directory/Create", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := must[core.Directory](t)(s.CreateDirectory(ctx, adm, o.ID, "okta"))
		if d.ID == "" || d.Name != "okta" || d.OrgID != o.ID {
			t.Fatalf("created %+v", d)
		}
		// A taken name is refused by the database and changes nothing.
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.CreateDirectory(ctx, adm, o.ID, "okta")) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateDirectory(ctx, adm, o.ID, " ")) })
		wantErr(t, second(s.CreateDirectory(ctx, adm, "missing", "x")), core.ErrNotFound)
		// Another org may use the name.
		b, _ := newOrg(t, s, "b")
		must[core.Directory](t)(s.CreateDirectory(ctx, adm, b.ID, "okta"))
		if e := audits(t, s, o.ID, "directory.create"); len(e) != 1 || e[0].TargetID != d.ID {
			t.Fatalf("directory.create events = %+v", e)
		}
	}},
	{"Directory/Domains", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		if d.Domains == nil || len(d.Domains) != 0 {
			t.Fatalf("a new directory's domains = %#v, want []", d.Domains)
		}
		// Normalized like a connection's: trimmed, lower-cased, deduplicated, sorted on read.
		got := must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, "okta", []string{" Acme.Example.com", "corp.example", "acme.example.com", ""}))
		if !reflect.DeepEqual(got.Domains, []string{"acme.example.com", "corp.example"}) {
			t.Fatalf("set domains = %v", got.Domains)
		}
		if g := must[core.Directory](t)(s.GetDirectory(ctx, o.ID, d.ID)); !reflect.DeepEqual(g.Domains, []string{"acme.example.com", "corp.example"}) {
			t.Fatalf("read back %v", g.Domains)
		}
		if ds := must[[]core.Directory](t)(s.ListDirectories(ctx, o.ID)); len(ds) != 1 || !reflect.DeepEqual(ds[0].Domains, []string{"acme.example.com", "corp.example"}) {
			t.Fatalf("listed %+v", ds)
		}
		if e := audits(t, s, o.ID, "directory.update"); len(e) != 1 || e[0].TargetID != d.ID {
			t.Fatalf("directory.update events = %+v", e)
		}
		// A connection of the same org may use the same domain.
		newConnection(t, s, o.ID, "okta-sso", "acme.example.com")
		// Bad input, another directory's domain and another org's domain change nothing.
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"ok.example", "not a domain"}))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"a@b.example"})) })
		e := newDirectory(t, s, o.ID, "entra")
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.SetDirectoryDomains(ctx, adm, o.ID, e.ID, []string{"new.example", "corp.example"}))
		})
		b, _ := newOrg(t, s, "b")
		newConnection(t, s, b.ID, "b-sso", "b.example")
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"acme.example.com", "b.example"}))
		})
		if g := must[core.Directory](t)(s.GetDirectory(ctx, o.ID, d.ID)); !reflect.DeepEqual(g.Domains, []string{"acme.example.com", "corp.example"}) {
			t.Fatalf("after refusals %v", g.Domains)
		}
		if g := must[core.Directory](t)(s.GetDirectory(ctx, o.ID, e.ID)); len(g.Domains) != 0 {
			t.Fatalf("entra got %v", g.Domains)
		}
		// Another org can neither see nor change the directory.
		wantErr(t, second(s.SetDirectoryDomains(ctx, adm, b.ID, d.ID, nil)), core.ErrNotFound)
		wantErr(t, second(s.SetDirectoryDomains(ctx, adm, o.ID, "missing", nil)), core.ErrNotFound)
		// Emptying releases the domain no one else in the org uses: another org may then claim it.
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, []string{"acme.example.com"}))
		must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, b.ID, newDirectory(t, s, b.ID, "b-okta").ID, []string{"corp.example"}))
		// acme.example.com is still the connection's, so not released when the directory drops it.
		if g := must[core.Directory](t)(s.SetDirectoryDomains(ctx, adm, o.ID, d.ID, nil)); g.Domains == nil || len(g.Domains) != 0 {
			t.Fatalf("emptied %#v", g.Domains)
		}
		unchanged(t, s, b.ID, core.ErrConflict, func() error {
			return second(s.SetDirectoryDomains(ctx, adm, b.ID, "b-okta", []string{"acme.example.com"}))
		})
	}},
}

var tokenTests = []test{
	{"Token/Lifecycle", func(t *testing.T, s subject) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		s.clock.set(now)
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		tok, secret, err := s.CreateToken(ctx, adm, o.ID, store.TokenSCIM, "okta prod", d.ID)
		ok(t, err)
		if !strings.HasPrefix(secret, "ghs_") || len(secret) < 40 || tok.DirectoryID != d.ID || tok.Kind != store.TokenSCIM {
			t.Fatalf("token %+v secret %q", tok, secret)
		}
		api, apiSecret, err := s.CreateToken(ctx, adm, o.ID, store.TokenAPI, "ci", "")
		ok(t, err)
		if !strings.HasPrefix(apiSecret, "gha_") {
			t.Fatalf("api secret %q", apiSecret)
		}
		for _, e := range audits(t, s, o.ID, "token.create") {
			for _, v := range e.Details {
				if v == secret || v == apiSecret {
					t.Fatal("audit holds a secret")
				}
			}
		}
		got := must[store.Token](t)(s.Authenticate(ctx, secret))
		if got.ID != tok.ID || got.OrgID != o.ID || got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
			t.Fatalf("authenticated %+v", got)
		}
		lastUsed := func() time.Time {
			ts := must[[]store.Token](t)(s.ListTokens(ctx, o.ID))
			for _, x := range ts {
				if x.ID == tok.ID && x.LastUsedAt != nil {
					return *x.LastUsedAt
				}
			}
			return time.Time{}
		}
		if !lastUsed().Equal(now) {
			t.Fatalf("last used = %v", lastUsed())
		}
		first := now
		now = now.Add(30 * time.Second)
		s.clock.set(now)
		must[store.Token](t)(s.Authenticate(ctx, secret))
		if !lastUsed().Equal(first) {
			t.Fatal("last_used_at written again within a minute")
		}
		now = now.Add(31 * time.Second)
		s.clock.set(now)
		must[store.Token](t)(s.Authenticate(ctx, secret))
		if !lastUsed().Equal(now) {
			t.Fatal("last_used_at not refreshed after a minute")
		}
		for _, bad := range []string{"", "ghs_", secret + "x", "gha_" + secret[4:], strings.ToUpper(secret)} {
			wantErr(t, second(s.Authenticate(ctx, bad)), core.ErrNotFound)
		}
		b, _ := newOrg(t, s, "b")
		wantErr(t, s.RevokeToken(ctx, adm, b.ID, tok.ID), core.ErrNotFound)
		if ts := must[[]store.Token](t)(s.ListTokens(ctx, b.ID)); len(ts) != 0 {
			t.Fatalf("b sees tokens %+v", ts)
		}
		ok(t, s.RevokeToken(ctx, adm, o.ID, tok.ID))
		ok(t, s.RevokeToken(ctx, adm, o.ID, tok.ID))
		if len(audits(t, s, o.ID, "token.revoke")) != 1 {
			t.Fatal("want one token.revoke event")
		}
		wantErr(t, second(s.Authenticate(ctx, secret)), core.ErrNotFound)
		must[store.Token](t)(s.Authenticate(ctx, apiSecret))
		ts := must[[]store.Token](t)(s.ListTokens(ctx, o.ID))
		if len(ts) != 2 || ts[0].RevokedAt == nil || ts[1].ID != api.ID || ts[1].RevokedAt != nil {
			t.Fatalf("tokens = %+v", ts)
		}
	}},
	{"Token/Invalid", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		b, _ := newOrg(t, s, "b")
		check := func(want error, orgID string, kind store.TokenKind, dir string) {
			t.Helper()
			unchanged(t, s, o.ID, want, func() error {
				_, _, err := s.CreateToken(ctx, adm, orgID, kind, "t", dir)
				return err
			})
		}
		check(core.ErrInvalid, o.ID, store.TokenSCIM, "")
		check(core.ErrInvalid, o.ID, store.TokenAPI, d.ID)
		check(core.ErrInvalid, o.ID, "root", "")
		check(core.ErrNotFound, o.ID, store.TokenSCIM, "missing")
		check(core.ErrNotFound, b.ID, store.TokenSCIM, d.ID) // another org's directory
		check(core.ErrNotFound, "missing", store.TokenAPI, "")
	}},
}

var groupTests = []test{
	{"Group/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		g := must[core.UserGroup](t)(s.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "Engineers", Description: "all of them"}))
		if g.ID == "" || g.Version != 1 {
			t.Fatalf("group = %+v", g)
		}
		for _, key := range []string{g.ID, "engineers", "ENGINEERS"} {
			if got := must[core.UserGroup](t)(s.GetGroup(ctx, o.ID, key)); got != g {
				t.Fatalf("GetGroup(%s) = %+v", key, got)
			}
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "engineers"}))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateGroup(ctx, adm, core.UserGroup{OrgID: o.ID, Name: "  "})) })
		wantErr(t, second(s.CreateGroup(ctx, adm, core.UserGroup{OrgID: "missing", Name: "x"})), core.ErrNotFound)
		h := newGroup(t, s, o.ID, "Sales")
		up := must[core.UserGroup](t)(s.UpdateGroup(ctx, adm, o.ID, g.ID, func(x *core.UserGroup) error { x.Name = "Engineering"; return nil }))
		if up.Name != "Engineering" || up.Version != 2 || up.Description != "all of them" {
			t.Fatalf("updated = %+v", up)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.UpdateGroup(ctx, adm, o.ID, h.ID, func(x *core.UserGroup) error { x.Name = "ENGINEERING"; return nil }))
		})
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateGroup(ctx, adm, o.ID, h.ID, func(x *core.UserGroup) error { x.OrgID = "x"; return nil }))
		})
		gs := must[[]core.UserGroup](t)(s.ListGroups(ctx, o.ID, store.Page{}))
		if len(gs) != 2 || gs[0].ID != g.ID || gs[1].ID != h.ID {
			t.Fatalf("groups = %+v", gs)
		}
		if n := must[int](t)(s.CountGroups(ctx, o.ID)); n != 2 {
			t.Fatalf("CountGroups = %d, want 2", n)
		}
		if gs := must[[]core.UserGroup](t)(s.ListGroups(ctx, o.ID, store.Page{After: g.ID, Limit: 1})); len(gs) != 1 || gs[0].ID != h.ID {
			t.Fatalf("page 2 = %+v", gs)
		}
		ok(t, s.DeleteGroup(ctx, adm, o.ID, h.ID))
		wantErr(t, second(s.GetGroup(ctx, o.ID, h.ID)), core.ErrNotFound)
		wantErr(t, s.DeleteGroup(ctx, adm, o.ID, h.ID), core.ErrNotFound)
		for _, a := range []string{"group.create", "group.update", "group.delete"} {
			if len(audits(t, s, o.ID, a)) == 0 {
				t.Fatalf("no %s event", a)
			}
		}
	}},
	{"Group/DirectMembers", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		g := newGroup(t, s, o.ID, "eng")
		u := newUser(t, s, o.ID, "jane")
		v := newUser(t, s, o.ID, "bob")
		ok(t, s.AddGroupMember(ctx, adm, o.ID, g.ID, u.ID))
		ok(t, s.AddGroupMember(ctx, adm, o.ID, g.ID, u.ID))
		ok(t, s.AddGroupMember(ctx, adm, o.ID, g.ID, v.ID))
		if n := len(audits(t, s, o.ID, "group.member.add")); n != 2 {
			t.Fatalf("group.member.add events = %d, want 2", n)
		}
		ms := must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, g.ID, store.Page{}))
		if len(ms) != 2 || !ms[0].Direct || ms[0].User.ID != u.ID || len(ms[0].Via) != 0 {
			t.Fatalf("members = %+v", ms)
		}
		ok(t, s.RemoveGroupMember(ctx, adm, o.ID, g.ID, u.ID))
		ok(t, s.RemoveGroupMember(ctx, adm, o.ID, g.ID, u.ID))
		if n := len(audits(t, s, o.ID, "group.member.remove")); n != 1 {
			t.Fatalf("group.member.remove events = %d, want 1", n)
		}
		ms = must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, g.ID, store.Page{}))
		if len(ms) != 1 || ms[0].User.ID != v.ID {
			t.Fatalf("members = %+v", ms)
		}
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.AddGroupMember(ctx, adm, o.ID, g.ID, "missing") })
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.AddGroupMember(ctx, adm, o.ID, "missing", u.ID) })
		// Deleting the user removes the membership.
		ok(t, s.DeleteUser(ctx, adm, o.ID, v.ID))
		if ms := must[[]store.Member](t)(s.GroupMembers(ctx, o.ID, g.ID, store.Page{})); len(ms) != 0 {
			t.Fatalf("members after delete = %+v", ms)
		}
	}},
	{"Group/OtherOrg", func(t *testing.T, s subject) {
		a, _ := newOrg(t, s, "a")
		b, _ := newOrg(t, s, "b")
		g := newGroup(t, s, a.ID, "eng")
		ub := newUser(t, s, b.ID, "bob")
		ua := newUser(t, s, a.ID, "ann")
		wantErr(t, second(s.GetGroup(ctx, b.ID, g.ID)), core.ErrNotFound)
		wantErr(t, second(s.GetGroup(ctx, b.ID, "eng")), core.ErrNotFound)
		wantErr(t, second(s.UpdateGroup(ctx, adm, b.ID, g.ID, func(*core.UserGroup) error { return nil })), core.ErrNotFound)
		wantErr(t, s.DeleteGroup(ctx, adm, b.ID, g.ID), core.ErrNotFound)
		// Neither a user of b into a's group, nor anything through b's id.
		wantErr(t, s.AddGroupMember(ctx, adm, a.ID, g.ID, ub.ID), core.ErrNotFound)
		wantErr(t, s.AddGroupMember(ctx, adm, b.ID, g.ID, ub.ID), core.ErrNotFound)
		ok(t, s.AddGroupMember(ctx, adm, a.ID, g.ID, ua.ID))
		wantErr(t, s.RemoveGroupMember(ctx, adm, b.ID, g.ID, ua.ID), core.ErrNotFound)
		wantErr(t, second(s.GroupMembers(ctx, b.ID, g.ID, store.Page{})), core.ErrNotFound)
		wantErr(t, second(s.UserMemberships(ctx, b.ID, ua.ID)), core.ErrNotFound)
		if gs := must[[]core.UserGroup](t)(s.ListGroups(ctx, b.ID, store.Page{})); len(gs) != 0 {
			t.Fatalf("b sees %+v", gs)
		}
		if n := must[int](t)(s.CountGroups(ctx, b.ID)); n != 0 {
			t.Fatalf("b counts %d groups", n)
		}
		// Names are per org.
		newGroup(t, s, b.ID, "eng")
	}},
}

var idpGroupTests = []test{
	{"IdPGroup/CRUD", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		g := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, ExternalID: "00g1", DisplayName: "Engineering"}))
		if g.ID == "" || g.Version != 1 {
			t.Fatalf("group = %+v", g)
		}
		if got := must[core.IdPGroup](t)(s.GetIdPGroup(ctx, o.ID, g.ID)); got != g {
			t.Fatalf("get = %+v", got)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error {
			return second(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "ENGINEERING"}))
		})
		for _, bad := range []core.IdPGroup{
			{OrgID: o.ID, DisplayName: "x"},
			{OrgID: o.ID, DirectoryID: d.ID, ConnectionID: "c", DisplayName: "x"},
			{OrgID: o.ID, DirectoryID: d.ID, DisplayName: ""},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateIdPGroup(ctx, sys, bad)) })
		}
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return second(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: "missing", DisplayName: "x"}))
		})
		d2 := newDirectory(t, s, o.ID, "entra")
		h := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d2.ID, DisplayName: "Engineering"}))
		if gs := must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, d.ID, store.Page{})); len(gs) != 1 || gs[0].ID != g.ID {
			t.Fatalf("groups of okta = %+v", gs)
		}
		if gs := must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, "", store.Page{})); len(gs) != 2 {
			t.Fatalf("groups of org = %+v", gs)
		}
		up := must[core.IdPGroup](t)(s.UpdateIdPGroup(ctx, sys, o.ID, g.ID, func(x *core.IdPGroup) error { x.DisplayName = "Eng"; return nil }))
		if up.DisplayName != "Eng" || up.Version != 2 {
			t.Fatalf("updated = %+v", up)
		}
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateIdPGroup(ctx, sys, o.ID, g.ID, func(x *core.IdPGroup) error { x.DirectoryID = d2.ID; return nil }))
		})
		ok(t, s.DeleteIdPGroup(ctx, sys, o.ID, h.ID))
		wantErr(t, second(s.GetIdPGroup(ctx, o.ID, h.ID)), core.ErrNotFound)
		for _, a := range []string{"idp_group.create", "idp_group.update", "idp_group.delete"} {
			if len(audits(t, s, o.ID, a)) == 0 {
				t.Fatalf("no %s event", a)
			}
		}
		b, _ := newOrg(t, s, "b")
		wantErr(t, second(s.GetIdPGroup(ctx, b.ID, g.ID)), core.ErrNotFound)
		wantErr(t, second(s.UpdateIdPGroup(ctx, sys, b.ID, g.ID, func(*core.IdPGroup) error { return nil })), core.ErrNotFound)
		wantErr(t, s.DeleteIdPGroup(ctx, sys, b.ID, g.ID), core.ErrNotFound)
		wantErr(t, s.ChangeIdPGroupMembers(ctx, sys, b.ID, g.ID, nil, nil), core.ErrNotFound)
		wantErr(t, s.ReplaceIdPGroupMembers(ctx, sys, b.ID, g.ID, nil), core.ErrNotFound)
		wantErr(t, second(s.IdPGroupMembers(ctx, b.ID, g.ID, store.Page{})), core.ErrNotFound)
		if gs := must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, b.ID, "", store.Page{})); len(gs) != 0 {
			t.Fatalf("b sees %+v", gs)
		}
		// b cannot hang a group on a's directory.
		wantErr(t, second(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: b.ID, DirectoryID: d.ID, DisplayName: "x"})), core.ErrNotFound)
	}},
	{"IdPGroup/Members", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		g := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Eng"}))
		var us []string
		for _, n := range []string{"a", "b", "c", "d"} {
			us = append(us, newUser(t, s, o.ID, n).ID)
		}
		members := func() []string {
			return userIDs(must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{})))
		}
		version := func() int64 { return must[core.IdPGroup](t)(s.GetIdPGroup(ctx, o.ID, g.ID)).Version }
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{us[0], us[1], us[0]}, nil))
		if m := members(); !sameSet(m, us[:2]) {
			t.Fatalf("members = %v", m)
		}
		if version() != 2 {
			t.Fatal("membership change did not bump the version")
		}
		// No-op changes neither bump nor audit.
		before := auditCount(t, s, o.ID)
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{us[0]}, []string{us[3]}))
		if version() != 2 || auditCount(t, s, o.ID) != before {
			t.Fatal("a no-op change bumped the version or wrote an event")
		}
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{us[2]}, []string{us[0]}))
		if m := members(); !sameSet(m, []string{us[1], us[2]}) {
			t.Fatalf("members = %v", m)
		}
		// An unknown user fails the whole change.
		unchanged(t, s, o.ID, core.ErrNotFound, func() error {
			return s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{us[3], "missing"}, []string{us[1]})
		})
		if m := members(); !sameSet(m, []string{us[1], us[2]}) {
			t.Fatalf("members after failed change = %v", m)
		}
		ok(t, s.ReplaceIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{us[3], us[2]}))
		if m := members(); !sameSet(m, []string{us[2], us[3]}) {
			t.Fatalf("members after replace = %v", m)
		}
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.ReplaceIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{"missing"}) })
		// A user of another org is unknown here.
		b, _ := newOrg(t, s, "b")
		ub := newUser(t, s, b.ID, "x")
		wantErr(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, []string{ub.ID}, nil), core.ErrNotFound)
		// Paging.
		if p := userIDs(must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{Limit: 1}))); len(p) != 1 || p[0] != us[2] {
			t.Fatalf("page 1 = %v", p)
		}
		if p := userIDs(must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{After: us[2]}))); len(p) != 1 || p[0] != us[3] {
			t.Fatalf("page 2 = %v", p)
		}
		ok(t, s.ReplaceIdPGroupMembers(ctx, sys, o.ID, g.ID, nil))
		if m := members(); len(m) != 0 {
			t.Fatalf("members after empty replace = %v", m)
		}
		if n := len(audits(t, s, o.ID, "idp_group.members.change")); n != 4 {
			t.Fatalf("idp_group.members.change events = %d, want 4", n)
		}
	}},
	{"IdPGroup/ManyMembers", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		g := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "All"}))
		var us []string
		for i := range 700 {
			us = append(us, newUser(t, s, o.ID, "user"+strconv.Itoa(i)).ID)
		}
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, us, nil))
		if m := must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{})); len(m) != 700 {
			t.Fatalf("members = %d", len(m))
		}
		ok(t, s.ReplaceIdPGroupMembers(ctx, sys, o.ID, g.ID, us[100:]))
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, nil, us[600:]))
		if m := must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{})); len(m) != 500 {
			t.Fatalf("members = %d", len(m))
		}
	}},
	{"IdPGroup/SetConnectionGroupsFromDirectory", func(t *testing.T, s subject) {
		// Entra's groups overage: a login without its groups takes them from the
		// directory the connection is linked to, for a user that directory owns.
		o, _ := newOrg(t, s, "acme")
		conn := newConnection(t, s, o.ID, "entra-oidc")
		d := newDirectory(t, s, o.ID, "entra")
		d2 := newDirectory(t, s, o.ID, "okta")
		jane := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d), scimUser(o.ID, d.ID, "jane@acme.example")))
		olga := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, scimActor(d2), scimUser(o.ID, d2.ID, "olga@acme.example")))
		bob := newUser(t, s, o.ID, "bob@acme.example")
		dirGroup := func(dir core.Directory, ext, name string, members ...string) {
			g := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: dir.ID, ExternalID: ext, DisplayName: name}))
			ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, g.ID, members, nil))
		}
		dirGroup(d, "0b5c-eng", "Engineering", jane.ID)
		dirGroup(d, "", "Ops", jane.ID)
		dirGroup(d, "77aa-sales", "Sales")
		dirGroup(d2, "0b5c-eng", "Okta Eng", olga.ID)
		sso := core.Actor{Kind: core.ActorSSO, ID: conn}
		ok(t, s.SetConnectionGroups(ctx, sso, o.ID, conn, jane.ID, []string{"stale", "0b5c-eng"}))
		connGroups := func(userID string) []string {
			var out []string
			for _, g := range must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, conn, store.Page{})) {
				for _, m := range must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{})) {
					if m.ID == userID {
						out = append(out, g.ExternalID)
					}
				}
			}
			return out
		}
		// Not linked: refused, nothing changes.
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.SetConnectionGroupsFromDirectory(ctx, sso, o.ID, conn, jane.ID)) })
		must[store.SSOConnection](t)(s.UpdateSSOConnection(ctx, sys, o.ID, conn, func(c *store.SSOConnection) error { c.DirectoryID = d.ID; return nil }))
		// Linked: the values are the directory groups' external ids, else names.
		got := must[store.DirectoryGroups](t)(s.SetConnectionGroupsFromDirectory(ctx, sso, o.ID, conn, jane.ID))
		if got.DirectoryID != d.ID || !sameSet(got.Values, []string{"0b5c-eng", "Ops"}) || len(got.Groups) != 2 {
			t.Fatalf("from the directory: %+v", got)
		}
		if g := connGroups(jane.ID); !sameSet(g, []string{"0b5c-eng", "Ops"}) {
			t.Fatalf("connection groups of jane = %v, want [0b5c-eng Ops] (stale removed)", g)
		}
		var fromDir int
		for _, e := range audits(t, s, o.ID, "user.idp_groups.set") {
			if e.Details["from_directory"] == d.ID && e.TargetID == jane.ID {
				fromDir++
			}
		}
		if fromDir != 1 {
			t.Fatalf("%d user.idp_groups.set events of jane from directory %s, want 1", fromDir, d.ID)
		}
		// The directory's own memberships are untouched.
		if n := len(must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, d.ID, store.Page{}))); n != 3 {
			t.Fatalf("directory groups = %d, want 3", n)
		}
		// Users the linked directory does not own: another directory's, a local one.
		for _, u := range []string{olga.ID, bob.ID} {
			unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.SetConnectionGroupsFromDirectory(ctx, sso, o.ID, conn, u)) })
		}
		wantErr(t, second(s.SetConnectionGroupsFromDirectory(ctx, sso, o.ID, "missing", jane.ID)), core.ErrNotFound)
		wantErr(t, second(s.SetConnectionGroupsFromDirectory(ctx, sso, "missing", conn, jane.ID)), core.ErrNotFound)
	}},
	{"IdPGroup/SetConnectionGroups", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		conn := newConnection(t, s, o.ID, "okta-oidc")
		d := newDirectory(t, s, o.ID, "okta")
		u := newUser(t, s, o.ID, "jane")
		scimGroup := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, sys, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Eng"}))
		ok(t, s.ChangeIdPGroupMembers(ctx, sys, o.ID, scimGroup.ID, []string{u.ID}, nil))
		groupsOf := func() []string {
			var out []string
			gs := must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, "", store.Page{}))
			for _, g := range gs {
				for _, m := range must[[]core.User](t)(s.IdPGroupMembers(ctx, o.ID, g.ID, store.Page{})) {
					if m.ID == u.ID {
						out = append(out, g.DisplayName)
					}
				}
			}
			return out
		}
		ok(t, s.SetConnectionGroups(ctx, core.Actor{Kind: core.ActorSSO, ID: conn}, o.ID, conn, u.ID, []string{"admins", "devs", "devs"}))
		if g := groupsOf(); !sameSet(g, []string{"Eng", "admins", "devs"}) {
			t.Fatalf("groups = %v", g)
		}
		if n := len(must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, conn, store.Page{}))); n != 2 {
			t.Fatalf("connection groups = %d", n)
		}
		before := auditCount(t, s, o.ID)
		ok(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, u.ID, []string{"devs", "admins"}))
		if auditCount(t, s, o.ID) != before {
			t.Fatal("an unchanged login wrote audit events")
		}
		ok(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, u.ID, []string{"devs", "ops"}))
		if g := groupsOf(); !sameSet(g, []string{"Eng", "devs", "ops"}) {
			t.Fatalf("groups = %v (the SCIM group must stay)", g)
		}
		ok(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, u.ID, nil))
		if g := groupsOf(); !sameSet(g, []string{"Eng"}) {
			t.Fatalf("groups = %v", g)
		}
		// A second user reuses the connection's groups.
		v := newUser(t, s, o.ID, "bob")
		ok(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, v.ID, []string{"ops"}))
		if n := len(must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, conn, store.Page{}))); n != 3 {
			t.Fatalf("connection groups = %d, want 3", n)
		}
		if len(audits(t, s, o.ID, "user.idp_groups.set")) != 4 {
			t.Fatalf("user.idp_groups.set events = %d", len(audits(t, s, o.ID, "user.idp_groups.set")))
		}
		b, _ := newOrg(t, s, "b")
		ub := newUser(t, s, b.ID, "x")
		wantErr(t, s.SetConnectionGroups(ctx, sys, b.ID, conn, ub.ID, []string{"x"}), core.ErrNotFound)
		wantErr(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, ub.ID, []string{"x"}), core.ErrNotFound)
		wantErr(t, s.SetConnectionGroups(ctx, sys, o.ID, conn, u.ID, []string{strings.Repeat("x", 600)}), core.ErrInvalid)
	}},
}
