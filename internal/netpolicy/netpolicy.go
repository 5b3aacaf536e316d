// Package netpolicy decides which network addresses Gatehouse may connect to
// when the target comes from configuration an org admin controls (webhook
// receivers, SSO identity providers), so that such a URL cannot turn the
// server against its own network (server-side request forgery).
//
// A Policy is applied twice: to a URL's host when the configuration is saved
// (CheckHost), for a clear refusal, and in the dialer of every connection
// (DialContext), against the addresses actually dialed, after resolution: a
// name that resolved to a public address when saved and to a private one later
// (DNS rebinding) is still refused, and so is a redirect to a refused address,
// because every hop dials anew. A transport using the dialer must not use a
// proxy (a proxy would dial for it, past the checks).
package netpolicy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// Class is the kind of address range a policy allows or refuses as a whole.
type Class int

const (
	Public    Class = iota // allowed
	Loopback               // 127.0.0.0/8, ::1: AllowLoopback
	Private                // RFC 1918, CGNAT, IPv6 ULA and site-local, local NAT64: AllowPrivate
	LinkLocal              // 169.254.0.0/16, fe80::/10, cloud metadata endpoints: AllowLinkLocal
	Never                  // unspecified, multicast, broadcast, documentation, reserved: nobody
)

// Policy is which targets are allowed. The zero value allows public addresses
// only. IPv4 addresses embedded in IPv6 (mapped, NAT64, 6to4, Teredo) are
// judged as the IPv4 address they reach.
type Policy struct {
	AllowLoopback  bool
	AllowPrivate   bool
	AllowLinkLocal bool
	// Name names the policy in dial-time refusals ("refused by the NAME: …").
	Name string
	// Hint, when set, says after a refusal of a Loopback, Private or LinkLocal
	// address what would allow it (an operator's flag).
	Hint func(Class) string
	// Resolver resolves host names (net.DefaultResolver when nil).
	Resolver Resolver
	// Dial, when set, connects to an address the policy has allowed, instead
	// of DialContext's net.Dialer: tests reach a server on loopback through a
	// private address the resolver gave. It never sees a refused address.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Resolver resolves a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Error is a host or an address a policy refuses. It wraps core.ErrInvalid, so
// an edge answers it as bad input, with its message.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return core.ErrInvalid }

// Refusef is an Error with that message: callers' own refusals (a URL's form)
// read the same as the policy's.
func Refusef(format string, args ...any) error {
	return &Error{msg: fmt.Sprintf(format, args...)}
}

// resolveTimeout bounds a name lookup in CheckHost.
const resolveTimeout = 5 * time.Second

// CheckHost resolves host (a name or an address literal) and checks every
// address it has: one refused address refuses the host. The error names the
// host, what it resolves to and why that is refused.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return err
	}
	return p.checkAll(ctx, host, addrs)
}

// checkAll checks the addresses host resolved to, naming the host when it is a
// name.
func (p Policy) checkAll(ctx context.Context, host string, addrs []netip.Addr) error {
	only, _ := ctx.Value(loopbackOnlyKey{}).(string)
	for _, a := range addrs {
		if err := p.check(a, only); err != nil {
			if ip, perr := netip.ParseAddr(strings.Trim(host, "[]")); perr == nil && ip == a {
				return err
			}
			return Refusef("%s resolves to %v", host, err)
		}
	}
	return nil
}

func (p Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, Refusef("host %s cannot be resolved: %v", host, lookupReason(err))
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

var ranges = []struct {
	prefix netip.Prefix
	what   string
	class  Class
}{
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address", Loopback},
	{netip.MustParsePrefix("::1/128"), "a loopback address", Loopback},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address (RFC 1918)", Private},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address (RFC 1918)", Private},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address (RFC 1918)", Private},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address (RFC 6598)", Private},
	{netip.MustParsePrefix("169.254.169.254/32"), "a link-local address (the cloud metadata endpoint)", LinkLocal},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address", LinkLocal},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address", LinkLocal},
	// AWS's IPv6 instance metadata endpoint sits in the ULA range: it is
	// judged as what it is, not as a private address.
	{netip.MustParsePrefix("fd00:ec2::254/128"), "the cloud metadata endpoint (fd00:ec2::254)", LinkLocal},
	{netip.MustParsePrefix("fc00::/7"), "an IPv6 unique local address (fc00::/7)", Private},
	{netip.MustParsePrefix("fec0::/10"), "an IPv6 site-local address", Private},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address (RFC 8215)", Private},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified (\"this network\") address", Never},
	{netip.MustParsePrefix("::/128"), "the unspecified address", Never},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address", Never},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address", Never},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address", Never},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment address", Never},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address", Never},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address", Never},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address", Never},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address", Never},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address", Never},
	{netip.MustParsePrefix("100::/64"), "a discard-only address", Never},
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

// Check says whether the policy lets a connection reach a.
func (p Policy) Check(a netip.Addr) error { return p.check(a, "") }

// check is Check; a non-empty loopbackOnly also requires a loopback address and
// is the reason given when a is not one.
func (p Policy) check(a netip.Addr, loopbackOnly string) error {
	a = a.WithZone("").Unmap() // an IPv4-mapped address is the IPv4 address
	if v4, ok := embeddedV4(a); ok {
		return p.judge(v4, loopbackOnly, fmt.Sprintf("%v (which reaches %v)", a, v4))
	}
	return p.judge(a, loopbackOnly, a.String())
}

// Classify returns the class of a's range and its description ("" when public).
func Classify(a netip.Addr) (Class, string) {
	for _, r := range ranges {
		if r.prefix.Contains(a) {
			return r.class, r.what
		}
	}
	return Public, ""
}

// judge applies the ranges to a, naming it as shown in errors.
func (p Policy) judge(a netip.Addr, loopbackOnly, shown string) error {
	class, what := Classify(a)
	allowed := class == Public || class == Loopback && p.AllowLoopback ||
		class == Private && p.AllowPrivate || class == LinkLocal && p.AllowLinkLocal
	switch {
	case class == Never:
		return Refusef("%s, %s, which is never allowed", shown, what)
	case loopbackOnly != "" && class == Loopback && allowed:
		return nil
	case loopbackOnly != "" && class == Public:
		return Refusef("%s, which is not a loopback address; %s", shown, loopbackOnly)
	case loopbackOnly != "":
		return Refusef("%s, %s; %s", shown, what, loopbackOnly)
	case allowed:
		return nil
	case p.Hint != nil:
		return Refusef("%s, %s; %s", shown, what, p.Hint(class))
	}
	return Refusef("%s, %s, which this policy refuses", shown, what)
}

// loopbackOnlyKey marks a dial context that may reach loopback addresses only;
// its value is the reason.
type loopbackOnlyKey struct{}

// LoopbackOnly returns a context whose dials (through DialContext) may reach
// allowed loopback addresses only, refusing others with that reason (a
// webhook's plain-http URL: "plain http is allowed only to loopback").
func LoopbackOnly(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, loopbackOnlyKey{}, reason)
}

// Transport is an http.Transport whose every connection is dialed through the
// policy (DialContext). It uses no proxy: a proxy would dial for it, past the
// checks. Callers add what is theirs (TLS settings, response timeouts).
func (p Policy) Transport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         p.DialContext(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}),
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
}

// DialContext returns a dial function for an http.Transport that resolves the
// host itself, refuses the whole host if any of its addresses is refused, and
// dials the addresses it checked (so a second resolution cannot swap them).
// d's Control checks each address once more at connect time.
func (p Policy) DialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d.Control = func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return Refusef("cannot check address %s", address)
		}
		return p.Check(ap.Addr())
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
		if err := p.checkAll(ctx, host, addrs); err != nil {
			return nil, Refusef("refused by the %s: %v", p.Name, err)
		}
		dial := d.DialContext
		if p.Dial != nil {
			dial = p.Dial
		}
		var errs []error
		for _, a := range addrs {
			c, err := dial(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}
