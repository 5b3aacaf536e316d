package scim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Prefix is where Mount serves the SCIM API.
const Prefix = "/scim/v2"

// DefaultMaxBody caps request bodies; a larger body is 413.
const DefaultMaxBody = 2 << 20

// DefaultCount is the page size when a list names none; MaxCount caps count.
const (
	DefaultCount = 100
	MaxCount     = 1000
)

// Store is what the SCIM service needs from storage.
type Store interface {
	store.SCIM
	Authenticate(ctx context.Context, secret string) (store.Token, error)
}

// Handler serves SCIM 2.0 for every directory of every org; the bearer token picks
// the org and directory of each request.
type Handler struct {
	Store  Store
	Logger *slog.Logger
	// Now is the clock (request timing for slow-request logs); nil means time.Now.
	// Resource times come from the store's clock.
	Now func() time.Time
	// BaseURL, when set (e.g. "https://gatehouse.example.com"), builds meta.location
	// and Location; otherwise they are built from the request's host.
	BaseURL string
	// MaxBody caps request bodies; 0 means DefaultMaxBody.
	MaxBody int64
	// Metrics, when set, counts operations by directory, resource and outcome.
	Metrics *metrics.Metrics

	known knownTokens // tokens authenticated lately, for reads (auth.go)
}

// The schema tables are built once from elimity's definitions and never change.
var (
	userSchema  = newUserSchema()
	groupSchema = newGroupSchema()
)

// NewHandler returns a Handler with the default clock.
func NewHandler(st Store, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{Store: st, Logger: logger, Now: time.Now}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// Mount registers the SCIM API under /scim/v2/ on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle(Prefix+"/", h)
	mux.Handle(Prefix, h)
}

// tenant is who a request acts for: the org and directory of its token.
type tenant struct {
	orgID       string
	directoryID string
	actor       core.Actor
}

// ServeHTTP authenticates the request and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/scim+json")
	tn, rr, check, key, known := h.knownReader(r)
	if !known {
		var err error
		if tn, err = h.authenticate(r); err != nil {
			h.refuse(w, r, err)
			return
		}
	}
	r = rr
	maxBody := h.MaxBody
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	path = strings.TrimSuffix(path, "/")
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	start := h.now()
	var out http.ResponseWriter = &statusWriter{ResponseWriter: w}
	var g *gate
	if known {
		g = &gate{ResponseWriter: out, h: h, r: r, check: check, key: key}
		out = g
	}
	err := h.route(out, r, tn, seg)
	if err != nil {
		h.writeError(out, r, err)
	}
	if g != nil && !g.prove() {
		return // refused: not a SCIM operation of the directory
	}
	if err != nil {
		h.Metrics.SCIM(tn.directoryID, resourceLabel(seg[0]), operation(r.Method, seg), outcome(err))
	} else {
		h.Metrics.SCIM(tn.directoryID, resourceLabel(seg[0]), operation(r.Method, seg), "ok")
	}
	if d := h.now().Sub(start); d > slowRequest {
		h.logger().Warn("scim: slow request", "method", r.Method, "path", r.URL.Path, "directory", tn.directoryID, "duration", d)
	}
}

// slowRequest is when a request is logged as slow.
const slowRequest = 2 * time.Second

// bearer is the request's bearer secret.
func bearer(r *http.Request) (string, bool) {
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", false
	}
	return secret, true
}

// authenticate reads the request's token and, for a SCIM token, remembers it for
// the reads that follow (knownReader).
func (h *Handler) authenticate(r *http.Request) (tenant, error) {
	secret, ok := bearer(r)
	if !ok {
		return tenant{}, errors.New("no bearer token")
	}
	key := sha256.Sum256([]byte(secret))
	tok, err := h.Store.Authenticate(r.Context(), secret)
	if err != nil {
		h.known.drop(key)
		if !errors.Is(err, core.ErrNotFound) {
			h.logger().Error("scim: authenticate", "err", err)
		}
		return tenant{}, err
	}
	if subtle.ConstantTimeCompare([]byte(tok.Kind), []byte(store.TokenSCIM)) != 1 || tok.DirectoryID == "" {
		return tenant{}, errors.New("not a SCIM token")
	}
	tn, _ := tenantOf(tok)
	h.known.put(key, tok)
	return tn, nil
}

func methodNotAllowed(allow string) error {
	return newError(http.StatusMethodNotAllowed, "", "Method not allowed here; allowed: %s.", allow)
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request, tn tenant, seg []string) error {
	switch {
	case len(seg) == 1 && seg[0] == "ServiceProviderConfig":
		if r.Method != http.MethodGet {
			return methodNotAllowed("GET")
		}
		return h.writeJSON(w, http.StatusOK, serviceProviderConfig(h.maxBody()))
	case len(seg) >= 1 && seg[0] == "Schemas":
		if r.Method != http.MethodGet {
			return methodNotAllowed("GET")
		}
		return h.schemas(w, seg[1:])
	case len(seg) >= 1 && seg[0] == "ResourceTypes":
		if r.Method != http.MethodGet {
			return methodNotAllowed("GET")
		}
		return h.resourceTypes(w, r, seg[1:])
	case seg[0] == "Users":
		return h.routeResource(w, r, tn, seg, h.userOps())
	case seg[0] == "Groups":
		return h.routeResource(w, r, tn, seg, h.groupOps())
	}
	return newError(http.StatusNotFound, "", "No SCIM endpoint at %s.", r.URL.Path)
}

// resourceOps are the handlers of one resource type.
type resourceOps struct {
	list   func(w http.ResponseWriter, r *http.Request, tn tenant, lp listParams) error
	create func(w http.ResponseWriter, r *http.Request, tn tenant) error
	get    func(w http.ResponseWriter, r *http.Request, tn tenant, id string) error
	put    func(w http.ResponseWriter, r *http.Request, tn tenant, id string) error
	patch  func(w http.ResponseWriter, r *http.Request, tn tenant, id string) error
	del    func(w http.ResponseWriter, r *http.Request, tn tenant, id string) error
}

func (h *Handler) routeResource(w http.ResponseWriter, r *http.Request, tn tenant, seg []string, ops resourceOps) error {
	switch {
	case len(seg) == 1:
		switch r.Method {
		case http.MethodGet:
			lp, err := listParamsFromQuery(r.URL.Query())
			if err != nil {
				return err
			}
			return ops.list(w, r, tn, lp)
		case http.MethodPost:
			return ops.create(w, r, tn)
		}
		return methodNotAllowed("GET, POST")
	case len(seg) == 2 && seg[1] == ".search":
		if r.Method != http.MethodPost {
			return methodNotAllowed("POST")
		}
		lp, err := listParamsFromBody(r)
		if err != nil {
			return err
		}
		return ops.list(w, r, tn, lp)
	case len(seg) == 2:
		id, err := url.PathUnescape(seg[1])
		if err != nil || id == "" {
			return newError(http.StatusNotFound, "", "Resource not found.")
		}
		switch r.Method {
		case http.MethodGet:
			return ops.get(w, r, tn, id)
		case http.MethodPut:
			return ops.put(w, r, tn, id)
		case http.MethodPatch:
			return ops.patch(w, r, tn, id)
		case http.MethodDelete:
			return ops.del(w, r, tn, id)
		}
		return methodNotAllowed("GET, PUT, PATCH, DELETE")
	}
	return newError(http.StatusNotFound, "", "No SCIM endpoint at %s.", r.URL.Path)
}

func (h *Handler) maxBody() int64 {
	if h.MaxBody > 0 {
		return h.MaxBody
	}
	return DefaultMaxBody
}

// listParams are a list's query parameters, from the URL or a .search body.
type listParams struct {
	filter     string
	startIndex int
	count      int
	attrs      []string
	excluded   []string
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func listParamsFromQuery(q url.Values) (listParams, error) {
	lp := listParams{filter: q.Get("filter"), startIndex: 1, count: DefaultCount,
		attrs: splitList(q.Get("attributes")), excluded: splitList(q.Get("excludedAttributes"))}
	if v := q.Get("startIndex"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lp, invalidValuef("startIndex must be an integer")
		}
		lp.startIndex = n
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return lp, invalidValuef("count must be an integer")
		}
		lp.count = n
	}
	lp.clamp()
	return lp, nil
}

func (lp *listParams) clamp() {
	if lp.startIndex < 1 {
		lp.startIndex = 1
	}
	if lp.count < 0 {
		lp.count = 0
	}
	if lp.count > MaxCount {
		lp.count = MaxCount
	}
}

func listParamsFromBody(r *http.Request) (listParams, error) {
	var body struct {
		Filter             string   `json:"filter"`
		StartIndex         *int     `json:"startIndex"`
		Count              *int     `json:"count"`
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
	}
	if err := decodeBody(r, &body); err != nil {
		return listParams{}, err
	}
	lp := listParams{filter: body.Filter, startIndex: 1, count: DefaultCount, attrs: body.Attributes, excluded: body.ExcludedAttributes}
	if body.StartIndex != nil {
		lp.startIndex = *body.StartIndex
	}
	if body.Count != nil {
		lp.count = *body.Count
	}
	lp.clamp()
	return lp, nil
}

// decodeBody reads a JSON body (application/scim+json or application/json).
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newError(http.StatusRequestEntityTooLarge, "", "The request body is larger than %d bytes.", mbe.Limit)
		}
		return invalidSyntaxf("cannot read the request body")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return invalidSyntaxf("the request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return invalidSyntaxf("the request body is not valid JSON: %s", jsonErrorText(err))
	}
	if dec.More() {
		return invalidSyntaxf("the request body has data after its JSON value")
	}
	return nil
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "wrong type for " + te.Field
	}
	return "malformed"
}

// writeJSON writes a SCIM JSON response.
func (h *Handler) writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.writeRaw(w, status, b)
}

// writeRaw writes a SCIM JSON response already encoded.
func (h *Handler) writeRaw(w http.ResponseWriter, status int, b []byte) error {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

// writeError writes err as a SCIM error; internal errors are logged, not sent.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	se, internal := toSCIMError(err)
	if internal {
		h.logger().Error("scim: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if se.Status == http.StatusServiceUnavailable {
		h.logger().Warn("scim: database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	}
	b, _ := json.Marshal(se)
	w.Header().Set("Content-Type", "application/scim+json")
	w.Header().Del("ETag")
	w.WriteHeader(se.Status)
	_, _ = w.Write(b)
}

// location builds the absolute URL of a resource.
func (h *Handler) location(r *http.Request, kind, id string) string {
	return h.resourcesURL(r) + "/" + kind + "/" + url.PathEscape(id)
}

// resourcesURL is the absolute URL that location builds on: the base and Prefix.
func (h *Handler) resourcesURL(r *http.Request) string {
	base := strings.TrimRight(h.BaseURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			scheme = p
		}
		base = scheme + "://" + r.Host
	}
	return base + Prefix
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch checks an If-Match header against the current version; "*" and absent
// match everything.
func ifMatch(r *http.Request, version int64) error {
	v := r.Header.Get("If-Match")
	if v == "" || strings.TrimSpace(v) == "*" {
		return nil
	}
	want := etag(version)
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if t == want || "W/"+t == want {
			return nil
		}
	}
	return core.ErrVersion
}

// notModified reports whether If-None-Match names the current version.
func notModified(r *http.Request, version int64) bool {
	v := r.Header.Get("If-None-Match")
	if v == "" {
		return false
	}
	want := etag(version)
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == want || "W/"+t == want {
			return true
		}
	}
	return false
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// statusWriter lets ServeHTTP see the status a handler wrote, for the metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// operation names a request for the metrics: a small fixed set of labels.
func operation(method string, seg []string) string {
	switch {
	case len(seg) == 2 && seg[1] == ".search":
		return "search"
	case seg[0] != "Users" && seg[0] != "Groups":
		return "discovery"
	case len(seg) == 1 && method == http.MethodGet:
		return "list"
	case len(seg) == 1 && method == http.MethodPost:
		return "create"
	}
	switch method {
	case http.MethodGet:
		return "get"
	case http.MethodPut:
		return "replace"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return "other"
}

// resourceLabel keeps the metric's labels to known endpoints: a client's path never
// becomes a label of its own.
func resourceLabel(seg string) string {
	switch seg {
	case "Users", "Groups", "ServiceProviderConfig", "Schemas", "ResourceTypes":
		return seg
	}
	return "other"
}

// outcome labels a failed operation by its SCIM error type, or its status.
func outcome(err error) string {
	se, _ := toSCIMError(err)
	if se.ScimType != "" {
		return string(se.ScimType)
	}
	return strconv.Itoa(se.Status)
}
