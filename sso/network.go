package sso

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/netpolicy"
)

// Network is the network policy of every request Gatehouse makes to an identity
// provider whose URLs an org admin configured: SAML metadata, OpenID discovery,
// JWKS, the token and userinfo endpoints. Without it an org admin of one tenant
// could make the server fetch its own network (server-side request forgery):
// cloud metadata (169.254.169.254), localhost admin ports, the database.
//
// The zero value reaches public addresses only. Loopback and private (RFC 1918,
// CGNAT, IPv6 ULA) addresses are allowed by their switches (serve's
// --sso-allow-loopback and --sso-allow-private); link-local addresses (cloud
// metadata endpoints included), unspecified, multicast and reserved ones never:
// no identity provider lives there. The policy is applied when an admin gives a
// URL (CheckURL, for a clear refusal) and in the dialer of every connection,
// after resolution and on every redirect (netpolicy).
type Network struct {
	// AllowLoopback lets IdP requests reach loopback addresses (127.0.0.0/8,
	// ::1): an IdP on the same host, development and tests.
	AllowLoopback bool
	// AllowPrivate lets IdP requests reach private addresses (10/8,
	// 172.16/12, 192.168/16, 100.64/10, fc00::/7): on-premises IdPs (AD FS,
	// Keycloak, authentik) on the operator's own network.
	AllowPrivate bool
	// Resolver resolves host names (net.DefaultResolver when nil); tests
	// point names at addresses with it.
	Resolver netpolicy.Resolver
	// Dial is netpolicy.Policy's test seam: it connects to addresses the
	// policy allowed (a private one routed to a loopback test IdP).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

func (n Network) policy() netpolicy.Policy {
	return netpolicy.Policy{AllowLoopback: n.AllowLoopback, AllowPrivate: n.AllowPrivate,
		Name: "SSO network policy", Hint: networkHint, Resolver: n.Resolver, Dial: n.Dial}
}

// networkHint says who can allow an address class: the operator, not the org
// admin who reads the refusal.
func networkHint(c netpolicy.Class) string {
	switch c {
	case netpolicy.Loopback:
		return "identity providers there are refused unless the server is started with --sso-allow-loopback"
	case netpolicy.Private:
		return "identity providers there are refused unless the server is started with --sso-allow-private"
	}
	return "no identity provider lives there"
}

// Client returns an HTTP client whose every connection, redirects included,
// is dialed through the policy. It uses no proxy: a proxy would dial for it,
// past the checks.
func (n Network) Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: n.policy().Transport()}
}

// CheckURL checks the host of an IdP URL an admin gives against the policy,
// resolving it: every address it has must be allowed.
func (n Network) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if err := n.policy().CheckHost(ctx, u.Hostname()); err != nil {
		return fmt.Errorf("not allowed: %w", err)
	}
	return nil
}

// policyRefusal turns a request to requested that the policy refused (at once or
// on a redirect) into the policy's reason, naming the URL a redirect led to;
// other errors are returned as they are.
func policyRefusal(requested string, err error) error {
	var pe *netpolicy.Error
	var ue *url.Error
	if !errors.As(err, &pe) {
		return err
	}
	if errors.As(err, &ue) && ue.URL != requested {
		return fmt.Errorf("redirected to %s: %w", ue.URL, pe)
	}
	return pe
}

// discover runs OpenID discovery of issuer through client, which the provider
// then keeps for its JWKS and userinfo requests.
func discover(ctx context.Context, client *http.Client, issuer string) (*oidc.Provider, error) {
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return nil, policyRefusal(strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", err)
	}
	return p, nil
}
