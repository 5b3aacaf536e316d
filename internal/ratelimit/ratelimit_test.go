package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestLocalWindow(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(nil, slog.New(slog.DiscardHandler), c.Now)
	rule := Rule{Name: "api", Limit: 3, Window: time.Minute}
	for i := 1; i <= 3; i++ {
		if ok, _ := l.Allow(context.Background(), rule, "k"); !ok {
			t.Fatalf("hit %d refused", i)
		}
	}
	c.Add(15 * time.Second)
	ok, retry := l.Allow(context.Background(), rule, "k")
	if ok || retry != 45*time.Second {
		t.Fatalf("4th hit: ok=%v retry=%v; want refused, retry 45s", ok, retry)
	}
	if ok, _ := l.Allow(context.Background(), rule, "other"); !ok {
		t.Fatal("another key shares the count")
	}
	c.Add(45 * time.Second)
	if ok, _ := l.Allow(context.Background(), rule, "k"); !ok {
		t.Fatal("a new window still refuses")
	}
	if ok, _ := l.Allow(context.Background(), Rule{Name: "off"}, "k"); !ok {
		t.Fatal("a disabled rule refused")
	}
}

// TestSharedAcrossInstances shows two limiters (two instances) on one database
// sharing one count, on SQLite and, when configured, PostgreSQL.
func TestSharedAcrossInstances(t *testing.T) {
	for name, st := range testStores(t) {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			st.Now = c.Now
			a := New(st, slog.New(slog.DiscardHandler), c.Now)
			b := New(st, slog.New(slog.DiscardHandler), c.Now)
			rule := Rule{Name: "login", Limit: 10, Window: time.Minute, Shared: true}
			var wg sync.WaitGroup
			var mu sync.Mutex
			allowed := 0
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := a
					if i%2 == 1 {
						l = b
					}
					if ok, _ := l.Allow(context.Background(), rule, "203.0.113.9"); ok {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if allowed != 10 {
				t.Fatalf("%d of 20 concurrent hits allowed across two instances; want exactly 10", allowed)
			}
			c.Add(2 * time.Hour)
			if ok, _ := a.Allow(context.Background(), rule, "203.0.113.9"); !ok {
				t.Fatal("a later window still refuses")
			}
			var rows int
			if err := st.DB().Get(&rows, `SELECT COUNT(*) FROM rate_limits`); err != nil {
				t.Fatal(err)
			}
			if rows != 1 {
				t.Errorf("%d windows kept after pruning; want only the current one", rows)
			}
		})
	}
}

func TestMiddlewareRejectsWithRetryAfter(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)}
	l := New(nil, slog.New(slog.DiscardHandler), c.Now)
	h := l.Middleware(Rule{Name: "scim", Limit: 1, Window: time.Minute}, BearerKey,
		func(w http.ResponseWriter, r *http.Request, _ time.Duration) {
			w.Header().Set("Content-Type", "application/scim+json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"429","detail":"too many requests"}`)
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := func(tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/scim/v2/Users", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := req("ghs_one"); w.Code != 200 {
		t.Fatalf("first: %d", w.Code)
	}
	w := req("ghs_one")
	if w.Code != 429 || w.Header().Get("Retry-After") != "30" || w.Header().Get("Content-Type") != "application/scim+json" {
		t.Fatalf("second: %d Retry-After=%q type=%q", w.Code, w.Header().Get("Retry-After"), w.Header().Get("Content-Type"))
	}
	if w := req("ghs_two"); w.Code != 200 {
		t.Fatalf("other token: %d", w.Code)
	}
	for range 3 {
		if w := req(""); w.Code != 200 {
			t.Fatalf("no token is keyed by nothing here: %d", w.Code)
		}
	}
}

func TestClientIP(t *testing.T) {
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name, remote, xff string
		trusted           []netip.Prefix
		want              string
	}{
		{"direct", "198.51.100.7:5000", "", nil, "198.51.100.7"},
		{"untrusted peer cannot spoof", "198.51.100.7:5000", "1.2.3.4", lb, "198.51.100.7"},
		{"behind a trusted proxy", "10.1.2.3:5000", "203.0.113.5", lb, "203.0.113.5"},
		{"spoofed hop before the real client", "10.1.2.3:5000", "1.2.3.4, 203.0.113.5", lb, "203.0.113.5"},
		{"chain of trusted proxies", "10.1.2.3:5000", "203.0.113.5, 10.9.9.9", lb, "203.0.113.5"},
		{"garbage header", "10.1.2.3:5000", "not-an-ip", lb, "10.1.2.3"},
		{"ipv6", "[2001:db8::1]:443", "", nil, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := ClientIP(r, tc.trusted); got != tc.want {
				t.Errorf("ClientIP = %q; want %q", got, tc.want)
			}
		})
	}
}

func testStores(t *testing.T) map[string]*store.SQL {
	t.Helper()
	ctx := context.Background()
	out := map[string]*store.SQL{}
	open := func(name, dsn string) {
		s, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	open("sqlite", "sqlite:"+t.TempDir()+"/rl.db")
	if pg := os.Getenv("GATEHOUSE_TEST_POSTGRES"); pg != "" && !testing.Short() {
		schema := fmt.Sprintf("gh_rl_%d", time.Now().UnixNano())
		admin, err := store.Open(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.DB().Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.DB().Exec(`DROP SCHEMA ` + schema + ` CASCADE`); admin.Close() })
		open("postgres", pg+"&search_path="+schema)
	}
	return out
}

// TestParseRate: serve's --rate-limit-* flags take N/s or N/min, and a bare N per
// minute as they always did.
func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"1200/s": PerSecond(1200), " 5000 / sec ": PerSecond(5000), "600/min": PerMinute(600), "30/m": PerMinute(30),
		"600": PerMinute(600), "0": PerMinute(0), "0/s": PerSecond(0),
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "many", "-1", "5/h", "1.5/s", "/s"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) took it", in)
		}
	}
	for r, want := range map[Rate]string{PerSecond(1200): "1200/s", PerMinute(600): "600/min", PerSecond(0): "0"} {
		if got := r.String(); got != want {
			t.Errorf("%#v.String() = %q; want %q", r, got, want)
		}
	}
	if rule := PerSecond(3).Rule("x"); rule.Limit != 3 || rule.Window != time.Second || rule.Shared {
		t.Errorf("rule %+v", rule)
	}
}

// TestSweepPerSecondRules: with per-second rules the local windows of idle keys are
// still dropped after an hour, and the map is walked at most once a minute, not on
// every second's first hit.
func TestSweepPerSecondRules(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := New(nil, slog.New(slog.DiscardHandler), c.Now)
	rule := PerSecond(5).Rule("api")
	for i := range 1000 {
		l.Allow(context.Background(), rule, fmt.Sprintf("k%d", i))
	}
	swept := l.lastSweep
	c.Add(2 * time.Second)
	l.Allow(context.Background(), rule, "busy")
	if !l.lastSweep.Equal(swept) {
		t.Errorf("swept again after 2 s")
	}
	c.Add(time.Hour + time.Minute)
	l.Allow(context.Background(), rule, "busy")
	l.mu.Lock()
	n := len(l.local)
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("%d local windows after an idle hour; want only the busy key's", n)
	}
}
