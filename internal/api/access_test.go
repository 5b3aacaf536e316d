package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// accessWorld has two workspaces, a space, resources in each environment, users
// in groups directly and through an IdP group, and every kind of grant.
type accessWorld struct {
	*apitest.Env
	users   []core.User
	dir     string
	mapping string // Data Eng → engineers
}

func newAccessWorld(t *testing.T, b storetest.Backend) *accessWorld {
	e := apitest.NewEnv(t, b)
	w := &accessWorld{Env: e}
	ctx := context.Background()
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "analytics", "environments": []string{"development", "production"}}).Want(t, 201)
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"production"}}).Want(t, 201)
	for i := 1; i <= 6; i++ {
		w.users = append(w.users, e.User(fmt.Sprintf("u%d", i)))
	}
	u := func(i int) string { return w.users[i-1].ID }
	for _, g := range []string{"engineers", "analysts", "finance", "viewers"} {
		e.API("POST", "/api/v1/groups", map[string]any{"name": g}).Want(t, 201)
	}
	w.dir = e.API("POST", "/api/v1/directories", map[string]any{"name": "okta"}).Want(t, 201).Str("directory", "id")
	idp, err := e.St.CreateIdPGroup(ctx, apitest.SCIMActor, core.IdPGroup{OrgID: e.Org.ID, DirectoryID: w.dir, ExternalID: "00g1", DisplayName: "Data Eng"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.St.ChangeIdPGroupMembers(ctx, apitest.SCIMActor, e.Org.ID, idp.ID, []string{u(1), u(2), u(3)}, nil); err != nil {
		t.Fatal(err)
	}
	w.mapping = e.API("POST", "/api/v1/mappings", map[string]any{"directory": "okta", "idp_group": "Data Eng", "group": "engineers"}).Want(t, 201).Str("id")
	for g, members := range map[string][]int{"analysts": {4, 5}, "finance": {5, 6}, "viewers": {6}} {
		for _, m := range members {
			e.API("PUT", "/api/v1/groups/"+g+"/members/"+u(m), nil).Want(t, 204)
		}
	}
	e.API("POST", "/api/v1/roles", map[string]any{"name": "Model Owner", "rules": []map[string]any{
		{"actions": []string{"edit", "publish"}, "resource_type": "model"}}}).Want(t, 201)
	for _, g := range []map[string]any{
		{"group": "engineers", "workspace": "analytics", "role": "editor", "environments": []string{"development"}},
		{"group": "analysts", "workspace": "analytics", "role": "draft_contributor"},
		{"group": "viewers", "workspace": "analytics", "role": "viewer"},
		{"group": "finance", "workspace": "analytics", "role": "Model Owner", "environments": []string{"production"}},
		{"group": "analysts", "workspace": "sales", "role": "viewer"},
	} {
		e.API("POST", "/api/v1/grants", g).Want(t, 201)
	}
	e.API("POST", "/api/v1/workspaces/analytics/spaces", map[string]any{"name": "Finance"}).Want(t, 201)
	e.API("PUT", "/api/v1/workspaces/analytics/spaces/Finance/groups/finance", nil).Want(t, 204)
	for _, r := range []map[string]any{
		{"type": "model", "id": "m-1", "environment": "production"},
		{"type": "model", "id": "m-2", "environment": "development", "space": "Finance"},
		{"type": "model", "id": "m-3", "environment": "production", "space": "Finance"},
		{"type": "source", "id": "s-1", "environment": "development"},
		{"type": "sync", "id": "sy-1", "environment": "production"},
	} {
		e.API("POST", "/api/v1/workspaces/analytics/resources", r).Want(t, 201)
	}
	e.API("POST", "/api/v1/workspaces/sales/resources", map[string]any{"type": "destination", "id": "d-1", "environment": "production"}).Want(t, 201)
	return w
}

// measured is every decision on every registered resource for every user, and
// every role of every user, as the API answers them.
type measured struct {
	effects map[string]string // "user|ws|type:id|action" → effect
	roles   map[string]bool   // "user|ws|env|role"
	admins  map[string]bool
}

func (w *accessWorld) measure(t *testing.T) measured {
	t.Helper()
	m := measured{effects: map[string]string{}, roles: map[string]bool{}, admins: map[string]bool{}}
	users := append([]core.User{w.Admin}, w.users...)
	var checks []map[string]any
	var keys []string
	for _, ws := range []string{"analytics", "sales"} {
		for _, r := range w.API("GET", "/api/v1/workspaces/"+ws+"/resources", nil).Want(t, 200).Items() {
			for _, u := range users {
				for _, a := range core.Actions {
					checks = append(checks, map[string]any{"user": u.ID, "workspace": ws, "action": a,
						"resource": map[string]any{"type": r["type"], "id": r["external_id"]}})
					keys = append(keys, fmt.Sprintf("%s|%s|%s:%s|%s", u.ID, ws, r["type"], r["external_id"], a))
				}
			}
		}
	}
	res := w.API("POST", "/api/v1/check/batch", map[string]any{"checks": checks}).Want(t, 200)
	for i, d := range res.Body["results"].([]any) {
		m.effects[keys[i]] = d.(map[string]any)["decision"].(string)
	}
	for _, u := range users {
		am := w.API("GET", "/api/v1/users/"+u.ID+"/access", nil).Want(t, 200)
		for _, wa := range am.Body["workspaces"].([]any) {
			wa := wa.(map[string]any)
			slug := wa["workspace"].(map[string]any)["slug"].(string)
			for _, ea := range wa["environments"].([]any) {
				ea := ea.(map[string]any)
				for _, rg := range ea["roles"].([]any) {
					m.roles[u.ID+"|"+slug+"|"+ea["environment"].(string)+"|"+rg.(map[string]any)["role"].(string)] = true
				}
			}
		}
	}
	for _, a := range w.API("GET", "/api/v1/org/admins", nil).Want(t, 200).Items() {
		m.admins[a["id"].(string)] = true
	}
	return m
}

// TestAccessPreviewEqualsMeasuredDecisions: for each kind of access change, the
// dry run changes nothing, and its diff is exactly what /check/batch and
// /users/{id}/access answer differently after the change is made.
func TestAccessPreviewEqualsMeasuredDecisions(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newAccessWorld(t, b)
		ctx := context.Background()
		u := func(i int) string { return w.users[i-1].ID }
		role := func(name string) string {
			return w.API("GET", "/api/v1/roles/"+strings.ReplaceAll(name, " ", "%20"), nil).Want(t, 200).Str("id")
		}
		grantOf := func(group, ws string) string {
			for _, g := range w.API("GET", "/api/v1/grants?group="+group+"&workspace="+ws, nil).Want(t, 200).Items() {
				return g["id"].(string)
			}
			t.Fatalf("no grant of %s in %s", group, ws)
			return ""
		}
		changes := []struct {
			name         string
			method, path string
			body         func() any
			wantFlips    bool
			wantRoles    bool
		}{
			{"grant.create", "POST", "/api/v1/grants", func() any {
				return map[string]any{"group": "analysts", "workspace": "analytics", "role": "admin", "environments": []string{"production"}}
			}, true, true},
			{"grant.delete", "DELETE", "", nil, true, true},
			{"mapping.create", "POST", "/api/v1/mappings", func() any {
				return map[string]any{"directory": "okta", "idp_group": "00g1", "group": "finance"}
			}, true, true},
			{"mapping.delete", "DELETE", "/api/v1/mappings/" + w.mapping, nil, false, false}, // engineers lost their grant above
			{"membership.add", "PUT", "/api/v1/groups/finance/members/" + u(4), nil, true, true},
			{"membership.remove", "DELETE", "/api/v1/groups/analysts/members/" + u(5), nil, true, true},
			{"custom_role.update", "PATCH", "", func() any {
				return map[string]any{"rules": []map[string]any{{"actions": []string{"delete"}, "resource_type": "model"}}}
			}, true, false},
			{"org_admin.add", "PUT", "/api/v1/org/admins/" + u(1), nil, false, true},
			{"custom_role.delete", "DELETE", "", nil, true, true},
		}
		var flipsSeen int
		for _, ch := range changes {
			path := ch.path
			switch ch.name {
			case "grant.delete":
				path = "/api/v1/grants/" + grantOf("engineers", "analytics")
			case "custom_role.update", "custom_role.delete":
				path = "/api/v1/roles/" + role("Model Owner")
			}
			var body any
			if ch.body != nil {
				body = ch.body()
			}
			before := w.measure(t)
			gen, err := w.St.OrgGeneration(ctx, w.Org.ID)
			if err != nil {
				t.Fatal(err)
			}
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			pv := w.API(ch.method, path+sep+"dry_run=true", body).Want(t, 200)
			if now, _ := w.St.OrgGeneration(ctx, w.Org.ID); now != gen {
				t.Fatalf("%s: the dry run changed the org (generation %d → %d)", ch.name, gen, now)
			}
			if again := w.measure(t); !equalMeasures(before, again) {
				t.Fatalf("%s: the dry run changed decisions", ch.name)
			}
			if pv.Body["dry_run"] != true || pv.Str("change", "op") != ch.name {
				t.Fatalf("%s: preview %s", ch.name, pv.Raw)
			}
			if r := w.API(ch.method, path, body); r.Status >= 300 {
				t.Fatalf("%s: %d %s", ch.name, r.Status, r.Raw)
			}
			after := w.measure(t)

			diff := pv.Body["diff"].(map[string]any)
			if diff["estimated"] != false {
				t.Fatalf("%s: a small world's preview is estimated: %s", ch.name, pv.Raw)
			}
			// Decisions: the count and every sampled flip are what was measured.
			var flips []string
			for k, was := range before.effects {
				if now := after.effects[k]; now != was {
					flips = append(flips, k+"|"+was+"|"+now)
				}
			}
			decs := diff["decisions"].(map[string]any)
			var sample []string
			for _, f := range decs["sample"].([]any) {
				f := f.(map[string]any)
				res := f["resource"].(map[string]any)
				sample = append(sample, fmt.Sprintf("%s|%s|%s:%s|%s|%s|%s", f["user"].(map[string]any)["id"], f["workspace"],
					res["type"], res["id"], f["action"], f["before"], f["after"]))
			}
			if int(decs["count"].(float64)) != len(flips) {
				t.Fatalf("%s: preview counts %v flips, measured %d:\n%s\npreview %s", ch.name, decs["count"], len(flips), strings.Join(flips, "\n"), pv.Raw)
			}
			for _, s := range sample {
				if !slices.Contains(flips, s) {
					t.Fatalf("%s: preview flip %s was not measured:\n%s", ch.name, s, strings.Join(flips, "\n"))
				}
			}
			if len(flips) <= 20 && len(sample) != len(flips) {
				t.Fatalf("%s: sample %d of %d flips", ch.name, len(sample), len(flips))
			}
			if ch.wantFlips != (len(flips) > 0) {
				t.Fatalf("%s: %d flips measured", ch.name, len(flips))
			}
			flipsSeen += len(flips)
			// Roles: gained and lost, as the access matrix and the org admins list say.
			var want []string
			for k := range after.roles {
				if !before.roles[k] {
					want = append(want, k+"|gained")
				}
			}
			for k := range before.roles {
				if !after.roles[k] {
					want = append(want, k+"|lost")
				}
			}
			for id := range after.admins {
				if !before.admins[id] {
					want = append(want, id+"|||org_admin|gained")
				}
			}
			roles := diff["roles"].(map[string]any)
			var got []string
			for _, rc := range roles["changes"].([]any) {
				rc := rc.(map[string]any)
				ws := ""
				if m, ok := rc["workspace"].(map[string]any); ok {
					ws = m["slug"].(string)
				}
				env, _ := rc["environment"].(string)
				got = append(got, fmt.Sprintf("%s|%s|%s|%s|%s", rc["user"].(map[string]any)["id"], ws, env, rc["role"], rc["change"]))
			}
			sort.Strings(want)
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") || int(roles["count"].(float64)) != len(want) {
				t.Fatalf("%s: preview roles\n%s\nmeasured\n%s", ch.name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if ch.wantRoles != (len(want) > 0) {
				t.Fatalf("%s: %d role changes measured", ch.name, len(want))
			}
		}
		t.Logf("%d decisions flipped over %d changes, each as previewed", flipsSeen, len(changes))
	})
}

func equalMeasures(a, b measured) bool {
	if len(a.effects) != len(b.effects) || len(a.roles) != len(b.roles) || len(a.admins) != len(b.admins) {
		return false
	}
	for k, v := range a.effects {
		if b.effects[k] != v {
			return false
		}
	}
	for k := range a.roles {
		if !b.roles[k] {
			return false
		}
	}
	return true
}

// TestAccessChangeHeldForSecondAdmin: with access_changes_require_approval an
// access change becomes a proposal of kind access, with its preview; the author
// and non-admins cannot approve it; a second org admin's approval applies it in
// the approval's transaction, with the diff measured then. A change that cannot
// be made is refused at once; one that can no longer be made fails on approval.
func TestAccessChangeHeldForSecondAdmin(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newAccessWorld(t, b)
		first := w.Admin
		second := w.users[5] // u6
		w.API("PUT", "/api/v1/org/admins/"+second.ID, nil).Want(t, 200)
		if o := w.API("PATCH", "/api/v1/org", map[string]any{"access_changes_require_approval": true}).Want(t, 200); o.Body["access_changes_require_approval"] != true {
			t.Fatalf("org: %s", o.Raw)
		}
		check := func() string {
			return w.API("POST", "/api/v1/check", map[string]any{"user": w.users[3].ID, "workspace": "analytics", "environment": "production",
				"action": "create", "resource": map[string]any{"type": "model"}}).Want(t, 200).Str("decision")
		}
		if got := check(); got != "draft_only" {
			t.Fatalf("u4 before: %s", got)
		}
		grants := len(w.API("GET", "/api/v1/grants", nil).Want(t, 200).Items())
		asFirst, asSecond := w.Session(first), w.Session(second)
		body := map[string]any{"group": "analysts", "workspace": "analytics", "role": "editor"}
		h := apitest.Call(t, w.Srv.URL, "POST", "/api/v1/grants", body, asFirst).Want(t, http.StatusAccepted)
		id := h.Str("proposal", "id")
		if h.Str("proposal", "kind") != "access" || h.Str("proposal", "state") != "open" || h.Str("proposal", "author", "id") != first.ID ||
			h.Str("proposal", "change", "op") != "grant.create" || !strings.Contains(h.Str("message"), "second org admin") {
			t.Fatalf("held: %s", h.Raw)
		}
		if n := int(h.Body["preview"].(map[string]any)["roles"].(map[string]any)["count"].(float64)); n == 0 {
			t.Fatalf("held without a preview: %s", h.Raw)
		}
		// Nothing changed yet.
		if got := check(); got != "draft_only" {
			t.Fatalf("u4 while held: %s", got)
		}
		if n := len(w.API("GET", "/api/v1/grants", nil).Want(t, 200).Items()); n != grants {
			t.Fatalf("grants while held: %d, was %d", n, grants)
		}
		// A change that cannot be made is refused now, not held.
		apitest.Call(t, w.Srv.URL, "POST", "/api/v1/grants", map[string]any{"group": "viewers", "workspace": "analytics", "role": "viewer"}, asFirst).Want(t, 409)
		// The author, a non-admin and a token naming the author cannot approve.
		wantRefused(t, apitest.Call(t, w.Srv.URL, "POST", "/api/v1/proposals/"+id+"/approve", nil, asFirst), "own_proposal")
		wantRefused(t, w.API("POST", "/api/v1/proposals/"+id+"/approve", map[string]any{"reviewer": first.ID}), "own_proposal")
		wantRefused(t, w.API("POST", "/api/v1/proposals/"+id+"/approve", map[string]any{"reviewer": w.users[0].ID}), "org_admin_only")
		w.API("POST", "/api/v1/proposals/"+id+"/applied", nil).Want(t, 422) // Gatehouse applies access changes itself
		// The open proposal shows what it would do now.
		if g := w.API("GET", "/api/v1/proposals/"+id, nil).Want(t, 200); g.Body["preview"] == nil {
			t.Fatalf("open access proposal without preview: %s", g.Raw)
		}
		// The second admin approves: Gatehouse applies it in that transaction.
		a := apitest.Call(t, w.Srv.URL, "POST", "/api/v1/proposals/"+id+"/approve", map[string]any{"comment": "ok"}, asSecond).Want(t, 200)
		if a.Str("state") != "applied" || a.Body["diff"] == nil || !strings.Contains(a.Str("message"), "applied by Gatehouse") {
			t.Fatalf("approved: %s", a.Raw)
		}
		if got := check(); got != "allow" {
			t.Fatalf("u4 after approval: %s", got)
		}
		var history []string
		for _, e := range a.Body["history"].([]any) {
			history = append(history, e.(map[string]any)["action"].(string))
		}
		if strings.Join(history, " ") != "proposal.create proposal.approve proposal.apply" {
			t.Fatalf("history %v", history)
		}
		made := w.API("GET", "/api/v1/audit?action=grant.create&limit=1", nil).Want(t, 200).Items()[0]
		if made["actor"].(map[string]any)["id"] != second.ID {
			t.Fatalf("the grant was made by %v", made["actor"])
		}

		// A change that can no longer be made when approved fails, and leaves nothing.
		u1 := w.users[0]
		held := apitest.Call(t, w.Srv.URL, "PUT", "/api/v1/groups/viewers/members/"+u1.ID, nil, asFirst).Want(t, http.StatusAccepted)
		w.API("DELETE", "/api/v1/groups/viewers", nil).Want(t, 204)
		f := apitest.Call(t, w.Srv.URL, "POST", "/api/v1/proposals/"+held.Str("proposal", "id")+"/approve", nil, asSecond).Want(t, 200)
		if f.Str("state") != "failed" || !strings.Contains(f.Str("message"), "could not apply") {
			t.Fatalf("failed: %s", f.Raw)
		}
		// Turning it on again needs nobody; turning it off is itself held, and
		// approved, it is off.
		apitest.Call(t, w.Srv.URL, "PATCH", "/api/v1/org", map[string]any{"access_changes_require_approval": true}, asSecond).Want(t, 200)
		off := apitest.Call(t, w.Srv.URL, "PATCH", "/api/v1/org", map[string]any{"access_changes_require_approval": false}, asSecond).Want(t, http.StatusAccepted)
		if o := w.API("GET", "/api/v1/org", nil).Want(t, 200); o.Body["access_changes_require_approval"] != true {
			t.Fatalf("turned off without approval: %s", o.Raw)
		}
		apitest.Call(t, w.Srv.URL, "POST", "/api/v1/proposals/"+off.Str("proposal", "id")+"/approve", nil, asFirst).Want(t, 200)
		if o := w.API("GET", "/api/v1/org", nil).Want(t, 200); o.Body["access_changes_require_approval"] != false {
			t.Fatalf("still on after approval: %s", o.Raw)
		}
		w.API("POST", "/api/v1/grants", map[string]any{"group": "finance", "workspace": "sales", "role": "viewer"}).Want(t, 201)
	})
}

// TestAccessPreviewIsBounded: a change reaching more people than a preview reads
// is previewed from a sample, and says its counts are estimates.
func TestAccessPreviewIsBounded(t *testing.T) {
	e := apitest.NewEnv(t, storetest.Backend{Name: "sqlite", New: storetest.NewSQLite})
	ctx := context.Background()
	e.API("POST", "/api/v1/workspaces", map[string]any{"slug": "big", "environments": []string{"development", "production"}}).Want(t, 201)
	e.API("POST", "/api/v1/workspaces/big/resources", map[string]any{"type": "model", "id": "m-1"}).Want(t, 201)
	g := e.API("POST", "/api/v1/groups", map[string]any{"name": "everyone"}).Want(t, 201).Str("id")
	const n = 650
	if err := e.St.WithTx(ctx, func(st store.Store) error {
		for i := range n {
			u, err := st.CreateUser(ctx, apitest.SCIMActor, core.User{OrgID: e.Org.ID, UserName: fmt.Sprintf("p%d@acme.test", i), Active: true, Source: core.SourceInvited})
			if err != nil {
				return err
			}
			if err := st.AddGroupMember(ctx, apitest.SCIMActor, e.Org.ID, g, u.ID); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pv := e.API("POST", "/api/v1/grants?dry_run=true", map[string]any{"group": "everyone", "workspace": "big", "role": "viewer"}).Want(t, 200)
	took := time.Since(start)
	diff := pv.Body["diff"].(map[string]any)
	users := diff["users"].(map[string]any)
	if diff["estimated"] != true || users["affected"] != float64(n) || users["examined"] != float64(500) || !strings.Contains(diff["note"].(string), "500 of 650 users") {
		t.Fatalf("preview: %s", pv.Raw)
	}
	// Every member gains Viewer in both environments and may now view m-1.
	if roles := diff["roles"].(map[string]any); roles["count"] != float64(2*n) || roles["truncated"] != true {
		t.Fatalf("roles: %v", roles["count"])
	}
	if decs := diff["decisions"].(map[string]any); decs["count"] != float64(n) {
		t.Fatalf("decisions: %v", decs["count"])
	}
	t.Logf("preview of a grant to %d people: %v", n, took)
}
