package api_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// streamPage is one answer of GET /api/v1/events.
type streamPage struct {
	seqs  []int64
	types []string
	next  string
	more  bool
}

func readEvents(t *testing.T, e *apitest.Env, query string, opts ...apitest.ReqOpt) streamPage {
	t.Helper()
	r := e.API("GET", "/api/v1/events?"+query, nil, opts...).Want(t, 200)
	var p streamPage
	for _, it := range r.Items() {
		p.seqs = append(p.seqs, int64(it["seq"].(float64)))
		p.types = append(p.types, it["type"].(string))
		for _, k := range []string{"id", "at", "org_id", "actor", "source", "target", "data"} {
			if _, ok := it[k]; !ok {
				t.Fatalf("event without %s: %v", k, it)
			}
		}
	}
	p.next, _ = r.Body["next"].(string)
	p.more, _ = r.Body["more"].(bool)
	if p.next == "" {
		t.Fatalf("an events answer without next: %s", r.Raw)
	}
	return p
}

func gen(t *testing.T, e *apitest.Env) int64 {
	t.Helper()
	g, err := e.St.OrgGeneration(context.Background(), e.Org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestEventStream: the stream in seq order from any cursor, paged, filtered (the
// cursor still moves past what the filter passes over), refused for members and
// bad cursors, and the same from a second instance (a restart) with the cursor an
// earlier answer gave.
func TestEventStream(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewWebhookEnv(t, b)
		for i := range 3 {
			e.API("POST", "/api/v1/groups", map[string]any{"name": fmt.Sprintf("g%d", i)}).Want(t, 201)
		}
		ann := e.User("ann")
		last := gen(t, e)

		all := readEvents(t, e, "")
		if len(all.seqs) != int(last) || all.next != strconv.FormatInt(last, 10) || all.more {
			t.Fatalf("whole stream: %+v, want seqs 1..%d", all, last)
		}
		for i, s := range all.seqs {
			if s != int64(i+1) {
				t.Fatalf("seqs %v are not 1, 2, 3, …", all.seqs)
			}
		}
		if all.types[0] != "org.created" || all.types[len(all.types)-1] != "user.created" {
			t.Fatalf("types %v", all.types)
		}

		// Paging by the cursor: every event once, in order.
		var paged []int64
		cursor := "0"
		for range 20 {
			p := readEvents(t, e, "limit=2&after="+cursor)
			paged = append(paged, p.seqs...)
			cursor = p.next
			if !p.more {
				break
			}
		}
		if fmt.Sprint(paged) != fmt.Sprint(all.seqs) {
			t.Fatalf("paged %v, want %v", paged, all.seqs)
		}

		// A filter: only groups; next is past the user.created it passed over.
		g := readEvents(t, e, "types=group.*,membership.added")
		if len(g.seqs) != 3 || g.types[0] != "group.created" || g.next != strconv.FormatInt(last, 10) {
			t.Fatalf("filtered: %+v", g)
		}
		g = readEvents(t, e, "types=group.created&limit=1&after="+strconv.FormatInt(g.seqs[0], 10))
		if len(g.seqs) != 1 || !g.more {
			t.Fatalf("filtered page: %+v", g)
		}

		// A second instance on the same database (a restart) continues from a
		// cursor the first handed out.
		_, srv2 := apitest.NewInstance(t, e.St, nil)
		e.API("POST", "/api/v1/groups", map[string]any{"name": "after-restart"}).Want(t, 201)
		r := apitest.Call(t, srv2.URL, "GET", "/api/v1/events?after="+all.next, nil, apitest.WithToken(e.Token)).Want(t, 200)
		if items := r.Items(); len(items) != 1 || items[0]["type"] != "group.created" || int64(items[0]["seq"].(float64)) != last+1 {
			t.Fatalf("after a restart: %s", r.Raw)
		}

		for q, want := range map[string]string{
			"after=-1": "after must be", "after=x": "after must be", "after=999999": "past the end",
			"types=user.exploded": "user.exploded", "types=*": "not valid", "wait=31": "wait must be", "wait=1.5": "wait must be",
			"limit=0": "limit must be",
		} {
			r := e.API("GET", "/api/v1/events?"+q, nil).Want(t, 400)
			if !strings.Contains(r.Str("detail"), want) {
				t.Errorf("%s: %s, want %q", q, r.Raw, want)
			}
		}
		// Members do not read the stream, nor do sessions of people who are not
		// org admins; another org's token reads its own stream only.
		apitest.Call(t, e.Srv.URL, "GET", "/api/v1/events", nil, e.Session(ann)).Want(t, 403)
		apitest.Call(t, e.Srv.URL, "GET", "/api/v1/event-types", nil, e.Session(ann)).Want(t, 403)
		sys := core.Actor{Kind: core.ActorSystem}
		other, _, err := e.St.CreateOrg(context.Background(), sys, "globex", "Globex", "admin@globex.test")
		if err != nil {
			t.Fatal(err)
		}
		_, tok, err := e.St.CreateToken(context.Background(), sys, other.ID, store.TokenAPI, "b", "")
		if err != nil {
			t.Fatal(err)
		}
		r = apitest.Call(t, e.Srv.URL, "GET", "/api/v1/events", nil, apitest.WithToken(tok)).Want(t, 200)
		for _, it := range r.Items() {
			if it["org_id"] != other.ID {
				t.Fatalf("another org's event: %v", it)
			}
		}
		types := e.API("GET", "/api/v1/event-types", nil).Want(t, 200).Items()
		if len(types) < 30 || types[0]["doc"] == "" {
			t.Fatalf("event types: %v", types)
		}
	})
}

// TestEventLongPoll: wait= answers as soon as a matching event commits, keeps
// waiting past events the filter passes over (moving the cursor), and ends empty
// when the wait is up.
func TestEventLongPoll(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewWebhookEnv(t, b)
		end := strconv.FormatInt(gen(t, e), 10)

		start := time.Now()
		go func() {
			time.Sleep(300 * time.Millisecond)
			e.User("ann") // user.created: passed over
			time.Sleep(200 * time.Millisecond)
			apitest.Call(t, e.Srv.URL, "POST", "/api/v1/groups", map[string]any{"name": "late"}, apitest.WithToken(e.Token))
		}()
		p := readEvents(t, e, "wait=10&types=group.created&after="+end)
		took := time.Since(start)
		if len(p.seqs) != 1 || p.types[0] != "group.created" || took < 450*time.Millisecond || took > 5*time.Second {
			t.Fatalf("long poll: %+v after %s", p, took)
		}
		if p.seqs[0] != gen(t, e) {
			t.Fatalf("the event at %d is not the last change (%d)", p.seqs[0], gen(t, e))
		}

		// Nothing matching within the wait: an empty answer whose cursor is past
		// what the filter skipped.
		e.User("bob")
		start = time.Now()
		p = readEvents(t, e, "wait=1&types=grant.*&after="+p.next)
		if len(p.seqs) != 0 || p.next != strconv.FormatInt(gen(t, e), 10) || time.Since(start) < time.Second {
			t.Fatalf("empty wait: %+v after %s", p, time.Since(start))
		}
		// wait=0 answers at once.
		start = time.Now()
		if p = readEvents(t, e, "wait=0&after="+p.next); len(p.seqs) != 0 || time.Since(start) > time.Second {
			t.Fatalf("wait=0: %+v", p)
		}
	})
}

// TestEventStreamUnderConcurrentWrites: readers following the stream while
// writers commit concurrently see every change exactly once, with no gap: a seq
// is never visible before the ones below it.
func TestEventStreamUnderConcurrentWrites(t *testing.T) {
	apitest.ForEachBackend(t, func(t *testing.T, b storetest.Backend) {
		e := apitest.NewWebhookEnv(t, b)
		const writers, each = 6, 8
		startSeq := gen(t, e)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					r := apitest.Call(t, e.Srv.URL, "POST", "/api/v1/groups", map[string]any{"name": fmt.Sprintf("w%d-%d", w, i)},
						apitest.WithToken(e.Token))
					if r.Status != 201 {
						t.Errorf("create group: %d %s", r.Status, r.Raw)
					}
				}
			})
		}
		var seen []int64
		cursor := strconv.FormatInt(startSeq, 10)
		deadline := time.Now().Add(30 * time.Second)
		for len(seen) < writers*each && time.Now().Before(deadline) {
			p := readEvents(t, e, "wait=2&limit=5&after="+cursor)
			seen = append(seen, p.seqs...)
			cursor = p.next
		}
		wg.Wait()
		if len(seen) != writers*each {
			t.Fatalf("followed %d events, want %d", len(seen), writers*each)
		}
		for i, s := range seen {
			if s != startSeq+int64(i)+1 {
				t.Fatalf("event %d has seq %d, want %d: %v", i, s, startSeq+int64(i)+1, seen)
			}
		}
	})
}
