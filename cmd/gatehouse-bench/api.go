package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/benchdata"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// The api modes register themselves here so that the modes table in main.go needs
// no edit.
func init() {
	modes["api"] = mode{"access checks at issue 10's size: POST /api/v1/check cold, warm, under a SCIM writer, batches after a change, server RSS, beside a fixed-answer reference", runAPI}
	modes["api-server"] = mode{"(used by api) serve the API as serve builds it, rate limits off, and print the address", runAPIServer}
}

// runAPIServer is the server of the api mode, in its own process so that its
// resident memory and CPU are its own: the stack exactly as serve builds it
// (decision index bound included), with every rate limit off (0), as the bench
// must: the defaults would throttle one token at these rates.
func runAPIServer(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api-server", flag.ContinueOnError)
	dsn := fs.String("db", "", "database DSN")
	mem := fs.Int64("decision-memory", stack.DefaultDecisionMemory, "decision index bound in bytes")
	logPath := fs.String("log", os.DevNull, "file for the server's JSON request log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	logf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	logger := slog.New(slog.NewJSONHandler(logf, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv, closeStack, err := stack.Build(ctx, st, logger, benchOptions(ln, *mem))
	if err != nil {
		return err
	}
	defer closeStack()
	fmt.Printf("listening %s\n", ln.Addr())
	// The parent closes our stdin to stop us.
	ctx, cancel := context.WithCancel(ctx)
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); cancel() }()
	return srv.Run(ctx)
}

// benchOptions are serve's options for a loopback listener, every rate limit off
// (0) explicitly: the bench measures checks, not the limiter's refusals.
func benchOptions(ln net.Listener, mem int64) stack.Options {
	pub, _ := url.Parse("http://" + ln.Addr().String())
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := sso.NewBox(key)
	return stack.Options{Listener: ln, ExternalURL: pub, Box: box, SSORefreshEvery: -1,
		// serve's defaults (1,200 SCIM, 5,000 API requests a second per token) would throttle the bench's one token.
		SCIMPerToken: ratelimit.Rate{}, APIPerToken: ratelimit.Rate{}, PerIP: ratelimit.Rate{}, LoginPerIP: ratelimit.Rate{}, DecisionMemory: mem}
}

// runAPI measures issue 10's situations: it seeds the issue's world (100k users,
// 10k user groups, 1k IdP groups mapped, 1k workspaces × 2 environments, 20k
// grants, 100k resources) into a fresh database, starts the API in a process of
// its own, serves a fixed-answer handler here on the same server stack as the
// reference, and drives both with the same closed-loop client: the first check
// of an unloaded org, the first pass over the distinct questions, warm checks at
// c=16 and c=1 over questions drawn uniformly, the same while a SCIM writer
// makes 10 and then 100 changes a second (half of them membership changes),
// batches of 1,000 right after a membership change, and the server's RSS.
func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	dsn := fs.String("db", "", "database DSN (default: a fresh SQLite file in a temp dir); a PostgreSQL database gets a new org each run")
	size := fs.String("size", "issue10", "world size: issue10 or small")
	dur := fs.Duration("d", 10*time.Second, "duration of each timed phase")
	conc := fs.Int("c", 16, "concurrency")
	nq := fs.Int("questions", 100_000, "distinct questions")
	batches := fs.Int("batches", 20, "batches of 1,000 questions, each right after a membership change")
	mem := fs.Int64("decision-memory", stack.DefaultDecisionMemory, "the server's decision index bound in bytes")
	logPath := fs.String("log", os.DevNull, "file for the servers' JSON request log")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz := benchdata.Issue10
	if *size == "small" {
		sz = benchdata.Issue10Small
	}
	if *dsn == "" {
		dir, err := os.MkdirTemp("", "gatehouse-bench-api")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dsn = "sqlite:" + dir + "/bench.db"
	}
	st, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	w, err := benchdata.SeedWorld(ctx, st, fmt.Sprintf("bench-%d", time.Now().Unix()), sz)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d users, %d user groups, %d IdP groups mapped, %d workspaces × 2 environments, %d grants, %d resources (%s) in %v\n",
		sz.Users, sz.Groups, sz.IdPGroups, sz.Workspaces, sz.Grants, sz.Resources, st.Dialect(), time.Since(t0).Round(time.Second))

	// The distinct questions: a user drawn uniformly; half the time a workspace
	// where one of their groups holds a grant, else any; a resource of it and an
	// action drawn uniformly.
	rng := mrand.New(mrand.NewPCG(10, 16))
	actions := []core.Action{core.ActionView, core.ActionEdit, core.ActionRun, core.ActionPublish, core.ActionDelete}
	bodies := make([][]byte, *nq)
	for i := range bodies {
		u := rng.IntN(len(w.Users))
		ws := rng.IntN(len(w.WSSlugs))
		if g := w.Granted[u]; len(g) > 0 && rng.IntN(2) == 0 {
			ws = int(g[rng.IntN(len(g))])
		}
		t, ext := w.ResourceOf(ws, rng.IntN(w.PerWS))
		bodies[i], _ = json.Marshal(checkQ{User: w.Emails[u], Workspace: w.WSSlugs[ws], Action: string(actions[rng.IntN(len(actions))]),
			Resource: &checkRes{Type: string(t), ID: ext}})
	}
	w.Granted = nil
	debug.FreeOSMemory()
	uniform := func(worker, n int) []byte {
		return bodies[splitmix(uint64(worker)<<40|uint64(n))%uint64(len(bodies))]
	}

	logf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	logger := slog.New(slog.NewJSONHandler(logf, nil))
	fixedURL, stopFixed, err := serve(ctx, func(ln net.Listener) (*server.Server, func() error, error) {
		fixed := mountFunc(func(mux *http.ServeMux) { mux.Handle("POST /api/v1/check", benchdata.FixedAnswer()) })
		return server.New(stack.Config(st, logger, metrics.New(), benchOptions(ln, 0)), st, logger, fixed), func() error { return nil }, nil
	})
	if err != nil {
		return err
	}
	defer stopFixed()

	// The API in its own process, started now: the org is not loaded.
	apiURL, pid, stopAPI, err := startAPIServer(ctx, *dsn, *mem, *logPath)
	if err != nil {
		return err
	}
	defer stopAPI()
	serverPID = pid
	rss := watchRSS(pid)
	fmt.Printf("API server pid %d at %s, RSS at start %d MB\n\n", pid, apiURL, procStatus(pid, "VmRSS")>>10)

	load := func(base string, c int, body func(int, int) []byte, requests int) benchdata.Load {
		return benchdata.Load{URL: base + "/api/v1/check", Token: w.Token, Concurrency: c, Duration: *dur, Body: body, Requests: requests}
	}
	type row struct {
		name string
		r    benchdata.Result
		cpu  float64 // server CPU seconds
	}
	var rows []row
	measure := func(name string, l benchdata.Load) (benchdata.Result, error) {
		cpu0 := procCPU(pid)
		r, err := l.Run(ctx)
		cpu := procCPU(pid) - cpu0
		if strings.HasPrefix(name, "fixed") {
			cpu = 0
		}
		rows = append(rows, row{name, r, cpu})
		fmt.Printf("%-44s c=%-3d %v", name, l.Concurrency, r)
		if cpu > 0 {
			fmt.Printf(", server CPU %.0f µs/check", cpu/float64(r.Requests)*1e6)
		}
		fmt.Printf(", RSS %d MB\n", procStatus(pid, "VmRSS")>>10)
		return r, err
	}

	// Cold start: the first check of an org that is not loaded.
	client := &http.Client{Timeout: time.Minute}
	first, cpu0 := time.Now(), procCPU(pid)
	if _, err := post(ctx, client, apiURL+"/api/v1/check", w.Token, "application/json", bodies[0]); err != nil {
		return err
	}
	cold := time.Since(first)
	fmt.Printf("%-44s %v (server CPU %.2f s: the load of the org; on a busy machine the wall time is longer)\n",
		"first check of an unloaded org", cold.Round(time.Millisecond), procCPU(pid)-cpu0)
	// The reference, then the first pass over every distinct question right
	// after start (each question once), then warm.
	fixed16, err := measure("fixed-answer reference", load(fixedURL, *conc, uniform, 0))
	if err != nil {
		return err
	}
	fixed1, err := measure("fixed-answer reference", load(fixedURL, 1, uniform, 0))
	if err != nil {
		return err
	}
	pass, err := measure("first pass over the distinct questions", load(apiURL, *conc, func(_, n int) []byte { return bodies[n] }, len(bodies)))
	if err != nil {
		return err
	}
	warm16, err := measure("warm, questions drawn uniformly", load(apiURL, *conc, uniform, 0))
	if err != nil {
		return err
	}
	warm1, err := measure("warm, questions drawn uniformly", load(apiURL, 1, uniform, 0))
	if err != nil {
		return err
	}
	// A SCIM client changing things while the checks run.
	scim := &scimWriter{base: apiURL, token: w.SCIMToken, w: w, client: client, rng: mrand.New(mrand.NewPCG(7, 7))}
	var churn [2]benchdata.Result
	for i, rate := range []int{10, 100} {
		stop := scim.start(ctx, rate)
		churn[i], err = measure(fmt.Sprintf("warm, SCIM writer at %d changes/s", rate), load(apiURL, *conc, uniform, 0))
		made, failed, membership := stop()
		fmt.Printf("%-44s %d changes (%d membership), %d failed: %.1f/s\n", "  the writer made", made, membership, failed, float64(made)/dur.Seconds())
		if err != nil {
			return err
		}
		if failed > 0 {
			return fmt.Errorf("the SCIM writer failed %d times, first: %v", failed, scim.firstErr.Load())
		}
	}
	// Batches of 1,000 distinct questions, each right after a membership change.
	var afterChange []time.Duration
	for k := range *batches {
		if err := scim.membership(ctx); err != nil {
			return err
		}
		var in struct {
			Checks []json.RawMessage `json:"checks"`
		}
		for n := range 1000 {
			in.Checks = append(in.Checks, bodies[(k*1000+n*97)%len(bodies)])
		}
		b, _ := json.Marshal(in)
		t := time.Now()
		if _, err := post(ctx, client, apiURL+"/api/v1/check/batch", w.Token, "application/json", b); err != nil {
			return err
		}
		afterChange = append(afterChange, time.Since(t))
	}
	fmt.Printf("%-44s median %v, max %v (%d batches)\n", "batch of 1,000 right after a change", median(afterChange).Round(100*time.Microsecond),
		maxOf(afterChange).Round(100*time.Microsecond), len(afterChange))
	peak, hwm := rss.close()
	fmt.Printf("%-44s sampled peak %d MB, VmHWM %d MB\n", "API server RSS", peak>>10, hwm>>10)

	fmt.Println()
	fmt.Println("targets (issue 10):")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	share := func(r benchdata.Result) float64 { return r.PerSecond / fixed16.PerSecond }
	fmt.Printf("  warm c=%d >= 0.65x reference (%.0f/s):   %.0f/s = %.2fx  %s\n", *conc, fixed16.PerSecond, warm16.PerSecond, share(warm16), verdict(share(warm16) >= 0.65))
	fmt.Printf("  warm p99 <= 2x reference p99 (%v):   %v  %s\n", fixed16.P99, warm16.P99, verdict(warm16.P99 <= 2*fixed16.P99))
	fmt.Printf("  warm c=1 p99 < 1ms (reference %v):    %v  %s\n", fixed1.P99, warm1.P99, verdict(warm1.P99 < time.Millisecond))
	for i, rate := range []int{10, 100} {
		fmt.Printf("  writer %3d/s >= 0.5x, p99 <= 3x:            %.2fx, p99 %v  %s\n", rate, share(churn[i]), churn[i].P99,
			verdict(share(churn[i]) >= 0.5 && churn[i].P99 <= 3*fixed16.P99))
	}
	fmt.Printf("  first check of an unloaded org < 2s:       %v  %s\n", cold.Round(time.Millisecond), verdict(cold < 2*time.Second))
	fmt.Printf("  first pass >= 0.5x reference:              %.2fx  %s\n", share(pass), verdict(share(pass) >= 0.5))
	fmt.Printf("  batch of 1,000 after a change < 50ms:      %v  %s\n", median(afterChange).Round(100*time.Microsecond), verdict(median(afterChange) < 50*time.Millisecond))
	fmt.Printf("  server RSS < 256 MB:                       %d MB  %s\n", hwm>>10, verdict(hwm>>10 < 256))
	return nil
}

// startAPIServer runs this binary's api-server mode on dsn and waits for its
// address.
func startAPIServer(ctx context.Context, dsn string, mem int64, logPath string) (string, int, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, self, "api-server", "-db", dsn, "-decision-memory", fmt.Sprint(mem), "-log", logPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", 0, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() { stdin.Close(); _ = cmd.Wait() }
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		stop()
		return "", 0, nil, fmt.Errorf("api server did not start: %q, %v", line, err)
	}
	return "http://" + addr, cmd.Process.Pid, stop, nil
}

func post(ctx context.Context, client *http.Client, u, token, ctype string, body []byte) ([]byte, error) {
	return send(ctx, client, http.MethodPost, u, token, ctype, body)
}

func send(ctx context.Context, client *http.Client, method, u, token, ctype string, body []byte) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: status %d: %.200s", method, u, res.StatusCode, raw)
	}
	return raw, err
}

// scimWriter is an IdP's SCIM client changing the world: every other change is a
// membership change of an IdP group mapped onto a granted user group (an add,
// then its removal), which changes decisions; the others rename a user, which
// changes none.
type scimWriter struct {
	base, token string
	w           *benchdata.World
	client      *http.Client
	firstErr    atomic.Value

	mu    sync.Mutex
	rng   *mrand.Rand
	added [][2]string // (IdP group, user) pairs added and not yet removed
}

const patchOp = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

func (s *scimWriter) patch(ctx context.Context, path string, ops ...map[string]any) error {
	b, _ := json.Marshal(map[string]any{"schemas": []string{patchOp}, "Operations": ops})
	_, err := send(ctx, s.client, http.MethodPatch, s.base+"/scim/v2"+path, s.token, "application/scim+json", b)
	return err
}

// membership adds a user to an IdP group, or removes one added before.
func (s *scimWriter) membership(ctx context.Context) error {
	s.mu.Lock()
	var path string
	var op map[string]any
	if n := len(s.added); n > 0 && s.rng.IntN(2) == 0 {
		p := s.added[n-1]
		s.added = s.added[:n-1]
		path, op = "/Groups/"+p[0], map[string]any{"op": "remove", "path": `members[value eq "` + p[1] + `"]`}
	} else {
		g, u := s.w.IdPGroups[s.rng.IntN(len(s.w.IdPGroups))], s.w.Users[s.rng.IntN(len(s.w.Users))]
		s.added = append(s.added, [2]string{g, u})
		path, op = "/Groups/"+g, map[string]any{"op": "add", "path": "members", "value": []map[string]any{{"value": u}}}
	}
	s.mu.Unlock()
	return s.patch(ctx, path, op)
}

func (s *scimWriter) rename(ctx context.Context, k int) error {
	s.mu.Lock()
	u := s.w.Users[s.rng.IntN(len(s.w.Users))]
	s.mu.Unlock()
	return s.patch(ctx, "/Users/"+u, map[string]any{"op": "replace", "path": "displayName", "value": fmt.Sprintf("Renamed %d", k)})
}

// writerWorkers send the changes: one SCIM client, a few connections, as an IdP
// pushing changes does, so that a slow answer does not lower the rate.
const writerWorkers = 8

// start makes rate changes a second until the returned stop is called, which
// says how many were made, failed, and were membership changes. A change whose
// tick finds every worker busy is not made (the rate made is reported).
func (s *scimWriter) start(ctx context.Context, rate int) (stop func() (made, failed, membership int)) {
	done := make(chan struct{})
	work := make(chan int)
	var made, failed, member atomic.Int64
	var wg sync.WaitGroup
	for range writerWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				var err error
				if k%2 == 0 {
					err = s.membership(ctx)
					member.Add(1)
				} else {
					err = s.rename(ctx, k)
				}
				made.Add(1)
				if err != nil {
					failed.Add(1)
					s.firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	go func() {
		defer close(work)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for k := 0; ; {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			select {
			case work <- k:
				k++
			default: // every worker busy: this tick's change is not made
			}
		}
	}()
	return func() (int, int, int) {
		close(done)
		wg.Wait()
		return int(made.Load()), int(failed.Load()), int(member.Load())
	}
}

// splitmix spreads n over 64 bits: questions drawn uniformly, the same each run.
func splitmix(n uint64) uint64 {
	n += 0x9e3779b97f4a7c15
	n = (n ^ (n >> 30)) * 0xbf58476d1ce4e5b9
	n = (n ^ (n >> 27)) * 0x94d049bb133111eb
	return n ^ (n >> 31)
}

type checkQ struct {
	User      string    `json:"user"`
	Workspace string    `json:"workspace"`
	Action    string    `json:"action"`
	Resource  *checkRes `json:"resource,omitempty"`
}

type checkRes struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type mountFunc func(*http.ServeMux)

func (f mountFunc) Mount(mux *http.ServeMux) { f(mux) }

// serve runs a server built by build on a loopback port; stop shuts it down.
func serve(ctx context.Context, build func(net.Listener) (*server.Server, func() error, error)) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv, closeSrv, err := build(ln)
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done; _ = closeSrv() }, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
