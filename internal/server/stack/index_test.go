package stack_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/server/stack"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/sso"
)

// TestDecisionIndexWired: the stack serve builds decides through one decision
// index with the memory bound it was given (serve's --decision-memory), and
// /metrics shows it: after checks of two orgs, two loads, the bound, the bytes.
func TestDecisionIndexWired(t *testing.T) {
	t.Parallel()
	st := storetest.NewSQLite(t)
	ctx := context.Background()
	sys := core.Actor{Kind: core.ActorSystem, Name: "test"}
	var tokens []string
	for _, slug := range []string{"acme", "globex"} {
		org, _, err := st.CreateOrg(ctx, sys, slug, slug, "admin@"+slug+".test")
		if err != nil {
			t.Fatal(err)
		}
		_, secret, err := st.CreateToken(ctx, sys, org.ID, store.TokenAPI, "app", "")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, secret)
	}
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
	sctx, cancel := context.WithCancel(ctx)
	srv, closeAll, err := stack.Build(sctx, st, slog.New(slog.DiscardHandler), stack.Options{
		Listener: ln, ExternalURL: pub, Box: box, SSORefreshEvery: -1, DecisionMemory: 8 << 20})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = closeAll() })
	base := "http://" + ln.Addr().String()

	for _, tok := range tokens {
		for range 3 {
			req, _ := http.NewRequest("POST", base+"/api/v1/check", strings.NewReader(`{"user":"admin@acme.test","workspace":"nowhere","action":"view"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("check: %d", res.StatusCode)
			}
		}
	}
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	for _, want := range []string{
		"gatehouse_decision_index_loads_total 2\n",
		"gatehouse_decision_index_reloads_total 0\n",
		"gatehouse_decision_index_orgs 2\n",
		"gatehouse_decision_index_bound_bytes 8.388608e+06\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^gatehouse_decision_index_bytes [1-9]`).MatchString(body) {
		t.Errorf("/metrics: no bytes held: %s", regexp.MustCompile(`(?m)^gatehouse_decision_index.*$`).FindAllString(body, -1))
	}
}
