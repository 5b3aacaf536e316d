package httpx

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/core"
	"github.com/gatehouse-dev/gatehouse/internal/decisions"
)

// Error is an error with a status and a client-safe detail. Its cause stays in the
// logs; Error() is for logs too.
type Error struct {
	Status int
	Detail string
	Cause  error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Detail, e.Cause)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Detail)
}

func (e *Error) Unwrap() error { return e.Cause }

// Fail builds an *Error. detail is shown to the client.
func Fail(status int, detail string, cause error) error {
	return &Error{Status: status, Detail: detail, Cause: cause}
}

// Failf builds an *Error with a formatted detail.
func Failf(status int, format string, args ...any) error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// Forbidden is the answer when the caller is authenticated but not allowed.
func Forbidden(detail string) error { return Fail(http.StatusForbidden, detail, nil) }

// NotFound turns a store's not-found into a 404 naming what the client asked for;
// other errors pass unchanged.
func NotFound(err error, kind, ref string) error {
	if errors.Is(err, core.ErrNotFound) {
		return Fail(http.StatusNotFound, fmt.Sprintf("%s %q not found", kind, ref), err)
	}
	return err
}

// Refusal is nil for an allowed decision, else the answer to a refusal: 403 with
// its reason, or, where the caller may not learn that the object exists, the 404
// with notFound as its detail that a missing object gets.
func Refusal(d decisions.Decision, notFound string) error {
	switch {
	case d.Allowed():
		return nil
	case d.Hide:
		return Fail(http.StatusNotFound, notFound, nil)
	}
	return Forbidden(d.Message)
}

// Status maps an error to its status and client-safe detail. It is the one place
// where core's sentinels and the authorizer's refusals meet HTTP statuses; anything
// it does not know is a bare 500.
func Status(err error) (int, string) {
	var he *Error
	if errors.As(err, &he) {
		return he.Status, he.Detail
	}
	var rf *decisions.Refused
	if errors.As(err, &rf) {
		return Status(Refusal(rf.Decision, "not found"))
	}
	switch {
	case errors.Is(err, decisions.ErrUnauthenticated), errors.Is(err, decisions.ErrSCIMToken), errors.Is(err, decisions.ErrDeactivated):
		return http.StatusUnauthorized, unwrapAll(err).Error()
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

// unwrapAll is the innermost error: the sentinel's own text.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
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

// Quote quotes a reference for a message.
func Quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
