package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

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
		return httpx.Failf(http.StatusBadRequest, "status must be active or inactive")
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
		return httpx.Failf(http.StatusUnprocessableEntity, `"email" is required and must be an email address`)
	}
	u := core.User{OrgID: c.OrgID, Active: true, Source: core.SourceInvited}
	in.apply(&u)
	if u.UserName == "" {
		u.UserName = u.Email
	}
	u, err := h.Store.CreateUser(r.Context(), c.Actor, u)
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "a user with that user name already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, u)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request) error {
	u, err := h.refs.OwnUser(r.Context(), *callerOf(r), r.PathValue("user"))
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
	u, err := h.refs.User(ctx, *c, r.PathValue("user"))
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
	u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if u, err = h.Ops.SetUserActive(r.Context(), c.Actor, c.OrgID, u.ID, active); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (h *Handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
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
	u, err := h.refs.OwnUser(r.Context(), *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	ms, err := h.Store.UserMemberships(r.Context(), c.OrgID, u.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list[core.Membership]{Items: nonNil(ms)})
}

// transferUser gives a user another owner (POST /api/v1/users/{user}/owner): a
// directory or SSO connection of the org, named by id or name, or local.
func (h *Handler) transferUser(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Kind core.OwnerKind `json:"kind"`
		ID   string         `json:"id"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.refs.User(ctx, *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	if in.Kind == core.OwnerLocal && in.ID != "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `a local owner has no "id"`)
	}
	// The store resolves the directory or connection by id or name, in the org.
	u, err = h.Store.TransferUser(ctx, c.Actor, c.OrgID, u.ID, core.Owner{Kind: in.Kind, ID: in.ID})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}
