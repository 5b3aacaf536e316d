package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// invite creates a local user and returns, once, their single-use invitation link
// (mailed to them too when serve has SMTP settings). A mail that fails does not
// undo the invitation: the answer says so and carries the link.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in userInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Email == nil || strings.TrimSpace(*in.Email) == "" {
		return httpx.Failf(http.StatusUnprocessableEntity, `"email" is required`)
	}
	if in.Active != nil && !*in.Active {
		return httpx.Failf(http.StatusUnprocessableEntity, "an invited user is active")
	}
	u := core.User{OrgID: c.OrgID}
	in.apply(&u)
	inv, err := h.Ops.Invite(r.Context(), c.Actor, u)
	switch {
	case ops.IsMailFailure(err):
		h.Logger.WarnContext(r.Context(), "invitation email failed", "user", inv.User.ID, "err", err)
	case errors.Is(err, core.ErrConflict):
		return httpx.Fail(http.StatusConflict, "a user with that email or user name already exists", err)
	case err != nil:
		return err
	}
	return writeJSON(w, http.StatusCreated, inv)
}
