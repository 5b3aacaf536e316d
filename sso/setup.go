package sso

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SAMLEndpoints are the values a SAML IdP admin pastes into Okta or Entra.
type SAMLEndpoints struct {
	EntityID    string // Okta "Audience URI (SP Entity ID)", Entra "Identifier (Entity ID)"
	ACS         string // Okta "Single sign-on URL", Entra "Reply URL"
	MetadataURL string
	LoginURL    string // Entra "Sign on URL"
	SLO         string // Okta "Single Logout URL", Entra "Logout URL", AD FS "Trusted URL" of the SAML Logout endpoint
}

// SAMLEndpointsFor returns a connection's SAML endpoints under the external URL.
func SAMLEndpointsFor(base *url.URL, connID string) SAMLEndpoints {
	md := samlURL(base, connID, "metadata")
	acs, login, slo := samlURL(base, connID, "acs"), samlURL(base, connID, "login"), samlURL(base, connID, "slo")
	return SAMLEndpoints{EntityID: md.String(), ACS: acs.String(), MetadataURL: md.String(), LoginURL: login.String(), SLO: slo.String()}
}

// OIDCRedirectURI returns a connection's redirect URI under the external URL.
func OIDCRedirectURI(base *url.URL, connID string) string {
	u := oidcRedirectURL(base, connID)
	return u.String()
}

// ParseExternalURL checks the URL browsers and IdPs reach Gatehouse at.
func ParseExternalURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("no external URL: set --external-url or GATEHOUSE_EXTERNAL_URL (e.g. https://gatehouse.example.com)")
	}
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("external URL %q must be an absolute http(s) URL with no query, e.g. https://gatehouse.example.com", s)
	}
	return u, nil
}

// NewOIDCConfig makes the config of a new OIDC connection with id connID, sealing
// the client secret. The issuer must answer OpenID discovery for itself: a typo
// fails here, not at the first login.
//
// The mapping, scopes and other settings start empty (the defaults); set them
// with Settings.Apply.
func NewOIDCConfig(ctx context.Context, network Network, box *Box, connID, issuer, clientID, clientSecret string) (*store.OIDCConfig, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return nil, fmt.Errorf("issuer %q must be an https URL", issuer)
	}
	if clientID == "" {
		return nil, errors.New("a client id is required")
	}
	if clientSecret == "" {
		return nil, errors.New("the client secret is empty")
	}
	if err := network.CheckURL(ctx, issuer); err != nil {
		return nil, err
	}
	client := network.Client(15 * time.Second)
	defer client.CloseIdleConnections()
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := discover(dctx, client, issuer); err != nil {
		return nil, fmt.Errorf("OpenID discovery of %s failed: %w", issuer, err)
	}
	sealed, err := box.Seal([]byte(clientSecret), sealLabel(connID, "client_secret"))
	if err != nil {
		return nil, err
	}
	return &store.OIDCConfig{Issuer: issuer, ClientID: clientID, ClientSecretSealed: sealed}, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
