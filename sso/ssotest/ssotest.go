package ssotest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// Connector logs in whatever identity it holds.
type Connector struct {
	mu       sync.Mutex
	identity sso.Identity
	err      error
}

var _ sso.RedirectConnector = (*Connector)(nil)

// New returns a connector that logs in id.
func New(id sso.Identity) *Connector { return &Connector{identity: id} }

// Set changes the identity the next logins get (new groups, another person).
func (c *Connector) Set(id sso.Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.identity, c.err = id, nil
}

// Fail makes the next logins fail with err, as a refusing IdP would.
func (c *Connector) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// ConnectionID is empty: one Connector may serve any connection.
func (c *Connector) ConnectionID() string { return "" }

// code is the authorization code the connector hands itself.
const code = "ssotest-code"

// LoginURL points back at the connection's callback (relative to .../login).
func (c *Connector) LoginURL(_ context.Context, state, _, _ string) (string, error) {
	return "callback?" + url.Values{"state": {state}, "code": {code}}.Encode(), nil
}

// HandleCallback returns the held identity.
func (c *Connector) HandleCallback(_ context.Context, r *http.Request, _, _ string) (sso.Identity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.URL.Query().Get("code") != code {
		return sso.Identity{}, errors.New("ssotest: unknown code")
	}
	if c.err != nil {
		return sso.Identity{}, c.err
	}
	return c.identity, nil
}

// Connectors adapts c for sso.Handler.Connectors.
func Connectors(c *Connector) func(context.Context, store.SSOConnection) (sso.Connector, error) {
	return func(context.Context, store.SSOConnection) (sso.Connector, error) { return c, nil }
}

// Connection returns an OIDC-kind connection record for org, to create in the
// store; its sealed secret is a placeholder the Connector never opens.
func Connection(orgID, name string, domains ...string) store.SSOConnection {
	return store.SSOConnection{OrgID: orgID, Name: name, Kind: store.KindOIDC, JIT: true, Domains: domains,
		OIDC: &store.OIDCConfig{Issuer: "https://idp.invalid", ClientID: "ssotest", ClientSecretSealed: "v1:ssotest"}}
}
