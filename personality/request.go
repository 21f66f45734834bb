package personality

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trialog/trialog/internal/accesslog"
	"github.com/trialog/trialog/internal/strictjson"
	"github.com/trialog/trialog/principals"
	"github.com/trialog/trialog/statement"
)

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.Status, map[string]any{"error": map[string]string{"code": e.Code, "message": e.Message}})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // messages say <token>, not \u003ctoken\u003e
	if err := enc.Encode(body); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":{"code":"internal","message":"internal error"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// readBody checks the media type and reads at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, newError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
	}
	if r.ContentLength > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if mbe := (*http.MaxBytesError)(nil); err != nil && !errors.As(err, &mbe) {
		// A broken chunked encoding or a client that went away.
		return nil, errInvalid("the request body could not be read: %v", err)
	}
	return b, err
}

// decodeJSON reads a JSON request body strictly into v.
func decodeJSON(r *http.Request, limit int64, v any) error {
	b, err := readBody(r, limit)
	if err != nil {
		return err
	}
	// The same I-JSON reader as signed statements: no duplicate or
	// case-variant keys, no trailing data, at most 64 levels, linear cost.
	if err := strictjson.Unmarshal(b, v); err != nil {
		return errInvalid("the body is not the expected JSON object: %v", err)
	}
	return nil
}

// caller authenticates the request's bearer token.
// Each authenticated request counts against the principal's rate limit.
// Failed authentications are counted per client address (authguard.go).
func (a *API) caller(r *http.Request) (statement.Caller, error) {
	addr, tok := clientAddr(r), bearer(r)
	if err := a.authGuard.admit(addr); err != nil {
		return statement.Caller{}, err
	}
	if tok != "" && a.authGuard.knownBad(tok) {
		a.authGuard.failed(addr, "")
		return statement.Caller{}, fmt.Errorf("%w: the token is not known", principals.ErrUnauthenticated)
	}
	c, err := a.principals.Authenticate(r.Context(), tok)
	if errors.Is(err, principals.ErrUnauthenticated) {
		a.authGuard.failed(addr, tok)
	}
	if err != nil {
		return c, err
	}
	accesslog.SetPrincipal(r.Context(), c.PrincipalID)
	return c, a.limits.allow(c.PrincipalID)
}

func parseWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil || d < 0 {
		return 0, errInvalid("wait must be a duration such as 10s (at most %s)", MaxWait)
	}
	return min(d, MaxWait), nil
}
