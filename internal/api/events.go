package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const (
	// MaxEventWait bounds a long poll (?wait=): under the server's write timeout,
	// and short enough for proxies that drop idle requests.
	MaxEventWait = 30 * time.Second
	// eventScan bounds the events one request reads past a type filter: a filter
	// that matches little still answers promptly, with a cursor further on.
	eventScan = 10_000
	// DefaultEventPoll is how often a long poll reads the org's change counter.
	DefaultEventPoll = 250 * time.Millisecond
)

// eventPage is the answer of GET /api/v1/events. Next is always set: the cursor
// to pass as ?after= next time, past every event this request read, including
// those the type filter passed over. More says that events after Next are
// already there: ask again at once rather than wait.
type eventPage struct {
	Items []events.Event `json:"items"`
	Next  string         `json:"next"`
	More  bool           `json:"more"`
}

// listEvents reads the org's event stream after a cursor, in commit order. With
// ?wait=N it long-polls: when nothing matches yet, it watches the org's change
// counter (one primary-key read every EventPoll, no connection held in between)
// until an event arrives or N seconds pass.
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	q := r.URL.Query()
	var after int64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return httpx.Failf(http.StatusBadRequest, "after must be a cursor from a previous answer's next (a seq), or 0 for the start of the stream")
		}
		after = n
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	var types []string
	for _, v := range q["types"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				types = append(types, t)
			}
		}
	}
	if types, err = events.ValidateTypes(types); err != nil {
		_, detail := httpx.Status(err)
		return httpx.Fail(http.StatusBadRequest, "types: "+detail, err)
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || time.Duration(n)*time.Second > MaxEventWait {
			return httpx.Failf(http.StatusBadRequest, "wait must be a number of seconds from 0 to %d", int(MaxEventWait/time.Second))
		}
		wait = time.Duration(n) * time.Second
	}

	ctx := r.Context()
	if h.Generations == nil {
		return errors.New("api: events: no change counter to read (Handler.Generations)")
	}
	gen, err := h.Generations.OrgGeneration(ctx, c.OrgID)
	if err != nil {
		return err
	}
	if after > gen {
		// A cursor this stream never handed out (another org's, or one from before
		// a restore): waiting on it would wait for events that come with other seqs.
		return httpx.Failf(http.StatusBadRequest, "after=%d is past the end of the stream (its last seq is %d)", after, gen)
	}
	filter := events.NewFilter(types)
	deadline := time.Now().Add(wait) // real time: the wait is real
	for {
		out, err := h.readEvents(ctx, c.OrgID, after, p.Limit, filter)
		if err != nil {
			return err
		}
		if len(out.Items) > 0 || out.More || wait == 0 {
			return writeJSON(w, http.StatusOK, out)
		}
		after, _ = strconv.ParseInt(out.Next, 10, 64)
		if !h.awaitChange(ctx, c.OrgID, after, deadline) {
			return writeJSON(w, http.StatusOK, out)
		}
	}
}

// readEvents reads up to limit events after the cursor that the filter matches,
// passing over at most eventScan others.
func (h *Handler) readEvents(ctx context.Context, orgID string, after int64, limit int, filter events.Filter) (eventPage, error) {
	out := eventPage{Items: []events.Event{}}
	next := after
	batch := store.MaxLimit
	if filter.All() {
		batch = limit
	}
	for scanned := 0; scanned < eventScan; {
		evs, err := h.Store.Changes(ctx, orgID, next, batch)
		if err != nil {
			return eventPage{}, err
		}
		scanned += len(evs)
		for i, e := range evs {
			next = e.Seq
			typ := events.TypeOf(e.Action)
			if !filter.Match(typ) {
				continue
			}
			out.Items = append(out.Items, events.FromAudit(e))
			if len(out.Items) == limit {
				out.Next = strconv.FormatInt(next, 10)
				out.More = i < len(evs)-1 || len(evs) == batch
				return out, nil
			}
		}
		if len(evs) < batch {
			out.Next = strconv.FormatInt(next, 10)
			return out, nil
		}
	}
	out.Next, out.More = strconv.FormatInt(next, 10), true
	return out, nil
}

// awaitChange waits until the org's change counter passes after (true), or until
// the deadline, the client leaving or the server draining (false).
func (h *Handler) awaitChange(ctx context.Context, orgID string, after int64, deadline time.Time) bool {
	every := h.EventPoll
	if every <= 0 {
		every = DefaultEventPoll
	}
	drain := server.Draining(ctx)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		t := time.NewTimer(min(every, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-drain:
			t.Stop()
			return false
		case <-t.C:
		}
		gen, err := h.Generations.OrgGeneration(ctx, orgID)
		if err != nil {
			// Answer what there is; the client asks again with the same cursor.
			var rid string
			if rq := requestOf(ctx); rq != nil {
				rid = rq.id
			}
			h.Logger.WarnContext(ctx, "events: read the change counter", "request_id", rid, "err", err)
			return false
		}
		if gen > after {
			return true
		}
	}
}

func (h *Handler) listEventTypes(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, list[events.TypeInfo]{Items: events.Types()})
}
