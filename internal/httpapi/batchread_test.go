package httpapi

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestSetReadsEqualSingleReads: the batch check's set-based reads (store.Batches)
// give exactly what the per-question reads give, and a cold batch answers exactly
// what single checks answer.
func TestSetReadsEqualSingleReads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := newWorld(t, b)
		ctx := context.Background()
		w.api("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"dev", "prod"}}).want(t, 201)
		w.api("POST", "/api/v1/groups", map[string]any{"name": "ops"}).want(t, 201)
		w.api("POST", "/api/v1/roles", map[string]any{"name": "s1", "rules": []any{map[string]any{"actions": []string{"edit"}, "resource_type": "source", "resource_id": "s-1"}}}).want(t, 201)
		w.api("POST", "/api/v1/grants", map[string]any{"group": "ops", "workspace": "marketing", "role": "s1"}).want(t, 201)
		w.api("POST", "/api/v1/grants", map[string]any{"group": "ops", "workspace": "sales", "role": "admin", "environments": []string{"prod"}}).want(t, 201)
		w.api("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "sales", "role": "viewer"}).want(t, 201)
		w.api("POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "fin"}).want(t, 201)
		w.api("PUT", "/api/v1/workspaces/marketing/spaces/fin/groups/ops", nil).want(t, 204)
		w.api("PATCH", "/api/v1/workspaces/marketing/resources/model:m-1", map[string]any{"space": "fin"}).want(t, 200)
		bob, cy := w.user("bob"), w.user("cy")
		w.api("PUT", "/api/v1/groups/ops/members/"+bob.ID, nil).want(t, 204)
		w.api("PUT", "/api/v1/groups/engineers/members/"+bob.ID, nil).want(t, 204)
		w.api("POST", "/api/v1/users/cy@acme.test/deactivate", nil).want(t, 200)

		users := []core.User{w.ann, bob, cy, w.admin}
		wss := []string{"marketing", "sales"}
		var keys []store.FactsKey
		for _, u := range users {
			for _, slug := range wss {
				ws, err := w.st.GetWorkspace(ctx, w.org.ID, slug)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, store.FactsKey{UserID: u.ID, WorkspaceID: ws.ID})
			}
		}
		many, err := w.st.FactsMany(ctx, w.org.ID, append(keys, store.FactsKey{UserID: "nobody", WorkspaceID: keys[0].WorkspaceID}))
		if err != nil {
			t.Fatal(err)
		}
		if len(many) != len(keys) {
			t.Fatalf("FactsMany returned %d facts for %d real pairs", len(many), len(keys))
		}
		for _, k := range keys {
			one, err := w.st.Facts(ctx, w.org.ID, k.UserID, k.WorkspaceID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(one, many[k]) {
				a, _ := json.Marshal(one)
				b, _ := json.Marshal(many[k])
				t.Fatalf("facts differ for %v:\n single %s\n batch  %s", k, a, b)
			}
		}
		refs := []string{w.ann.ID, "ann@acme.test", "ANN@acme.test", "bob@acme.test", "nobody@acme.test", "cy@acme.test", "admin@acme.test"}
		got, err := w.st.UsersByRef(ctx, w.org.ID, refs)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			u, err := decisions.ResolveUser(ctx, w.st, w.org.ID, ref)
			if g, ok := got[ref]; ok != (err == nil) || (ok && !reflect.DeepEqual(g, u)) {
				t.Fatalf("UsersByRef(%q) = %v, %v; single lookup %v, %v", ref, g, ok, u, err)
			}
		}

		sales, err := w.st.GetWorkspace(ctx, w.org.ID, "sales")
		if err != nil {
			t.Fatal(err)
		}
		wsRefs := []string{"marketing", "sales", sales.ID, "nope", "SALES", ""}
		gotWS, err := w.st.WorkspacesByRef(ctx, w.org.ID, wsRefs)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range wsRefs {
			ws, err := w.st.GetWorkspace(ctx, w.org.ID, ref)
			if g, ok := gotWS[ref]; ok != (err == nil) || (ok && !reflect.DeepEqual(g, ws)) {
				t.Fatalf("WorkspacesByRef(%q) = %v, %v; single lookup %v, %v", ref, g, ok, ws, err)
			}
		}

		// A cold batch answers what single checks answer, question by question.
		var qs []any
		for _, u := range []string{"ann@acme.test", bob.ID, "cy@acme.test", "nobody@acme.test"} {
			for _, slug := range []string{"marketing", "sales", "nope"} {
				for _, a := range []string{"view", "edit", "create", "manage_access"} {
					for _, res := range []any{nil, map[string]any{"type": "source", "id": "s-1"}, map[string]any{"type": "model", "id": "m-1"}, map[string]any{"type": "model", "id": "m-404"}} {
						q := map[string]any{"user": u, "workspace": slug, "action": a}
						if res != nil {
							q["resource"] = res
						}
						qs = append(qs, q)
					}
				}
			}
		}
		_, fresh := newInstance(t, w.st, w.sess)
		batch := call(t, fresh.URL, "POST", "/api/v1/check/batch", map[string]any{"checks": qs}, withToken(w.token)).want(t, 200)
		results := batch.body["results"].([]any)
		for i, q := range qs {
			one := w.api("POST", "/api/v1/check", q).want(t, 200)
			if !reflect.DeepEqual(one.body, results[i]) {
				t.Fatalf("question %d %v: single %s, batch %v", i, q, one.raw, results[i])
			}
		}
	})
}
