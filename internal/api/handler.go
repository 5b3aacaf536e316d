package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/httpx"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Handler serves the JSON API. Its fields are its dependencies; set them, then call
// Mount once.
type Handler struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Decisions is the authorizer. Give the API and the admin pages the same one, so
	// that they share its cache. Without it, one without a cache is built over Store.
	Decisions *decisions.Engine
	// Ops runs the shared operations; built over Store when nil.
	Ops *ops.Ops
	// Sessions authenticates browser sessions; nil accepts bearer tokens only.
	Sessions httpx.Sessions
	// SSO lists SSO connections with their setup values, and resolves connection
	// names in mappings and IdP-group lists; optional (then a connection is
	// referred to by its id only).
	SSO httpx.SSOSetup
	// Metrics, when set, counts decisions by outcome and reason.
	Metrics *metrics.Metrics
	// Generations reads an org's change counter, which the events long poll
	// watches; Store's own when nil (the stack gives its prepared reader).
	Generations store.Generations
	// EventPoll is how often a long poll reads it (DefaultEventPoll).
	EventPoll time.Duration

	once sync.Once
	refs httpx.Refs
	cop  *http.CrossOriginProtection
}

// MaxBody caps JSON request bodies: a batch of 1,000 checks fits with room to spare.
const MaxBody = 2 << 20

func (h *Handler) init() {
	h.once.Do(func() {
		if h.Logger == nil {
			h.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if h.Now == nil {
			h.Now = time.Now
		}
		if h.Decisions == nil {
			h.Decisions = decisions.New(h.Store, nil)
		}
		if h.Ops == nil {
			h.Ops = &ops.Ops{Store: h.Store, Now: h.Now}
		}
		if g, ok := h.Store.(store.Generations); ok && h.Generations == nil {
			h.Generations = g
		}
		h.refs = httpx.Refs{Store: h.Store, Decisions: h.Decisions, SSO: h.SSO}
		h.cop = http.NewCrossOriginProtection()
	})
}

// Mount registers every route of the route table on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	h.init()
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern, h.adapt(rt))
	}
}

// apiFunc is the shape of every API handler.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

type ctxKey int

const requestKey ctxKey = 0

// request is what the adapter learns of a request, kept in its context under one
// key: the request id, then the caller (and their session) once authenticated.
// One context value and one copy of the http.Request per request, not three.
type request struct {
	id        string
	caller    caller
	hasCaller bool
	session   *store.Session // on routes for a person (/me)
}

func requestOf(ctx context.Context) *request {
	rq, _ := ctx.Value(requestKey).(*request)
	return rq
}

// adapt wraps a route: request id, content-type rules, authentication, what the
// route requires of the caller, and the one place errors become problem+json.
func (h *Handler) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Behind the server the request already has the id its log line and
		// response header carry; standalone (tests), it gets its own.
		rq := &request{id: server.RequestID(r.Context())}
		hdr := w.Header()
		if rq.id == "" {
			rq.id = httpx.RequestID(r.Header.Get("X-Request-Id"))
			hdr["X-Request-Id"] = []string{rq.id}
		}
		hdr["X-Content-Type-Options"] = nosniff
		r = r.WithContext(context.WithValue(r.Context(), requestKey, rq))
		if err := h.serve(w, r, rq, rt); err != nil {
			writeProblem(w, r, h.Logger, err)
		}
	})
}

// nosniff is the X-Content-Type-Options of every response, shared: net/http only
// reads header values, and Set and Add replace or copy them.
var nosniff = []string{"nosniff"}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rq *request, rt route) error {
	if r.Header.Get("Authorization") == "" {
		// Without a bearer header the caller is a browser session, whose cookie the
		// browser also sends with requests other sites (sibling subdomains included,
		// which SameSite=Lax lets through) make: a state-changing one must come from
		// this origin, whatever its body or content type. Safe methods pass, and so
		// does every bearer-token caller, which no other site can make a browser
		// send.
		if err := h.cop.Check(r); err != nil {
			return httpx.Fail(http.StatusForbidden, "cross-origin requests with a session cookie may not change anything; send them from this origin or use an API token", err)
		}
	}
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && r.ContentLength != 0 {
		// The API takes JSON only: refusing form types shuts out cross-site form posts.
		if ct := r.Header.Get("Content-Type"); ct != "application/json" { // the usual one needs no parsing
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
				return httpx.Failf(http.StatusUnsupportedMediaType, "request bodies must be application/json")
			}
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	if err := httpx.CheckPath(r, rt.pattern); err != nil {
		return err
	}
	switch rt.requires {
	case public:
		return rt.fn(w, r)
	case person:
		// A person's own view (/me): the browser session alone, never a token.
		p, s, err := httpx.SessionPrincipal(r, h.Sessions, h.Decisions)
		if err != nil {
			return err
		}
		rq.caller, rq.session = p, &s
	default:
		c, err := h.authenticate(r)
		if err != nil {
			return err
		}
		// Every route asks the authorizer; a member route's handler then asks about
		// the very object it touches.
		req := decisions.ReadOrg()
		if rt.requires == orgAdmin {
			req = decisions.ManageOrg()
		}
		if err := h.require(r.Context(), &c, req); err != nil {
			return err
		}
		rq.caller = c
	}
	rq.hasCaller = true
	return rt.fn(w, r)
}

func requestID(r *http.Request) string {
	if rq := requestOf(r.Context()); rq != nil {
		return rq.id
	}
	return ""
}

// decode reads one JSON object into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	if r.Body == nil {
		return httpx.Failf(http.StatusBadRequest, "a JSON body is required")
	}
	return decodeFrom(r.Body, v)
}

// decodeFrom is decode of a body.
func decodeFrom(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return httpx.Failf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", mbe.Limit)
		case errors.Is(err, io.EOF):
			return httpx.Failf(http.StatusBadRequest, "a JSON body is required")
		}
		return httpx.Fail(http.StatusBadRequest, "malformed JSON: "+jsonErrorText(err), err)
	}
	if dec.More() {
		return httpx.Failf(http.StatusBadRequest, "the body must hold one JSON object")
	}
	return nil
}

// jsonErrorText keeps decoder messages short and free of Go type names where it can.
func jsonErrorText(err error) string {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return "field " + strconv.Quote(ute.Field) + " has the wrong type (" + ute.Value + ")"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return err.Error()
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// list is the envelope of every list response: Next is the cursor for the next
// page (pass it as ?after=), empty on the last page.
type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// page reads ?after= and ?limit= (default 100, at most store.MaxLimit).
func page(r *http.Request) (store.Page, error) {
	p := store.Page{After: r.URL.Query().Get("after"), Limit: 100}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			return p, httpx.Failf(http.StatusBadRequest, "limit must be a number from 1 to %d", store.MaxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// writeList writes one page; id gives each item's cursor.
func writeList[T any](w http.ResponseWriter, items []T, p store.Page, id func(T) string) error {
	out := list[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) == p.Limit && len(items) > 0 {
		out.Next = id(items[len(items)-1])
	}
	return writeJSON(w, http.StatusOK, out)
}

// pageOf pages a small in-memory list (ordered by id) the store returns whole.
func pageOf[T any](items []T, p store.Page, id func(T) string) []T {
	start := 0
	if p.After != "" {
		start = len(items)
		for i, it := range items {
			if id(it) > p.After {
				start = i
				break
			}
		}
	}
	items = items[start:]
	if len(items) > p.Limit {
		items = items[:p.Limit]
	}
	return items
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func ptr[T any](v T) *T { return &v }
