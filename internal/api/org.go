package api

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

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

// updateOrg renames the org, sets whether routing and trust by email domain
// use only verified domains, or turns the four-eyes rule on access changes on
// or off: the rule itself is an access change, so turning it off while it is on
// is held for a second org admin like any other.
func (h *Handler) updateOrg(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Name                         *string `json:"name"`
		AccessChangesRequireApproval *bool   `json:"access_changes_require_approval"`
		RequireVerifiedDomains       *bool   `json:"require_verified_domains"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if in.Name == nil && in.AccessChangesRequireApproval == nil && in.RequireVerifiedDomains == nil {
		return httpx.Failf(http.StatusUnprocessableEntity, `give "name", "require_verified_domains" or "access_changes_require_approval"`)
	}
	if in.Name != nil || in.RequireVerifiedDomains != nil {
		if dry, err := dryRun(r); err != nil || dry {
			return httpx.Failf(http.StatusBadRequest, "dry_run previews access changes; a new name or require_verified_domains is not one")
		}
	}
	if in.Name != nil || in.RequireVerifiedDomains != nil {
		// One change, one transaction, one org.update event.
		if _, err := h.Store.UpdateOrg(ctx, c.Actor, c.OrgID, func(o *core.Org) error {
			if in.Name != nil {
				o.Name = strings.TrimSpace(*in.Name)
			}
			if in.RequireVerifiedDomains != nil {
				o.RequireVerifiedDomains = *in.RequireVerifiedDomains
			}
			return nil
		}); err != nil {
			return err
		}
	}
	done := func(any) error {
		o, err := h.Store.GetOrg(ctx, c.OrgID)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, o)
	}
	if in.AccessChangesRequireApproval == nil {
		return done(nil)
	}
	title := "Stop requiring a second org admin's approval of access changes"
	if *in.AccessChangesRequireApproval {
		title = "Require a second org admin's approval of access changes"
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpAccessApproval, Require: in.AccessChangesRequireApproval}, title, nil, done)
}

func (h *Handler) addOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpAdminAdd, UserID: u.ID}, "Make "+u.Label()+" an org admin", nil,
		func(res any) error { return writeJSON(w, http.StatusOK, res) })
}

func (h *Handler) removeOrgAdmin(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	u, err := h.refs.User(r.Context(), *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpAdminRemove, UserID: u.ID}, "Revoke org admin from "+u.Label(), nil,
		func(any) error { return noContent(w) })
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
		return httpx.Failf(http.StatusUnprocessableEntity, `"to" is required, and "from" too when an API token calls`)
	}
	ctx := r.Context()
	to, err := h.refs.User(ctx, *c, in.To)
	if err != nil {
		return err
	}
	from, err := h.refs.User(ctx, *c, in.From)
	if err != nil {
		return err
	}
	return h.accessChange(w, r, ops.AccessChange{Op: ops.OpAdminTransfer, FromUserID: from.ID, UserID: to.ID},
		"Transfer org admin from "+from.Label()+" to "+to.Label(), nil,
		func(res any) error {
			return writeJSON(w, http.StatusOK, list[core.User]{Items: nonNil(res.([]core.User))})
		})
}
