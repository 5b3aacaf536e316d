package sso

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/crewjam/saml"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Defaults of the Refresher.
const (
	DefaultRefreshEvery = time.Hour
	// DefaultCertificateWarning is how long before a listed IdP certificate
	// expires that the refresher warns (and the pages should).
	DefaultCertificateWarning = 30 * 24 * time.Hour
	refreshLease              = 10 * time.Minute // an instance that dies mid-refresh is taken over after this
	refreshRetry              = 10 * time.Minute // a failed refresh is tried again after at most this
	maxMetadataBytes          = 5 << 20
)

// RefreshStore is what the Refresher needs from storage.
type RefreshStore interface {
	ClaimSSORefreshes(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.SSOConnection, error)
	RecordSSORefresh(ctx context.Context, connectionID string, r store.SSORefreshResult) error
	GetSSORefresh(ctx context.Context, orgID, connectionID string) (store.SSORefresh, error)
	UpdateSSOConnection(ctx context.Context, actor core.Actor, orgID, id string, fn func(*store.SSOConnection) error) (store.SSOConnection, error)
}

// Refresher keeps every connection's view of its identity provider current: a
// SAML connection's metadata (signing certificates, endpoints, whether
// AuthnRequests must be signed) is fetched again from its metadata URL, an OIDC
// connection's discovery document and JWKS from its issuer. When what the IdP
// publishes changed, the connection is updated (a new version), so every
// instance rebuilds its connector at the next request.
//
// Certificate rollover follows the metadata: a new signing certificate the IdP
// lists beside the old one is trusted from the refresh that sees it (both are
// trusted while both are listed), and one the IdP no longer lists is refused
// from the refresh that sees it gone. There is no grace period: IdPs (Okta,
// Entra, AD FS) list the new certificate well before they sign with it and drop
// the old one only after, so a grace period would only extend the life of a
// key the IdP has retired, perhaps because it leaked.
//
// Every instance may run one: connections are claimed in the database, so each
// refresh happens once.
type Refresher struct {
	Store RefreshStore
	// Network is the policy of the fetches from identity providers; the zero
	// value reaches public addresses only. A refused fetch fails the refresh
	// (logged at WARN); the connection keeps its last good metadata.
	Network Network
	Logger  *slog.Logger
	Now     func() time.Time
	// Every is how often each connection is refreshed; DefaultRefreshEvery when zero.
	Every time.Duration
	// WarnBefore is how long before expiry a certificate is warned about;
	// DefaultCertificateWarning when zero.
	WarnBefore time.Duration
}

// refreshActor is who audit events say changed a connection.
var refreshActor = core.Actor{Kind: core.ActorSystem, Name: "sso metadata refresh"}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Refresher) every() time.Duration {
	switch {
	case r.Every <= 0:
		return DefaultRefreshEvery
	case r.Every < time.Minute:
		return time.Minute // fetching an IdP's metadata more often helps no one
	}
	return r.Every
}

func (r *Refresher) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run refreshes due connections until ctx ends, looking for due ones every
// minute (or every Every, if shorter).
func (r *Refresher) Run(ctx context.Context) {
	poll := min(time.Minute, r.every())
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := r.RefreshDue(ctx); err != nil && ctx.Err() == nil {
			r.logger().Warn("sso: metadata refresh", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshDue refreshes the connections whose refresh is due and returns how
// many it refreshed successfully. A failed connection is logged, recorded with
// its error and tried again later; the others go on.
func (r *Refresher) RefreshDue(ctx context.Context) (int, error) {
	const batch = 20
	ok := 0
	for {
		conns, err := r.Store.ClaimSSORefreshes(ctx, r.now(), refreshLease, batch)
		if err != nil || len(conns) == 0 {
			return ok, err
		}
		for _, c := range conns {
			if err := r.refresh(ctx, c); err != nil {
				r.logger().Warn("sso: metadata refresh failed", "connection", c.ID, "name", c.Name, "error", err.Error())
				now := r.now()
				if rerr := r.Store.RecordSSORefresh(context.WithoutCancel(ctx), c.ID, store.SSORefreshResult{
					At: now, NextAt: now.Add(min(refreshRetry, r.every())), Err: err.Error(),
				}); rerr != nil && !errors.Is(rerr, core.ErrNotFound) {
					return ok, rerr
				}
				continue
			}
			ok++
		}
		if ctx.Err() != nil || len(conns) < batch {
			return ok, ctx.Err() // a short batch was all that was due
		}
	}
}

// refresh refreshes one connection and records the outcome when it succeeds.
func (r *Refresher) refresh(ctx context.Context, c store.SSOConnection) error {
	var (
		digest string
		certs  []store.IdPCertificate
		err    error
	)
	client := r.Network.Client(20 * time.Second)
	defer client.CloseIdleConnections()
	switch {
	case c.SAML != nil:
		digest, certs, err = r.refreshSAML(ctx, client, c)
	case c.OIDC != nil:
		digest, certs, err = r.refreshOIDC(ctx, client, c)
	default:
		return fmt.Errorf("unknown kind %q", c.Kind)
	}
	if err != nil {
		return err
	}
	now := r.now()
	for _, cert := range certs {
		if cert.ExpiresWithin(now, r.warnBefore()) {
			r.logger().Warn("sso: an IdP signing certificate expires soon; the IdP must publish its successor",
				"connection", c.ID, "name", c.Name, "fingerprint", cert.Fingerprint, "not_after", cert.NotAfter.Format(time.RFC3339))
		}
	}
	return r.Store.RecordSSORefresh(ctx, c.ID, store.SSORefreshResult{At: now, NextAt: now.Add(r.every()), Digest: digest, Certificates: certs})
}

func (r *Refresher) warnBefore() time.Duration {
	if r.WarnBefore > 0 {
		return r.WarnBefore
	}
	return DefaultCertificateWarning
}

// errSkip ends an update function that finds nothing to do.
var errSkip = errors.New("nothing to change")

// refreshSAML fetches the connection's metadata and stores it when what it
// says changed. A connection set up from a file has nothing to fetch: its
// stored metadata is recorded as it is.
func (r *Refresher) refreshSAML(ctx context.Context, client *http.Client, c store.SSOConnection) (string, []store.IdPCertificate, error) {
	stored, err := parseIdPMetadata([]byte(c.SAML.IdPMetadataXML))
	if err != nil {
		return "", nil, fmt.Errorf("stored metadata: %w", err)
	}
	if c.SAML.IdPMetadataURL == "" {
		return samlDigest(stored), signingCertificates(stored), nil
	}
	raw, err := fetchMetadata(ctx, client, c.SAML.IdPMetadataURL)
	if err != nil {
		return "", nil, err
	}
	md, err := parseIdPMetadata(raw)
	if err != nil {
		return "", nil, fmt.Errorf("metadata from %s: %w", c.SAML.IdPMetadataURL, err)
	}
	if md.EntityID != stored.EntityID {
		// Another IdP at the same URL is a misconfiguration or an attack; an admin
		// decides (sso update --metadata-url), not the schedule.
		return "", nil, fmt.Errorf("metadata from %s names entity %q, not the connection's %q: not applied (load it with gatehouse sso update --metadata-url if intended)",
			c.SAML.IdPMetadataURL, md.EntityID, stored.EntityID)
	}
	digest, certs := samlDigest(md), signingCertificates(md)
	if digest == samlDigest(stored) {
		return digest, certs, nil
	}
	_, err = r.Store.UpdateSSOConnection(ctx, refreshActor, c.OrgID, c.ID, func(cur *store.SSOConnection) error {
		if cur.SAML == nil || cur.SAML.IdPMetadataURL != c.SAML.IdPMetadataURL {
			return errSkip // an admin changed the source meanwhile
		}
		return RefreshSAMLMetadata(cur, raw, "")
	})
	if err != nil && !errors.Is(err, errSkip) {
		return "", nil, fmt.Errorf("store new metadata: %w", err)
	}
	r.logger().Info("sso: IdP metadata changed", "connection", c.ID, "name", c.Name,
		"certificates_before", strings.Join(fingerprints(signingCertificates(stored)), " "), "certificates_after", strings.Join(fingerprints(certs), " "))
	return digest, certs, nil
}

// samlDigest summarizes what SAML metadata says that matters to logins: the
// entity, the signing certificates, the SSO and SLO endpoints and whether
// AuthnRequests must be signed. Metadata re-issued with only a new validUntil
// (crewjam's, AD FS's) has the same digest and changes nothing.
func samlDigest(md *saml.EntityDescriptor) string {
	var parts []string
	parts = append(parts, "entity "+md.EntityID)
	certs := idpCertificates(md)
	slices.Sort(certs)
	for _, c := range certs {
		parts = append(parts, "cert "+c)
	}
	for _, d := range md.IDPSSODescriptors {
		for _, e := range d.SingleSignOnServices {
			parts = append(parts, "sso "+e.Binding+" "+e.Location)
		}
		for _, e := range d.SingleLogoutServices {
			parts = append(parts, "slo "+e.Binding+" "+e.Location+" "+e.ResponseLocation)
		}
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			parts = append(parts, "want-signed-requests")
		}
	}
	return digestOf(parts)
}

func digestOf(parts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\n")))
	return hex.EncodeToString(sum[:])
}

func fingerprints(cs []store.IdPCertificate) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Fingerprint)
	}
	return out
}

// refreshOIDC runs discovery again and fetches the JWKS. go-oidc fetches the
// JWKS again by itself when a token names an unknown key (a new key is usable
// at once), but keeps a key the provider removed for as long as the connector
// lives; a changed key set or changed endpoints therefore bump the connection,
// which rebuilds the connectors.
func (r *Refresher) refreshOIDC(ctx context.Context, client *http.Client, c store.SSOConnection) (string, []store.IdPCertificate, error) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	p, err := discover(dctx, client, c.OIDC.Issuer)
	if err != nil {
		return "", nil, fmt.Errorf("OpenID discovery of %s: %w", c.OIDC.Issuer, err)
	}
	var doc struct {
		Issuer   string `json:"issuer"`
		Auth     string `json:"authorization_endpoint"`
		Token    string `json:"token_endpoint"`
		UserInfo string `json:"userinfo_endpoint"`
		JWKS     string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil {
		return "", nil, fmt.Errorf("discovery document: %w", err)
	}
	if doc.JWKS == "" {
		return "", nil, errors.New("discovery document names no jwks_uri")
	}
	raw, err := fetch(dctx, client, doc.JWKS, 1<<20)
	if err != nil {
		return "", nil, fmt.Errorf("JWKS: %w", err)
	}
	certs, err := jwksCertificates(raw)
	if err != nil {
		return "", nil, fmt.Errorf("JWKS from %s: %w", doc.JWKS, err)
	}
	parts := []string{"issuer " + doc.Issuer, "auth " + doc.Auth, "token " + doc.Token, "userinfo " + doc.UserInfo, "jwks " + doc.JWKS}
	for _, k := range certs {
		parts = append(parts, "key "+k.Fingerprint)
	}
	digest := digestOf(parts)
	prev, err := r.Store.GetSSORefresh(ctx, c.OrgID, c.ID)
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		return "", nil, err
	}
	// The first refresh only records: the connector built at first use already
	// reads the provider live.
	if prev.Digest != "" && prev.Digest != digest {
		if _, err := r.Store.UpdateSSOConnection(ctx, refreshActor, c.OrgID, c.ID, func(cur *store.SSOConnection) error {
			cur.Certificates = certs
			return nil
		}); err != nil {
			return "", nil, fmt.Errorf("record new keys: %w", err)
		}
		r.logger().Info("sso: OpenID provider keys or endpoints changed", "connection", c.ID, "name", c.Name, "keys", strings.Join(fingerprints(certs), " "))
	}
	return digest, certs, nil
}

// jwksCertificates lists a JWKS's signing keys as certificate records: the RFC
// 7638 thumbprint (base64url SHA-256) as fingerprint, and the validity of the
// key's certificate when it has one (x5c).
func jwksCertificates(raw []byte) ([]store.IdPCertificate, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, err
	}
	var out []store.IdPCertificate
	for _, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			continue // a key type go-jose cannot digest is no key go-oidc verifies with
		}
		rec := store.IdPCertificate{Kind: store.CertOIDCKey, KeyID: k.KeyID, Fingerprint: base64.RawURLEncoding.EncodeToString(tp)}
		if len(k.Certificates) > 0 {
			cert := k.Certificates[0]
			rec.Subject, rec.NotBefore, rec.NotAfter = cert.Subject.String(), cert.NotBefore.UTC(), cert.NotAfter.UTC()
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil, errors.New("no signing keys")
	}
	return out, nil
}

// FetchMetadata downloads IdP metadata over http(s) through the network
// policy, with a timeout and a size limit. A host the policy refuses is
// refused before any request, with the reason.
func FetchMetadata(ctx context.Context, network Network, u string) ([]byte, error) {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return nil, fmt.Errorf("metadata URL %q must be http(s)", u)
	}
	if err := network.CheckURL(ctx, u); err != nil {
		return nil, err
	}
	client := network.Client(20 * time.Second)
	defer client.CloseIdleConnections()
	return fetchMetadata(ctx, client, u)
}

func fetchMetadata(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	b, err := fetch(ctx, client, u, maxMetadataBytes)
	if err != nil {
		return nil, fmt.Errorf("fetch metadata: %w", err)
	}
	return b, nil
}

func fetch(ctx context.Context, client *http.Client, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, policyRefusal(u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s sent more than %d bytes", u, limit)
	}
	return b, nil
}
