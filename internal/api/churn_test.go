package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// twoStores opens two stores on one database of backend b: two instances.
func twoStores(t *testing.T, b storetest.Backend) [2]*store.SQL {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	if b.Name == "postgres" {
		dsn = storetest.PostgresDSN(t)
	}
	var sts [2]*store.SQL
	for i := range sts {
		st, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		sts[i] = st
	}
	return sts
}

// TestChurnTwoInstances (issue 10): two API instances, each with its own store
// and decision index, on one database (SQLite file, PostgreSQL). A writer
// changes, through one instance's API or through the store as SCIM does, Ann's
// direct membership, her IdP group's members (mapped onto the granted group),
// the grant, her active state and display names; after every change is
// acknowledged the very next check on each instance answers as the change says,
// while four clients keep asking the other instance. The indexes load the org
// once and apply every change (no reload), and a display-name change, which no
// decision reads, leaves the index's version where it was (asserted through
// the counters, not timing).
func TestChurnTwoInstances(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		sts := twoStores(t, b)
		sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
		org, _, err := sts[0].CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
		if err != nil {
			t.Fatal(err)
		}
		_, token, err := sts[0].CreateToken(ctx, sys, org.ID, store.TokenAPI, "test", "")
		if err != nil {
			t.Fatal(err)
		}
		var hs [2]*api.Handler
		var urls [2]string
		for i := range sts {
			h, srv := apitest.NewInstance(t, sts[i], nil)
			hs[i], urls[i] = h, srv.URL
		}
		call := func(i int, method, path string, body any, want int) apitest.Resp {
			t.Helper()
			return apitest.Call(t, urls[i], method, path, body, apitest.WithToken(token)).Want(t, want)
		}
		call(0, "POST", "/api/v1/workspaces", map[string]any{"slug": "marketing", "environments": []string{"development", "production"}}, 201)
		call(1, "POST", "/api/v1/groups", map[string]any{"name": "eng"}, 201)
		dir := call(0, "POST", "/api/v1/directories", map[string]any{"name": "okta"}, 201).Str("directory", "id")
		ann := call(1, "POST", "/api/v1/users", map[string]any{"email": "ann@acme.test", "display_name": "Ann"}, 201).Str("id")
		idp, err := sts[0].CreateIdPGroup(ctx, apitest.SCIMActor, core.IdPGroup{OrgID: org.ID, DirectoryID: dir, ExternalID: "00g1", DisplayName: "Data Eng"})
		if err != nil {
			t.Fatal(err)
		}
		call(0, "POST", "/api/v1/mappings", map[string]any{"directory": "okta", "idp_group": "Data Eng", "group": "eng"}, 201)
		grant := call(1, "POST", "/api/v1/grants", map[string]any{"group": "eng", "workspace": "marketing", "role": "editor"}, 201).Str("id")

		question := map[string]any{"user": ann, "workspace": "marketing", "environment": "development", "action": "edit", "resource": map[string]any{"type": "model"}}
		check := func(i int) string { return call(i, "POST", "/api/v1/check", question, 200).Str("decision") }
		var state struct{ direct, idp, grant, active bool }
		state.grant, state.active = true, true
		expect := func() string {
			if state.active && state.grant && (state.direct || state.idp) {
				return "allow"
			}
			return "deny"
		}
		for i := range hs {
			if got := check(i); got != expect() {
				t.Fatalf("instance %d before any change: %s", i, got)
			}
		}

		// Four clients keep asking instance 1 meanwhile: catch-ups race checks.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var asked atomic.Int64
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					r := apitest.Call(t, urls[1], "POST", "/api/v1/check", question, apitest.WithToken(token))
					if r.Status != 200 {
						t.Errorf("concurrent check: %d %s", r.Status, r.Raw)
						return
					}
					asked.Add(1)
				}
			}()
		}
		defer func() { close(stop); wg.Wait() }()

		rng := rand.New(rand.NewPCG(10, 9))
		steps := 60
		if testing.Short() {
			steps = 20
		}
		names := 0
		for step := range steps {
			through := step % 2 // the instance whose API takes the change
			version := [2]int64{}
			for i, h := range hs {
				version[i] = h.Decisions.Index().Stats().Orgs[0].Version
			}
			var what string
			switch op := rng.IntN(7); op {
			case 0:
				if state.direct {
					call(through, "DELETE", "/api/v1/groups/eng/members/"+ann, nil, 204)
				} else {
					call(through, "PUT", "/api/v1/groups/eng/members/"+ann, nil, 204)
				}
				state.direct, what = !state.direct, "direct membership"
			case 1:
				add, remove := []string{ann}, []string(nil)
				if state.idp {
					add, remove = nil, add
				}
				if err := sts[through].ChangeIdPGroupMembers(ctx, apitest.SCIMActor, org.ID, idp.ID, add, remove); err != nil {
					t.Fatal(err)
				}
				state.idp, what = !state.idp, "IdP group membership (SCIM)"
			case 2:
				if state.grant {
					call(through, "DELETE", "/api/v1/grants/"+grant, nil, 204)
				} else {
					grant = call(through, "POST", "/api/v1/grants", map[string]any{"group": "eng", "workspace": "marketing", "role": "editor"}, 201).Str("id")
				}
				state.grant, what = !state.grant, "grant"
			case 3:
				if state.active {
					call(through, "POST", "/api/v1/users/"+ann+"/deactivate", nil, 200)
				} else {
					call(through, "POST", "/api/v1/users/"+ann+"/reactivate", nil, 200)
				}
				state.active, what = !state.active, "active"
			default:
				names++
				call(through, "PATCH", "/api/v1/users/"+ann, map[string]any{"display_name": fmt.Sprintf("Ann %d", names)}, 200)
				what = "display name"
			}
			for _, i := range []int{1 - through, through} {
				if got := check(i); got != expect() {
					t.Fatalf("step %d, %s changed through instance %d: instance %d answers %s, want %s", step, what, through, i, got, expect())
				}
				st := hs[i].Decisions.Index().Stats()
				if st.Loads != 1 || st.Reloads != 0 {
					t.Fatalf("step %d (%s): instance %d loaded the org %d times, reloaded %d", step, what, i, st.Loads, st.Reloads)
				}
				if v := st.Orgs[0].Version; (what == "display name") != (v == version[i]) {
					t.Fatalf("step %d (%s): instance %d's index version %d → %d", step, what, i, version[i], v)
				}
			}
		}
		if names == 0 {
			t.Fatal("no display-name change was made")
		}
		// A token revoked through one instance is refused by the other at once,
		// though that instance had authenticated it and kept it.
		second := call(0, "POST", "/api/v1/tokens", map[string]any{"name": "second"}, 201)
		secret, secondID := second.Str("secret"), second.Str("id")
		if secret == "" || secondID == "" {
			t.Fatalf("token answer: %s", second.Raw)
		}
		apitest.Call(t, urls[1], "POST", "/api/v1/check", question, apitest.WithToken(secret)).Want(t, 200)
		call(0, "DELETE", "/api/v1/tokens/"+secondID, nil, 204)
		apitest.Call(t, urls[1], "POST", "/api/v1/check", question, apitest.WithToken(secret)).Want(t, 401)
		t.Logf("%d changes, %d display names; %d concurrent checks on instance 1", steps, names, asked.Load())
	})
}
