package netpolicy_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/netpolicy"
	"github.com/gatehouse-dev/gatehouse/internal/netpolicy/netpolicytest"
)

var ctx = context.Background()

// TestClasses: each switch allows its class and no other; cloud metadata
// endpoints are link-local (fd00:ec2::254 too, though it sits in the ULA
// range), so allowing private networks does not reach them; never is never.
func TestClasses(t *testing.T) {
	t.Parallel()
	hint := func(c netpolicy.Class) string {
		return map[netpolicy.Class]string{1: "hint-loopback", 2: "hint-private", 3: "hint-link-local"}[c]
	}
	strict := netpolicy.Policy{Hint: hint}
	loop := netpolicy.Policy{Hint: hint, AllowLoopback: true}
	private := netpolicy.Policy{Hint: hint, AllowPrivate: true}
	all := netpolicy.Policy{Hint: hint, AllowLoopback: true, AllowPrivate: true, AllowLinkLocal: true}
	for _, tc := range []struct {
		policy netpolicy.Policy
		addr   string
		want   string // "" allowed, else a substring of the refusal
	}{
		{strict, "93.184.215.14", ""},
		{strict, "2606:2800:21f:cb07:6820:80da:af6b:8b2c", ""},
		{strict, "127.0.0.1", "127.0.0.1, a loopback address; hint-loopback"},
		{strict, "::1", "hint-loopback"},
		{strict, "::ffff:127.0.0.1", "127.0.0.1, a loopback address"},
		{strict, "10.1.2.3", "10.1.2.3, a private address (RFC 1918); hint-private"},
		{strict, "169.254.169.254", "the cloud metadata endpoint"},
		{strict, "fd00:ec2::254", "the cloud metadata endpoint (fd00:ec2::254); hint-link-local"},
		{loop, "127.0.0.1", ""},
		{loop, "10.1.2.3", "hint-private"},
		{private, "10.1.2.3", ""},
		{private, "192.168.10.5", ""},
		{private, "fd12::1", ""},
		{private, "127.0.0.1", "hint-loopback"},
		{private, "169.254.169.254", "hint-link-local"},
		{private, "fd00:ec2::254", "hint-link-local"},
		{private, "fe80::1", "hint-link-local"},
		{private, "64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe (which reaches 169.254.169.254)"},
		{all, "169.254.169.254", ""},
		{all, "0.0.0.0", "never allowed"},
		{all, "::", "never allowed"},
		{all, "224.0.0.1", "never allowed"},
		{all, "ff02::1", "never allowed"},
	} {
		err := tc.policy.Check(netip.MustParseAddr(tc.addr))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s (%+v): %v", tc.addr, tc.policy, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s (%+v): error = %v, want %q", tc.addr, tc.policy, err, tc.want)
		case err != nil && !errors.Is(err, core.ErrInvalid):
			t.Errorf("%s: %v is not core.ErrInvalid", tc.addr, err)
		}
	}
}

// TestDialChecksResolvedAddresses: the dialer judges what a name resolves to at
// connect time, not what it resolved to before (DNS rebinding), follows a
// redirect only to an allowed address, and LoopbackOnly narrows a dial.
func TestDialChecksResolvedAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	res := netpolicytest.NewResolver("idp.example.com", "93.184.215.14")
	get := func(p netpolicy.Policy, c context.Context, target string) error {
		p.Name, p.Resolver = "test policy", res
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: p.DialContext(&net.Dialer{Timeout: time.Second})}}
		defer client.CloseIdleConnections()
		req, _ := http.NewRequestWithContext(c, http.MethodGet, target, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	strict := netpolicy.Policy{Resolver: res}
	if err := strict.CheckHost(ctx, "idp.example.com"); err != nil {
		t.Fatalf("public name refused: %v", err)
	}
	res.Set("idp.example.com", "127.0.0.1") // rebinding: it now points home
	if err := get(strict, ctx, "http://idp.example.com:"+port+"/"); err == nil ||
		!strings.Contains(err.Error(), "refused by the test policy: idp.example.com resolves to 127.0.0.1, a loopback address") {
		t.Fatalf("rebound name: %v", err)
	}
	var pe *netpolicy.Error
	if err := get(strict, ctx, srv.URL); !errors.As(err, &pe) {
		t.Fatalf("loopback literal: %v, want a *netpolicy.Error", err)
	}
	loop := netpolicy.Policy{AllowLoopback: true}
	if err := get(loop, ctx, "http://idp.example.com:"+port+"/"); err != nil {
		t.Fatalf("loopback allowed: %v", err)
	}
	// A redirect dials anew: from an allowed host to 169.254.169.254.
	away := srv.URL + "/away?to=" + url.QueryEscape("http://169.254.169.254/latest/meta-data/")
	if err := get(loop, ctx, away); err == nil || !strings.Contains(err.Error(), "169.254.169.254, a link-local address (the cloud metadata endpoint)") {
		t.Fatalf("redirect to metadata: %v", err)
	}
	if err := get(loop, netpolicy.LoopbackOnly(ctx, "only loopback here"), "http://10.0.0.1:"+port+"/"); err == nil ||
		!strings.Contains(err.Error(), "10.0.0.1, a private address (RFC 1918); only loopback here") {
		t.Fatalf("loopback only: %v", err)
	}
	if err := strict.CheckHost(ctx, "nowhere.example.com"); err == nil || !strings.Contains(err.Error(), "host nowhere.example.com cannot be resolved: no such host") {
		t.Fatalf("unknown host: %v", err)
	}
}
