package personality

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/principals"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialsvc"
)

// apiError is an answer with the API's error object. The domain packages
// and the engine return sentinel and typed errors; classify turns them into
// apiErrors, here and nowhere else. The HTTP layer makes apiErrors itself
// only for what is HTTP's own business (media types, body and batch limits,
// rate limits, unknown routes).
type apiError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, if set, is sent as the Retry-After header; every 503 has
	// one of at least a second.
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Message }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func errInvalid(format string, args ...any) error {
	return newError(http.StatusBadRequest, "invalid_argument", format, args...)
}

// The messages of the answers that must not show what failed inside.
const (
	msgUnavailable = "the log is temporarily unavailable; retry shortly"
	msgQueueFull   = "the submission queue is full; retry shortly"
	msgTimeout     = "the request timed out; retry shortly"
	msgInternal    = "internal error"
)

// sentinels maps each domain condition to its status and code. The message
// is the error's own text after the sentinel's ("invalid statement: x" →
// "x"): the sentence the returning package wrote for the caller. The first
// match wins, so the more specific conditions come first.
var sentinels = []struct {
	err    error
	status int
	code   string
}{
	{statement.ErrInvalid, http.StatusBadRequest, "invalid_argument"},
	{engine.ErrInvalidArgument, http.StatusBadRequest, "invalid_argument"},
	{engine.ErrLeafTooLarge, http.StatusBadRequest, "invalid_argument"},
	{principals.ErrInvalid, http.StatusBadRequest, "invalid_argument"},
	{principals.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated"},
	{statement.ErrForbidden, http.StatusForbidden, "permission_denied"},
	{statement.ErrConflict, http.StatusConflict, "conflict"},
	{principals.ErrKeyRegistered, http.StatusConflict, "conflict"},
	{principals.ErrDeactivated, http.StatusConflict, "conflict"},
	{principals.ErrBootstrapAdmin, http.StatusConflict, "conflict"},
	{trialsvc.ErrNotDelegate, http.StatusNotFound, "not_found"},
	{engine.ErrNotFound, http.StatusNotFound, "not_found"},
	{principals.ErrUnknown, http.StatusNotFound, "not_found"},
	{trials.ErrUnknownTrial, http.StatusNotFound, "not_found"},
	{consentsvc.ErrSubjectGone, http.StatusNotFound, "not_found"},
	{consent.ErrUnknownSubject, http.StatusNotFound, "not_found"},
	{consent.ErrNotConsent, http.StatusNotFound, "not_found"},
}

// unavailables are the conditions answered 503 with Retry-After: the
// database, Trillian or the queue is away or full; the client retries.
var unavailables = []error{engine.ErrUnavailable, principals.ErrUnavailable, consentsvc.ErrUnavailable}

// classify maps an error to the API's error object, once, here. logf, if
// set, is told about the failures that are not the client's: 503s and 500s.
func classify(err error, logf func(msg string, err error)) *apiError {
	if logf == nil {
		logf = func(string, error) {}
	}
	var apiErr *apiError
	var unk *envelope.UnknownKeyError
	var mbe *http.MaxBytesError
	var revoked *storage.KeyRevokedError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &revoked):
		return newError(http.StatusForbidden, "permission_denied", "%s", revoked.Error())
	case errors.As(err, &mbe):
		return newError(http.StatusRequestEntityTooLarge, "too_large", "the request body is over the limit of %d bytes", mbe.Limit)
	case errors.As(err, &unk):
		return newError(http.StatusForbidden, "permission_denied", "%s", unk.Error())
	case errors.Is(err, engine.ErrPending):
		// An entry without a receipt yet: 404 (it does not exist yet), and
		// Retry-After, since it will within a second or so.
		e := newError(http.StatusNotFound, "not_found", "%s", detail(err, engine.ErrPending))
		e.RetryAfter = time.Second
		return e
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return newError(s.status, s.code, "%s", detail(err, s.err))
		}
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return newError(http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, engine.ErrQueueFull):
		logf("answering 503", err)
		return unavailable(msgQueueFull)
	case isAny(err, unavailables...), storage.IsUnavailable(err):
		logf("answering 503", err)
		return unavailable(msgUnavailable)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return unavailable(msgTimeout)
	}
	if st, ok := status.FromError(err); ok {
		return fromGRPC(st.Code(), err, logf)
	}
	if errors.Is(err, engine.ErrTrillian) {
		// Trillian's server passes its storage's failures (MySQL away) on
		// as plain errors, without a code.
		logf("answering 503", err)
		return unavailable(msgUnavailable)
	}
	logf("internal error", err)
	return newError(http.StatusInternalServerError, "internal", msgInternal)
}

// fromGRPC is the table from Trillian's gRPC codes to the API's answers.
// Trillian is asked only for what the engine has checked exists (proofs
// within a signed tree), so most codes are trialogd's or Trillian's fault,
// not the client's.
func fromGRPC(c codes.Code, err error, logf func(string, error)) *apiError {
	switch c {
	case codes.InvalidArgument, codes.OutOfRange:
		// The request names something outside the tree Trillian has.
		return newError(http.StatusBadRequest, "invalid_argument", "the request's sizes or indices are outside the log's tree")
	case codes.NotFound:
		return newError(http.StatusNotFound, "not_found", "not found")
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Canceled:
		// Away, overloaded, slow or contended: retry.
		logf("answering 503", err)
		return unavailable(msgUnavailable)
	case codes.FailedPrecondition:
		// Trillian's tree is not in the state the request needs yet (it is
		// behind a checkpoint another replica signed, or not initialised):
		// it passes with time.
		logf("answering 503", err)
		return unavailable(msgUnavailable)
	case codes.Unknown:
		// Plain errors from Trillian's storage travel as Unknown.
		logf("answering 503", err)
		return unavailable(msgUnavailable)
	default:
		// Internal, DataLoss, Unimplemented, AlreadyExists,
		// PermissionDenied, Unauthenticated: a fault or misconfiguration
		// of trialogd and Trillian that the client cannot mend. No detail
		// leaves the server.
		logf("internal error", err)
		return newError(http.StatusInternalServerError, "internal", msgInternal)
	}
}

func unavailable(msg string) *apiError {
	e := newError(http.StatusServiceUnavailable, "unavailable", "%s", msg)
	e.RetryAfter = time.Second
	return e
}

// detail is the caller's sentence of an error that wraps sentinel as
// "sentinel: sentence".
func detail(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
