// Package webhookstest is a webhook receiver for tests: an application's endpoint
// on 127.0.0.1 that checks every delivery the way the Standard Webhooks
// specification tells receivers to (with its own HMAC code, not the server's
// Sign), records what it accepted, and can answer errors, go down (connection
// refused) and come back on the same address. Clock and RunOnce drive a
// deliverer step by step.
package webhookstest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Received is one delivery a receiver accepted.
type Received struct {
	ID   string         `json:"id"`
	Seq  int64          `json:"seq"`
	Type string         `json:"type"`
	Data map[string]any `json:"data"`
}

// Receiver is a webhook endpoint. It answers a good delivery 204 and records it,
// or answers the status SetStatus set and records nothing.
type Receiver struct {
	t   testing.TB
	now func() time.Time

	mu       sync.Mutex
	secrets  []string
	status   int // the answer; 0 means 204
	requests int
	accepted []Received
	bad      []string
	addr     string
	srv      *http.Server
	onReq    func(r *http.Request)
}

// New starts a receiver that checks timestamps against now.
func New(t testing.TB, now func() time.Time) *Receiver {
	t.Helper()
	rc := &Receiver{t: t, now: now}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	t.Cleanup(rc.Down)
	return rc
}

// URL is the receiver's webhook URL (plain http to loopback).
func (rc *Receiver) URL() string { return "http://" + rc.addr + "/hooks/gatehouse" }

func (rc *Receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(rc.handle), ReadHeaderTimeout: 5 * time.Second}
	rc.mu.Lock()
	rc.srv = srv
	rc.mu.Unlock()
	go srv.Serve(ln) //nolint:errcheck
}

// Down closes the listener: connections are refused until Up.
func (rc *Receiver) Down() {
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Up listens again on the same address.
func (rc *Receiver) Up() {
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

// SetSecret sets the secrets a signature may be made with (a receiver in the
// middle of a rotation knows two).
func (rc *Receiver) SetSecret(secrets ...string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets = secrets
}

// Secrets returns the secrets it checks signatures with.
func (rc *Receiver) Secrets() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.secrets...)
}

// SetStatus sets the answer to good deliveries: 0 accepts them (204), any other
// status refuses them with that status.
func (rc *Receiver) SetStatus(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.status = code
}

// OnRequest runs f on each request before it is checked and answered (tests
// block in it); nil removes it.
func (rc *Receiver) OnRequest(f func(r *http.Request)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.onReq = f
}

func (rc *Receiver) handle(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	onReq, secrets := rc.onReq, rc.secrets
	rc.mu.Unlock()
	if onReq != nil {
		onReq(r)
	}
	var ev Received
	err := json.Unmarshal(body, &ev)
	if err == nil {
		err = Verify(secrets, r.Header, body, rc.now())
	}
	if err == nil && ev.ID != r.Header.Get("webhook-id") {
		err = fmt.Errorf("webhook-id %q is not the event id %q", r.Header.Get("webhook-id"), ev.ID)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		rc.bad = append(rc.bad, fmt.Sprintf("%s %v", r.Method, err))
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

// Snapshot returns what was accepted (in arrival order), how many requests came,
// and why the refused ones were refused.
func (rc *Receiver) Snapshot() (accepted []Received, requests int, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Received(nil), rc.accepted...), rc.requests, append([]string(nil), rc.bad...)
}

// Verify checks a Standard Webhooks request as a receiver does: the timestamp
// within five minutes, and one v1 signature equal to HMAC-SHA256 of
// id.timestamp.body under one secret's base64-decoded bytes.
func Verify(secrets []string, h http.Header, body []byte, now time.Time) error {
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

// Seqs lists the seqs of deliveries.
func Seqs(rs []Received) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

// Clock is a clock tests move by hand, for a deliverer's Options.Now (and the
// receiver's, so that timestamps agree).
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// Runner is a deliverer's one step (webhooks.Deliverer.RunOnce).
type Runner interface {
	RunOnce(ctx context.Context) (int, error)
}

// RunOnce gives every due webhook one turn and fails the test on an error.
func RunOnce(t testing.TB, d Runner) {
	t.Helper()
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}
