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
	"slices"
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
	extraAttrs           []saml.Attribute
	// nameID and nameIDFormat are the subject; the email in emailAddress format
	// when empty.
	nameID, nameIDFormat string
	// attrs, when set, replace the email, firstName and lastName attributes (an
	// IdP shaped otherwise: claim URIs, OIDs, admin-named attributes).
	attrs []saml.Attribute
	// sessionIndex is the IdP session's index; "1" when empty.
	sessionIndex string
}

// attr is a SAML attribute with string values.
func attr(name string, values ...string) saml.Attribute {
	a := saml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}
	for _, v := range values {
		a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
	}
	return a
}

// samlIdP is a real SAML identity provider (crewjam/saml's IdP side) on loopback.
// Its session provider treats the browser as logged in as the current user; its
// service provider provider fetches the SP metadata from Gatehouse, as an IdP admin
// who pasted the metadata URL would.
type samlIdP struct {
	t    *testing.T
	idp  *saml.IdentityProvider
	srv  *httptest.Server
	logs *logBuffer // the IdP's own log, for failures

	// client fetches SP metadata; http.DefaultClient when nil (trustSP sets it).
	client *http.Client

	mu      sync.Mutex
	user    idpUser
	encrypt bool                            // keep the SP's encryption key: assertions encrypted
	tweak   func(req *saml.IdpAuthnRequest) // changes the assertion before it is signed
	// signing is what the IdP signs: "" both the response and the assertion
	// (Okta), "assertion" only the assertion (Entra's and AD FS's default),
	// "response" only the response.
	signing string
	// spSLOBindings, when set, are the only single logout bindings of the SP's
	// metadata the IdP uses (to make it answer or ask over HTTP-POST).
	spSLOBindings []string
	// sessions are the IdP sessions handed out, by id, with the service
	// providers each was used for and whether single logout ended it.
	sessions map[string]*idpSession
	// metadataFails makes the metadata URL answer 503.
	metadataFails bool
}

type idpSession struct {
	s            *saml.Session
	participants []saml.SessionParticipant
	ended        bool
}

func newSAMLIdP(t *testing.T) *samlIdP {
	t.Helper()
	key, cert := selfSigned(t, "test idp")
	p := &samlIdP{t: t, logs: &logBuffer{}}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	base, _ := url.Parse(p.srv.URL)
	p.idp = &saml.IdentityProvider{
		Key: key, Signer: key, Certificate: cert, Logger: log.New(p.logs, "", 0),
		MetadataURL:             *base.JoinPath("metadata"),
		SSOURL:                  *base.JoinPath("sso"),
		LogoutURL:               *base.JoinPath("slo"),
		LogoutBindings:          []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
		SessionProvider:         p,
		ServiceProviderProvider: p,
		AssertionMaker:          p,
		ResponseWriter:          p,
	}
	p.sessions = map[string]*idpSession{}
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.metadataFails {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		p.idp.ServeMetadata(w, r)
	})
	mux.HandleFunc("/sso", p.idp.ServeSSO)
	mux.HandleFunc("/slo", p.idp.ServeSLO)
	// IdP-initiated single logout of the current user's session, as the IdP's
	// own sign-out button.
	mux.HandleFunc("/logout-start", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		sess := p.sessions["sess-"+p.user.email]
		p.mu.Unlock()
		var s *saml.Session
		if sess != nil {
			s = sess.s
		}
		p.idp.StartLogout(w, r, s, "")
	})
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
	groupsAttr := u.groupsAttr
	if groupsAttr == "" {
		groupsAttr = "groups"
	}
	var vals []saml.AttributeValue
	for _, g := range u.groups {
		vals = append(vals, saml.AttributeValue{Type: "xs:string", Value: g})
	}
	nameID, format := u.nameID, u.nameIDFormat
	if nameID == "" {
		nameID, format = u.email, string(saml.EmailAddressNameIDFormat)
	}
	index := u.sessionIndex
	if index == "" {
		index = "1"
	}
	s := &saml.Session{
		ID: "sess-" + u.email, CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), Index: index,
		NameID: nameID, NameIDFormat: format,
		CustomAttributes: []saml.Attribute{
			{Name: "email", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: u.email}}},
			{Name: "firstName", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: u.given}}},
			{Name: "lastName", NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic", Values: []saml.AttributeValue{{Type: "xs:string", Value: u.family}}},
		},
	}
	if u.attrs != nil {
		s.CustomAttributes = append([]saml.Attribute(nil), u.attrs...)
	}
	if len(vals) > 0 {
		s.CustomAttributes = append(s.CustomAttributes, saml.Attribute{Name: groupsAttr, Values: vals})
	}
	s.CustomAttributes = append(s.CustomAttributes, u.extraAttrs...)
	p.mu.Lock()
	if cur, ok := p.sessions[s.ID]; ok && !cur.ended {
		cur.s = s // the same IdP session, with the user's current attributes
	} else {
		p.sessions[s.ID] = &idpSession{s: s}
	}
	p.mu.Unlock()
	return s
}

// AddSessionParticipant records that a session was used to sign in to an SP,
// so IdP-initiated logout reaches it.
func (p *samlIdP) AddSessionParticipant(r *http.Request, s *saml.Session, sp saml.SessionParticipant) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.sessions[s.ID]
	for _, x := range cur.participants {
		if x.ServiceProviderID == sp.ServiceProviderID && x.NameID.Value == sp.NameID.Value && x.SessionIndex == sp.SessionIndex {
			return nil
		}
	}
	cur.participants = append(cur.participants, sp)
	return nil
}

// SessionParticipants lists the SPs of the sessions match selects.
func (p *samlIdP) SessionParticipants(r *http.Request, match func(*saml.Session) bool) ([]saml.SessionParticipant, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []saml.SessionParticipant
	for _, s := range p.sessions {
		if !s.ended && match(s.s) {
			out = append(out, s.participants...)
		}
	}
	return out, nil
}

// InvalidateSession ends the IdP sessions an SP's LogoutRequest names.
func (p *samlIdP) InvalidateSession(w http.ResponseWriter, r *http.Request, req *saml.IdpLogoutRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.sessions {
		if req.MatchesSession(s.s) {
			s.ended = true
		}
	}
	return nil
}

// sessionEnded says whether single logout ended the user's IdP session.
func (p *samlIdP) sessionEnded(email string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions["sess-"+email]
	return s != nil && s.ended
}

// WriteResponse signs what the IdP is set to sign, then posts the response.
func (p *samlIdP) WriteResponse(w http.ResponseWriter, req *saml.IdpAuthnRequest) error {
	p.mu.Lock()
	signing := p.signing
	p.mu.Unlock()
	switch signing {
	case "response":
		// The assertion as is, unsigned (and unencrypted), inside a signed response.
		req.AssertionEl = req.Assertion.Element()
		if err := req.MakeResponse(); err != nil {
			return err
		}
	case "assertion":
		if err := req.MakeResponse(); err != nil {
			return err
		}
		for _, c := range req.ResponseEl.ChildElements() {
			if c.Tag == "Signature" {
				req.ResponseEl.RemoveChild(c)
			}
		}
	}
	return req.WriteResponse(w)
}

// GetServiceProvider fetches the SP's metadata from its entity id (our metadata URL).
func (p *samlIdP) GetServiceProvider(r *http.Request, spID string) (*saml.EntityDescriptor, error) {
	client := p.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Get(spID)
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
	encrypt, sloBindings := p.encrypt, p.spSLOBindings
	p.mu.Unlock()
	if sloBindings != nil {
		for i := range md.SPSSODescriptors {
			var keep []saml.Endpoint
			for _, e := range md.SPSSODescriptors[i].SingleLogoutServices {
				if slices.Contains(sloBindings, e.Binding) {
					keep = append(keep, e)
				}
			}
			md.SPSSODescriptors[i].SingleLogoutServices = keep
		}
	}
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
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idp.Key, p.idp.Signer, p.idp.Certificate = key, key, cert
}

// publish makes the IdP sign with key (its metadata's first certificate) and
// list the extra certificates beside it, as during a certificate rollover.
func (p *samlIdP) publish(key *rsa.PrivateKey, cert *x509.Certificate, extra ...*x509.Certificate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idp.Key, p.idp.Signer, p.idp.Certificate, p.idp.ExtraCertificates = key, key, cert, extra
}

// trustSP makes the IdP trust g's certificate when fetching its SP metadata.
func (p *samlIdP) trustSP(g *gatehouse) { p.client = g.client() }

// setClock pins the IdP's clock.
func (p *samlIdP) setClock(at time.Time) { p.idp.Clock = dsig.NewFakeClockAt(at) }

type samlOpts struct {
	allowIdP bool
	noJIT    bool
	domains  []string
	// settings are applied as the CLI applies its flags (sso.Settings.Apply).
	settings sso.Settings
	// metadataURL makes the connection fetch the IdP's metadata from its URL
	// (and the refresher fetch it again).
	metadataURL bool
}

// addSAML creates a SAML connection to the IdP in Gatehouse.
func (g *gatehouse) addSAML(p *samlIdP, name string, o samlOpts) store.SSOConnection {
	g.t.Helper()
	id := store.NewID()
	mdURL := ""
	if o.metadataURL {
		mdURL = p.srv.URL + "/metadata"
	}
	cfg, err := sso.NewSAMLConfig(g.box, id, p.metadata(g.t), mdURL)
	fatalIf(g.t, err, "saml config")
	cfg.AllowIdPInitiated = o.allowIdP
	conn := store.SSOConnection{ID: id, OrgID: g.org.ID, Name: name, Kind: store.KindSAML, JIT: !o.noJIT, SAML: cfg, Domains: o.domains,
		Certificates: sso.IdPSigningCertificates(cfg.IdPMetadataXML)}
	fatalIf(g.t, o.settings.Apply(&conn), "settings")
	c, err := g.st.CreateSSOConnection(ctx, core.Actor{Kind: core.ActorSystem}, conn)
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
