package storetest

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ownershipTests: every user has exactly one owner (a directory, a connection, or
// local), shown with its name on every read; only an explicit transfer changes it;
// and a directory reads and writes only what it owns.
var ownershipTests = []test{
	{"Ownership/OneOwner", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		conn := must[store.SSOConnection](t)(s.CreateSSOConnection(ctx, sys, oidcConnection(o.ID, "google", "acme.example.com")))
		if admin.Owner != (core.Owner{Kind: core.OwnerLocal}) {
			t.Fatalf("the first admin's owner: %+v", admin.Owner)
		}
		for _, bad := range []core.User{
			{OrgID: o.ID, UserName: "a", Source: core.SourceSCIM},
			{OrgID: o.ID, UserName: "b", Source: core.SourceSSO},
			{OrgID: o.ID, UserName: "c", Source: core.SourceSCIM, DirectoryID: d.ID, ConnectionID: conn.ID},
			{OrgID: o.ID, UserName: "d", Source: core.SourceInvited, DirectoryID: d.ID},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateUser(ctx, sys, bad)) })
		}
		jit := must[core.User](t)(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "j", Active: true, Source: core.SourceSSO, ConnectionID: conn.ID}))
		if jit.Owner != (core.Owner{Kind: core.OwnerConnection, ID: conn.ID, Name: "google"}) {
			t.Fatalf("a JIT user's owner: %+v", jit.Owner)
		}
		if got := must[core.User](t)(s.GetUser(ctx, o.ID, jit.ID)); got.Owner != jit.Owner {
			t.Fatalf("read back: %+v", got.Owner)
		}
		// An update cannot change the owner: only TransferUser does.
		up := must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, jit.ID, func(u *core.User) error {
			u.Source, u.ConnectionID, u.DirectoryID = core.SourceSCIM, "", d.ID
			u.DisplayName = "J"
			return nil
		}))
		if up.Owner.Kind != core.OwnerConnection || up.DisplayName != "J" {
			t.Fatalf("UpdateUser changed the owner: %+v", up)
		}
		moved := must[core.User](t)(s.TransferUser(ctx, adm, o.ID, jit.ID, core.Owner{Kind: core.OwnerDirectory, ID: "okta"}))
		if moved.Owner != (core.Owner{Kind: core.OwnerDirectory, ID: d.ID, Name: "okta"}) || moved.Source != core.SourceSCIM || moved.ConnectionID != "" {
			t.Fatalf("transferred: %+v", moved)
		}
		ev := audits(t, s, o.ID, "user.owner_transfer")
		if len(ev) != 1 || ev[0].Details["from"].(map[string]any)["name"] != "google" || ev[0].Details["owner"].(map[string]any)["id"] != d.ID {
			t.Fatalf("transfer events: %+v", ev)
		}
		// Another org's directory is no owner here.
		b, _ := newOrg(t, s, "b")
		db := newDirectory(t, s, b.ID, "evil")
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.TransferUser(ctx, adm, o.ID, jit.ID, core.Owner{Kind: core.OwnerDirectory, ID: db.ID}))
		})
		// Deleting a connection leaves the users it owned, local.
		j2 := must[core.User](t)(s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: "k", Active: true, Source: core.SourceSSO, ConnectionID: conn.ID}))
		del := must[store.SSODeletion](t)(s.DeleteSSOConnection(ctx, adm, o.ID, conn.ID))
		if del.Users != 1 {
			t.Fatalf("deletion: %+v", del)
		}
		if got := must[core.User](t)(s.GetUser(ctx, o.ID, j2.ID)); got.Owner.Kind != core.OwnerLocal || got.Source != core.SourceInvited {
			t.Fatalf("after its connection went: %+v", got)
		}
	}},
	{"Ownership/DirectorySeesItsOwn", func(t *testing.T, s subject) {
		o, admin := newOrg(t, s, "acme")
		d := newDirectory(t, s, o.ID, "okta")
		d2 := newDirectory(t, s, o.ID, "entra")
		okta, entra := scimActor(d), scimActor(d2)
		ada := must[store.SCIMUser](t)(s.SCIMCreateUser(ctx, okta, scimUser(o.ID, d.ID, "ada@acme.example.com")))
		if ada.Owner != (core.Owner{Kind: core.OwnerDirectory, ID: d.ID, Name: "okta"}) {
			t.Fatalf("a provisioned user's owner: %+v", ada.Owner)
		}
		for _, id := range []string{ada.ID, admin.ID} {
			unchanged(t, s, o.ID, core.ErrNotFound, func() error { return second(s.SCIMGetUser(ctx, o.ID, d2.ID, id)) })
			unchanged(t, s, o.ID, core.ErrNotFound, func() error {
				return second(s.SCIMUpdateUser(ctx, entra, o.ID, d2.ID, id, func(u *store.SCIMUser) error { u.Email = "mallory@acme.example.com"; return nil }))
			})
			unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.SCIMDeleteUser(ctx, entra, o.ID, d2.ID, id) })
			unchanged(t, s, o.ID, core.ErrInvalid, func() error {
				return second(s.SCIMCreateGroup(ctx, entra, store.SCIMGroup{OrgID: o.ID, DirectoryID: d2.ID, DisplayName: "g-" + id}, []string{id}))
			})
		}
		if _, total := must2[store.SCIMUser](t, "entra")(s.SCIMListUsers(ctx, o.ID, d2.ID, store.SCIMQuery{StartIndex: 1, Count: 10})); total != 0 {
			t.Fatalf("entra counts %d users", total)
		}
		if users, total := must2[store.SCIMUser](t, "okta")(s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{StartIndex: 1, Count: 10})); total != 1 || users[0].ID != ada.ID {
			t.Fatalf("okta lists %d users", total)
		}
		g := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, entra, store.SCIMGroup{OrgID: o.ID, DirectoryID: d2.ID, DisplayName: "Entra"}, nil))
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.SCIMUpdateGroup(ctx, entra, o.ID, d2.ID, g.ID, nil, store.MemberChange{Add: []string{ada.ID}}))
		})
		// A user transferred away is no longer a member as the directory sees it.
		og := must[store.SCIMGroup](t)(s.SCIMCreateGroup(ctx, okta, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "Okta"}, []string{ada.ID}))
		must[core.User](t)(s.TransferUser(ctx, adm, o.ID, ada.ID, core.Owner{Kind: core.OwnerLocal}))
		if m := must[[]store.SCIMMember](t)(s.SCIMGroupMembers(ctx, o.ID, d.ID, og.ID, "", 10)); len(m) != 0 {
			t.Fatalf("okta still sees %v", m)
		}
		unchanged(t, s, o.ID, core.ErrNotFound, func() error { return s.SCIMDeleteUser(ctx, okta, o.ID, d.ID, ada.ID) })
	}},
}
