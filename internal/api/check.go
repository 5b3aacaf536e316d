package api

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
)

func (h *Handler) check(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var q decisions.Question
	if err := decodeQuestion(r, &q); err != nil {
		return err
	}
	if err := q.Validate(); err != nil {
		return httpx.Fail(http.StatusBadRequest, err.Error(), nil)
	}
	d, err := h.Decisions.Check(r.Context(), *c, q)
	if err != nil {
		return err
	}
	h.Metrics.Decision(string(d.Effect), d.Reason)
	// The body is encoded into a pooled buffer: Write has copied it when it returns.
	buf := checkBodies.Get().(*[]byte)
	body := append(decisions.AppendDecisionJSON((*buf)[:0], d), '\n')
	err = writeBody(w, body)
	if cap(body) <= maxPooledBody {
		*buf = body
		checkBodies.Put(buf)
	}
	return err
}

// checkBodies holds the buffers /check encodes its answers into; one grown past
// maxPooledBody (an answer with a long explanation) is left to the collector.
var checkBodies = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

const maxPooledBody = 64 << 10

// checkBatch answers up to decisions.MaxBatch questions, all at one generation of the org.
func (h *Handler) checkBatch(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var in struct {
		Checks []decisions.Question `json:"checks"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.Checks) == 0 {
		return httpx.Failf(http.StatusBadRequest, `"checks" needs at least one question`)
	}
	if len(in.Checks) > decisions.MaxBatch {
		return httpx.Failf(http.StatusBadRequest, "a batch holds at most %d questions, not %d", decisions.MaxBatch, len(in.Checks))
	}
	for i, q := range in.Checks {
		if err := q.Validate(); err != nil {
			return httpx.Failf(http.StatusBadRequest, "checks[%d]: %v", i, err)
		}
	}
	results, err := h.Decisions.CheckBatch(r.Context(), *c, in.Checks)
	if err != nil {
		return err
	}
	// {"results":[…]} as writeJSON would write it, each decision without reflection.
	body := append(make([]byte, 0, 1024*len(results)), `{"results":[`...)
	for i, d := range results {
		h.Metrics.Decision(string(d.Effect), d.Reason)
		if i > 0 {
			body = append(body, ',')
		}
		body = decisions.AppendDecisionJSON(body, d)
	}
	return writeBody(w, append(body, "]}\n"...))
}

// writeBody writes a 200 response of JSON made beforehand. Its three header values
// share one array: the check is the hot path.
func writeBody(w http.ResponseWriter, body []byte) error {
	v := []string{"application/json", "no-store", strconv.Itoa(len(body))}
	hdr := w.Header()
	hdr["Content-Type"], hdr["Cache-Control"], hdr["Content-Length"] = v[0:1:1], v[1:2:2], v[2:3:3]
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// userAccess is the effective access matrix: every workspace (a page of them) and
// environment, with the roles held there and the path to each.
func (h *Handler) userAccess(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	p, err := page(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := h.refs.OwnUser(ctx, *c, r.PathValue("user"))
	if err != nil {
		return err
	}
	m, err := h.Decisions.Access(ctx, *c, u, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}
