package api_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestSetReadsEqualSingleReads: the batch check's set-based reads (store.Batches)
// give exactly what the per-question reads give, and a cold batch answers exactly
// what single checks answer.
func TestSetReadsEqualSingleReads(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		ctx := context.Background()
		w.API("POST", "/api/v1/workspaces", map[string]any{"slug": "sales", "environments": []string{"dev", "prod"}}).Want(t, 201)
		w.API("POST", "/api/v1/groups", map[string]any{"name": "ops"}).Want(t, 201)
		w.API("POST", "/api/v1/roles", map[string]any{"name": "s1", "rules": []any{map[string]any{"actions": []string{"edit"}, "resource_type": "source", "resource_id": "s-1"}}}).Want(t, 201)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "ops", "workspace": "marketing", "role": "s1"}).Want(t, 201)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "ops", "workspace": "sales", "role": "admin", "environments": []string{"prod"}}).Want(t, 201)
		w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": "sales", "role": "viewer"}).Want(t, 201)
		w.API("POST", "/api/v1/workspaces/marketing/spaces", map[string]any{"name": "fin"}).Want(t, 201)
		w.API("PUT", "/api/v1/workspaces/marketing/spaces/fin/groups/ops", nil).Want(t, 204)
		w.API("PATCH", "/api/v1/workspaces/marketing/resources/model:m-1", map[string]any{"space": "fin"}).Want(t, 200)
		bob, cy := w.User("bob"), w.User("cy")
		w.API("PUT", "/api/v1/groups/ops/members/"+bob.ID, nil).Want(t, 204)
		w.API("PUT", "/api/v1/groups/engineers/members/"+bob.ID, nil).Want(t, 204)
		w.API("POST", "/api/v1/users/cy@acme.test/deactivate", nil).Want(t, 200)

		users := []core.User{w.Ann, bob, cy, w.Admin}
		wss := []string{"marketing", "sales"}
		var keys []store.FactsKey
		for _, u := range users {
			for _, slug := range wss {
				ws, err := w.St.GetWorkspace(ctx, w.Org.ID, slug)
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, store.FactsKey{UserID: u.ID, WorkspaceID: ws.ID})
			}
		}
		many, err := w.St.FactsMany(ctx, w.Org.ID, append(keys, store.FactsKey{UserID: "nobody", WorkspaceID: keys[0].WorkspaceID}))
		if err != nil {
			t.Fatal(err)
		}
		if len(many) != len(keys) {
			t.Fatalf("FactsMany returned %d facts for %d real pairs", len(many), len(keys))
		}
		for _, k := range keys {
			one, err := w.St.Facts(ctx, w.Org.ID, k.UserID, k.WorkspaceID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(one, many[k]) {
				a, _ := json.Marshal(one)
				b, _ := json.Marshal(many[k])
				t.Fatalf("facts differ for %v:\n single %s\n batch  %s", k, a, b)
			}
		}
		refs := []string{w.Ann.ID, "ann@acme.test", "ANN@acme.test", "bob@acme.test", "nobody@acme.test", "cy@acme.test", "admin@acme.test"}
		got, err := w.St.UsersByRef(ctx, w.Org.ID, refs)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range refs {
			u, err := decisions.ResolveUser(ctx, w.St, w.Org.ID, ref)
			if g, ok := got[ref]; ok != (err == nil) || (ok && !reflect.DeepEqual(g, u)) {
				t.Fatalf("UsersByRef(%q) = %v, %v; single lookup %v, %v", ref, g, ok, u, err)
			}
		}

		sales, err := w.St.GetWorkspace(ctx, w.Org.ID, "sales")
		if err != nil {
			t.Fatal(err)
		}
		wsRefs := []string{"marketing", "sales", sales.ID, "nope", "SALES", ""}
		gotWS, err := w.St.WorkspacesByRef(ctx, w.Org.ID, wsRefs)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range wsRefs {
			ws, err := w.St.GetWorkspace(ctx, w.Org.ID, ref)
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
		_, fresh := apitest.NewInstance(t, w.St, w.Sess)
		batch := apitest.Call(t, fresh.URL, "POST", "/api/v1/check/batch", map[string]any{"checks": qs}, apitest.WithToken(w.Token)).Want(t, 200)
		results := batch.Body["results"].([]any)
		for i, q := range qs {
			one := w.API("POST", "/api/v1/check", q).Want(t, 200)
			if !reflect.DeepEqual(one.Body, results[i]) {
				t.Fatalf("question %d %v: single %s, batch %v", i, q, one.Raw, results[i])
			}
		}
	})
}
