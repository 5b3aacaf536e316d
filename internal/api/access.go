package api

import (
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
)

// Every change to access (a grant, a mapping, a membership of a user group, a
// custom role, an org admin) goes through accessChange: ?dry_run=true answers
// what it would do and changes nothing; otherwise it is made, or, when the
// organization requires approval of access changes, held as a proposal for a
// second org admin (202 Accepted).

// preview is the answer to a dry run.
type preview struct {
	DryRun bool                 `json:"dry_run"`
	Change ops.AccessChange     `json:"change"`
	Diff   decisions.AccessDiff `json:"diff"`
}

// held is the answer to an access change held for approval.
type held struct {
	Proposal proposalView          `json:"proposal"`
	Preview  *decisions.AccessDiff `json:"preview,omitempty"`
	Message  string                `json:"message"`
}

// dryRun reads ?dry_run=.
func dryRun(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("dry_run")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, httpx.Failf(http.StatusBadRequest, "dry_run must be true or false")
	}
	return b, nil
}

// accessChange previews, makes or holds ch (see above); done writes the answer to
// a change that was made, given what it made. title names the change for
// reviewers; mapErr turns the operation's errors into the route's own words.
func (h *Handler) accessChange(w http.ResponseWriter, r *http.Request, ch ops.AccessChange, title string,
	mapErr func(error) error, done func(result any) error) error {
	c := callerOf(r)
	dry, err := dryRun(r)
	if err != nil {
		return err
	}
	if mapErr == nil {
		mapErr = func(err error) error { return err }
	}
	ctx := r.Context()
	if dry {
		diff, err := h.Ops.PreviewAccess(ctx, c.Actor, c.OrgID, ch)
		if err != nil {
			return mapErr(err)
		}
		return writeJSON(w, http.StatusOK, preview{DryRun: true, Change: ch, Diff: diff})
	}
	out, err := h.Ops.ChangeAccess(ctx, c.Actor, c.OrgID, ch, title)
	if err != nil {
		return mapErr(err)
	}
	if out.Proposal != nil {
		v, err := h.proposalView(ctx, c, *out.Proposal)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, held{Proposal: v, Preview: out.Preview,
			Message: "this organization requires a second org admin to approve access changes: the change is held as proposal " + out.Proposal.ID + " and is made when approved"})
	}
	return done(out.Result)
}

func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}
