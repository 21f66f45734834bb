package personality

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrUnavailable means trialogd cannot serve the request now: Trillian or
// MySQL is unreachable, or the submission queue is full. Clients should retry
// after a pause; the HTTP layer answers 503 with Retry-After.
var ErrUnavailable = errors.New("temporarily unavailable")

// ErrNotFound means the requested entry, leaf or checkpoint does not exist.
var ErrNotFound = errors.New("not found")

// Error is an error with an HTTP status and API error code; its message is
// shown to the client.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, if set, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func newError(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errors with API codes (API.md's table).
func errInvalid(format string, args ...any) error {
	return newError(http.StatusBadRequest, "invalid_argument", format, args...)
}
func errUnauthenticated(format string, args ...any) error {
	return newError(http.StatusUnauthorized, "unauthenticated", format, args...)
}
func errDenied(format string, args ...any) error {
	return newError(http.StatusForbidden, "permission_denied", format, args...)
}
func errNotFound(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotFound, newError(http.StatusNotFound, "not_found", format, args...))
}
