package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Change management (DESIGN.md): people propose, others who may publish review,
// and the host application applies what was approved and says so. The rules of
// who may propose and who may review are core.Decide's, asked about the person
// the proposal is about (its author, its reviewer) with their facts read in the
// operation's own transaction; a refusal is a *decisions.Refused carrying that
// decision, so edges answer it with its explanation.

// Reason codes of proposal refusals that are not core.Decide's.
const (
	ReasonOwnProposal = "own_proposal" // nobody reviews their own proposal
	ReasonNotAuthor   = "not_author"   // only the author withdraws
)

// ProposalInput is a change or a promotion as an edge read it; the edge resolves
// the workspace (which the caller must see) and the author, the operation the
// rest, inside the workspace.
type ProposalInput struct {
	Kind      store.ProposalKind // change (when empty) or promote
	Workspace core.Workspace
	// Environment is a change's environment (optional: a resource's own is used)
	// or where a promotion starts; Target where it goes. Ids or names.
	Environment, Target string
	// Action is what a change does: create, edit, delete or run; a promotion
	// edits (the default) or creates the resource in its target.
	Action core.Action
	// ResourceType and ResourceID name the resource by the application's id; a
	// create may name the type alone, or an id the application chose.
	ResourceType core.ResourceType
	ResourceID   string
	// Space is where a created resource would go (id or name), optional.
	Space       string
	Title       string
	Description string
	Payload     json.RawMessage
}

// refused is the refusal of an operation that core.Decide (or a rule of change
// management) did not allow; edges answer it 403 with d's explanation.
func refused(d core.Decision) error {
	return &decisions.Refused{Decision: decisions.Decision{Decision: d}}
}

// refuse builds a refusal of who that is not core.Decide's, explained in one step.
func refuse(who core.Actor, reason, msg string) error {
	return refused(core.Decision{Effect: core.Deny, Reason: reason, Message: msg,
		Chain: []core.Step{{Kind: "user", ID: who.ID, Name: who.Name}, {Kind: "reason", Detail: msg}}})
}

// Person is how a user appears as the author or reviewer of a proposal.
func Person(u core.User) core.Actor {
	return core.Actor{Kind: core.ActorAdmin, ID: u.ID, Name: u.Label()}
}

// Propose opens a change or a promotion by author (who must exist and be
// active), in one transaction. The author's decision for the action is asked of
// core.Decide: allow or draft_only opens the proposal, anything else is refused
// with that decision. A promotion goes from an environment to the next one on
// the workspace's path and edits (or creates) the resource there, so the
// author's decision is asked about the resource in the target environment. It
// returns the proposal and the author's decision.
func (o *Ops) Propose(ctx context.Context, actor core.Actor, author core.User, in ProposalInput) (store.Proposal, core.Decision, error) {
	ws := in.Workspace
	if in.Kind == "" {
		in.Kind = store.ProposalChange
	}
	if !in.ResourceType.Valid() {
		return store.Proposal{}, core.Decision{}, core.Invalidf(`"resource.type" must be one of %v`, core.ResourceTypes)
	}
	switch in.Kind {
	case store.ProposalChange:
		if in.Action != core.ActionCreate && in.Action != core.ActionEdit && in.Action != core.ActionDelete && in.Action != core.ActionRun {
			return store.Proposal{}, core.Decision{}, core.Invalidf(`a change proposes to create, edit, delete or run, not %q`, in.Action)
		}
		if in.ResourceID == "" && in.Action != core.ActionCreate {
			return store.Proposal{}, core.Decision{}, core.Invalidf(`a change to %s names its resource ("resource.id"); only a create may name the type alone`, in.Action)
		}
		if in.Target != "" {
			return store.Proposal{}, core.Decision{}, core.Invalidf(`"to" is for promotions ("kind": "promote")`)
		}
	case store.ProposalPromote:
		if in.Action == "" {
			in.Action = core.ActionEdit
		}
		if in.Action != core.ActionEdit && in.Action != core.ActionCreate {
			return store.Proposal{}, core.Decision{}, core.Invalidf(`a promotion edits or creates the resource in its target, not %q`, in.Action)
		}
		if in.ResourceID == "" || in.Environment == "" || in.Target == "" {
			return store.Proposal{}, core.Decision{}, core.Invalidf(`a promotion names its resource ("resource": {type, id}) and the environments "from" and "to"`)
		}
		if in.Space != "" {
			return store.Proposal{}, core.Decision{}, core.Invalidf(`a promotion keeps its resource's space; "space" is for creates`)
		}
	case store.ProposalAccess:
		return store.Proposal{}, core.Decision{}, core.Invalidf("an access change becomes a proposal by itself: send it to its own route, and when the organization requires approval of access changes it is held for a second org admin")
	default:
		return store.Proposal{}, core.Decision{}, core.Invalidf(`unknown proposal kind %q (want "change" or "promote")`, in.Kind)
	}
	var (
		out store.Proposal
		dec core.Decision
	)
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		env, err := environmentOf(ws, in.Environment)
		if err != nil {
			return err
		}
		p := store.Proposal{OrgID: ws.OrgID, Kind: in.Kind, WorkspaceID: ws.ID, Action: string(in.Action),
			Resource: &store.ProposalResource{Type: in.ResourceType, ID: in.ResourceID},
			Title:    in.Title, Description: in.Description, Payload: in.Payload,
			Author: Person(author)}
		req := core.Request{Action: in.Action, ResourceType: in.ResourceType}
		var res *core.Resource
		if in.ResourceID != "" {
			r, err := st.GetResourceByExternalID(ctx, ws.OrgID, ws.ID, in.ResourceType, in.ResourceID)
			switch {
			case err == nil:
				res = &r
				p.Resource.GatehouseID, p.Resource.Version, p.SpaceID = r.ID, r.Version, r.SpaceID
			case !errors.Is(err, core.ErrNotFound):
				return err
			case in.Action != core.ActionCreate || in.Kind == store.ProposalPromote:
				return core.Invalidf("%s %q is not registered in workspace %s: register it before proposing to %s it",
					in.ResourceType, in.ResourceID, ws.Slug, in.Action)
			}
		}
		if res != nil && res.EnvironmentID != "" {
			renv, _ := environmentOf(ws, res.EnvironmentID)
			switch {
			case env == nil:
				env = renv
			case renv != nil && renv.ID != env.ID:
				return core.Invalidf("%s %s is in environment %s, not %s", res.Type, res.ExternalID, renv.Name, env.Name)
			}
		}
		if in.Kind == store.ProposalChange && res != nil && in.Action == core.ActionCreate {
			return core.Invalidf("%s %q is already registered in workspace %s: propose to edit it", in.ResourceType, in.ResourceID, ws.Slug)
		}
		if in.Space != "" {
			if in.Action != core.ActionCreate {
				return core.Invalidf(`"space" is where a created resource would go; a %s keeps the resource's space`, in.Action)
			}
			sp, err := st.GetSpace(ctx, ws.OrgID, ws.ID, in.Space)
			if errors.Is(err, core.ErrNotFound) {
				return core.Invalidf("workspace %s has no space %q", ws.Slug, in.Space)
			}
			if err != nil {
				return err
			}
			p.SpaceID, req.SpaceID = sp.ID, sp.ID
		}
		switch in.Kind {
		case store.ProposalPromote:
			to, err := environmentOf(ws, in.Target)
			if err != nil {
				return err
			}
			if next := core.NextEnvironment(ws, env.ID); next == nil || next.ID != to.ID {
				return core.Invalidf("%s is not the next environment after %s on the promotion path of %s (%s): promote one step at a time",
					to.Name, env.Name, ws.Slug, pathOf(ws))
			}
			p.EnvironmentID, p.TargetEnvironmentID, p.ApprovalsRequired = env.ID, to.ID, to.Approvals()
			// The resource as it would be in the target: the decision is about it there.
			there := *res
			there.EnvironmentID = to.ID
			req.Resource, req.Environment = &there, to.ID
		default:
			if env != nil {
				p.EnvironmentID, req.Environment = env.ID, env.ID
				p.ApprovalsRequired = env.Approvals()
			} else {
				// The workspace as a whole: as many approvals as its strictest environment.
				p.ApprovalsRequired = 1
				for _, e := range ws.Environments {
					p.ApprovalsRequired = max(p.ApprovalsRequired, e.Approvals())
				}
			}
			req.Resource = res
		}
		f, err := st.Facts(ctx, ws.OrgID, author.ID, ws.ID)
		if err != nil {
			return err
		}
		dec = core.Decide(f, req)
		if dec.Effect == core.Deny {
			return refused(dec)
		}
		out, err = st.CreateProposal(ctx, actor, p)
		return err
	})
	if err != nil {
		return store.Proposal{}, dec, err
	}
	return out, dec, nil
}

// environmentOf finds an environment of ws by id or name; "" is none.
func environmentOf(ws core.Workspace, ref string) (*core.Environment, error) {
	if ref == "" {
		return nil, nil
	}
	for i := range ws.Environments {
		if e := &ws.Environments[i]; e.ID == ref || strings.EqualFold(e.Name, ref) {
			return e, nil
		}
	}
	return nil, core.Invalidf("workspace %s has no environment %q", ws.Slug, ref)
}

func pathOf(ws core.Workspace) string {
	names := make([]string, len(ws.Environments))
	for i, e := range ws.Environments {
		names[i] = e.Name
	}
	return strings.Join(names, " → ")
}

// ReviewDecision is the reviewer's right to review a proposal: for a change or a
// promotion, core.Decide's answer to publish the resource in its (target)
// environment; for an access change, that of being an org admin. It is asked in
// the transaction of the review, and returned with its explanation.
func reviewDecision(ctx context.Context, st store.Store, p store.Proposal, reviewer core.User) (core.Decision, error) {
	if p.Author.ID == reviewer.ID {
		return core.Decision{}, refuse(Person(reviewer), ReasonOwnProposal,
			fmt.Sprintf("%s may not review their own proposal: it needs a second person", reviewer.Label()))
	}
	if p.Kind == store.ProposalAccess {
		admin, err := st.IsOrgAdmin(ctx, p.OrgID, reviewer.ID)
		if err != nil {
			return core.Decision{}, err
		}
		if !admin || !reviewer.Active {
			return core.Decision{}, refuse(Person(reviewer), decisions.ReasonOrgAdminOnly,
				fmt.Sprintf("%s is not an active org admin: access changes are approved by a second org admin", reviewer.Label()))
		}
		msg := fmt.Sprintf("%s is an org admin and not the author: they may approve access changes", reviewer.Label())
		return core.Decision{Effect: core.Allow, Reason: core.ReasonAllowed, Message: msg,
			Chain: []core.Step{{Kind: "user", ID: reviewer.ID, Name: reviewer.Label()}, {Kind: "org_admin", Detail: msg}}}, nil
	}
	f, err := st.Facts(ctx, p.OrgID, reviewer.ID, p.WorkspaceID)
	if err != nil {
		return core.Decision{}, err
	}
	envID := p.EnvironmentID
	if p.Kind == store.ProposalPromote {
		envID = p.TargetEnvironmentID
	}
	req := core.Request{Action: core.ActionPublish, Environment: envID, ResourceType: p.Resource.Type, SpaceID: p.SpaceID}
	if p.Resource.ID != "" {
		// The resource as it is now (or as it was, if it is gone), in the
		// environment where the change goes live.
		res := core.Resource{WorkspaceID: p.WorkspaceID, Type: p.Resource.Type, ExternalID: p.Resource.ID, SpaceID: p.SpaceID}
		if cur, err := st.GetResourceByExternalID(ctx, p.OrgID, p.WorkspaceID, p.Resource.Type, p.Resource.ID); err == nil {
			res = cur
		} else if !errors.Is(err, core.ErrNotFound) {
			return core.Decision{}, err
		}
		res.EnvironmentID = envID
		req.Resource, req.SpaceID = &res, ""
	}
	d := core.Decide(f, req)
	if d.Effect != core.Allow {
		return d, refused(d)
	}
	return d, nil
}

// Review records reviewer's verdict on a proposal, in one transaction: the
// reviewer must not be its author, and must be allowed to publish the resource in
// the environment where the change goes live (or, for an access change, be an org
// admin). The store's conditional update counts the review only while the
// proposal is open, so racing reviewers give one outcome. An access change that
// this review approves is applied by Gatehouse in the same transaction, and its
// diff measured then; if it can no longer be made, the proposal fails with the
// reason and nothing of the change is left. It returns the proposal and the
// reviewer's decision.
func (o *Ops) Review(ctx context.Context, actor core.Actor, reviewer core.User, orgID, id string, verdict store.Verdict, comment string) (store.Proposal, core.Decision, error) {
	var (
		out store.Proposal
		dec core.Decision
	)
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		p, err := st.GetProposal(ctx, orgID, id)
		if err != nil {
			return err
		}
		if p.State != store.ProposalOpen {
			return fmt.Errorf("proposal %q is %s, not open: %w", p.Title, p.State, core.ErrConflict)
		}
		if dec, err = reviewDecision(ctx, st, p, reviewer); err != nil {
			return err
		}
		out, err = st.ReviewProposal(ctx, actor, orgID, id, store.Review{
			Reviewer: Person(reviewer), Verdict: verdict, Comment: comment})
		if err != nil || out.Kind != store.ProposalAccess || out.State != store.ProposalApproved {
			return err
		}
		out, err = applyProposal(ctx, st, actor, out)
		return err
	})
	if err != nil {
		return store.Proposal{}, dec, err
	}
	return out, dec, nil
}

// applyProposal applies an approved access proposal in st's transaction and ends
// it applied, with the diff measured as it was made, or failed, with the reason
// and nothing of the change left.
func applyProposal(ctx context.Context, st store.Store, actor core.Actor, p store.Proposal) (store.Proposal, error) {
	var c AccessChange
	if err := json.Unmarshal(p.Change, &c); err != nil {
		return p, fmt.Errorf("ops: access proposal %s: %w", p.ID, err)
	}
	var diff decisions.AccessDiff
	err := st.WithTx(ctx, func(in store.Store) error {
		if err := c.Validate(); err != nil {
			return err
		}
		var err error
		diff, _, err = measureAccess(ctx, in, actor, p.OrgID, c)
		return err
	})
	if err != nil {
		for _, sentinel := range []error{core.ErrInvalid, core.ErrConflict, core.ErrNotFound, core.ErrVersion, core.ErrLastAdmin} {
			if errors.Is(err, sentinel) {
				return st.EndProposal(ctx, actor, p.OrgID, p.ID, store.ProposalEnd{State: store.ProposalFailed,
					Message: "Gatehouse could not apply the change: " + clientMessage(err)})
			}
		}
		return p, err
	}
	body, err := json.Marshal(diff)
	if err != nil {
		return p, err
	}
	return st.EndProposal(ctx, actor, p.OrgID, p.ID, store.ProposalEnd{State: store.ProposalApplied, Diff: body,
		Message: fmt.Sprintf("applied by Gatehouse: %d role changes, %d decisions changed", diff.Roles.Count, diff.Decisions.Count)})
}

// clientMessage is the text of a core error fit for people: an Invalidf message,
// or the sentinel's own words (never a store's wrapping, which may name ids).
func clientMessage(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) == core.ErrInvalid && e.Error() != core.ErrInvalid.Error() {
			return e.Error()
		}
	}
	for _, s := range []error{core.ErrLastAdmin, core.ErrVersion, core.ErrConflict, core.ErrNotFound} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "the change breaks a rule of the model"
}

// Withdraw closes an open proposal at its author's request: by is the author (a
// person, Person; or the API token that made an access change).
func (o *Ops) Withdraw(ctx context.Context, actor core.Actor, by core.Actor, orgID, id string) (store.Proposal, error) {
	var out store.Proposal
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		p, err := st.GetProposal(ctx, orgID, id)
		if err != nil {
			return err
		}
		if p.Author.ID != by.ID {
			return refuse(by, ReasonNotAuthor, fmt.Sprintf("only the author, %s, may withdraw this proposal", p.Author.Name))
		}
		out, err = st.EndProposal(ctx, actor, orgID, id, store.ProposalEnd{State: store.ProposalWithdrawn})
		return err
	})
	return out, err
}

// Report records what the host application did with an approved change or
// promotion: applied (with its own reference) or failed (with a message). Access
// proposals are applied by Gatehouse itself.
func (o *Ops) Report(ctx context.Context, actor core.Actor, orgID, id string, end store.ProposalEnd) (store.Proposal, error) {
	if end.State != store.ProposalApplied && end.State != store.ProposalFailed {
		return store.Proposal{}, core.Invalidf("an application reports applied or failed, not %q", end.State)
	}
	var out store.Proposal
	err := o.Store.WithTx(ctx, func(st store.Store) error {
		p, err := st.GetProposal(ctx, orgID, id)
		if err != nil {
			return err
		}
		if p.Kind == store.ProposalAccess {
			return core.Invalidf("Gatehouse applies access changes itself when they are approved; there is nothing to report")
		}
		end.Diff = nil
		out, err = st.EndProposal(ctx, actor, orgID, id, end)
		return err
	})
	return out, err
}
