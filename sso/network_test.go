package sso_test

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestRefreshRefusedByNetworkPolicy: the scheduled refresh fetches through
// the SSO network policy. A metadata URL the policy now refuses (the operator
// tightened it, or the name moved to a refused address) fails the refresh,
// logged at WARN with the reason, and the connection keeps its last good
// metadata: a signing certificate the IdP published meanwhile is not taken up,
// the old one still signs people in.
func TestRefreshRefusedByNetworkPolicy(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		conn := g.addSAML(idp, "okta", samlOpts{metadataURL: true})
		keyA, certA := idp.idp.Key.(*rsa.PrivateKey), idp.idp.Certificate
		_, certB := selfSigned(t, "test idp B")
		idp.publish(keyA, certA, certB) // a change the refresh would apply

		r, _ := g.refresher()
		r.Network = sso.Network{} // serve's default: loopback refused
		refreshDue(t, r, 0)
		logs := g.logs.String()
		if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "sso: metadata refresh failed") ||
			!strings.Contains(logs, "refused by the SSO network policy: 127.0.0.1, a loopback address") {
			t.Fatalf("no WARN with the policy's reason:\n%s", logs)
		}
		rs, err := g.st.GetSSORefresh(ctx, g.org.ID, conn.ID)
		fatalIf(t, err, "refresh state")
		if !strings.Contains(rs.LastError, "--sso-allow-loopback") {
			t.Errorf("recorded error %q does not say what would allow it", rs.LastError)
		}
		c, err := g.st.GetSSOConnection(ctx, conn.ID)
		fatalIf(t, err, "connection")
		if c.Version != conn.Version || c.SAML.IdPMetadataXML != conn.SAML.IdPMetadataXML {
			t.Fatal("a refused refresh changed the connection")
		}
		b := newBrowser(t)
		mustLogin(t, g, b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)) // signed by A, still trusted

		// Allowed again, the same refresh takes up B.
		r2, rclock := g.refresher()
		rclock.Advance(2 * time.Hour)
		refreshDue(t, r2, 1)
		if got := certStates(t, g, conn); !slices.Equal(got, []string{"test idp B:listed", "test idp:listed"}) {
			t.Errorf("certificates after an allowed refresh %v", got)
		}
	})
}

// fakeOP serves an OpenID discovery document on loopback whose other
// endpoints are on a refused address (the cloud metadata endpoint), and an
// authorization endpoint that sends the browser straight back with a code.
func fakeOP(t *testing.T, elsewhere string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
			"token_endpoint": elsewhere + "/token", "jwks_uri": elsewhere + "/keys", "userinfo_endpoint": elsewhere + "/userinfo",
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		back, _ := url.Parse(r.URL.Query().Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {"a-code"}, "state": {r.URL.Query().Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// TestOIDCEndpointsUnderNetworkPolicy: a provider found by discovery on an
// allowed address cannot send Gatehouse elsewhere through its discovery
// document: the token endpoint (code exchange at sign-in) and the JWKS (the
// scheduled refresh) on the cloud metadata address are refused by the dialer,
// with the reason in the log, and the sign-in is refused.
func TestOIDCEndpointsUnderNetworkPolicy(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		issuer := fakeOP(t, "http://169.254.169.254")
		id := store.NewID()
		cfg, err := sso.NewOIDCConfig(ctx, g.h.Network, g.box, id, issuer, "gatehouse", "s3cret")
		fatalIf(t, err, "oidc config")
		conn, err := g.st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem},
			store.SSOConnection{ID: id, OrgID: g.org.ID, Name: "elsewhere", Kind: store.KindOIDC, JIT: true, OIDC: cfg})
		fatalIf(t, err, "create")

		b := newBrowser(t)
		p := b.get(g.url.String() + "/sso/oidc/" + conn.ID + "/login?return_to=/api/v1/me")
		wantRefused(t, g, p, "oidc_code_exchange")
		if logs := g.logs.String(); !strings.Contains(logs, "refused by the SSO network policy: 169.254.169.254, a link-local address (the cloud metadata endpoint)") {
			t.Errorf("the code exchange was not refused by the policy:\n%s", logs)
		}

		r, _ := g.refresher()
		refreshDue(t, r, 0)
		rs, err := g.st.GetSSORefresh(ctx, g.org.ID, conn.ID)
		fatalIf(t, err, "refresh state")
		if !strings.Contains(rs.LastError, "JWKS") || !strings.Contains(rs.LastError, "169.254.169.254, a link-local address") {
			t.Errorf("refresh error %q, want the JWKS fetch refused", rs.LastError)
		}
	})
}
