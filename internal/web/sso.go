package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ssoPresets are the identity providers whose defaults fill a mapping.
var ssoPresets = []struct{ Value, Label string }{
	{"", "none (the protocol's defaults)"}, {"okta", "Okta"}, {"entra", "Microsoft Entra ID"}, {"adfs", "AD FS"},
	{"google", "Google Workspace"}, {"onelogin", "OneLogin"}, {"jumpcloud", "JumpCloud"}, {"keycloak", "Keycloak"},
	{"ping", "PingFederate / PingOne"}, {"auth0", "Auth0"},
}

// ssoGroupValues are the forms group values may be taken in.
var ssoGroupValues = []struct{ Value, Label string }{
	{"", "as sent"}, {"last-segment", "last path segment (/eng/platform → platform, Keycloak)"},
	{"cn", "CN of a distinguished name (CN=Eng,OU=Groups,… → Eng)"},
}

// ssoMappingFields are the mapping's fields: form name and label.
var ssoMappingFields = []struct{ Name, Label string }{
	{"email", "Email"}, {"user_name", "User name"}, {"given_name", "Given name"}, {"family_name", "Family name"},
	{"display_name", "Display name"}, {"groups", "Groups"},
}

// ssoForm is what the add and edit forms of a connection hold, kept to show
// them again with what was typed when they are refused.
type ssoForm struct {
	Kind                 string
	Name, Domains        string
	Directory            string // the linked SCIM directory's id
	JIT, AllowIdPInit    bool
	MetadataURL          string
	Issuer, ClientID     string
	Preset, GroupValues  string
	Mapping              map[string]string
	ExtraScopes, HDs     string
	UserInfo, SingleLogo bool
	ClockSkew            string
	// Errors are the messages next to the fields, by field name; "" is about
	// the whole form.
	Errors map[string]string
}

func newSSOForm(kind string) ssoForm {
	return ssoForm{Kind: kind, JIT: true, UserInfo: true, SingleLogo: true, ClockSkew: "0", Mapping: map[string]string{}, Errors: map[string]string{}}
}

// formOfConnection is the edit form of a connection as it is.
func formOfConnection(v httpx.SSOConnection) ssoForm {
	f := newSSOForm(v.Kind)
	f.Name, f.Domains, f.JIT, f.Directory = v.Name, strings.Join(v.Domains, ", "), v.JIT, v.DirectoryID
	if v.AllowIdPInitiated != nil {
		f.AllowIdPInit = *v.AllowIdPInitiated
	}
	if v.SingleLogout != nil {
		f.SingleLogo = *v.SingleLogout
	}
	if v.UserInfo != nil {
		f.UserInfo = *v.UserInfo
	}
	f.MetadataURL, f.Issuer, f.ClientID = v.IdPMetadataURL, v.Issuer, v.ClientID
	f.Preset, f.GroupValues = v.Mapping.Preset, v.Mapping.GroupValues
	m := v.Mapping
	for name, l := range map[string][]string{"email": m.Email, "user_name": m.UserName, "given_name": m.GivenName,
		"family_name": m.FamilyName, "display_name": m.DisplayName, "groups": m.Groups} {
		f.Mapping[name] = strings.Join(l, ", ")
	}
	f.ExtraScopes, f.HDs = strings.Join(v.ExtraScopes, " "), strings.Join(v.HostedDomains, ", ")
	f.ClockSkew = strconv.FormatInt(v.ClockSkewSeconds, 10)
	return f
}

func readSSOForm(r *http.Request, kind string) ssoForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := newSSOForm(kind)
	f.Name, f.Domains, f.Directory = v("name"), v("domains"), v("directory")
	f.JIT, f.AllowIdPInit = v("jit") == "on", v("allow_idp_initiated") == "on"
	f.MetadataURL, f.Issuer, f.ClientID = v("idp_metadata_url"), v("issuer"), v("client_id")
	f.Preset, f.GroupValues = v("preset"), v("group_values")
	for _, m := range ssoMappingFields {
		f.Mapping[m.Name] = v("mapping_" + m.Name)
	}
	f.ExtraScopes, f.HDs = v("extra_scopes"), v("hosted_domains")
	f.UserInfo, f.SingleLogo = v("userinfo") == "on", v("single_logout") == "on"
	f.ClockSkew = v("clock_skew_seconds")
	return f
}

// splitList splits what a person typed as a list: commas, spaces or lines.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// change is the operation's input for the form: on a new connection
// everything typed; on an edit only the fields that differ from was, so the
// connection changes exactly where the admin changed the form (a new preset
// fills the mapping unless a mapping field was changed too).
func (f ssoForm) change(was *ssoForm) (ops.SSOChange, error) {
	var ch ops.SSOChange
	differs := func(now, before string) bool { return was == nil || now != before }
	str := func(s string) *string { return &s }
	list := func(s string) *[]string { l := splitList(s); return &l }
	if differs(f.Name, wasOr(was).Name) {
		ch.Name = str(f.Name)
	}
	if was == nil || !slices.Equal(splitList(f.Domains), splitList(was.Domains)) {
		ch.Domains = list(f.Domains)
	}
	if was == nil || f.JIT != was.JIT {
		ch.JIT = &f.JIT
	}
	if was == nil && f.Directory != "" || was != nil && f.Directory != was.Directory {
		ch.Directory = str(f.Directory)
	}
	if f.Kind == string(store.KindSAML) {
		if was == nil || f.AllowIdPInit != was.AllowIdPInit {
			ch.AllowIdPInitiated = &f.AllowIdPInit
		}
		if f.MetadataURL != "" && differs(f.MetadataURL, wasOr(was).MetadataURL) {
			ch.MetadataURL = str(f.MetadataURL)
		}
		if was == nil || f.SingleLogo != was.SingleLogo {
			ch.SingleLogout = &f.SingleLogo
		}
	} else {
		if differs(f.Issuer, wasOr(was).Issuer) {
			ch.Issuer = str(f.Issuer)
		}
		if differs(f.ClientID, wasOr(was).ClientID) {
			ch.ClientID = str(f.ClientID)
		}
		if was == nil || !slices.Equal(splitList(f.ExtraScopes), splitList(was.ExtraScopes)) {
			if was != nil || f.ExtraScopes != "" {
				ch.ExtraScopes = list(f.ExtraScopes)
			}
		}
		if was == nil || !slices.Equal(splitList(f.HDs), splitList(was.HDs)) {
			if was != nil || f.HDs != "" {
				ch.HostedDomains = list(f.HDs)
			}
		}
		if was == nil || f.UserInfo != was.UserInfo {
			if was != nil || !f.UserInfo {
				ch.UserInfo = &f.UserInfo
			}
		}
	}
	if was == nil && f.Preset != "" || was != nil && f.Preset != was.Preset {
		ch.Preset = str(f.Preset)
	}
	fields := []**[]string{&ch.Email, &ch.UserName, &ch.GivenName, &ch.FamilyName, &ch.DisplayName, &ch.Groups}
	for i, m := range ssoMappingFields {
		now := f.Mapping[m.Name]
		if was == nil && now == "" {
			continue // the defaults, or the preset's
		}
		if was != nil && slices.Equal(splitList(now), splitList(was.Mapping[m.Name])) {
			continue
		}
		*fields[i] = list(now)
	}
	if was == nil && f.GroupValues != "" || was != nil && f.GroupValues != was.GroupValues {
		ch.GroupValues = str(f.GroupValues)
	}
	skew := f.ClockSkew
	if skew == "" {
		skew = "0"
	}
	if was == nil && skew != "0" || was != nil && skew != was.ClockSkew {
		n, err := strconv.Atoi(skew)
		if err != nil || n < 0 || time.Duration(n)*time.Second > store.MaxClockSkew {
			return ch, &ops.FieldError{Field: "clock_skew_seconds", Msg: "Give whole seconds from 0 to 300."}
		}
		d := time.Duration(n) * time.Second
		ch.ClockSkew = &d
	}
	return ch, nil
}

func wasOr(was *ssoForm) ssoForm {
	if was == nil {
		return ssoForm{}
	}
	return *was
}

// refusedSSO puts a refusal of bad input next to its field (or above the form)
// and says whether it was one; other errors are left to the error page.
func refusedSSO(err error, f *ssoForm, pd *pageData) bool {
	var fe *ops.FieldError
	field, msg, conflict := ops.ConflictField(err)
	switch {
	case errors.As(err, &fe):
		field, msg = fe.Field, fe.Msg
	case conflict:
	case errors.Is(err, core.ErrInvalid):
		_, msg = httpx.Status(err)
		field = ""
	case errors.Is(err, core.ErrVersion):
		field, msg = "", "The connection was changed meanwhile by someone else: reload the page and make your change again."
	default:
		return false
	}
	switch field {
	case "idp_metadata_xml":
		field = "idp_metadata_file"
	case "refresh_metadata":
		field = "idp_metadata_url"
	}
	f.Errors[field] = upperFirst(msg)
	pd.Flash = &flash{Text: "Nothing was changed: see the message next to the field.", Error: true}
	if field == "" || field == "settings" || field == "kind" {
		pd.Flash = &flash{Text: "Nothing was changed: " + upperFirst(msg), Error: true}
	}
	return true
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// ssoListPage lists the org's connections with their certificates' expiry.
func (h *Handler) pageSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	type item struct {
		httpx.SSOConnection
		Certs []certView
		Warn  bool
	}
	var conns []item
	if h.SSO != nil {
		list, err := h.SSO.SSOConnections(r.Context(), c.OrgID)
		if err != nil {
			return err
		}
		for _, v := range list {
			certs, warn := certViews(v.Certificates, h.Now())
			conns = append(conns, item{v, certs, warn})
		}
	}
	pd.Title, pd.Nav = "SSO", "sso"
	pd.Data = struct{ Connections []item }{conns}
	return h.render(w, http.StatusOK, "sso", pd)
}

type ssoFormPage struct {
	Form        ssoForm
	Directories []core.Directory     // the org's SCIM directories, to link
	Conn        *httpx.SSOConnection // the connection being edited; nil when adding
	Presets     any
	GroupValues any
	Fields      any
	Certs       []certView
	// Created: the connection was just added, so the page leads with what to
	// paste into the IdP.
	Created bool
}

func (h *Handler) ssoFormPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, f ssoForm, conn *httpx.SSOConnection, created bool) error {
	dirs, err := h.Store.ListDirectories(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	pd.Nav = "sso"
	if conn != nil {
		pd.Title = conn.Name + " · SSO"
	} else {
		pd.Title = "Add " + strings.ToUpper(f.Kind) + " connection · SSO"
	}
	data := ssoFormPage{Form: f, Directories: dirs, Conn: conn, Presets: ssoPresets, GroupValues: ssoGroupValues, Fields: ssoMappingFields, Created: created}
	if conn != nil {
		data.Certs, _ = certViews(conn.Certificates, h.Now())
	}
	pd.Data = data
	return h.render(w, status, "sso_connection", pd)
}

func (h *Handler) pageAddSSO(kind store.SSOKind) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		return h.ssoFormPage(w, r, c, pd, http.StatusOK, newSSOForm(string(kind)), nil, false)
	}
}

// readMetadataFile reads the uploaded IdP metadata file, if any.
func readMetadataFile(r *http.Request) ([]byte, error) {
	file, _, err := r.FormFile("idp_metadata_file")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) {
		return nil, nil
	}
	if err != nil {
		return nil, &ops.FieldError{Field: "idp_metadata_xml", Msg: "the metadata file could not be read"}
	}
	defer file.Close()
	return io.ReadAll(io.LimitReader(file, 1<<20))
}

// formAddSSO adds a connection with the checks of gatehouse sso add-*, then
// shows its page with what to paste into the IdP.
func (h *Handler) formAddSSO(kind store.SSOKind) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		f := readSSOForm(r, string(kind))
		ch, err := f.change(nil)
		if err == nil && kind == store.KindOIDC {
			secret := r.PostFormValue("client_secret")
			ch.ClientSecret = &secret
		}
		if err == nil && kind == store.KindSAML {
			ch.MetadataXML, err = readMetadataFile(r)
		}
		var setup ops.SSOConnectionSetup
		if err == nil {
			setup, err = h.Ops.CreateSSOConnection(r.Context(), c.Actor, c.OrgID, kind, ch)
		}
		if refusedSSO(err, &f, pd) {
			return h.ssoFormPage(w, r, c, pd, http.StatusUnprocessableEntity, f, nil, false)
		}
		if err != nil {
			return err
		}
		v, err := h.SSO.SSOConnection(r.Context(), c.OrgID, setup.ID)
		if err != nil {
			return err
		}
		pd.Flash = &flash{Text: "The connection " + v.Name + " was added. Paste the values below into your identity provider."}
		return h.ssoFormPage(w, r, c, pd, http.StatusCreated, formOfConnection(v), &v, true)
	}
}

// connection finds the org's connection of the path.
func (h *Handler) connection(r *http.Request, c *caller) (httpx.SSOConnection, error) {
	ref := r.PathValue("connection")
	if h.SSO == nil {
		return httpx.SSOConnection{}, httpx.Failf(http.StatusNotFound, "That connection does not exist.")
	}
	id, err := h.refs.Connection(r.Context(), *c, ref)
	if err != nil {
		return httpx.SSOConnection{}, err
	}
	v, err := h.SSO.SSOConnection(r.Context(), c.OrgID, id)
	return v, httpx.NotFound(err, "connection", ref)
}

func (h *Handler) pageSSOConnection(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	v, err := h.connection(r, c)
	if err != nil {
		return err
	}
	return h.ssoFormPage(w, r, c, pd, http.StatusOK, formOfConnection(v), &v, false)
}

// formUpdateSSO changes what the admin changed in the form, with the checks of
// gatehouse sso update.
func (h *Handler) formUpdateSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	v, err := h.connection(r, c)
	if err != nil {
		return err
	}
	was := formOfConnection(v)
	f := readSSOForm(r, v.Kind)
	ch, err := f.change(&was)
	if err == nil && v.Kind == string(store.KindOIDC) {
		if secret := r.PostFormValue("client_secret"); secret != "" {
			ch.ClientSecret = &secret
		}
	}
	if err == nil && v.Kind == string(store.KindSAML) {
		ch.MetadataXML, err = readMetadataFile(r)
		if err == nil && ch.MetadataXML != nil && len(ch.MetadataXML) == 0 {
			err = &ops.FieldError{Field: "idp_metadata_xml", Msg: "the metadata file is empty"}
		}
	}
	if err == nil && ch.Empty() {
		return redirectDone(w, r, "/admin/sso/"+url.PathEscape(v.ID), "sso-unchanged")
	}
	if err == nil {
		_, err = h.Ops.UpdateSSOConnection(r.Context(), c.Actor, c.OrgID, v.ID, ch)
	}
	if refusedSSO(err, &f, pd) {
		return h.ssoFormPage(w, r, c, pd, http.StatusUnprocessableEntity, f, &v, false)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/sso/"+url.PathEscape(v.ID), "sso-saved")
}

// formRefreshSSO fetches a SAML connection's metadata again from its URL.
func (h *Handler) formRefreshSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	v, err := h.connection(r, c)
	if err != nil {
		return err
	}
	_, err = h.Ops.UpdateSSOConnection(r.Context(), c.Actor, c.OrgID, v.ID, ops.SSOChange{RefreshMetadata: true})
	f := formOfConnection(v)
	if refusedSSO(err, &f, pd) {
		return h.ssoFormPage(w, r, c, pd, http.StatusUnprocessableEntity, f, &v, false)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/sso/"+url.PathEscape(v.ID), "sso-refreshed")
}

// ssoDeletePreview is what deleting a connection would remove.
type ssoDeletePreview struct {
	Conn      httpx.SSOConnection
	IdPGroups int
	Mappings  int
}

func (h *Handler) pageDeleteSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	v, err := h.connection(r, c)
	if err != nil {
		return err
	}
	groups, err := all(func(p store.Page) ([]core.IdPGroup, error) { return h.Store.ListIdPGroups(ctx, c.OrgID, v.ID, p) },
		func(g core.IdPGroup) string { return g.ID })
	if err != nil {
		return err
	}
	maps, err := all(func(p store.Page) ([]core.Mapping, error) { return h.Store.ListMappings(ctx, c.OrgID, p) },
		func(m core.Mapping) string { return m.ID })
	if err != nil {
		return err
	}
	n := 0
	for _, m := range maps {
		if m.ConnectionID == v.ID {
			n++
		}
	}
	pd.Title, pd.Nav = "Delete "+v.Name+" · SSO", "sso"
	pd.Data = ssoDeletePreview{Conn: v, IdPGroups: len(groups), Mappings: n}
	return h.render(w, http.StatusOK, "sso_delete", pd)
}

func (h *Handler) formDeleteSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	v, err := h.connection(r, c)
	if err != nil {
		return err
	}
	d, err := h.Ops.DeleteSSOConnection(r.Context(), c.Actor, c.OrgID, v.ID)
	if err != nil {
		return httpx.NotFound(err, "connection", v.ID)
	}
	h.Logger.InfoContext(r.Context(), "sso connection deleted", "connection", v.ID, "sessions", d.Sessions, "mappings", d.Mappings)
	return redirectDone(w, r, "/admin/sso", "sso-deleted")
}

// certView is an IdP certificate as the pages show it.
type certView struct {
	store.IdPCertificate
	// Warn: listed and expiring within httpx.CertificateWarning (or expired).
	Warn     bool
	DaysLeft int
}

func certViews(cs []store.IdPCertificate, now time.Time) (out []certView, warn bool) {
	for _, c := range cs {
		v := certView{IdPCertificate: c, Warn: c.ExpiresWithin(now, httpx.CertificateWarning)}
		if !c.NotAfter.IsZero() {
			v.DaysLeft = max(0, int(c.NotAfter.Sub(now).Hours()/24))
		}
		warn = warn || v.Warn
		out = append(out, v)
	}
	return out, warn
}
