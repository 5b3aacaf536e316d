package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/scim"
)

// scimBench is the provisioning workload of an IdP: what Okta and Entra do at the
// first sync of a large tenant, then the incremental changes that follow.
type scimBench struct {
	base    string
	token   string
	n, c    int
	batch   int
	single  int
	client  *http.Client
	run     string // unique prefix of this run's userNames
	ids     []string
	results []phaseResult
	// seed, when set, is the server's handler in this process: the users and the
	// big group are created through it, not timed against the server (-seed).
	seed http.Handler
	// phases, when set, are the only phases run besides the ones they need (-phases).
	phases map[string]bool
}

// phaseKeys name the workload's phases for -phases, in order.
var phaseKeys = []string{"lookup0", "create", "lookup", "page", "deactivate", "build", "single", "get", "stream", "delgroup", "delete"}

// parsePhases reads -phases: nil (every phase) when empty.
func parsePhases(list string) (map[string]bool, error) {
	if list == "" {
		return nil, nil
	}
	known := map[string]bool{}
	for _, k := range phaseKeys {
		known[k] = true
	}
	m := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if !known[k] {
			return nil, fmt.Errorf("-phases: unknown phase %q (known: %s)", k, strings.Join(phaseKeys, ","))
		}
		m[k] = true
	}
	return m, nil
}

// want reports whether phase key runs. Creating the users always does, and
// building the group does whenever a later group phase runs.
func (b *scimBench) want(key string) bool {
	switch {
	case b.phases == nil || b.phases[key] || key == "create":
		return true
	case key == "build":
		return b.phases["single"] || b.phases["get"] || b.phases["stream"] || b.phases["delgroup"]
	}
	return false
}

func runSCIM(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scim", flag.ContinueOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "server base URL (without /scim/v2)")
	token := fs.String("token", "", "SCIM bearer token (gatehouse token create --kind scim)")
	n := fs.Int("n", 10000, "users to provision")
	c := fs.Int("c", 16, "concurrent clients")
	batch := fs.Int("batch", 1000, "members per PATCH when building the big group")
	single := fs.Int("single", 5000, "one-member PATCH add/remove operations on the big group")
	pid := fs.Int("pid", 0, "server process id, to report its peak RSS")
	reference := fs.String("reference", "", "also start the bare reference handler (bare.go) on this database, sqlite:PATH or postgres://…, and drive it with the same workload before Gatehouse in every run")
	runs := fs.Int("runs", 1, "runs (reference, then Gatehouse, each time); with more than one, medians are compared")
	phaseList := fs.String("phases", "", "comma-separated phases to run, for A/B work on one of them: "+strings.Join(phaseKeys, ",")+
		" (default all). The users are always created, and the group is built when a group phase runs")
	seedDB := fs.String("seed-db", "", "seed: Gatehouse's database (the server's --db). The n users and the big group are then created "+
		"before the timed phases by SCIM requests served in this process (Gatehouse's SCIM handler on this database, the "+
		"reference's own handler), so they store exactly what the timed creates would; the create and build phases are "+
		"not compared. For runs at 100,000 users")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("-token is required")
	}
	phases, err := parsePhases(*phaseList)
	if err != nil {
		return err
	}
	var seedGH http.Handler
	if *seedDB != "" {
		st, err := store.Open(ctx, *seedDB)
		if err != nil {
			return fmt.Errorf("-seed-db: %w", err)
		}
		defer st.Close()
		seedGH = scim.NewHandler(st, nil)
	}
	results := map[string][]phaseResult{} // by target, every run's phases
	for run := 1; run <= *runs; run++ {
		if *reference != "" {
			refBase, refHandler, stop, err := startBare(ctx, *reference)
			if err != nil {
				return err
			}
			fmt.Printf("\n== run %d: bare reference on %s\n", run, strings.SplitN(*reference, "?", 2)[0])
			serverPID = 0
			ref := newSCIMBench(refBase, "", *n, *c, *batch, *single)
			ref.phases = phases
			if seedGH != nil {
				ref.seed = refHandler
			}
			err = ref.workload(ctx)
			stop()
			if err != nil {
				return fmt.Errorf("reference: %w", err)
			}
			results["reference"] = append(results["reference"], ref.results...)
		}
		fmt.Printf("\n== run %d: Gatehouse at %s\n", run, *base)
		b := newSCIMBench(*base, *token, *n, *c, *batch, *single)
		b.seed = seedGH
		b.phases = phases
		var rss *rssWatcher
		serverPID = *pid
		if *pid > 0 {
			rss = watchRSS(*pid)
		}
		err := b.workload(ctx)
		if rss != nil {
			peak, hwm := rss.close()
			fmt.Printf("server RSS: sampled peak %.1f MB, kernel VmHWM %.1f MB\n", float64(peak)/1024, float64(hwm)/1024)
		}
		if err != nil {
			return err
		}
		results["gatehouse"] = append(results["gatehouse"], b.results...)
	}
	if *reference != "" {
		compare(results["gatehouse"], results["reference"])
	}
	return nil
}

func newSCIMBench(base, token string, n, c, batch, single int) *scimBench {
	b := &scimBench{base: strings.TrimRight(base, "/") + "/scim/v2", token: token, n: n, c: c, batch: batch, single: single,
		run: fmt.Sprintf("b%x", time.Now().UnixNano()&0xffffff)}
	b.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConns: c * 2, MaxIdleConnsPerHost: c * 2, IdleConnTimeout: time.Minute}}
	fmt.Printf("gatehouse-bench scim: %s n=%d c=%d batch=%d single=%d\n", b.base, b.n, b.c, b.batch, b.single)
	return b
}

// report prints a phase and keeps its figures for the comparison.
func (b *scimBench) report(p *phase) {
	p.report()
	b.results = append(b.results, p.result())
}

// seeding runs f with requests served by b.seed in this process (see -seed-db),
// when it is set: the phases f reports are then printed but not compared, and
// no server CPU is counted for them.
func (b *scimBench) seeding(f func() error) error {
	if b.seed == nil {
		return f()
	}
	client, results, pid := b.client, b.results, serverPID
	b.client = &http.Client{Transport: handlerTransport{b.seed}}
	serverPID = 0
	fmt.Println("    seeding in-process:")
	err := f()
	b.client, b.results, serverPID = client, results, pid
	return err
}

// handlerTransport serves a request with a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// do sends one request and checks its status.
func (b *scimBench) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
	if err != nil {
		return err
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// parallel runs f(i) for i in [0, count) on b.c workers, timing each call.
func (b *scimBench) parallel(ctx context.Context, p *phase, count, workers int, f func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := f(i)
				p.record(time.Since(t), err)
			}
		}()
	}
	wg.Wait()
	p.end = time.Now()
}

func (b *scimBench) userName(i int) string {
	return fmt.Sprintf("%s-user%07d@bench.example.com", b.run, i)
}

type listResp struct {
	TotalResults int               `json:"totalResults"`
	Resources    []json.RawMessage `json:"Resources"`
}

func (b *scimBench) workload(ctx context.Context) error {
	b.ids = make([]string, b.n)

	var p *phase
	if b.seed == nil && b.want("lookup0") {
		p = newPhase("lookup before create (userName eq)")
		b.parallel(ctx, p, b.n, b.c, func(i int) error {
			var lr listResp
			if err := b.do(ctx, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+b.userName(i)+`"`), nil, 200, &lr); err != nil {
				return err
			}
			if lr.TotalResults != 0 {
				return fmt.Errorf("user %d exists", i)
			}
			return nil
		})
		b.report(p)
	}
	if err := b.seeding(func() error { return b.createUsers(ctx) }); err != nil {
		return err
	}
	return b.afterCreate(ctx)
}

// createUsers is the create phase: POST /Users of every user.
func (b *scimBench) createUsers(ctx context.Context) error {
	p := newPhase("create users (POST /Users)")
	b.parallel(ctx, p, b.n, b.c, func(i int) error {
		var out struct {
			ID string `json:"id"`
		}
		err := b.do(ctx, "POST", "/Users", map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName": b.userName(i), "externalId": fmt.Sprintf("%s-ext-%d", b.run, i), "active": true,
			"name":        map[string]any{"givenName": "Given", "familyName": fmt.Sprintf("Family%d", i)},
			"displayName": fmt.Sprintf("Bench User %d", i),
			"emails":      []any{map[string]any{"value": b.userName(i), "type": "work", "primary": true}},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": "Dept" + fmt.Sprint(i%50), "employeeNumber": fmt.Sprint(i)},
			"password": "ignored-1mz050nq",
		}, 201, &out)
		b.ids[i] = out.ID
		return err
	})
	b.report(p)
	for i, id := range b.ids {
		if id == "" {
			return fmt.Errorf("user %d was not created; stopping", i)
		}
	}
	return nil
}

// afterCreate is the rest of the workload, once the users exist.
func (b *scimBench) afterCreate(ctx context.Context) error {
	if b.want("lookup") {
		p := newPhase("lookup existing (userName eq)")
		b.parallel(ctx, p, b.n, b.c, func(i int) error {
			var lr listResp
			if err := b.do(ctx, "GET", "/Users?filter="+url.QueryEscape(`userName eq "`+strings.ToUpper(b.userName(i))+`"`), nil, 200, &lr); err != nil {
				return err
			}
			if lr.TotalResults != 1 {
				return fmt.Errorf("user %d: %d matches", i, lr.TotalResults)
			}
			return nil
		})
		b.report(p)
	}
	if b.want("page") {
		if err := b.pageUsers(ctx); err != nil {
			return err
		}
	}
	if b.want("deactivate") {
		tenth := b.n / 10
		p := newPhase(fmt.Sprintf("deactivate a tenth (%d PATCH)", tenth))
		b.parallel(ctx, p, tenth, b.c, func(i int) error {
			return b.do(ctx, "PATCH", "/Users/"+b.ids[i*10], map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}},
			}, 200, nil)
		})
		b.report(p)
	}
	if b.want("build") {
		if err := b.groupPhases(ctx); err != nil {
			return err
		}
	}
	if b.want("delete") {
		p := newPhase(fmt.Sprintf("delete users (%d DELETE)", b.n))
		b.parallel(ctx, p, b.n, b.c, func(i int) error { return b.do(ctx, "DELETE", "/Users/"+b.ids[i], nil, 204, nil) })
		b.report(p)
	}
	return ctx.Err()
}

// pageUsers reads every user in pages of 100, as Okta and Entra do.
func (b *scimBench) pageUsers(ctx context.Context) error {

	var total listResp
	if err := b.do(ctx, "GET", "/Users?count=0", nil, 200, &total); err != nil {
		return err
	}
	pages := (total.TotalResults + 99) / 100
	// One client pages, as Okta and Entra do (startIndex += 100, in order).
	fmt.Printf("    %d users, %d pages of 100\n", total.TotalResults, pages)
	p := newPhase("page all users (pages of 100)")
	var seen atomic.Int64
	b.parallel(ctx, p, pages, 1, func(i int) error {
		var lr listResp
		if err := b.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", i*100+1), nil, 200, &lr); err != nil {
			return err
		}
		seen.Add(int64(len(lr.Resources)))
		return nil
	})
	b.report(p)
	if int(seen.Load()) != total.TotalResults {
		fmt.Printf("    paging saw %d of %d users\n", seen.Load(), total.TotalResults)
	}
	// First and last page alone, sequentially: the deep-offset worst case.
	for _, start := range []int{1, (pages-1)*100 + 1} {
		t := time.Now()
		if err := b.do(ctx, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", start), nil, 200, nil); err != nil {
			return err
		}
		fmt.Printf("    page startIndex=%d alone: %s ms\n", start, ms(time.Since(t)))
	}

	return nil
}

// groupPhases builds the big group and runs the selected phases on it.
func (b *scimBench) groupPhases(ctx context.Context) error {
	var g struct {
		ID string `json:"id"`
	}
	if err := b.seeding(func() error {
		if err := b.do(ctx, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": b.run + " everyone", "members": []any{}}, 201, &g); err != nil {
			return err
		}
		batches := (b.n + b.batch - 1) / b.batch
		p := newPhase(fmt.Sprintf("build group (%d PATCH x %d)", batches, b.batch))
		b.parallel(ctx, p, batches, min(b.c, 4), func(i int) error {
			var members []any
			for j := i * b.batch; j < min(b.n, (i+1)*b.batch); j++ {
				members = append(members, map[string]any{"value": b.ids[j]})
			}
			return b.do(ctx, "PATCH", "/Groups/"+g.ID, map[string]any{
				"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []any{map[string]any{"op": "add", "path": "members", "value": members}},
			}, 204, nil)
		})
		b.report(p)
		if p.fails > 0 {
			return fmt.Errorf("building the group: %s", p.first)
		}
		return nil
	}); err != nil {
		return err
	}

	if b.want("single") {
		p := newPhase(fmt.Sprintf("one-member add/remove (%d PATCH)", b.single))
		b.parallel(ctx, p, b.single, b.c, func(i int) error {
			id := b.ids[rand.IntN(b.n)]
			op := map[string]any{"op": "remove", "path": `members[value eq "` + id + `"]`}
			if i%2 == 1 {
				op = map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}
			}
			return b.do(ctx, "PATCH", "/Groups/"+g.ID, map[string]any{
				"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{op}}, 204, nil)
		})
		b.report(p)
	}
	if b.want("get") {
		p := newPhase("GET group excludedAttributes=members")
		b.parallel(ctx, p, 2000, b.c, func(i int) error {
			return b.do(ctx, "GET", "/Groups/"+g.ID+"?excludedAttributes=members", nil, 200, nil)
		})
		b.report(p)
	}
	if b.want("stream") {
		p := newPhase("GET group with all members (streamed)")
		b.parallel(ctx, p, 3, 1, func(i int) error {
			return b.do(ctx, "GET", "/Groups/"+g.ID, nil, 200, nil)
		})
		b.report(p)
	}
	if b.want("delgroup") {
		p := newPhase("delete group")
		b.parallel(ctx, p, 1, 1, func(i int) error { return b.do(ctx, "DELETE", "/Groups/"+g.ID, nil, 204, nil) })
		b.report(p)
	}
	return nil
}
