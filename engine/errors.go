package engine

import (
	"errors"
	"fmt"
)

// The engine's errors. Each is a sentinel for errors.Is; the error returned
// wraps it with a sentence for the caller after a colon. personality maps
// them to the API's statuses; the engine never speaks HTTP.
var (
	// ErrUnavailable means the log cannot serve the request now: MySQL or
	// Trillian is unreachable, or no checkpoint is signed yet. Retry after
	// a pause.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrQueueFull means the submission queue is full: the appender is
	// behind. It is an ErrUnavailable.
	ErrQueueFull = fmt.Errorf("%w: the submission queue is full", ErrUnavailable)
	// ErrNotFound means the entry, leaf or proof asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPending means the entry exists but no published checkpoint
	// includes it yet (so it has no receipt yet); it will soon.
	ErrPending = errors.New("not yet in a published checkpoint")
	// ErrInvalidArgument means a malformed id or hash, or sizes outside the
	// published tree.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrLeafTooLarge means a submission would make a log entry over
	// MaxLeafSize bytes, more than a C2SP tlog-tiles entry bundle holds.
	ErrLeafTooLarge = errors.New("log entry too large")
	// ErrGuard means the consistency guard refused to sign a root: Trillian
	// or the database disagrees with what this log signed before.
	ErrGuard = errors.New("consistency guard")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

func notFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotFound, fmt.Sprintf(format, args...))
}

// unavailable marks err, a failure of MySQL or of a dependency, as
// ErrUnavailable.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

var errNoCheckpoint = fmt.Errorf("%w: no checkpoint yet", ErrUnavailable)

// ErrTrillian marks a failed call to Trillian; the error also carries
// Trillian's gRPC status when it has one (status.FromError).
var ErrTrillian = errors.New("trillian")

// trillianErr wraps the error of Trillian call op.
func trillianErr(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrTrillian, op, err)
}
