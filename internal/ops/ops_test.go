package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

var (
	ctx   = context.Background()
	actor = core.Actor{Kind: core.ActorSystem, Name: "test"}
)

func forEachBackend(t *testing.T, fn func(t *testing.T, st *store.SQL)) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.New(t))
		})
	}
}

func newOrg(t *testing.T, st *store.SQL) (core.Org, core.User) {
	t.Helper()
	o, admin, err := st.CreateOrg(ctx, actor, "acme", "Acme", "admin@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	return o, admin
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

func tokensOf(t *testing.T, st store.Store, orgID, directoryID string) []store.Token {
	t.Helper()
	ts, err := st.ListTokens(ctx, orgID)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Token
	for _, tk := range ts {
		if tk.DirectoryID == directoryID {
			out = append(out, tk)
		}
	}
	return out
}

func TestCreateDirectoryWithItsToken(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, _ := newOrg(t, st)
		ops := New(st)
		dt, err := ops.CreateDirectory(ctx, actor, o.ID, " okta ")
		if err != nil {
			t.Fatal(err)
		}
		if dt.Directory.Name != "okta" || dt.Token.DirectoryID != dt.Directory.ID || dt.Token.Kind != store.TokenSCIM {
			t.Fatalf("created %+v", dt)
		}
		if tok, err := st.Authenticate(ctx, dt.Token.Secret); err != nil || tok.DirectoryID != dt.Directory.ID {
			t.Fatalf("the secret does not open the directory: %+v %v", tok, err)
		}
		// A taken name changes nothing: no second directory, no token for the first.
		_, err = ops.CreateDirectory(ctx, actor, o.ID, "okta")
		wantErr(t, err, core.ErrConflict)
		if n := len(tokensOf(t, st, o.ID, dt.Directory.ID)); n != 1 {
			t.Fatalf("%d tokens after a refused create", n)
		}
		_, err = ops.CreateDirectory(ctx, actor, o.ID, "  ")
		wantErr(t, err, core.ErrInvalid)

		// The command line's variant adds a token to an existing directory, and
		// creates a new one with its token.
		again, err := ops.ProvisionDirectory(ctx, actor, o.ID, "okta", "okta")
		if err != nil || again.Directory.ID != dt.Directory.ID {
			t.Fatalf("provision existing: %+v %v", again, err)
		}
		if n := len(tokensOf(t, st, o.ID, dt.Directory.ID)); n != 2 {
			t.Fatalf("%d tokens after provisioning", n)
		}
		entra, err := ops.ProvisionDirectory(ctx, actor, o.ID, "entra", "")
		if err != nil || entra.Directory.Name != "entra" || entra.Token.Name != "entra token" {
			t.Fatalf("provision new: %+v %v", entra, err)
		}
	})
}

// TestCreateDirectoryRace: concurrent creates of one name make one directory with
// one token; every other caller is told the name is taken. The old pre-check
// (read, then create) let two callers both "create" it.
func TestCreateDirectoryRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, _ := newOrg(t, st)
		ops := New(st)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = ops.CreateDirectory(ctx, actor, o.ID, "okta")
			}()
		}
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, core.ErrConflict):
				t.Fatalf("unexpected error: %v", err)
			}
		}
		d, err := st.GetDirectory(ctx, o.ID, "okta")
		if err != nil {
			t.Fatal(err)
		}
		if created != 1 || len(tokensOf(t, st, o.ID, d.ID)) != 1 {
			t.Fatalf("%d callers created the directory, which has %d tokens; want 1 and 1", created, len(tokensOf(t, st, o.ID, d.ID)))
		}
	})
}

func TestTokensRotateAndRevoke(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, _ := newOrg(t, st)
		ops := New(st)
		ops.Now = func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }
		dt, err := ops.CreateDirectory(ctx, actor, o.ID, "okta")
		if err != nil {
			t.Fatal(err)
		}
		nt, err := ops.RotateDirectoryToken(ctx, actor, dt.Directory, "")
		if err != nil || nt.Name != "okta token 2026-03-04" || nt.Secret == "" {
			t.Fatalf("rotate: %+v %v", nt, err)
		}
		api, err := ops.CreateAPIToken(ctx, actor, o.ID, " app ")
		if err != nil || api.Name != "app" || api.Kind != store.TokenAPI {
			t.Fatalf("API token: %+v %v", api, err)
		}
		_, err = ops.CreateAPIToken(ctx, actor, o.ID, "")
		wantErr(t, err, core.ErrInvalid)

		// Each revocation takes only a token of its own kind (and directory).
		other, err := ops.CreateDirectory(ctx, actor, o.ID, "entra")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, ops.RevokeAPIToken(ctx, actor, o.ID, nt.ID), core.ErrNotFound)
		wantErr(t, ops.RevokeDirectoryToken(ctx, actor, o.ID, other.Directory.ID, nt.ID), core.ErrNotFound)
		wantErr(t, ops.RevokeDirectoryToken(ctx, actor, o.ID, dt.Directory.ID, api.ID), core.ErrNotFound)
		wantErr(t, ops.RevokeAPIToken(ctx, actor, o.ID, "nope"), core.ErrNotFound)
		for _, s := range []string{nt.Secret, api.Secret, dt.Token.Secret} {
			if _, err := st.Authenticate(ctx, s); err != nil {
				t.Fatalf("a refused revocation revoked a token: %v", err)
			}
		}
		if err := ops.RevokeDirectoryToken(ctx, actor, o.ID, dt.Directory.ID, dt.Token.ID); err != nil {
			t.Fatal(err)
		}
		if err := ops.RevokeAPIToken(ctx, actor, o.ID, api.ID); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{dt.Token.Secret, api.Secret} {
			_, err := st.Authenticate(ctx, s)
			wantErr(t, err, core.ErrNotFound)
		}
		if _, err := st.Authenticate(ctx, nt.Secret); err != nil {
			t.Fatalf("the rotated token died with the old one: %v", err)
		}
	})
}

// failRemove is a store whose RemoveOrgAdmin fails, inside WithTx too: the step
// after the grant of a transfer.
type failRemove struct{ store.Store }

func (f failRemove) WithTx(ctx context.Context, fn func(store.Store) error) error {
	return f.Store.WithTx(ctx, func(st store.Store) error { return fn(failRemove{st}) })
}

func (failRemove) RemoveOrgAdmin(context.Context, core.Actor, string, string) error {
	return fmt.Errorf("injected: %w", core.ErrUnavailable)
}

func TestTransferOrgAdmin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, admin := newOrg(t, st)
		ops := New(st)
		user := func(name string, active bool) core.User {
			u, err := st.CreateUser(ctx, actor, core.User{OrgID: o.ID, UserName: name, Email: name + "@acme.test", Active: active, Source: core.SourceInvited})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		bob, gone := user("bob", true), user("gone", false)
		isAdmin := func(u core.User) bool {
			ok, err := st.IsOrgAdmin(ctx, o.ID, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}

		// An org admin must be active, whichever way they become one.
		_, err := ops.AddOrgAdmin(ctx, actor, o.ID, gone.ID)
		wantErr(t, err, core.ErrInvalid)
		_, err = ops.TransferOrgAdmin(ctx, actor, o.ID, admin.ID, gone.ID)
		wantErr(t, err, core.ErrInvalid)
		if !strings.Contains(err.Error(), "gone@acme.test is deactivated") || isAdmin(gone) {
			t.Fatalf("transfer to a deactivated user: %v", err)
		}
		_, err = ops.TransferOrgAdmin(ctx, actor, o.ID, admin.ID, admin.ID)
		wantErr(t, err, core.ErrInvalid)

		// A transfer is one transaction: when taking admin away fails, the grant
		// is undone too.
		_, err = New(failRemove{st}).TransferOrgAdmin(ctx, actor, o.ID, admin.ID, bob.ID)
		wantErr(t, err, core.ErrUnavailable)
		if isAdmin(bob) || !isAdmin(admin) {
			t.Fatalf("a failed transfer left bob admin=%v, admin admin=%v", isAdmin(bob), isAdmin(admin))
		}

		admins, err := ops.TransferOrgAdmin(ctx, actor, o.ID, admin.ID, bob.ID)
		if err != nil || len(admins) != 1 || admins[0].ID != bob.ID {
			t.Fatalf("transfer: %+v %v", admins, err)
		}
		if _, err := ops.AddOrgAdmin(ctx, actor, o.ID, admin.ID); err != nil || !isAdmin(admin) {
			t.Fatalf("add: %v", err)
		}
	})
}

func TestGroupsUsersAndMappings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st *store.SQL) {
		o, admin := newOrg(t, st)
		ops := New(st)
		g, err := ops.CreateGroup(ctx, actor, o.ID, " engineers ", "builds")
		if err != nil || g.Name != "engineers" || g.Description != "builds" {
			t.Fatalf("group: %+v %v", g, err)
		}
		_, err = ops.CreateGroup(ctx, actor, o.ID, "Engineers", "")
		wantErr(t, err, core.ErrConflict)
		_, err = ops.CreateGroup(ctx, actor, o.ID, " ", "")
		wantErr(t, err, core.ErrInvalid)

		// The last active org admin cannot be deactivated.
		_, err = ops.SetUserActive(ctx, actor, o.ID, admin.ID, false)
		wantErr(t, err, core.ErrLastAdmin)

		dt, err := ops.CreateDirectory(ctx, actor, o.ID, "okta")
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []core.Mapping{
			{OrgID: o.ID, IdPGroup: "x", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: dt.Directory.ID, ConnectionID: "c", IdPGroup: "x", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: dt.Directory.ID, IdPGroup: " ", UserGroupID: g.ID},
			{OrgID: o.ID, DirectoryID: dt.Directory.ID, IdPGroup: "x"},
		} {
			_, err := ops.CreateMapping(ctx, actor, bad)
			wantErr(t, err, core.ErrInvalid)
		}
		m, err := ops.CreateMapping(ctx, actor, core.Mapping{OrgID: o.ID, DirectoryID: dt.Directory.ID, IdPGroup: " Data Eng ", UserGroupID: g.ID})
		if err != nil || m.IdPGroup != "Data Eng" {
			t.Fatalf("mapping: %+v %v", m, err)
		}
		if err := ops.DeleteMapping(ctx, actor, o.ID, m.ID); err != nil {
			t.Fatal(err)
		}
		wantErr(t, ops.DeleteMapping(ctx, actor, o.ID, m.ID), core.ErrNotFound)
	})
}
