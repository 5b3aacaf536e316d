package sso

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Attribute names read from assertions when the connection does not name its own.
// They cover Okta's usual attribute statements and Entra's claim URIs.
var (
	samlEmailAttrs = []string{
		"email", "mail", "emailaddress", "Email", "EmailAddress",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"urn:oid:0.9.2342.19200300.100.1.3",
	}
	samlGivenAttrs = []string{
		"givenName", "firstName", "given_name", "FirstName",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
		"urn:oid:2.5.4.42",
	}
	samlFamilyAttrs = []string{
		"surname", "sn", "lastName", "familyName", "family_name", "LastName",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
		"urn:oid:2.5.4.4",
	}
	samlDefaultGroupAttrs = []string{
		"groups",
		"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
	}
	// Entra sends this instead of the groups when a user has more than 150 of them.
	entraGroupsOverage = "http://schemas.microsoft.com/claims/groups.link"
)

// samlConnector is one SAML connection's service provider. It is immutable once
// built; each response is checked on a copy that carries the request's clock and
// the SQL replay cache.
type samlConnector struct {
	id          string
	sp          saml.ServiceProvider
	allowIdP    bool
	groupsAttrs []string
	store       store.SSO
	now         func() time.Time
	logger      interface {
		Warn(msg string, args ...any)
	}
}

var _ SAMLConnector = (*samlConnector)(nil)

func (c *samlConnector) ConnectionID() string { return c.id }

// samlURLs are a connection's SP endpoints under the external URL.
func samlURLs(base *url.URL, connID string) (entityID, acs, metadata, login url.URL) {
	mk := func(suffix string) url.URL {
		u := *base
		u.Path = strings.TrimSuffix(base.Path, "/") + "/sso/saml/" + url.PathEscape(connID) + "/" + suffix
		u.RawQuery, u.Fragment = "", ""
		return u
	}
	metadata = mk("metadata")
	return metadata, mk("acs"), metadata, mk("login")
}

// newSAMLConnector builds the service provider of a connection.
func newSAMLConnector(conn store.SSOConnection, base *url.URL, box *Box, st store.SSO, now func() time.Time, logger interface{ Warn(string, ...any) }) (*samlConnector, error) {
	cfg := conn.SAML
	if cfg == nil {
		return nil, errors.New("not a SAML connection")
	}
	keyDER, err := box.Open(cfg.SPKeySealed, sealLabel(conn.ID, "sp_key"))
	if err != nil {
		return nil, fmt.Errorf("SP key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("SP key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("SP key cannot sign")
	}
	block, _ := pem.Decode([]byte(cfg.SPCertPEM))
	if block == nil {
		return nil, errors.New("SP certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("SP certificate: %w", err)
	}
	md, err := samlsp.ParseMetadata([]byte(cfg.IdPMetadataXML))
	if err != nil {
		return nil, fmt.Errorf("IdP metadata: %w", err)
	}
	entityID, acs, metadata, _ := samlURLs(base, conn.ID)
	c := &samlConnector{
		id: conn.ID,
		sp: saml.ServiceProvider{
			EntityID:    entityID.String(),
			Key:         signer,
			Certificate: cert,
			MetadataURL: metadata,
			AcsURL:      acs,
			IDPMetadata: md,
			// Unspecified lets the IdP send the NameID format it is configured for;
			// asking Entra for a format it is not set up for fails the login.
			AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat,
			AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
			RejectSHA1Signatures:             true,
			MetadataValidDuration:            7 * 24 * time.Hour,
		},
		allowIdP:    cfg.AllowIdPInitiated,
		groupsAttrs: samlDefaultGroupAttrs,
		store:       st,
		now:         now,
		logger:      logger,
	}
	if cfg.GroupsAttribute != "" {
		c.groupsAttrs = []string{cfg.GroupsAttribute}
	}
	return c, nil
}

// Metadata is the SP metadata the IdP admin loads.
func (c *samlConnector) Metadata() *saml.EntityDescriptor {
	sp := c.sp
	sp.Clock = dsig.NewFakeClockAt(c.now())
	return sp.Metadata()
}

// AuthnRequest makes an HTTP-Redirect AuthnRequest.
func (c *samlConnector) AuthnRequest(relayState string) (string, string, error) {
	sp := c.sp
	sp.Clock = dsig.NewFakeClockAt(c.now())
	req, err := sp.MakeAuthenticationRequest(sp.GetSSOBindingLocation(saml.HTTPRedirectBinding), saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", "", err
	}
	u, err := req.Redirect(relayState, &sp)
	if err != nil {
		return "", "", err
	}
	return u.String(), req.ID, nil
}

// HandlePOST checks a posted response: signature (of the response or the
// assertion) by the IdP's metadata key, issuer, destination, recipient, audience,
// time window, InResponseTo, and single use of the assertion id.
func (c *samlConnector) HandlePOST(ctx context.Context, r *http.Request, inResponseTo []string) (Identity, error) {
	if len(inResponseTo) == 0 && !c.allowIdP {
		return Identity{}, refusal("idp_initiated_not_allowed",
			"This connection accepts only logins started here. Start again from the sign-in page.",
			errors.New("unsolicited SAML response and the connection does not allow IdP-initiated login"))
	}
	sp := c.sp
	sp.Clock = dsig.NewFakeClockAt(c.now())
	sp.ReplayCache = sqlReplayCache{ctx: ctx, store: c.store, connID: c.id}
	sp.AllowIDPInitiated = len(inResponseTo) == 0
	a, err := sp.ParseResponse(r, inResponseTo)
	if err != nil {
		var ire *saml.InvalidResponseError
		cause := err
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			cause = ire.PrivateErr
		}
		reason := "invalid_saml_response"
		if errors.Is(err, saml.ErrAssertionReplayed) {
			reason = "saml_replay"
		}
		return Identity{}, refusal(reason, "The identity provider's answer could not be accepted.", cause)
	}
	return c.identity(a), nil
}

func (c *samlConnector) identity(a *saml.Assertion) Identity {
	var id Identity
	attrs := map[string][]string{}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			var vals []string
			for _, v := range at.Values {
				if s := strings.TrimSpace(v.Value); s != "" {
					vals = append(vals, s)
				}
			}
			for _, name := range []string{at.Name, at.FriendlyName} {
				if name != "" {
					attrs[name] = append(attrs[name], vals...)
				}
			}
		}
	}
	first := func(names []string) string {
		for _, n := range names {
			if v := attrs[n]; len(v) > 0 {
				return v[0]
			}
		}
		return ""
	}
	if a.Subject != nil && a.Subject.NameID != nil {
		id.Subject = a.Subject.NameID.Value
		if a.Subject.NameID.Format == string(saml.EmailAddressNameIDFormat) {
			id.Email = a.Subject.NameID.Value
		}
	}
	if id.Email == "" {
		id.Email = first(samlEmailAttrs)
	}
	if id.Email == "" && strings.Contains(id.Subject, "@") {
		id.Email = id.Subject
	}
	// The assertion is signed by the org's own IdP: its email is as verified as
	// anything that IdP says.
	id.EmailVerified = id.Email != ""
	id.GivenName = first(samlGivenAttrs)
	id.FamilyName = first(samlFamilyAttrs)
	seen := map[string]bool{}
	for _, n := range c.groupsAttrs {
		for _, g := range attrs[n] {
			if !seen[g] {
				seen[g] = true
				id.Groups = append(id.Groups, g)
			}
		}
	}
	if len(attrs[entraGroupsOverage]) > 0 && c.logger != nil {
		c.logger.Warn("sso: Entra sent a groups overage link instead of the groups; configure the app to send only groups assigned to the application",
			"connection", c.id)
	}
	return id
}

// sqlReplayCache is crewjam's replay cache on the database, so every instance
// refuses an assertion any of them accepted.
type sqlReplayCache struct {
	ctx    context.Context
	store  store.SSO
	connID string
}

func (rc sqlReplayCache) Consume(assertionID string, expiresAt time.Time) error {
	err := rc.store.ConsumeAssertion(rc.ctx, rc.connID, assertionID, expiresAt)
	if errors.Is(err, core.ErrConflict) {
		return saml.ErrAssertionReplayed
	}
	return err
}

// sealLabel binds a sealed secret to its connection and field.
func sealLabel(connID, field string) string { return "gatehouse/sso/" + connID + "/" + field }

// NewSAMLConfig makes the config of a new SAML connection with id connID: a fresh
// SP key pair (the key sealed by box) and the IdP's metadata, which must parse.
func NewSAMLConfig(box *Box, connID string, idpMetadata []byte, metadataURL string) (*store.SAMLConfig, error) {
	md, err := samlsp.ParseMetadata(idpMetadata)
	if err != nil {
		return nil, fmt.Errorf("IdP metadata: %w", err)
	}
	if len(md.IDPSSODescriptors) == 0 {
		return nil, errors.New("IdP metadata has no IDPSSODescriptor: is it the identity provider's metadata?")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Gatehouse SAML SP " + connID},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	sealed, err := box.Seal(pkcs8, sealLabel(connID, "sp_key"))
	if err != nil {
		return nil, err
	}
	return &store.SAMLConfig{
		IdPMetadataXML: string(idpMetadata),
		IdPMetadataURL: metadataURL,
		SPKeySealed:    sealed,
		SPCertPEM:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}, nil
}
