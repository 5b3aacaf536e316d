package stack_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestDefaultLimitsStopOneTokensFlood: with serve's default limits, one SCIM token
// flooding the server is stopped after 1,200 requests in a second, and one API
// token after 5,000, each with 429, Retry-After and its protocol's error format,
// while another token of the same org keeps being served (issue 9, finding 6: the
// defaults were 100,000 a second, that is, off). The server is the stack serve
// builds, on SQLite and PostgreSQL; the limiter's clock is pinned so that the
// whole flood falls in one window however slow the machine.
func TestDefaultLimitsStopOneTokensFlood(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			st := b.New(t)
			ctx := context.Background()
			sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
			org, _, err := st.CreateOrg(ctx, sys, "acme", "Acme", "admin@acme.test")
			if err != nil {
				t.Fatal(err)
			}
			o := ops.New(st)
			scimA, err := o.ProvisionDirectory(ctx, sys, org.ID, "okta", "flood")
			if err != nil {
				t.Fatal(err)
			}
			scimB, err := o.ProvisionDirectory(ctx, sys, org.ID, "entra", "calm")
			if err != nil {
				t.Fatal(err)
			}
			_, apiA, err := st.CreateToken(ctx, sys, org.ID, store.TokenAPI, "flood", "")
			if err != nil {
				t.Fatal(err)
			}
			_, apiB, err := st.CreateToken(ctx, sys, org.ID, store.TokenAPI, "calm", "")
			if err != nil {
				t.Fatal(err)
			}
			base := serveDefaults(t, st)

			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			call := func(path, tok string) (int, string, http.Header) {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return 0, "", nil
				}
				defer res.Body.Close()
				body, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(body), res.Header
			}
			// flood sends n requests with tok from 16 workers and counts the 200s.
			flood := func(path, tok string, n int) int64 {
				var ok atomic.Int64
				var next atomic.Int64
				var wg sync.WaitGroup
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for next.Add(1) <= int64(n) {
							if code, body, _ := call(path, tok); code == http.StatusOK {
								ok.Add(1)
							} else if code != http.StatusTooManyRequests {
								t.Errorf("%s: %d %s", path, code, body)
								return
							}
						}
					}()
				}
				wg.Wait()
				return ok.Load()
			}

			for _, tc := range []struct {
				name, path, flooder, other string
				limit                      int64
				wantType, wantBody         string
			}{
				{"scim", "/scim/v2/Users?count=1", scimA.Token.Secret, scimB.Token.Secret, stack.DefaultSCIMRate.N, "application/scim+json", `"status":"429"`},
				{"api", "/api/v1/org", apiA, apiB, stack.DefaultAPIRate.N, "application/problem+json", `"status":429`},
			} {
				if stack.DefaultSCIMRate.Per != time.Second || stack.DefaultAPIRate.Per != time.Second {
					t.Fatalf("default rates are not per second: %v %v", stack.DefaultSCIMRate, stack.DefaultAPIRate)
				}
				if got := flood(tc.path, tc.flooder, int(tc.limit)+200); got != tc.limit {
					t.Errorf("%s: the flooding token was served %d times in one second; want the default %d", tc.name, got, tc.limit)
				}
				code, body, h := call(tc.path, tc.flooder)
				if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" || h.Get("Content-Type") != tc.wantType || !strings.Contains(body, tc.wantBody) {
					t.Errorf("%s: flooding token after the flood: %d %q Retry-After=%q %s", tc.name, code, h.Get("Content-Type"), h.Get("Retry-After"), body)
				}
				if code, body, _ := call(tc.path, tc.other); code != http.StatusOK {
					t.Errorf("%s: another token during the flood: %d %s", tc.name, code, body)
				}
			}
		})
	}
}

// serveDefaults runs the stack serve builds, with serve's default limits and a
// pinned rate-limit clock, on a loopback port.
func serveDefaults(t *testing.T, st *store.SQL) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := sso.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := url.Parse("http://" + ln.Addr().String())
	pinned := time.Date(2026, 12, 6, 12, 0, 0, 500_000_000, time.UTC)
	ctx, cancel := context.WithCancel(context.Background())
	srv, closeAll, err := stack.Build(ctx, st, slog.New(slog.DiscardHandler), stack.Options{
		Listener: ln, ExternalURL: pub, Box: box, SSORefreshEvery: -1,
		SCIMPerToken: stack.DefaultSCIMRate, APIPerToken: stack.DefaultAPIRate, PerIP: stack.DefaultIPRate, LoginPerIP: stack.DefaultLoginRate,
		RateClock: func() time.Time { return pinned },
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = closeAll() })
	return "http://" + ln.Addr().String()
}
