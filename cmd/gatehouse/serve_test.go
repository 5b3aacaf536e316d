package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// testSecretKey seals SSO secrets in serve tests: PostgreSQL has no key file next
// to the database, so serve needs one given.
const testSecretKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// serving is a running "gatehouse serve" started in-process.
type serving struct {
	base   string // http://127.0.0.1:PORT
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns, with its result in err
	err    error
}

// startServe runs serve on 127.0.0.1:0 and waits for its "listening" log line, which
// carries the bound address.
func startServe(t *testing.T, args ...string) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &serving{logs: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = run(ctx, io.Discard, s.logs, append([]string{"serve", "--addr", "127.0.0.1:0", "--secret-key", testSecretKey}, args...))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range logLines(t, s.logs) {
			if l["msg"] == "listening" {
				s.base = "http://" + l["addr"].(string)
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited before listening: %v\n%s", s.err, s.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not start:\n%s", s.logs)
	return nil
}

// stop cancels serve's context (SIGINT/SIGTERM in main) and returns run's result.
func (s *serving) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
		return s.err
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
		return nil
	}
}

func logLines(t *testing.T, b *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("serve logged a non-JSON line to a non-terminal: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func TestServe(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := startServe(t, "--db", b.dsn)
			if code, body := httpGet(t, s.base+"/healthz"); code != 200 || body != "ok" {
				t.Errorf("healthz = %d %q", code, body)
			}
			if code, body := httpGet(t, s.base+"/readyz"); code != 200 || body != "ready" {
				t.Errorf("readyz = %d %q", code, body)
			}
			if err := s.stop(t); err != nil {
				t.Fatalf("serve returned %v after a clean shutdown", err)
			}

			var sawMigration, sawHint, sawRequest, sawStopped bool
			for _, l := range logLines(t, s.logs) {
				msg, _ := l["msg"].(string)
				switch {
				case msg == "applied migration" && l["version"] == "0001_core":
					sawMigration = true
				case strings.Contains(msg, "no organization yet"):
					sawHint = true
					if want := "gatehouse org create --db " + shellQuote(b.dsn) + " --slug "; !strings.Contains(msg, want) {
						t.Errorf("the hint %q does not give the command with the DSN used (%s)", msg, want)
					}
					// The first-run setup link, single use, on the external URL.
					if !regexp.MustCompile(`open http://127\.0\.0\.1:\d+/setup\?token=[A-Za-z0-9_-]{43} to create the first one`).MatchString(msg) || l["level"] != "WARN" {
						t.Errorf("the hint %q does not give the setup link", msg)
					}
				case msg == "request" && l["path"] == "/readyz":
					sawRequest = l["method"] == "GET" && l["status"] == float64(200) && l["request_id"] != "" && l["duration"] != nil
				case msg == "stopped":
					sawStopped = true
				}
			}
			if !sawMigration || !sawHint || !sawRequest || !sawStopped {
				t.Errorf("log: migration %v, first-org hint %v, request line %v, stopped %v:\n%s", sawMigration, sawHint, sawRequest, sawStopped, s.logs)
			}

			// Started again on the same database: nothing to migrate, and with an org
			// the hint is gone.
			mustRun(t, "org", "create", "--db", b.dsn, "--slug", "acme", "--name", "Acme", "--admin-email", "ada@acme.example")
			s2 := startServe(t, "--db", b.dsn)
			if err := s2.stop(t); err != nil {
				t.Fatal(err)
			}
			if text := s2.logs.String(); strings.Contains(text, "no organization yet") || strings.Contains(text, "applied migration") {
				t.Errorf("second start logged a hint or a migration:\n%s", text)
			}
		})
	}
}

func TestServeBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "8080"}, `--addr "8080": want host:port`},
		{[]string{"--addr", "127.0.0.1:0", "--external-url", "gh.example.com"}, "--external-url"},
		{[]string{"--addr", "127.0.0.1:0", "--db", "nosql:x"}, "unsupported database DSN"},
	} {
		err := run(ctx, io.Discard, io.Discard, append([]string{"serve"}, tc.args...))
		wantErr(t, err, tc.want)
	}
}

func TestFirstOrgCommandHidesPassword(t *testing.T) {
	t.Parallel()
	got := firstOrgCommand("postgres://gh:s3cret@db.internal:5432/gh?sslmode=require")
	if strings.Contains(got, "s3cret") {
		t.Fatalf("the hint shows the password: %s", got)
	}
	want := self() + " org create --db 'postgres://gh:PASSWORD@db.internal:5432/gh?sslmode=require' --slug acme"
	if !strings.HasPrefix(got, want) {
		t.Fatalf("hint = %s\nwant prefix %s", got, want)
	}
	if got := firstOrgCommand("sqlite:gatehouse.db"); !strings.HasPrefix(got, self()+" org create --db sqlite:gatehouse.db --slug") {
		t.Fatalf("hint = %s", got)
	}
}

// mountFunc adapts a function to server.Mounter.
type mountFunc func(mux *http.ServeMux)

func (f mountFunc) Mount(mux *http.ServeMux) { f(mux) }

// TestServeDrainsAndReadyz runs serve with one extra handler that blocks until
// released: cancelling serve's context (what SIGINT/SIGTERM do in main) lets that
// request complete before serve returns. It also closes serve's store under it:
// /readyz turns 503 while /healthz stays 200.
func TestServeDrainsAndReadyz(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			var db *store.SQL
			extra := func(s *store.SQL) []server.Mounter {
				db = s
				return []server.Mounter{mountFunc(func(mux *http.ServeMux) {
					mux.HandleFunc("GET /test/slow", func(w http.ResponseWriter, r *http.Request) {
						close(entered)
						<-release
						io.WriteString(w, "done")
					})
				})}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logs := &syncBuffer{}
			served := make(chan error, 1)
			go func() {
				served <- serveWith(ctx, logs, []string{"--addr", "127.0.0.1:0", "--db", b.dsn, "--secret-key", testSecretKey}, extra)
			}()
			base := ""
			for deadline := time.Now().Add(30 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				for _, l := range logLines(t, logs) {
					if l["msg"] == "listening" {
						base = "http://" + l["addr"].(string)
					}
				}
			}
			if base == "" {
				t.Fatalf("serve did not start:\n%s", logs)
			}

			type result struct {
				code int
				body string
				err  error
			}
			slow := make(chan result, 1)
			go func() {
				resp, err := http.Get(base + "/test/slow")
				if err != nil {
					slow <- result{err: err}
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				slow <- result{resp.StatusCode, string(body), err}
			}()
			<-entered

			if code, _ := httpGet(t, base+"/readyz"); code != 200 {
				t.Fatalf("readyz = %d before the store closed", code)
			}
			db.Close()
			if code, body := httpGet(t, base+"/readyz"); code != 503 {
				t.Fatalf("readyz = %d %q after the store closed, want 503", code, body)
			}
			if code, _ := httpGet(t, base+"/healthz"); code != 200 {
				t.Fatalf("healthz = %d after the store closed, want 200", code)
			}

			cancel()
			time.Sleep(100 * time.Millisecond) // let shutdown begin while the request is held
			select {
			case err := <-served:
				t.Fatalf("serve returned (%v) with a request in flight", err)
			default:
			}
			close(release)
			if r := <-slow; r.err != nil || r.code != 200 || r.body != "done" {
				t.Fatalf("in-flight request = %d %q %v, want it completed", r.code, r.body, r.err)
			}
			select {
			case err := <-served:
				if err != nil {
					t.Fatalf("serve = %v after a clean drain", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not return after the drain")
			}
		})
	}
}
