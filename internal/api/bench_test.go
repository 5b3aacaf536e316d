package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/benchdata"
	"github.com/gatehouse-dev/gatehouse/internal/benchcpu"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// The benchmarks run on SQLite at the target size (100k users, 10k groups,
// 1k workspaces, 100k resources); GATEHOUSE_BENCH_SIZE=small shrinks it for a
// quick look. The org is seeded once per process.
type benchWorld struct {
	dir string
	st  *store.SQL
	org *benchdata.Org
	h   *api.Handler
	mux *http.ServeMux
}

var (
	benchOnce sync.Once
	benchW    *benchWorld
	benchErr  error
)

// TestMain removes the benchmarks' database when they ran.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchW != nil {
		benchW.st.Close()
		os.RemoveAll(benchW.dir)
	}
	os.Exit(code)
}

func benchSetup(b *testing.B) *benchWorld {
	benchOnce.Do(func() {
		size := benchdata.Target
		if os.Getenv("GATEHOUSE_BENCH_SIZE") == "small" {
			size = benchdata.Small
		}
		dir, err := os.MkdirTemp("", "gatehouse-bench")
		if err != nil {
			benchErr = err
			return
		}
		st, err := store.Open(context.Background(), "sqlite:"+dir+"/bench.db")
		if err == nil {
			_, err = st.Migrate(context.Background())
		}
		if err != nil {
			benchErr = err
			return
		}
		org, err := benchdata.Seed(context.Background(), st, "bench", size)
		if err != nil {
			benchErr = err
			return
		}
		gr, err := st.NewGenerationReader(context.Background())
		if err != nil {
			benchErr = err
			return
		}
		h := &api.Handler{Store: st, Decisions: decisions.New(st, gr)}
		mux := http.NewServeMux()
		h.Mount(mux)
		benchW = &benchWorld{dir: dir, st: st, org: org, h: h, mux: mux}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchW
}

// question is the n-th check of the load: a user, a workspace where they hold a
// grant, and one of its resources.
func (w *benchWorld) question(n int) decisions.Question {
	u := (n * 7919) % len(w.org.Users)
	ws := w.org.UserWS[u]
	t, ext := w.org.Resource(ws, n%w.org.PerWS)
	actions := []core.Action{core.ActionView, core.ActionEdit, core.ActionRun, core.ActionDelete}
	return decisions.Question{User: w.org.Users[u], Workspace: w.org.WSSlugs[ws], Action: actions[n%len(actions)],
		Resource: &decisions.QuestionResource{Type: t, ID: ext}}
}

// BenchmarkDecide is the core decision function alone, on facts the store gathered
// for users of the target-size org.
func BenchmarkDecide(b *testing.B) {
	w := benchSetup(b)
	ctx := context.Background()
	type pair struct {
		f   *core.Facts
		req core.Request
	}
	var pairs []pair
	for n := range 500 {
		q := w.question(n)
		u, _ := w.st.GetUser(ctx, w.org.OrgID, q.User)
		ws, err := w.st.GetWorkspace(ctx, w.org.OrgID, q.Workspace)
		if err != nil {
			b.Fatal(err)
		}
		f, err := w.st.Facts(ctx, w.org.OrgID, u.ID, ws.ID)
		if err != nil {
			b.Fatal(err)
		}
		res, err := w.st.GetResourceByExternalID(ctx, w.org.OrgID, ws.ID, q.Resource.Type, q.Resource.ID)
		if err != nil {
			b.Fatal(err)
		}
		pairs = append(pairs, pair{f, core.Request{Action: q.Action, Resource: &res}})
	}
	allowed := 0
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	i := 0
	for b.Loop() {
		p := pairs[i%len(pairs)]
		if core.Decide(p.f, p.req).Effect != core.Deny {
			allowed++
		}
		i++
	}
	b.ReportMetric(float64(allowed)/float64(i), "allowed/op")
}

// BenchmarkFacts is the cost of a cache miss: gathering one user's facts.
func BenchmarkFacts(b *testing.B) {
	w := benchSetup(b)
	ctx := context.Background()
	ws, _ := w.st.GetWorkspace(ctx, w.org.OrgID, w.org.WSSlugs[w.org.UserWS[0]])
	defer benchcpu.PerOp(b)()
	for b.Loop() {
		if _, err := w.st.Facts(ctx, w.org.OrgID, w.org.Users[0], ws.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func (w *benchWorld) post(b *testing.B, path string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+w.org.Token)
	rec := httptest.NewRecorder()
	w.mux.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
	}
	return rec
}

// BenchmarkCheckHandler is POST /api/v1/check through the handler, in process, with
// a warm cache: token, generation read, lookups, Decide, JSON.
func BenchmarkCheckHandler(b *testing.B) {
	w := benchSetup(b)
	bodies := make([][]byte, 2000)
	for n := range bodies {
		bodies[n], _ = json.Marshal(w.question(n))
		w.post(b, "/api/v1/check", bodies[n]) // warm
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer benchcpu.PerOp(b)()
	var mu sync.Mutex
	next := 0
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n := next
		next += 1000
		mu.Unlock()
		for pb.Next() {
			w.post(b, "/api/v1/check", bodies[n%len(bodies)])
			n++
		}
	})
}

// BenchmarkCheckBatch1000 is one POST /api/v1/check/batch of 1,000 questions, cold
// (a change just invalidated the org's cache) and warm.
func BenchmarkCheckBatch1000(b *testing.B) {
	w := benchSetup(b)
	var in struct {
		Checks []decisions.Question `json:"checks"`
	}
	for n := range 1000 {
		in.Checks = append(in.Checks, w.question(n+50_000))
	}
	body, _ := json.Marshal(in)
	b.Run("warm", func(b *testing.B) {
		b.ReportAllocs()
		w.post(b, "/api/v1/check/batch", body)
		defer benchcpu.PerOp(b)()
		for b.Loop() {
			w.post(b, "/api/v1/check/batch", body)
		}
	})
	b.Run("cold", func(b *testing.B) {
		ctx := context.Background()
		for b.Loop() {
			b.StopTimer()
			// Any change bumps the generation: the batch then gathers 1,000 facts anew.
			if _, err := w.st.CreateGroup(ctx, core.Actor{Kind: core.ActorSystem}, core.UserGroup{OrgID: w.org.OrgID, Name: fmt.Sprintf("tmp-%d", b.N) + store.NewID()}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			w.post(b, "/api/v1/check/batch", body)
		}
	})
}
