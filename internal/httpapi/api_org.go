package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ---- references: an id, or a slug / name / email ----

func (h *Handler) userRef(ctx context.Context, c *caller, ref string) (core.User, error) {
	u, err := decisions.ResolveUser(ctx, h.Store, c.OrgID, ref)
	return u, notFound(err, "user", ref)
}

// selfOrAdmin lets a person read their own records and org admins read anyone's.
func (h *Handler) selfOrAdmin(ctx context.Context, c *caller, ref string) (core.User, error) {
	u, err := h.userRef(ctx, c, ref)
	if err != nil {
		return u, err
	}
	d, err := h.engine.Authorize(ctx, *c, decisions.ReadUser(u.ID))
	if err != nil {
		return u, err
	}
	return u, refusal(d, "user "+quote(ref)+" not found")
}

func (h *Handler) groupRef(ctx context.Context, c *caller, ref string) (core.UserGroup, error) {
	g, err := h.Store.GetGroup(ctx, c.OrgID, ref)
	return g, notFound(err, "group", ref)
}

func (h *Handler) directoryRef(ctx context.Context, c *caller, ref string) (core.Directory, error) {
	d, err := h.Store.GetDirectory(ctx, c.OrgID, ref)
	return d, notFound(err, "directory", ref)
}

// connectionRef resolves an SSO connection by id or, with a ConnectionResolver, name.
func (h *Handler) connectionRef(ctx context.Context, c *caller, ref string) (string, error) {
	if h.Connections == nil {
		return ref, nil // an unknown id fails on the foreign key as a 404
	}
	id, err := h.Connections.ConnectionID(ctx, c.OrgID, ref)
	return id, notFound(err, "connection", ref)
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// ---- org and org admins ----

func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	o, err := h.Store.GetOrg(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, o)
}

func (h *Handler) listOrgAdmins(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	us, err := h.Store.ListOrgAdmins(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.User]{Items: nonNil(us)})
}

func (h *Handler) addOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.userRef(r.Context(), c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if u, err = h.ops.AddOrgAdmin(r.Context(), c.Actor, c.OrgID, u.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (h *Handler) removeOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.userRef(r.Context(), c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if err := h.Store.RemoveOrgAdmin(r.Context(), c.Actor, c.OrgID, u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// transferOrgAdmin makes "to" an org admin and removes "from" (the calling person
// by default), in one transaction.
func (h *Handler) transferOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		To   string `json:"to"`
		From string `json:"from"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.From == "" {
		in.From = c.UserID
	}
	if in.To == "" || in.From == "" {
		return failf(http.StatusUnprocessableEntity, `"to" is required, and "from" too when an API token calls`)
	}
	ctx := r.Context()
	to, err := h.userRef(ctx, c, in.To)
	if err != nil {
		return err
	}
	from, err := h.userRef(ctx, c, in.From)
	if err != nil {
		return err
	}
	admins, err := h.ops.TransferOrgAdmin(ctx, c.Actor, c.OrgID, from.ID, to.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.User]{Items: nonNil(admins)})
}

// ---- users ----

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if email := q.Get("email"); email != "" {
		// Exact email: at most one user (the oldest, when several share it).
		u, err := h.Store.GetUserByEmail(r.Context(), c.OrgID, email)
		if errors.Is(err, core.ErrNotFound) {
			return writeJSON(w, http.StatusOK, list[core.User]{Items: []core.User{}})
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, list[core.User]{Items: []core.User{u}})
	}
	uq := store.UserQuery{Page: p, Search: q.Get("q")}
	switch q.Get("status") {
	case "":
	case "active":
		uq.Active = ptr(true)
	case "inactive", "deactivated":
		uq.Active = ptr(false)
	default:
		return failf(http.StatusBadRequest, "status must be active or inactive")
	}
	us, err := h.Store.ListUsers(r.Context(), c.OrgID, uq)
	if err != nil {
		return err
	}
	return writeList(w, us, p, func(u core.User) string { return u.ID })
}

type userInput struct {
	Email       *string `json:"email"`
	UserName    *string `json:"user_name"`
	DisplayName *string `json:"display_name"`
	GivenName   *string `json:"given_name"`
	FamilyName  *string `json:"family_name"`
	Active      *bool   `json:"active"`
}

func (in userInput) apply(u *core.User) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&u.Email, in.Email)
	set(&u.UserName, in.UserName)
	set(&u.DisplayName, in.DisplayName)
	set(&u.GivenName, in.GivenName)
	set(&u.FamilyName, in.FamilyName)
	if in.Active != nil {
		u.Active = *in.Active
	}
}

// inviteUser creates an invited user; they sign in through SSO with that email.
func (h *Handler) inviteUser(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in userInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Email == nil || !strings.Contains(*in.Email, "@") {
		return failf(http.StatusUnprocessableEntity, `"email" is required and must be an email address`)
	}
	u := core.User{OrgID: c.OrgID, Active: true, Source: core.SourceInvited}
	in.apply(&u)
	if u.UserName == "" {
		u.UserName = u.Email
	}
	u, err := h.Store.CreateUser(r.Context(), c.Actor, u)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "a user with that user name already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.selfOrAdmin(r.Context(), callerOf(r), r.PathValue("user"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in userInput
	if err := decode(r, &in); err != nil {
		return err
	}
	return h.changeUser(w, r, c, func(u *core.User) error {
		in.apply(u)
		if u.UserName == "" {
			return core.Invalidf("user_name may not be empty")
		}
		return nil
	})
}

func (h *Handler) changeUser(w http.ResponseWriter, r *http.Request, c *caller, fn func(*core.User) error) error {
	ctx := r.Context()
	u, err := h.userRef(ctx, c, r.PathValue("user"))
	if err != nil {
		return err
	}
	u, err = h.Store.UpdateUser(ctx, c.Actor, c.OrgID, u.ID, fn)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (h *Handler) deactivateUser(w http.ResponseWriter, r *http.Request) error {
	return h.setUserActive(w, r, false)
}

func (h *Handler) reactivateUser(w http.ResponseWriter, r *http.Request) error {
	return h.setUserActive(w, r, true)
}

func (h *Handler) setUserActive(w http.ResponseWriter, r *http.Request, active bool) error {
	c := callerOf(r)
	u, err := h.userRef(r.Context(), c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if u, err = h.ops.SetUserActive(r.Context(), c.Actor, c.OrgID, u.ID, active); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.userRef(r.Context(), c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if err := h.Store.DeleteUser(r.Context(), c.Actor, c.OrgID, u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) userGroups(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.selfOrAdmin(r.Context(), c, r.PathValue("user"))
	if err != nil {
		return err
	}
	ms, err := h.Store.UserMemberships(r.Context(), c.OrgID, u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Membership]{Items: nonNil(ms)})
}

// ---- user groups ----

type groupInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
}

func (h *Handler) listGroups(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	gs, err := h.Store.ListGroups(r.Context(), c.OrgID, p)
	if err != nil {
		return err
	}
	return writeList(w, gs, p, func(g core.UserGroup) string { return g.ID })
}

func (h *Handler) createGroup(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in groupInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		return failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	g, err := h.ops.CreateGroup(r.Context(), c.Actor, c.OrgID, *in.Name, desc)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "a group named "+quote(*in.Name)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, g)
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.groupRef(r.Context(), callerOf(r), r.PathValue("group"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (h *Handler) updateGroup(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in groupInput
	if err := decode(r, &in); err != nil {
		return err
	}
	g, err := h.groupRef(r.Context(), c, r.PathValue("group"))
	if err != nil {
		return err
	}
	g, err = h.Store.UpdateGroup(r.Context(), c.Actor, c.OrgID, g.ID, func(g *core.UserGroup) error {
		if in.Name != nil {
			if strings.TrimSpace(*in.Name) == "" {
				return core.Invalidf("a group name may not be empty")
			}
			g.Name = strings.TrimSpace(*in.Name)
		}
		if in.Description != nil {
			g.Description = *in.Description
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, g)
}

func (h *Handler) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	g, err := h.groupRef(r.Context(), c, r.PathValue("group"))
	if err != nil {
		return err
	}
	if err := h.Store.DeleteGroup(r.Context(), c.Actor, c.OrgID, g.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listGroupMembers(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	g, err := h.groupRef(r.Context(), c, r.PathValue("group"))
	if err != nil {
		return err
	}
	ms, err := h.Store.GroupMembers(r.Context(), c.OrgID, g.ID, p)
	if err != nil {
		return err
	}
	return writeList(w, ms, p, func(m store.Member) string { return m.User.ID })
}

func (h *Handler) groupMember(r *http.Request, change func(ctx context.Context, a core.Actor, orgID, groupID, userID string) error) error {
	c := callerOf(r)
	ctx := r.Context()
	g, err := h.groupRef(ctx, c, r.PathValue("group"))
	if err != nil {
		return err
	}
	u, err := h.userRef(ctx, c, r.PathValue("user"))
	if err != nil {
		return err
	}
	return change(ctx, c.Actor, c.OrgID, g.ID, u.ID)
}

func (h *Handler) addGroupMember(w http.ResponseWriter, r *http.Request) error {
	if err := h.groupMember(r, h.Store.AddGroupMember); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) removeGroupMember(w http.ResponseWriter, r *http.Request) error {
	if err := h.groupMember(r, h.Store.RemoveGroupMember); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- SCIM directories and their tokens ----

func (h *Handler) listDirectories(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ds, err := h.Store.ListDirectories(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Directory]{Items: nonNil(ds)})
}

// createDirectory creates a SCIM directory and its first token.
func (h *Handler) createDirectory(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	dt, err := h.ops.CreateDirectory(r.Context(), c.Actor, c.OrgID, in.Name)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "a directory named "+quote(in.Name)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, dt)
}

func (h *Handler) getDirectory(w http.ResponseWriter, r *http.Request) error {
	d, err := h.directoryRef(r.Context(), callerOf(r), r.PathValue("directory"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (h *Handler) tokensOf(ctx context.Context, orgID string, keep func(store.Token) bool) ([]store.Token, error) {
	ts, err := h.Store.ListTokens(ctx, orgID)
	if err != nil {
		return nil, err
	}
	ts = slices.DeleteFunc(ts, func(t store.Token) bool { return !keep(t) })
	slices.SortFunc(ts, func(a, b store.Token) int { return strings.Compare(a.ID, b.ID) })
	return nonNil(ts), nil
}

func (h *Handler) listDirectoryTokens(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	d, err := h.directoryRef(r.Context(), c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	ts, err := h.tokensOf(r.Context(), c.OrgID, func(t store.Token) bool { return t.DirectoryID == d.ID })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.Token]{Items: ts})
}

// createDirectoryToken rotates: it adds a token and leaves the old ones valid until
// they are revoked, so the IdP can be switched over without a gap.
func (h *Handler) createDirectoryToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	d, err := h.directoryRef(r.Context(), c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	nt, err := h.ops.RotateDirectoryToken(r.Context(), c.Actor, d, in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, nt)
}

func (h *Handler) revokeDirectoryToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	d, err := h.directoryRef(r.Context(), c, r.PathValue("directory"))
	if err != nil {
		return err
	}
	return revoked(w, r, h.ops.RevokeDirectoryToken(r.Context(), c.Actor, c.OrgID, d.ID, r.PathValue("token")))
}

// revoked answers a token revocation.
func revoked(w http.ResponseWriter, r *http.Request, err error) error {
	if err != nil {
		return notFound(err, "token", r.PathValue("token"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- API tokens ----

func (h *Handler) listAPITokens(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ts, err := h.tokensOf(r.Context(), c.OrgID, func(t store.Token) bool { return t.Kind == store.TokenAPI })
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[store.Token]{Items: ts})
}

func (h *Handler) createAPIToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Name) == "" {
		return failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	nt, err := h.ops.CreateAPIToken(r.Context(), c.Actor, c.OrgID, in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, nt)
}

func (h *Handler) revokeAPIToken(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	return revoked(w, r, h.ops.RevokeAPIToken(r.Context(), c.Actor, c.OrgID, r.PathValue("token")))
}

// ---- IdP groups ----

func (h *Handler) listIdPGroups(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	source := ""
	switch {
	case q.Get("directory") != "" && q.Get("connection") != "":
		return failf(http.StatusBadRequest, "filter by directory or by connection, not both")
	case q.Get("directory") != "":
		d, err := h.directoryRef(ctx, c, q.Get("directory"))
		if err != nil {
			return err
		}
		source = d.ID
	case q.Get("connection") != "":
		if source, err = h.connectionRef(ctx, c, q.Get("connection")); err != nil {
			return err
		}
	}
	gs, err := h.Store.ListIdPGroups(ctx, c.OrgID, source, p)
	if err != nil {
		return err
	}
	return writeList(w, gs, p, func(g core.IdPGroup) string { return g.ID })
}

func (h *Handler) getIdPGroup(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	g, err := h.Store.GetIdPGroup(r.Context(), c.OrgID, r.PathValue("idpgroup"))
	if err != nil {
		return notFound(err, "IdP group", r.PathValue("idpgroup"))
	}
	return writeJSON(w, http.StatusOK, g)
}

func (h *Handler) listIdPGroupMembers(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	us, err := h.Store.IdPGroupMembers(r.Context(), c.OrgID, r.PathValue("idpgroup"), p)
	if err != nil {
		return notFound(err, "IdP group", r.PathValue("idpgroup"))
	}
	return writeList(w, us, p, func(u core.User) string { return u.ID })
}

// ---- group mappings ----

func (h *Handler) listMappings(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ms, err := h.Store.ListMappings(r.Context(), c.OrgID, p)
	if err != nil {
		return err
	}
	return writeList(w, ms, p, func(m core.Mapping) string { return m.ID })
}

type mappingInput struct {
	Directory  string `json:"directory"`
	Connection string `json:"connection"`
	IdPGroup   string `json:"idp_group"`
	Group      string `json:"group"`
}

// createMapping validates the rule when it is saved: exactly one source that exists,
// a user group that exists, and an IdP group named by id or display name.
func (h *Handler) createMapping(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in mappingInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	m := core.Mapping{OrgID: c.OrgID, IdPGroup: in.IdPGroup}
	switch {
	case (in.Directory == "") == (in.Connection == ""):
		return failf(http.StatusUnprocessableEntity, `give exactly one of "directory" and "connection"`)
	case in.Directory != "":
		d, err := h.directoryRef(ctx, c, in.Directory)
		if err != nil {
			return err
		}
		m.DirectoryID = d.ID
	default:
		id, err := h.connectionRef(ctx, c, in.Connection)
		if err != nil {
			return err
		}
		m.ConnectionID = id
	}
	if strings.TrimSpace(m.IdPGroup) == "" {
		return failf(http.StatusUnprocessableEntity, `"idp_group" is required: the IdP group's id or display name`)
	}
	if in.Group == "" {
		return failf(http.StatusUnprocessableEntity, `"group" is required: the user group's id or name`)
	}
	g, err := h.groupRef(ctx, c, in.Group)
	if err != nil {
		return err
	}
	m.UserGroupID = g.ID
	m, err = h.ops.CreateMapping(ctx, c.Actor, m)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "this mapping already exists", err)
	}
	if errors.Is(err, core.ErrNotFound) {
		return fail(http.StatusNotFound, "the directory or connection does not exist", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, m)
}

func (h *Handler) getMapping(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	m, err := h.Store.GetMapping(r.Context(), c.OrgID, r.PathValue("mapping"))
	if err != nil {
		return notFound(err, "mapping", r.PathValue("mapping"))
	}
	return writeJSON(w, http.StatusOK, m)
}

func (h *Handler) deleteMapping(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	if err := h.ops.DeleteMapping(r.Context(), c.Actor, c.OrgID, r.PathValue("mapping")); err != nil {
		return notFound(err, "mapping", r.PathValue("mapping"))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- roles ----

// roleView shows pre-built and custom roles alike.
type roleView struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Builtin     bool        `json:"builtin"`
	Description string      `json:"description,omitempty"`
	Rules       []core.Rule `json:"rules,omitempty"`
	Version     int64       `json:"version,omitempty"`
}

var builtinDescriptions = map[string]string{
	core.RoleAdmin:            "everything in the workspace, including managing its access",
	core.RoleEditor:           "create and configure resources, run syncs, publish; may not update or delete existing sources and destinations",
	core.RoleViewer:           "read-only",
	core.RoleDraftContributor: "create and propose changes; nothing goes live without approval",
}

func customView(cr core.CustomRole) roleView {
	return roleView{ID: cr.ID, Name: cr.Name, Description: cr.Description, Rules: cr.Rules, Version: cr.Version}
}

func (h *Handler) listRoles(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var out []roleView
	for _, name := range core.BuiltinRoles {
		out = append(out, roleView{ID: name, Name: name, Builtin: true, Description: builtinDescriptions[name]})
	}
	crs, err := h.Store.ListCustomRoles(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	for _, cr := range crs {
		out = append(out, customView(cr))
	}
	return writeJSON(w, http.StatusOK, list[roleView]{Items: out})
}

type roleInput struct {
	Name        *string      `json:"name"`
	Description *string      `json:"description"`
	Rules       *[]core.Rule `json:"rules"`
}

func (h *Handler) createRole(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in roleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" || in.Rules == nil {
		return failf(http.StatusUnprocessableEntity, `"name" and "rules" are required`)
	}
	// The store checks the role: a name that is no pre-built role's, valid rules.
	cr := core.CustomRole{OrgID: c.OrgID, Name: strings.TrimSpace(*in.Name), Rules: *in.Rules}
	if in.Description != nil {
		cr.Description = *in.Description
	}
	cr, err := h.Store.CreateCustomRole(r.Context(), c.Actor, cr)
	if errors.Is(err, core.ErrConflict) {
		return fail(http.StatusConflict, "a role named "+quote(*in.Name)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, customView(cr))
}

func (h *Handler) roleRef(ctx context.Context, c *caller, ref string) (core.CustomRole, error) {
	cr, err := h.Store.GetCustomRole(ctx, c.OrgID, ref)
	return cr, notFound(err, "role", ref)
}

func (h *Handler) getRole(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("role")
	if core.IsBuiltinRole(ref) {
		return writeJSON(w, http.StatusOK, roleView{ID: ref, Name: ref, Builtin: true, Description: builtinDescriptions[ref]})
	}
	cr, err := h.roleRef(r.Context(), callerOf(r), ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, customView(cr))
}

func (h *Handler) updateRole(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ref := r.PathValue("role")
	if core.IsBuiltinRole(ref) {
		return failf(http.StatusUnprocessableEntity, "pre-built roles cannot be changed")
	}
	var in roleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	cr, err := h.roleRef(r.Context(), c, ref)
	if err != nil {
		return err
	}
	cr, err = h.Store.UpdateCustomRole(r.Context(), c.Actor, c.OrgID, cr.ID, func(cr *core.CustomRole) error {
		// The store checks the role (a name that is no pre-built role's, valid rules).
		if in.Name != nil {
			cr.Name = strings.TrimSpace(*in.Name)
		}
		if in.Description != nil {
			cr.Description = *in.Description
		}
		if in.Rules != nil {
			cr.Rules = *in.Rules
		}
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, customView(cr))
}

func (h *Handler) deleteRole(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ref := r.PathValue("role")
	if core.IsBuiltinRole(ref) {
		return failf(http.StatusUnprocessableEntity, "pre-built roles cannot be deleted")
	}
	cr, err := h.roleRef(r.Context(), c, ref)
	if err != nil {
		return err
	}
	if err := h.Store.DeleteCustomRole(r.Context(), c.Actor, c.OrgID, cr.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- audit ----

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	aq := store.AuditQuery{Page: p, ActorID: q.Get("actor"), Action: q.Get("action")}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if s := q.Get(f.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return failf(http.StatusBadRequest, "%s must be an RFC 3339 time (2026-01-02T15:04:05Z)", f.name)
			}
			*f.dst = t
		}
	}
	evs, err := h.Store.ListAudit(r.Context(), c.OrgID, aq)
	if err != nil {
		return err
	}
	return writeList(w, evs, p, func(e core.AuditEvent) string { return e.ID })
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func ptr[T any](v T) *T { return &v }

// ---- SSO connections (owned by the sso package; listed here with setup values) ----

// ssoConnectionView is a connection with the values to paste into the IdP.
type ssoConnectionView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	EntityID string `json:"entity_id,omitempty"`
	ACS      string `json:"acs_url,omitempty"`
	Metadata string `json:"metadata_url,omitempty"`
	Login    string `json:"login_url,omitempty"`
	Redirect string `json:"redirect_uri,omitempty"`
}

func (h *Handler) listSSOConnections(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	out := []ssoConnectionView{}
	if h.SSO != nil {
		conns, err := h.SSO.SSOConnections(r.Context(), c.OrgID)
		if err != nil {
			return err
		}
		for _, s := range conns {
			out = append(out, ssoConnectionView(s))
		}
	}
	return writeJSON(w, http.StatusOK, list[ssoConnectionView]{Items: out})
}
