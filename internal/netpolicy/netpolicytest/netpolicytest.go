// Package netpolicytest resolves host names from a table, so that tests can
// point a name at any address (a private one, or one that changes: DNS
// rebinding) without a DNS server.
package netpolicytest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// Resolver is a netpolicy.Resolver answering from its table; a name not in it
// is not found.
type Resolver struct {
	mu sync.Mutex
	m  map[string][]netip.Addr
}

// NewResolver returns a resolver of name, addresses pairs; the addresses are
// comma-separated.
func NewResolver(kv ...string) *Resolver {
	r := &Resolver{m: map[string][]netip.Addr{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Set(kv[i], strings.Split(kv[i+1], ",")...)
	}
	return r
}

// Set makes host resolve to addrs from now on.
func (r *Resolver) Set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[host] = nil
	for _, a := range addrs {
		r.m[host] = append(r.m[host], netip.MustParseAddr(a))
	}
}

// LookupNetIP answers from the table.
func (r *Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.m[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Route is a netpolicy.Policy Dial that connects each address the policy
// allowed ("10.1.2.3:443") to the one routes names for it (a loopback test
// server's), and refuses any other: a test reaches its server through a private
// or public address the Resolver gave, and a dial of anything else fails.
func Route(routes map[string]string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		to, ok := routes[address]
		if !ok {
			return nil, fmt.Errorf("netpolicytest: no route to %s", address)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, to)
	}
}
