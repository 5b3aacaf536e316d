package sso_test

import (
	"crypto/rsa"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// refresher is a Refresher on g's store, logging to g's log, with a clock of
// its own: moving it on makes refreshes due without making the IdPs' messages
// look stale to the handler.
func (g *gatehouse) refresher() (*sso.Refresher, *clock) {
	c := &clock{}
	return &sso.Refresher{Store: g.st, Now: c.Now, Every: time.Hour, Network: g.h.Network, Logger: slog.New(slog.NewTextHandler(g.logs, nil))}, c
}

func refreshDue(t *testing.T, r *sso.Refresher, want int) {
	t.Helper()
	n, err := r.RefreshDue(ctx)
	fatalIf(t, err, "refresh")
	if n != want {
		t.Fatalf("refreshed %d connections, want %d", n, want)
	}
}

// certStates lists a connection's recorded certificates as "subject:state".
func certStates(t *testing.T, g *gatehouse, conn store.SSOConnection) []string {
	t.Helper()
	cs, err := g.st.ListIdPCertificates(ctx, g.org.ID, conn.ID)
	fatalIf(t, err, "certificates")
	var out []string
	for _, c := range cs {
		st := "listed"
		if !c.RetiredAt.IsZero() {
			st = "retired"
		}
		out = append(out, strings.TrimPrefix(c.Subject, "CN=")+":"+st)
	}
	slices.Sort(out)
	return out
}

// TestScheduledRefreshRollsOverSAMLCertificates: the IdP announces a new
// signing certificate beside the old one, switches to it, then drops the old
// one. The scheduled refresh (not an admin) makes both trusted during the
// rollover and the old one refused after, on every instance; the certificate
// records follow; a failed fetch changes nothing.
func TestScheduledRefreshRollsOverSAMLCertificates(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		g := newGatehouse(t, st)
		g2 := newGatehouseIn(t, st, 1) // another instance on the same database
		g2.h.Box, g2.box = g.box, g.box
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		keyA, certA := idp.idp.Key.(*rsa.PrivateKey), idp.idp.Certificate
		keyB, certB := selfSigned(t, "test idp B")
		conn := g.addSAML(idp, "okta", samlOpts{metadataURL: true})
		login := func(via *gatehouse) page {
			t.Helper()
			b := newBrowser(t)
			return b.submit(b.samlStart(via, conn, "/api/v1/me"), nil)
		}
		r, rclock := g.refresher()
		mustLogin(t, g, login(g))
		mustLogin(t, g2, login(g2))

		refreshDue(t, r, 1) // nothing new: recorded, not changed
		refreshDue(t, r, 0) // not due again within the hour
		if got := certStates(t, g, conn); !slices.Equal(got, []string{"test idp:listed"}) {
			t.Errorf("certificates %v", got)
		}
		if c, _ := st.GetSSOConnection(ctx, conn.ID); c.Version != conn.Version {
			t.Errorf("an unchanged refresh bumped the version to %d", c.Version)
		}

		// Rollover: B is announced beside A and signs; not trusted before the refresh.
		idp.publish(keyB, certB, certA)
		wantRefused(t, g, login(g), "invalid_saml_response")
		rclock.Advance(61 * time.Minute)
		refreshDue(t, r, 1)
		if got := certStates(t, g, conn); !slices.Equal(got, []string{"test idp B:listed", "test idp:listed"}) {
			t.Errorf("certificates during rollover %v", got)
		}
		for _, via := range []*gatehouse{g, g2} {
			mustLogin(t, via, login(via)) // signed by B
		}
		idp.publish(keyA, certA, certB) // both are listed: A still works
		for _, via := range []*gatehouse{g, g2} {
			mustLogin(t, via, login(via))
		}

		// A is retired: the IdP lists only B.
		idp.publish(keyB, certB)
		rclock.Advance(61 * time.Minute)
		refreshDue(t, r, 1)
		if got := certStates(t, g, conn); !slices.Equal(got, []string{"test idp B:listed", "test idp:retired"}) {
			t.Errorf("certificates after rollover %v", got)
		}
		mustLogin(t, g, login(g))
		idp.useKey(keyA, certA) // a response signed with the retired key
		for _, via := range []*gatehouse{g, g2} {
			p := login(via)
			if p.status == http.StatusOK && p.url.Path == "/api/v1/me" {
				t.Fatal("a response signed with the retired certificate was accepted")
			}
			wantRefused(t, via, p, "invalid_saml_response")
		}
		idp.useKey(keyB, certB)
		ups := 0
		for _, e := range g.audits("sso_connection.update") {
			if e.Actor.Name == "sso metadata refresh" {
				ups++
			}
		}
		if ups != 2 {
			t.Errorf("%d metadata changes audited, want 2", ups)
		}

		// The IdP's metadata URL fails: recorded, retried within 10 minutes,
		// logins go on with what was fetched last.
		idp.mu.Lock()
		idp.metadataFails = true
		idp.mu.Unlock()
		before, _ := st.GetSSOConnection(ctx, conn.ID)
		rclock.Advance(61 * time.Minute)
		refreshDue(t, r, 0)
		rs, err := st.GetSSORefresh(ctx, g.org.ID, conn.ID)
		fatalIf(t, err, "refresh state")
		if rs.Failures != 1 || !strings.Contains(rs.LastError, "503") || rs.NextAt.After(rclock.Now().Add(10*time.Minute)) {
			t.Errorf("after a failed fetch: %+v", rs)
		}
		if after, _ := st.GetSSOConnection(ctx, conn.ID); after.Version != before.Version {
			t.Error("a failed refresh changed the connection")
		}
		mustLogin(t, g, login(g))
		if !strings.Contains(g.logs.String(), "metadata refresh failed") {
			t.Errorf("the failure is not logged:\n%s", g.logs.String())
		}
	})
}

// TestRefreshRefusesAnotherEntity: metadata of another IdP at the metadata URL
// is not applied by the schedule.
func TestRefreshRefusesAnotherEntity(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		conn := g.addSAML(idp, "okta", samlOpts{metadataURL: true})
		idp.mu.Lock()
		idp.idp.MetadataURL.Path = "/other-entity"
		idp.mu.Unlock()
		r, _ := g.refresher()
		refreshDue(t, r, 0)
		rs, _ := g.st.GetSSORefresh(ctx, g.org.ID, conn.ID)
		if !strings.Contains(rs.LastError, "not the connection's") {
			t.Errorf("refresh state %+v", rs)
		}
		if c, _ := g.st.GetSSOConnection(ctx, conn.ID); c.Version != conn.Version {
			t.Error("metadata of another entity was applied")
		}
	})
}

// TestSignedAuthnRequests: when the IdP's metadata asks for signed
// AuthnRequests, Gatehouse signs them (and says so in its metadata); an IdP
// that starts asking is followed at the next scheduled refresh.
func TestSignedAuthnRequests(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		conn := g.addSAML(idp, "okta", samlOpts{metadataURL: true}) // the IdP does not ask yet
		spSigns := func() bool {
			resp, err := http.Get(sso.SAMLEndpointsFor(g.url, conn.ID).MetadataURL)
			fatalIf(t, err, "sp metadata")
			md, err := samlsp.ParseMetadata(readAll(t, resp))
			fatalIf(t, err, "parse")
			return *md.SPSSODescriptors[0].AuthnRequestsSigned
		}
		if spSigns() {
			t.Error("AuthnRequestsSigned before the IdP asked")
		}
		idp.mu.Lock()
		idp.idp.WantAuthnRequestsSigned = true
		idp.mu.Unlock()
		b := newBrowser(t)
		if p := b.get(g.url.String() + "/sso/saml/" + conn.ID + "/login"); p.status == http.StatusOK {
			t.Fatalf("the IdP accepted an unsigned AuthnRequest: %.200s", p.body)
		}
		r, _ := g.refresher()
		refreshDue(t, r, 1)
		if !spSigns() {
			t.Error("AuthnRequestsSigned is false after the IdP asked")
		}
		b.stopAt.Store("/sso")
		p := b.get(g.url.String() + "/sso/saml/" + conn.ID + "/login")
		b.stopAt.Store("")
		if !strings.Contains(p.location, "Signature=") || !strings.Contains(p.location, "SigAlg=") {
			t.Errorf("AuthnRequest redirect carries no signature: %s", p.location)
		}
		mustLogin(t, g, b.submit(b.samlStart(g, conn, "/api/v1/me"), nil))
	})
}

// TestScheduledRefreshOIDCKeys: a new key of the OpenID provider works at
// once (go-oidc fetches the JWKS on an unknown kid), but a key the provider
// retired stays trusted by a running connector until the scheduled refresh
// sees the JWKS changed and rebuilds it.
func TestScheduledRefreshOIDCKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		op, conn := g.addOIDC(t, oidcOpts{})
		k1, k2 := newOPKey(t, "k1"), newOPKey(t, "k2")
		op.st.setKeys(k1, k1)
		op.users.set("u-bob", "bob@acme.test", true, nil)
		login := func() page {
			b := newBrowser(t)
			return b.oidcLogin(b.oidcStart(g, conn, "/api/v1/me"), "bob@acme.test", "pw-u-bob")
		}
		mustLogin(t, g, login())
		r, rclock := g.refresher()
		refreshDue(t, r, 1) // first refresh: records k1
		kids := func() (out []string) {
			cs, err := g.st.ListIdPCertificates(ctx, g.org.ID, conn.ID)
			fatalIf(t, err, "keys")
			for _, c := range cs {
				st := "listed"
				if !c.RetiredAt.IsZero() {
					st = "retired"
				}
				out = append(out, c.KeyID+":"+st)
			}
			slices.Sort(out)
			return out
		}
		if got := kids(); !slices.Equal(got, []string{"k1:listed"}) {
			t.Errorf("keys %v", got)
		}
		op.st.setKeys(k2, k1, k2) // rollover: k2 signs, both published
		mustLogin(t, g, login())
		op.st.setKeys(k1, k2) // k1 retired, yet a token signed with it shows up
		mustLogin(t, g, login())
		rclock.Advance(61 * time.Minute)
		refreshDue(t, r, 1)
		if got := kids(); !slices.Equal(got, []string{"k1:retired", "k2:listed"}) {
			t.Errorf("keys after the refresh %v", got)
		}
		wantRefused(t, g, login(), "oidc_invalid_id_token")
		op.st.setKeys(k2, k2)
		mustLogin(t, g, login())
	})
}
