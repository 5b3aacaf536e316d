package sso_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// followPosts submits the auto-posting SAML forms a page carries (HTTP-POST
// binding), as a browser running their script does.
func followPosts(b *browser, p page) page {
	for i := 0; i < 6 && (strings.Contains(p.body, `name="SAMLRequest"`) || strings.Contains(p.body, `name="SAMLResponse"`)); i++ {
		p = b.submit(p, nil)
	}
	return p
}

// TestSingleLogout runs single logout against the real crewjam IdP, started
// at Gatehouse (SP) and at the IdP, over HTTP-Redirect and HTTP-POST: the
// messages are signed and checked both ways, the Gatehouse sessions of that IdP
// session end, others stay, and each step is audited.
func TestSingleLogout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, initiatedBy string
		binding           string // of every message, both ways
	}{
		{"sp-initiated-redirect", "sp", saml.HTTPRedirectBinding},
		{"sp-initiated-post", "sp", saml.HTTPPostBinding},
		{"idp-initiated-redirect", "idp", saml.HTTPRedirectBinding},
		{"idp-initiated-post", "idp", saml.HTTPPostBinding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
				g := newGatehouse(t, newStore(t))
				idp := newSAMLIdP(t)
				idp.idp.LogoutBindings = []string{tc.binding}
				idp.spSLOBindings = []string{tc.binding}
				// A persistent NameID, as AD FS sends: logout must name it exactly.
				u := alice
				u.nameID, u.nameIDFormat, u.sessionIndex = "9TRHaNzEJlDpxJ1vFq0cS4mLn2Yw7tPz+Ub3kXoQe8A=", persistent, "_idx-42"
				idp.setUser(u)
				conn := g.addSAML(idp, "adfs", samlOpts{})
				md := sso.SAMLEndpointsFor(g.url, conn.ID)

				// The SP metadata offers signed single logout.
				resp, err := http.Get(md.MetadataURL)
				fatalIf(t, err, "sp metadata")
				spmd, err := samlsp.ParseMetadata(readAll(t, resp))
				fatalIf(t, err, "parse sp metadata")
				if slo := spmd.SPSSODescriptors[0].SingleLogoutServices; len(slo) != 2 || slo[0].Location != md.SLO {
					t.Errorf("SP metadata SingleLogoutServices %+v, want Redirect and POST at %s", slo, md.SLO)
				}

				b, b2, bob := newBrowser(t), newBrowser(t), newBrowser(t)
				mustLogin(t, g, b.submit(b.samlStart(g, conn, "/api/v1/me"), nil))
				mustLogin(t, g, b2.submit(b2.samlStart(g, conn, "/api/v1/me"), nil)) // the same IdP session, another Gatehouse session
				idp.setUser(idpUser{email: "bob@acme.test", given: "Bob"})
				mustLogin(t, g, bob.submit(bob.samlStart(g, conn, "/api/v1/me"), nil))
				idp.setUser(u)

				var p page
				if tc.initiatedBy == "sp" {
					p = followPosts(b, b.submit(b.get(g.url.String()+"/sso/logout"), nil))
					if p.status != http.StatusOK || !strings.Contains(p.body, "signed out of Gatehouse and of your identity provider") {
						t.Fatalf("SP-initiated logout ended on %s %d: %.400s\nlogs:\n%s\nIdP logs:\n%s", p.url, p.status, p.body, g.logs.String(), idp.logs.String())
					}
					if !idp.sessionEnded(u.email) {
						t.Error("the IdP session was not ended")
					}
				} else {
					p = followPosts(b, b.get(idp.srv.URL+"/logout-start"))
					if !strings.Contains(p.body, "You have been logged out.") || strings.Contains(p.body, "could not be confirmed") {
						t.Fatalf("IdP-initiated logout ended on %s %d: %.400s\nlogs:\n%s\nIdP logs:\n%s", p.url, p.status, p.body, g.logs.String(), idp.logs.String())
					}
				}
				live := map[string]bool{}
				for name, br := range map[string]*browser{"b": b, "b2": b2, "bob": bob} {
					code, _ := br.me(g)
					live[name] = code == http.StatusOK
				}
				// SP-initiated ends the browser's own session; IdP-initiated every
				// session of the IdP session. Bob's stays either way.
				want := map[string]bool{"b": false, "b2": tc.initiatedBy == "sp", "bob": true}
				for k, v := range want {
					if live[k] != v {
						t.Errorf("session %s live=%v, want %v", k, live[k], v)
					}
				}
				slo := g.audits("sso.single_logout")
				if len(slo) != 1 || slo[0].Details["initiated_by"] != tc.initiatedBy {
					t.Fatalf("sso.single_logout events %+v, want one initiated by %s", slo, tc.initiatedBy)
				}
				wantBinding := map[string]string{saml.HTTPRedirectBinding: "HTTP-Redirect", saml.HTTPPostBinding: "HTTP-POST"}[tc.binding]
				if slo[0].Details["binding"] != wantBinding {
					t.Errorf("binding %v, want %s", slo[0].Details["binding"], wantBinding)
				}
				wantEnded := 1
				if tc.initiatedBy == "idp" {
					wantEnded = 2
					if slo[0].Details["sessions"] != float64(2) || slo[0].Details["subject"] != u.nameID {
						t.Errorf("details %+v, want 2 sessions of %s", slo[0].Details, u.nameID)
					}
				}
				if n := len(g.audits("sso.logout")); n != wantEnded {
					t.Errorf("%d sso.logout events, want %d", n, wantEnded)
				}
				if n := len(g.audits("sso.logout_refused")); n != 0 {
					t.Errorf("%d refused logout messages", n)
				}
			})
		})
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	fatalIf(t, err, "read")
	return b
}

// TestSingleLogoutRefused: logout messages that are unsigned, replayed,
// answer no logout of ours, or come to a connection with single logout off are
// refused with a page and an audit reason, and end no session.
func TestSingleLogoutRefused(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		// idpLogoutURL logs b in and returns the IdP's (signed, HTTP-Redirect)
		// LogoutRequest to Gatehouse, not yet delivered.
		setup := func(t *testing.T, n int, o samlOpts) (*gatehouse, store.SSOConnection, *browser, *url.URL) {
			g := newGatehouseIn(t, st, n)
			idp := newSAMLIdP(t)
			idp.setUser(alice)
			conn := g.addSAML(idp, "okta", o)
			b := newBrowser(t)
			mustLogin(t, g, b.submit(b.samlStart(g, conn, "/api/v1/me"), nil))
			b.stopAt.Store("/sso/saml/" + conn.ID + "/slo")
			p := b.get(idp.srv.URL + "/logout-start")
			b.stopAt.Store("")
			u, err := p.url.Parse(p.location)
			fatalIf(t, err, "logout request URL %q (status %d)", p.location, p.status)
			return g, conn, b, u
		}
		refusedLogout := func(t *testing.T, g *gatehouse, p page, reason string, b *browser, stillLive bool) {
			t.Helper()
			if p.status != http.StatusBadRequest && p.status != http.StatusForbidden {
				t.Errorf("status %d, want a refusal: %.300s", p.status, p.body)
			}
			if !strings.Contains(g.logs.String(), "reason="+reason) {
				t.Errorf("log has no reason=%s:\n%s", reason, g.logs.String())
			}
			if es := g.audits("sso.logout_refused"); len(es) == 0 || es[len(es)-1].Details["reason"] != reason {
				t.Errorf("audit %+v, want sso.logout_refused with reason %s", es, reason)
			}
			if code, _ := b.me(g); (code == http.StatusOK) != stillLive {
				t.Errorf("/me %d, want live=%v", code, stillLive)
			}
		}
		t.Run("unsigned-logout-request", func(t *testing.T) {
			g, _, b, u := setup(t, 1, samlOpts{})
			q := u.Query()
			q.Del("Signature")
			q.Del("SigAlg")
			u.RawQuery = q.Encode()
			refusedLogout(t, g, b.get(u.String()), "invalid_logout_request", b, true)
		})
		t.Run("replayed-logout-request", func(t *testing.T) {
			g, conn, b, u := setup(t, 2, samlOpts{})
			if p := b.get(u.String()); p.status >= 400 {
				t.Fatalf("genuine logout request refused: %d %.300s", p.status, p.body)
			}
			mustLogin(t, g, b.submit(b.samlStart(g, conn, "/api/v1/me"), nil))
			refusedLogout(t, g, b.get(u.String()), "logout_replay", b, true)
		})
		t.Run("single-logout-off", func(t *testing.T) {
			g, _, b, u := setup(t, 3, samlOpts{settings: sso.Settings{SingleLogout: ptr(false)}})
			refusedLogout(t, g, b.get(u.String()), "single_logout_off", b, true)
		})
		t.Run("unsolicited-logout-response", func(t *testing.T) {
			g := newGatehouseIn(t, st, 4)
			idp := newSAMLIdP(t)
			conn := g.addSAML(idp, "okta", samlOpts{})
			b := newBrowser(t)
			p := b.post(g.url.String()+"/sso/saml/"+conn.ID+"/slo", url.Values{"SAMLResponse": {"PHNhbWxwOkxvZ291dFJlc3BvbnNlLz4="}, "RelayState": {"forged"}})
			refusedLogout(t, g, p, "slo_unknown_request", b, false)
			if !strings.Contains(p.body, "You are signed out of Gatehouse") {
				t.Errorf("page: %.300s", p.body)
			}
		})
	})
}
