package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// listSSOConnections lists the org's SSO connections (owned by the sso package)
// with the values to paste into the IdP.
func (h *Handler) listSSOConnections(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	out := []httpx.SSOConnection{}
	if h.SSO != nil {
		conns, err := h.SSO.SSOConnections(r.Context(), c.OrgID)
		if err != nil {
			return err
		}
		out = append(out, conns...)
	}
	return writeJSON(w, http.StatusOK, list[httpx.SSOConnection]{Items: out})
}

// ssoMappingIn is the mapping of a connection as a request gives it: each list
// names the attributes (SAML) or claims (OIDC) tried in order; an empty list
// means the defaults.
type ssoMappingIn struct {
	// Preset is the top-level preset's other spelling, as answers carry it
	// inside the mapping too.
	Preset      *string   `json:"preset"`
	Email       *[]string `json:"email"`
	UserName    *[]string `json:"user_name"`
	GivenName   *[]string `json:"given_name"`
	FamilyName  *[]string `json:"family_name"`
	DisplayName *[]string `json:"display_name"`
	Groups      *[]string `json:"groups"`
	GroupValues *string   `json:"group_values"`
}

// ssoConnectionIn is the body of POST and PATCH /api/v1/sso/connections. An
// absent field keeps the connection's value (the default on a new one).
type ssoConnectionIn struct {
	Kind              string        `json:"kind"` // POST only
	Name              *string       `json:"name"`
	Domains           *[]string     `json:"domains"`
	JIT               *bool         `json:"jit"`
	Directory         *string       `json:"directory"`
	AllowIdPInitiated *bool         `json:"allow_idp_initiated"`
	IdPMetadataURL    *string       `json:"idp_metadata_url"`
	IdPMetadataXML    *string       `json:"idp_metadata_xml"`
	RefreshMetadata   bool          `json:"refresh_metadata"`
	Issuer            *string       `json:"issuer"`
	ClientID          *string       `json:"client_id"`
	ClientSecret      *string       `json:"client_secret"`
	Preset            *string       `json:"preset"`
	Mapping           *ssoMappingIn `json:"mapping"`
	ExtraScopes       *[]string     `json:"extra_scopes"`
	HostedDomains     *[]string     `json:"hosted_domains"`
	UserInfo          *bool         `json:"userinfo"`
	SingleLogout      *bool         `json:"single_logout"`
	ClockSkewSeconds  *int64        `json:"clock_skew_seconds"`
}

func (in ssoConnectionIn) change() (ops.SSOChange, error) {
	ch := ops.SSOChange{Name: in.Name, Domains: in.Domains, JIT: in.JIT, Directory: in.Directory, AllowIdPInitiated: in.AllowIdPInitiated,
		MetadataURL: in.IdPMetadataURL, RefreshMetadata: in.RefreshMetadata, Issuer: in.Issuer, ClientID: in.ClientID,
		ClientSecret: in.ClientSecret}
	if in.IdPMetadataXML != nil {
		if *in.IdPMetadataXML == "" {
			return ch, &ops.FieldError{Field: "idp_metadata_xml", Msg: "the metadata XML is empty"}
		}
		ch.MetadataXML = []byte(*in.IdPMetadataXML)
	}
	s := &ch.SSOSettings
	s.Preset, s.ExtraScopes, s.HostedDomains, s.UserInfo, s.SingleLogout = in.Preset, in.ExtraScopes, in.HostedDomains, in.UserInfo, in.SingleLogout
	if m := in.Mapping; m != nil {
		if m.Preset != nil {
			if in.Preset != nil && *in.Preset != *m.Preset {
				return ch, &ops.FieldError{Field: "preset", Msg: "preset and mapping.preset differ: give one"}
			}
			s.Preset = m.Preset
		}
		s.Email, s.UserName, s.GivenName, s.FamilyName, s.DisplayName, s.Groups, s.GroupValues =
			m.Email, m.UserName, m.GivenName, m.FamilyName, m.DisplayName, m.Groups, m.GroupValues
	}
	if in.ClockSkewSeconds != nil {
		if *in.ClockSkewSeconds < 0 || *in.ClockSkewSeconds > int64(store.MaxClockSkew/time.Second) {
			return ch, &ops.FieldError{Field: "clock_skew_seconds", Msg: "clock_skew_seconds must be from 0 to 300"}
		}
		d := time.Duration(*in.ClockSkewSeconds) * time.Second
		s.ClockSkew = &d
	}
	return ch, nil
}

// ssoProblem names the field a refusal is about.
func ssoProblem(err error) error {
	var fe *ops.FieldError
	if errors.As(err, &fe) {
		return httpx.Fail(http.StatusUnprocessableEntity, fe.Field+": "+fe.Msg, err)
	}
	if field, msg, ok := ops.ConflictField(err); ok {
		return httpx.Fail(http.StatusConflict, field+": "+msg, err)
	}
	return err
}

// connectionView is the org's connection id with its setup values and settings.
func (h *Handler) connectionView(r *http.Request, id string) (httpx.SSOConnection, error) {
	if h.SSO == nil {
		return httpx.SSOConnection{}, httpx.Failf(http.StatusNotFound, "connection %q not found", id)
	}
	v, err := h.SSO.SSOConnection(r.Context(), callerOf(r).OrgID, id)
	return v, httpx.NotFound(err, "connection", id)
}

func (h *Handler) getSSOConnection(w http.ResponseWriter, r *http.Request) error {
	id, err := h.refs.Connection(r.Context(), *callerOf(r), r.PathValue("connection"))
	if err != nil {
		return err
	}
	v, err := h.connectionView(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// createSSOConnection adds a SAML connection (by the IdP's metadata URL or XML)
// or an OIDC connection (by issuer and client), with the checks of gatehouse sso
// add-saml / add-oidc, and answers the values to paste into the IdP.
func (h *Handler) createSSOConnection(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in ssoConnectionIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Kind != string(store.KindSAML) && in.Kind != string(store.KindOIDC) {
		return httpx.Failf(http.StatusUnprocessableEntity, `kind: "kind" must be "saml" or "oidc"`)
	}
	ch, err := in.change()
	if err != nil {
		return ssoProblem(err)
	}
	setup, err := h.Ops.CreateSSOConnection(r.Context(), c.Actor, c.OrgID, store.SSOKind(in.Kind), ch)
	if err != nil {
		return ssoProblem(err)
	}
	v, err := h.connectionView(r, setup.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/sso/connections/"+setup.ID)
	return writeJSON(w, http.StatusCreated, v)
}

// updateSSOConnection changes the fields given, with the checks of gatehouse sso
// update: new metadata is fetched and checked, a new client secret sealed.
func (h *Handler) updateSSOConnection(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	id, err := h.refs.Connection(r.Context(), *c, r.PathValue("connection"))
	if err != nil {
		return err
	}
	var in ssoConnectionIn
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Kind != "" {
		return httpx.Failf(http.StatusUnprocessableEntity, "kind: a connection's kind cannot change; create another connection")
	}
	ch, err := in.change()
	if err != nil {
		return ssoProblem(err)
	}
	_, err = h.Ops.UpdateSSOConnection(r.Context(), c.Actor, c.OrgID, id, ch)
	if err != nil {
		return httpx.NotFound(ssoProblem(err), "connection", r.PathValue("connection"))
	}
	v, err := h.connectionView(r, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// ssoDeletion is what deleting a connection removed.
type ssoDeletion struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Domains         []string `json:"domains"`
	Sessions        int      `json:"sessions"`
	IdPGroups       int      `json:"idp_groups"`
	IdPGroupMembers int      `json:"idp_group_members"`
	Mappings        int      `json:"mappings"`
	// Users the connection created just in time, now local users.
	Users int `json:"users"`
}

// deleteSSOConnection deletes a connection with its domains, sessions, IdP
// groups and mappings, and says what went.
func (h *Handler) deleteSSOConnection(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	id, err := h.refs.Connection(r.Context(), *c, r.PathValue("connection"))
	if err != nil {
		return err
	}
	d, err := h.Ops.DeleteSSOConnection(r.Context(), c.Actor, c.OrgID, id)
	if errors.Is(err, core.ErrNotFound) {
		return httpx.NotFound(err, "connection", r.PathValue("connection"))
	}
	if err != nil {
		return err
	}
	out := ssoDeletion{ID: id, Name: d.Connection.Name, Domains: d.Connection.Domains, Sessions: d.Sessions,
		IdPGroups: d.IdPGroups, IdPGroupMembers: d.IdPGroupMembers, Mappings: d.Mappings, Users: d.Users}
	if out.Domains == nil {
		out.Domains = []string{}
	}
	return writeJSON(w, http.StatusOK, out)
}
