package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/secrets"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// FieldError is invalid input about one field of a request or form, so that a
// page can show the message next to the field and the API can name it. It
// wraps core.ErrInvalid.
type FieldError struct {
	// Field is the input's name as the API and the forms spell it (name,
	// domains, metadata_url, metadata_xml, issuer, client_id, client_secret,
	// settings, ...).
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Msg }
func (e *FieldError) Unwrap() error { return core.ErrInvalid }

func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: field, Msg: err.Error()}
}

// SSOSettings are an admin's login settings for a connection: the claim or
// attribute mapping, group value form, OIDC scopes, hosted domains and
// userinfo, SAML single logout and the clock-skew allowance. A nil field keeps
// the connection's value (the default on a new one). Preset is applied first
// and replaces the whole mapping (and an OIDC connection's scopes and userinfo
// setting) with the identity provider's; the other fields then override it.
type SSOSettings struct {
	Preset                                                      *string
	Email, UserName, GivenName, FamilyName, DisplayName, Groups *[]string
	// GroupValues is as-sent (or ""), last-segment or cn.
	GroupValues                *string
	ExtraScopes, HostedDomains *[]string // OIDC
	UserInfo                   *bool     // OIDC
	SingleLogout               *bool     // SAML
	ClockSkew                  *time.Duration
}

func (s SSOSettings) sso() sso.Settings {
	return sso.Settings{Preset: s.Preset, Email: s.Email, UserName: s.UserName, GivenName: s.GivenName, FamilyName: s.FamilyName,
		DisplayName: s.DisplayName, Groups: s.Groups, GroupValues: s.GroupValues, ExtraScopes: s.ExtraScopes,
		HostedDomains: s.HostedDomains, UserInfo: s.UserInfo, SingleLogout: s.SingleLogout, ClockSkew: s.ClockSkew}
}

// given says whether any setting is set.
func (s SSOSettings) given() bool {
	return s.Preset != nil || s.Email != nil || s.UserName != nil || s.GivenName != nil || s.FamilyName != nil ||
		s.DisplayName != nil || s.Groups != nil || s.GroupValues != nil || s.ExtraScopes != nil || s.HostedDomains != nil ||
		s.UserInfo != nil || s.SingleLogout != nil || s.ClockSkew != nil
}

// SSOChange is what an admin gives to create or change an SSO connection, from
// the command line, the API or the pages. A nil field keeps the connection's
// value (or the default on a new one).
type SSOChange struct {
	Name    *string
	Domains *[]string
	// JIT creates people without a Gatehouse account at their first login (on by
	// default).
	JIT *bool
	// Directory links the connection to a SCIM directory of the org (id or name):
	// it then signs in the users that directory owns. "" removes the link.
	Directory *string

	// SAML: AllowIdPInitiated accepts logins started from the IdP's dashboard.
	AllowIdPInitiated *bool
	// SAML: the IdP's metadata, from a URL (fetched now, and again on the
	// refresh schedule) or as XML (an uploaded file); at most one. On an update,
	// RefreshMetadata fetches it again from the URL it last came from.
	MetadataURL     *string
	MetadataXML     []byte
	RefreshMetadata bool

	// OIDC: the issuer (checked by OpenID discovery) and the client registered at
	// the IdP; the secret is sealed, never stored or shown in the clear.
	Issuer, ClientID, ClientSecret *string

	SSOSettings
}

// Empty says that the change gives nothing.
func (in SSOChange) Empty() bool {
	return in.Name == nil && in.Domains == nil && in.JIT == nil && in.Directory == nil && in.AllowIdPInitiated == nil && in.MetadataURL == nil &&
		in.MetadataXML == nil && !in.RefreshMetadata && in.Issuer == nil && in.ClientID == nil && in.ClientSecret == nil && !in.SSOSettings.given()
}

// checkKind refuses fields of the other protocol.
func (in SSOChange) checkKind(kind store.SSOKind) error {
	samlOnly := map[string]bool{"allow_idp_initiated": in.AllowIdPInitiated != nil, "idp_metadata_url": in.MetadataURL != nil,
		"idp_metadata_xml": in.MetadataXML != nil, "refresh_metadata": in.RefreshMetadata, "single_logout": in.SingleLogout != nil}
	oidcOnly := map[string]bool{"issuer": in.Issuer != nil, "client_id": in.ClientID != nil, "client_secret": in.ClientSecret != nil,
		"extra_scopes": in.ExtraScopes != nil, "hosted_domains": in.HostedDomains != nil, "userinfo": in.UserInfo != nil}
	wrong, other := oidcOnly, "OIDC"
	if kind == store.KindOIDC {
		wrong, other = samlOnly, "SAML"
	}
	for _, f := range []string{"allow_idp_initiated", "idp_metadata_url", "idp_metadata_xml", "refresh_metadata", "single_logout",
		"issuer", "client_id", "client_secret", "extra_scopes", "hosted_domains", "userinfo"} {
		if wrong[f] {
			return &FieldError{Field: f, Msg: fmt.Sprintf("%s applies to %s connections only", f, other)}
		}
	}
	return nil
}

// SSOConnectionSetup is what creating or changing a connection returns.
type SSOConnectionSetup struct {
	store.SSOConnection
	// MetadataChanged: the IdP's metadata (and so its signing certificates) was
	// replaced by this change.
	MetadataChanged bool
}

func (o *Ops) ssoStore() (store.SSO, error) {
	s, ok := o.Store.(store.SSO)
	if !ok {
		return nil, errors.New("ops: the store does not keep SSO connections")
	}
	return s, nil
}

func (o *Ops) ssoBox() (*secrets.Box, error) {
	if o.SSOSecrets == nil {
		return nil, errors.New("ops: no secret key to seal SSO connection secrets with")
	}
	return o.SSOSecrets, nil
}

// fetchMetadata fetches IdP metadata with the operations' client.
func (o *Ops) fetchMetadata(ctx context.Context, u string) ([]byte, error) {
	u = strings.TrimSpace(u)
	if u == "" {
		return nil, &FieldError{Field: "idp_metadata_url", Msg: "give the IdP's metadata URL"}
	}
	b, err := sso.FetchMetadata(ctx, o.SSONetwork, u)
	return b, fieldErr("idp_metadata_url", err)
}

// CreateSSOConnection creates a SAML or OIDC connection of the org with the
// command line's checks: the name is required; a SAML connection's IdP metadata
// (from exactly one of MetadataURL and MetadataXML) is fetched and must parse and
// name a signing certificate; an OIDC issuer must answer OpenID discovery; the
// client secret and the SP private key are sealed; the settings must make sense
// together (sso.CheckConnection). Everything is checked before the one write,
// so bad input changes nothing. A name or email domain already taken is
// core.ErrConflict.
func (o *Ops) CreateSSOConnection(ctx context.Context, actor core.Actor, orgID string, kind store.SSOKind, in SSOChange) (SSOConnectionSetup, error) {
	st, err := o.ssoStore()
	if err != nil {
		return SSOConnectionSetup{}, err
	}
	if kind != store.KindSAML && kind != store.KindOIDC {
		return SSOConnectionSetup{}, &FieldError{Field: "kind", Msg: `kind must be "saml" or "oidc"`}
	}
	if err := in.checkKind(kind); err != nil {
		return SSOConnectionSetup{}, err
	}
	if in.RefreshMetadata {
		return SSOConnectionSetup{}, &FieldError{Field: "refresh_metadata", Msg: "a new connection has no metadata to refresh: give idp_metadata_url or idp_metadata_xml"}
	}
	name := ""
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if name == "" {
		return SSOConnectionSetup{}, &FieldError{Field: "name", Msg: "a connection needs a name"}
	}
	box, err := o.ssoBox()
	if err != nil {
		return SSOConnectionSetup{}, err
	}
	conn := store.SSOConnection{ID: store.NewID(), OrgID: orgID, Name: name, Kind: kind, JIT: true}
	if in.JIT != nil {
		conn.JIT = *in.JIT
	}
	if in.Domains != nil {
		conn.Domains = append([]string{}, *in.Domains...)
	}
	if in.Directory != nil {
		conn.DirectoryID = strings.TrimSpace(*in.Directory)
	}
	if kind == store.KindSAML {
		url := ""
		if in.MetadataURL != nil {
			url = strings.TrimSpace(*in.MetadataURL)
		}
		md := in.MetadataXML
		switch {
		case url != "" && len(md) > 0:
			return SSOConnectionSetup{}, &FieldError{Field: "idp_metadata_url", Msg: "give the IdP's metadata URL or its metadata XML, not both"}
		case url == "" && len(md) == 0:
			return SSOConnectionSetup{}, &FieldError{Field: "idp_metadata_url", Msg: "give the IdP's metadata URL or its metadata XML"}
		case url != "":
			if md, err = o.fetchMetadata(ctx, url); err != nil {
				return SSOConnectionSetup{}, err
			}
		}
		field := "idp_metadata_xml"
		if url != "" {
			field = "idp_metadata_url"
		}
		if conn.SAML, err = sso.NewSAMLConfig(box, conn.ID, md, url); err != nil {
			return SSOConnectionSetup{}, fieldErr(field, err)
		}
		if in.AllowIdPInitiated != nil {
			conn.SAML.AllowIdPInitiated = *in.AllowIdPInitiated
		}
		conn.Certificates = sso.IdPSigningCertificates(string(md))
	} else {
		var issuer, clientID, secret string
		if in.Issuer != nil {
			issuer = strings.TrimSpace(*in.Issuer)
		}
		if in.ClientID != nil {
			clientID = strings.TrimSpace(*in.ClientID)
		}
		if in.ClientSecret != nil {
			secret = strings.TrimSpace(*in.ClientSecret)
		}
		switch {
		case issuer == "":
			return SSOConnectionSetup{}, &FieldError{Field: "issuer", Msg: "give the OpenID issuer URL"}
		case clientID == "":
			return SSOConnectionSetup{}, &FieldError{Field: "client_id", Msg: "give the client id of the app registered at the IdP"}
		case secret == "":
			return SSOConnectionSetup{}, &FieldError{Field: "client_secret", Msg: "give the client secret of the app registered at the IdP"}
		}
		if conn.OIDC, err = sso.NewOIDCConfig(ctx, o.SSONetwork, box, conn.ID, issuer, clientID, secret); err != nil {
			return SSOConnectionSetup{}, fieldErr("issuer", err)
		}
	}
	if err := in.SSOSettings.sso().Apply(&conn); err != nil {
		return SSOConnectionSetup{}, fieldErr("settings", err)
	}
	out, err := st.CreateSSOConnection(ctx, actor, conn)
	if err != nil {
		return SSOConnectionSetup{}, ssoStoreErr(err, name)
	}
	return SSOConnectionSetup{SSOConnection: out, MetadataChanged: true}, nil
}

// ssoStoreErr names what a store refusal is about.
func ssoStoreErr(err error, name string) error {
	switch {
	case errors.Is(err, core.ErrConflict) && strings.Contains(err.Error(), "email domain"):
		return &conflictError{field: "domains", msg: strings.TrimSuffix(err.Error(), ": "+core.ErrConflict.Error()), err: err}
	case errors.Is(err, core.ErrConflict):
		return &conflictError{field: "name", msg: fmt.Sprintf("an SSO connection named %q already exists", name), err: err}
	case errors.Is(err, core.ErrInvalid) && strings.HasPrefix(invalidText(err), "no directory"):
		return &FieldError{Field: "directory", Msg: invalidText(err)}
	case errors.Is(err, core.ErrInvalid):
		// The store's own checks (email domains).
		return &FieldError{Field: "domains", Msg: invalidText(err)}
	}
	return err
}

// invalidText is the message of the innermost error wrapping core.ErrInvalid.
func invalidText(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) == core.ErrInvalid {
			return e.Error()
		}
	}
	return err.Error()
}

// conflictError is a conflict about one field (a name or domain already taken);
// it wraps core.ErrConflict.
type conflictError struct {
	field, msg string
	err        error
}

func (e *conflictError) Error() string { return e.msg }
func (e *conflictError) Unwrap() error { return e.err }

// ConflictField returns the field a conflict is about, if err is one.
func ConflictField(err error) (field, msg string, ok bool) {
	var ce *conflictError
	if errors.As(err, &ce) {
		return ce.field, ce.msg, true
	}
	return "", "", false
}

// UpdateSSOConnection changes an org's connection with the command line's checks
// (those of CreateSSOConnection for the fields given). New metadata (a URL, XML,
// or RefreshMetadata from the URL it came from) is fetched and checked before the
// transaction, and recorded with the certificates it lists; the update reads,
// changes and checks the connection in one transaction, so bad input or a
// concurrent change writes nothing. A change that gives nothing is core.ErrInvalid.
func (o *Ops) UpdateSSOConnection(ctx context.Context, actor core.Actor, orgID, connID string, in SSOChange) (SSOConnectionSetup, error) {
	st, err := o.ssoStore()
	if err != nil {
		return SSOConnectionSetup{}, err
	}
	if in.Empty() {
		return SSOConnectionSetup{}, core.Invalidf("nothing to change")
	}
	if in.Name != nil && strings.TrimSpace(*in.Name) == "" {
		return SSOConnectionSetup{}, &FieldError{Field: "name", Msg: "a connection needs a name"}
	}
	conns, err := st.ListSSOConnections(ctx, orgID)
	if err != nil {
		return SSOConnectionSetup{}, err
	}
	var conn store.SSOConnection
	for _, c := range conns {
		if c.ID == connID {
			conn = c
		}
	}
	if conn.ID == "" {
		return SSOConnectionSetup{}, fmt.Errorf("sso connection %q: %w", connID, core.ErrNotFound)
	}
	if err := in.checkKind(conn.Kind); err != nil {
		return SSOConnectionSetup{}, err
	}
	// Fetch and check new metadata, and seal a new secret, before the
	// transaction: bad input changes nothing.
	var metadata []byte
	var metadataFrom string
	sources := 0
	for _, given := range []bool{in.MetadataURL != nil && strings.TrimSpace(*in.MetadataURL) != "", len(in.MetadataXML) > 0, in.RefreshMetadata} {
		if given {
			sources++
		}
	}
	if in.MetadataURL != nil && strings.TrimSpace(*in.MetadataURL) == "" && len(in.MetadataXML) == 0 && !in.RefreshMetadata {
		return SSOConnectionSetup{}, &FieldError{Field: "idp_metadata_url", Msg: "the metadata URL is empty"}
	}
	if sources > 1 {
		return SSOConnectionSetup{}, &FieldError{Field: "idp_metadata_url", Msg: "give at most one of a metadata URL, metadata XML and a refresh"}
	}
	field := "idp_metadata_url"
	switch {
	case len(in.MetadataXML) > 0:
		metadata, field = in.MetadataXML, "idp_metadata_xml"
	case in.MetadataURL != nil && strings.TrimSpace(*in.MetadataURL) != "":
		metadataFrom = strings.TrimSpace(*in.MetadataURL)
		if metadata, err = o.fetchMetadata(ctx, metadataFrom); err != nil {
			return SSOConnectionSetup{}, err
		}
	case in.RefreshMetadata:
		if conn.SAML.IdPMetadataURL == "" {
			return SSOConnectionSetup{}, &FieldError{Field: "refresh_metadata",
				Msg: fmt.Sprintf("connection %q was set up from a metadata file: give a metadata URL or new metadata XML", conn.Name)}
		}
		if metadata, err = o.fetchMetadata(ctx, conn.SAML.IdPMetadataURL); err != nil {
			return SSOConnectionSetup{}, err
		}
	}
	if metadata != nil {
		check := conn
		cfg := *conn.SAML
		check.SAML = &cfg
		if err := sso.RefreshSAMLMetadata(&check, metadata, metadataFrom); err != nil {
			return SSOConnectionSetup{}, fieldErr(field, err)
		}
	}
	var newOIDC *store.OIDCConfig
	if in.Issuer != nil || in.ClientID != nil || in.ClientSecret != nil {
		box, err := o.ssoBox()
		if err != nil {
			return SSOConnectionSetup{}, err
		}
		issuer, clientID := conn.OIDC.Issuer, conn.OIDC.ClientID
		if in.Issuer != nil {
			issuer = strings.TrimSpace(*in.Issuer)
		}
		if in.ClientID != nil {
			clientID = strings.TrimSpace(*in.ClientID)
		}
		switch {
		case issuer == "":
			return SSOConnectionSetup{}, &FieldError{Field: "issuer", Msg: "give the OpenID issuer URL"}
		case clientID == "":
			return SSOConnectionSetup{}, &FieldError{Field: "client_id", Msg: "give the client id of the app registered at the IdP"}
		}
		if in.ClientSecret != nil && strings.TrimSpace(*in.ClientSecret) == "" {
			return SSOConnectionSetup{}, &FieldError{Field: "client_secret", Msg: "the client secret is empty (leave it out to keep the current one)"}
		}
		if in.ClientSecret != nil || issuer != conn.OIDC.Issuer {
			// A new issuer is checked by discovery; a new secret is sealed to the
			// connection.
			secret := "unchanged"
			if in.ClientSecret != nil {
				secret = strings.TrimSpace(*in.ClientSecret)
			}
			cfg, err := sso.NewOIDCConfig(ctx, o.SSONetwork, box, conn.ID, issuer, clientID, secret)
			if err != nil {
				return SSOConnectionSetup{}, fieldErr("issuer", err)
			}
			if in.ClientSecret == nil {
				cfg.ClientSecretSealed = conn.OIDC.ClientSecretSealed
			}
			newOIDC = cfg
		} else {
			newOIDC = &store.OIDCConfig{Issuer: issuer, ClientID: clientID, ClientSecretSealed: conn.OIDC.ClientSecretSealed}
		}
	}
	settings := in.SSOSettings.sso()
	up, err := st.UpdateSSOConnection(ctx, actor, orgID, conn.ID, func(c *store.SSOConnection) error {
		if in.Name != nil {
			c.Name = strings.TrimSpace(*in.Name)
		}
		if in.Domains != nil {
			c.Domains = append([]string{}, *in.Domains...)
		}
		if in.JIT != nil {
			c.JIT = *in.JIT
		}
		if in.Directory != nil {
			c.DirectoryID = strings.TrimSpace(*in.Directory)
		}
		if c.SAML != nil {
			if in.AllowIdPInitiated != nil {
				c.SAML.AllowIdPInitiated = *in.AllowIdPInitiated
			}
			if metadata != nil {
				if err := sso.RefreshSAMLMetadata(c, metadata, metadataFrom); err != nil {
					return fieldErr(field, err)
				}
			}
		}
		if c.OIDC != nil && newOIDC != nil {
			// Only the fields given: a concurrent change to another stays.
			if in.Issuer != nil {
				c.OIDC.Issuer = newOIDC.Issuer
			}
			if in.ClientID != nil {
				c.OIDC.ClientID = newOIDC.ClientID
			}
			if in.ClientSecret != nil {
				c.OIDC.ClientSecretSealed = newOIDC.ClientSecretSealed
			}
		}
		if in.SSOSettings.given() {
			return fieldErr("settings", settings.Apply(c))
		}
		// Fewer domains may leave a sign-in-name email source without any.
		return fieldErr("domains", sso.CheckConnection(*c))
	})
	if err != nil {
		name := conn.Name
		if in.Name != nil {
			name = strings.TrimSpace(*in.Name)
		}
		return SSOConnectionSetup{}, ssoStoreErr(err, name)
	}
	return SSOConnectionSetup{SSOConnection: up, MetadataChanged: metadata != nil}, nil
}

// DeleteSSOConnection deletes an org's connection with its email domains,
// sessions (signed out), IdP groups, their memberships and its group mappings,
// in one transaction, and says what went. Users it created are kept.
func (o *Ops) DeleteSSOConnection(ctx context.Context, actor core.Actor, orgID, connID string) (store.SSODeletion, error) {
	st, err := o.ssoStore()
	if err != nil {
		return store.SSODeletion{}, err
	}
	return st.DeleteSSOConnection(ctx, actor, orgID, connID)
}
