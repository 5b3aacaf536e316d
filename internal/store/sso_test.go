package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

var sysActor = core.Actor{Kind: core.ActorSystem, Name: "test"}

func oidcConn(orgID, name string, domains ...string) store.SSOConnection {
	return store.SSOConnection{OrgID: orgID, Name: name, Kind: store.KindOIDC, JIT: true, Domains: domains,
		OIDC: &store.OIDCConfig{Issuer: "https://idp.example", ClientID: "c", ClientSecretSealed: "v1:x"}}
}

func TestSSOStorage(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			ctx := context.Background()
			org, _, err := s.CreateOrg(ctx, sysActor, "acme", "Acme", "admin@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			other, _, err := s.CreateOrg(ctx, sysActor, "other", "Other", "admin@other.test")
			if err != nil {
				t.Fatal(err)
			}

			t.Run("connections", func(t *testing.T) {
				c, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(org.ID, "okta", "Acme.Test", "acme.test"))
				if err != nil {
					t.Fatal(err)
				}
				if c.Version != 1 || len(c.Domains) != 1 || c.Domains[0] != "acme.test" {
					t.Errorf("created %+v", c)
				}
				if _, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(org.ID, "okta")); !errors.Is(err, core.ErrConflict) {
					t.Errorf("same name: %v, want ErrConflict", err)
				}
				// A domain belongs to one connection across orgs.
				if _, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(other.ID, "steal", "acme.test")); !errors.Is(err, core.ErrConflict) {
					t.Errorf("taken domain: %v, want ErrConflict", err)
				}
				if cs, _ := s.ListSSOConnections(ctx, other.ID); len(cs) != 0 {
					t.Errorf("the refused connection was partly written: %+v", cs)
				}
				bad := oidcConn(org.ID, "bad")
				bad.OIDC.ClientSecretSealed = ""
				if _, err := s.CreateSSOConnection(ctx, sysActor, bad); !errors.Is(err, core.ErrInvalid) {
					t.Errorf("no secret: %v, want ErrInvalid", err)
				}
				got, err := s.SSOConnectionForDomain(ctx, "ACME.test")
				if err != nil || got.ID != c.ID || got.OIDC.Issuer != "https://idp.example" {
					t.Errorf("by domain: %+v %v", got, err)
				}
				up, err := s.UpdateSSOConnection(ctx, sysActor, org.ID, c.ID, func(c *store.SSOConnection) error {
					c.JIT = false
					c.Domains = []string{"acme.example"}
					return nil
				})
				if err != nil || up.Version != 2 || up.JIT {
					t.Errorf("update: %+v %v", up, err)
				}
				if _, err := s.SSOConnectionForDomain(ctx, "acme.test"); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("old domain still routed: %v", err)
				}
				if _, err := s.UpdateSSOConnection(ctx, sysActor, other.ID, c.ID, func(*store.SSOConnection) error { return nil }); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("update from another org: %v, want ErrNotFound", err)
				}
				if _, err := s.DeleteSSOConnection(ctx, sysActor, other.ID, c.ID); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("delete from another org: %v, want ErrNotFound", err)
				}
			})

			t.Run("sessions", func(t *testing.T) {
				c, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(org.ID, "sessions"))
				if err != nil {
					t.Fatal(err)
				}
				u, err := s.CreateUser(ctx, sysActor, core.User{OrgID: org.ID, UserName: "sam@acme.test", Email: "sam@acme.test", Active: true, Source: core.SourceInvited})
				if err != nil {
					t.Fatal(err)
				}
				t0 := time.Now()
				ss := store.Session{IDHash: "h1", OrgID: org.ID, UserID: u.ID, ConnectionID: c.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Idle: 10 * time.Minute}
				if err := s.CreateSession(ctx, sysActor, ss, map[string]any{"protocol": "oidc"}); err != nil {
					t.Fatal(err)
				}
				for _, tc := range []struct {
					at   time.Duration
					live bool
				}{{5 * time.Minute, true}, {14 * time.Minute, true}, {25 * time.Minute, false}} {
					_, err := s.LookupSession(ctx, "h1", t0.Add(tc.at))
					if live := err == nil; live != tc.live {
						t.Errorf("at +%s: live=%v (%v), want %v", tc.at, live, err, tc.live)
					}
				}
				if err := s.PruneSSO(ctx, t0.Add(2*time.Hour)); err != nil {
					t.Fatal(err)
				}
				var n int
				_ = s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM sso_sessions`)
				if n != 0 {
					t.Errorf("%d sessions after pruning", n)
				}
			})

			t.Run("replay-is-atomic", func(t *testing.T) {
				c, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(org.ID, "replay"))
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				ok, conflicts := 0, 0
				for i := 0; i < 8; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						err := s.ConsumeAssertion(ctx, c.ID, "assertion-1", time.Now().Add(time.Hour))
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							ok++
						case errors.Is(err, core.ErrConflict):
							conflicts++
						default:
							t.Errorf("consume: %v", err)
						}
					}()
				}
				wg.Wait()
				if ok != 1 || conflicts != 7 {
					t.Errorf("%d accepted, %d refused; want 1 and 7", ok, conflicts)
				}
			})

			t.Run("login-state-taken-once", func(t *testing.T) {
				c, err := s.CreateSSOConnection(ctx, sysActor, oidcConn(org.ID, "state"))
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				if err := s.SaveOIDCState(ctx, store.OIDCState{StateHash: "s1", ConnectionID: c.ID, Nonce: "n", PKCEVerifier: "v", ReturnTo: "/x", ExpiresAt: now.Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.TakeOIDCState(ctx, "another-connection", "s1", now); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("state taken through another connection: %v", err)
				}
				st, err := s.TakeOIDCState(ctx, c.ID, "s1", now)
				if err != nil || st.Nonce != "n" || st.PKCEVerifier != "v" || st.ReturnTo != "/x" {
					t.Errorf("take: %+v %v", st, err)
				}
				if _, err := s.TakeOIDCState(ctx, c.ID, "s1", now); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("second take: %v, want ErrNotFound", err)
				}
				if err := s.SaveSAMLRequest(ctx, store.SAMLRequest{RelayHash: "r1", RequestID: "id-1", ConnectionID: c.ID, ReturnTo: "/", ExpiresAt: now.Add(time.Minute)}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.TakeSAMLRequest(ctx, c.ID, store.SAMLLogin, "r1", now.Add(2*time.Minute)); !errors.Is(err, core.ErrNotFound) {
					t.Errorf("expired request: %v, want ErrNotFound", err)
				}
			})
		})
	}
}
