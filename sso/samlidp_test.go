package sso_test

import (
	"crypto/rsa"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// idpUser is a person at the test SAML IdP.
type idpUser struct {
	email, given, family string
	groups               []string
	groupsAttr           string // attribute carrying groups; "groups" when empty
}

// samlIdP is a real SAML identity provider (crewjam/saml's IdP side) on loopback.
// Its session provider treats the browser as logged in as the current user; its
// service provider provider fetches the SP metadata from Gatehouse, as an IdP admin
// who pasted the metadata URL would.
type samlIdP struct {
	t   *testing.T
	idp *saml.IdentityProvider
	srv *httptest.Server

	mu      sync.Mutex
	user    idpUser
	encrypt bool                            // keep the SP's encryption key: assertions encrypted
	tweak   func(req *saml.IdpAuthnRequest) // changes the assertion before it is signed
}

func newSAMLIdP(t *testing.T) *samlIdP {
	t.Helper()
	key, cert := selfSigned(t, "test idp")
	p := &samlIdP{t: t}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	base, _ := url.Parse(p.srv.URL)
	p.idp = &saml.IdentityProvider{
		Key: key, Signer: key, Certificate: cert, Logger: log.New(io.Discard, "", 0),
		MetadataURL:             *base.JoinPath("metadata"),
		SSOURL:                  *base.JoinPath("sso"),
		SessionProvider:         p,
		ServiceProviderProvider: p,
		AssertionMaker:          p,
	}
	mux.HandleFunc("/metadata", p.idp.ServeMetadata)
	mux.HandleFunc("/sso", p.idp.ServeSSO)
	// IdP-initiated: /start?sp=ENTITYID&relay=…, as an IdP dashboard tile.
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		p.idp.ServeIDPInitiated(w, r, r.URL.Query().Get("sp"), r.URL.Query().Get("relay"))
	})
	return p
}

func (p *samlIdP) setUser(u idpUser) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = u
}

func (p *samlIdP) setTweak(fn func(req *saml.IdpAuthnRequest)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tweak = fn
}

// GetSession: the browser is logged in at the IdP as the current user.
func (p *samlIdP) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	p.mu.Lock()
	u := p.user
	p.mu.Unlock()
	attr := u.groupsAttr
	if attr == "" {
		attr = "groups"
	}
	var vals []saml.AttributeValue
	for _, g := range u.groups {
		vals = append(vals, saml.AttributeValue{Type: "xs:string", Value: g})
	}
	s := &saml.Session{
		ID: "sess-" + u.email, CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), Index: "1",
		NameID: u.email, NameIDFormat: string(saml.EmailAddressNameIDFormat),
		UserEmail: u.email, UserGivenName: u.given, UserSurname: u.family,
		CustomAttributes: []saml.Attribute{
			{Name: "email", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: u.email}}},
			{Name: "firstName", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: u.given}}},
			{Name: "lastName", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: u.family}}},
		},
	}
	if len(vals) > 0 {
		s.CustomAttributes = append(s.CustomAttributes, saml.Attribute{Name: attr, Values: vals})
	}
	return s
}

// GetServiceProvider fetches the SP's metadata from its entity id (our metadata URL).
func (p *samlIdP) GetServiceProvider(r *http.Request, spID string) (*saml.EntityDescriptor, error) {
	resp, err := http.Get(spID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, os.ErrNotExist
	}
	b, _ := io.ReadAll(resp.Body)
	md, err := samlsp.ParseMetadata(b)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	encrypt := p.encrypt
	p.mu.Unlock()
	if !encrypt {
		// Like an Okta or Entra app without assertion encryption.
		for i := range md.SPSSODescriptors {
			kds := md.SPSSODescriptors[i].KeyDescriptors[:0]
			for _, kd := range md.SPSSODescriptors[i].KeyDescriptors {
				if kd.Use != "encryption" && kd.Use != "" {
					kds = append(kds, kd)
				}
			}
			md.SPSSODescriptors[i].KeyDescriptors = kds
		}
	}
	return md, nil
}

// MakeAssertion is crewjam's default, then the test's tweak (before signing).
func (p *samlIdP) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		return err
	}
	p.mu.Lock()
	tweak := p.tweak
	p.mu.Unlock()
	if tweak != nil {
		tweak(req)
	}
	return nil
}

// metadata is the IdP's metadata XML, as an admin downloads it.
func (p *samlIdP) metadata(t *testing.T) []byte {
	t.Helper()
	resp, err := http.Get(p.srv.URL + "/metadata")
	fatalIf(t, err, "idp metadata")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// useKey makes the IdP sign with another key than the one in its metadata.
func (p *samlIdP) useKey(key *rsa.PrivateKey, cert *x509.Certificate) {
	p.idp.Key, p.idp.Signer, p.idp.Certificate = key, key, cert
}

// setClock pins the IdP's clock.
func (p *samlIdP) setClock(at time.Time) { p.idp.Clock = dsig.NewFakeClockAt(at) }

type samlOpts struct {
	allowIdP bool
	noJIT    bool
	domains  []string
}

// addSAML creates a SAML connection to the IdP in Gatehouse.
func (g *gatehouse) addSAML(p *samlIdP, name string, o samlOpts) store.SSOConnection {
	g.t.Helper()
	id := store.NewID()
	cfg, err := sso.NewSAMLConfig(g.box, id, p.metadata(g.t), "")
	fatalIf(g.t, err, "saml config")
	cfg.AllowIdPInitiated = o.allowIdP
	c, err := g.st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, store.SSOConnection{
		ID: id, OrgID: g.org.ID, Name: name, Kind: store.KindSAML, JIT: !o.noJIT, SAML: cfg, Domains: o.domains,
	})
	fatalIf(g.t, err, "create saml connection")
	return c
}

// samlLogin runs an SP-initiated login in the browser up to the IdP's auto-posting
// form, and returns that page (the IdP's response, not yet posted).
func (b *browser) samlStart(g *gatehouse, conn store.SSOConnection, returnTo string) page {
	b.t.Helper()
	u := g.url.String() + "/sso/saml/" + conn.ID + "/login"
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	p := b.get(u)
	if p.status != http.StatusOK {
		b.t.Fatalf("IdP answered %d at %s: %.300s", p.status, p.url, p.body)
	}
	return p
}

// idpInitiated opens the IdP's dashboard tile for the connection.
func (b *browser) idpInitiated(p *samlIdP, g *gatehouse, conn store.SSOConnection, relay string) page {
	b.t.Helper()
	ep := sso.SAMLEndpointsFor(g.url, conn.ID)
	return b.get(p.srv.URL + "/start?sp=" + url.QueryEscape(ep.EntityID) + "&relay=" + url.QueryEscape(relay))
}
