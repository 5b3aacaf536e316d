package scim

import (
	"errors"
	"fmt"
	"net/http"

	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/gatehouse-dev/gatehouse/internal/core"
)

// scimError is an error the edge raises itself with its SCIM status and scimType;
// toSCIMError passes it through.
type scimError struct {
	status   int
	scimType scimerrors.ScimType
	detail   string
}

func (e *scimError) Error() string { return e.detail }

func newError(status int, t scimerrors.ScimType, format string, args ...any) error {
	return &scimError{status: status, scimType: t, detail: fmt.Sprintf(format, args...)}
}

func invalidValuef(format string, args ...any) error {
	return newError(http.StatusBadRequest, scimerrors.ScimTypeInvalidValue, format, args...)
}

func invalidPathf(format string, args ...any) error {
	return newError(http.StatusBadRequest, scimerrors.ScimTypeInvalidPath, format, args...)
}

func noTargetf(format string, args ...any) error {
	return newError(http.StatusBadRequest, scimerrors.ScimTypeNoTarget, format, args...)
}

func mutabilityf(format string, args ...any) error {
	return newError(http.StatusBadRequest, scimerrors.ScimTypeMutability, format, args...)
}

func invalidSyntaxf(format string, args ...any) error {
	return newError(http.StatusBadRequest, scimerrors.ScimTypeInvalidSyntax, format, args...)
}

func invalidFilterf(format string, args ...any) error {
	return newError(http.StatusBadRequest, scimerrors.ScimTypeInvalidFilter, format, args...)
}

// errFilter marks a core.ErrInvalid that came from a filter, so it maps to invalidFilter.
type filterError struct{ err error }

func (e *filterError) Error() string { return e.err.Error() }
func (e *filterError) Unwrap() error { return e.err }

// toSCIMError is the one place where errors become SCIM error responses. Core
// sentinels map to their SCIM status; anything unknown is a 500 whose cause is
// logged by the caller and never sent (no driver text reaches a client).
func toSCIMError(err error) (e scimerrors.ScimError, internal bool) {
	var se *scimError
	var fe *filterError
	switch {
	case errors.As(err, &se):
		return scimerrors.ScimError{Status: se.status, ScimType: se.scimType, Detail: se.detail}, false
	case errors.As(err, &fe):
		return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeInvalidFilter, Detail: clientDetail(fe.err)}, false
	case errors.Is(err, core.ErrNotFound):
		return scimerrors.ScimError{Status: http.StatusNotFound, Detail: "Resource not found."}, false
	case errors.Is(err, core.ErrConflict):
		return scimerrors.ScimError{Status: http.StatusConflict, ScimType: scimerrors.ScimTypeUniqueness,
			Detail: "One or more of the attribute values are already in use (userName is unique per organization, displayName per directory)."}, false
	case errors.Is(err, core.ErrVersion):
		return scimerrors.ScimError{Status: http.StatusPreconditionFailed, Detail: "The resource changed since the version given in If-Match."}, false
	case errors.Is(err, core.ErrLastAdmin):
		// RFC 7644 §3.12: a mutability refusal is a 400.
		return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeMutability,
			Detail: "This user is the organization's last active admin and cannot be deactivated or deleted; make another user an admin first."}, false
	case errors.Is(err, core.ErrInvalid):
		return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeInvalidValue, Detail: clientDetail(err)}, false
	case errors.Is(err, core.ErrUnavailable):
		// Nothing was written; the IdP retries later (both Okta and Entra retry 503s).
		return scimerrors.ScimError{Status: http.StatusServiceUnavailable, Detail: "The service is briefly unavailable; nothing was changed. Retry later."}, false
	}
	return scimerrors.ScimError{Status: http.StatusInternalServerError, Detail: "Internal server error."}, true
}

// clientDetail returns the innermost core.Invalidf message: written for clients.
func clientDetail(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Is(e, core.ErrInvalid) && e.Error() != core.ErrInvalid.Error() {
			if u := errors.Unwrap(e); u == core.ErrInvalid || u == nil {
				return e.Error()
			}
		}
	}
	return "The request is not valid."
}
