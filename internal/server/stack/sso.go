package stack

import (
	"context"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// SSOConnectionList is the part of the store the SSO setup values are read from.
type SSOConnectionList interface {
	ListSSOConnections(ctx context.Context, orgID string) ([]store.SSOConnection, error)
}

// SSOSetup lists an org's SSO connections with the endpoints the sso package
// serves them at, built by the sso package from the external URL: the seam
// (httpx.SSOSetup) through which the API and the admin pages show setup values
// without importing the sso edge.
type SSOSetup struct {
	Store       SSOConnectionList
	ExternalURL *url.URL
}

var _ httpx.SSOSetup = SSOSetup{}

// SSOConnections implements httpx.SSOSetup.
func (s SSOSetup) SSOConnections(ctx context.Context, orgID string) ([]httpx.SSOConnection, error) {
	conns, err := s.Store.ListSSOConnections(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]httpx.SSOConnection, 0, len(conns))
	for _, c := range conns {
		info := httpx.SSOConnection{ID: c.ID, Name: c.Name, Kind: string(c.Kind)}
		if c.Kind == store.KindSAML {
			e := sso.SAMLEndpointsFor(s.ExternalURL, c.ID)
			info.EntityID, info.ACS, info.Metadata, info.Login = e.EntityID, e.ACS, e.MetadataURL, e.LoginURL
		} else {
			info.Redirect = sso.OIDCRedirectURI(s.ExternalURL, c.ID)
		}
		out = append(out, info)
	}
	return out, nil
}
