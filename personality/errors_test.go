package personality

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
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
)

// TestClassify: the one table from errors to the API's answers. Each row is
// an error as its package returns it; the answer's status, code, message
// and Retry-After must be exactly these.
func TestClassify(t *testing.T) {
	trillian := func(c codes.Code) error {
		return fmt.Errorf("%w: GetInclusionProof: %w", engine.ErrTrillian, status.Error(c, "tree 12345: leaf 7 is beyond the tree"))
	}
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string // "" : not checked beyond being free of internals
		retry  time.Duration
		logged bool
	}{
		{"statement invalid", statement.Invalidf("trial.milestone: date is required"), 400, "invalid_argument", "trial.milestone: date is required", 0, false},
		{"engine argument", fmt.Errorf("%w: an entry id is 64 lowercase hex digits", engine.ErrInvalidArgument), 400, "invalid_argument", "an entry id is 64 lowercase hex digits", 0, false},
		{"leaf too large", fmt.Errorf("%w: this statement makes a log entry of 70000 bytes, over the 65535 bytes an entry may take", engine.ErrLeafTooLarge), 400, "invalid_argument", "this statement makes a log entry of 70000 bytes, over the 65535 bytes an entry may take", 0, false},
		{"principal invalid", fmt.Errorf("%w: name is required", principals.ErrInvalid), 400, "invalid_argument", "name is required", 0, false},
		{"unauthenticated", fmt.Errorf("%w: the token is not known", principals.ErrUnauthenticated), 401, "unauthenticated", "the token is not known", 0, false},
		{"forbidden", fmt.Errorf("%w: only the owner of trial NCT01234567 may delegate", statement.ErrForbidden), 403, "permission_denied", "only the owner of trial NCT01234567 may delegate", 0, false},
		{"unknown key", &envelope.UnknownKeyError{KeyID: "ab"}, 403, "permission_denied", (&envelope.UnknownKeyError{KeyID: "ab"}).Error(), 0, false},
		{"conflict", trials.ErrAlreadyDelegated, 409, "conflict", "the principal is already a delegate of this trial", 0, false},
		{"key registered", fmt.Errorf("%w: public_keys[0] is already registered to a principal", principals.ErrKeyRegistered), 409, "conflict", "public_keys[0] is already registered to a principal", 0, false},
		{"entry unknown", fmt.Errorf("%w: no entry has id 00", engine.ErrNotFound), 404, "not_found", "no entry has id 00", 0, false},
		{"trial unknown", fmt.Errorf("%w: trial NCT01234567 is not registered", trials.ErrUnknownTrial), 404, "not_found", "trial NCT01234567 is not registered", 0, false},
		{"subject gone", fmt.Errorf("%w: subject sub_1 of trial NCT01234567 is unknown", consentsvc.ErrSubjectGone), 404, "not_found", "subject sub_1 of trial NCT01234567 is unknown", 0, false},
		{"not consent", fmt.Errorf("%w: entry 00 is a record.digest", consent.ErrNotConsent), 404, "not_found", "entry 00 is a record.digest", 0, false},
		{"principal unknown", fmt.Errorf("%w: no principal has id pr_1", principals.ErrUnknown), 404, "not_found", "no principal has id pr_1", 0, false},
		{"storage row", fmt.Errorf("reading entry 7: %w", storage.ErrNotFound), 404, "not_found", "not found", 0, false},
		{"pending", fmt.Errorf("%w: entry 00 is not yet in a published checkpoint", engine.ErrPending), 404, "not_found", "entry 00 is not yet in a published checkpoint", time.Second, false},
		{"too large", &http.MaxBytesError{Limit: 1 << 20}, 413, "too_large", "the request body is over the limit of 1048576 bytes", 0, false},
		{"queue full", engine.ErrQueueFull, 503, "unavailable", msgQueueFull, time.Second, true},
		{"engine unavailable", fmt.Errorf("%w: %w", engine.ErrUnavailable, errors.New("dial tcp 127.0.0.1:3306: connection refused")), 503, "unavailable", msgUnavailable, time.Second, true},
		{"MySQL away", &mysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}, 503, "unavailable", msgUnavailable, time.Second, true},
		{"consent store away", fmt.Errorf("%w: i/o timeout", consentsvc.ErrUnavailable), 503, "unavailable", msgUnavailable, time.Second, true},
		{"canceled", fmt.Errorf("waiting: %w", context.Canceled), 503, "unavailable", msgTimeout, time.Second, false},
		// A deadline is a timeout to the MySQL driver's classifier too.
		{"deadline", fmt.Errorf("waiting: %w", context.DeadlineExceeded), 503, "unavailable", msgUnavailable, time.Second, true},
		{"internal", errors.New("stored leaf 7: unexpected end of JSON input"), 500, "internal", msgInternal, 0, true},

		// Trillian's gRPC codes.
		{"grpc InvalidArgument", trillian(codes.InvalidArgument), 400, "invalid_argument", "", 0, false},
		{"grpc OutOfRange", trillian(codes.OutOfRange), 400, "invalid_argument", "", 0, false},
		{"grpc NotFound", trillian(codes.NotFound), 404, "not_found", "not found", 0, false},
		{"grpc Unavailable", trillian(codes.Unavailable), 503, "unavailable", msgUnavailable, time.Second, true},
		{"grpc ResourceExhausted", trillian(codes.ResourceExhausted), 503, "unavailable", msgUnavailable, time.Second, true},
		{"grpc DeadlineExceeded", trillian(codes.DeadlineExceeded), 503, "unavailable", msgUnavailable, time.Second, true},
		{"grpc Aborted", trillian(codes.Aborted), 503, "unavailable", msgUnavailable, time.Second, true},
		{"grpc FailedPrecondition", trillian(codes.FailedPrecondition), 503, "unavailable", msgUnavailable, time.Second, true},
		{"grpc Unknown", trillian(codes.Unknown), 503, "unavailable", msgUnavailable, time.Second, true},
		{"trillian plain error", fmt.Errorf("%w: GetConsistencyProof: %w", engine.ErrTrillian, errors.New("Error 1146: Table 'Subtree' doesn't exist")), 503, "unavailable", msgUnavailable, time.Second, true},
		{"grpc Internal", trillian(codes.Internal), 500, "internal", msgInternal, 0, true},
		{"grpc DataLoss", trillian(codes.DataLoss), 500, "internal", msgInternal, 0, true},
		{"grpc Unimplemented", trillian(codes.Unimplemented), 500, "internal", msgInternal, 0, true},
		{"grpc PermissionDenied", trillian(codes.PermissionDenied), 500, "internal", msgInternal, 0, true},
		{"grpc Unauthenticated", trillian(codes.Unauthenticated), 500, "internal", msgInternal, 0, true},
		{"grpc AlreadyExists", trillian(codes.AlreadyExists), 500, "internal", msgInternal, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logged := false
			e := classify(tc.err, func(string, error) { logged = true })
			if e.Status != tc.status || e.Code != tc.code || e.RetryAfter != tc.retry {
				t.Fatalf("classify(%v) = %d %s (Retry-After %v), want %d %s (%v)", tc.err, e.Status, e.Code, e.RetryAfter, tc.status, tc.code, tc.retry)
			}
			if tc.msg != "" && e.Message != tc.msg {
				t.Fatalf("classify(%v) message %q, want %q", tc.err, e.Message, tc.msg)
			}
			if e.Status >= 500 || tc.name[:4] == "grpc" {
				// Nothing of what failed inside reaches the client.
				for _, secret := range []string{"12345", "3306", "1146", "Subtree", "JSON", "i/o"} {
					if strings.Contains(e.Message, secret) {
						t.Fatalf("classify(%v) shows internals: %q", tc.err, e.Message)
					}
				}
			}
			if logged != tc.logged {
				t.Fatalf("classify(%v) logged = %v, want %v", tc.err, logged, tc.logged)
			}
		})
	}
}

// TestClassifyHTTPErrors: the HTTP layer's own errors pass unchanged.
func TestClassifyHTTPErrors(t *testing.T) {
	e := newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	if got := classify(fmt.Errorf("reading: %w", e), nil); got != e {
		t.Fatalf("classify of an API error = %+v, want it unchanged", got)
	}
}
