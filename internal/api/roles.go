package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

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
		return httpx.Failf(http.StatusUnprocessableEntity, `"name" and "rules" are required`)
	}
	// The store checks the role: a name that is no pre-built role's, valid rules.
	cr := core.CustomRole{OrgID: c.OrgID, Name: strings.TrimSpace(*in.Name), Rules: *in.Rules}
	if in.Description != nil {
		cr.Description = *in.Description
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpRoleCreate, Role: &cr}, "Create custom role "+cr.Name,
		func(err error) error {
			if errors.Is(err, core.ErrConflict) {
				return httpx.Fail(http.StatusConflict, "a role named "+httpx.Quote(*in.Name)+" already exists", err)
			}
			return err
		},
		func(res any) error { return writeJSON(w, http.StatusCreated, customView(res.(core.CustomRole))) })
}

func (h *Handler) getRole(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("role")
	if name, ok := core.BuiltinRole(ref); ok {
		return writeJSON(w, http.StatusOK, roleView{ID: name, Name: name, Builtin: true, Description: builtinDescriptions[name]})
	}
	cr, err := h.refs.Role(r.Context(), *callerOf(r), ref)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, customView(cr))
}

func (h *Handler) updateRole(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ref := r.PathValue("role")
	if _, ok := core.BuiltinRole(ref); ok {
		return httpx.Failf(http.StatusUnprocessableEntity, "pre-built roles cannot be changed")
	}
	var in roleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	cr, err := h.refs.Role(r.Context(), *c, ref)
	if err != nil {
		return err
	}
	// The role as it is to be, with the version it was read at; the store checks
	// it (a name that is no pre-built role's, valid rules).
	to := cr
	if in.Name != nil {
		to.Name = strings.TrimSpace(*in.Name)
	}
	if in.Description != nil {
		to.Description = *in.Description
	}
	if in.Rules != nil {
		to.Rules = *in.Rules
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpRoleUpdate, ID: cr.ID, Role: &to}, "Change custom role "+cr.Name, nil,
		func(res any) error { return writeJSON(w, http.StatusOK, customView(res.(core.CustomRole))) })
}

func (h *Handler) deleteRole(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ref := r.PathValue("role")
	if _, ok := core.BuiltinRole(ref); ok {
		return httpx.Failf(http.StatusUnprocessableEntity, "pre-built roles cannot be deleted")
	}
	cr, err := h.refs.Role(r.Context(), *c, ref)
	if err != nil {
		return err
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpRoleDelete, ID: cr.ID}, "Delete custom role "+cr.Name+" and its grants", nil,
		func(any) error { return noContent(w) })
}
