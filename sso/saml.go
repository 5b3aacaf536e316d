package sso

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
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

// Entra sends this instead of the groups when a user has more than 150 of them.
const entraGroupsOverage = "http://schemas.microsoft.com/claims/groups.link"

// samlConnector is one SAML connection's service provider. It is immutable once
// built; each response is checked on a copy that carries the request's clock and
// the SQL replay cache.
type samlConnector struct {
	id       string
	sp       saml.ServiceProvider
	allowIdP bool
	mapping  store.ClaimMapping // with the defaults filled in
	// skew is the connection's clock-skew allowance beyond crewjam's own.
	skew  time.Duration
	slo   bool // single logout: the IdP offers it and the connection allows it
	store store.SSO
	now   func() time.Time
}

var _ SAMLConnector = (*samlConnector)(nil)

func (c *samlConnector) ConnectionID() string { return c.id }

// samlURL is one of a connection's SP endpoints under the external URL:
// metadata (also the entity id), acs, login or slo.
func samlURL(base *url.URL, connID, endpoint string) url.URL {
	u := *base
	u.Path = strings.TrimSuffix(base.Path, "/") + "/sso/saml/" + url.PathEscape(connID) + "/" + endpoint
	u.RawQuery, u.Fragment = "", ""
	return u
}

// newSAMLConnector builds the service provider of a connection.
func newSAMLConnector(conn store.SSOConnection, base *url.URL, box *Box, st store.SSO, now func() time.Time) (*samlConnector, error) {
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
	metadata := samlURL(base, conn.ID, "metadata")
	c := &samlConnector{
		id: conn.ID,
		sp: saml.ServiceProvider{
			EntityID:    metadata.String(),
			Key:         signer,
			Certificate: cert,
			MetadataURL: metadata,
			AcsURL:      samlURL(base, conn.ID, "acs"),
			SloURL:      samlURL(base, conn.ID, "slo"),
			IDPMetadata: md,
			// Unspecified lets the IdP send the NameID format it is configured for;
			// asking Entra for a format it is not set up for fails the login.
			AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat,
			AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
			RejectSHA1Signatures:             true,
			MetadataValidDuration:            7 * 24 * time.Hour,
			// The single logout profile requires logout messages sent through the
			// browser to be signed (saml-profiles §4.4.3.1, §4.4.3.4); signing them
			// also publishes the SP's signing certificate in its metadata.
			LogoutBindings:        []string{saml.HTTPRedirectBinding, saml.HTTPPostBinding},
			LogoutSignatureMethod: dsig.RSASHA256SignatureMethod,
		},
		allowIdP: cfg.AllowIdPInitiated,
		mapping:  effective(store.KindSAML, cfg.Mapping),
		skew:     cfg.ClockSkew.Duration(),
		store:    st,
		now:      now,
	}
	if wantsSignedRequests(md) {
		// The IdP refuses unsigned AuthnRequests (WantAuthnRequestsSigned): sign
		// them, and say so in the SP metadata (AuthnRequestsSigned).
		c.sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	c.slo = !cfg.NoSingleLogout && (c.sp.GetSLOBindingLocation(saml.HTTPRedirectBinding) != "" || c.sp.GetSLOBindingLocation(saml.HTTPPostBinding) != "")
	return c, nil
}

// wantsSignedRequests says whether IdP metadata asks for signed AuthnRequests.
func wantsSignedRequests(md *saml.EntityDescriptor) bool {
	for _, d := range md.IDPSSODescriptors {
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			return true
		}
	}
	return false
}

// spAt is the connector's service provider with its clock at t.
func (c *samlConnector) spAt(t time.Time) saml.ServiceProvider {
	sp := c.sp
	sp.Clock = dsig.NewFakeClockAt(t)
	return sp
}

// Metadata is the SP metadata the IdP admin loads.
func (c *samlConnector) Metadata() *saml.EntityDescriptor {
	sp := c.spAt(c.now())
	return sp.Metadata()
}

// AuthnRequest makes an HTTP-Redirect AuthnRequest.
func (c *samlConnector) AuthnRequest(relayState string) (string, string, error) {
	sp := c.spAt(c.now())
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
	parse := func(at time.Time) (*saml.Assertion, error) {
		sp := c.spAt(at)
		sp.ReplayCache = sqlReplayCache{ctx: ctx, store: c.store, connID: c.id, keep: c.skew}
		sp.AllowIDPInitiated = len(inResponseTo) == 0
		return sp.ParseResponse(r, inResponseTo)
	}
	now := c.now()
	a, err := parse(now)
	// The clock-skew allowance: a response refused only for its time is accepted
	// if it would have been valid with our clock off by up to the allowance, in
	// the direction that matters. Nothing is consumed by a refused parse.
	if err != nil && c.skew > 0 {
		switch {
		case errors.Is(err, saml.ErrExpired):
			a, err = parse(now.Add(-c.skew))
		case errors.Is(err, saml.ErrNotYetValid):
			a, err = parse(now.Add(c.skew))
		}
	}
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
	return c.identity(a)
}

func (c *samlConnector) identity(a *saml.Assertion) (Identity, error) {
	var id Identity
	vals := newSAMLValues(a)
	if a.Subject != nil && a.Subject.NameID != nil {
		n := a.Subject.NameID
		id.Subject = n.Value
		id.SAML = store.SAMLSubject{NameID: n.Value, Format: n.Format, NameQualifier: n.NameQualifier, SPNameQualifier: n.SPNameQualifier}
	}
	for _, st := range a.AuthnStatements {
		if st.SessionIndex != "" {
			id.SAML.SessionIndex = st.SessionIndex
			break
		}
	}
	m := c.mapping
	id.Email, id.EmailSource = vals.first(m.Email)
	id.EmailFromUPN = id.Email != "" && isUPNSource(store.KindSAML, id.EmailSource)
	// The assertion is signed by the org's own IdP: its email is as verified as
	// anything that IdP says (a sign-in name is further held to the domains).
	id.EmailVerified = id.Email != ""
	id.UserName, _ = vals.first(m.UserName)
	id.GivenName, _ = vals.first(m.GivenName)
	id.FamilyName, _ = vals.first(m.FamilyName)
	id.DisplayName, _ = vals.first(m.DisplayName)
	var groups []string
	for _, n := range m.Groups {
		groups = append(groups, vals[n]...)
	}
	id.Groups = normalizeGroups(m.GroupValues, groups)
	if _, ok := vals[entraGroupsOverage]; ok {
		// The groups are missing, not empty: taking this as "no groups" would drop
		// every group the user has through this connection. The login takes them
		// from the linked directory, or is refused (completeLogin).
		id.GroupsOverage = fmt.Sprintf("SAML assertion carries %s instead of the groups (%d group attribute values)", entraGroupsOverage, len(id.Groups))
		id.Groups = nil
	}
	return id, nil
}

// sqlReplayCache is crewjam's replay cache on the database, so every instance
// refuses an assertion any of them accepted.
type sqlReplayCache struct {
	ctx    context.Context
	store  store.SSO
	connID string
	// keep is the clock-skew allowance: an assertion stays acceptable that much
	// longer, so its record must too.
	keep time.Duration
}

func (rc sqlReplayCache) Consume(assertionID string, expiresAt time.Time) error {
	err := rc.store.ConsumeAssertion(rc.ctx, rc.connID, assertionID, expiresAt.Add(rc.keep))
	if errors.Is(err, core.ErrConflict) {
		return saml.ErrAssertionReplayed
	}
	return err
}

// sealLabel binds a sealed secret to its connection and field.
func sealLabel(connID, field string) string { return "gatehouse/sso/" + connID + "/" + field }

// parseIdPMetadata parses and checks an identity provider's metadata.
func parseIdPMetadata(idpMetadata []byte) (*saml.EntityDescriptor, error) {
	md, err := samlsp.ParseMetadata(idpMetadata)
	if err != nil {
		return nil, fmt.Errorf("IdP metadata: %w", err)
	}
	if len(md.IDPSSODescriptors) == 0 {
		return nil, errors.New("IdP metadata has no IDPSSODescriptor: is it the identity provider's metadata?")
	}
	if len(idpCertificates(md)) == 0 {
		return nil, errors.New("IdP metadata has no signing certificate")
	}
	return md, nil
}

// idpCertificates are the base64 DER certificates of the IdP's signing keys.
func idpCertificates(md *saml.EntityDescriptor) []string {
	var out []string
	for _, d := range md.IDPSSODescriptors {
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				if d := strings.Join(strings.Fields(c.Data), ""); d != "" {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// RefreshSAMLMetadata replaces a SAML connection's IdP metadata (and with it the
// certificates its responses are checked with), keeping the SP key, and sets
// c.Certificates so the store records the certificates it lists. The metadata
// must parse and name a signing certificate. Stored with UpdateSSOConnection,
// the new version makes every instance rebuild the connection's connector at
// its next request, so old-key responses fail from then on.
func RefreshSAMLMetadata(c *store.SSOConnection, idpMetadata []byte, metadataURL string) error {
	if c == nil || c.SAML == nil {
		return errors.New("not a SAML connection")
	}
	md, err := parseIdPMetadata(idpMetadata)
	if err != nil {
		return err
	}
	c.SAML.IdPMetadataXML = string(idpMetadata)
	if metadataURL != "" {
		c.SAML.IdPMetadataURL = metadataURL
	}
	c.Certificates = signingCertificates(md)
	return nil
}

// IdPCertificateFingerprints lists the SHA-256 fingerprints of the signing
// certificates in IdP metadata (as the IdP admin pages show them), for the CLI
// to show what a metadata refresh changed.
func IdPCertificateFingerprints(idpMetadata string) []string {
	return fingerprints(IdPSigningCertificates(idpMetadata))
}

// IdPSigningCertificates are the signing certificates in IdP metadata, as the
// store records them (fingerprint, subject, validity); nil if it does not parse.
func IdPSigningCertificates(idpMetadata string) []store.IdPCertificate {
	md, err := samlsp.ParseMetadata([]byte(idpMetadata))
	if err != nil {
		return nil
	}
	return signingCertificates(md)
}

func signingCertificates(md *saml.EntityDescriptor) []store.IdPCertificate {
	var out []store.IdPCertificate
	for _, c := range idpCertificates(md) {
		der, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			continue
		}
		rec := store.IdPCertificate{Kind: store.CertSAMLSigning, Fingerprint: fingerprint(der)}
		if cert, err := x509.ParseCertificate(der); err == nil {
			rec.Subject, rec.NotBefore, rec.NotAfter = cert.Subject.String(), cert.NotBefore.UTC(), cert.NotAfter.UTC()
		}
		out = append(out, rec)
	}
	return out
}

// fingerprint is the SHA-256 of DER as IdP admin pages show it: upper-case
// hex pairs joined by colons.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	hexs := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(hexs); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(hexs[i : i+2])
	}
	return b.String()
}

// NewSAMLConfig makes the config of a new SAML connection with id connID: a fresh
// SP key pair (the key sealed by box) and the IdP's metadata, which must parse.
func NewSAMLConfig(box *Box, connID string, idpMetadata []byte, metadataURL string) (*store.SAMLConfig, error) {
	if _, err := parseIdPMetadata(idpMetadata); err != nil {
		return nil, err
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
