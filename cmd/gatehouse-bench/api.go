package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/benchdata"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// The api mode registers itself here so that the modes table in main.go needs no edit.
func init() {
	modes["api"] = mode{"access checks: POST /api/v1/check (c=16, c=1) against a fixed-answer reference, and check/batch of 1,000", runAPI}
}

// runAPI seeds an org of the target size (100k users, 10k groups, 1k workspaces,
// 100k resources) into a fresh database, serves the real API on the real server,
// serves a fixed-answer handler on the same server stack as the reference, and
// drives both with the same closed-loop load.
func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	dsn := fs.String("db", "", "database DSN (default: a fresh SQLite file in a temp dir)")
	size := fs.String("size", "target", "org size: target or small")
	dur := fs.Duration("d", 10*time.Second, "duration of each load phase")
	conc := fs.Int("c", 16, "concurrency of the main phase")
	batches := fs.Int("batches", 20, "number of batch requests of 1,000 questions")
	logPath := fs.String("log", os.DevNull, "file for the servers' JSON request log")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the c=16 check phase to this file")
	batchprofile := fs.String("batchprofile", "", "write a CPU profile of the batch phase to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sz := benchdata.Target
	if *size == "small" {
		sz = benchdata.Small
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
	org, err := benchdata.Seed(ctx, st, fmt.Sprintf("bench-%d", time.Now().Unix()), sz)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d users, %d groups, %d workspaces, %d resources in %v\n", sz.Users, sz.Groups, sz.Workspaces, sz.Resources, time.Since(t0).Round(time.Second))

	// The request log goes where serve sends it (JSON lines on stderr), here to a
	// file (default the null device): same formatting and one write per request.
	logf, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	logger := slog.New(slog.NewJSONHandler(logf, nil))
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := sso.NewBox(key)
	if err != nil {
		return err
	}
	opts := func(ln net.Listener) stack.Options {
		pub, _ := url.Parse("http://" + ln.Addr().String())
		return stack.Options{Listener: ln, ExternalURL: pub, Box: box,
			SCIMPerToken: stack.DefaultRate, APIPerToken: stack.DefaultRate, PerIP: stack.DefaultRate, LoginPerIP: stack.DefaultLoginRate}
	}
	// The API exactly as serve builds it; the reference behind the same middleware.
	apiURL, stopAPI, err := serve(ctx, func(ln net.Listener) (*server.Server, func() error, error) {
		return stack.Build(ctx, st, logger, opts(ln))
	})
	if err != nil {
		return err
	}
	defer stopAPI()
	fixedURL, stopFixed, err := serve(ctx, func(ln net.Listener) (*server.Server, func() error, error) {
		fixed := mountFunc(func(mux *http.ServeMux) { mux.Handle("POST /api/v1/check", benchdata.FixedAnswer()) })
		return server.New(stack.Config(st, logger, metrics.New(), opts(ln)), st, logger, fixed), func() error { return nil }, nil
	})
	if err != nil {
		return err
	}
	defer stopFixed()

	question := func(n int) checkQ {
		u := (n * 7919) % len(org.Users)
		ws := org.UserWS[u]
		t, ext := org.Resource(ws, n%org.PerWS)
		actions := []core.Action{core.ActionView, core.ActionEdit, core.ActionRun, core.ActionDelete}
		return checkQ{User: org.Emails[u], Workspace: org.WSSlugs[ws], Action: string(actions[n%len(actions)]), Resource: &checkRes{Type: string(t), ID: ext}}
	}
	bodies := make([][]byte, 20_000)
	for i := range bodies {
		bodies[i], _ = json.Marshal(question(i))
	}
	body := func(w, n int) []byte { return bodies[(w*1237+n)%len(bodies)] }

	// Batches of 1,000 distinct questions, warm (cache filled) and cold (a change
	// just bumped the org's generation, so every fact is gathered anew).
	batchFrom := func(first int) []byte {
		var in struct {
			Checks []checkQ `json:"checks"`
		}
		for n := range 1000 {
			in.Checks = append(in.Checks, question(first+n))
		}
		b, _ := json.Marshal(in)
		return b
	}
	client := &http.Client{Timeout: time.Minute}
	timeBatch := func(b []byte) (time.Duration, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", apiURL+"/api/v1/check/batch", strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+org.Token)
		t := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return 0, fmt.Errorf("batch: status %d", res.StatusCode)
		}
		return time.Since(t), nil
	}
	// Warm the cache with every question of the load once, as a long-running server
	// would be, through batches (which fill the same cache).
	t1 := time.Now()
	for first := 0; first < len(bodies); first += 1000 {
		if _, err := timeBatch(batchFrom(first)); err != nil {
			return err
		}
	}
	fmt.Printf("warmed the cache with %d questions in %v\n", len(bodies), time.Since(t1).Round(time.Millisecond))

	run := func(name, url string, c int) (benchdata.Result, error) {
		r, err := benchdata.Load{URL: url + "/api/v1/check", Token: org.Token, Concurrency: c, Duration: *dur, Body: body}.Run(ctx)
		fmt.Printf("%-28s c=%-3d %v\n", name, c, r)
		return r, err
	}
	fixed16, err := run("fixed-answer reference", fixedURL, *conc)
	if err != nil {
		return err
	}
	// The profile covers the API's c=16 phase only (client and server share the
	// process: read the server's functions in it).
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	check16, err := run("POST /api/v1/check", apiURL, *conc)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	check1, err := run("POST /api/v1/check", apiURL, 1)
	if err != nil {
		return err
	}

	var warm, cold []time.Duration
	if *batchprofile != "" {
		f, err := os.Create(*batchprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	sys := core.Actor{Kind: core.ActorSystem, Name: "gatehouse-bench"}
	for k := range *batches {
		b := batchFrom(100_000 + k*1000)
		if _, err := st.CreateGroup(ctx, sys, core.UserGroup{OrgID: org.OrgID, Name: fmt.Sprintf("bench-change-%d-%d", time.Now().UnixNano(), k)}); err != nil {
			return err
		}
		d, err := timeBatch(b)
		if err != nil {
			return err
		}
		cold = append(cold, d)
		if d, err = timeBatch(b); err != nil {
			return err
		}
		warm = append(warm, d)
	}
	if *batchprofile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Printf("%-28s warm: median %v, max %v; cold (after a change): median %v, max %v\n", "POST /api/v1/check/batch", median(warm), maxOf(warm), median(cold), maxOf(cold))

	fmt.Println()
	fmt.Println("targets:")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Printf("  check c=%d >= 15000/s:               %.0f/s  %s\n", *conc, check16.PerSecond, verdict(check16.PerSecond >= 15000))
	fmt.Printf("  check c=%d p99 <= 2x fixed p99 (%v): %v  %s\n", *conc, fixed16.P99, check16.P99, verdict(check16.P99 <= 2*fixed16.P99))
	fmt.Printf("  check c=1 p99 < 1ms:                 %v  %s\n", check1.P99, verdict(check1.P99 < time.Millisecond))
	fmt.Printf("  batch of 1,000 < 50ms (warm):        %v  %s\n", median(warm), verdict(median(warm) < 50*time.Millisecond))
	fmt.Printf("  batch of 1,000 < 50ms (cold):        %v  %s\n", median(cold), verdict(median(cold) < 50*time.Millisecond))
	return nil
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
