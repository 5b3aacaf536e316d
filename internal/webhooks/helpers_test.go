package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
)

var (
	ctx = context.Background()
	sys = core.Actor{Kind: core.ActorSystem, Name: "webhooks test"}
)

func newOrg(t testing.TB, s *store.SQL, slug string) core.Org {
	t.Helper()
	o, _, err := s.CreateOrg(ctx, sys, slug, "Org "+slug, "admin@"+slug+".example.com")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newGroup(t testing.TB, s *store.SQL, orgID, name string) {
	t.Helper()
	if _, err := s.CreateGroup(ctx, sys, core.UserGroup{OrgID: orgID, Name: name}); err != nil {
		t.Fatal(err)
	}
}

// hooked makes an org with a receiver and a webhook to it subscribed to types,
// the receiver checking signatures with the webhook's secret on clock now.
func hooked(t testing.TB, s *store.SQL, now func() time.Time, types ...string) (core.Org, store.Webhook, *receiver) {
	t.Helper()
	o := newOrg(t, s, "acme")
	rc := newReceiver(t, now)
	w, secret := newWebhook(t, s, o.ID, rc.URL(), types...)
	rc.setSecret(secret)
	return o, w, rc
}

func newWebhook(t testing.TB, s *store.SQL, orgID, url string, types ...string) (store.Webhook, string) {
	t.Helper()
	w, secret, err := s.CreateWebhook(ctx, sys, store.Webhook{OrgID: orgID, URL: url, EventTypes: types}, storetest.Box(t))
	if err != nil {
		t.Fatal(err)
	}
	return w, secret
}

// clock is a fake clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// resolver is a fake DNS: host → addresses, changeable during a test.
type resolver struct {
	mu sync.Mutex
	m  map[string][]netip.Addr
}

func newResolver(kv ...string) *resolver {
	r := &resolver{m: map[string][]netip.Addr{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.set(kv[i], strings.Split(kv[i+1], ",")...)
	}
	return r
}

func (r *resolver) set(host string, addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[host] = nil
	for _, a := range addrs {
		r.m[host] = append(r.m[host], netip.MustParseAddr(a))
	}
}

func (r *resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a, ok := r.m[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// received is one request a receiver accepted.
type received struct {
	ID   string
	Seq  int64
	Type string
	Data map[string]any
}

// receiver is a webhook endpoint on 127.0.0.1 that checks every request the way
// an application should (its own HMAC code, not the package's), and can answer
// errors or go down (connection refused) and come back on the same address.
type receiver struct {
	t   testing.TB
	now func() time.Time

	mu       sync.Mutex
	secret   string
	status   int // the answer; 0 means 204
	requests int
	accepted []received
	badSigs  []string
	addr     string
	srv      *http.Server
	onReq    func(r *http.Request) // runs before the answer (tests block in it)
}

func newReceiver(t testing.TB, now func() time.Time) *receiver {
	t.Helper()
	rc := &receiver{t: t, now: now}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	t.Cleanup(rc.down)
	return rc
}

func (rc *receiver) URL() string { return "http://" + rc.addr + "/hooks/gatehouse" }

func (rc *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(rc.handle), ReadHeaderTimeout: 5 * time.Second}
	rc.mu.Lock()
	rc.srv = srv
	rc.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck
}

// down closes the listener: connections are refused until up.
func (rc *receiver) down() {
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same address.
func (rc *receiver) up() {
	rc.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	for range 50 { // the port may linger a moment
		if ln, err = net.Listen("tcp", rc.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		rc.t.Fatalf("listen again on %s: %v", rc.addr, err)
	}
	rc.serve(ln)
}

func (rc *receiver) setSecret(secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secret = secret
}

func (rc *receiver) setStatus(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = code
}

func (rc *receiver) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	onReq, secret := rc.onReq, rc.secret
	rc.mu.Unlock()
	if onReq != nil {
		onReq(r)
	}
	var ev received
	err := json.Unmarshal(body, &ev)
	if err == nil {
		err = verify([]string{secret}, r.Header, body, rc.now())
	}
	if err == nil && ev.ID != r.Header.Get("webhook-id") {
		err = fmt.Errorf("webhook-id %q is not the event id %q", r.Header.Get("webhook-id"), ev.ID)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.badSigs = append(rc.badSigs, fmt.Sprintf("%s %v", r.Method, err))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.status != 0 {
		w.WriteHeader(rc.status)
		return
	}
	rc.accepted = append(rc.accepted, ev)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() (accepted []received, requests int, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.accepted...), rc.requests, append([]string(nil), rc.badSigs...)
}

// verify checks a Standard Webhooks request as a receiver does: the timestamp
// within five minutes, and one v1 signature equal to HMAC-SHA256 of
// id.timestamp.body under the secret's base64-decoded bytes.
func verify(secrets []string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	if d := now.Unix() - sec; d > 300 || d < -300 {
		return fmt.Errorf("webhook-timestamp %d is %ds off", sec, d)
	}
	for _, secret := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			return err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		for _, s := range strings.Fields(sigs) {
			if v, sig, _ := strings.Cut(s, ","); v == "v1" && hmac.Equal([]byte(sig), []byte(want)) {
				return nil
			}
		}
	}
	return errors.New("no valid signature")
}

// eventuallyf polls cond until it holds or the deadline passes.
func eventuallyf(t testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// subscribed lists the org's changes after a cursor that a filter keeps, as a
// receiver should get them.
func subscribed(t testing.TB, s *store.SQL, orgID string, after int64, match func(typ string) bool) []received {
	t.Helper()
	evs, err := s.Changes(ctx, orgID, after, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	for _, e := range evs {
		if typ := typeOf(e); match(typ) {
			out = append(out, received{ID: e.ID, Seq: e.Seq, Type: typ})
		}
	}
	return out
}

func newDeliverer(t testing.TB, o webhooks.Options) *webhooks.Deliverer {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := webhooks.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sameStream fails unless got is want, event for event (ids, seqs, types), in order.
func sameStream(t testing.TB, got, want []received) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("received %d events, want %d:\n got %v\nwant %v", len(got), len(want), seqs(got), seqs(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID || got[i].Seq != want[i].Seq || got[i].Type != want[i].Type {
			t.Fatalf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func seqs(rs []received) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}
