package core

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every layer wraps these with context; protocol edges map them to
// their own error formats (SCIM error JSON, problem+json, CLI messages) with errors.Is.
var (
	// ErrNotFound: the object does not exist, or not in the caller's org.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule would be broken (a slug, a userName, a name).
	ErrConflict = errors.New("already exists")
	// ErrVersion: the object changed since the caller read it (optimistic locking).
	ErrVersion = errors.New("version mismatch")
	// ErrInvalid: the input breaks a rule of the model.
	ErrInvalid = errors.New("invalid")
	// ErrLastAdmin: the change would leave an org without an active org admin.
	ErrLastAdmin = errors.New("an organization must keep at least one active org admin")
	// ErrUnavailable: the database cannot be reached or is overloaded right now; the
	// request changed nothing and may be retried (edges answer 503).
	ErrUnavailable = errors.New("database unavailable")
)

// Invalidf returns an error wrapping ErrInvalid with a message fit for a client.
func Invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }
