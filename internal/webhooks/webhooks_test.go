package webhooks_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
)

func typeOf(e core.AuditEvent) string { return events.TypeOf(e.Action) }

func all(string) bool { return true }

// TestSignKnownAnswer checks Sign against the Standard Webhooks reference
// libraries' test vector.
func TestSignKnownAnswer(t *testing.T) {
	t.Parallel()
	key, err := webhooks.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := webhooks.Sign([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature = %s, want %s", got, want)
	}
	two := webhooks.Sign([][]byte{key, []byte("another key of at least 24 bytes")}, "msg_1", 1, []byte("{}"))
	if sigs := strings.Fields(two); len(sigs) != 2 || !strings.HasPrefix(sigs[1], "v1,") || sigs[0] == sigs[1] {
		t.Fatalf("two keys sign %q", two)
	}
	for _, bad := range []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := webhooks.ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	res := newResolver(
		"hooks.example.com", "93.184.215.14",
		"internal.example.com", "10.1.2.3",
		"mixed.example.com", "93.184.215.14,192.168.1.10",
		"v6.example.com", "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
		"ula.example.com", "fd12:3456::1",
		"rebind.example.com", "127.0.0.1",
		"localhost", "127.0.0.1,::1",
		"metadata.example.com", "169.254.169.254",
	)
	strict := webhooks.Policy{Resolver: res}
	dev := webhooks.Policy{Resolver: res, AllowHTTPLoopback: true}
	private := webhooks.Policy{Resolver: res, AllowPrivate: true}
	for _, tc := range []struct {
		policy webhooks.Policy
		url    string
		want   string // substring of the error; "" for allowed
	}{
		{strict, "https://hooks.example.com/in", ""},
		{strict, "https://hooks.example.com:8443/in?x=1", ""},
		{strict, "https://v6.example.com/", ""},
		{strict, "https://93.184.215.14/", ""},
		{strict, "http://hooks.example.com/in", "must use https://"},
		{dev, "http://hooks.example.com/in", "http is allowed only to a loopback host"},
		{strict, "ftp://hooks.example.com/", "must use https://"},
		{strict, "https:///x", "not an absolute"},
		{strict, "https://10.0.0.1/", "10.0.0.1, a private address (RFC 1918)"},
		{strict, "https://172.20.0.5/", "private address"},
		{strict, "https://192.168.0.1/", "private address"},
		{strict, "https://internal.example.com/", "internal.example.com resolves to 10.1.2.3, a private address (RFC 1918); such targets are refused unless the operator allows private targets"},
		{strict, "https://mixed.example.com/", "resolves to 192.168.1.10"},
		{strict, "https://rebind.example.com/", "resolves to 127.0.0.1, a loopback address"},
		{strict, "https://127.0.0.1/", "loopback"},
		{strict, "https://[::1]/", "loopback"},
		{strict, "https://localhost/", "loopback"},
		{strict, "https://169.254.169.254/latest/meta-data", "link-local"},
		{strict, "https://metadata.example.com/", "link-local"},
		{strict, "https://100.64.1.1/", "carrier-grade NAT"},
		{strict, "https://[fd00::1]/", "unique local"},
		{strict, "https://ula.example.com/", "unique local"},
		{strict, "https://[fe80::1]/", "link-local"},
		{strict, "https://[::ffff:10.0.0.1]/", "10.0.0.1, a private address"},
		{strict, "https://[64:ff9b::a00:1]/", "64:ff9b::a00:1 (which reaches 10.0.0.1), a private address (RFC 1918)"},
		{strict, "https://[2002:a00:1::1]/", "2002:a00:1::1 (which reaches 10.0.0.1), a private address"},
		{strict, "https://0.0.0.0/", "unspecified"},
		{strict, "https://[::]/", "unspecified"},
		{strict, "https://224.0.0.1/", "multicast"},
		{strict, "https://255.255.255.255/", "broadcast"},
		{strict, "https://nowhere.example.com/", "cannot be resolved: no such host"},
		// The operator's switches.
		{dev, "http://127.0.0.1:8080/hook", ""},
		{dev, "http://localhost:8080/hook", ""},
		{dev, "http://[::1]:8080/hook", ""},
		{dev, "https://127.0.0.1/", ""},
		{dev, "https://10.0.0.1/", "private address"},
		{private, "https://10.0.0.1/", ""},
		{private, "https://internal.example.com/", ""},
		{private, "https://[fd00::1]/", ""},
		{private, "https://127.0.0.1/", ""},
		{private, "http://10.0.0.1/", "must use https://"},
		{private, "https://224.0.0.1/", "never allowed"},
		{private, "https://0.0.0.0/", "never allowed"},
	} {
		err := tc.policy.CheckURL(ctx, tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s (%+v): %v", tc.url, tc.policy, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s (%+v): error = %v, want %q", tc.url, tc.policy, err, tc.want)
		case err != nil && !errors.Is(err, core.ErrInvalid):
			t.Errorf("%s: %v is not core.ErrInvalid", tc.url, err)
		}
	}
}

// TestDeliverThroughAnOutage: the receiver answers 503, then refuses connections,
// then comes back; it gets every subscribed event, in stream order, each once,
// every one signed.
func TestDeliverThroughAnOutage(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s := b.New(t)
			o, w, rc := hooked(t, s, time.Now, "group.*")
			rc.SetStatus(http.StatusServiceUnavailable)
			for i := range 10 { // groups (subscribed) between users (passed over)
				newGroup(t, s, o.ID, fmt.Sprintf("g%d", i))
				if _, err := s.CreateUser(ctx, sys, core.User{OrgID: o.ID, UserName: fmt.Sprintf("u%d", i), Active: true, Source: core.SourceInvited}); err != nil {
					t.Fatal(err)
				}
			}
			d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
				PollInterval: 10 * time.Millisecond, AttemptTimeout: 2 * time.Second, LeaseTTL: 5 * time.Second,
				BackoffBase: 20 * time.Millisecond, BackoffMax: 150 * time.Millisecond})
			if err := d.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Stop(ctx) })

			eventuallyf(t, 20*time.Second, func() bool { _, n, _ := rc.Snapshot(); return n >= 3 }, "three 503s")
			rc.Down()
			for i := range 5 {
				newGroup(t, s, o.ID, fmt.Sprintf("during-outage-%d", i))
			}
			refused := func() int {
				ds, err := s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{})
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, d := range ds {
					if strings.Contains(d.Error, "connection refused") && d.Status == 0 {
						n++
					}
				}
				return n
			}
			eventuallyf(t, 20*time.Second, func() bool { return refused() >= 2 }, "attempts refused while down")
			rc.SetStatus(0)
			rc.Up()
			for i := range 5 {
				newGroup(t, s, o.ID, fmt.Sprintf("after-%d", i))
			}
			want := subscribed(t, s, o.ID, w.Cursor, func(typ string) bool { return strings.HasPrefix(typ, "group.") })
			if len(want) != 20 {
				t.Fatalf("want %d events", len(want))
			}
			eventuallyf(t, 30*time.Second, func() bool { a, _, _ := rc.Snapshot(); return len(a) >= len(want) }, "every event delivered")
			if err := d.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			got, requests, bad := rc.Snapshot()
			if len(bad) != 0 {
				t.Fatalf("requests failed verification: %v", bad)
			}
			sameStream(t, got, want)
			ds, err := s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{Page: store.Page{Limit: store.MaxLimit}})
			if err != nil {
				t.Fatal(err)
			}
			var n503, delivered int
			for _, d := range ds {
				switch {
				case d.Status == 503 && d.Outcome == store.OutcomeFailed && d.Error == "503 Service Unavailable":
					n503++
				case d.Outcome == store.OutcomeDelivered:
					delivered++
				}
			}
			if n503 < 3 || delivered != len(want) || refused() < 2 || requests < len(want)+3 {
				t.Fatalf("deliveries: %d 503s, %d delivered, %d refused, %d requests", n503, delivered, refused(), requests)
			}
			hook, err := s.GetWebhook(ctx, o.ID, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if last := want[len(want)-1].Seq; hook.Cursor < last || hook.Attempts != 0 {
				t.Fatalf("webhook after delivery = %+v (last event %d)", hook, last)
			}
		})
	}
}

// TestCrashBetweenSendAndRecord: a deliverer that dies after a receiver got an
// event and before it recorded it leaves the cursor before the event; once its
// lease expires another instance sends it again, and nothing is lost.
func TestCrashBetweenSendAndRecord(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s, clk := b.New(t), newClock()
			o, w, rc := hooked(t, s, clk.Now)
			for i := range 5 {
				newGroup(t, s, o.ID, fmt.Sprintf("g%d", i))
			}
			want := subscribed(t, s, o.ID, w.Cursor, all)
			crashAt := want[2].Seq
			opts := webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true}, Now: clk.Now}
			a := opts
			a.Owner = "instance-a"
			a.AfterSend = func(_ context.Context, _ string, seq int64) error {
				if seq == crashAt {
					return errors.New("killed")
				}
				return nil
			}
			da := newDeliverer(t, a)
			if n, err := da.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("a: %d, %v", n, err)
			}
			got, _, _ := rc.Snapshot()
			sameStream(t, got, want[:3]) // the receiver has the third event…
			hook, _ := s.GetWebhook(ctx, o.ID, w.ID)
			if hook.Cursor != want[1].Seq { // …the cursor does not
				t.Fatalf("cursor after the crash = %d, want %d", hook.Cursor, want[1].Seq)
			}
			bOpts := opts
			bOpts.Owner = "instance-b"
			db := newDeliverer(t, bOpts)
			if n, _ := db.RunOnce(ctx); n != 0 {
				t.Fatal("b took the webhook while a's lease was live")
			}
			clk.Add(time.Minute + time.Second) // a's lease expires
			if n, err := db.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("b: %d, %v", n, err)
			}
			got, _, bad := rc.Snapshot()
			if len(bad) != 0 {
				t.Fatal(bad)
			}
			// The third event twice (same webhook-id), then the rest: at least once, in order.
			sameStream(t, got, append(append(append([]received(nil), want[:3]...), want[2]), want[3:]...))
			hook, _ = s.GetWebhook(ctx, o.ID, w.ID)
			if hook.Cursor != want[len(want)-1].Seq {
				t.Fatalf("cursor = %d", hook.Cursor)
			}
			ds, _ := s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{Seq: crashAt})
			if len(ds) != 1 || ds[0].Outcome != store.OutcomeDelivered {
				t.Fatalf("attempts at the crashed event = %+v (only b's is recorded)", ds)
			}
		})
	}
}

// TestDeadLetterAfterRetryWindow: a receiver that always fails gets the event
// retried with growing, jittered waits for at least 24 hours; then it is a dead
// letter, the stream moves on, and a redelivery reaches the receiver once fixed.
func TestDeadLetterAfterRetryWindow(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			s, clk := b.New(t), newClock()
			o, w, rc := hooked(t, s, clk.Now, "group.*")
			rc.SetStatus(http.StatusInternalServerError)
			newGroup(t, s, o.ID, "eng")
			first := subscribed(t, s, o.ID, w.Cursor, all)[0]
			rng := rand.New(rand.NewPCG(1, 2))
			d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
				Now: clk.Now, Rand: rng.Int64N})
			start := clk.Now()
			var attempts []time.Time
			for range 500 {
				attempts = append(attempts, clk.Now())
				if n, err := d.RunOnce(ctx); err != nil || n != 1 {
					t.Fatalf("attempt %d: %d, %v", len(attempts), n, err)
				}
				hook, err := s.GetWebhook(ctx, o.ID, w.ID)
				if err != nil {
					t.Fatal(err)
				}
				if hook.Cursor == first.Seq {
					break // dead-lettered
				}
				if hook.Attempts != len(attempts) || !hook.FailingSince.Equal(start) {
					t.Fatalf("after attempt %d: %+v", len(attempts), hook)
				}
				wait := hook.NextAttemptAt.Sub(clk.Now())
				ceiling := time.Hour
				if len(attempts) < 12 {
					ceiling = min(ceiling, 5*time.Second<<(len(attempts)-1))
				}
				if wait < 500*time.Millisecond || wait > ceiling {
					t.Fatalf("wait after attempt %d = %s, want within [0.5s, %s]", len(attempts), wait, ceiling)
				}
				if n, _ := d.RunOnce(ctx); n != 0 {
					t.Fatal("claimed before its next attempt")
				}
				clk.Set(hook.NextAttemptAt)
			}
			last := attempts[len(attempts)-1]
			if span := last.Sub(start); span < 24*time.Hour || span > 25*time.Hour {
				t.Fatalf("retried for %s over %d attempts", span, len(attempts))
			}
			t.Logf("dead-lettered after %d attempts over %s", len(attempts), last.Sub(start))
			got, requests, bad := rc.Snapshot()
			if len(got) != 0 || requests != len(attempts) || len(bad) != 0 {
				t.Fatalf("receiver: %d accepted, %d requests (want %d), bad %v", len(got), requests, len(attempts), bad)
			}
			dls, err := s.ListDeadLetters(ctx, o.ID, w.ID, store.DeadLetterQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(dls) != 1 || dls[0].Seq != first.Seq || dls[0].EventID != first.ID || dls[0].Attempts != len(attempts) ||
				dls[0].LastStatus != 500 || dls[0].LastError != "500 Internal Server Error" || !dls[0].DeadLetteredAt.Equal(last) {
				t.Fatalf("dead letters = %+v", dls)
			}
			// The stream goes on.
			rc.SetStatus(0)
			newGroup(t, s, o.ID, "ops")
			if n, err := d.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("after the dead letter: %d, %v", n, err)
			}
			got, _, _ = rc.Snapshot()
			sameStream(t, got, subscribed(t, s, o.ID, first.Seq, all))
			// Redelivery, asked by an admin, reaches the receiver with the same id.
			if _, err := s.RedeliverDeadLetter(ctx, core.Actor{Kind: core.ActorAdmin, ID: "u1"}, o.ID, w.ID, first.Seq); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Second)
			if n, err := d.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("redelivery: %d, %v", n, err)
			}
			got, _, _ = rc.Snapshot()
			if len(got) != 2 || got[1].ID != first.ID || got[1].Seq != first.Seq {
				t.Fatalf("after redelivery the receiver has %+v", got)
			}
			dls, _ = s.ListDeadLetters(ctx, o.ID, w.ID, store.DeadLetterQuery{})
			if !dls[0].RedeliveredAt.Equal(clk.Now()) || !dls[0].RedeliverRequestedAt.IsZero() || dls[0].Attempts != len(attempts)+1 {
				t.Fatalf("dead letter after redelivery = %+v", dls[0])
			}
			if n, _ := d.RunOnce(ctx); n != 0 {
				t.Fatal("work left after the redelivery (the webhook.redeliver event is not subscribed)")
			}
		})
	}
}

// TestTwoInstancesOnePostgres: two deliverers, each with its own connection pool
// to one PostgreSQL database, deliver streams to three webhooks while changes
// keep coming: every event arrives, in order, and none twice.
func TestTwoInstancesOnePostgres(t *testing.T) {
	t.Parallel()
	dsn := storetest.PostgresDSN(t) // skips without PostgreSQL
	open := func() *store.SQL {
		s, err := store.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s1, s2 := open(), open()
	if _, err := s1.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	o := newOrg(t, s1, "acme")
	type hook struct {
		w  store.Webhook
		rc *receiver
	}
	var hooks []hook
	for range 3 {
		rc := newReceiver(t, time.Now)
		w, secret := newWebhook(t, s1, o.ID, rc.URL())
		rc.SetSecret(secret)
		hooks = append(hooks, hook{w, rc})
	}
	var sent [2]atomic.Int64
	var ds []*webhooks.Deliverer
	for i, s := range []*store.SQL{s1, s2} {
		d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
			Owner: fmt.Sprintf("instance-%d", i), PollInterval: 5 * time.Millisecond, Concurrency: 2, MaxPerTurn: 7,
			AfterSend: func(context.Context, string, int64) error { sent[i].Add(1); return nil }})
		if err := d.Start(ctx); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	var wg sync.WaitGroup
	for w := range 3 { // changes keep coming through both instances
		wg.Go(func() {
			for i := range 30 {
				newGroup(t, []*store.SQL{s1, s2}[i%2], o.ID, fmt.Sprintf("w%d-g%d", w, i))
			}
		})
	}
	wg.Wait()
	for _, h := range hooks {
		want := subscribed(t, s1, o.ID, h.w.Cursor, all)
		eventuallyf(t, 60*time.Second, func() bool { a, _, _ := h.rc.Snapshot(); return len(a) >= len(want) }, "webhook %s: %d events", h.w.ID, len(want))
	}
	for _, d := range ds {
		if err := d.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range hooks {
		got, _, bad := h.rc.Snapshot()
		if len(bad) != 0 {
			t.Fatal(bad)
		}
		sameStream(t, got, subscribed(t, s1, o.ID, h.w.Cursor, all))
	}
	t.Logf("instance 0 sent %d, instance 1 sent %d", sent[0].Load(), sent[1].Load())
}

// TestPolicyAtDelivery: URLs the policy refuses, or that became refusable after
// they were saved, get a failed attempt with the policy's reason and no request;
// a redirect is a failed attempt and is not followed.
func TestPolicyAtDelivery(t *testing.T) {
	t.Parallel()
	s := storetest.NewSQLite(t)
	o := newOrg(t, s, "acme")
	clk := newClock()

	// Something listening on loopback, which must never be reached.
	var reached atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	// A redirect to that listener.
	other := newReceiver(t, clk.Now)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL(), http.StatusFound)
	}))
	t.Cleanup(redirect.Close)

	res := newResolver("rebind.example.com", "93.184.215.14")
	strict := webhooks.Policy{Resolver: res}
	rebindURL := "https://rebind.example.com:" + port + "/hook"
	if err := strict.CheckURL(ctx, rebindURL); err != nil {
		t.Fatalf("saved while public: %v", err)
	}
	res.Set("rebind.example.com", "127.0.0.1") // DNS now points home

	for _, tc := range []struct {
		name, url string
		policy    webhooks.Policy
		want      string
		status    int
	}{
		{"rebinding", rebindURL, strict, "refused by the webhook URL policy: rebind.example.com resolves to 127.0.0.1, a loopback address", 0},
		{"private address", "https://10.255.255.1:" + port + "/", strict, "refused by the webhook URL policy: 10.255.255.1, a private address (RFC 1918)", 0},
		{"http to a public host", "http://hooks.example.com/", strict, "must use https://", 0},
		{"http, loopback not allowed", "http://127.0.0.1:" + port + "/", strict, "must use https://", 0},
		{"redirect", redirect.URL, webhooks.Policy{AllowHTTPLoopback: true}, "302 Found: redirect to " + fmt.Sprintf("%q", other.URL()) + " not followed", 302},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := newWebhook(t, s, o.ID, tc.url, "group.*")
			newGroup(t, s, o.ID, "g-"+store.NewID())
			d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: tc.policy, Now: clk.Now})
			if _, err := d.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			ds, err := s.ListWebhookDeliveries(ctx, o.ID, w.ID, store.DeliveryQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 1 || ds[0].Outcome != store.OutcomeFailed || ds[0].Status != tc.status || !strings.Contains(ds[0].Error, tc.want) {
				t.Fatalf("deliveries = %+v, want an error with %q", ds, tc.want)
			}
			must(t, s.DeleteWebhook(ctx, sys, o.ID, w.ID))
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the loopback listener was reached %d times", n)
	}
	if _, requests, _ := other.Snapshot(); requests != 0 {
		t.Fatalf("the redirect was followed (%d requests)", requests)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestHTTPSAndRotation: delivery over TLS to a name (checked at dial time) and,
// after a rotation with overlap, two signatures, each of which verifies alone.
func TestHTTPSAndRotation(t *testing.T) {
	t.Parallel()
	s := storetest.NewSQLite(t)
	o := newOrg(t, s, "acme")
	type request struct {
		h    http.Header
		body []byte
	}
	var (
		mu   sync.Mutex
		reqs []request
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	hookURL := "https://example.com:" + u.Port() + "/in" // the test certificate's name
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	policy := webhooks.Policy{Resolver: newResolver("example.com", "127.0.0.1"), AllowPrivate: true}
	if err := policy.CheckURL(ctx, hookURL); err != nil {
		t.Fatal(err)
	}
	w, first := newWebhook(t, s, o.ID, hookURL, "group.*")
	d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: policy, TLSConfig: &tls.Config{RootCAs: roots}})
	newGroup(t, s, o.ID, "eng")
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("%d, %v", n, err)
	}
	next, err := s.RotateWebhookSecret(ctx, sys, o.ID, w.ID, storetest.Box(t), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newGroup(t, s, o.ID, "ops")
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("%d, %v", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	now := time.Now()
	if n := len(strings.Fields(reqs[0].h.Get("webhook-signature"))); n != 1 {
		t.Fatalf("%d signatures before the rotation", n)
	}
	if err := verify([]string{first}, reqs[0].h, reqs[0].body, now); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	if n := len(strings.Fields(reqs[1].h.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during the overlap", n)
	}
	for _, secret := range []string{first, next} {
		if err := verify([]string{secret}, reqs[1].h, reqs[1].body, now); err != nil {
			t.Fatalf("during the overlap, one secret alone: %v", err)
		}
	}
	if err := verify([]string{"whsec_" + strings.Repeat("A", 43) + "="}, reqs[1].h, reqs[1].body, now); err == nil {
		t.Fatal("a wrong secret verified")
	}
}

// TestStopIsGraceful: Stop lets the attempt in flight finish and be recorded, and
// gives the lease back; when its context ends first, it cancels the attempt,
// which is then not recorded (the event will be sent again).
func TestStopIsGraceful(t *testing.T) {
	t.Parallel()
	s := storetest.NewSQLite(t)
	o, w, rc := hooked(t, s, time.Now, "group.*")
	entered, release := make(chan struct{}, 10), make(chan struct{})
	rc.OnRequest(func(r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	start := func() *webhooks.Deliverer {
		d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
			PollInterval: 5 * time.Millisecond, AttemptTimeout: 5 * time.Second, LeaseTTL: 10 * time.Second})
		must(t, d.Start(ctx))
		return d
	}
	d := start()
	newGroup(t, s, o.ID, "eng")
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop(ctx) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with an attempt in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	must(t, <-stopped)
	hook, err := s.GetWebhook(ctx, o.ID, w.ID)
	must(t, err)
	if got, _, _ := rc.Snapshot(); len(got) != 1 || hook.Cursor != got[0].Seq {
		t.Fatalf("after Stop: received %+v, cursor %d", got, hook.Cursor)
	}
	newGroup(t, s, o.ID, "ops")
	c, err := s.ClaimWebhooks(ctx, store.Lease{Owner: "other", Now: time.Now(), TTL: time.Minute}, 10)
	if err != nil || len(c) != 1 {
		t.Fatalf("the lease was not given back: %+v %v", c, err)
	}
	must(t, s.ReleaseWebhook(ctx, "other", o.ID, w.ID))

	// Now a Stop that cannot wait: the attempt is cancelled and not recorded.
	rc.OnRequest(func(r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done()
	})
	d = start()
	<-entered
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := d.Stop(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the deadline", err)
	}
	after, err := s.GetWebhook(ctx, o.ID, w.ID)
	must(t, err)
	if after.Cursor != hook.Cursor || after.Attempts != 0 {
		t.Fatalf("a cancelled attempt moved the webhook: %+v", after)
	}
}

// TestAdminChangeMidTurn: a webhook pointed elsewhere while its events are being
// delivered gets the rest, and the event in flight again, at the new URL.
func TestAdminChangeMidTurn(t *testing.T) {
	t.Parallel()
	s := storetest.NewSQLite(t)
	o, w, old := hooked(t, s, time.Now)
	for i := range 4 {
		newGroup(t, s, o.ID, fmt.Sprintf("g%d", i))
	}
	want := subscribed(t, s, o.ID, w.Cursor, all)
	next := newReceiver(t, time.Now)
	next.SetSecret(old.Secrets()...)
	d := newDeliverer(t, webhooks.Options{Store: s, Secrets: storetest.Box(t), Policy: webhooks.Policy{AllowHTTPLoopback: true},
		AfterSend: func(_ context.Context, _ string, seq int64) error {
			if seq == want[0].Seq {
				_, err := s.UpdateWebhook(ctx, sys, o.ID, w.ID, func(w *store.Webhook) error { w.URL = next.URL(); return nil })
				return err
			}
			return nil
		}})
	for range 3 {
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	gotOld, _, _ := old.Snapshot()
	sameStream(t, gotOld, want[:1])
	gotNew, _, bad := next.Snapshot()
	if len(bad) != 0 {
		t.Fatal(bad)
	}
	// The new URL gets the whole stream from the event in flight, and the
	// webhook.update event after it.
	sameStream(t, gotNew, subscribed(t, s, o.ID, w.Cursor, all))
}
