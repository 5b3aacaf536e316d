package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// team is a workspace "analytics" (development → production) with a registered
// model m-1 in production and people holding every kind of role: Dana a Draft
// Contributor, Paul and Pia Editors (publishers), Vic a Viewer, Eve an Editor in
// development only, and Oscar an Editor of another workspace, "sales".
type team struct {
	*apitest.Env
	dana, paul, pia, vic, eve, oscar core.User
}

func newTeam(t *testing.T, b storetest.Backend) *team {
	e := apitest.NewEnv(t, b)
	tm := &team{Env: e}
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "analytics", "environments": []string{"development", "production"}}).Want(t, 201)
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"production"}}).Want(t, 201)
	grant := func(u core.User, ws, role string, envs ...string) {
		g := "g-" + u.UserName
		e.API("POST", "/api/v1/groups", map[string]any{"name": g}).Want(t, 201)
		e.API("PUT", "/api/v1/groups/"+g+"/members/"+u.ID, nil).Want(t, 204)
		body := map[string]any{"group": g, "workspace": ws, "role": role}
		if len(envs) > 0 {
			body["environments"] = envs
		}
		e.API("POST", "/api/v1/grants", body).Want(t, 201)
	}
	tm.dana, tm.paul, tm.pia, tm.vic, tm.eve, tm.oscar = e.User("dana"), e.User("paul"), e.User("pia"), e.User("vic"), e.User("eve"), e.User("oscar")
	grant(tm.dana, "analytics", "draft_contributor")
	grant(tm.paul, "analytics", "editor")
	grant(tm.pia, "analytics", "editor")
	grant(tm.vic, "analytics", "viewer")
	grant(tm.eve, "analytics", "editor", "development")
	grant(tm.oscar, "sales", "editor")
	e.API("POST", "/api/v1/workspaces/analytics/resources", map[string]any{"type": "model", "id": "m-1", "name": "Churn", "environment": "production"}).Want(t, 201)
	return tm
}

// propose opens a proposal through opts (a session, or the token with "author").
func (tm *team) propose(t *testing.T, body map[string]any, opts ...apitest.ReqOpt) apitest.Resp {
	t.Helper()
	if len(opts) == 0 {
		return tm.API("POST", "/api/v1/proposals", body)
	}
	return apitest.Call(t, tm.Srv.URL, "POST", "/api/v1/proposals", body, opts...)
}

func (tm *team) as(u core.User, method, path string, body any) apitest.Resp {
	return apitest.Call(tm.T, tm.Srv.URL, method, path, body, tm.Session(u))
}

func editM1(title string) map[string]any {
	return map[string]any{"workspace": "analytics", "action": "edit", "resource": map[string]any{"type": "model", "id": "m-1"},
		"title": title, "description": "tighten the churn window",
		"payload": map[string]any{"before": map[string]any{"window_days": 90}, "after": map[string]any{"window_days": 30}}}
}

// wantRefused checks a 403 problem carrying the decision's reason and explanation.
func wantRefused(t *testing.T, r apitest.Resp, reason string, inChain ...string) {
	t.Helper()
	if r.Status != http.StatusForbidden || r.Str("reason") != reason {
		t.Fatalf("want 403 %s: %d %s", reason, r.Status, r.Raw)
	}
	chain, _ := r.Body["explanation"].([]any)
	if len(chain) == 0 {
		t.Fatalf("refusal without explanation: %s", r.Raw)
	}
	for _, s := range inChain {
		if !strings.Contains(string(r.Raw), s) {
			t.Fatalf("explanation lacks %q: %s", s, r.Raw)
		}
	}
}

// TestDraftContributorProposalReviewed is the first "done" case: a Draft
// Contributor's proposal is refused to its author, a Viewer, a reviewer of
// another workspace and one of another environment, and approved by a publisher;
// the application reports it applied; its page shows reviews and history.
func TestDraftContributorProposalReviewed(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		tm := newTeam(t, b)
		p := tm.propose(t, editM1("Shorter churn window"), tm.Session(tm.dana)).Want(t, 201)
		id := p.Str("id")
		if p.Str("state") != "open" || p.Str("decision", "decision") != "draft_only" || p.Str("environment") != "production" ||
			p.Str("author", "id") != tm.dana.ID || p.Body["approvals_required"] != float64(1) || p.Body["stale"] != false {
			t.Fatalf("proposal: %s", p.Raw)
		}
		approve := func(opt apitest.ReqOpt, reviewer string) apitest.Resp {
			body := map[string]any{"comment": "ok"}
			if reviewer != "" {
				body["reviewer"] = reviewer
			}
			return apitest.Call(t, tm.Srv.URL, "POST", "/api/v1/proposals/"+id+"/approve", body, opt)
		}
		tok := apitest.WithToken(tm.Token)
		// The author, a Viewer, another workspace's Editor and development's Editor
		// may not approve; each refusal explains itself.
		wantRefused(t, approve(tm.Session(tm.dana), ""), "own_proposal", "their own proposal")
		wantRefused(t, approve(tm.Session(tm.vic), ""), core.ReasonRoleForbids, "Viewer is read-only")
		wantRefused(t, approve(tok, "oscar@acme.test"), core.ReasonNoGrant, "has a grant in workspace analytics")
		wantRefused(t, approve(tok, tm.eve.ID), core.ReasonEnvironment, "production")
		// Oscar's own session cannot even see the proposal: another workspace's.
		approve(tm.Session(tm.oscar), "").Want(t, 404)
		tm.as(tm.oscar, "GET", "/api/v1/proposals/"+id, nil).Want(t, 404)
		if l := tm.as(tm.oscar, "GET", "/api/v1/proposals", nil).Want(t, 200); len(l.Items()) != 0 {
			t.Fatalf("oscar lists %s", l.Raw)
		}
		// A person acts as themselves; a token must name the reviewer.
		approve(tm.Session(tm.paul), "pia@acme.test").Want(t, 403)
		approve(tok, "").Want(t, 422)
		approve(tok, "nobody@acme.test").Want(t, 422)
		if g := tm.API("GET", "/api/v1/proposals/"+id, nil).Want(t, 200); g.Str("state") != "open" || g.Body["approvals"] != float64(0) {
			t.Fatalf("after refusals: %s", g.Raw)
		}
		// A publisher approves, with the chain of their publish right.
		a := approve(tm.Session(tm.paul), "").Want(t, 200)
		if a.Str("state") != "approved" || a.Str("decision", "decision") != "allow" || !strings.Contains(string(a.Raw), "Editor may publish") {
			t.Fatalf("approved: %s", a.Raw)
		}
		approve(tm.Session(tm.pia), "").Want(t, 409)
		apitest.Call(t, tm.Srv.URL, "POST", "/api/v1/proposals/"+id+"/withdraw", nil, tm.Session(tm.dana)).Want(t, 409)
		// Only org admins (the application's token) report.
		apitest.Call(t, tm.Srv.URL, "POST", "/api/v1/proposals/"+id+"/applied", map[string]any{"reference": "deploy-7"}, tm.Session(tm.paul)).Want(t, 403)
		done := tm.API("POST", "/api/v1/proposals/"+id+"/applied", map[string]any{"reference": "deploy-7"}).Want(t, 200)
		if done.Str("state") != "applied" || done.Str("reference") != "deploy-7" {
			t.Fatalf("applied: %s", done.Raw)
		}
		tm.API("POST", "/api/v1/proposals/"+id+"/failed", map[string]any{"message": "late"}).Want(t, 409)
		g := tm.as(tm.dana, "GET", "/api/v1/proposals/"+id, nil).Want(t, 200)
		var history []string
		for _, e := range g.Body["history"].([]any) {
			history = append(history, e.(map[string]any)["action"].(string))
		}
		reviews := g.Body["reviews"].([]any)
		if strings.Join(history, " ") != "proposal.create proposal.approve proposal.apply" || len(reviews) != 1 ||
			reviews[0].(map[string]any)["reviewer"].(map[string]any)["id"] != tm.paul.ID ||
			!strings.Contains(string(g.Raw), `"window_days":30`) {
			t.Fatalf("detail: %s", g.Raw)
		}

		// A Viewer may not propose, a Draft Contributor may not propose to run;
		// each with the decision's explanation.
		wantRefused(t, tm.propose(t, editM1("x"), tm.Session(tm.vic)), core.ReasonRoleForbids, "read-only")
		run := editM1("run it")
		run["action"] = "run"
		wantRefused(t, tm.propose(t, run, tm.Session(tm.dana)), core.ReasonRoleForbids)
		// A token proposes on behalf of a named author, never as itself.
		tm.propose(t, editM1("by token")).Want(t, 422)
		byTok := editM1("by token")
		byTok["author"] = "dana@acme.test"
		bt := tm.propose(t, byTok).Want(t, 201)
		if bt.Str("author", "id") != tm.dana.ID {
			t.Fatalf("author: %s", bt.Raw)
		}
		// A person names no one else.
		byTok["author"] = "paul@acme.test"
		tm.propose(t, byTok, tm.Session(tm.dana)).Want(t, 403)
		// Bad input changes nothing.
		n := len(tm.API("GET", "/api/v1/proposals", nil).Want(t, 200).Items())
		for name, body := range map[string]map[string]any{
			"no title":       {"workspace": "analytics", "action": "edit", "resource": map[string]any{"type": "model", "id": "m-1"}},
			"bad action":     {"workspace": "analytics", "action": "publish", "resource": map[string]any{"type": "model", "id": "m-1"}, "title": "x"},
			"unregistered":   {"workspace": "analytics", "action": "edit", "resource": map[string]any{"type": "model", "id": "m-9"}, "title": "x"},
			"bad env":        {"workspace": "analytics", "environment": "qa", "action": "create", "resource": map[string]any{"type": "model"}, "title": "x"},
			"wrong env":      {"workspace": "analytics", "environment": "development", "action": "edit", "resource": map[string]any{"type": "model", "id": "m-1"}, "title": "x"},
			"access by hand": {"kind": "access", "workspace": "analytics", "action": "edit", "resource": map[string]any{"type": "model", "id": "m-1"}, "title": "x"},
			"huge payload":   {"workspace": "analytics", "action": "edit", "resource": map[string]any{"type": "model", "id": "m-1"}, "title": "x", "payload": strings.Repeat("x", 300<<10)},
		} {
			r := tm.propose(t, body, tm.Session(tm.dana))
			if r.Status != 422 || r.Str("detail") == "" {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		tm.propose(t, map[string]any{"workspace": "nope", "action": "create", "resource": map[string]any{"type": "model"}, "title": "x"}, tm.Session(tm.dana)).Want(t, 404)
		if m := len(tm.API("GET", "/api/v1/proposals", nil).Want(t, 200).Items()); m != n {
			t.Fatalf("refused proposals were stored: %d → %d", n, m)
		}

		// A create names the type; the author withdraws it; a stale edit says so.
		c := tm.propose(t, map[string]any{"workspace": "analytics", "environment": "production", "action": "create",
			"resource": map[string]any{"type": "audience"}, "title": "New audience"}, tm.Session(tm.dana)).Want(t, 201)
		tm.as(tm.paul, "POST", "/api/v1/proposals/"+c.Str("id")+"/withdraw", nil).Want(t, 403)
		if wd := tm.as(tm.dana, "POST", "/api/v1/proposals/"+c.Str("id")+"/withdraw", nil).Want(t, 200); wd.Str("state") != "withdrawn" {
			t.Fatalf("withdrawn: %s", wd.Raw)
		}
		tm.API("PATCH", "/api/v1/workspaces/analytics/resources/model:m-1", map[string]any{"name": "Churn v2"}).Want(t, 200)
		if s := tm.API("GET", "/api/v1/proposals/"+bt.Str("id"), nil).Want(t, 200); s.Body["stale"] != true || !strings.Contains(s.Str("stale_reason"), "changed") {
			t.Fatalf("stale: %s", s.Raw)
		}
		// Filters.
		for q, want := range map[string]int{"?state=open": 1, "?state=applied": 1, "?author=dana@acme.test": 3, "?author=paul@acme.test": 0,
			"?resource=model:m-1": 2, "?workspace=analytics&environment=production": 3, "?kind=promote": 0, "?workspace=sales": 0} {
			if got := len(tm.API("GET", "/api/v1/proposals"+q, nil).Want(t, 200).Items()); got != want {
				t.Errorf("GET /proposals%s: %d, want %d", q, got, want)
			}
		}
		tm.API("GET", "/api/v1/proposals?state=merged", nil).Want(t, 400)
		tm.API("GET", "/api/v1/proposals?environment=production", nil).Want(t, 400)
		// Every transition is an event of the log.
		var actions []string
		for _, e := range tm.API("GET", "/api/v1/audit?action=proposal.", nil).Want(t, 200).Items() {
			actions = append(actions, e["action"].(string))
		}
		slices.Sort(actions)
		if got := strings.Join(slices.Compact(actions), " "); got != "proposal.apply proposal.approve proposal.create proposal.withdraw" {
			t.Fatalf("proposal events: %s", got)
		}
	})
}

// TestEnvironmentRuleMakesEditorsPropose: an environment that requires approval
// turns an Editor's change there into draft_only (with the rule in the
// explanation), refuses it as a direct change, accepts it as a proposal, and
// counts the approvals the environment asks for.
func TestEnvironmentRuleMakesEditorsPropose(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		tm := newTeam(t, b)
		check := func() apitest.Resp {
			return tm.API("POST", "/api/v1/check", map[string]any{"user": tm.paul.ID, "workspace": "analytics", "action": "edit",
				"resource": map[string]any{"type": "model", "id": "m-1"}}).Want(t, 200)
		}
		if d := check(); d.Str("decision") != "allow" {
			t.Fatalf("before the rule: %s", d.Raw)
		}
		// Only those who manage the workspace's access set the rule; bad input is refused.
		tm.as(tm.paul, "PATCH", "/api/v1/workspaces/analytics/environments/production", map[string]any{"requires_approval": true}).Want(t, 403)
		tm.API("PATCH", "/api/v1/workspaces/analytics/environments/production", map[string]any{"approvals_required": 0}).Want(t, 422)
		tm.API("PATCH", "/api/v1/workspaces/analytics/environments/production", map[string]any{}).Want(t, 422)
		tm.API("PATCH", "/api/v1/workspaces/analytics/environments/qa", map[string]any{"requires_approval": true}).Want(t, 404)
		e := tm.API("PATCH", "/api/v1/workspaces/analytics/environments/production", map[string]any{"requires_approval": true, "approvals_required": 2}).Want(t, 200)
		if e.Body["requires_approval"] != true || e.Body["approvals_required"] != float64(2) {
			t.Fatalf("environment: %s", e.Raw)
		}
		d := check()
		if d.Str("decision") != "draft_only" || d.Str("reason") != core.ReasonApprovalRequired || !strings.Contains(string(d.Raw), "production requires approval for every change") {
			t.Fatalf("after the rule: %s", d.Raw)
		}
		if got := apitest.ChainKinds(d.Body); got[len(got)-1] != "environment" {
			t.Fatalf("chain %v", got)
		}
		// Paul's direct change is refused with the rule; his proposal is accepted.
		r := tm.as(tm.paul, "PATCH", "/api/v1/workspaces/analytics/resources/model:m-1", map[string]any{"name": "x"})
		wantRefused(t, r, core.ReasonApprovalRequired, "requires approval")
		p := tm.propose(t, editM1("Editor's change"), tm.Session(tm.paul)).Want(t, 201)
		if p.Str("decision", "reason") != core.ReasonApprovalRequired || p.Body["approvals_required"] != float64(2) {
			t.Fatalf("proposal: %s", p.Raw)
		}
		id := p.Str("id")
		// Publishing stays allowed, so Editors review each other; two approvals.
		one := tm.as(tm.pia, "POST", "/api/v1/proposals/"+id+"/approve", map[string]any{"comment": "first"}).Want(t, 200)
		if one.Str("state") != "open" || one.Body["approvals"] != float64(1) {
			t.Fatalf("one approval of two: %s", one.Raw)
		}
		tm.as(tm.pia, "POST", "/api/v1/proposals/"+id+"/approve", nil).Want(t, 409)
		two := tm.API("POST", "/api/v1/proposals/"+id+"/approve", map[string]any{"reviewer": "admin@acme.test"})
		wantRefused(t, two, core.ReasonNoGrant) // the org admin holds no role in analytics: no publish right
		tm.API("POST", "/api/v1/proposals", nil).Want(t, 400)
		grantAdmin := tm.User("ada")
		tm.API("POST", "/api/v1/groups", map[string]any{"name": "leads"}).Want(t, 201)
		tm.API("PUT", "/api/v1/groups/leads/members/"+grantAdmin.ID, nil).Want(t, 204)
		tm.API("POST", "/api/v1/grants", map[string]any{"group": "leads", "workspace": "analytics", "role": "admin"}).Want(t, 201)
		if done := tm.as(grantAdmin, "POST", "/api/v1/proposals/"+id+"/reject", map[string]any{"comment": "not now"}).Want(t, 200); done.Str("state") != "rejected" {
			t.Fatalf("rejected: %s", done.Raw)
		}
		// Development has no rule.
		dev := tm.API("POST", "/api/v1/check", map[string]any{"user": tm.paul.ID, "workspace": "analytics", "environment": "development",
			"action": "create", "resource": map[string]any{"type": "model"}}).Want(t, 200)
		if dev.Str("decision") != "allow" {
			t.Fatalf("development: %s", dev.Raw)
		}
		if ev := tm.API("GET", "/api/v1/audit?action=environment.update", nil).Want(t, 200).Items(); len(ev) != 1 {
			t.Fatalf("environment events: %v", ev)
		}
	})
}

// TestPromotionAlongThePath: a promotion goes to the next environment of the
// path, and is reviewed by someone who may publish in the target.
func TestPromotionAlongThePath(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewEnv(t, b)
		e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "growth", "environments": []string{"development", "staging", "production"}}).Want(t, 201)
		dana, sam, eve := e.User("dana"), e.User("sam"), e.User("eve")
		for _, g := range []struct {
			u     core.User
			role  string
			envs  []string
			group string
		}{{dana, "draft_contributor", nil, "drafters"}, {sam, "editor", []string{"staging"}, "stagers"}, {eve, "editor", []string{"development"}, "devs"}} {
			e.API("POST", "/api/v1/groups", map[string]any{"name": g.group}).Want(t, 201)
			e.API("PUT", "/api/v1/groups/"+g.group+"/members/"+g.u.ID, nil).Want(t, 204)
			body := map[string]any{"group": g.group, "workspace": "growth", "role": g.role}
			if g.envs != nil {
				body["environments"] = g.envs
			}
			e.API("POST", "/api/v1/grants", body).Want(t, 201)
		}
		e.API("POST", "/api/v1/workspaces/growth/resources", map[string]any{"type": "sync", "id": "sy-1", "environment": "development"}).Want(t, 201)
		e.API("PATCH", "/api/v1/workspaces/growth/environments/staging", map[string]any{"approvals_required": 1}).Want(t, 200)
		promote := func(from, to string) apitest.Resp {
			return apitest.Call(t, e.Srv.URL, "POST", "/api/v1/proposals", map[string]any{"kind": "promote", "workspace": "growth",
				"resource": map[string]any{"type": "sync", "id": "sy-1"}, "from": from, "to": to, "title": "Promote sy-1",
				"payload": map[string]any{"schedule": "hourly"}}, e.Session(dana))
		}
		// Not skipping a step, not backwards, not from where the resource is not.
		for _, bad := range [][2]string{{"development", "production"}, {"staging", "development"}, {"staging", "production"}, {"development", "development"}, {"development", "qa"}} {
			if r := promote(bad[0], bad[1]); r.Status != 422 {
				t.Errorf("promote %s → %s: %d %s", bad[0], bad[1], r.Status, r.Raw)
			}
		}
		p := promote("development", "staging").Want(t, 201)
		if p.Str("kind") != "promote" || p.Str("from") != "development" || p.Str("to") != "staging" || p.Str("decision", "decision") != "draft_only" {
			t.Fatalf("promotion: %s", p.Raw)
		}
		id := p.Str("id")
		// Development's Editor may not publish in staging; staging's may.
		wantRefused(t, apitest.Call(t, e.Srv.URL, "POST", "/api/v1/proposals/"+id+"/approve", nil, e.Session(eve)), core.ReasonEnvironment, "staging")
		a := apitest.Call(t, e.Srv.URL, "POST", "/api/v1/proposals/"+id+"/approve", nil, e.Session(sam)).Want(t, 200)
		if a.Str("state") != "approved" {
			t.Fatalf("approved: %s", a.Raw)
		}
		if l := e.API("GET", "/api/v1/proposals?workspace=growth&environment=staging&kind=promote", nil).Want(t, 200).Items(); len(l) != 1 {
			t.Fatalf("listed by target: %v", l)
		}
	})
}

// TestRacingReviewersGiveOneOutcome: reviewers approving and rejecting one
// proposal at once through the API give one outcome; the others get 409.
func TestRacingReviewersGiveOneOutcome(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		tm := newTeam(t, b)
		var reviewers []core.User
		tm.API("POST", "/api/v1/groups", map[string]any{"name": "publishers"}).Want(t, 201)
		tm.API("POST", "/api/v1/grants", map[string]any{"group": "publishers", "workspace": "analytics", "role": "editor"}).Want(t, 201)
		for i := range 10 {
			u := tm.User(fmt.Sprintf("rev%d", i))
			tm.API("PUT", "/api/v1/groups/publishers/members/"+u.ID, nil).Want(t, 204)
			reviewers = append(reviewers, u)
		}
		for round := range 3 {
			id := tm.propose(t, editM1(fmt.Sprintf("race %d", round)), tm.Session(tm.dana)).Want(t, 201).Str("id")
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				codes = map[int]int{}
				won   string
			)
			start := make(chan struct{})
			for i, u := range reviewers {
				verb := "approve"
				if i%2 == 1 {
					verb = "reject"
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					r := apitest.Call(t, tm.Srv.URL, "POST", "/api/v1/proposals/"+id+"/"+verb, map[string]any{"reviewer": u.ID}, apitest.WithToken(tm.Token))
					mu.Lock()
					defer mu.Unlock()
					codes[r.Status]++
					if r.Status == 200 {
						won = r.Str("state")
					}
				}()
			}
			close(start)
			wg.Wait()
			if codes[200] != 1 || codes[409] != len(reviewers)-1 {
				t.Fatalf("round %d: statuses %v", round, codes)
			}
			g := tm.API("GET", "/api/v1/proposals/"+id, nil).Want(t, 200)
			if g.Str("state") != won || len(g.Body["reviews"].([]any)) != 1 {
				t.Fatalf("round %d: the winner saw %s; %s", round, won, g.Raw)
			}
		}
	})
}

// TestProposalsAcrossOrgs: another org sees and touches none of them.
func TestProposalsAcrossOrgs(t *testing.T) {
	tm := newTeam(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
	id := tm.propose(t, editM1("ours"), tm.Session(tm.dana)).Want(t, 201).Str("id")
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem}
	other, _, err := tm.St.CreateOrg(ctx, sys, "globex", "Globex", "admin@globex.test")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := tm.St.CreateToken(ctx, sys, other.ID, "api", "theirs", "")
	if err != nil {
		t.Fatal(err)
	}
	theirs := apitest.WithToken(secret)
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/proposals/" + id}, {"POST", "/api/v1/proposals/" + id + "/approve"},
		{"POST", "/api/v1/proposals/" + id + "/withdraw"}, {"POST", "/api/v1/proposals/" + id + "/applied"}} {
		if r := apitest.Call(t, tm.Srv.URL, c.method, c.path, map[string]any{}, theirs); r.Status != 404 && r.Status != 422 {
			t.Errorf("%s %s from another org: %d %s", c.method, c.path, r.Status, r.Raw)
		}
	}
	if l := apitest.Call(t, tm.Srv.URL, "GET", "/api/v1/proposals", nil, theirs).Want(t, 200); len(l.Items()) != 0 {
		t.Fatalf("another org lists %s", l.Raw)
	}
	if g := tm.API("GET", "/api/v1/proposals/"+id, nil).Want(t, 200); g.Str("state") != "open" {
		t.Fatalf("after another org's attempts: %s", g.Raw)
	}
}
