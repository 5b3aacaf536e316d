package webhooks_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/netpolicy/netpolicytest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks/webhookstest"
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
	rc.SetSecret(secret)
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

func newClock() *webhookstest.Clock {
	return webhookstest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
}

// newResolver is a fake DNS: host → addresses, changeable during a test.
var newResolver = netpolicytest.NewResolver

// received and receiver are webhookstest's, under the short names the tests use.
type (
	received = webhookstest.Received
	receiver = webhookstest.Receiver
)

func newReceiver(t testing.TB, now func() time.Time) *receiver { return webhookstest.New(t, now) }

var verify = webhookstest.Verify

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

var seqs = webhookstest.Seqs
