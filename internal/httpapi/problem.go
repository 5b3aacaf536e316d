package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// httpError is an error with a status and a client-safe detail. Its cause stays in
// the logs; Error() is for logs too.
type httpError struct {
	status int
	detail string
	cause  error
}

func (e *httpError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %v", e.status, e.detail, e.cause)
	}
	return fmt.Sprintf("%d %s", e.status, e.detail)
}

func (e *httpError) Unwrap() error { return e.cause }

// fail builds an httpError. detail is shown to the client.
func fail(status int, detail string, cause error) error {
	return &httpError{status: status, detail: detail, cause: cause}
}

func failf(status int, format string, args ...any) error {
	return &httpError{status: status, detail: fmt.Sprintf(format, args...)}
}

// errForbidden is the answer when the caller is authenticated but not allowed.
func forbidden(detail string) error { return fail(http.StatusForbidden, detail, nil) }

// problem is an RFC 9457 problem details object.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// problemFor maps an error to its status and client-safe detail. It is the one place
// where core sentinels meet HTTP statuses; anything it does not know is a bare 500.
func problemFor(err error) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.detail
	}
	switch {
	case errors.Is(err, core.ErrLastAdmin):
		return http.StatusConflict, core.ErrLastAdmin.Error()
	case errors.Is(err, core.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, core.ErrConflict):
		return http.StatusConflict, "an object with that name or id already exists"
	case errors.Is(err, core.ErrVersion):
		return http.StatusPreconditionFailed, "the object changed since it was read; read it again"
	case errors.Is(err, core.ErrInvalid):
		return http.StatusUnprocessableEntity, invalidMessage(err)
	case errors.Is(err, core.ErrUnavailable):
		return http.StatusServiceUnavailable, "the service is briefly unavailable; nothing was changed; retry"
	}
	return http.StatusInternalServerError, ""
}

// invalidMessage digs out the message of a core.Invalidf error: the innermost error
// that wraps core.ErrInvalid directly. Outer wrappers may carry store context (ids,
// SQL names) that is not for clients.
func invalidMessage(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Unwrap(e) == core.ErrInvalid && e.Error() != core.ErrInvalid.Error() {
			return e.Error()
		}
	}
	return "the request breaks a rule of the model"
}

// writeProblem renders err as problem+json and logs what the client does not see.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, detail := problemFor(err)
	rid := requestID(r)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		log.WarnContext(r.Context(), "api: database unavailable", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
	} else if status >= 500 {
		log.ErrorContext(r.Context(), "api request failed", "request_id", rid, "method", r.Method, "path", r.URL.Path, "err", err)
		detail = ""
	} else {
		log.DebugContext(r.Context(), "api request refused", "request_id", rid, "status", status, "err", err)
	}
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, RequestID: rid}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// notFound turns a store's not-found into a 404 naming what the client asked for.
func notFound(err error, kind, ref string) error {
	if errors.Is(err, core.ErrNotFound) {
		return fail(http.StatusNotFound, fmt.Sprintf("%s %q not found", kind, ref), err)
	}
	return err
}
