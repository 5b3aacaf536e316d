package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Change management's pages: proposals (list, detail with the payload shown as a
// diff, approve / reject / withdraw), environments' approval rules and the org's
// four eyes on access changes, and the preview every access change shows before it
// is confirmed. They call the same operations as the API (package ops), which ask
// core.Decide about the signed-in person.

// proposalRow is a proposal as the pages list it.
type proposalRow struct {
	store.Proposal
	Workspace, Where string
}

// where names a proposal's workspace and environments for people.
func (h *Handler) where(ctx context.Context, orgID string, p store.Proposal) (ws, where string) {
	if p.WorkspaceID == "" {
		return "", "the organization"
	}
	w, err := h.Store.GetWorkspace(ctx, orgID, p.WorkspaceID)
	if err != nil {
		return "", ""
	}
	names := map[string]string{}
	for _, e := range w.Environments {
		names[e.ID] = e.Name
	}
	switch {
	case p.Kind == store.ProposalPromote:
		return w.Slug, names[p.EnvironmentID] + " → " + names[p.TargetEnvironmentID]
	case p.EnvironmentID != "":
		return w.Slug, names[p.EnvironmentID]
	}
	return w.Slug, "every environment"
}

// visibleWorkspaceIDs are the workspaces whose proposals a person lists: those
// they see.
func (h *Handler) visibleWorkspaceIDs(ctx context.Context, c *caller) ([]string, error) {
	wss, err := all(func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return nil, err
	}
	if wss, err = h.Decisions.VisibleWorkspaces(ctx, *c, wss); err != nil {
		return nil, err
	}
	ids := []string{}
	for _, w := range wss {
		ids = append(ids, w.ID)
	}
	return ids, nil
}

func (h *Handler) pageProposals(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	q := r.URL.Query()
	pq := store.ProposalQuery{Page: store.Page{After: q.Get("after"), Limit: 50}, State: store.ProposalState(q.Get("state"))}
	if pq.State != "" && !pq.State.Valid() {
		return httpx.Failf(http.StatusBadRequest, "Unknown state %s.", httpx.Quote(string(pq.State)))
	}
	if !pd.Admin {
		ids, err := h.visibleWorkspaceIDs(ctx, c)
		if err != nil {
			return err
		}
		pq.Workspaces = ids
	}
	ps, err := h.Store.ListProposals(ctx, c.OrgID, pq)
	if err != nil {
		return err
	}
	rows := make([]proposalRow, len(ps))
	for i, p := range ps {
		rows[i] = proposalRow{Proposal: p}
		rows[i].Workspace, rows[i].Where = h.where(ctx, c.OrgID, p)
	}
	data := struct {
		Rows   []proposalRow
		State  string
		States []store.ProposalState
		Next   string
	}{Rows: rows, State: string(pq.State), States: store.ProposalStates}
	if len(ps) == pq.Limit {
		data.Next = "/admin/proposals?" + url.Values{"state": {data.State}, "after": {ps[len(ps)-1].ID}}.Encode()
	}
	pd.Title, pd.Nav, pd.Data = "Proposals", "proposals", data
	return h.render(w, http.StatusOK, "proposals", pd)
}

// payloadRow is one field of a payload shown as a diff of its "before" and
// "after".
type payloadRow struct {
	Path, Before, After, Kind string // Kind: changed, added, removed, same
}

// payloadDiff shows a payload the way the application described the change: as a
// field-by-field diff when it holds "before" and "after", else as indented JSON.
func payloadDiff(raw json.RawMessage) (rows []payloadRow, pretty string) {
	if len(raw) == 0 {
		return nil, ""
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // show numbers as written, not as float64s
	if err := dec.Decode(&doc); err != nil {
		return nil, string(raw)
	}
	if v, ok := doc.(map[string]any); ok {
		before, okB := v["before"]
		after, okA := v["after"]
		if okB && okA {
			b, a := map[string]string{}, map[string]string{}
			flatten("", before, b)
			flatten("", after, a)
			var paths []string
			for k := range b {
				paths = append(paths, k)
			}
			for k := range a {
				if _, ok := b[k]; !ok {
					paths = append(paths, k)
				}
			}
			slices.Sort(paths)
			for _, p := range paths {
				bv, inB := b[p]
				av, inA := a[p]
				kind := "same"
				switch {
				case !inB:
					kind = "added"
				case !inA:
					kind = "removed"
				case bv != av:
					kind = "changed"
				}
				rows = append(rows, payloadRow{Path: p, Before: bv, After: av, Kind: kind})
			}
			return rows, ""
		}
	}
	return nil, strings.TrimSuffix(encode(doc, "  "), "\n")
}

// encode writes v as JSON as people read it: characters as they are (the page's
// template escapes them), indented when indent is set.
func encode(v any, indent string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return buf.String()
}

// flatten writes v's leaves under dotted paths ("columns[2].name"); an empty
// object or list is a leaf.
func flatten(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[leafPath(prefix)] = "{}"
		}
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, e, out)
		}
	case []any:
		if len(x) == 0 {
			out[leafPath(prefix)] = "[]"
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		out[leafPath(prefix)] = strings.TrimSuffix(encode(x, ""), "\n")
	}
}

func leafPath(p string) string {
	if p == "" {
		return "(whole value)"
	}
	return p
}

// proposalPage is what the detail page shows.
type proposalPage struct {
	P             store.Proposal
	Workspace     string
	Where         string
	Rows          []payloadRow
	Pretty        string
	Change        string
	Preview, Diff *decisions.AccessDiff
	Reviews       []store.Review
	History       []core.AuditEvent
	CanWithdraw   bool
	Refusal       *core.Decision
}

func (h *Handler) pageProposal(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	return h.renderProposal(w, r, c, pd, http.StatusOK, nil)
}

// renderProposal renders a proposal's page; a refusal of a review is shown on it
// with its explanation.
func (h *Handler) renderProposal(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, status int, refusal *core.Decision) error {
	ctx := r.Context()
	p, err := h.readableProposal(ctx, c, pd, r.PathValue("proposal"))
	if err != nil {
		return err
	}
	data := proposalPage{P: p, CanWithdraw: p.State == store.ProposalOpen && p.Author.ID == c.UserID, Refusal: refusal}
	data.Workspace, data.Where = h.where(ctx, c.OrgID, p)
	data.Rows, data.Pretty = payloadDiff(p.Payload)
	if len(p.Change) > 0 {
		_, data.Change = payloadDiff(p.Change)
	}
	if len(p.Diff) > 0 {
		var d decisions.AccessDiff
		if json.Unmarshal(p.Diff, &d) == nil {
			data.Diff = &d
		}
	}
	if p.Kind == store.ProposalAccess && p.State == store.ProposalOpen {
		var ch ops.AccessChange
		if json.Unmarshal(p.Change, &ch) == nil {
			if d, err := h.Ops.PreviewAccess(ctx, c.Actor, c.OrgID, ch); err == nil {
				data.Preview = &d
			}
		}
	}
	if data.Reviews, err = h.Store.ProposalReviews(ctx, c.OrgID, p.ID); err != nil {
		return err
	}
	if data.History, err = h.Store.ProposalHistory(ctx, c.OrgID, p.ID); err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = p.Title, "proposals", data
	return h.render(w, status, "proposal", pd)
}

// readableProposal is the proposal of the path when the person may read it (an org
// admin, its author, or someone who sees its workspace); else not found.
func (h *Handler) readableProposal(ctx context.Context, c *caller, pd *pageData, id string) (store.Proposal, error) {
	p, err := h.Store.GetProposal(ctx, c.OrgID, id)
	if err != nil {
		return p, httpx.NotFound(err, "proposal", id)
	}
	if pd.Admin || p.Author.ID == c.UserID {
		return p, nil
	}
	if p.WorkspaceID != "" {
		ws, err := h.Store.GetWorkspace(ctx, c.OrgID, p.WorkspaceID)
		if err != nil {
			return p, err
		}
		if d, err := h.Decisions.Authorize(ctx, *c, decisions.ViewWorkspace(ws)); err != nil || d.Allowed() {
			return p, err
		}
	}
	return p, httpx.Failf(http.StatusNotFound, "proposal %q not found", id)
}

// formReview approves or rejects as the signed-in person.
func (h *Handler) formReview(v store.Verdict) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
		ctx := r.Context()
		p, me, err := h.proposalAndMe(ctx, c, pd, r.PathValue("proposal"))
		if err != nil {
			return err
		}
		_, _, err = h.Ops.Review(ctx, c.Actor, me, c.OrgID, p.ID, v, strings.TrimSpace(r.PostFormValue("comment")))
		var rf *decisions.Refused
		if errors.As(err, &rf) {
			return h.renderProposal(w, r, c, pd, http.StatusForbidden, &rf.Decision.Decision)
		}
		if err != nil {
			return err
		}
		code := "proposal-approved"
		if v == store.Reject {
			code = "proposal-rejected"
		}
		return redirectDone(w, r, "/admin/proposals/"+url.PathEscape(p.ID), code)
	}
}

// proposalAndMe is the proposal a form acts on, which the person must be able to
// read, and the person.
func (h *Handler) proposalAndMe(ctx context.Context, c *caller, pd *pageData, id string) (store.Proposal, core.User, error) {
	p, err := h.readableProposal(ctx, c, pd, id)
	if err != nil {
		return p, core.User{}, err
	}
	me, err := h.Store.GetUser(ctx, c.OrgID, c.UserID)
	return p, me, err
}

func (h *Handler) formWithdraw(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	p, me, err := h.proposalAndMe(ctx, c, pd, r.PathValue("proposal"))
	if err != nil {
		return err
	}
	if _, err := h.Ops.Withdraw(ctx, c.Actor, ops.Person(me), c.OrgID, p.ID); err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/proposals/"+url.PathEscape(p.ID), "proposal-withdrawn")
}

// pageApprovals shows the org's four-eyes setting and every environment's
// approval rule, with their forms.
func (h *Handler) pageApprovals(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	o, err := h.Store.GetOrg(ctx, c.OrgID)
	if err != nil {
		return err
	}
	wss, err := all(func(p store.Page) ([]core.Workspace, error) { return h.Store.ListWorkspaces(ctx, c.OrgID, p) }, func(w core.Workspace) string { return w.ID })
	if err != nil {
		return err
	}
	pd.Title, pd.Nav, pd.Data = "Approvals", "approvals", struct {
		Org        core.Org
		Workspaces []core.Workspace
		Max        int
	}{o, wss, core.MaxApprovals}
	return h.render(w, http.StatusOK, "approvals", pd)
}

// formEnvironmentRule saves one environment's approval rule.
func (h *Handler) formEnvironmentRule(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	ws, err := h.refs.Workspace(ctx, *c, r.PostFormValue("workspace"))
	if err != nil {
		return err
	}
	env, err := httpx.Environment(ws, r.PostFormValue("environment"))
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("approvals_required")))
	if err != nil {
		return httpx.Failf(http.StatusUnprocessableEntity, "Approvals required is a number from 1 to %d.", core.MaxApprovals)
	}
	require := r.PostFormValue("requires_approval") == "on"
	if _, err := h.Ops.UpdateEnvironment(ctx, c.Actor, c.OrgID, ws.ID, env.ID, ops.EnvironmentChange{RequiresApproval: &require, ApprovalsRequired: &n}); err != nil {
		return err
	}
	return redirectDone(w, r, "/admin/approvals", "approval-rule-saved")
}

// accessForm is an access change a page's form asks for, previewed before it is
// confirmed: the form posts once without "confirm" (the preview page, which
// re-posts the same fields) and once with it (the change, or its proposal).
type accessForm struct {
	Title  string            // what the change is, in words
	Action string            // where the form posts
	Fields map[string]string // the form's fields, re-posted on confirm
	Back   string            // where cancel goes
	Done   string            // where to go once made, with its flash code
	Code   string
}

// previewPage is what preview.html shows.
type previewPage struct {
	accessForm
	Diff decisions.AccessDiff
	Held bool // the org requires a second org admin: confirming proposes
}

// access previews or makes an access change from a form (see accessForm).
func (h *Handler) access(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData, f accessForm, ch ops.AccessChange) error {
	ctx := r.Context()
	if r.PostFormValue("confirm") != "yes" {
		diff, err := h.Ops.PreviewAccess(ctx, c.Actor, c.OrgID, ch)
		if err != nil {
			return err
		}
		o, err := h.Store.GetOrg(ctx, c.OrgID)
		if err != nil {
			return err
		}
		pd.Title, pd.Data = "Preview: "+f.Title, previewPage{accessForm: f, Diff: diff, Held: o.AccessChangesRequireApproval}
		return h.render(w, http.StatusOK, "preview", pd)
	}
	out, err := h.Ops.ChangeAccess(ctx, c.Actor, c.OrgID, ch, f.Title)
	if err != nil {
		return err
	}
	if out.Proposal != nil {
		return redirectDone(w, r, "/admin/proposals/"+url.PathEscape(out.Proposal.ID), "access-held")
	}
	return redirectDone(w, r, f.Done, f.Code)
}

// formOrgApproval turns the four-eyes rule on access changes on or off: an access
// change like the others (turning it off while on is held for a second admin).
func (h *Handler) formOrgApproval(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	var require bool
	switch r.PostFormValue("require") {
	case "on":
		require = true
	case "off":
	default:
		return httpx.Failf(http.StatusUnprocessableEntity, "Choose on or off.")
	}
	title := "Stop requiring a second org admin's approval of access changes"
	if require {
		title = "Require a second org admin's approval of access changes"
	}
	return h.access(w, r, c, pd, accessForm{Title: title, Action: "/admin/approvals/org", Fields: map[string]string{"require": r.PostFormValue("require")},
		Back: "/admin/approvals", Done: "/admin/approvals", Code: "org-approval-saved"},
		ops.AccessChange{Op: ops.OpAccessApproval, Require: &require})
}
