package domains

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Label and Prefix shape the record: Label.<domain> TXT "Prefix<token>".
const (
	Label  = "_gatehouse-challenge"
	Prefix = "gatehouse-verification="
)

// DefaultTimeout bounds one check, every retry of the resolver included.
const DefaultTimeout = 10 * time.Second

// Record is the DNS record an organization publishes to prove a domain.
type Record struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// RecordFor is the record proving domain with token.
func RecordFor(domain, token string) Record {
	return Record{Name: Label + "." + domain, Type: "TXT", Value: Prefix + token}
}

// Refusal is a check that did not find the record. Missing is true when the name
// has no TXT record at all (or does not exist), false when it has others; Lookup
// is true when the DNS could not answer (a timeout, a server failure).
type Refusal struct {
	Record  Record
	Missing bool
	Lookup  bool
	Found   []string // the TXT values that are there instead (at most a few)
	Err     error    // the resolver's error, for Lookup
}

func (r *Refusal) Error() string {
	switch {
	case r.Lookup:
		return fmt.Sprintf("the DNS lookup of %s TXT failed (%s); nothing was changed, try again", r.Record.Name, lookupCause(r.Err))
	case r.Missing:
		return fmt.Sprintf("no TXT record at %s: publish %s TXT %q and try again (DNS changes can take a while to appear)",
			r.Record.Name, r.Record.Name, r.Record.Value)
	default:
		return fmt.Sprintf("the TXT records at %s (%s) do not include %q: publish it and try again",
			r.Record.Name, strings.Join(quoteAll(r.Found), ", "), r.Record.Value)
	}
}

func (r *Refusal) Unwrap() error { return r.Err }

func lookupCause(err error) string {
	var de *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &de) && de.IsTimeout:
		return "timed out"
	case errors.As(err, &de):
		return de.Err
	case err != nil:
		return err.Error()
	}
	return "no answer"
}

func quoteAll(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// Checker looks up verification records.
type Checker struct {
	// Resolver answers the lookups: net.DefaultResolver (the system's) when nil,
	// or NewResolver's for one DNS server.
	Resolver *net.Resolver
	// Timeout bounds one check; DefaultTimeout when zero.
	Timeout time.Duration
}

// NewResolver is a resolver that asks only the DNS server at addr (host:port),
// over UDP and, for long answers, TCP: serve --dns-resolver, and tests.
func NewResolver(addr string) *net.Resolver {
	var d net.Dialer
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}
}

// Check looks for the record proving domain with token. It returns nil when one
// of the TXT values at the record's name is exactly the record's value, and a
// *Refusal otherwise.
func (c *Checker) Check(ctx context.Context, domain, token string) error {
	rec := RecordFor(domain, token)
	if token == "" {
		return &Refusal{Record: rec, Lookup: true, Err: errors.New("no token to look for")}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := c.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	// A trailing dot: the name is absolute, never searched under the host's domains.
	vals, err := res.LookupTXT(ctx, rec.Name+".")
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return &Refusal{Record: rec, Missing: true}
	}
	if err != nil {
		return &Refusal{Record: rec, Lookup: true, Err: err}
	}
	for _, v := range vals {
		if strings.TrimSpace(v) == rec.Value {
			return nil
		}
	}
	if len(vals) == 0 {
		return &Refusal{Record: rec, Missing: true}
	}
	if len(vals) > 3 {
		vals = vals[:3]
	}
	for i, v := range vals {
		if len(v) > 100 {
			vals[i] = strings.ToValidUTF8(v[:100], "") + "…"
		}
	}
	return &Refusal{Record: rec, Found: vals}
}
