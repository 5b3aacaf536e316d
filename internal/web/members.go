package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// A user group's direct members, added and removed from the group's page: access
// changes, previewed and then made (or proposed under four eyes). Members through
// mapped IdP groups come and go with the IdP and are not changed here.

func groupPath(id string) string { return "/admin/groups/" + url.PathEscape(id) }

func (h *Handler) formAddMember(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	g, err := h.refs.Group(ctx, *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	ref := strings.TrimSpace(r.PostFormValue("user"))
	if ref == "" {
		return badField("member", "user", "Name the user by email or id.")
	}
	u, err := h.refs.User(ctx, *c, ref)
	if err != nil {
		return badField("member", "user", "There is no user "+httpx.Quote(ref)+" in this organization.")
	}
	err = h.access(w, r, c, pd, accessForm{Title: "Add " + u.Label() + " to " + g.Name, Action: groupPath(g.ID) + "/members",
		Fields: map[string]string{"user": u.ID}, Back: groupPath(g.ID), Done: groupPath(g.ID), Code: "member-added"},
		ops.AccessChange{Op: ops.OpMemberAdd, GroupID: g.ID, UserID: u.ID})
	return onField(err, "member", "user", "")
}

func (h *Handler) formRemoveMember(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	g, err := h.refs.Group(ctx, *c, r.PathValue("group"))
	if err != nil {
		return err
	}
	u, err := h.refs.User(ctx, *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	return h.access(w, r, c, pd, accessForm{Title: "Remove " + u.Label() + "'s direct membership of " + g.Name,
		Action: groupPath(g.ID) + "/members/" + url.PathEscape(u.ID) + "/remove", Back: groupPath(g.ID), Done: groupPath(g.ID), Code: "member-removed"},
		ops.AccessChange{Op: ops.OpMemberRemove, GroupID: g.ID, UserID: u.ID})
}

func init() {
	for code, text := range map[string]string{
		"member-added":   "The user is now a direct member of the group.",
		"member-removed": "The direct membership was removed. Membership through mapped IdP groups stays.",
	} {
		flashes[code] = text
	}
}
