package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// changeProposal is a proposal by author to edit model m-1 in an environment of a
// workspace, needing approvals approvals.
func changeProposal(orgID, wsID, envID string, author core.User, approvals int) store.Proposal {
	return store.Proposal{OrgID: orgID, Kind: store.ProposalChange, WorkspaceID: wsID, EnvironmentID: envID, Action: "edit",
		Resource: &store.ProposalResource{Type: core.TypeModel, ID: "m-1"}, Title: "Tune churn model",
		Payload: json.RawMessage(`{"before":{"sql":"select 1"},"after":{"sql":"select 2"}}`),
		Author:  core.Actor{Kind: core.ActorAdmin, ID: author.ID, Name: author.Label()}, ApprovalsRequired: approvals}
}

func reviewer(u core.User) core.Actor {
	return core.Actor{Kind: core.ActorAdmin, ID: u.ID, Name: u.Label()}
}

func review(u core.User, v store.Verdict) store.Review {
	return store.Review{Reviewer: reviewer(u), Verdict: v, Comment: "looks " + string(v)}
}

// proposalWorld is an org with a workspace (development → production), an author
// and three reviewers.
type proposalWorld struct {
	org        core.Org
	ws         core.Workspace
	author     core.User
	reviewers  []core.User
	dev, prod  core.Environment
	otherOrgID string
}

func newProposalWorld(t *testing.T, s subject) proposalWorld {
	o, _ := newOrg(t, s, "acme")
	other, _ := newOrg(t, s, "other")
	ws := newWorkspace(t, s, o.ID, "marketing", "development", "production")
	w := proposalWorld{org: o, ws: ws, author: newUser(t, s, o.ID, "ann@acme.example.com"),
		dev: ws.Environments[0], prod: ws.Environments[1], otherOrgID: other.ID}
	for _, n := range []string{"pat", "quinn", "rae"} {
		w.reviewers = append(w.reviewers, newUser(t, s, o.ID, n+"@acme.example.com"))
	}
	return w
}

var proposalTests = []test{
	{"Proposal/CreateGetListHistory", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		res := must[core.Resource](t)(s.CreateResource(ctx, adm, w.org.ID, core.Resource{WorkspaceID: w.ws.ID, Type: core.TypeModel,
			ExternalID: "m-1", EnvironmentID: w.dev.ID}))
		in := changeProposal(w.org.ID, w.ws.ID, w.dev.ID, w.author, 1)
		in.Resource.GatehouseID, in.Resource.Version = res.ID, res.Version
		p := must[store.Proposal](t)(s.CreateProposal(ctx, adm, in))
		if p.ID == "" || p.State != store.ProposalOpen || p.Version != 1 || p.Approvals != 0 || p.Stale || p.Author.ID != w.author.ID {
			t.Fatalf("created = %+v", p)
		}
		got := must[store.Proposal](t)(s.GetProposal(ctx, w.org.ID, p.ID))
		if got.Title != in.Title || got.Resource == nil || got.Resource.GatehouseID != res.ID || got.Resource.Version != res.Version ||
			string(got.Payload) != string(in.Payload) || got.EnvironmentID != w.dev.ID || got.Action != "edit" {
			t.Fatalf("got = %+v", got)
		}
		// Not visible from another org.
		wantErr(t, second(s.GetProposal(ctx, w.otherOrgID, p.ID)), core.ErrNotFound)
		if l := must[[]store.Proposal](t)(s.ListProposals(ctx, w.otherOrgID, store.ProposalQuery{})); len(l) != 0 {
			t.Fatalf("another org lists %d proposals", len(l))
		}
		// A create names the type alone; a second workspace's proposal.
		create := changeProposal(w.org.ID, w.ws.ID, w.prod.ID, w.reviewers[0], 2)
		create.Action, create.Resource = "create", &store.ProposalResource{Type: core.TypeSync}
		c := must[store.Proposal](t)(s.CreateProposal(ctx, adm, create))
		sales := newWorkspace(t, s, w.org.ID, "sales")
		other := changeProposal(w.org.ID, sales.ID, "", w.author, 1)
		o := must[store.Proposal](t)(s.CreateProposal(ctx, adm, other))
		for name, tc := range map[string]struct {
			q    store.ProposalQuery
			want []string
		}{
			"all, newest first":  {store.ProposalQuery{}, []string{o.ID, c.ID, p.ID}},
			"workspace":          {store.ProposalQuery{WorkspaceID: w.ws.ID}, []string{c.ID, p.ID}},
			"environment":        {store.ProposalQuery{EnvironmentID: w.prod.ID}, []string{c.ID}},
			"author":             {store.ProposalQuery{AuthorID: w.author.ID}, []string{o.ID, p.ID}},
			"resource":           {store.ProposalQuery{ResourceType: core.TypeModel, ResourceID: "m-1"}, []string{o.ID, p.ID}},
			"type":               {store.ProposalQuery{ResourceType: core.TypeSync}, []string{c.ID}},
			"state":              {store.ProposalQuery{State: store.ProposalApproved}, nil},
			"kind":               {store.ProposalQuery{Kind: store.ProposalPromote}, nil},
			"visible workspaces": {store.ProposalQuery{Workspaces: []string{sales.ID}}, []string{o.ID}},
			"no visible ones":    {store.ProposalQuery{Workspaces: []string{}}, nil},
			"paged":              {store.ProposalQuery{Page: store.Page{After: o.ID, Limit: 1}}, []string{c.ID}},
		} {
			got := ids(must[[]store.Proposal](t)(s.ListProposals(ctx, w.org.ID, tc.q)), func(p store.Proposal) string { return p.ID })
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%s: listed %v, want %v", name, got, tc.want)
			}
		}
		h := must[[]core.AuditEvent](t)(s.ProposalHistory(ctx, w.org.ID, p.ID))
		if len(h) != 1 || h[0].Action != "proposal.create" || h[0].Details["title"] != in.Title || h[0].Details["payload_bytes"] == nil {
			t.Fatalf("history = %+v", h)
		}
		if _, ok := h[0].Details["payload"]; ok {
			t.Fatal("the event carries the payload")
		}
		wantErr(t, second(s.ProposalHistory(ctx, w.otherOrgID, p.ID)), core.ErrNotFound)
		wantErr(t, second(s.ProposalReviews(ctx, w.otherOrgID, p.ID)), core.ErrNotFound)
	}},
	{"Proposal/BadShapesChangeNothing", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		base := func() store.Proposal { return changeProposal(w.org.ID, w.ws.ID, w.dev.ID, w.author, 1) }
		for name, mod := range map[string]func(p *store.Proposal){
			"no title": func(p *store.Proposal) { p.Title = " " },
			"payload too big": func(p *store.Proposal) {
				p.Payload = json.RawMessage(`"` + strings.Repeat("x", store.MaxPayload) + `"`)
			},
			"payload not JSON":   func(p *store.Proposal) { p.Payload = json.RawMessage(`{nope`) },
			"unknown kind":       func(p *store.Proposal) { p.Kind = "merge" },
			"change no resource": func(p *store.Proposal) { p.Resource = nil },
			"bad type":           func(p *store.Proposal) { p.Resource.Type = "widget" },
			"no author":          func(p *store.Proposal) { p.Author = core.Actor{} },
			"zero approvals":     func(p *store.Proposal) { p.ApprovalsRequired = 0 },
			"eleven approvals":   func(p *store.Proposal) { p.ApprovalsRequired = 11 },
			"promote to itself": func(p *store.Proposal) {
				p.Kind, p.TargetEnvironmentID = store.ProposalPromote, w.dev.ID
			},
			"promote without resource id": func(p *store.Proposal) {
				p.Kind, p.TargetEnvironmentID, p.Resource.ID = store.ProposalPromote, w.prod.ID, ""
			},
			"access without change": func(p *store.Proposal) { p.Kind, p.Resource, p.EnvironmentID = store.ProposalAccess, nil, "" },
		} {
			p := base()
			mod(&p)
			before := auditCount(t, s, w.org.ID)
			if err := second(s.CreateProposal(ctx, adm, p)); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("%s: error %v, want invalid", name, err)
			}
			if auditCount(t, s, w.org.ID) != before {
				t.Errorf("%s: a refused proposal was audited", name)
			}
		}
		// Another org's workspace or an environment of another workspace is not found.
		p := base()
		p.OrgID = w.otherOrgID
		unchanged(t, s, w.otherOrgID, core.ErrNotFound, func() error { return second(s.CreateProposal(ctx, adm, p)) })
		sales := newWorkspace(t, s, w.org.ID, "sales", "qa")
		p = base()
		p.WorkspaceID = sales.ID
		unchanged(t, s, w.org.ID, core.ErrNotFound, func() error { return second(s.CreateProposal(ctx, adm, p)) })
		if l := must[[]store.Proposal](t)(s.ListProposals(ctx, w.org.ID, store.ProposalQuery{})); len(l) != 0 {
			t.Fatalf("refused proposals were stored: %d", len(l))
		}
	}},
	{"Proposal/ReviewsAndTransitions", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		pat, quinn, rae := w.reviewers[0], w.reviewers[1], w.reviewers[2]
		p := must[store.Proposal](t)(s.CreateProposal(ctx, adm, changeProposal(w.org.ID, w.ws.ID, w.prod.ID, w.author, 2)))
		// The first approval of two counts and keeps it open.
		p = must[store.Proposal](t)(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, review(pat, store.Approve)))
		if p.State != store.ProposalOpen || p.Approvals != 1 || p.Version != 2 {
			t.Fatalf("after one approval = %+v", p)
		}
		if e := lastEvent(t, s, w.org.ID); e.Action != "proposal.review" || e.Details["reviewer_id"] != pat.ID || e.Details["approvals"] != float64(1) {
			t.Fatalf("event = %+v", e)
		}
		// A second review by the same reviewer is refused and changes nothing.
		unchanged(t, s, w.org.ID, core.ErrConflict, func() error {
			return second(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, review(pat, store.Approve)))
		})
		unchanged(t, s, w.org.ID, core.ErrInvalid, func() error {
			return second(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, store.Review{Reviewer: reviewer(quinn), Verdict: "maybe"}))
		})
		unchanged(t, s, w.org.ID, core.ErrInvalid, func() error {
			return second(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, store.Review{Reviewer: reviewer(quinn), Verdict: store.Approve, Comment: strings.Repeat("x", store.MaxComment+1)}))
		})
		// Applied is refused while open.
		unchanged(t, s, w.org.ID, core.ErrConflict, func() error {
			return second(s.EndProposal(ctx, adm, w.org.ID, p.ID, store.ProposalEnd{State: store.ProposalApplied}))
		})
		// The second approval approves it.
		p = must[store.Proposal](t)(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, review(quinn, store.Approve)))
		if p.State != store.ProposalApproved || p.Approvals != 2 {
			t.Fatalf("after two approvals = %+v", p)
		}
		if e := lastEvent(t, s, w.org.ID); e.Action != "proposal.approve" || e.Details["state"] != "approved" {
			t.Fatalf("event = %+v", e)
		}
		// Closed to further reviews and to withdrawal.
		unchanged(t, s, w.org.ID, core.ErrConflict, func() error {
			return second(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, review(rae, store.Reject)))
		})
		unchanged(t, s, w.org.ID, core.ErrConflict, func() error {
			return second(s.EndProposal(ctx, adm, w.org.ID, p.ID, store.ProposalEnd{State: store.ProposalWithdrawn}))
		})
		unchanged(t, s, w.org.ID, core.ErrInvalid, func() error {
			return second(s.EndProposal(ctx, adm, w.org.ID, p.ID, store.ProposalEnd{State: store.ProposalOpen}))
		})
		p = must[store.Proposal](t)(s.EndProposal(ctx, adm, w.org.ID, p.ID, store.ProposalEnd{State: store.ProposalApplied, Reference: "deploy-42"}))
		if p.State != store.ProposalApplied || p.Reference != "deploy-42" {
			t.Fatalf("applied = %+v", p)
		}
		unchanged(t, s, w.org.ID, core.ErrConflict, func() error {
			return second(s.EndProposal(ctx, adm, w.org.ID, p.ID, store.ProposalEnd{State: store.ProposalFailed}))
		})
		rs := must[[]store.Review](t)(s.ProposalReviews(ctx, w.org.ID, p.ID))
		if len(rs) != 2 || rs[0].Reviewer.ID != pat.ID || rs[1].Reviewer.ID != quinn.ID || rs[0].Comment != "looks approve" {
			t.Fatalf("reviews = %+v", rs)
		}
		var actions []string
		for _, e := range must[[]core.AuditEvent](t)(s.ProposalHistory(ctx, w.org.ID, p.ID)) {
			actions = append(actions, e.Action)
		}
		if got := strings.Join(actions, " "); got != "proposal.create proposal.review proposal.approve proposal.apply" {
			t.Fatalf("history %s", got)
		}

		// Rejected by one reviewer; withdrawn by its author; failed.
		r := must[store.Proposal](t)(s.CreateProposal(ctx, adm, changeProposal(w.org.ID, w.ws.ID, w.prod.ID, w.author, 3)))
		r = must[store.Proposal](t)(s.ReviewProposal(ctx, adm, w.org.ID, r.ID, review(pat, store.Reject)))
		if r.State != store.ProposalRejected || lastEvent(t, s, w.org.ID).Action != "proposal.reject" {
			t.Fatalf("rejected = %+v", r)
		}
		wd := must[store.Proposal](t)(s.CreateProposal(ctx, adm, changeProposal(w.org.ID, w.ws.ID, w.prod.ID, w.author, 1)))
		wd = must[store.Proposal](t)(s.EndProposal(ctx, adm, w.org.ID, wd.ID, store.ProposalEnd{State: store.ProposalWithdrawn}))
		if wd.State != store.ProposalWithdrawn || lastEvent(t, s, w.org.ID).Action != "proposal.withdraw" {
			t.Fatalf("withdrawn = %+v", wd)
		}
		f := must[store.Proposal](t)(s.CreateProposal(ctx, adm, changeProposal(w.org.ID, w.ws.ID, w.dev.ID, w.author, 1)))
		must[store.Proposal](t)(s.ReviewProposal(ctx, adm, w.org.ID, f.ID, review(rae, store.Approve)))
		f = must[store.Proposal](t)(s.EndProposal(ctx, adm, w.org.ID, f.ID, store.ProposalEnd{State: store.ProposalFailed, Message: "sync config rejected"}))
		if f.State != store.ProposalFailed || f.Message != "sync config rejected" || lastEvent(t, s, w.org.ID).Details["message"] != "sync config rejected" {
			t.Fatalf("failed = %+v", f)
		}
		// Another org can neither review nor end it.
		wantErr(t, second(s.ReviewProposal(ctx, adm, w.otherOrgID, r.ID, review(rae, store.Approve))), core.ErrNotFound)
		wantErr(t, second(s.EndProposal(ctx, adm, w.otherOrgID, f.ID, store.ProposalEnd{State: store.ProposalApplied})), core.ErrNotFound)
	}},
	{"Proposal/Stale", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		res := must[core.Resource](t)(s.CreateResource(ctx, adm, w.org.ID, core.Resource{WorkspaceID: w.ws.ID, Type: core.TypeModel,
			ExternalID: "m-1", EnvironmentID: w.dev.ID}))
		open := func() store.Proposal {
			in := changeProposal(w.org.ID, w.ws.ID, w.dev.ID, w.author, 1)
			in.Resource.GatehouseID, in.Resource.Version = res.ID, res.Version
			return must[store.Proposal](t)(s.CreateProposal(ctx, adm, in))
		}
		p, q := open(), open()
		must[store.Proposal](t)(s.ReviewProposal(ctx, adm, w.org.ID, q.ID, review(w.reviewers[0], store.Approve)))
		res = must[core.Resource](t)(s.UpdateResource(ctx, adm, w.org.ID, res.ID, func(r *core.Resource) error { r.Name = "Churn v2"; return nil }))
		for _, id := range []string{p.ID, q.ID} {
			got := must[store.Proposal](t)(s.GetProposal(ctx, w.org.ID, id))
			if !got.Stale || !strings.Contains(got.StaleReason, "changed after the proposal was opened") {
				t.Fatalf("after the resource changed: %+v", got)
			}
		}
		// A closed proposal is not stale any more; a deleted resource is.
		must[store.Proposal](t)(s.EndProposal(ctx, adm, w.org.ID, q.ID, store.ProposalEnd{State: store.ProposalApplied}))
		if got := must[store.Proposal](t)(s.GetProposal(ctx, w.org.ID, q.ID)); got.Stale {
			t.Fatalf("applied and stale: %+v", got)
		}
		ok(t, s.DeleteResource(ctx, adm, w.org.ID, res.ID))
		got := must[[]store.Proposal](t)(s.ListProposals(ctx, w.org.ID, store.ProposalQuery{State: store.ProposalOpen}))
		if len(got) != 1 || !got[0].Stale || !strings.Contains(got[0].StaleReason, "deleted") {
			t.Fatalf("after the resource was deleted: %+v", got)
		}
	}},
	{"Proposal/WorkspaceDeletionTakesItsProposals", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		p := must[store.Proposal](t)(s.CreateProposal(ctx, adm, changeProposal(w.org.ID, w.ws.ID, w.dev.ID, w.author, 1)))
		must[store.Proposal](t)(s.ReviewProposal(ctx, adm, w.org.ID, p.ID, review(w.reviewers[0], store.Reject)))
		ok(t, s.DeleteWorkspace(ctx, adm, w.org.ID, w.ws.ID))
		wantErr(t, second(s.GetProposal(ctx, w.org.ID, p.ID)), core.ErrNotFound)
	}},
	// Reviewers racing on one proposal: exactly one outcome. With one approval
	// needed, one review wins and the rest find it closed; with three, the first
	// three approvals count and exactly one of them approves.
	{"Proposal/RacingReviewersGiveOneOutcome", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		var people []core.User
		for i := range 12 {
			people = append(people, newUser(t, s, w.org.ID, fmt.Sprintf("r%d@acme.example.com", i)))
		}
		for _, need := range []int{1, 3} {
			p := must[store.Proposal](t)(s.CreateProposal(ctx, adm, changeProposal(w.org.ID, w.ws.ID, w.prod.ID, w.author, need)))
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				won      []store.Proposal
				conflict int
			)
			for i, u := range people {
				v := store.Approve
				if need == 1 && i%2 == 1 {
					v = store.Reject
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := s.ReviewProposal(ctx, adm, w.org.ID, p.ID, review(u, v))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won = append(won, got)
					case errors.Is(err, core.ErrConflict):
						conflict++
						noDriverText(t, err)
					default:
						t.Errorf("review: %v", err)
					}
				}()
			}
			wg.Wait()
			if len(won) != need || conflict != len(people)-need {
				t.Fatalf("need %d: %d reviews counted, %d refused", need, len(won), conflict)
			}
			final := must[store.Proposal](t)(s.GetProposal(ctx, w.org.ID, p.ID))
			closing := 0
			for _, g := range won {
				if g.State != store.ProposalOpen {
					closing++
					if g.State != final.State {
						t.Fatalf("a winner saw %s, the proposal is %s", g.State, final.State)
					}
				}
			}
			reviews := must[[]store.Review](t)(s.ProposalReviews(ctx, w.org.ID, p.ID))
			if closing != 1 || len(reviews) != need || final.State == store.ProposalOpen ||
				(final.State == store.ProposalApproved && final.Approvals != need) {
				t.Fatalf("need %d: %d closing reviews, %d stored, final %+v", need, closing, len(reviews), final)
			}
			var outcomes int
			for _, e := range must[[]core.AuditEvent](t)(s.ProposalHistory(ctx, w.org.ID, p.ID)) {
				if e.Action == "proposal.approve" || e.Action == "proposal.reject" {
					outcomes++
				}
			}
			if outcomes != 1 {
				t.Fatalf("need %d: %d outcome events", need, outcomes)
			}
		}
	}},
	{"Environment/ApprovalRule", func(t *testing.T, s subject) {
		w := newProposalWorld(t, s)
		if w.prod.RequiresApproval || w.prod.Approvals() != 1 || w.prod.ApprovalsRequired != 1 {
			t.Fatalf("new environment = %+v", w.prod)
		}
		before := must[core.Workspace](t)(s.GetWorkspace(ctx, w.org.ID, w.ws.ID))
		e := must[core.Environment](t)(s.UpdateEnvironment(ctx, adm, w.org.ID, w.ws.ID, w.prod.ID, func(e *core.Environment) error {
			e.RequiresApproval, e.ApprovalsRequired = true, 2
			return nil
		}))
		if !e.RequiresApproval || e.ApprovalsRequired != 2 || e.Name != "production" {
			t.Fatalf("updated = %+v", e)
		}
		ev := lastEvent(t, s, w.org.ID)
		if ev.Action != "environment.update" || ev.TargetID != w.prod.ID || ev.Details["requires_approval"] != true || ev.Details["approvals_required"] != float64(2) {
			t.Fatalf("event = %+v", ev)
		}
		// Every read of the workspace carries the rule: by id, listed, in facts.
		u := newUser(t, s, w.org.ID, "zed@acme.example.com")
		ws := must[core.Workspace](t)(s.GetWorkspace(ctx, w.org.ID, "marketing"))
		listed := must[[]core.Workspace](t)(s.ListWorkspaces(ctx, w.org.ID, store.Page{}))
		f := must[*core.Facts](t)(s.Facts(ctx, w.org.ID, u.ID, w.ws.ID))
		for name, got := range map[string]core.Workspace{"get": ws, "list": listed[0], "facts": f.Workspace} {
			if p := got.Environments[1]; !p.RequiresApproval || p.ApprovalsRequired != 2 || got.Environments[0].RequiresApproval {
				t.Fatalf("%s: environments %+v", name, got.Environments)
			}
		}
		if ws.Version != before.Version+1 {
			t.Fatalf("workspace version %d, was %d", ws.Version, before.Version)
		}
		// Nothing but the rule changes; a bad count and another org are refused.
		unchanged(t, s, w.org.ID, core.ErrInvalid, func() error {
			return second(s.UpdateEnvironment(ctx, adm, w.org.ID, w.ws.ID, w.prod.ID, func(e *core.Environment) error { e.Name = "prod"; return nil }))
		})
		for _, n := range []int{0, core.MaxApprovals + 1} {
			unchanged(t, s, w.org.ID, core.ErrInvalid, func() error {
				return second(s.UpdateEnvironment(ctx, adm, w.org.ID, w.ws.ID, w.prod.ID, func(e *core.Environment) error { e.ApprovalsRequired = n; return nil }))
			})
		}
		noop := func(e *core.Environment) error { return nil }
		unchanged(t, s, w.otherOrgID, core.ErrNotFound, func() error {
			return second(s.UpdateEnvironment(ctx, adm, w.otherOrgID, w.ws.ID, w.prod.ID, noop))
		})
		sales := newWorkspace(t, s, w.org.ID, "sales", "qa")
		unchanged(t, s, w.org.ID, core.ErrNotFound, func() error {
			return second(s.UpdateEnvironment(ctx, adm, w.org.ID, sales.ID, w.prod.ID, noop))
		})
		// A change that changes nothing writes nothing.
		n := auditCount(t, s, w.org.ID)
		must[core.Environment](t)(s.UpdateEnvironment(ctx, adm, w.org.ID, w.ws.ID, w.prod.ID, noop))
		if auditCount(t, s, w.org.ID) != n {
			t.Fatal("a no-op update was audited")
		}
	}},
	{"Org/AccessChangesRequireApproval", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		if o.AccessChangesRequireApproval {
			t.Fatal("a new org requires approval of access changes")
		}
		got := must[core.Org](t)(s.UpdateOrg(ctx, adm, o.ID, func(x *core.Org) error { x.AccessChangesRequireApproval = true; return nil }))
		if !got.AccessChangesRequireApproval || got.Version != o.Version+1 || got.Slug != "acme" {
			t.Fatalf("updated = %+v", got)
		}
		if e := lastEvent(t, s, o.ID); e.Action != "org.update" || e.Details["access_changes_require_approval"] != true {
			t.Fatalf("event = %+v", e)
		}
		if again := must[core.Org](t)(s.GetOrg(ctx, "acme")); !again.AccessChangesRequireApproval {
			t.Fatalf("read back = %+v", again)
		}
		unchanged(t, s, o.ID, core.ErrInvalid, func() error {
			return second(s.UpdateOrg(ctx, adm, o.ID, func(x *core.Org) error { x.Name = ""; return nil }))
		})
		wantErr(t, second(s.UpdateOrg(ctx, adm, "missing", func(*core.Org) error { return nil })), core.ErrNotFound)
	}},
	// An operation inside an operation is a savepoint: a change tried and taken back
	// (an access change's preview) leaves nothing, not even its event's seq, and the
	// outer operation's own changes stay.
	{"WithTx/NestedIsASavepoint", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		g := newGroup(t, s, o.ID, "eng")
		u := newUser(t, s, o.ID, "ann@acme.example.com")
		before := gen(t, s, o.ID)
		undo := errors.New("undo")
		err := s.WithTx(ctx, func(st store.Store) error {
			if err := st.AddGroupMember(ctx, adm, o.ID, g.ID, u.ID); err != nil {
				return err
			}
			err := st.WithTx(ctx, func(in store.Store) error {
				if err := in.RemoveGroupMember(ctx, adm, o.ID, g.ID, u.ID); err != nil {
					return err
				}
				if ms := must[[]core.Membership](t)(in.UserMemberships(ctx, o.ID, u.ID)); len(ms) != 0 {
					return fmt.Errorf("inside: still a member")
				}
				return undo
			})
			if !errors.Is(err, undo) {
				return fmt.Errorf("nested: %v", err)
			}
			if ms := must[[]core.Membership](t)(st.UserMemberships(ctx, o.ID, u.ID)); len(ms) != 1 {
				return fmt.Errorf("after the undone step: %d memberships", len(ms))
			}
			return nil
		})
		ok(t, err)
		if ms := must[[]core.Membership](t)(s.UserMemberships(ctx, o.ID, u.ID)); len(ms) != 1 {
			t.Fatalf("committed: %d memberships", len(ms))
		}
		if after := gen(t, s, o.ID); after != before+1 {
			t.Fatalf("generation %d → %d: the undone step left its seq", before, after)
		}
		if es := must[[]core.AuditEvent](t)(s.Changes(ctx, o.ID, before, 0)); len(es) != 1 || es[0].Action != "group.member.add" {
			t.Fatalf("change log after: %+v", es)
		}
	}},
	{"Preview/MemberSampleAndGroupWorkspaces", func(t *testing.T, s subject) {
		o, _ := newOrg(t, s, "acme")
		other, _ := newOrg(t, s, "other")
		eng, fin, idle := newGroup(t, s, o.ID, "eng"), newGroup(t, s, o.ID, "fin"), newGroup(t, s, o.ID, "idle")
		d := newDirectory(t, s, o.ID, "okta")
		var direct, viaIdP []string
		for i := range 6 {
			direct = append(direct, newUser(t, s, o.ID, fmt.Sprintf("d%d@acme.example.com", i)).ID)
			ok(t, s.AddGroupMember(ctx, adm, o.ID, eng.ID, direct[i]))
		}
		ig := must[core.IdPGroup](t)(s.CreateIdPGroup(ctx, adm, core.IdPGroup{OrgID: o.ID, DirectoryID: d.ID, ExternalID: "00g", DisplayName: "Data"}))
		for i := range 4 {
			viaIdP = append(viaIdP, newUser(t, s, o.ID, fmt.Sprintf("i%d@acme.example.com", i)).ID)
		}
		ok(t, s.ChangeIdPGroupMembers(ctx, adm, o.ID, ig.ID, append(viaIdP, direct[0]), nil))
		must[core.Mapping](t)(s.CreateMapping(ctx, adm, core.Mapping{OrgID: o.ID, DirectoryID: d.ID, IdPGroup: "data", UserGroupID: fin.ID}))
		// Members of both groups, each once: six direct, four more through the IdP group.
		all, total := must2[string](t, "sample")(s.MemberSample(ctx, o.ID, []string{eng.ID, fin.ID}, 100))
		if total != 10 || !sameSet(all, append(slices.Clone(direct), viaIdP...)) {
			t.Fatalf("sample %v of %d", all, total)
		}
		some, total := must2[string](t, "sample")(s.MemberSample(ctx, o.ID, []string{eng.ID, fin.ID}, 3))
		if total != 10 || len(some) != 3 || !slices.Equal(some, all[:3]) {
			t.Fatalf("bounded sample %v of %d (all %v)", some, total, all)
		}
		if ids, n := must2[string](t, "none")(s.MemberSample(ctx, o.ID, []string{idle.ID}, 10)); n != 0 || len(ids) != 0 {
			t.Fatalf("idle group: %v %d", ids, n)
		}
		if ids, n := must2[string](t, "other org")(s.MemberSample(ctx, other.ID, []string{eng.ID, fin.ID}, 10)); n != 0 || len(ids) != 0 {
			t.Fatalf("another org samples %v %d", ids, n)
		}
		// Workspaces where the groups hold grants or see spaces.
		w1 := newWorkspace(t, s, o.ID, "one", "prod")
		w2 := newWorkspace(t, s, o.ID, "two", "prod")
		newWorkspace(t, s, o.ID, "three", "prod")
		must[core.Grant](t)(s.CreateGrant(ctx, adm, core.Grant{OrgID: o.ID, UserGroupID: eng.ID, WorkspaceID: w1.ID, Role: core.RoleViewer}))
		sp := must[core.Space](t)(s.CreateSpace(ctx, adm, o.ID, w2.ID, "Finance"))
		ok(t, s.AssignSpace(ctx, adm, o.ID, w2.ID, sp.ID, fin.ID))
		want := []string{w1.ID, w2.ID}
		slices.Sort(want)
		if got := must[[]string](t)(s.GroupWorkspaces(ctx, o.ID, []string{eng.ID, fin.ID, idle.ID})); !slices.Equal(got, want) {
			t.Fatalf("workspaces %v, want %v", got, want)
		}
		if got := must[[]string](t)(s.GroupWorkspaces(ctx, other.ID, []string{eng.ID})); len(got) != 0 {
			t.Fatalf("another org: %v", got)
		}
		must[core.Resource](t)(s.CreateResource(ctx, adm, o.ID, core.Resource{WorkspaceID: w1.ID, Type: core.TypeModel, ExternalID: "m"}))
		if n := must[int](t)(s.CountResources(ctx, o.ID, w1.ID)); n != 1 {
			t.Fatalf("count %d", n)
		}
		if n := must[int](t)(s.CountResources(ctx, other.ID, w1.ID)); n != 0 {
			t.Fatalf("another org counts %d", n)
		}
	}},
}
