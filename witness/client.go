package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Answers of add-checkpoint other than 200, as errors. The HTTP layer of
// trialogd never sees them: they decide only whether a checkpoint is
// published.
var (
	// ErrUnknownLog is 404: the witness does not know the log's origin.
	ErrUnknownLog = errors.New("the witness does not know this log (404): its operator must add the log's origin and key")
	// ErrForbidden is 403: no signature verified with the log keys the
	// witness trusts.
	ErrForbidden = errors.New("the witness does not trust the log's key (403): its operator must add the log's key")
	// ErrInconsistent is 422: the witness's tree is not a prefix of the
	// submitted one — evidence of a fork.
	ErrInconsistent = errors.New("the witness rejected the consistency proof (422): it cosigned a tree that is not a prefix of this checkpoint's")
	// ErrSplitView is 409 at equal sizes: the witness cosigned another root
	// hash for this tree size.
	ErrSplitView = errors.New("the witness cosigned a different tree of the same size (409)")
	// ErrAhead: the witness cosigned a larger tree than the checkpoint.
	ErrAhead = errors.New("the witness cosigned a larger tree than this checkpoint")
	// ErrBadRequest is 400.
	ErrBadRequest = errors.New("the witness refused the request as malformed (400)")
)

// ConflictError is 409 with the witness's latest cosigned size: the request
// was built on another old size and must be sent again from this one.
type ConflictError struct{ Known uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("the witness's latest cosigned size is %d (409)", e.Known)
}

// StatusError is any other answer.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the witness answered %d: %s", e.Status, e.Body)
}

// maxResponse bounds what is read from a witness.
const maxResponse = 64 << 10

// addCheckpoint sends one add-checkpoint request and returns the signature
// lines of a 200 answer, unverified.
func addCheckpoint(ctx context.Context, hc *http.Client, url string, old uint64, proof [][]byte, signed []byte) ([]byte, error) {
	// SPEC: C2SP tlog-witness add-checkpoint — "old N", one base64 hash per
	// line (at most 63), an empty line, the checkpoint.
	if len(proof) > 63 {
		return nil, fmt.Errorf("a consistency proof of %d hashes is over the protocol's 63", len(proof))
	}
	var b bytes.Buffer
	b.WriteString("old " + strconv.FormatUint(old, 10) + "\n")
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(signed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &b)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	return parseAnswer(resp.StatusCode, resp.Header.Get("Content-Type"), body, old)
}

// parseAnswer interprets a witness's answer to add-checkpoint from old:
// the signature lines of a 200, or the error the status means.
func parseAnswer(status int, contentType string, body []byte, old uint64) ([]byte, error) {
	switch status {
	case http.StatusOK:
		return body, nil
	case http.StatusConflict:
		// SPEC: 409 carries the latest cosigned size as text/x.tlog.size;
		// a 409 at the same size means another root hash.
		mt, _, _ := mime.ParseMediaType(contentType)
		s, ok := strings.CutSuffix(string(body), "\n")
		n, err := strconv.ParseUint(s, 10, 64)
		if mt == "text/x.tlog.size" && ok && err == nil && n != old && strconv.FormatUint(n, 10) == s {
			return nil, &ConflictError{Known: n}
		}
		return nil, ErrSplitView
	case http.StatusNotFound:
		return nil, ErrUnknownLog
	case http.StatusForbidden:
		return nil, ErrForbidden
	case http.StatusUnprocessableEntity:
		return nil, ErrInconsistent
	case http.StatusBadRequest:
		return nil, fmt.Errorf("%w: %s", ErrBadRequest, printable(body))
	default:
		return nil, &StatusError{Status: status, Body: printable(body)}
	}
}

// printable shortens a witness's error body for a log line.
func printable(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
