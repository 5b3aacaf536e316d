package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ssoTests cover the SSO contract: connections with their domains, sessions and
// their timeouts, and login state that is taken once: SAML requests, assertion ids
// (replay) and OIDC states.
var ssoTests = []test{
	{"SSO/Connections", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		b, _ := newOrg(t, s, "other")
		c := must[store.SSOConnection](t)(s.CreateSSOConnection(ctx, sys, oidcConnection(o.ID, "okta", "Acme.Test", "acme.test")))
		if c.Version != 1 || len(c.Domains) != 1 || c.Domains[0] != "acme.test" || c.OIDC.Issuer != "https://idp.example" {
			t.Fatalf("created %+v", c)
		}
		if got := must[store.SSOConnection](t)(s.GetSSOConnection(ctx, c.ID)); got.Name != "okta" || got.OrgID != o.ID || got.Version != 1 {
			t.Fatalf("get = %+v", got)
		}
		unchanged(t, s, o.ID, core.ErrConflict, func() error { return second(s.CreateSSOConnection(ctx, sys, oidcConnection(o.ID, "okta"))) })
		// A domain belongs to one connection across orgs, and a refused create writes nothing.
		unchanged(t, s, b.ID, core.ErrConflict, func() error {
			return second(s.CreateSSOConnection(ctx, sys, oidcConnection(b.ID, "steal", "acme.test")))
		})
		if cs := must[[]store.SSOConnection](t)(s.ListSSOConnections(ctx, b.ID)); len(cs) != 0 {
			t.Fatalf("the refused connection was partly written: %+v", cs)
		}
		bad := oidcConnection(o.ID, "bad")
		bad.OIDC.ClientSecretSealed = ""
		unchanged(t, s, o.ID, core.ErrInvalid, func() error { return second(s.CreateSSOConnection(ctx, sys, bad)) })
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.CreateSSOConnection(ctx, sys, oidcConnection(o.ID, "bad-domain", "not a domain")))
		})
		wantErr(t, second(s.CreateSSOConnection(ctx, sys, oidcConnection("missing", "x"))), core.ErrNotFound)
		if got := must[store.SSOConnection](t)(s.SSOConnectionForDomain(ctx, "ACME.test")); got.ID != c.ID {
			t.Fatalf("by domain: %+v", got)
		}
		up := must[store.SSOConnection](t)(s.UpdateSSOConnection(ctx, sys, o.ID, c.ID, func(c *store.SSOConnection) error {
			c.JIT = false
			c.Domains = []string{"acme.example"}
			c.OrgID = b.ID // not fn's to change
			return nil
		}))
		if up.Version != 2 || up.JIT || up.OrgID != o.ID {
			t.Fatalf("update: %+v", up)
		}
		wantErr(t, second(s.SSOConnectionForDomain(ctx, "acme.test")), core.ErrNotFound)
		unchanged(t, s, o.ID, core.ErrVersion, func() error {
			return second(s.UpdateSSOConnection(ctx, sys, o.ID, c.ID, func(*store.SSOConnection) error { return core.ErrVersion }))
		})
		// Nothing of another org.
		wantErr(t, second(s.UpdateSSOConnection(ctx, sys, b.ID, c.ID, func(*store.SSOConnection) error { return nil })), core.ErrNotFound)
		wantErr(t, second(s.DeleteSSOConnection(ctx, sys, b.ID, c.ID)), core.ErrNotFound)
		if cs := must[[]store.SSOConnection](t)(s.ListSSOConnections(ctx, b.ID)); len(cs) != 0 {
			t.Fatalf("b lists %+v", cs)
		}
		// Deleting reports and removes what hangs off the connection.
		u := newUser(t, s, o.ID, "jane@acme.example")
		ok(t, s.SetConnectionGroups(ctx, sys, o.ID, c.ID, u.ID, []string{"admins", "devs"}))
		g := newGroup(t, s, o.ID, "eng")
		must[core.Mapping](t)(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, ConnectionID: c.ID, IdPGroup: "devs", UserGroupID: g.ID}))
		now := time.Now()
		ok(t, s.CreateSession(ctx, sys, store.Session{IDHash: "h", OrgID: o.ID, UserID: u.ID, ConnectionID: c.ID, CreatedAt: now,
			ExpiresAt: now.Add(time.Hour), Idle: time.Hour}, nil))
		del := must[store.SSODeletion](t)(s.DeleteSSOConnection(ctx, sys, o.ID, c.ID))
		if del.Connection.ID != c.ID || del.Domains != 1 || del.Sessions != 1 || del.IdPGroups != 2 || del.IdPGroupMembers != 2 || del.Mappings != 1 {
			t.Fatalf("deletion = %+v", del)
		}
		wantErr(t, second(s.GetSSOConnection(ctx, c.ID)), core.ErrNotFound)
		wantErr(t, second(s.LookupSession(ctx, "h", now)), core.ErrNotFound)
		if gs := must[[]core.IdPGroup](t)(s.ListIdPGroups(ctx, o.ID, c.ID, store.Page{})); len(gs) != 0 {
			t.Fatalf("the connection's groups stayed: %+v", gs)
		}
		for _, a := range []string{"sso_connection.create", "sso_connection.update", "sso_connection.delete", "sso.login"} {
			if len(audits(t, s, o.ID, a)) != 1 {
				t.Fatalf("want one %s event", a)
			}
		}
	}},
	{"SSO/Sessions", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		c := newConnection(t, s, o.ID, "okta")
		u := newUser(t, s, o.ID, "sam@acme.test")
		t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
		ss := store.Session{IDHash: "h1", OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Idle: 10 * time.Minute}
		ok(t, s.CreateSession(ctx, sys, ss, map[string]any{"protocol": "oidc"}))
		if e := audits(t, s, o.ID, "sso.login"); len(e) != 1 || e[0].TargetID != u.ID || e[0].Details["protocol"] != "oidc" {
			t.Fatalf("sso.login events = %+v", e)
		}
		for _, bad := range []store.Session{
			{OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Idle: time.Minute},
			{IDHash: "h2", OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
			{IDHash: "h2", OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0, ExpiresAt: t0, Idle: time.Minute},
		} {
			unchanged(t, s, o.ID, core.ErrInvalid, func() error { return s.CreateSession(ctx, sys, bad, nil) })
		}
		// Used within the idle timeout, a session lives on until its absolute expiry.
		for _, tc := range []struct {
			at   time.Duration
			live bool
		}{{5 * time.Minute, true}, {14 * time.Minute, true}, {23 * time.Minute, true}, {34 * time.Minute, false}} {
			got, err := s.LookupSession(ctx, "h1", t0.Add(tc.at))
			if live := err == nil; live != tc.live {
				t.Fatalf("at +%s: live=%v (%v), want %v", tc.at, live, err, tc.live)
			}
			if err == nil && (got.UserID != u.ID || got.OrgID != o.ID || got.ConnectionID != c) {
				t.Fatalf("session = %+v", got)
			}
		}
		ok(t, s.CreateSession(ctx, sys, store.Session{IDHash: "h3", OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), Idle: time.Hour}, nil))
		if _, err := s.LookupSession(ctx, "h3", t0.Add(61*time.Minute)); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("past the absolute timeout: %v", err)
		}
		// A deactivated user's sessions end at once; logout ends one.
		ok(t, s.CreateSession(ctx, sys, store.Session{IDHash: "h4", OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), Idle: time.Hour}, nil))
		must[store.Session](t)(s.LookupSession(ctx, "h4", t0))
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.Active = false; return nil }))
		wantErr(t, second(s.LookupSession(ctx, "h4", t0)), core.ErrNotFound)
		must[core.User](t)(s.UpdateUser(ctx, adm, o.ID, u.ID, func(x *core.User) error { x.Active = true; return nil }))
		wantErr(t, second(s.LookupSession(ctx, "h4", t0)), core.ErrNotFound)
		ok(t, s.CreateSession(ctx, sys, store.Session{IDHash: "h5", OrgID: o.ID, UserID: u.ID, ConnectionID: c, CreatedAt: t0,
			ExpiresAt: t0.Add(time.Hour), Idle: time.Hour}, nil))
		ok(t, s.DeleteSession(ctx, "h5"))
		ok(t, s.DeleteSession(ctx, "h5"))
		wantErr(t, second(s.LookupSession(ctx, "h5", t0)), core.ErrNotFound)
		ok(t, s.PruneSSO(ctx, t0.Add(2*time.Hour)))
		ok(t, s.RecordSSOEvent(ctx, o.ID, sys, "sso.logout", "user", u.ID, nil))
		if len(audits(t, s, o.ID, "sso.logout")) != 1 {
			t.Fatal("want one sso.logout event")
		}
	}},
	{"SSO/SAMLRequestTakenOnce", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		c := newConnection(t, s, o.ID, "okta")
		c2 := newConnection(t, s, o.ID, "entra")
		now := time.Now()
		r := store.SAMLRequest{RelayHash: "r1", RequestID: "id-1", ConnectionID: c, ReturnTo: "/x", ExpiresAt: now.Add(time.Minute), BindingHash: "b"}
		ok(t, s.SaveSAMLRequest(ctx, r))
		wantErr(t, second(s.TakeSAMLRequest(ctx, c2, store.SAMLLogin, "r1", now)), core.ErrNotFound)
		got := must[store.SAMLRequest](t)(s.TakeSAMLRequest(ctx, c, store.SAMLLogin, "r1", now))
		if got.RequestID != "id-1" || got.ReturnTo != "/x" || got.BindingHash != "b" || got.ConnectionID != c {
			t.Fatalf("taken = %+v", got)
		}
		wantErr(t, second(s.TakeSAMLRequest(ctx, c, store.SAMLLogin, "r1", now)), core.ErrNotFound)
		// Two responses racing for one request: one gets it.
		ok(t, s.SaveSAMLRequest(ctx, store.SAMLRequest{RelayHash: "r2", RequestID: "id-2", ConnectionID: c, ExpiresAt: now.Add(time.Minute)}))
		if n := race(8, func() error { return second(s.TakeSAMLRequest(ctx, c, store.SAMLLogin, "r2", now)) }, core.ErrNotFound); n != 1 {
			t.Fatalf("%d of 8 took the request, want 1", n)
		}
		// An expired request is not found, and is gone.
		ok(t, s.SaveSAMLRequest(ctx, store.SAMLRequest{RelayHash: "r3", RequestID: "id-3", ConnectionID: c, ExpiresAt: now.Add(time.Minute)}))
		wantErr(t, second(s.TakeSAMLRequest(ctx, c, store.SAMLLogin, "r3", now.Add(2*time.Minute))), core.ErrNotFound)
		wantErr(t, second(s.TakeSAMLRequest(ctx, c, store.SAMLLogin, "r3", now)), core.ErrNotFound)
	}},
	{"SSO/AssertionReplay", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		c := newConnection(t, s, o.ID, "okta")
		c2 := newConnection(t, s, o.ID, "entra")
		exp := time.Now().Add(time.Hour)
		if n := race(8, func() error { return s.ConsumeAssertion(ctx, c, "assertion-1", exp) }, core.ErrConflict); n != 1 {
			t.Fatalf("%d of 8 accepted the assertion, want 1", n)
		}
		wantErr(t, s.ConsumeAssertion(ctx, c, "assertion-1", exp), core.ErrConflict)
		ok(t, s.ConsumeAssertion(ctx, c2, "assertion-1", exp)) // ids are per connection
		wantErr(t, s.ConsumeAssertion(ctx, c, "", exp), core.ErrInvalid)
		// The record is kept until the assertion expires; pruning after that forgets it.
		ok(t, s.PruneSSO(ctx, exp.Add(-time.Minute)))
		wantErr(t, s.ConsumeAssertion(ctx, c, "assertion-1", exp), core.ErrConflict)
		ok(t, s.PruneSSO(ctx, exp.Add(time.Minute)))
		ok(t, s.ConsumeAssertion(ctx, c, "assertion-1", exp))
	}},
	{"SSO/OIDCStateTakenOnce", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		c := newConnection(t, s, o.ID, "okta")
		now := time.Now()
		ok(t, s.SaveOIDCState(ctx, store.OIDCState{StateHash: "s1", ConnectionID: c, Nonce: "n", PKCEVerifier: "v", ReturnTo: "/x", ExpiresAt: now.Add(time.Minute)}))
		wantErr(t, second(s.TakeOIDCState(ctx, "another-connection", "s1", now)), core.ErrNotFound)
		st := must[store.OIDCState](t)(s.TakeOIDCState(ctx, c, "s1", now))
		if st.Nonce != "n" || st.PKCEVerifier != "v" || st.ReturnTo != "/x" || st.ConnectionID != c {
			t.Fatalf("take: %+v", st)
		}
		wantErr(t, second(s.TakeOIDCState(ctx, c, "s1", now)), core.ErrNotFound)
		ok(t, s.SaveOIDCState(ctx, store.OIDCState{StateHash: "s2", ConnectionID: c, Nonce: "n", ExpiresAt: now.Add(time.Minute)}))
		if n := race(8, func() error { return second(s.TakeOIDCState(ctx, c, "s2", now)) }, core.ErrNotFound); n != 1 {
			t.Fatalf("%d of 8 took the state, want 1", n)
		}
		ok(t, s.SaveOIDCState(ctx, store.OIDCState{StateHash: "s3", ConnectionID: c, Nonce: "n", ExpiresAt: now.Add(time.Minute)}))
		wantErr(t, second(s.TakeOIDCState(ctx, c, "s3", now.Add(time.Minute))), core.ErrNotFound)
		// Pruning removes expired state only.
		ok(t, s.SaveOIDCState(ctx, store.OIDCState{StateHash: "s4", ConnectionID: c, Nonce: "n", ExpiresAt: now.Add(time.Minute)}))
		ok(t, s.PruneSSO(ctx, now))
		must[store.OIDCState](t)(s.TakeOIDCState(ctx, c, "s4", now))
	}},
}

// race runs f from n goroutines at once and returns how many succeeded; every
// failure must be lost.
func race(n int, f func() error, lost error) int {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		other error
		start = make(chan struct{})
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := f()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, lost):
				other = err
			}
		}()
	}
	close(start)
	wg.Wait()
	if other != nil {
		return -1
	}
	return wins
}
