package sso_test

import (
	"crypto/rsa"
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestSAMLMetadataRefreshRotatesKey: refreshing a connection's IdP metadata after
// the IdP rotated its signing certificate takes effect at once in a running
// handler (its cached connector is rebuilt on the version change), on this
// instance and on another one sharing the database: new-key responses pass,
// old-key ones fail.
func TestSAMLMetadataRefreshRotatesKey(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		g := newGatehouse(t, st)
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		conn := g.addSAML(idp, "okta", samlOpts{})
		login := func(via *gatehouse) page {
			t.Helper()
			b := newBrowser(t)
			return b.submit(b.samlStart(via, conn, "/api/v1/me"), nil)
		}
		// A second instance on the same database, with the same secret key.
		g2 := newGatehouseIn(t, st, 1)
		g2.h.Box = g.box
		g2.box = g.box

		mustLogin(t, g, login(g)) // each instance builds and caches the connector of version 1
		mustLogin(t, g2, login(g2))
		oldKey, oldCert := idp.idp.Key.(*rsa.PrivateKey), idp.idp.Certificate
		oldFP := sso.IdPCertificateFingerprints(conn.SAML.IdPMetadataXML)

		newKey, newCert := selfSigned(t, "test idp, rotated")
		idp.useKey(newKey, newCert)
		for _, via := range []*gatehouse{g, g2} {
			wantRefused(t, via, login(via), "invalid_saml_response") // not trusted before the refresh
		}

		rotated := idp.metadata(t) // now names the new certificate
		up, err := st.UpdateSSOConnection(ctx, core.Actor{Kind: core.ActorAdmin}, g.org.ID, conn.ID, func(c *store.SSOConnection) error {
			return sso.RefreshSAMLMetadata(c, rotated, "")
		})
		fatalIf(t, err, "refresh metadata")
		if up.Version != conn.Version+1 {
			t.Errorf("version %d after refresh, want %d", up.Version, conn.Version+1)
		}
		if fp := sso.IdPCertificateFingerprints(up.SAML.IdPMetadataXML); len(fp) == 0 || slices.Equal(fp, oldFP) {
			t.Errorf("fingerprints after refresh %v, before %v", fp, oldFP)
		}
		if up.SAML.SPKeySealed != conn.SAML.SPKeySealed || up.SAML.SPCertPEM != conn.SAML.SPCertPEM {
			t.Error("refreshing the IdP metadata changed the SP key")
		}

		mustLogin(t, g, login(g)) // new key accepted by the instance that cached version 1
		mustLogin(t, g2, login(g2))
		idp.useKey(oldKey, oldCert)
		for _, via := range []*gatehouse{g, g2} {
			p := login(via)
			if p.status == http.StatusOK && p.url.Path == "/api/v1/me" {
				t.Fatal("an assertion signed with the retired key was accepted after the refresh")
			}
			wantRefused(t, via, p, "invalid_saml_response")
		}

		if err := sso.RefreshSAMLMetadata(&up, []byte("<html>not metadata</html>"), ""); err == nil {
			t.Error("junk metadata accepted")
		}
	})
}
