package sso_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

var alice = idpUser{email: "alice@acme.test", given: "Alice", family: "Liddell", groups: []string{"eng", "ops"}}

func TestSAMLSPInitiatedLogin(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		for _, encrypt := range []bool{false, true} {
			name := "plain"
			if encrypt {
				name = "encrypted-assertion"
			}
			t.Run(name, func(t *testing.T) {
				g := newGatehouse(t, newStore(t))
				idp := newSAMLIdP(t)
				idp.encrypt = encrypt
				idp.setUser(alice)
				conn := g.addSAML(idp, "okta", samlOpts{domains: []string{"acme.test"}})

				b := newBrowser(t)
				if code, _ := b.me(g); code != http.StatusUnauthorized {
					t.Fatalf("/me before login: %d, want 401", code)
				}
				landed := b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
				if landed.status != http.StatusOK || landed.url.Path != "/api/v1/me" {
					t.Fatalf("login landed on %s with %d: %.300s\nlogs:\n%s", landed.url, landed.status, landed.body, g.logs.String())
				}
				code, me := b.me(g)
				if code != http.StatusOK {
					t.Fatalf("/me: %d", code)
				}
				if me.User.Email != "alice@acme.test" || me.User.GivenName != "Alice" || me.User.FamilyName != "Liddell" ||
					me.User.Source != core.SourceSSO || !me.User.Active || me.Org.ID != g.org.ID || me.Session.ConnectionID != conn.ID {
					t.Errorf("/me = %+v", me)
				}
				if names := connGroups(t, g, conn); !slices.Equal(names, []string{"eng", "ops"}) {
					t.Errorf("connection IdP groups = %v, want [eng ops]", names)
				}
				if n := len(g.audits("sso.login")); n != 1 {
					t.Errorf("%d sso.login audit events, want 1", n)
				}
			})
		}
	})
}

func TestSAMLIdPInitiatedLogin(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		g := newGatehouse(t, newStore(t))
		idp := newSAMLIdP(t)
		idp.setUser(alice)
		allowed := g.addSAML(idp, "okta-tile", samlOpts{allowIdP: true})
		closed := g.addSAML(idp, "okta-closed", samlOpts{})

		b := newBrowser(t)
		landed := b.submit(b.idpInitiated(idp, g, allowed, "/api/v1/me"), nil)
		if landed.status != http.StatusOK || landed.url.Path != "/api/v1/me" {
			t.Fatalf("IdP-initiated login landed on %s with %d: %.300s\n%s", landed.url, landed.status, landed.body, g.logs.String())
		}
		// An absolute URL on Gatehouse itself is a landing page too.
		bSame := newBrowser(t)
		if landed := bSame.submit(bSame.idpInitiated(idp, g, allowed, g.url.String()+"/api/v1/me"), nil); landed.url.Path != "/api/v1/me" {
			t.Errorf("RelayState %s/api/v1/me led to %s", g.url, landed.url)
		}
		// A RelayState on another host never becomes a redirect.
		b2 := newBrowser(t)
		landed = b2.submit(b2.idpInitiated(idp, g, allowed, "https://evil.example/phish"), nil)
		if landed.url.Host != g.url.Host || landed.url.Path != "/" {
			t.Errorf("RelayState https://evil.example/phish led to %s", landed.url)
		}

		b3 := newBrowser(t)
		refused := b3.submit(b3.idpInitiated(idp, g, closed, "/api/v1/me"), nil)
		wantRefused(t, g, refused, "idp_initiated_not_allowed")
		if code, _ := b3.me(g); code != http.StatusUnauthorized {
			t.Errorf("/me after refused IdP-initiated login: %d", code)
		}

		// Changing the connection rebuilds its cached service provider.
		_, err := g.st.UpdateSSOConnection(ctx, core.Actor{Kind: core.ActorAdmin}, g.org.ID, closed.ID, func(c *store.SSOConnection) error {
			c.SAML.AllowIdPInitiated = true
			return nil
		})
		fatalIf(t, err, "update connection")
		// (Alice belongs to okta-tile, which created her: another person signs in here.)
		idp.setUser(idpUser{email: "bob@acme.test", given: "Bob", family: "B"})
		b4 := newBrowser(t)
		if landed := b4.submit(b4.idpInitiated(idp, g, closed, "/api/v1/me"), nil); landed.status != http.StatusOK {
			t.Errorf("IdP-initiated after allowing it: %d %.200s", landed.status, landed.body)
		}
	})
}

func TestSAMLMetadata(t *testing.T) {
	t.Parallel()
	g := newGatehouse(t, storetest.NewSQLite(t))
	idp := newSAMLIdP(t)
	conn := g.addSAML(idp, "okta", samlOpts{})
	resp, err := http.Get(g.url.String() + "/sso/saml/" + conn.ID + "/metadata")
	fatalIf(t, err, "get metadata")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("metadata: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	md, err := samlsp.ParseMetadata(body)
	fatalIf(t, err, "parse metadata")
	ep := sso.SAMLEndpointsFor(g.url, conn.ID)
	if md.EntityID != ep.EntityID || len(md.SPSSODescriptors) != 1 ||
		md.SPSSODescriptors[0].AssertionConsumerServices[0].Location != ep.ACS ||
		md.SPSSODescriptors[0].AssertionConsumerServices[0].Binding != saml.HTTPPostBinding {
		t.Errorf("metadata = %s", body)
	}
	if strings.Contains(string(body), "PRIVATE") {
		t.Error("metadata shows a private key")
	}
	for _, u := range []string{"/sso/saml/nope/metadata", "/sso/saml/nope/login", "/sso/oidc/" + conn.ID + "/login"} {
		r, err := http.Get(g.url.String() + u)
		fatalIf(t, err, "get")
		r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", u, r.StatusCode)
		}
	}
}

// decodeResponse and encodeResponse read and write the SAMLResponse of a form.
func decodeResponse(t *testing.T, vals url.Values) *etree.Document {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(vals.Get("SAMLResponse"))
	fatalIf(t, err, "decode SAMLResponse")
	doc := etree.NewDocument()
	fatalIf(t, doc.ReadFromBytes(raw), "parse SAMLResponse")
	return doc
}

func encodeResponse(t *testing.T, doc *etree.Document, vals url.Values) {
	t.Helper()
	s, err := doc.WriteToString()
	fatalIf(t, err, "write SAMLResponse")
	vals.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(s)))
}

func removeSignatures(el *etree.Element) {
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" {
			el.RemoveChild(c)
			continue
		}
		removeSignatures(c)
	}
}

// setEmail rewrites every place the assertion names the user.
func setEmail(a *etree.Element, email string) {
	for _, el := range a.FindElements(".//NameID") {
		el.SetText(email)
	}
	for _, el := range a.FindElements(".//AttributeValue") {
		if strings.Contains(el.Text(), "@") {
			el.SetText(email)
		}
	}
}

// TestSAMLAttacksRefused takes real responses of the IdP and tampers with them, or
// configures the IdP wrongly; every one must be refused without a session or a user.
func TestSAMLAttacksRefused(t *testing.T) {
	t.Parallel()
	type attack struct {
		name       string
		allowIdP   bool
		wantReason string
		cause      string // in the logged private error: the refusal has the intended reason
		// run performs the attack and returns the page the browser ends on.
		run func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page
	}
	spForm := func(t *testing.T, g *gatehouse, conn store.SSOConnection, b *browser) (string, url.Values) {
		return b.samlStart(g, conn, "/api/v1/me").form(t)
	}
	attacks := []attack{
		{name: "unsigned", cause: "signature element not present", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			action, vals := spForm(t, g, conn, b)
			doc := decodeResponse(t, vals)
			removeSignatures(doc.Root())
			encodeResponse(t, doc, vals)
			return b.post(action, vals)
		}},
		{name: "wrong-key", cause: "Could not verify certificate against trusted certs", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			idp.useKey(selfSigned(t, "attacker"))
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}},
		{name: "altered-signed-assertion", cause: "Signature could not be verified", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			action, vals := spForm(t, g, conn, b)
			doc := decodeResponse(t, vals)
			setEmail(doc.Root().SelectElement("Assertion"), "mallory@acme.test")
			encodeResponse(t, doc, vals)
			return b.post(action, vals)
		}},
		{name: "signature-wrapping-unsigned-response", cause: "must contain exactly one Assertion", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			// XSW: drop the response signature, put a forged copy of the assertion
			// (new id, attacker's email, no signature) before the genuine signed one.
			action, vals := spForm(t, g, conn, b)
			doc := decodeResponse(t, vals)
			root := doc.Root()
			if sig := root.SelectElement("Signature"); sig != nil {
				root.RemoveChild(sig)
			}
			orig := root.SelectElement("Assertion")
			evil := orig.Copy()
			evil.CreateAttr("ID", "id-evil")
			removeSignatures(evil)
			setEmail(evil, "mallory@acme.test")
			root.InsertChildAt(orig.Index(), evil)
			encodeResponse(t, doc, vals)
			return b.post(action, vals)
		}},
		{name: "signature-wrapping-nested", cause: "cannot validate signature on Assertion", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			// XSW: the forged assertion keeps the genuine assertion's ID and
			// signature, and hides the genuine signed assertion inside itself.
			action, vals := spForm(t, g, conn, b)
			doc := decodeResponse(t, vals)
			root := doc.Root()
			if sig := root.SelectElement("Signature"); sig != nil {
				root.RemoveChild(sig)
			}
			orig := root.SelectElement("Assertion")
			evil := orig.Copy()
			setEmail(evil, "mallory@acme.test")
			if sig := evil.SelectElement("Signature"); sig != nil {
				sig.AddChild(orig.Copy())
			}
			root.RemoveChild(orig)
			root.AddChild(evil)
			encodeResponse(t, doc, vals)
			return b.post(action, vals)
		}},
		{name: "expired", cause: "expired", allowIdP: true, wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			idp.setClock(time.Now().Add(-2 * time.Hour))
			return b.submit(b.idpInitiated(idp, g, conn, "/api/v1/me"), nil)
		}},
		{name: "not-yet-valid", cause: "in the future", allowIdP: true, wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			idp.setClock(time.Now().Add(time.Hour))
			return b.submit(b.idpInitiated(idp, g, conn, "/api/v1/me"), nil)
		}},
		{name: "assertion-expired", cause: "expired", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			// A fresh response around an assertion whose own window has passed.
			idp.setTweak(func(req *saml.IdpAuthnRequest) {
				past := time.Now().Add(-10 * time.Minute)
				req.Assertion.Conditions.NotBefore = past.Add(-time.Hour)
				req.Assertion.Conditions.NotOnOrAfter = past
				req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = past
			})
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}},
		{name: "wrong-audience", cause: "AudienceRestriction does not contain", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			idp.setTweak(func(req *saml.IdpAuthnRequest) {
				req.Assertion.Conditions.AudienceRestrictions = []saml.AudienceRestriction{{Audience: saml.Audience{Value: "https://other-sp.example/metadata"}}}
			})
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}},
		{name: "wrong-recipient", cause: "Recipient is not", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			idp.setTweak(func(req *saml.IdpAuthnRequest) {
				req.Assertion.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://other-sp.example/acs"
			})
			return b.submit(b.samlStart(g, conn, "/api/v1/me"), nil)
		}},
		{name: "wrong-destination", cause: "Destination", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			// A response the IdP addressed to another SP, posted to us.
			idp.setTweak(func(req *saml.IdpAuthnRequest) {
				ep := *req.ACSEndpoint
				ep.Location = "https://other-sp.example/acs"
				req.ACSEndpoint = &ep
			})
			p := b.samlStart(g, conn, "/api/v1/me")
			_, vals := p.form(t)
			return b.post(g.url.String()+"/sso/saml/"+conn.ID+"/acs", vals)
		}},
		{name: "in-response-to-another-request", cause: "InResponseTo", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			_, first := spForm(t, g, conn, b)
			action, second := spForm(t, g, conn, b)
			// The response to the first request, with the second request's RelayState.
			first.Set("RelayState", second.Get("RelayState"))
			return b.post(action, first)
		}},
		{name: "solicited-response-without-relaystate", cause: "InResponseTo", allowIdP: true, wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			// An SP-initiated response passed off as IdP-initiated: its
			// InResponseTo names no request we are waiting for.
			action, vals := spForm(t, g, conn, b)
			vals.Del("RelayState")
			return b.post(action, vals)
		}},
		{name: "garbage", allowIdP: true, cause: "base64", wantReason: "invalid_saml_response", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			return b.post(g.url.String()+"/sso/saml/"+conn.ID+"/acs", url.Values{"SAMLResponse": {"%%% not base64 <xml>"}})
		}},
		{name: "oversized", cause: "too large", wantReason: "bad_form", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			return b.post(g.url.String()+"/sso/saml/"+conn.ID+"/acs", url.Values{"SAMLResponse": {strings.Repeat("A", 2<<20)}})
		}},
		{name: "replayed-sp-initiated", cause: "RelayState names no pending request", wantReason: "saml_unknown_request", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			action, vals := spForm(t, g, conn, b)
			if p := b.post(action, vals); p.status != http.StatusOK {
				t.Fatalf("first use refused: %d %.300s", p.status, p.body)
			}
			b.post(g.url.String()+"/sso/logout", nil)
			return newBrowser(t).post(action, vals)
		}},
		{name: "replayed-idp-initiated", cause: "already been used", allowIdP: true, wantReason: "saml_replay", run: func(t *testing.T, g *gatehouse, idp *samlIdP, conn store.SSOConnection, b *browser) page {
			action, vals := b.idpInitiated(idp, g, conn, "/api/v1/me").form(t)
			if p := b.post(action, vals); p.status != http.StatusOK {
				t.Fatalf("first use refused: %d %.300s", p.status, p.body)
			}
			b.post(g.url.String()+"/sso/logout", nil)
			return newBrowser(t).post(action, vals)
		}},
	}
	forEachBackend(t, func(t *testing.T, newStore func(testing.TB) *store.SQL) {
		st := newStore(t)
		for i, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				g := newGatehouseIn(t, st, i)
				idp := newSAMLIdP(t)
				idp.setUser(alice)
				conn := g.addSAML(idp, "okta", samlOpts{allowIdP: a.allowIdP})
				b := newBrowser(t)
				refused := a.run(t, g, idp, conn, b)
				wantRefused(t, g, refused, a.wantReason)
				if !strings.Contains(g.logs.String(), a.cause) {
					t.Errorf("log does not show the cause %q:\n%s", a.cause, g.logs.String())
				}
				// The attacker's browser has no session.
				ab := newBrowser(t)
				if code, _ := ab.me(g); code != http.StatusUnauthorized {
					t.Errorf("/me: %d, want 401", code)
				}
				if strings.HasPrefix(a.name, "replayed") {
					if n := len(g.audits("sso.login")); n != 1 {
						t.Errorf("%d logins, want only the genuine one", n)
					}
				} else if _, err := g.userByEmail("alice@acme.test"); err == nil {
					t.Errorf("a user was created from a refused response")
				}
				if _, err := g.userByEmail("mallory@acme.test"); err == nil {
					t.Errorf("the forged identity was created")
				}
				if len(g.audits("sso.login_refused")) == 0 {
					t.Errorf("no sso.login_refused audit event")
				}
			})
		}
	})
}
