package faults

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/webhooks/webhookstest"
)

var (
	hookEvents = flag.Int("faults.events", 0, "events per round of the webhook tests (default 10; long 300)")
	hookRounds = flag.Int("faults.hook-rounds", 0, "SIGKILL rounds between sending and recording a webhook delivery (default 1; long 5)")
)

// hookFlags are serve's flags in the webhook tests: receivers on loopback, and a
// 1 s attempt timeout, so that a killed instance's lease (four times that) runs
// out in seconds.
var hookFlags = []string{"--webhook-allow-http-loopback", "--webhook-timeout", "1s"}

// api calls the JSON API with a token and decodes the answer.
func api(t *testing.T, c *http.Client, base, tok, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r reply
	if body == nil {
		r = do(c, method, base+path, tok, "", nil)
	} else {
		r = do(c, method, base+path, tok, "application/json", jsonBody(body))
	}
	if r.err != nil {
		t.Fatalf("%s %s: %v", method, path, r.err)
	}
	out := map[string]any{}
	json.Unmarshal(r.body, &out)
	return r.status, out
}

// newHook creates a webhook for group.created events to a new receiver.
func newHook(t *testing.T, c *http.Client, base, tok string) (string, *webhookstest.Receiver) {
	t.Helper()
	rc := webhookstest.New(t, time.Now)
	code, w := api(t, c, base, tok, "POST", "/api/v1/webhooks", map[string]any{"url": rc.URL(), "event_types": []string{"group.created"}})
	if code != 201 {
		t.Fatalf("create webhook: %d %v", code, w)
	}
	rc.SetSecret(w["secret"].(string))
	return w["id"].(string), rc
}

// makeGroups creates n user groups over the API: n group.created events.
func makeGroups(t *testing.T, c *http.Client, base, tok, prefix string, n int) {
	t.Helper()
	for i := range n {
		if code, g := api(t, c, base, tok, "POST", "/api/v1/groups", map[string]any{"name": fmt.Sprintf("%s-%04d", prefix, i)}); code != 201 {
			t.Fatalf("create group: %d %v", code, g)
		}
	}
}

// subscribedIDs reads the org's stream from the database: the ids of the
// group.created events after a webhook's first cursor, in seq order.
func subscribedIDs(t *testing.T, dsn, orgSlug string, after int64) []string {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, err := s.GetOrg(ctx, orgSlug)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for {
		evs, err := s.Changes(ctx, o.ID, after, store.MaxLimit)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if events.TypeOf(e.Action) == "group.created" {
				ids = append(ids, e.ID)
			}
			after = e.Seq
		}
		if len(evs) < store.MaxLimit {
			return ids
		}
	}
}

func receivedIDs(rc *webhookstest.Receiver) []string {
	got, _, _ := rc.Snapshot()
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = g.ID
	}
	return out
}

// waitReceived waits until the receiver has accepted every id in want.
func waitReceived(t *testing.T, rc *webhookstest.Receiver, want []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		have := map[string]bool{}
		for _, id := range receivedIDs(rc) {
			have[id] = true
		}
		missing := 0
		for _, id := range want {
			if !have[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			_, requests, bad := rc.Snapshot()
			t.Fatalf("%d of %d events never arrived within %s (%d requests, refused: %v)", missing, len(want), within, requests, bad)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWebhookSIGKILLBetweenSendAndRecord: the receiver is down for a while, comes
// back, and while it holds a delivery the server is killed with SIGKILL, after
// sending and before recording; the restarted server sends that event again
// (same webhook-id) once the dead instance's lease runs out, then the rest.
// Every delivery's signature checks out, every event arrives in stream order,
// nothing is lost, and only the event in flight at the kill arrives twice.
func TestWebhookSIGKILLBetweenSendAndRecord(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	_, tok := setupOrg(t, dsn)
	c := httpClient(8)
	srv := serve(t, dsn, hookFlags...)
	id, rc := newHook(t, c, srv.base, tok)
	_, hook := api(t, c, srv.base, tok, "GET", "/api/v1/webhooks/"+id, nil)
	start := int64(hook["cursor"].(float64))
	perRound, nRounds := size(hookEvents, 10, 300), size(hookRounds, 1, 5)

	// Down for a while: deliveries fail and are retried with backoff.
	rc.Down()
	makeGroups(t, c, srv.base, tok, "down", perRound)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, w := api(t, c, srv.base, tok, "GET", "/api/v1/webhooks/"+id, nil); w["attempts"].(float64) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no failed attempt recorded while the receiver was down")
		}
	}
	rc.Up()

	var caught []string
	for round := range nRounds {
		// Hold the delivery of the perRound/2-th new event of this round, kill the
		// server while it waits for the answer, then let the receiver accept it.
		var mu sync.Mutex
		seen, armed := map[string]bool{}, true
		for _, id := range receivedIDs(rc) {
			seen[id] = true
		}
		target := len(seen) + perRound/2
		hit, release := make(chan string, 1), make(chan struct{})
		rc.OnRequest(func(r *http.Request) {
			id := r.Header.Get("webhook-id")
			mu.Lock()
			seen[id] = true
			hold := armed && len(seen) == target
			armed = armed && !hold
			mu.Unlock()
			if hold {
				hit <- id
				<-release
			}
		})
		if round > 0 {
			makeGroups(t, c, srv.base, tok, fmt.Sprintf("round%d", round), perRound)
		}
		select {
		case held := <-hit:
			caught = append(caught, held)
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the receiver never got event %d", round, target)
		}
		srv.signal(t, syscall.SIGKILL)
		srv.wait(t, 10*time.Second)
		close(release)
		rc.OnRequest(nil)
		srv = serve(t, dsn, hookFlags...)
	}
	makeGroups(t, c, srv.base, tok, "after", perRound)

	want := subscribedIDs(t, dsn, "acme", start)
	waitReceived(t, rc, want, 60*time.Second)
	srv.stop(t)
	got, _, bad := rc.Snapshot()
	if len(bad) != 0 {
		t.Fatalf("the receiver refused deliveries: %v", bad)
	}
	// In stream order, each event once, except the ones in flight at a kill,
	// which come again right after themselves.
	var unique []string
	twice := map[string]int{}
	for i, g := range got {
		if i > 0 && got[i-1].ID == g.ID {
			twice[g.ID]++
			continue
		}
		unique = append(unique, g.ID)
	}
	if !slices.Equal(unique, want) {
		t.Fatalf("received %d events (%d distinct), want the %d of the stream in order", len(got), len(unique), len(want))
	}
	for _, id := range caught {
		if twice[id] != 1 {
			t.Errorf("event %s was in flight at a kill: received %d extra times, want 1", id, twice[id])
		}
		delete(twice, id)
	}
	if len(twice) != 0 {
		t.Errorf("events received twice though no kill interrupted them: %v", twice)
	}
	t.Logf("%d kills between sending and recording; %d events, each in order, %d sent twice", nRounds, len(want), len(caught))
}

// TestWebhookTwoInstancesDeliverOnce: two serve processes on one PostgreSQL
// share eight webhooks through leases (each instance serves at most four at
// once, so both work); the changes come through both; every receiver gets every
// event once, in stream order, with good signatures.
func TestWebhookTwoInstancesDeliverOnce(t *testing.T) {
	needBinary(t)
	t.Parallel()
	dsn := storetest.PostgresDSN(t)
	_, tok := setupOrg(t, dsn)
	c := httpClient(16)
	a, b := serve(t, dsn, hookFlags...), serve(t, dsn, hookFlags...)
	const hooks = 8
	ids, rcs := make([]string, hooks), make([]*webhookstest.Receiver, hooks)
	var start int64
	for i := range hooks {
		ids[i], rcs[i] = newHook(t, c, []string{a.base, b.base}[i%2], tok)
		// Slow receivers keep turns long enough that both instances hold leases.
		rcs[i].OnRequest(func(*http.Request) { time.Sleep(25 * time.Millisecond) })
	}
	_, w := api(t, c, a.base, tok, "GET", "/api/v1/webhooks/"+ids[hooks-1], nil)
	start = int64(w["cursor"].(float64))

	// Watch who holds the leases while the events go out.
	owners := map[string]bool{}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var now []string
			if err := s.DB().SelectContext(context.Background(), &now, `SELECT lease_owner FROM webhooks WHERE lease_owner IS NOT NULL`); err == nil {
				for _, o := range now {
					owners[o] = true
				}
			}
		}
	}()
	n := size(hookEvents, 10, 300)
	for i := range n {
		makeGroups(t, c, a.base, tok, fmt.Sprintf("via-a-%d", i), 1)
		makeGroups(t, c, b.base, tok, fmt.Sprintf("via-b-%d", i), 1)
	}
	want := subscribedIDs(t, dsn, "acme", start)
	if len(want) != 2*n {
		t.Fatalf("the stream has %d group.created events, want %d", len(want), 2*n)
	}
	for i, rc := range rcs {
		waitReceived(t, rc, want, 60*time.Second)
		got, requests, bad := rc.Snapshot()
		if len(bad) != 0 || requests != len(want) {
			t.Fatalf("webhook %d: %d requests for %d events, refused %v", i, requests, len(want), bad)
		}
		if ids := receivedIDs(rc); !slices.Equal(ids, want) {
			t.Fatalf("webhook %d: received %d events, not the stream's %d once each in order", i, len(got), len(want))
		}
	}
	close(stop)
	<-watched
	if len(owners) != 2 {
		t.Errorf("leases held by %d instances, want both: %v", len(owners), owners)
	}
	a.stop(t)
	b.stop(t)
	t.Logf("%d webhooks × %d events delivered once each by two instances", hooks, len(want))
}
