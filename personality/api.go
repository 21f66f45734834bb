// Package personality is trialogd's HTTP layer, the personality that gives
// the log its API: every route (listed in one function, routes), one
// wrapper for deadlines, metrics and error answers, the one table from
// errors to statuses (errors.go), body limits and per-principal rate limits.
// Handlers decode a request, call the log engine, the principals directory
// or a domain service, and encode the answer; the rules live in those
// packages, which know nothing of HTTP.
package personality

import (
	"bytes"
	"context"
	"encoding/base64"
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

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/throttle"
	"github.com/trialog/trialog/personality/principals"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials/trialsvc"
)

// Limits on request bodies and waits.
const (
	MaxEnvelopeBody = 1 << 20  // one envelope
	MaxBatchBody    = 32 << 20 // a batch
	MaxBatch        = 1000     // envelopes per batch
	MaxWait         = 30 * time.Second
	retryAfter      = "1"
)

// Config is what the API serves and how.
type Config struct {
	Log        *engine.Log
	Principals *principals.Directory
	Trials     *trialsvc.Service
	Consent    *consentsvc.Service
	Logger     *slog.Logger
	// Metrics registers the request histogram; Gatherer serves /metrics.
	Metrics  prometheus.Registerer
	Gatherer prometheus.Gatherer
	// RateLimit is the requests per second each principal may make (its
	// token bucket's rate); RateBurst the bucket's size (default twice the
	// rate). Zero turns rate limiting off.
	RateLimit float64
	RateBurst int
}

// handlerFunc is an API handler: it decodes the request, calls a service
// and returns a status and a body to encode as JSON, or an error that the
// wrapper maps to the API's error object.
type handlerFunc func(r *http.Request) (int, any, error)

// API is trialogd's HTTP API.
type API struct {
	log        *engine.Log
	principals *principals.Directory
	trials     *trialsvc.Service
	consent    *consentsvc.Service

	unavailable *throttle.Throttle
	limits      *limiters
	router      *mux.Router
	lg          *slog.Logger
	gather      prometheus.Gatherer
	requests    *prometheus.HistogramVec
}

// New returns the API.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	a := &API{log: cfg.Log, principals: cfg.Principals, trials: cfg.Trials, consent: cfg.Consent,
		router: mux.NewRouter(), lg: cfg.Logger, gather: cfg.Gatherer, unavailable: throttle.New(10 * time.Second),
		limits: newLimiters(cfg.RateLimit, cfg.RateBurst)}
	a.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "trialog_http_request_duration_seconds",
		Help:    "HTTP request latency by route and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "code"})
	cfg.Metrics.MustRegister(a.requests)
	a.routes()
	return a
}

// Handler is the API's http.Handler.
func (a *API) Handler() http.Handler { return a.router }

// routes lists the whole API surface.
func (a *API) routes() {
	r := a.router
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", a.readyz).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.HandleFunc("/v1/checkpoint", a.checkpoint).Methods(http.MethodGet)

	// The log.
	a.handle(http.MethodGet, "/v1/log", "log", a.getLog)
	a.handle(http.MethodGet, "/v1/log/leaves", "leaves", a.getLeaves)
	a.handle(http.MethodGet, "/v1/log/leaves/{index}", "leaf", a.getLeaf)
	a.handle(http.MethodGet, "/v1/entries/{id}", "entry", a.getEntry)
	a.raw(http.MethodGet, "/v1/entries/{id}/receipt", "receipt", a.getReceipt)
	a.handle(http.MethodGet, "/v1/proofs/inclusion", "inclusion", a.getInclusion)
	a.handle(http.MethodGet, "/v1/proofs/consistency", "consistency", a.getConsistency)
	a.handle(http.MethodPost, "/v1/entries", "submit", a.postEntry)
	a.handle(http.MethodPost, "/v1/entries:batch", "batch", a.postBatch)
	a.handle(http.MethodPost, "/v1/admin/principals", "principals", a.postPrincipal)
	a.handle(http.MethodPost, "/v1/records/verify", "records_verify", a.postRecordsVerify)

	// Trials.
	a.handle(http.MethodGet, "/v1/trials/{trial_id}", "trial", a.getTrial)
	a.handle(http.MethodGet, "/v1/trials/{trial_id}/outcomes", "trial_outcomes", a.getOutcomes)
	a.handle(http.MethodPost, "/v1/trials/{trial_id}/delegates", "trial_delegates", a.postDelegate)

	// Consent.
	a.handle(http.MethodPost, "/v1/consent/subjects", "consent_subjects", a.postSubject)
	a.handle(http.MethodPost, "/v1/consent/status", "consent_status", a.postStatus)
	a.handle(http.MethodPost, "/v1/consent/check", "consent_check", a.postCheck)
	a.handle(http.MethodPost, "/v1/consent/erase", "consent_erase", a.postErase)
	a.handle(http.MethodGet, "/v1/trials/{trial_id}/consent", "trial_consent", a.getTrialConsent)
	a.raw(http.MethodGet, "/v1/entries/{id}/fhir", "entry_fhir", a.getFHIR)

	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, newError(http.StatusMethodNotAllowed, "invalid_argument", "%s is not allowed on %s", r.Method, r.URL.Path))
	})
}

// handle adds a JSON route.
func (a *API) handle(method, path, name string, h handlerFunc) {
	a.router.Handle(path, a.wrap(name, h)).Methods(method)
}

// wrap is the one place that applies deadlines, records metrics and turns
// results and errors into responses.
func (a *API) wrap(name string, h handlerFunc) http.Handler {
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
		a.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// rawFunc is a handler whose answer is not JSON: a media type and bytes.
type rawFunc func(r *http.Request) (contentType string, body []byte, err error)

// raw adds a route answering other media types than JSON (receipts, FHIR);
// errors are answered as everywhere else.
func (a *API) raw(method, path, name string, h rawFunc) {
	a.router.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
		defer cancel()
		r = r.WithContext(ctx)
		status := http.StatusOK
		ct, b, err := h(r)
		if err != nil {
			status = a.writeErr(w, r, err)
		} else {
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			w.Write(b)
		}
		a.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})).Methods(method)
}

// writeErr writes the API error object for err and returns the status.
func (a *API) writeErr(w http.ResponseWriter, r *http.Request, err error) int {
	apiErr := a.classify(r, err)
	if apiErr.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(apiErr.RetryAfter/time.Second)))
	}
	writeError(w, apiErr)
	return apiErr.Status
}

// classify is the one error table (errors.go), logging what is not the
// client's doing.
func (a *API) classify(r *http.Request, err error) *apiError {
	return classify(err, func(msg string, err error) {
		if msg == "internal error" {
			a.lg.Error(msg, "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
		a.unavailable.Warn(a.lg, msg, err, "method", r.Method, "path", r.URL.Path)
	})
}

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

// caller authenticates the request's bearer token.
// Each authenticated request counts against the principal's rate limit.
func (a *API) caller(r *http.Request) (statement.Caller, error) {
	c, err := a.principals.Authenticate(r.Context(), bearer(r))
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
	if err := a.log.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "not ready: %v", err))
		return
	}
	cp := a.log.Published()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "tree_size": cp.Size})
}

func (a *API) checkpoint(w http.ResponseWriter, r *http.Request) {
	cp := a.log.Published()
	if cp == nil {
		w.Header().Set("Retry-After", retryAfter)
		writeError(w, newError(http.StatusServiceUnavailable, "unavailable", "no checkpoint has been signed yet"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp.Note)
}

func (a *API) getLog(r *http.Request) (int, any, error) {
	cp := a.log.Published()
	if cp == nil {
		return 0, nil, fmt.Errorf("%w: no checkpoint yet", engine.ErrUnavailable)
	}
	return http.StatusOK, api.LogInfo{
		Origin:     a.log.Origin(),
		PublicKey:  a.log.PublicKey(),
		ServiceKey: base64.StdEncoding.EncodeToString(a.log.ServicePublicKey()),
		TreeSize:   cp.Size,
		RootHash:   base64.StdEncoding.EncodeToString(cp.Root),
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
	es, err := a.log.Entries(r.Context(), start, count)
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
	e, err := a.log.EntryByIndex(r.Context(), idx)
	return http.StatusOK, e, err
}

func (a *API) getEntry(r *http.Request) (int, any, error) {
	e, err := a.log.EntryByID(r.Context(), mux.Vars(r)["id"])
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
	p, err := a.log.InclusionProofByHash(r.Context(), q.Get("leaf_hash"), size)
	return http.StatusOK, p, err
}

func (a *API) getConsistency(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, nil, errInvalid("from and to must be integers with 1 ≤ from ≤ to")
	}
	p, err := a.log.ConsistencyProof(r.Context(), from, to)
	return http.StatusOK, p, err
}

func (a *API) postEntry(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
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
	sub, err := a.log.Submit(r.Context(), caller, body, wait)
	if err != nil {
		return 0, nil, err
	}
	return submitStatus(sub, wait), sub.Entry, nil
}

// submitStatus follows API.md: with wait, once proven, 201 for a new entry
// and 200 for an envelope logged before; without wait, or when the wait ran
// out, 202 with the entry as far as known. Either way a resubmission never
// makes a second entry: the answer carries the first one.
func submitStatus(sub *engine.Submission, wait time.Duration) int {
	switch {
	case wait <= 0 || sub.Entry.Status != api.StatusIncluded:
		return http.StatusAccepted
	case sub.New:
		return http.StatusCreated
	default:
		return http.StatusOK
	}
}

func (a *API) postBatch(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
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
	subs, errs := a.log.SubmitBatch(r.Context(), caller, bodies, wait)
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
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	if caller.Role != statement.RoleAdmin {
		return 0, nil, newError(http.StatusForbidden, "permission_denied", "only an admin may create principals")
	}
	var np api.NewPrincipal
	if err := decodeJSON(r, MaxEnvelopeBody, &np); err != nil {
		return 0, nil, err
	}
	p, err := a.principals.CreatePrincipal(r.Context(), np)
	return http.StatusCreated, p, err
}

func (a *API) postRecordsVerify(r *http.Request) (int, any, error) {
	var req struct {
		SHA256 string `json:"sha256"`
	}
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	es, cp, err := a.log.EntriesByDigest(r.Context(), req.SHA256)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"entries": es, "checkpoint": string(cp.Note)}, nil
}

// allUnavailable returns the error when every envelope of a batch failed
// because the log is unavailable: the whole request then answers 503.
func allUnavailable(errs []error) error {
	for _, err := range errs {
		if err == nil || !errors.Is(err, engine.ErrUnavailable) {
			return nil
		}
	}
	return errs[0]
}
