package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// Org admins' page: who they are; add one, remove one, or transfer org admin from
// one person to another in one step. Each is an access change (previewed, made or
// proposed under four eyes) and the store's last-admin rule holds: the org keeps
// at least one active org admin, and an org admin must be active.

func (h *Handler) pageAdmins(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	admins, err := h.Store.ListOrgAdmins(r.Context(), c.OrgID)
	if err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = "Org admins", "admins", struct {
		Admins []core.User
		Me     string
		Form   formState
	}{admins, c.UserID, fs}
	return h.render(w, status, "admins", pd)
}

// adminUser resolves a form's user field.
func (h *Handler) adminUser(ctx context.Context, c *caller, form, field, ref string) (core.User, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return core.User{}, badField(form, field, "Name the user by email or id.")
	}
	u, err := h.refs.User(ctx, *c, ref)
	if err != nil {
		return u, badField(form, field, "There is no user "+httpx.Quote(ref)+" in this organization.")
	}
	if !u.Active {
		return u, badField(form, field, u.Label()+" is deactivated: an org admin must be active.")
	}
	return u, nil
}

func (h *Handler) formAddAdmin(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	u, err := h.adminUser(r.Context(), c, "add", "user", r.PostFormValue("user"))
	if err != nil {
		return err
	}
	err = h.access(w, r, c, pd, accessForm{Title: "Make " + u.Label() + " an org admin", Action: "/admin/admins",
		Fields: map[string]string{"user": u.ID}, Back: "/admin/admins", Done: "/admin/admins", Code: "admin-added"},
		ops.AccessChange{Op: ops.OpAdminAdd, UserID: u.ID})
	return onField(err, "add", "user", "")
}

func (h *Handler) formRemoveAdmin(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	u, err := h.refs.User(ctx, *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	title, done := "Stop "+u.Label()+" being an org admin", "/admin/admins"
	if u.ID == c.UserID {
		// No longer an org admin: the admins' page is closed to them then.
		title, done = "Stop being an org admin yourself", "/admin/"
	}
	err = h.access(w, r, c, pd, accessForm{Title: title, Action: "/admin/admins/" + url.PathEscape(u.ID) + "/remove",
		Back: "/admin/admins", Done: done, Code: "admin-removed"},
		ops.AccessChange{Op: ops.OpAdminRemove, UserID: u.ID})
	return onField(err, "remove", "", "")
}

func (h *Handler) formTransferAdmin(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	from, err := h.adminUser(ctx, c, "transfer", "from", r.PostFormValue("from"))
	if err != nil {
		return err
	}
	to, err := h.adminUser(ctx, c, "transfer", "to", r.PostFormValue("to"))
	if err != nil {
		return err
	}
	if from.ID == to.ID {
		return badField("transfer", "to", "Transfer org admin to someone else than "+from.Label()+".")
	}
	done := "/admin/admins"
	if from.ID == c.UserID {
		done = "/admin/" // no longer an org admin: the admins' page is closed to them
	}
	err = h.access(w, r, c, pd, accessForm{Title: "Transfer org admin from " + from.Label() + " to " + to.Label(), Action: "/admin/admins/transfer",
		Fields: map[string]string{"from": from.ID, "to": to.ID}, Back: "/admin/admins", Done: done, Code: "admin-transferred"},
		ops.AccessChange{Op: ops.OpAdminTransfer, FromUserID: from.ID, UserID: to.ID})
	return onField(err, "transfer", "from", "")
}

func init() {
	for code, text := range map[string]string{
		"admin-added":       "The user is now an org admin.",
		"admin-removed":     "The user is no longer an org admin.",
		"admin-transferred": "Org admin was transferred.",
	} {
		flashes[code] = text
	}
}
