package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Proposals (change management). A person proposes, reviews and withdraws as
// themselves through their session; an application's API token acts on behalf of
// the person it names ("author", "reviewer": a user id, userName or email), and
// Gatehouse checks that person, never the token. Reading: org admins (and
// tokens) read every proposal; a person the proposals of the workspaces they can
// see.

// proposalView is a proposal as the API shows it: with its workspace and
// environments named, and on its own page with its reviews, its history and, for
// an open access change, what it would do if approved now.
type proposalView struct {
	store.Proposal
	Workspace   *decisions.WorkspaceRef `json:"workspace,omitempty"`
	Environment string                  `json:"environment,omitempty"`
	From        string                  `json:"from,omitempty"`
	To          string                  `json:"to,omitempty"`
	// Decision is the author's decision (on create) or the reviewer's (on review).
	Decision *core.Decision        `json:"decision,omitempty"`
	Reviews  []store.Review        `json:"reviews,omitempty"`
	History  []core.AuditEvent     `json:"history,omitempty"`
	Preview  *decisions.AccessDiff `json:"preview,omitempty"`
}

// proposalView names a proposal's workspace and environments.
func (h *Handler) proposalView(ctx context.Context, c *caller, p store.Proposal) (proposalView, error) {
	v := proposalView{Proposal: p}
	if p.WorkspaceID == "" {
		return v, nil
	}
	ws, err := h.Store.GetWorkspace(ctx, c.OrgID, p.WorkspaceID)
	if err != nil {
		return v, err
	}
	v.Workspace = &decisions.WorkspaceRef{ID: ws.ID, Slug: ws.Slug, Name: ws.Name}
	for _, e := range ws.Environments {
		switch e.ID {
		case p.EnvironmentID:
			if p.Kind == store.ProposalPromote {
				v.From = e.Name
			} else {
				v.Environment = e.Name
			}
		case p.TargetEnvironmentID:
			v.To = e.Name
		}
	}
	return v, nil
}

// readable says whether c may read p: org admins any; a person those in a
// workspace they see, and their own.
func (h *Handler) readable(ctx context.Context, c *caller, p store.Proposal) (bool, error) {
	if c.Admin || (c.UserID != "" && p.Author.ID == c.UserID) {
		return true, nil
	}
	if p.WorkspaceID == "" {
		return false, nil
	}
	ws, err := h.Store.GetWorkspace(ctx, c.OrgID, p.WorkspaceID)
	if err != nil {
		return false, err
	}
	d, err := h.Decisions.Authorize(ctx, *c, decisions.ViewWorkspace(ws))
	return err == nil && d.Allowed(), err
}

// proposal reads the proposal of the path that c may read; others are not found.
func (h *Handler) proposal(ctx context.Context, c *caller, id string) (store.Proposal, error) {
	p, err := h.Store.GetProposal(ctx, c.OrgID, id)
	if err != nil {
		return p, httpx.NotFound(err, "proposal", id)
	}
	ok, err := h.readable(ctx, c, p)
	if err != nil {
		return p, err
	}
	if !ok {
		return p, httpx.Failf(http.StatusNotFound, "proposal %q not found", id)
	}
	return p, nil
}

// onBehalf is the person a request acts as: the signed-in person, or the person
// an API token names in field (required for a token). A person may not name
// someone else.
func (h *Handler) onBehalf(ctx context.Context, c *caller, field, ref string) (core.User, error) {
	if c.UserID != "" {
		if ref != "" {
			if u, err := decisions.ResolveUser(ctx, h.Store, c.OrgID, ref); err != nil || u.ID != c.UserID {
				return core.User{}, httpx.Forbidden("a person acts as themselves: " + httpx.Quote(field) + " is for applications' API tokens, which act on behalf of a person")
			}
		}
		return h.Store.GetUser(ctx, c.OrgID, c.UserID)
	}
	if strings.TrimSpace(ref) == "" {
		return core.User{}, httpx.Failf(http.StatusUnprocessableEntity, "an API token acts on behalf of a person: name them in %q (user id, userName or email)", field)
	}
	u, err := decisions.ResolveUser(ctx, h.Store, c.OrgID, ref)
	if errors.Is(err, core.ErrNotFound) {
		return u, httpx.Failf(http.StatusUnprocessableEntity, "%s %s is not a user of this organization", field, httpx.Quote(ref))
	}
	return u, err
}

type proposalInput struct {
	Kind        store.ProposalKind          `json:"kind"`
	Workspace   string                      `json:"workspace"`
	Environment string                      `json:"environment"`
	From        string                      `json:"from"`
	To          string                      `json:"to"`
	Action      core.Action                 `json:"action"`
	Resource    *decisions.QuestionResource `json:"resource"`
	Space       string                      `json:"space"`
	Title       string                      `json:"title"`
	Description string                      `json:"description"`
	Payload     json.RawMessage             `json:"payload"`
	Author      string                      `json:"author"`
}

// createProposal opens a change or a promotion. The author's decision for the
// action must be allow or draft_only; otherwise 403 with its explanation.
func (h *Handler) createProposal(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in proposalInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	switch {
	case in.Workspace == "":
		return httpx.Failf(http.StatusUnprocessableEntity, `"workspace" is required`)
	case in.Resource == nil:
		return httpx.Failf(http.StatusUnprocessableEntity, `"resource" is required: {"type", "id"} (the type alone for a create)`)
	case strings.TrimSpace(in.Title) == "":
		return httpx.Failf(http.StatusUnprocessableEntity, `"title" is required`)
	case in.Kind == store.ProposalPromote && in.Environment != "":
		return httpx.Failf(http.StatusUnprocessableEntity, `a promotion names "from" and "to", not "environment"`)
	case in.Kind != store.ProposalPromote && (in.From != "" || in.To != ""):
		return httpx.Failf(http.StatusUnprocessableEntity, `"from" and "to" are for promotions ("kind": "promote")`)
	}
	if bytes.Equal(bytes.TrimSpace(in.Payload), []byte("null")) {
		in.Payload = nil
	}
	author, err := h.onBehalf(ctx, c, "author", in.Author)
	if err != nil {
		return err
	}
	ws, err := h.refs.Workspace(ctx, *c, in.Workspace)
	if err != nil {
		return err
	}
	env := in.Environment
	if in.Kind == store.ProposalPromote {
		env = in.From
	}
	p, d, err := h.Ops.Propose(ctx, c.Actor, author, ops.ProposalInput{Kind: in.Kind, Workspace: ws, Environment: env, Target: in.To,
		Action: in.Action, ResourceType: in.Resource.Type, ResourceID: in.Resource.ID, Space: in.Space,
		Title: in.Title, Description: in.Description, Payload: in.Payload})
	if err != nil {
		return err
	}
	v, err := h.proposalView(ctx, c, p)
	if err != nil {
		return err
	}
	v.Decision = &d
	return writeJSON(w, http.StatusCreated, v)
}

func (h *Handler) listProposals(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	pq := store.ProposalQuery{Page: p, Kind: store.ProposalKind(q.Get("kind")), State: store.ProposalState(q.Get("state"))}
	if pq.State != "" && !pq.State.Valid() {
		return httpx.Failf(http.StatusBadRequest, "state must be one of %v", store.ProposalStates)
	}
	switch pq.Kind {
	case "", store.ProposalChange, store.ProposalPromote, store.ProposalAccess:
	default:
		return httpx.Failf(http.StatusBadRequest, "kind must be change, promote or access")
	}
	var ws core.Workspace
	if ref := q.Get("workspace"); ref != "" {
		if ws, err = h.refs.Workspace(ctx, *c, ref); err != nil {
			return err
		}
		pq.WorkspaceID = ws.ID
	}
	if e := q.Get("environment"); e != "" {
		if ws.ID == "" {
			return httpx.Failf(http.StatusBadRequest, "environment filters within a workspace: give workspace too")
		}
		env, err := httpx.Environment(ws, e)
		if err != nil {
			return err
		}
		pq.EnvironmentID = env.ID
	}
	if ref := q.Get("author"); ref != "" {
		u, err := decisions.ResolveUser(ctx, h.Store, c.OrgID, ref)
		if errors.Is(err, core.ErrNotFound) {
			return writeList(w, []proposalView{}, p, func(v proposalView) string { return v.ID })
		}
		if err != nil {
			return err
		}
		pq.AuthorID = u.ID
	}
	if ref := q.Get("resource"); ref != "" {
		t, id, _ := strings.Cut(ref, ":")
		if !core.ResourceType(t).Valid() {
			return httpx.Failf(http.StatusBadRequest, "resource is type:id, the type one of %v", core.ResourceTypes)
		}
		pq.ResourceType, pq.ResourceID = core.ResourceType(t), id
	}
	if !c.Admin && pq.WorkspaceID == "" {
		// A person lists the proposals of the workspaces they can see.
		wss, err := h.allWorkspaces(ctx, c.OrgID)
		if err != nil {
			return err
		}
		if wss, err = h.Decisions.VisibleWorkspaces(ctx, *c, wss); err != nil {
			return err
		}
		pq.Workspaces = []string{}
		for _, w := range wss {
			pq.Workspaces = append(pq.Workspaces, w.ID)
		}
	}
	ps, err := h.Store.ListProposals(ctx, c.OrgID, pq)
	if err != nil {
		return err
	}
	out := list[proposalView]{Items: []proposalView{}}
	if len(ps) == p.Limit {
		out.Next = ps[len(ps)-1].ID
	}
	for _, pr := range ps {
		v, err := h.proposalView(ctx, c, pr)
		if err != nil {
			return err
		}
		out.Items = append(out.Items, v)
	}
	return writeJSON(w, http.StatusOK, out)
}

// allWorkspaces lists every workspace of the org, a page at a time.
func (h *Handler) allWorkspaces(ctx context.Context, orgID string) ([]core.Workspace, error) {
	var out []core.Workspace
	p := store.Page{Limit: store.MaxLimit}
	for {
		wss, err := h.Store.ListWorkspaces(ctx, orgID, p)
		if err != nil {
			return nil, err
		}
		out = append(out, wss...)
		if len(wss) < p.Limit {
			return out, nil
		}
		p.After = wss[len(wss)-1].ID
	}
}

// getProposal shows a proposal with its reviews and history; an open access
// change also with what it would do if approved now.
func (h *Handler) getProposal(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	ctx := r.Context()
	p, err := h.proposal(ctx, c, r.PathValue("proposal"))
	if err != nil {
		return err
	}
	v, err := h.proposalDetail(ctx, c, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// proposalDetail is a proposal with its reviews, history and (open access
// changes) preview.
func (h *Handler) proposalDetail(ctx context.Context, c *caller, p store.Proposal) (proposalView, error) {
	v, err := h.proposalView(ctx, c, p)
	if err != nil {
		return v, err
	}
	if v.Reviews, err = h.Store.ProposalReviews(ctx, c.OrgID, p.ID); err != nil {
		return v, err
	}
	if v.History, err = h.Store.ProposalHistory(ctx, c.OrgID, p.ID); err != nil {
		return v, err
	}
	if p.Kind == store.ProposalAccess && p.State == store.ProposalOpen {
		var ch ops.AccessChange
		if err := json.Unmarshal(p.Change, &ch); err != nil {
			return v, err
		}
		diff, err := h.Ops.PreviewAccess(ctx, c.Actor, c.OrgID, ch)
		if err == nil {
			v.Preview = &diff
		} else if status, _ := httpx.Status(err); status >= 500 {
			return v, err
		}
		// A change that can no longer be made has no preview; approving it fails it.
	}
	return v, nil
}

// onProposal runs one transition of the path's proposal: it reads the optional
// JSON body into in, finds the proposal the caller may read, and answers with the
// proposal act returns (with its reviews and history, and the decision that
// allowed the caller, if any).
func (h *Handler) onProposal(w http.ResponseWriter, r *http.Request, in any,
	act func(ctx context.Context, c *caller, p store.Proposal) (store.Proposal, *core.Decision, error)) error {
	c := callerOf(r)
	if r.ContentLength != 0 {
		if err := decode(r, in); err != nil {
			return err
		}
	}
	ctx := r.Context()
	p, err := h.proposal(ctx, c, r.PathValue("proposal"))
	if err != nil {
		return err
	}
	p, d, err := act(ctx, c, p)
	if err != nil {
		return err
	}
	v, err := h.proposalDetail(ctx, c, p)
	if err != nil {
		return err
	}
	v.Decision = d
	return writeJSON(w, http.StatusOK, v)
}

func (h *Handler) approveProposal(w http.ResponseWriter, r *http.Request) error {
	return h.review(w, r, store.Approve)
}

func (h *Handler) rejectProposal(w http.ResponseWriter, r *http.Request) error {
	return h.review(w, r, store.Reject)
}

// review approves or rejects. The reviewer must be allowed to publish the resource
// where the change goes live (403 with the decision's explanation otherwise) and
// must not be the author; an access change needs a second org admin.
func (h *Handler) review(w http.ResponseWriter, r *http.Request, v store.Verdict) error {
	var in struct {
		Comment  string `json:"comment"`
		Reviewer string `json:"reviewer"`
	}
	return h.onProposal(w, r, &in, func(ctx context.Context, c *caller, p store.Proposal) (store.Proposal, *core.Decision, error) {
		reviewer, err := h.onBehalf(ctx, c, "reviewer", in.Reviewer)
		if err != nil {
			return p, nil, err
		}
		p, d, err := h.Ops.Review(ctx, c.Actor, reviewer, c.OrgID, p.ID, v, in.Comment)
		return p, &d, err
	})
}

// withdrawProposal closes an open proposal for its author: the signed-in author,
// the person a token names in "author", or the token that made an access change.
func (h *Handler) withdrawProposal(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Author string `json:"author"`
	}
	return h.onProposal(w, r, &in, func(ctx context.Context, c *caller, p store.Proposal) (store.Proposal, *core.Decision, error) {
		by := c.Actor
		if c.UserID != "" || in.Author != "" || p.Author.ID != c.TokenID {
			u, err := h.onBehalf(ctx, c, "author", in.Author)
			if err != nil {
				return p, nil, err
			}
			by = ops.Person(u)
		}
		p, err := h.Ops.Withdraw(ctx, c.Actor, by, c.OrgID, p.ID)
		return p, nil, err
	})
}

func (h *Handler) appliedProposal(w http.ResponseWriter, r *http.Request) error {
	return h.report(w, r, store.ProposalApplied)
}

func (h *Handler) failedProposal(w http.ResponseWriter, r *http.Request) error {
	return h.report(w, r, store.ProposalFailed)
}

// report records what the application did with an approved change.
func (h *Handler) report(w http.ResponseWriter, r *http.Request, state store.ProposalState) error {
	var in struct {
		Reference string `json:"reference"`
		Message   string `json:"message"`
	}
	return h.onProposal(w, r, &in, func(ctx context.Context, c *caller, p store.Proposal) (store.Proposal, *core.Decision, error) {
		p, err := h.Ops.Report(ctx, c.Actor, c.OrgID, p.ID, store.ProposalEnd{State: state, Reference: in.Reference, Message: in.Message})
		return p, nil, err
	})
}
