package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

//go:embed web/*.html web/style.css
var webFS embed.FS

// SSOSetup lists an org's SSO connections with the values an IdP admin pastes into
// Okta or Entra; the sso package owns connections, the lead wires it in. Optional.
type SSOSetup interface {
	SSOConnections(ctx context.Context, orgID string) ([]SSOConnectionInfo, error)
}

// SSOConnectionInfo is one connection's setup values.
type SSOConnectionInfo struct {
	ID, Name, Kind                 string
	EntityID, ACS, Metadata, Login string // SAML
	Redirect                       string // OIDC
}

// pageData is what every page template gets.
type pageData struct {
	Title, Nav   string
	Admin        bool
	Who, OrgName string
	UserID       string
	CSRF         string
	Flash        *flash
	Data         any
}

type flash struct {
	Text  string
	Error bool
}

// flashes are the messages a redirect after a form may show, by code: a page
// never echoes text from its URL.
var flashes = map[string]string{
	"mapping-added":   "The mapping was added. Decisions use it from now on.",
	"mapping-removed": "The mapping was removed. Decisions no longer use it.",
	"user-changed":    "The user was updated.",
	"group-created":   "The user group was created.",
	"token-revoked":   "The token was revoked; it no longer opens SCIM.",
}

const csrfCookie = "gatehouse_csrf"

// pageFunc renders a page for a signed-in person.
type pageFunc func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error

type webRoute struct {
	pattern string
	admin   bool // org admins only
	fn      pageFunc
}

// webRoutes is the route table of the admin pages.
func (h *Handler) webRoutes() []webRoute {
	return []webRoute{
		{"GET /admin/{$}", false, h.pageOverview},
		{"GET /admin/mappings", true, h.pageMappings},
		{"POST /admin/mappings", true, h.formAddMapping},
		{"POST /admin/mappings/{mapping}/delete", true, h.formDeleteMapping},
		{"GET /admin/users", true, h.pageUsers},
		{"GET /admin/users/{user}", false, h.pageUser},
		{"POST /admin/users/{user}/deactivate", true, h.formUserActive(false)},
		{"POST /admin/users/{user}/reactivate", true, h.formUserActive(true)},
		{"GET /admin/groups", true, h.pageGroups},
		{"POST /admin/groups", true, h.formCreateGroup},
		{"GET /admin/groups/{group}", true, h.pageGroup},
		{"GET /admin/scim", true, h.pageSCIM},
		{"POST /admin/scim", true, h.formCreateDirectory},
		{"POST /admin/scim/{directory}/tokens", true, h.formRotateToken},
		{"POST /admin/scim/{directory}/tokens/{token}/revoke", true, h.formRevokeToken},
		{"GET /admin/sso", true, h.pageSSO},
		{"GET /admin/audit", true, h.pageAudit},
	}
}

// MountWeb registers the admin pages on mux. They need SessionAuth; bearer tokens
// do not open them.
func (h *Handler) MountWeb(mux *http.ServeMux) {
	h.init()
	css, _ := webFS.ReadFile("web/style.css")
	mux.Handle("GET /admin/static/style.css", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setBrowserHeaders(w)
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(css)
	}))
	mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusSeeOther))
	// A person who opens the server's address lands on the admin pages (which send
	// them to sign in first), not on a bare 404.
	mux.Handle("GET /{$}", http.RedirectHandler("/admin/", http.StatusSeeOther))
	cop := http.NewCrossOriginProtection()
	for _, rt := range h.webRoutes() {
		mux.Handle(rt.pattern, cop.Handler(h.browser(rt)))
	}
}

// setBrowserHeaders are the security headers of every page: no script at all, no
// framing, no sniffing, no referrer leaking ids to other sites.
func setBrowserHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
}

var templates = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	pages, _ := webFS.ReadDir("web")
	for _, p := range pages {
		name := p.Name()
		if !strings.HasSuffix(name, ".html") || name == "layout.html" {
			continue
		}
		t := template.Must(template.New("layout.html").ParseFS(webFS, "web/layout.html", "web/"+name))
		out[strings.TrimSuffix(name, ".html")] = t
	}
	return out
}()

func (h *Handler) browser(rt webRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setBrowserHeaders(w)
		rid := newRequestID()
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, rid))
		c, err := h.sessionCaller(r)
		if err != nil {
			if errors.Is(err, errUnauthenticated) {
				http.Redirect(w, r, "/sso/login?return_to="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.renderError(w, r, err)
			return
		}
		pd := &pageData{Admin: c.Admin, Who: c.Actor.Name, UserID: c.UserID, CSRF: csrfToken(w, r)}
		if o, err := h.Store.GetOrg(r.Context(), c.OrgID); err == nil {
			pd.OrgName = o.Name
		}
		if t, ok := flashes[r.URL.Query().Get("done")]; ok {
			pd.Flash = &flash{Text: t}
		}
		if r.Method == http.MethodPost {
			if err := checkCSRF(r); err != nil {
				h.renderError(w, r, err)
				return
			}
		}
		if rt.admin {
			if d, err := h.engine.Authorize(r.Context(), *c, decisions.ManageOrg()); err != nil || !d.Allowed() {
				if err == nil {
					err = forbidden("This page is for org admins.")
				}
				h.renderError(w, r, err)
				return
			}
		}
		if err := rt.fn(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)), c, pd); err != nil {
			h.renderError(w, r, err)
		}
	})
}

// sessionCaller authenticates a browser: sessions only.
func (h *Handler) sessionCaller(r *http.Request) (*caller, error) {
	if h.SessionAuth == nil {
		return nil, errUnauthenticated
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Authorization")
	return h.authenticate(r2)
}

// csrfToken returns the browser's CSRF token, setting the cookie the first time.
// Forms echo it in a hidden field; checkCSRF compares the two (double submit), on
// top of http.CrossOriginProtection's Sec-Fetch-Site / Origin check.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/admin/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

func checkCSRF(r *http.Request) error {
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) != 1 {
		return fail(http.StatusForbidden, "The form expired or did not come from this site. Go back, reload the page and try again.", nil)
	}
	return nil
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, pd *pageData) error {
	t := templates[name]
	if t == nil {
		return fmt.Errorf("no template %s", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pd); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := buf.WriteTo(w)
	return err
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, err error) {
	status, detail := problemFor(err)
	if status >= 500 {
		h.Logger.ErrorContext(r.Context(), "admin page failed", "request_id", requestID(r), "path", r.URL.Path, "err", err)
		detail = "Something went wrong on our side (request " + requestID(r) + ")."
	}
	pd := &pageData{Title: http.StatusText(status), Data: detail}
	if c, ok := r.Context().Value(callerKey).(*caller); ok {
		pd.Admin, pd.Who = c.Admin, c.Actor.Name
	}
	if rerr := h.render(w, status, "error", pd); rerr != nil {
		http.Error(w, http.StatusText(status), status)
	}
}

func redirectDone(w http.ResponseWriter, r *http.Request, path, code string) error {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	http.Redirect(w, r, path+sep+"done="+code, http.StatusSeeOther)
	return nil
}

// all pages through a store list to its end; admin pages show whole small sets.
func all[T any](ctx context.Context, list func(store.Page) ([]T, error), id func(T) string) ([]T, error) {
	var out []T
	p := store.Page{Limit: store.MaxLimit}
	for {
		items, err := list(p)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) < p.Limit {
			return out, nil
		}
		p.After = id(items[len(items)-1])
	}
}

// ---- overview ----

func (h *Handler) pageOverview(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	wss, err := all(ctx, func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	visible, err := h.engine.VisibleWorkspaces(ctx, *c, wss)
	if err != nil {
		return err
	}
	data := struct {
		Users, Groups, Mappings, Directories int
		Workspaces                           []core.Workspace
	}{Workspaces: visible}
	if c.Admin {
		if data.Users, err = h.Store.CountUsers(ctx, c.OrgID); err != nil {
			return err
		}
		// Counts, not lists: an org may have 10,000 groups.
		if data.Groups, err = h.Store.CountGroups(ctx, c.OrgID); err != nil {
			return err
		}
		if data.Mappings, err = h.Store.CountMappings(ctx, c.OrgID); err != nil {
			return err
		}
		ds, err := h.Store.ListDirectories(ctx, c.OrgID)
		if err != nil {
			return err
		}
		data.Directories = len(ds)
	}
	pd.Title, pd.Nav, pd.Data = "Overview", "overview", data
	return h.render(w, http.StatusOK, "overview", pd)
}

// ---- mappings ----

type mappingRow struct {
	MappingID, IdPGroup, Source string
	GroupID, Group              string
	Workspace, Envs, Role       string
	First                       bool // first row of its mapping: carries the remove button
}

type source struct{ ID, Name string }

const mappingRowsPerPage = 100

func (h *Handler) pageMappings(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	q := r.URL.Query()
	type filters struct{ Directory, Group, Workspace, Role string }
	f := filters{q.Get("directory"), q.Get("group"), q.Get("workspace"), q.Get("role")}
	ms, err := all(ctx, func(p store.Page) ([]core.Mapping, error) { return h.Store.ListMappings(ctx, c.OrgID, p) }, func(m core.Mapping) string { return m.ID })
	if err != nil {
		return err
	}
	gs, err := all(ctx, func(p store.Page) ([]core.UserGroup, error) { return h.Store.ListGroups(ctx, c.OrgID, p) }, func(g core.UserGroup) string { return g.ID })
	if err != nil {
		return err
	}
	wss, err := all(ctx, func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return err
	}
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{})
	if err != nil {
		return err
	}
	crs, err := h.Store.ListCustomRoles(ctx, c.OrgID)
	if err != nil {
		return err
	}
	sources := []source{}
	srcName := map[string]string{}
	for _, d := range ds {
		sources = append(sources, source{d.ID, "SCIM " + d.Name})
		srcName[d.ID] = "SCIM " + d.Name
	}
	if h.SSO != nil {
		conns, err := h.SSO.SSOConnections(ctx, c.OrgID)
		if err != nil {
			return err
		}
		for _, cn := range conns {
			sources = append(sources, source{cn.ID, "SSO " + cn.Name})
			srcName[cn.ID] = "SSO " + cn.Name
		}
	}
	groupName := map[string]string{}
	for _, g := range gs {
		groupName[g.ID] = g.Name
	}
	wsByID := map[string]core.Workspace{}
	for _, ws := range wss {
		wsByID[ws.ID] = ws
	}
	roleName := map[string]string{}
	roles := slices.Clone(core.BuiltinRoles)
	for _, cr := range crs {
		roleName[cr.ID] = cr.Name
		roles = append(roles, cr.Name)
	}
	grantsOf := map[string][]core.Grant{}
	for _, g := range grants {
		grantsOf[g.UserGroupID] = append(grantsOf[g.UserGroupID], g)
	}
	var rows []mappingRow
	for _, m := range ms {
		src := m.DirectoryID + m.ConnectionID
		if (f.Directory != "" && src != f.Directory) || (f.Group != "" && m.UserGroupID != f.Group) {
			continue
		}
		name := srcName[src]
		if name == "" {
			name = "SSO " + src
		}
		base := mappingRow{MappingID: m.ID, IdPGroup: m.IdPGroup, Source: name, GroupID: m.UserGroupID, Group: groupName[m.UserGroupID]}
		first := true
		matched := false
		for _, g := range grantsOf[m.UserGroupID] {
			role := g.Role
			if g.CustomRoleID != "" {
				role = roleName[g.CustomRoleID]
			}
			if (f.Workspace != "" && g.WorkspaceID != f.Workspace) || (f.Role != "" && role != f.Role) {
				continue
			}
			ws := wsByID[g.WorkspaceID]
			row := base
			row.Workspace, row.Envs, row.Role, row.First = ws.Slug, envNames(ws, g), role, first
			first, matched = false, true
			rows = append(rows, row)
		}
		if !matched && f.Workspace == "" && f.Role == "" {
			base.First, base.Role = true, "—"
			rows = append(rows, base)
		}
	}
	// Paging by row offset: the table joins three lists, so there is no single id.
	off := 0
	fmt.Sscan(q.Get("offset"), &off)
	off = max(0, min(off, len(rows)))
	end := min(len(rows), off+mappingRowsPerPage)
	link := func(o int) string {
		v := url.Values{}
		for k, s := range map[string]string{"directory": f.Directory, "group": f.Group, "workspace": f.Workspace, "role": f.Role} {
			if s != "" {
				v.Set(k, s)
			}
		}
		v.Set("offset", fmt.Sprint(o))
		return "/admin/mappings?" + v.Encode()
	}
	data := struct {
		F           filters
		Rows        []mappingRow
		Sources     []source
		Directories []core.Directory
		Groups      []core.UserGroup
		Workspaces  []core.Workspace
		Roles       []string
		Prev, Next  string
	}{F: f, Rows: rows[off:end], Sources: sources, Directories: ds, Groups: gs, Workspaces: wss, Roles: roles}
	if off > 0 {
		data.Prev = link(max(0, off-mappingRowsPerPage))
	}
	if end < len(rows) {
		data.Next = link(end)
	}
	pd.Title, pd.Nav, pd.Data = "Mappings", "mappings", data
	return h.render(w, http.StatusOK, "mappings", pd)
}

func envNames(ws core.Workspace, g core.Grant) string {
	if len(g.EnvironmentIDs) == 0 {
		return "(every environment)"
	}
	var names []string
	for _, e := range ws.Environments {
		if slices.Contains(g.EnvironmentIDs, e.ID) {
			names = append(names, e.Name)
		}
	}
	return "(" + strings.Join(names, ", ") + ")"
}

func (h *Handler) formAddMapping(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	d, err := h.directoryRef(ctx, c, r.PostFormValue("directory"))
	if err != nil {
		return err
	}
	g, err := h.groupRef(ctx, c, r.PostFormValue("group"))
	if err != nil {
		return err
	}
	idp := strings.TrimSpace(r.PostFormValue("idp_group"))
	if idp == "" {
		return failf(http.StatusUnprocessableEntity, "Name the IdP group by its display name or id.")
	}
	_, err = h.ops.CreateMapping(ctx, c.Actor, core.Mapping{OrgID: c.OrgID, DirectoryID: d.ID, IdPGroup: idp, UserGroupID: g.ID})
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "That mapping already exists.", err)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/mappings", "mapping-added")
}

func (h *Handler) formDeleteMapping(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	if err := h.ops.DeleteMapping(r.Context(), c.Actor, c.OrgID, r.PathValue("mapping")); err != nil {
		return notFound(err, "mapping", r.PathValue("mapping"))
	}
	return redirectDone(w, r, "/admin/mappings", "mapping-removed")
}

// ---- users ----

func (h *Handler) pageUsers(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	q := r.URL.Query()
	p := store.Page{After: q.Get("after"), Limit: 50}
	uq := store.UserQuery{Page: p, Search: q.Get("q")}
	switch q.Get("status") {
	case "active":
		uq.Active = ptr(true)
	case "inactive":
		uq.Active = ptr(false)
	}
	us, err := h.Store.ListUsers(r.Context(), c.OrgID, uq)
	if err != nil {
		return err
	}
	data := struct {
		Users           []core.User
		Q, Status, Next string
	}{Users: us, Q: q.Get("q"), Status: q.Get("status")}
	if len(us) == p.Limit {
		v := url.Values{"q": {data.Q}, "status": {data.Status}, "after": {us[len(us)-1].ID}}
		data.Next = "/admin/users?" + v.Encode()
	}
	pd.Title, pd.Nav, pd.Data = "Users", "users", data
	return h.render(w, http.StatusOK, "users", pd)
}

type whyQuery struct{ Action, Workspace, Environment, Type, Resource string }

func (h *Handler) pageUser(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	u, err := h.selfOrAdmin(ctx, c, r.PathValue("user"))
	if err != nil {
		return err
	}
	ms, err := h.Store.UserMemberships(ctx, c.OrgID, u.ID)
	if err != nil {
		return err
	}
	isAdmin, err := h.Store.IsOrgAdmin(ctx, c.OrgID, u.ID)
	if err != nil {
		return err
	}
	p := store.Page{After: r.URL.Query().Get("after"), Limit: 100}
	am, err := h.engine.Access(ctx, *c, u, p)
	if err != nil {
		return err
	}
	wss, err := all(ctx, func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	q := r.URL.Query()
	why := whyQuery{q.Get("action"), q.Get("workspace"), q.Get("environment"), q.Get("type"), q.Get("resource")}
	data := struct {
		User        core.User
		IsAdmin     bool
		Memberships []core.Membership
		Access      decisions.AccessMatrix
		AccessNext  string
		Workspaces  []core.Workspace
		Actions     []core.Action
		Types       []core.ResourceType
		Why         whyQuery
		Answer      *core.Decision
	}{User: u, IsAdmin: isAdmin, Memberships: ms, Access: am, Workspaces: wss, Actions: core.Actions, Types: core.ResourceTypes, Why: why}
	if am.Next != "" {
		data.AccessNext = "/admin/users/" + url.PathEscape(u.ID) + "?after=" + url.QueryEscape(am.Next)
	}
	if why.Action != "" && why.Workspace != "" {
		q := decisions.Question{User: u.ID, Workspace: why.Workspace, Environment: why.Environment, Action: core.Action(why.Action)}
		if why.Type != "" {
			q.Resource = &decisions.QuestionResource{Type: core.ResourceType(why.Type), ID: strings.TrimSpace(why.Resource)}
		}
		if err := q.Validate(); err != nil {
			return fail(http.StatusBadRequest, err.Error(), nil)
		}
		a, err := h.engine.Check(ctx, *c, q)
		if err != nil {
			return refused(err)
		}
		data.Answer = &a.Decision
	}
	pd.Title, pd.Nav, pd.Data = u.Label(), "users", data
	return h.render(w, http.StatusOK, "user", pd)
}

func (h *Handler) formUserActive(active bool) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		u, err := h.userRef(r.Context(), c, r.PathValue("user"))
		if err != nil {
			return err
		}
		if _, err := h.ops.SetUserActive(r.Context(), c.Actor, c.OrgID, u.ID, active); err != nil {
			return err
		}
		return redirectDone(w, r, "/admin/users/"+url.PathEscape(u.ID), "user-changed")
	}
}

// ---- groups ----

func (h *Handler) pageGroups(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	p := store.Page{After: r.URL.Query().Get("after"), Limit: 100}
	gs, err := h.Store.ListGroups(r.Context(), c.OrgID, p)
	if err != nil {
		return err
	}
	data := struct {
		Groups []core.UserGroup
		Next   string
	}{Groups: gs}
	if len(gs) == p.Limit {
		data.Next = "/admin/groups?after=" + url.QueryEscape(gs[len(gs)-1].ID)
	}
	pd.Title, pd.Nav, pd.Data = "User groups", "groups", data
	return h.render(w, http.StatusOK, "groups", pd)
}

func (h *Handler) formCreateGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return failf(http.StatusUnprocessableEntity, "A group needs a name.")
	}
	_, err := h.ops.CreateGroup(r.Context(), c.Actor, c.OrgID, name, r.PostFormValue("description"))
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "A group named "+quote(name)+" already exists.", err)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/groups", "group-created")
}

func (h *Handler) pageGroup(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	g, err := h.groupRef(ctx, c, r.PathValue("group"))
	if err != nil {
		return err
	}
	p := store.Page{After: r.URL.Query().Get("after"), Limit: 100}
	members, err := h.Store.GroupMembers(ctx, c.OrgID, g.ID, p)
	if err != nil {
		return err
	}
	grants, err := h.Store.ListGrants(ctx, c.OrgID, store.GrantQuery{GroupID: g.ID})
	if err != nil {
		return err
	}
	ms, err := all(ctx, func(p store.Page) ([]core.Mapping, error) { return h.Store.ListMappings(ctx, c.OrgID, p) }, func(m core.Mapping) string { return m.ID })
	if err != nil {
		return err
	}
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return err
	}
	dirName := map[string]string{}
	for _, d := range ds {
		dirName[d.ID] = "SCIM " + d.Name
	}
	type mrow struct{ IdPGroup, Source string }
	type grow struct{ Workspace, Envs, Role string }
	var mrows []mrow
	for _, m := range ms {
		if m.UserGroupID == g.ID {
			src := dirName[m.DirectoryID]
			if src == "" {
				src = "SSO " + m.ConnectionID
			}
			mrows = append(mrows, mrow{m.IdPGroup, src})
		}
	}
	var grows []grow
	for _, gr := range grants {
		ws, err := h.Store.GetWorkspace(ctx, c.OrgID, gr.WorkspaceID)
		if err != nil {
			return err
		}
		role := gr.Role
		if gr.CustomRoleID != "" {
			if cr, err := h.Store.GetCustomRole(ctx, c.OrgID, gr.CustomRoleID); err == nil {
				role = cr.Name + " (custom)"
			}
		}
		grows = append(grows, grow{ws.Slug, envNames(ws, gr), role})
	}
	data := struct {
		Group    core.UserGroup
		Mappings []mrow
		Grants   []grow
		Members  []store.Member
		Next     string
	}{Group: g, Mappings: mrows, Grants: grows, Members: members}
	if len(members) == p.Limit {
		data.Next = "/admin/groups/" + url.PathEscape(g.ID) + "?after=" + url.QueryEscape(members[len(members)-1].User.ID)
	}
	pd.Title, pd.Nav, pd.Data = g.Name, "groups", data
	return h.render(w, http.StatusOK, "group", pd)
}

// ---- SCIM and SSO setup ----

type dirTokens struct {
	Dir    core.Directory
	Tokens []store.Token
}

func (h *Handler) scimPage(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, secret string) error {
	ctx := r.Context()
	ds, err := h.Store.ListDirectories(ctx, c.OrgID)
	if err != nil {
		return err
	}
	var dirs []dirTokens
	for _, d := range ds {
		ts, err := h.tokensOf(ctx, c.OrgID, func(t store.Token) bool { return t.DirectoryID == d.ID })
		if err != nil {
			return err
		}
		dirs = append(dirs, dirTokens{d, ts})
	}
	base := strings.TrimSuffix(h.ExternalURL, "/") + "/scim/v2"
	pd.Title, pd.Nav = "SCIM", "scim"
	pd.Data = struct {
		BaseURL, EntraURL, NewSecret string
		Directories                  []dirTokens
	}{base, base + "?aadOptscim062020", secret, dirs}
	return h.render(w, status, "scim", pd)
}

func (h *Handler) pageSCIM(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.scimPage(w, r, c, pd, http.StatusOK, "")
}

// formCreateDirectory creates a directory and its first token, and shows the
// secret in this response only (never in a URL, never again).
func (h *Handler) formCreateDirectory(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		return failf(http.StatusUnprocessableEntity, "A directory needs a name.")
	}
	dt, err := h.ops.CreateDirectory(ctx, c.Actor, c.OrgID, name)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "A directory named "+quote(name)+" already exists.", err)
	}
	if err != nil {
		return err
	}
	pd.Flash = &flash{Text: "Directory " + name + " was created."}
	return h.scimPage(w, r, c, pd, http.StatusCreated, dt.Token.Secret)
}

func (h *Handler) formRotateToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	d, err := h.directoryRef(r.Context(), c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	nt, err := h.ops.RotateDirectoryToken(r.Context(), c.Actor, d, "")
	if err != nil {
		return err
	}
	pd.Flash = &flash{Text: "A new token was added to " + d.Name + "."}
	return h.scimPage(w, r, c, pd, http.StatusCreated, nt.Secret)
}

func (h *Handler) formRevokeToken(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	d, err := h.directoryRef(ctx, c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	err = h.ops.RevokeDirectoryToken(ctx, c.Actor, c.OrgID, d.ID, r.PathValue("token"))
	if errors.Is(err, core.ErrNotFound) {
		return fail(http.StatusNotFound, "That token does not exist.", err)
	}
	if err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/scim", "token-revoked")
}

func (h *Handler) pageSSO(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	var conns []SSOConnectionInfo
	if h.SSO != nil {
		var err error
		if conns, err = h.SSO.SSOConnections(r.Context(), c.OrgID); err != nil {
			return err
		}
	}
	pd.Title, pd.Nav = "SSO", "sso"
	pd.Data = struct{ Connections []SSOConnectionInfo }{conns}
	return h.render(w, http.StatusOK, "sso", pd)
}

// ---- audit ----

func (h *Handler) pageAudit(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	q := r.URL.Query()
	type form struct{ Actor, Action, Since, Until string }
	f := form{q.Get("actor"), q.Get("action"), q.Get("since"), q.Get("until")}
	aq := store.AuditQuery{Page: store.Page{After: q.Get("after"), Limit: 50}, ActorID: f.Actor, Action: f.Action}
	for _, x := range []struct {
		s   string
		dst *timeField
	}{{f.Since, &timeField{&aq.Since}}, {f.Until, &timeField{&aq.Until}}} {
		if x.s != "" {
			if err := x.dst.parse(x.s); err != nil {
				return failf(http.StatusBadRequest, "Times look like 2026-01-02T15:04.")
			}
		}
	}
	evs, err := h.Store.ListAudit(r.Context(), c.OrgID, aq)
	if err != nil {
		return err
	}
	data := struct {
		Q      form
		Events []core.AuditEvent
		Next   string
	}{Q: f, Events: evs}
	if len(evs) == aq.Limit {
		v := url.Values{"after": {evs[len(evs)-1].ID}}
		for k, s := range map[string]string{"actor": f.Actor, "action": f.Action, "since": f.Since, "until": f.Until} {
			if s != "" {
				v.Set(k, s)
			}
		}
		data.Next = "/admin/audit?" + v.Encode()
	}
	pd.Title, pd.Nav, pd.Data = "Audit log", "audit", data
	return h.render(w, http.StatusOK, "audit", pd)
}
