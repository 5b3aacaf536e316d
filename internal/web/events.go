package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const (
	eventsPerPage = 50
	// eventWindow and eventScan bound how far one page reads past events the type
	// filter passes over; the pager continues from where it stopped.
	eventWindow = 500
	eventScan   = 10_000
)

// eventRow is one event of the log page: the public event and its data as JSON.
type eventRow struct {
	events.Event
	DataJSON string
}

// pageEvents shows the org's event stream, newest first, as applications read it
// (the public types), filtered by type. Pages are cursors into the stream:
// before=<seq> shows what precedes it, after=<seq> what follows; without either,
// the latest events.
func (h *Handler) pageEvents(w http.ResponseWriter, r *http.Request, c *caller, pd *pageData) error {
	ctx := r.Context()
	q := r.URL.Query()
	typesText := strings.TrimSpace(q.Get("types"))
	types, err := events.ValidateTypes(splitTypes(typesText))
	if err != nil {
		_, detail := httpx.Status(err)
		return httpx.Fail(http.StatusBadRequest, "Event types: "+detail, err)
	}
	gens, ok := h.Store.(store.Generations)
	if !ok {
		return errors.New("web: the store does not read change counters")
	}
	last, err := gens.OrgGeneration(ctx, c.OrgID)
	if err != nil {
		return err
	}
	cursor := func(name string) (int64, error) {
		s := q.Get(name)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > last+1 {
			return 0, httpx.Failf(http.StatusBadRequest, "That page of the event log does not exist: %s must be a seq from 0 to %d.", name, last+1)
		}
		return n, nil
	}
	after, err := cursor("after")
	if err != nil {
		return err
	}
	before, err := cursor("before")
	if err != nil {
		return err
	}
	filter := events.NewFilter(types)
	// lo and hi bound the seqs this page read: (lo, hi].
	var evs []core.AuditEvent
	var lo, hi int64
	if q.Has("after") {
		evs, hi, err = h.scanForward(ctx, c.OrgID, after, filter)
		lo = after
		slices.Reverse(evs)
	} else {
		hi = last
		if q.Has("before") {
			hi = max(before-1, 0)
		}
		evs, lo, err = h.scanBack(ctx, c.OrgID, hi, filter)
	}
	if err != nil {
		return err
	}
	link := func(k string, v int64) string {
		u := url.Values{k: {strconv.FormatInt(v, 10)}}
		if typesText != "" {
			u.Set("types", typesText)
		}
		return "/admin/events?" + u.Encode()
	}
	data := struct {
		Types        string
		Events       []eventRow
		Newer, Older string
		Last, Lo, Hi int64
		Vocabulary   []events.TypeInfo
	}{Types: typesText, Last: last, Lo: lo, Hi: hi, Vocabulary: events.Types()}
	for _, e := range evs {
		ev := events.FromAudit(e)
		b, _ := json.Marshal(ev.Data)
		data.Events = append(data.Events, eventRow{Event: ev, DataJSON: string(b)})
	}
	if hi < last {
		data.Newer = link("after", hi)
	}
	if lo > 0 {
		data.Older = link("before", lo+1)
	}
	pd.Title, pd.Nav, pd.Data = "Event log", "events", data
	return h.render(w, http.StatusOK, "events", pd)
}

// splitTypes reads a list of types separated by commas or spaces.
func splitTypes(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
}

// scanForward reads the events after the cursor that match, up to a page of
// them, and returns them in stream order with the last seq it read.
func (h *Handler) scanForward(ctx context.Context, orgID string, after int64, f events.Filter) ([]core.AuditEvent, int64, error) {
	var out []core.AuditEvent
	next := after
	for scanned := 0; scanned < eventScan; {
		evs, err := h.Store.Changes(ctx, orgID, next, eventWindow)
		if err != nil {
			return nil, 0, err
		}
		scanned += len(evs)
		for _, e := range evs {
			next = e.Seq
			if f.Match(events.TypeOf(e.Action)) {
				out = append(out, e)
				if len(out) == eventsPerPage {
					return out, next, nil
				}
			}
		}
		if len(evs) < eventWindow {
			break
		}
	}
	return out, next, nil
}

// scanBack reads windows of the stream backwards from hi (seqs are gapless) and
// returns up to a page of matching events, newest first, with the seq just below
// the lowest it read (0: it reached the start).
func (h *Handler) scanBack(ctx context.Context, orgID string, hi int64, f events.Filter) ([]core.AuditEvent, int64, error) {
	var out []core.AuditEvent
	top := hi
	for scanned := 0; top > 0 && scanned < eventScan; {
		lo := max(top-eventWindow, 0)
		evs, err := h.Store.Changes(ctx, orgID, lo, int(top-lo))
		if err != nil {
			return nil, 0, err
		}
		scanned += len(evs)
		for i := len(evs) - 1; i >= 0; i-- {
			e := evs[i]
			if e.Seq > top || !f.Match(events.TypeOf(e.Action)) {
				continue
			}
			out = append(out, e)
			if len(out) == eventsPerPage {
				return out, e.Seq - 1, nil
			}
		}
		top = lo
	}
	return out, top, nil
}
