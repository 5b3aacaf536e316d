package api_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// TestReferenceLimits (issue 9, finding 3): a reference longer than core.MaxRef
// (512 bytes) in /check, in a batch, in a path or in a body field naming an object
// is 400 problem+json, and nothing is looked up; 512 bytes is still a reference.
func TestReferenceLimits(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		w := apitest.NewWorld(t, b)
		long, max := strings.Repeat("u", core.MaxRef+1), strings.Repeat("u", core.MaxRef)
		problem := func(what string, r apitest.Resp) {
			t.Helper()
			if r.Status != 400 || r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(r.Str("detail"), "longer than 512 bytes") {
				t.Errorf("%s: %d %s %s", what, r.Status, r.Header.Get("Content-Type"), r.Raw)
			}
		}
		for _, q := range []map[string]any{
			{"user": long, "workspace": "marketing", "action": "view"},
			{"user": w.Ann.ID, "workspace": long, "action": "view"},
			{"user": w.Ann.ID, "workspace": "marketing", "environment": long, "action": "view"},
			{"user": w.Ann.ID, "workspace": "marketing", "action": "create", "space": long},
			{"user": w.Ann.ID, "workspace": "marketing", "action": "view", "resource": map[string]any{"type": "source", "id": long}},
		} {
			problem(fmt.Sprintf("check %v", keysOf(q)), w.API("POST", "/api/v1/check", q))
			batch := []any{map[string]any{"user": w.Ann.ID, "workspace": "marketing", "action": "view"}, q}
			r := w.API("POST", "/api/v1/check/batch", map[string]any{"checks": batch})
			problem("batch", r)
			if !strings.Contains(r.Str("detail"), "checks[1]") {
				t.Errorf("batch: the refusal names no question: %s", r.Raw)
			}
		}
		// 512 bytes is a reference like any other: an unknown user, answered.
		if r := w.API("POST", "/api/v1/check", map[string]any{"user": max, "workspace": "marketing", "action": "view"}).Want(t, 200); r.Str("reason") != decisions.ReasonUnknownUser {
			t.Errorf("512-byte user: %s", r.Raw)
		}
		// Paths.
		problem("GET user", w.API("GET", "/api/v1/users/"+long, nil))
		problem("PUT member", w.API("PUT", "/api/v1/groups/engineers/members/"+long, nil))
		problem("GET resource", w.API("GET", "/api/v1/workspaces/marketing/resources/"+long, nil))
		if r := w.API("GET", "/api/v1/users/"+max, nil); r.Status != 404 {
			t.Errorf("GET a 512-byte user: %d %s", r.Status, r.Raw)
		}
		// Body fields naming objects.
		problem("grant's group", w.API("POST", "/api/v1/grants", map[string]any{"group": long, "workspace": "marketing", "role": "viewer"}))
		problem("grant's workspace", w.API("POST", "/api/v1/grants", map[string]any{"group": "engineers", "workspace": long, "role": "viewer"}))
		problem("mapping's directory", w.API("POST", "/api/v1/mappings", map[string]any{"directory": long, "idp_group": "x", "group": "engineers"}))
		problem("mapping's group", w.API("POST", "/api/v1/mappings", map[string]any{"directory": "okta", "idp_group": "x", "group": long}))
		// Nothing was written.
		if r := w.API("GET", "/api/v1/grants", nil).Want(t, 200); len(r.Items()) != 1 {
			t.Errorf("grants after refusals: %s", r.Raw)
		}
	})
}

func keysOf(m map[string]any) []string {
	var out []string
	for k, v := range m {
		if s, ok := v.(string); ok && len(s) > core.MaxRef {
			out = append(out, k)
		}
		if r, ok := v.(map[string]any); ok {
			out = append(out, k+"."+strings.Join(keysOf(r), ""))
		}
	}
	return out
}

// TestUnknownReferencesKeepNothing (issue 9, finding 3): thousands of checks by
// one member with unique unknown references, long (512 bytes, the most a
// reference may be) and short, for users, workspaces and resources, leave the
// decision index as it was (its accounted bytes, loads and version) and the
// live heap after GC within 1 MiB of where it started, though the references
// sent add up to several MiB: a failed lookup is a map miss, kept nowhere.
// The backends run one after the other, so that the heap is this test's alone.
func TestUnknownReferencesKeepNothing(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			w := apitest.NewWorld(t, b)
			e := w.H.Decisions
			asAnn := w.Session(w.Ann)
			check := func(q map[string]any) {
				r := apitest.Call(t, w.Srv.URL, "POST", "/api/v1/check", q, asAnn)
				if r.Status != 200 && r.Status != 403 {
					t.Fatalf("check %d %s", r.Status, r.Raw)
				}
			}
			check(map[string]any{"user": w.Ann.ID, "workspace": "marketing", "action": "view"}) // loads the org
			before := e.Index().Stats()
			heap := func() uint64 {
				var ms runtime.MemStats
				runtime.GC()
				runtime.GC()
				runtime.ReadMemStats(&ms)
				return ms.HeapAlloc
			}
			h0 := heap()
			n := 1500
			if testing.Short() {
				n = 300
			}
			var sent int
			for i := range n {
				pad := func(s string) string { return s + strings.Repeat("x", core.MaxRef-len(s)) }
				longUser, shortUser := pad(fmt.Sprintf("nobody-%d@", i)), fmt.Sprintf("nobody-%d", i)
				longWS, shortWS := pad(fmt.Sprintf("ws-%d-", i)), fmt.Sprintf("ws-%d", i)
				longRes := pad(fmt.Sprintf("res-%d-", i))
				check(map[string]any{"user": longUser, "workspace": "marketing", "action": "view"}) // 403: another's
				check(map[string]any{"user": shortUser, "workspace": "marketing", "action": "view"})
				check(map[string]any{"user": w.Ann.ID, "workspace": longWS, "action": "view"}) // unknown workspace
				check(map[string]any{"user": w.Ann.ID, "workspace": shortWS, "action": "view"})
				check(map[string]any{"user": w.Ann.ID, "workspace": "marketing", "action": "view", "environment": "development",
					"resource": map[string]any{"type": "source", "id": longRes}}) // unknown resource
				sent += len(longUser) + len(shortUser) + len(longWS) + len(shortWS) + len(longRes)
			}
			h1 := heap()
			after := e.Index().Stats()
			if after.Bytes != before.Bytes || after.Loads != before.Loads || after.Reloads != 0 || after.Orgs[0].Version != before.Orgs[0].Version {
				t.Errorf("index moved: before %+v, after %+v", before, after)
			}
			grew := int64(h1) - int64(h0)
			t.Logf("%d checks with %d KiB of unknown references: heap %d KiB → %d KiB (%+d KiB), index %d KiB",
				5*n, sent>>10, h0>>10, h1>>10, grew>>10, after.Bytes>>10)
			if grew > 1<<20 {
				t.Errorf("the heap grew by %d KiB after %d KiB of unknown references", grew>>10, sent>>10)
			}
		})
	}
}
