package webhooks

import (
	"context"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/netpolicy"
)

// Policy says which webhook URLs Gatehouse may call, so that a webhook cannot be
// turned against the server's own network (SSRF). It is checked when a webhook is
// created or changed (CheckURL) and again on every delivery, at dial time, against
// the addresses actually dialed (netpolicy): a name that resolved to a public
// address when the webhook was saved and to a private one later (DNS rebinding)
// is still refused.
//
// The rules: https only, except http to a loopback host (localhost, 127.0.0.0/8,
// ::1) when AllowHTTPLoopback is set. Private (RFC 1918), loopback, link-local,
// carrier-grade NAT (100.64.0.0/10) and IPv6 unique local (fc00::/7) addresses are
// refused unless AllowPrivate is set (AllowHTTPLoopback allows loopback alone).
// Unspecified, multicast, broadcast, documentation and other reserved addresses
// are always refused: no webhook receiver lives there.
type Policy struct {
	// AllowHTTPLoopback accepts http:// URLs whose host is a loopback name or
	// address, and loopback targets: for development, a receiver on the same host.
	AllowHTTPLoopback bool
	// AllowPrivate accepts targets in private, loopback, link-local, CGNAT and
	// ULA ranges: for a receiver inside the operator's own network. Note that
	// link-local includes cloud metadata endpoints (169.254.169.254).
	AllowPrivate bool
	// Resolver resolves host names (net.DefaultResolver when nil).
	Resolver netpolicy.Resolver
}

// net is the address policy of p.
func (p Policy) net() netpolicy.Policy {
	return netpolicy.Policy{
		AllowLoopback: p.AllowHTTPLoopback || p.AllowPrivate, AllowPrivate: p.AllowPrivate, AllowLinkLocal: p.AllowPrivate,
		Name: "webhook URL policy",
		Hint: func(netpolicy.Class) string {
			return "such targets are refused unless the operator allows private targets"
		},
		Resolver: p.Resolver,
	}
}

// plainHTTPOnly is why a plain-http webhook may reach loopback only.
const plainHTTPOnly = "plain http is allowed only to loopback"

// CheckURL checks a webhook URL against the policy, resolving its host: every
// address the name has must be allowed. The error says what is wrong and what the
// operator could allow.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := p.checkForm(raw)
	if err != nil {
		return err
	}
	if u.Scheme == "http" {
		ctx = netpolicy.LoopbackOnly(ctx, plainHTTPOnly)
	}
	if err := p.net().CheckHost(ctx, u.Hostname()); err != nil {
		return netpolicy.Refusef("webhook URL %s: %v", raw, err)
	}
	return nil
}

// checkForm checks what the URL says without resolving: scheme and host.
func (p Policy) checkForm(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, netpolicy.Refusef("webhook URL %q is not an absolute http(s) URL", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTPLoopback {
			return nil, netpolicy.Refusef("webhook URL %s must use https://", raw)
		}
		if !loopbackHost(u.Hostname()) {
			return nil, netpolicy.Refusef("webhook URL %s must use https://: http is allowed only to a loopback host (localhost, 127.0.0.1, [::1])", raw)
		}
	default:
		return nil, netpolicy.Refusef("webhook URL %s must use https://", raw)
	}
	return u, nil
}

// loopbackHost reports whether a URL's host names the local machine by itself:
// the name localhost (RFC 6761) or a loopback address. For plain http the host
// itself must say so; what a name resolves to does not decide the scheme.
func loopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}
