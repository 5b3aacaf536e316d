package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func (h *Handler) pageUsers(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	q := r.URL.Query()
	p := store.Page{After: q.Get("after"), Limit: 50}
	uq := store.UserQuery{Page: p, Search: q.Get("q")}
	switch q.Get("status") {
	case "active":
		active := true
		uq.Active = &active
	case "inactive":
		active := false
		uq.Active = &active
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
	u, err := h.refs.OwnUser(ctx, *c, r.PathValue("user"))
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
	am, err := h.Decisions.Access(ctx, *c, u, p)
	if err != nil {
		return err
	}
	wss, err := all(func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	// The "why" form offers the workspaces the viewer sees, no other: a member
	// reading their own page learns nothing of workspaces where they hold no role.
	if wss, err = h.Decisions.VisibleWorkspaces(ctx, *c, wss); err != nil {
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
			return httpx.Fail(http.StatusBadRequest, err.Error(), nil)
		}
		d, err := h.Decisions.Check(ctx, *c, q)
		if err != nil {
			return err
		}
		data.Answer = &d
	}
	pd.Title, pd.Nav, pd.Data = u.Label(), "users", data
	return h.render(w, http.StatusOK, "user", pd)
}

func (h *Handler) formUserActive(active bool) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
		if err != nil {
			return err
		}
		if _, err := h.Ops.SetUserActive(r.Context(), c.Actor, c.OrgID, u.ID, active); err != nil {
			return err
		}
		return redirectDone(w, r, "/admin/users/"+url.PathEscape(u.ID), "user-changed")
	}
}
