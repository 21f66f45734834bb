package personality

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trialog/trialog/personality/api"
	"github.com/trialog/trialog/personality/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// Limits on request bodies.
const (
	MaxEnvelopeBody = 1 << 20  // one envelope
	MaxBatchBody    = 32 << 20 // a batch
	MaxBatch        = 1000     // envelopes per batch
	MaxWait         = 30 * time.Second
	retryAfter      = "1"
)

// HandlerFunc is an API handler: it decodes the request, calls the service
// and returns a status and a body to encode as JSON, or an error that the
// wrapper maps to the API's error object.
type HandlerFunc func(r *http.Request) (int, any, error)

// API is trialogd's HTTP API.
type API struct {
	unavailable throttle
	limits      *limiters
	svc         *Service
	router      *mux.Router
	log         *slog.Logger
	gather      prometheus.Gatherer
}

// NewAPI returns the API over svc. gather serves /metrics.
func NewAPI(svc *Service, gather prometheus.Gatherer) *API {
	a := &API{svc: svc, router: mux.NewRouter(), log: svc.log, gather: gather, unavailable: throttle{period: 10 * time.Second},
		limits: newLimiters(svc.cfg.RateLimit, svc.cfg.RateBurst)}
	a.routes()
	return a
}

// Handler is the API's http.Handler.
func (a *API) Handler() http.Handler { return a.router }

// Service returns the log service behind the API.
func (a *API) Service() *Service { return a.svc }

// routes lists the whole API surface.
func (a *API) routes() {
	r := a.router
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", a.readyz).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.HandleFunc("/v1/checkpoint", a.checkpoint).Methods(http.MethodGet)

	a.Handle(http.MethodGet, "/v1/log", "log", a.getLog)
	a.Handle(http.MethodGet, "/v1/log/leaves", "leaves", a.getLeaves)
	a.Handle(http.MethodGet, "/v1/log/leaves/{index}", "leaf", a.getLeaf)
	a.Handle(http.MethodGet, "/v1/entries/{id}", "entry", a.getEntry)
	r.Handle("/v1/entries/{id}/receipt", a.receiptHandler()).Methods(http.MethodGet)
	a.Handle(http.MethodGet, "/v1/proofs/inclusion", "inclusion", a.getInclusion)
	a.Handle(http.MethodGet, "/v1/proofs/consistency", "consistency", a.getConsistency)
	a.Handle(http.MethodPost, "/v1/entries", "submit", a.postEntry)
	a.Handle(http.MethodPost, "/v1/entries:batch", "batch", a.postBatch)
	a.Handle(http.MethodPost, "/v1/admin/principals", "principals", a.postPrincipal)
	a.registerCredentialRoutes()
	a.Handle(http.MethodPost, "/v1/records/verify", "records_verify", a.postRecordsVerify)

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusMethodNotAllowed, "invalid_argument", "%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// Handle adds a route. Domain packages add theirs with it.
func (a *API) Handle(method, path, name string, h HandlerFunc) {
	a.router.Handle(path, a.wrap(name, h)).Methods(method)
}

// wrap is the one place that applies deadlines, records metrics and turns
// results and errors into responses.
func (a *API) wrap(name string, h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait+5*time.Second)
		defer cancel()
		if r.Method != http.MethodGet {
			// Answers to POSTs can carry a token or a subject secret, shown
			// once; no cache may keep them.
			w.Header().Set("Cache-Control", "no-store")
		}
		status, body, err := h(r.WithContext(ctx))
		if err != nil {
			status = a.writeErr(w, r, err)
		} else {
			writeJSON(w, status, body)
		}
		a.svc.metrics.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// writeErr writes the API error object for err and returns the status.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) int {
	apiErr := a.classify(r, err)
	switch {
	case apiErr.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(apiErr.RetryAfter/time.Second)))
	case apiErr.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", retryAfter)
	}
	writeError(w, apiErr)
	return apiErr.Status
}

// classify maps an error to the API's error object, once, here.
func (a *API) classify(r *http.Request, err error) *Error {
	var apiErr *Error
	var unk *envelope.UnknownKeyError
	var mbe *http.MaxBytesError
	var revoked *storage.KeyRevokedError
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &revoked):
		apiErr = newError(http.StatusForbidden, "permission_denied", "%s", revoked.Error())
	case errors.As(err, &mbe):
		apiErr = newError(http.StatusRequestEntityTooLarge, "too_large", "the request body is over the limit of %d bytes", mbe.Limit)
	case errors.As(err, &unk):
		apiErr = newError(http.StatusForbidden, "permission_denied", "%s", unk.Error())
	case errors.Is(err, statement.ErrInvalid):
		apiErr = newError(http.StatusBadRequest, "invalid_argument", "%s", strings.TrimPrefix(err.Error(), statement.ErrInvalid.Error()+": "))
	case errors.Is(err, statement.ErrForbidden):
		apiErr = newError(http.StatusForbidden, "permission_denied", "%s", strings.TrimPrefix(err.Error(), statement.ErrForbidden.Error()+": "))
	case errors.Is(err, statement.ErrConflict):
		apiErr = newError(http.StatusConflict, "conflict", "%s", strings.TrimPrefix(err.Error(), statement.ErrConflict.Error()+": "))
	case errors.Is(err, ErrNotFound), errors.Is(err, storage.ErrNotFound):
		apiErr = newError(http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, ErrUnavailable), storage.IsUnavailable(err):
		a.unavailable.warn(a.log, "answering 503", err, "method", r.Method, "path", r.URL.Path)
		msg := "the log is temporarily unavailable; retry shortly"
		if strings.Contains(err.Error(), "queue is full") {
			msg = "the submission queue is full; retry shortly"
		}
		apiErr = newError(http.StatusServiceUnavailable, "unavailable", "%s", msg)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		apiErr = newError(http.StatusServiceUnavailable, "unavailable", "the request timed out; retry shortly")
	default:
		a.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		apiErr = newError(http.StatusInternalServerError, "internal", "internal error")
	}
	return apiErr
}

func writeError(w http.ResponseWriter, e *Error) {
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
	return io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
}

// decodeJSON reads a JSON request body strictly into v.
func decodeJSON(r *http.Request, limit int64, v any) error {
	b, err := readBody(r, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errInvalid("the body is not the expected JSON object: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// bearer returns the caller's token.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	return ""
}

// Caller authenticates the request's bearer token.
// Each authenticated request counts against the principal's rate limit.
func (a *API) Caller(r *http.Request) (statement.Caller, error) {
	c, err := a.svc.Authenticate(r.Context(), bearer(r))
	if err != nil {
		return c, err
	}
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

func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.svc.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "not ready: %v", err))
		return
	}
	cp := a.svc.Published()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tree_size": cp.Size})
}

func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp := a.svc.Published()
	if cp == nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "no checkpoint has been signed yet"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp.Note)
}

func (a *API) getLog(r *http.Request) (int, any, error) {
	cp := a.svc.Published()
	if cp == nil {
		return 0, nil, fmt.Errorf("%w: no checkpoint yet", ErrUnavailable)
	}
	return http.StatusOK, api.LogInfo{
		Origin:     a.svc.Origin(),
		PublicKey:  a.svc.PublicKey(),
		ServiceKey: b64s([][]byte{a.svc.ServicePublicKey()})[0],
		TreeSize:   cp.Size,
		RootHash:   b64s([][]byte{cp.Root})[0],
		Checkpoint: string(cp.Note),
	}, nil
}

func (a *API) getLeaves(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	start, err1 := strconv.ParseInt(q.Get("start"), 10, 64)
	count, err2 := strconv.ParseInt(q.Get("count"), 10, 64)
	if err1 != nil || err2 != nil || start < 0 || count < 1 || count > 1000 {
		return 0, nil, errInvalid("need start ≥ 0 and 1 ≤ count ≤ 1000")
	}
	es, err := a.svc.Entries(r.Context(), start, count)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"entries": es}, nil
}

func (a *API) getLeaf(r *http.Request) (int, any, error) {
	idx, err := strconv.ParseInt(mux.Vars(r)["index"], 10, 64)
	if err != nil || idx < 0 {
		return 0, nil, errInvalid("a leaf index is a non-negative integer")
	}
	e, err := a.svc.EntryByIndex(r.Context(), idx)
	return http.StatusOK, e, err
}

func (a *API) getEntry(r *http.Request) (int, any, error) {
	e, err := a.svc.EntryByID(r.Context(), mux.Vars(r)["id"])
	return http.StatusOK, e, err
}

func (a *API) getInclusion(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	var size int64
	if v := q.Get("tree_size"); v != "" {
		var err error
		if size, err = strconv.ParseInt(v, 10, 64); err != nil || size < 1 {
			return 0, nil, errInvalid("tree_size must be a positive integer")
		}
	}
	p, err := a.svc.InclusionProofByHash(r.Context(), q.Get("leaf_hash"), size)
	return http.StatusOK, p, err
}

func (a *API) getConsistency(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, nil, errInvalid("from and to must be integers with 1 ≤ from ≤ to")
	}
	p, err := a.svc.ConsistencyProof(r.Context(), from, to)
	return http.StatusOK, p, err
}

func (a *API) postEntry(r *http.Request) (int, any, error) {
	caller, err := a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	body, err := readBody(r, MaxEnvelopeBody)
	if err != nil {
		return 0, nil, err
	}
	sub, err := a.svc.Submit(r.Context(), caller, body, wait)
	if err != nil {
		return 0, nil, err
	}
	return submitStatus(sub, wait), sub.Entry, nil
}

// submitStatus follows API.md: with wait, once proven, 201 for a new entry
// and 200 for an envelope logged before; without wait, or when the wait ran
// out, 202 with the entry as far as known. Either way a resubmission never
// makes a second entry: the answer carries the first one.
func submitStatus(sub *Submission, wait time.Duration) int {
	switch {
	case wait <= 0 || sub.Entry.Status != StatusIncluded:
		return http.StatusAccepted
	case sub.New:
		return http.StatusCreated
	default:
		return http.StatusOK
	}
}

func (a *API) postBatch(r *http.Request) (int, any, error) {
	caller, err := a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Envelopes []json.RawMessage `json:"envelopes"`
	}
	if err := decodeJSON(r, MaxBatchBody, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Envelopes) == 0 || len(req.Envelopes) > MaxBatch {
		return 0, nil, errInvalid("envelopes must hold 1 to %d envelopes", MaxBatch)
	}
	bodies := make([][]byte, len(req.Envelopes))
	tooBig := make([]bool, len(req.Envelopes))
	for i, e := range req.Envelopes {
		if len(e) > MaxEnvelopeBody {
			tooBig[i] = true
			bodies[i] = nil
			continue
		}
		bodies[i] = e
	}
	subs, errs := a.svc.SubmitBatch(r.Context(), caller, bodies, wait)
	for i := range tooBig {
		if tooBig[i] {
			errs[i] = newError(http.StatusRequestEntityTooLarge, "too_large", "envelopes[%d] is over the limit of %d bytes", i, MaxEnvelopeBody)
		}
	}
	if err := allUnavailable(errs); err != nil {
		return 0, nil, err
	}
	out := make([]api.BatchResult, len(bodies))
	for i := range bodies {
		if errs[i] != nil {
			e := a.classify(r, errs[i])
			out[i] = api.BatchResult{Status: e.Status, Error: &api.ErrorBody{Code: e.Code, Message: e.Message}}
			continue
		}
		out[i] = api.BatchResult{Entry: subs[i].Entry, Status: submitStatus(subs[i], wait)}
	}
	return http.StatusOK, map[string]any{"results": out}, nil
}

func (a *API) postPrincipal(r *http.Request) (int, any, error) {
	caller, err := a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	if caller.Role != statement.RoleAdmin {
		return 0, nil, errDenied("only an admin may create principals")
	}
	var np NewPrincipal
	if err := decodeJSON(r, MaxEnvelopeBody, &np); err != nil {
		return 0, nil, err
	}
	p, err := a.svc.CreatePrincipal(r.Context(), np)
	return http.StatusCreated, p, err
}

func (a *API) postRecordsVerify(r *http.Request) (int, any, error) {
	var req struct {
		SHA256 string `json:"sha256"`
	}
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	es, cp, err := a.svc.RecordsByDigest(r.Context(), req.SHA256)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"entries": es, "checkpoint": string(cp.Note)}, nil
}

// allUnavailable returns the error when every envelope of a batch failed
// because the log is unavailable: the whole request then answers 503.
func allUnavailable(errs []error) error {
	for _, err := range errs {
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return nil
		}
	}
	return errs[0]
}
