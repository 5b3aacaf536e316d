package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// SSOSessions adapts the sso package's browser sessions to SessionAuth; serve wires
// Handler.SessionAuth = SSOSessions{H: ssoHandler}.
type SSOSessions struct{ H *sso.Handler }

// Authenticate returns the org and user of the request's live session.
func (s SSOSessions) Authenticate(r *http.Request) (string, string, error) {
	ss, err := s.H.Session(r)
	if err != nil {
		return "", "", err
	}
	return ss.OrgID, ss.UserID, nil
}

// SSOConnectionList is the part of the sso package's store the setup page reads.
type SSOConnectionList interface {
	ListSSOConnections(ctx context.Context, orgID string) ([]store.SSOConnection, error)
}

// SSOConnectionsFrom lists an org's connections with the endpoints the sso package
// serves them at, built from the external URL the same way it builds them.
type SSOConnectionsFrom struct {
	Store       SSOConnectionList
	ExternalURL *url.URL
}

// SSOConnections implements SSOSetup.
func (s SSOConnectionsFrom) SSOConnections(ctx context.Context, orgID string) ([]SSOConnectionInfo, error) {
	conns, err := s.Store.ListSSOConnections(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := make([]SSOConnectionInfo, 0, len(conns))
	for _, c := range conns {
		info := SSOConnectionInfo{ID: c.ID, Name: c.Name, Kind: string(c.Kind)}
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

// SSOConnectionNames resolves a connection reference (its id or its name, any case)
// among the org's connections, for mappings and IdP-group lists.
type SSOConnectionNames struct{ Store SSOConnectionList }

// ConnectionID implements ConnectionResolver; an unknown reference is core.ErrNotFound.
func (s SSOConnectionNames) ConnectionID(ctx context.Context, orgID, idOrName string) (string, error) {
	conns, err := s.Store.ListSSOConnections(ctx, orgID)
	if err != nil {
		return "", err
	}
	for _, c := range conns {
		if c.ID == idOrName {
			return c.ID, nil
		}
	}
	for _, c := range conns {
		if strings.EqualFold(c.Name, idOrName) {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("SSO connection %q: %w", idOrName, core.ErrNotFound)
}
