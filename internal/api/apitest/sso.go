package apitest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/domains"
	"github.com/gatehouse-dev/gatehouse/internal/domains/domainstest"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// SSOExternalURL is the external URL of NewSSOEnv's server: the setup values
// it answers are under it.
const SSOExternalURL = "https://gh.example.com"

// NewSSOEnv is NewEnv whose API manages SSO connections as serve's does: the
// stack's setup values under SSOExternalURL, and operations that seal
// connection secrets under storetest.Box's key and fetch IdP metadata and
// OpenID discovery from loopback test servers (serve's --sso-allow-loopback).
// NewSSOEnvWith takes another network policy.
func NewSSOEnv(t *testing.T, b storetest.Backend) *Env {
	t.Helper()
	return NewSSOEnvWith(t, b, sso.Network{AllowLoopback: true})
}

// NewSSOEnvWith is NewSSOEnv whose IdP fetches follow that network policy.
func NewSSOEnvWith(t *testing.T, b storetest.Backend, network sso.Network) *Env {
	t.Helper()
	e := NewEnv(t, b)
	h := NewHandler(t, e.St, e.Sess)
	base, _ := url.Parse(SSOExternalURL)
	h.SSO = stack.SSOSetup{Store: e.St, ExternalURL: base}
	h.Ops = &ops.Ops{Store: e.St, Secrets: storetest.Box(t), SSOSecrets: storetest.Box(t), SSONetwork: network}
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.H, e.Srv = h, srv
	return e
}

// NewDomainsEnv is NewEnv whose operations look domain verification records up
// in the returned DNS server on loopback (with a short timeout, for the tests of
// a server that does not answer).
func NewDomainsEnv(t *testing.T, b storetest.Backend) (*Env, *domainstest.Server) {
	t.Helper()
	e := NewEnv(t, b)
	dns := domainstest.Start(t)
	h := NewHandler(t, e.St, e.Sess)
	h.Ops = &ops.Ops{Store: e.St, DNS: &domains.Checker{Resolver: domains.NewResolver(dns.Addr), Timeout: 3 * time.Second}}
	mux := http.NewServeMux()
	h.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.H, e.Srv = h, srv
	return e, dns
}
