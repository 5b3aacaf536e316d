package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
)

// Mounter is a protocol edge that registers its routes on the server's mux.
type Mounter interface {
	Mount(mux *http.ServeMux)
}

// Pinger is what the readiness probe needs from the store.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Config tunes the server. Zero durations and sizes take the defaults below.
type Config struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:8080".
	Addr string
	// Listener, when set, is used instead of listening on Addr (tests pass one on
	// 127.0.0.1:0 and read its address).
	Listener net.Listener
	// OnListen, when set, is called with the bound address once the server accepts
	// connections.
	OnListen func(addr net.Addr)

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// ShutdownTimeout bounds how long in-flight requests may drain at shutdown.
	ShutdownTimeout time.Duration
	// ReadyTimeout bounds the database ping of /readyz.
	ReadyTimeout time.Duration
	// MaxBodyBytes limits every request body.
	MaxBodyBytes int64

	// TLSCertFile and TLSKeyFile, when both set, serve HTTPS directly.
	TLSCertFile, TLSKeyFile string
	// Metrics, when set, records every request and is served at /metrics.
	Metrics *metrics.Metrics
	// Limits, when set, rate-limits the SCIM, API and login paths.
	Limits *Limits
}

// Defaults. Requests are JSON and form posts: SAML responses of a few tens of
// kilobytes, SCIM membership batches and check batches of 1,000 questions up to the
// 2 MiB the SCIM and API handlers accept; a slow client gets 10s to send headers.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 20 * time.Second
	DefaultReadyTimeout      = 2 * time.Second
	DefaultMaxBodyBytes      = 2 << 20
)

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	def(&c.ReadyTimeout, DefaultReadyTimeout)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
}

// Server is Gatehouse's HTTP server.
type Server struct {
	cfg    Config
	db     Pinger
	logger *slog.Logger
	mux    *http.ServeMux

	// Request ids are a random per-server prefix and a counter: unique without a
	// random read per request.
	idPrefix string
	idSeq    atomic.Uint64
}

// New builds a server answering the probes and every mount's routes.
func New(cfg Config, db Pinger, logger *slog.Logger, mounts ...Mounter) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, db: db, logger: logger, mux: http.NewServeMux()}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s.idPrefix = hex.EncodeToString(b)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.Metrics != nil {
		s.mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}
	for _, m := range mounts {
		m.Mount(s.mux)
	}
	return s
}

// Handler is the whole HTTP stack: request ids, logging, metrics, panic recovery,
// rate limits, body limit, routes.
func (s *Server) Handler() http.Handler {
	return s.logRequests(s.cfg.Metrics.Middleware(s.recoverPanics(s.limit(s.limitBody(s.mux)))))
}

// Run serves until ctx is cancelled, then stops accepting connections and waits up to
// ShutdownTimeout for in-flight requests to finish. It returns nil after a clean
// shutdown.
func (s *Server) Run(ctx context.Context) error {
	ln := s.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
		}
	}
	// Closed when the drain starts: requests that wait on purpose (a long poll)
	// answer at once instead of holding the drain up.
	drain := make(chan struct{})
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.WithoutCancel(ctx), drainKey{}, drain)
		},
	}
	served := make(chan error, 1)
	tls := s.cfg.TLSCertFile != "" && s.cfg.TLSKeyFile != ""
	go func() {
		if tls {
			served <- srv.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
			return
		}
		served <- srv.Serve(ln)
	}()
	s.logger.Info("listening", "addr", ln.Addr().String(), "tls", tls)
	if s.cfg.OnListen != nil {
		s.cfg.OnListen(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.logger.Info("shutting down; draining in-flight requests", "timeout", s.cfg.ShutdownTimeout.String())
	close(drain)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", s.cfg.ShutdownTimeout, err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.logger.Info("stopped")
	return nil
}

// healthz says the process is up; it does not touch the database, so an orchestrator
// does not restart a healthy process during a database outage.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}

// readyz says whether this instance can serve: the database answers a ping in time.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.db.Ping(ctx); err != nil {
		s.logger.Warn("readiness: database does not answer", "request_id", RequestID(r.Context()), "err", err.Error())
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "database unavailable")
		return
	}
	fmt.Fprintln(w, "ready")
}

type ctxKey struct{}

type drainKey struct{}

// Draining returns a channel closed when the server serving the request starts
// its graceful shutdown; nil (never closed) outside Run, as in tests.
func Draining(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(drainKey{}).(chan struct{})
	return c
}

// RequestID is the id of the request being served, as logged and sent back in the
// X-Request-Id header; empty outside a request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// requestID keeps a caller's X-Request-Id when it is short and printable (a load
// balancer's id ties logs together), and makes a new one otherwise.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		ok := true
		for _, c := range id {
			if c <= ' ' || c > '~' {
				ok = false
				break
			}
		}
		if ok {
			return id
		}
	}
	return s.idPrefix + "-" + strconv.FormatUint(s.idSeq.Add(1), 36)
}

// statusWriter remembers the status code written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests writes one line per request: method, path, status, duration, request
// id. Never headers (Authorization carries bearer tokens), query strings (they may
// carry codes and SAML payloads) or bodies.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.requestID(r)
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			// The record goes to the handler directly, as Logger.LogAttrs would
			// send it but for the caller's program counter, which no handler
			// here writes (no AddSource) and whose stack walk cost a fifth of
			// the log line.
			h := s.logger.Handler()
			ctx := r.Context()
			if !h.Enabled(ctx, slog.LevelInfo) {
				return
			}
			rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
			rec.AddAttrs(
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Int64("bytes", sw.bytes),
				// A duration with its unit ("1.204ms"), as people read it: slog's
				// JSON handler would write bare nanoseconds.
				slog.String("duration", time.Since(start).Round(time.Microsecond).String()),
				slog.String("request_id", id),
			)
			_ = h.Handle(ctx, rec)
		}()
		next.ServeHTTP(sw, r)
	})
}

// recoverPanics turns a handler's panic into a logged 500 instead of a dropped
// connection, keeping the stack in the log only.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(v)
			}
			s.logger.Error("handler panic", "request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			http.Error(w, "internal server error", http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

// limitBody caps every request body: a declared length over the limit is refused with
// 413 at once; a handler reading past the limit gets an *http.MaxBytesError (which it
// answers with 413) and the connection is closed after the response. Refusals here
// are in the protocol's own format (refuse).
//
// It also refuses text that is not UTF-8 before any handler sees it: a path or query
// that decodes to invalid UTF-8, and a JSON body (RFC 8259 §8.1 requires UTF-8) with
// invalid bytes. encoding/json would otherwise replace them with U+FFFD and store a
// name nobody sent.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", s.cfg.MaxBodyBytes))
			return
		}
		if !text(r.URL.Path) || !validQuery(r.URL.RawQuery) {
			refuse(w, r, http.StatusBadRequest, "The URL is not valid UTF-8.")
			return
		}
		if longSegment(r.URL.Path) {
			refuse(w, r, http.StatusBadRequest, fmt.Sprintf("A segment of the path is longer than %d bytes: it names nothing.", core.MaxRef))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		if isJSON(r.Header.Get("Content-Type")) {
			body, err := io.ReadAll(r.Body)
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The request body is larger than %d bytes.", s.cfg.MaxBodyBytes))
				return
			case err != nil:
				refuse(w, r, http.StatusBadRequest, "The request body could not be read.")
				return
			case !utf8.Valid(body) || hasEscapedNUL(body):
				refuse(w, r, http.StatusBadRequest, "The request body is not valid UTF-8 text (or holds a NUL character).")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// longSegment reports whether a segment of the (decoded) path is longer than any
// reference (core.MaxRef): every object a path names is refused past it, in the
// protocol's format, before a handler looks it up.
func longSegment(path string) bool {
	for len(path) > core.MaxRef {
		i := strings.IndexByte(path, '/')
		if i < 0 {
			return true
		}
		if i > core.MaxRef {
			return true
		}
		path = path[i+1:]
	}
	return false
}

// validQuery reports whether every key and value of a query decodes to UTF-8.
func validQuery(raw string) bool {
	if raw == "" {
		return true
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return true // malformed escapes are the handler's to refuse, in its own words
	}
	for k, vs := range q {
		if !text(k) {
			return false
		}
		for _, v := range vs {
			if !text(v) {
				return false
			}
		}
	}
	return true
}

// text reports whether s is UTF-8 without NUL: what every name, filter and id that
// Gatehouse stores must be. PostgreSQL cannot store a NUL in text at all, so refusing
// it here keeps both databases answering alike.
func text(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// hasEscapedNUL reports whether a JSON text holds the escape \u0000 (a raw NUL byte is
// already invalid JSON): one preceded by an even number of backslashes is the escape,
// an odd number makes it the literal text "\u0000".
func hasEscapedNUL(b []byte) bool {
	for i := 0; ; {
		k := bytes.Index(b[i:], []byte(`\u0000`))
		if k < 0 {
			return false
		}
		at := i + k
		n := 0
		for j := at - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = at + 1
	}
}

// isJSON reports whether a Content-Type is JSON: application/json, application/scim+json
// and other +json types.
func isJSON(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// refuse answers a request the server turns away before any handler, in the format of
// the protocol at that path: SCIM error JSON (RFC 7644 §3.12) under /scim/, problem+json
// (RFC 9457) under /api/, a plain page elsewhere (the login pages).
func refuse(w http.ResponseWriter, r *http.Request, status int, detail string) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/scim/"):
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"%d","detail":%q}`, status, detail)
	case strings.HasPrefix(p, "/api/"):
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"type":"about:blank","title":%q,"status":%d,"detail":%q}`, http.StatusText(status), status, detail)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>", http.StatusText(status), http.StatusText(status), html.EscapeString(detail))
	}
}
