package web

import (
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// Invitations: an org admin invites a person by email. ops.Invite creates the
// local user with a single-use sign-in link (7 days); the page shows the link
// once, to copy, or says it was mailed when serve has SMTP settings.

type invitationsPage struct {
	Form   formState
	New    *ops.Invitation // the invitation just made, shown once
	MailOn bool
}

func (h *Handler) pageInvitations(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, fs formState, status int) error {
	pd.Title, pd.Nav = "Invite people", "users"
	if d, ok := pd.Data.(invitationsPage); ok {
		d.Form = fs
		pd.Data = d
	} else {
		pd.Data = invitationsPage{Form: fs, MailOn: h.Ops.Mail != nil}
	}
	return h.render(w, status, "invitations", pd)
}

func (h *Handler) formInvite(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	email := strings.TrimSpace(r.PostFormValue("email"))
	if email == "" {
		return badField("invite", "email", "Give the email address of the person to invite.")
	}
	u := core.User{OrgID: c.OrgID, Email: email, DisplayName: strings.TrimSpace(r.PostFormValue("display_name"))}
	inv, err := h.Ops.Invite(r.Context(), c.Actor, u)
	switch {
	case ops.IsMailFailure(err):
		h.Logger.WarnContext(r.Context(), "invitation email failed", "user", inv.User.ID, "err", err)
	case err != nil:
		field := "email"
		if strings.Contains(err.Error(), "display name") {
			field = "display_name"
		}
		return onField(err, "invite", field, "A user with the email "+email+" already exists.")
	}
	pd.Flash = &flash{Text: "The invitation was made for " + inv.User.Email + "."}
	pd.Data = invitationsPage{New: &inv, MailOn: h.Ops.Mail != nil}
	return h.pageInvitations(w, r, c, pd, formState{}, http.StatusCreated)
}
