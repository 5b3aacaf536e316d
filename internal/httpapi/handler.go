package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/decisions"
	"github.com/gatehouse-dev/gatehouse/internal/ops"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SessionAuth authenticates a browser session (the sso package's sessions). It
// returns core.ErrNotFound (or any error) when the request carries no live session.
type SessionAuth interface {
	Authenticate(r *http.Request) (orgID, userID string, err error)
}

// ConnectionResolver names SSO connections (owned by the sso package) so that
// mappings and IdP-group lists may refer to a connection by id or name. Optional:
// without it a connection is referred to by its id only.
type ConnectionResolver interface {
	ConnectionID(ctx context.Context, orgID, idOrName string) (string, error)
}

// Handler serves the JSON API and the admin pages. Its fields are its dependencies;
// set them, then call Mount once.
type Handler struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// SessionAuth authenticates browser sessions; nil accepts bearer tokens only.
	SessionAuth SessionAuth
	// Generations enables the decision cache; nil reads facts from the store on
	// every check. store.SQL implements it.
	Generations store.Generations
	// Connections resolves SSO connection names; optional.
	Connections ConnectionResolver
	// ExternalURL is the server's public base URL, shown on the setup pages.
	ExternalURL string
	// SSO lists SSO connections with their setup values for the admin pages; optional.
	SSO SSOSetup
	// Metrics, when set, counts decisions by outcome and reason.
	Metrics *metrics.Metrics

	once   sync.Once
	engine *decisions.Engine
	ops    *ops.Ops
}

// maxBody caps JSON request bodies: a batch of 1,000 checks fits with room to spare.
const maxBody = 2 << 20

func (h *Handler) init() {
	h.once.Do(func() {
		if h.Logger == nil {
			h.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		if h.Now == nil {
			h.Now = time.Now
		}
		h.engine = decisions.New(h.Store, h.Generations)
		h.ops = &ops.Ops{Store: h.Store, Now: h.Now}
	})
}

// Mount registers the JSON API and the admin pages on mux: the one call serve needs.
func (h *Handler) Mount(mux *http.ServeMux) {
	h.MountAPI(mux)
	h.MountWeb(mux)
}

// MountAPI registers the JSON API routes only.
func (h *Handler) MountAPI(mux *http.ServeMux) {
	h.init()
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern, h.adapt(rt))
	}
}

// apiFunc is the shape of every API handler.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

// access says who may reach a route before the handler's own decision.
type access int

const (
	public   access = iota // no authentication (the OpenAPI document)
	member                 // any authenticated caller of an org; the handler decides
	orgAdmin               // org admins and API tokens only
)

// route is one row of the route table.
type route struct {
	pattern string // Go 1.22 mux pattern: "METHOD /path/{param}"
	access  access
	fn      apiFunc
}

type ctxKey int

const (
	callerKey ctxKey = iota
	requestIDKey
)

var safeRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// adapt wraps a route: request id, content-type rules, authentication, the route's
// access level, and the one place errors become problem+json.
func (h *Handler) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Behind the server the request already has the id its log line and
		// response header carry; standalone (tests), it gets its own.
		rid := server.RequestID(r.Context())
		if rid == "" {
			rid = r.Header.Get("X-Request-Id")
			if !safeRequestID.MatchString(rid) {
				rid = newRequestID()
			}
			w.Header().Set("X-Request-Id", rid)
		}
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey, rid))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		err := h.serve(w, r, rt)
		if err != nil {
			writeProblem(w, r, h.Logger, err)
		}
	})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, rt route) error {
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead && r.ContentLength != 0 {
		// The API takes JSON only: refusing form types shuts out cross-site form posts.
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mt != "application/json" && mt != "application/merge-patch+json") {
			return failf(http.StatusUnsupportedMediaType, "request bodies must be application/json")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	if rt.access == public {
		return rt.fn(w, r)
	}
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	if rt.access == orgAdmin {
		if err := h.require(r.Context(), c, decisions.ManageOrg()); err != nil {
			return err
		}
	}
	return rt.fn(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)))
}

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func requestID(r *http.Request) string {
	s, _ := r.Context().Value(requestIDKey).(string)
	return s
}

// decode reads one JSON object into v, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	if r.Body == nil {
		return failf(http.StatusBadRequest, "a JSON body is required")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return failf(http.StatusRequestEntityTooLarge, "the body is larger than %d bytes", mbe.Limit)
		case errors.Is(err, io.EOF):
			return failf(http.StatusBadRequest, "a JSON body is required")
		}
		return fail(http.StatusBadRequest, "malformed JSON: "+jsonErrorText(err), err)
	}
	if dec.More() {
		return failf(http.StatusBadRequest, "the body must hold one JSON object")
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
			return p, failf(http.StatusBadRequest, "limit must be a number from 1 to %d", store.MaxLimit)
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
