package stack

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// SSOConnectionList is the part of the store the SSO setup values are read from.
type SSOConnectionList interface {
	ListSSOConnections(ctx context.Context, orgID string) ([]store.SSOConnection, error)
	ListIdPCertificates(ctx context.Context, orgID, connectionID string) ([]store.IdPCertificate, error)
	GetSSORefresh(ctx context.Context, orgID, connectionID string) (store.SSORefresh, error)
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

// SSOConnections implements httpx.SSOSetup. The list carries the
// certificates (one query for the org's) but not the refresh state
// (SSOConnection does).
func (s SSOSetup) SSOConnections(ctx context.Context, orgID string) ([]httpx.SSOConnection, error) {
	conns, err := s.Store.ListSSOConnections(ctx, orgID)
	if err != nil {
		return nil, err
	}
	var certs []store.IdPCertificate
	if len(conns) > 0 {
		if certs, err = s.Store.ListIdPCertificates(ctx, orgID, ""); err != nil {
			return nil, err
		}
	}
	out := make([]httpx.SSOConnection, 0, len(conns))
	for _, c := range conns {
		v := s.view(c)
		for _, cert := range certs {
			if cert.ConnectionID == c.ID {
				v.Certificates = append(v.Certificates, cert)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// SSOConnection implements httpx.SSOSetup.
func (s SSOSetup) SSOConnection(ctx context.Context, orgID, id string) (httpx.SSOConnection, error) {
	conns, err := s.Store.ListSSOConnections(ctx, orgID)
	if err != nil {
		return httpx.SSOConnection{}, err
	}
	i := slices.IndexFunc(conns, func(c store.SSOConnection) bool { return c.ID == id })
	if i < 0 {
		return httpx.SSOConnection{}, fmt.Errorf("sso connection %q: %w", id, core.ErrNotFound)
	}
	v := s.view(conns[i])
	if v.Certificates, err = s.Store.ListIdPCertificates(ctx, orgID, id); err != nil {
		return httpx.SSOConnection{}, err
	}
	if v.Certificates == nil {
		v.Certificates = []store.IdPCertificate{}
	}
	if r, err := s.Store.GetSSORefresh(ctx, orgID, id); err == nil && !r.LastAttemptAt.IsZero() {
		v.Refresh = &httpx.SSORefresh{LastAttemptAt: r.LastAttemptAt, LastSuccessAt: r.LastSuccessAt, LastError: r.LastError,
			Failures: r.Failures, NextAt: r.NextAt}
	}
	return v, nil
}

// view is a connection's setup values and settings, without secrets.
func (s SSOSetup) view(c store.SSOConnection) httpx.SSOConnection {
	v := httpx.SSOConnection{ID: c.ID, Name: c.Name, Kind: string(c.Kind), Domains: c.Domains, JIT: c.JIT, DirectoryID: c.DirectoryID,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Version: c.Version}
	if v.Domains == nil {
		v.Domains = []string{}
	}
	switch {
	case c.SAML != nil:
		e := sso.SAMLEndpointsFor(s.ExternalURL, c.ID)
		v.EntityID, v.ACS, v.Metadata, v.Login, v.SLO = e.EntityID, e.ACS, e.MetadataURL, e.LoginURL, e.SLO
		slo := !c.SAML.NoSingleLogout
		v.AllowIdPInitiated, v.IdPMetadataURL, v.SingleLogout = &c.SAML.AllowIdPInitiated, c.SAML.IdPMetadataURL, &slo
		v.Mapping, v.ClockSkewSeconds = c.SAML.Mapping, int64(c.SAML.ClockSkew)
	case c.OIDC != nil:
		v.Redirect = sso.OIDCRedirectURI(s.ExternalURL, c.ID)
		v.Login = s.ExternalURL.JoinPath("sso", "oidc", c.ID, "login").String()
		v.Issuer, v.ClientID, v.HostedDomains = c.OIDC.Issuer, c.OIDC.ClientID, c.OIDC.HostedDomains
		ui := !c.OIDC.NoUserInfo
		v.UserInfo = &ui
		v.ExtraScopes = sso.ExtraScopes(c.OIDC.Scopes)
		v.Mapping, v.ClockSkewSeconds = c.OIDC.Mapping, int64(c.OIDC.ClockSkew)
	}
	v.Preset = v.Mapping.Preset
	for _, st := range sso.Describe(c) {
		v.Settings = append(v.Settings, httpx.SSOSetting{Name: st.Name, Value: st.Value, Default: st.Default})
	}
	return v
}
