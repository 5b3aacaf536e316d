package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Policy says which webhook URLs Gatehouse may call, so that a webhook cannot be
// turned against the server's own network (SSRF). It is checked when a webhook is
// created or changed (CheckURL) and again on every delivery, at dial time, against
// the addresses actually dialed: a name that resolved to a public address when the
// webhook was saved and to a private one later (DNS rebinding) is still refused.
//
// The rules: https only, except http to a loopback host (localhost, 127.0.0.0/8,
// ::1) when AllowHTTPLoopback is set. Private (RFC 1918), loopback, link-local,
// carrier-grade NAT (100.64.0.0/10) and IPv6 unique local (fc00::/7) addresses are
// refused unless AllowPrivate is set (AllowHTTPLoopback allows loopback alone).
// Unspecified, multicast, broadcast, documentation and other reserved addresses
// are always refused: no webhook receiver lives there. IPv4 addresses embedded in
// IPv6 (mapped, NAT64, 6to4) are judged as the IPv4 address they reach.
type Policy struct {
	// AllowHTTPLoopback accepts http:// URLs whose host is a loopback name or
	// address, and loopback targets: for development, a receiver on the same host.
	AllowHTTPLoopback bool
	// AllowPrivate accepts targets in private, loopback, link-local, CGNAT and
	// ULA ranges: for a receiver inside the operator's own network. Note that
	// link-local includes cloud metadata endpoints (169.254.169.254).
	AllowPrivate bool
	// Resolver resolves host names (net.DefaultResolver when nil).
	Resolver Resolver
}

// Resolver resolves a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// PolicyError is a URL or an address the policy refuses. It wraps core.ErrInvalid,
// so an edge answers it as bad input, with its message.
type PolicyError struct{ msg string }

func (e *PolicyError) Error() string { return e.msg }
func (e *PolicyError) Unwrap() error { return core.ErrInvalid }

func refused(format string, args ...any) error {
	return &PolicyError{msg: fmt.Sprintf(format, args...)}
}

// resolveTimeout bounds a name lookup in CheckURL.
const resolveTimeout = 5 * time.Second

// CheckURL checks a webhook URL against the policy, resolving its host: every
// address the name has must be allowed. The error says what is wrong and what the
// operator could allow.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := p.checkForm(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := p.checkAddr(a, u.Scheme == "http"); err != nil {
			if ip, perr := netip.ParseAddr(strings.Trim(host, "[]")); perr == nil && ip == a {
				return refused("webhook URL %s: %v", raw, err)
			}
			return refused("webhook URL %s: %s resolves to %v", raw, host, err)
		}
	}
	return nil
}

// checkForm checks what the URL says without resolving: scheme and host.
func (p Policy) checkForm(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, refused("webhook URL %q is not an absolute http(s) URL", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowHTTPLoopback {
			return nil, refused("webhook URL %s must use https://", raw)
		}
		if !loopbackHost(u.Hostname()) {
			return nil, refused("webhook URL %s must use https://: http is allowed only to a loopback host (localhost, 127.0.0.1, [::1])", raw)
		}
	default:
		return nil, refused("webhook URL %s must use https://", raw)
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

func (p Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, refused("webhook host %s cannot be resolved: %v", host, lookupReason(err))
	}
	return addrs, nil
}

func lookupReason(err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "no addresses"
	case errors.As(err, &de) && de.IsNotFound:
		return "no such host"
	case errors.As(err, &de) && de.IsTimeout:
		return "timeout"
	}
	return err.Error()
}

// rangeClass says who may reach a range.
type rangeClass int

const (
	classLoopback rangeClass = iota // AllowHTTPLoopback or AllowPrivate
	classPrivate                    // AllowPrivate
	classNever                      // nobody
)

var ranges = []struct {
	prefix netip.Prefix
	what   string
	class  rangeClass
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address", classLoopback},
	{netip.MustParsePrefix("::1/128"), "a loopback address", classLoopback},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address (RFC 1918)", classPrivate},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address (RFC 1918)", classPrivate},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address (RFC 1918)", classPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (RFC 6598)", classPrivate},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address", classPrivate},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address", classPrivate},
	{netip.MustParsePrefix("fc00::/7"), "an IPv6 unique local address (fc00::/7)", classPrivate},
	{netip.MustParsePrefix("fec0::/10"), "an IPv6 site-local address", classPrivate},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address (RFC 8215)", classPrivate},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (\"this network\") address", classNever},
	{netip.MustParsePrefix("::/128"), "the unspecified address", classNever},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address", classNever},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address", classNever},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address", classNever},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment address", classNever},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address", classNever},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address", classNever},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address", classNever},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address", classNever},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address", classNever},
	{netip.MustParsePrefix("100::/64"), "a discard-only address", classNever},
}

// IPv6 prefixes that carry an IPv4 address, which decides.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
	teredo = netip.MustParsePrefix("2001::/32")
)

// embeddedV4 returns the IPv4 address an IPv6 address reaches, if it carries one.
func embeddedV4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo4.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(a): // the client address, obfuscated (RFC 4380)
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// checkAddr says whether the policy lets a delivery reach a. plainHTTP requires a
// loopback address (the scheme was allowed only for one).
func (p Policy) checkAddr(a netip.Addr, plainHTTP bool) error {
	a = a.WithZone("").Unmap() // an IPv4-mapped address is the IPv4 address
	if v4, ok := embeddedV4(a); ok {
		return p.judge(v4, plainHTTP, fmt.Sprintf("%v (which reaches %v)", a, v4))
	}
	return p.judge(a, plainHTTP, a.String())
}

// judge applies the ranges to a, naming it as shown in errors.
func (p Policy) judge(a netip.Addr, plainHTTP bool, shown string) error {
	for _, r := range ranges {
		if !r.prefix.Contains(a) {
			continue
		}
		switch {
		case r.class == classLoopback && (p.AllowHTTPLoopback || p.AllowPrivate):
			return nil
		case r.class == classPrivate && p.AllowPrivate && !plainHTTP:
			return nil
		case r.class == classNever:
			return refused("%s, %s, which is never allowed", shown, r.what)
		case plainHTTP:
			return refused("%s, %s; plain http is allowed only to loopback", shown, r.what)
		}
		return refused("%s, %s; such targets are refused unless the operator allows private targets", shown, r.what)
	}
	if plainHTTP {
		return refused("%s, which is not a loopback address; plain http is allowed only to loopback", shown)
	}
	return nil
}

// plainHTTPKey marks a request context whose URL is plain http: the dialer then
// requires loopback addresses.
type plainHTTPKey struct{}

// dialer returns a DialContext that resolves the host itself, refuses the whole
// host if any of its addresses is refused, and dials the addresses it checked (so
// a second resolution cannot swap them). The net.Dialer's Control checks the
// address once more at connect time.
func (p Policy) dialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return refused("cannot check address %s", address)
		}
		return p.checkAddr(ap.Addr(), false)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := p.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		plain, _ := ctx.Value(plainHTTPKey{}).(bool)
		for _, a := range addrs {
			if err := p.checkAddr(a, plain); err != nil {
				if _, literal := netip.ParseAddr(host); literal == nil {
					return nil, refused("refused by the webhook URL policy: %v", err)
				}
				return nil, refused("refused by the webhook URL policy: %s resolves to %v", host, err)
			}
		}
		var errs []error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}
