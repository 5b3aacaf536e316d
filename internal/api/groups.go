package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

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
		return httpx.Failf(http.StatusUnprocessableEntity, `"name" is required`)
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	g, err := h.Ops.CreateGroup(r.Context(), c.Actor, c.OrgID, *in.Name, desc)
	if errors.Is(err, core.ErrConflict) {
		return httpx.Fail(http.StatusConflict, "a group named "+httpx.Quote(*in.Name)+" already exists", err)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, g)
}

func (h *Handler) getGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := h.refs.Group(r.Context(), *callerOf(r), r.PathValue("group"))
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
	g, err := h.refs.Group(r.Context(), *c, r.PathValue("group"))
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
	g, err := h.refs.Group(r.Context(), *c, r.PathValue("group"))
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
	g, err := h.refs.Group(r.Context(), *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	ms, err := h.Store.GroupMembers(r.Context(), c.OrgID, g.ID, p)
	if err != nil {
		return err
	}
	return writeList(w, ms, p, func(m store.Member) string { return m.User.ID })
}

// groupMember adds or removes a direct member: an access change.
func (h *Handler) groupMember(w http.ResponseWriter, r *http.Request, op ops.AccessOp) error {
	c := callerOf(r)
	ctx := r.Context()
	g, err := h.refs.Group(ctx, *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	u, err := h.refs.User(ctx, *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	title := "Add " + u.Label() + " to " + g.Name
	if op == ops.OpMemberRemove {
		title = "Remove " + u.Label() + " from " + g.Name
	}
	return h.accessChange(w, r, ops.AccessChange{Op: op, GroupID: g.ID, UserID: u.ID}, title, nil,
		func(any) error { return noContent(w) })
}

func (h *Handler) addGroupMember(w http.ResponseWriter, r *http.Request) error {
	return h.groupMember(w, r, ops.OpMemberAdd)
}

func (h *Handler) removeGroupMember(w http.ResponseWriter, r *http.Request) error {
	return h.groupMember(w, r, ops.OpMemberRemove)
}
