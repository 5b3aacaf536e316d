package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines decodes the JSON log lines.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// mountFunc adapts a function to Mounter.
type mountFunc func(mux *http.ServeMux)

func (f mountFunc) Mount(mux *http.ServeMux) { f(mux) }

func openSQLite(t *testing.T) *store.SQL {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// start runs a server on 127.0.0.1:0 until the test ends, returning its base URL and
// the function that stops it (and reports Run's error).
func start(t *testing.T, cfg server.Config, db server.Pinger, logs io.Writer, mounts ...server.Mounter) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	ready := make(chan net.Addr, 1)
	cfg.OnListen = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := server.New(cfg, db, slog.New(slog.NewJSONHandler(logs, nil)), mounts...)
	go func() { done <- srv.Run(ctx) }()
	addr := <-ready
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("server did not stop")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return "http://" + addr.String(), stop
}

func get(t *testing.T, url string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestProbes(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	logs := &syncBuffer{}
	base, stop := start(t, server.Config{}, db, logs)

	if code, body, _ := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("healthz = %d %q", code, body)
	}
	if code, body, _ := get(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Fatalf("readyz = %d %q", code, body)
	}
	if code, _, _ := get(t, base+"/nowhere"); code != 404 {
		t.Fatalf("unknown path = %d, want 404", code)
	}
	db.Close()
	if code, body, _ := get(t, base+"/readyz"); code != 503 {
		t.Fatalf("readyz after the database closed = %d %q, want 503", code, body)
	}
	if code, _, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz after the database closed = %d, want 200: the process is still up", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	base, stop := start(t, server.Config{}, openSQLite(t), logs, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /teapot", func(w http.ResponseWriter, r *http.Request) {
			if server.RequestID(r.Context()) == "" {
				t.Error("no request id in the handler's context")
			}
			w.WriteHeader(http.StatusTeapot)
		})
	}))
	secret := "Bearer scim_0123456789abcdef-secret"
	code, _, hdr := get(t, base+"/teapot?code=query-secret", "Authorization", secret, "X-Request-Id", "lb-1234")
	if code != http.StatusTeapot {
		t.Fatalf("status %d", code)
	}
	if hdr.Get("X-Request-Id") != "lb-1234" {
		t.Errorf("X-Request-Id = %q, want the caller's", hdr.Get("X-Request-Id"))
	}
	_, _, hdr = get(t, base+"/healthz", "X-Request-Id", "bad id\twith spaces")
	generated := hdr.Get("X-Request-Id")
	if generated == "" || strings.Contains(generated, " ") {
		t.Errorf("X-Request-Id = %q, want a generated id", generated)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	text := logs.String()
	for _, leak := range []string{"scim_0123456789abcdef", "query-secret", "Authorization"} {
		if strings.Contains(text, leak) {
			t.Errorf("the log contains %q:\n%s", leak, text)
		}
	}
	var reqs []map[string]any
	for _, l := range logs.lines(t) {
		if l["msg"] == "request" {
			reqs = append(reqs, l)
		}
	}
	if len(reqs) != 2 {
		t.Fatalf("want 2 request lines, got %d:\n%s", len(reqs), text)
	}
	r := reqs[0]
	if r["method"] != "GET" || r["path"] != "/teapot" || r["status"] != float64(418) || r["request_id"] != "lb-1234" {
		t.Errorf("request line = %v", r)
	}
	if d, ok := r["duration"].(string); !ok {
		t.Errorf("request line has no duration: %v", r)
	} else if _, err := time.ParseDuration(d); err != nil || strings.Trim(d, "0123456789.") == "" {
		t.Errorf("request line's duration %q is not a duration with a unit", d)
	}
	if reqs[1]["request_id"] != generated {
		t.Errorf("logged id %v, sent %q", reqs[1]["request_id"], generated)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	var readErr error
	var mu sync.Mutex
	base, _ := start(t, server.Config{MaxBodyBytes: 1024}, openSQLite(t), io.Discard, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			mu.Lock()
			readErr = err
			mu.Unlock()
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, "too large", http.StatusRequestEntityTooLarge)
				return
			}
			w.Write(b)
		})
	}))
	post := func(body io.Reader) int {
		resp, err := http.Post(base+"/echo", "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if code := post(strings.NewReader(strings.Repeat("a", 1000))); code != 200 {
		t.Fatalf("small body = %d", code)
	}
	if code := post(strings.NewReader(strings.Repeat("a", 5000))); code != 413 {
		t.Fatalf("declared large body = %d, want 413", code)
	}
	// A chunked body declares no length: the reader stops it at the limit.
	if code := post(io.MultiReader(strings.NewReader(strings.Repeat("a", 5000)))); code != 413 {
		t.Fatalf("chunked large body = %d, want 413", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if readErr == nil {
		t.Fatalf("the handler read past the limit without an error")
	}
}

func TestPanicIsA500(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	base, _ := start(t, server.Config{}, openSQLite(t), logs, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	}))
	if code, body, _ := get(t, base+"/boom"); code != 500 || strings.Contains(body, "boom") {
		t.Fatalf("panic = %d %q, want a bare 500", code, body)
	}
	if code, _, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("server did not survive the panic")
	}
	if !strings.Contains(logs.String(), `"handler panic"`) {
		t.Errorf("panic not logged")
	}
}

func TestGracefulShutdownDrainsSlowRequest(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	base, stop := start(t, server.Config{}, openSQLite(t), io.Discard, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "finished")
		})
	}))
	type result struct {
		code int
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	// While draining, the server refuses new connections but keeps the slow one.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	default:
	}
	close(release)
	r := <-got
	if r.err != nil || r.code != 200 || r.body != "finished" {
		t.Fatalf("slow request = %d %q %v, want it to complete", r.code, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestDrainingEndsWaits: a request that waits on purpose (a long poll) learns
// through Draining that the drain began and answers at once.
func TestDrainingEndsWaits(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	base, stop := start(t, server.Config{}, openSQLite(t), io.Discard, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /wait", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			select {
			case <-server.Draining(r.Context()):
				io.WriteString(w, "drained")
			case <-time.After(time.Minute):
				io.WriteString(w, "waited")
			}
		})
	}))
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/wait")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	<-entered
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if body := <-got; body != "drained" || time.Since(began) > 5*time.Second {
		t.Fatalf("the waiting request answered %q after %s", body, time.Since(began))
	}
	if server.Draining(context.Background()) != nil {
		t.Fatal("Draining outside a request is not nil")
	}
}

func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	base, stop := start(t, server.Config{ShutdownTimeout: 100 * time.Millisecond}, openSQLite(t), io.Discard, mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /stuck", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
		})
	}))
	go func() {
		if resp, err := http.Get(base + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	if err := stop(); err == nil || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("Run = %v, want a shutdown timeout error", err)
	}
}

func TestListenError(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := server.New(server.Config{Addr: ln.Addr().String()}, openSQLite(t), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err := srv.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("Run on a taken port = %v", err)
	}
}
