package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestTokenCheck: a SCIM read that carries a TokenCheck says, from its own
// statement, whether the token is live; once the token is revoked the next read says
// it is not; a read without a row proves nothing (but a user list's page on SQLite,
// which carries a row of its own for the check, and a userName eq lookup on
// PostgreSQL, whose statement returns the token's row with or without a user);
// reads answer as without a check.
func TestTokenCheck(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
			o, d := acmeOkta(t, s)
			tok, _, err := s.CreateToken(ctx, sys, o.ID, store.TokenSCIM, "okta", d.ID)
			if err != nil {
				t.Fatal(err)
			}
			other, _, err := s.CreateToken(ctx, sys, o.ID, store.TokenSCIM, "other", d.ID)
			if err != nil {
				t.Fatal(err)
			}
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: "okta"}
			u, err := s.SCIMCreateUser(ctx, actor, newSCIMUser(d, "ann@acme.test"))
			if err != nil {
				t.Fatal(err)
			}
			g, err := s.SCIMCreateGroup(ctx, actor, store.SCIMGroup{OrgID: o.ID, DirectoryID: d.ID, DisplayName: "eng"}, []string{u.ID})
			if err != nil {
				t.Fatal(err)
			}
			eq := &store.FilterCompare{Attr: store.AttrUserName, Op: store.OpEq, Value: "ANN@acme.test"}
			miss := &store.FilterCompare{Attr: store.AttrUserName, Op: store.OpEq, Value: "nobody@acme.test"}
			reads := []struct {
				name   string
				hasRow bool
				read   func(ctx context.Context) (any, error)
			}{
				{"get user", true, func(ctx context.Context) (any, error) { return s.SCIMGetUser(ctx, o.ID, d.ID, u.ID) }},
				{"get group", true, func(ctx context.Context) (any, error) { return s.SCIMGetGroup(ctx, o.ID, d.ID, g.ID) }},
				{"list users", true, func(ctx context.Context) (any, error) {
					us, n, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{StartIndex: 1, Count: 100})
					return []any{us, n}, err
				}},
				{"lookup", true, func(ctx context.Context) (any, error) {
					us, n, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Filter: eq, StartIndex: 1, Count: 100})
					return []any{us, n}, err
				}},
				// A lookup that finds nobody proves the token too: on SQLite a list's
				// page carries a row of its own (tokenCheckRow), on PostgreSQL the
				// lookup's statement returns the token's row (scimUserByName).
				{"lookup miss", true, func(ctx context.Context) (any, error) {
					us, n, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Filter: miss, StartIndex: 1, Count: 100})
					return []any{us, n}, err
				}},
				{"page past the end", s.Dialect() == store.SQLite, func(ctx context.Context) (any, error) {
					us, n, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{StartIndex: 5, Count: 100})
					return []any{us, n}, err
				}},
				{"count only", false, func(ctx context.Context) (any, error) {
					us, n, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{StartIndex: 1, Count: 0})
					return []any{us, n}, err
				}},
				{"missing user", false, func(ctx context.Context) (any, error) { return s.SCIMGetUser(ctx, o.ID, d.ID, "nope") }},
			}
			for round, revoked := range []bool{false, true} {
				if revoked {
					if err := s.RevokeToken(ctx, sys, o.ID, tok.ID); err != nil {
						t.Fatal(err)
					}
				}
				for _, rd := range reads {
					want, wantErr := rd.read(ctx)
					cctx, check := store.WithTokenCheck(ctx, tok.ID)
					got, gotErr := rd.read(cctx)
					if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(got, want) {
						t.Fatalf("round %d %s: with a check %v (%v), without %v (%v)", round, rd.name, got, gotErr, want, wantErr)
					}
					checked, live := check.Result()
					if checked != rd.hasRow || (checked && live == revoked) {
						t.Fatalf("round %d %s: checked %v live %v, want checked %v live %v", round, rd.name, checked, live, rd.hasRow, !revoked)
					}
					// Another token of the directory stays live throughout.
					cctx, check = store.WithTokenCheck(ctx, other.ID)
					if _, err := rd.read(cctx); (err == nil) != (wantErr == nil) {
						t.Fatal(err)
					}
					if checked, live := check.Result(); checked != rd.hasRow || (checked && !live) {
						t.Fatalf("round %d %s: the other token: checked %v live %v", round, rd.name, checked, live)
					}
				}
			}
			// An unknown token is not live.
			cctx, check := store.WithTokenCheck(ctx, "no-such-token")
			if _, err := s.SCIMGetUser(cctx, o.ID, d.ID, u.ID); err != nil {
				t.Fatal(err)
			}
			if checked, live := check.Result(); !checked || live {
				t.Fatalf("unknown token: checked %v live %v", checked, live)
			}
		})
	}
}

// TestTokenCheckedWrites: changes that carry a TokenCheck, from two tokens at once,
// one of them revoked: every change of the live token is kept and proves it live;
// every change of the revoked one fails as not found, proves it dead and writes
// nothing, not even to the org's change log. The changes share batches, which prove
// their tokens when they write their events: a batch that finds a dead token runs
// its other changes again without that token's.
func TestTokenCheckedWrites(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
			o, d := acmeOkta(t, s)
			live, _, err := s.CreateToken(ctx, sys, o.ID, store.TokenSCIM, "live", d.ID)
			if err != nil {
				t.Fatal(err)
			}
			dead, _, err := s.CreateToken(ctx, sys, o.ID, store.TokenSCIM, "dead", d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeToken(ctx, sys, o.ID, dead.ID); err != nil {
				t.Fatal(err)
			}
			if !s.TokenCheckedWrites() {
				t.Fatal("the store does not prove tokens in its changes")
			}
			before, err := s.OrgGeneration(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			actor := core.Actor{Kind: core.ActorSCIM, ID: d.ID, Name: "okta"}
			const n = 48
			errs := make([]error, n)
			checks := make([]*store.TokenCheck, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tok := live.ID
					if i%2 == 1 {
						tok = dead.ID
					}
					cctx, check := store.WithTokenCheck(ctx, tok)
					checks[i] = check
					name := fmt.Sprintf("u%d@acme.test", i)
					_, errs[i] = s.SCIMCreateUser(cctx, actor, newSCIMUser(d, name))
				}()
			}
			wg.Wait()
			for i := range n {
				checked, isLive := checks[i].Result()
				if i%2 == 0 && (errs[i] != nil || !checked || !isLive) {
					t.Errorf("change %d of the live token: %v, checked %v live %v", i, errs[i], checked, isLive)
				}
				if i%2 == 1 && (!errors.Is(errs[i], core.ErrNotFound) || !checked || isLive) {
					t.Errorf("change %d of the revoked token: %v, checked %v live %v; want not found, checked and dead", i, errs[i], checked, isLive)
				}
			}
			users, total, err := s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Count: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				var i int
				if _, err := fmt.Sscanf(u.UserName, "u%d@", &i); err != nil || i%2 == 1 {
					t.Errorf("user %s was created", u.UserName)
				}
			}
			after, err := s.OrgGeneration(ctx, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			if total != n/2 || after-before != n/2 {
				t.Errorf("%d users, change log moved by %d; want %d and %d", total, after-before, n/2, n/2)
			}

			// A change in an operation of its own transaction (WithTx, no batch)
			// proves its token in its own event.
			for _, tok := range []string{live.ID, dead.ID} {
				cctx, check := store.WithTokenCheck(ctx, tok)
				name := "tx-" + tok + "@acme.test"
				err := s.WithTx(cctx, func(st store.Store) error {
					_, err := st.(*store.SQL).SCIMCreateUser(cctx, actor, newSCIMUser(d, name))
					return err
				})
				checked, isLive := check.Result()
				if want := tok == live.ID; (err == nil) != want || !checked || isLive != want {
					t.Errorf("WithTx change of the %s token: %v, checked %v live %v", map[bool]string{true: "live", false: "revoked"}[want], err, checked, isLive)
				}
			}
			if _, total, err = s.SCIMListUsers(ctx, o.ID, d.ID, store.SCIMQuery{Count: 100}); err != nil || total != n/2+1 {
				t.Errorf("%d users after the WithTx changes (%v), want %d", total, err, n/2+1)
			}
		})
	}
}
