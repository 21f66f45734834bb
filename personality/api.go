// Package personality is trialogd's HTTP layer, the personality that gives
// the log its API: every route (listed in one function, routes), one
// wrapper for deadlines, metrics and error answers, the one table from
// errors to statuses (errors.go), body limits and per-principal rate limits.
// Handlers decode a request, call the log engine, the principals directory
// or a domain service, and encode the answer; the rules live in those
// packages, which know nothing of HTTP.
package personality

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/accesslog"
	"github.com/trialog/trialog/internal/throttle"
	"github.com/trialog/trialog/principals"
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
	// AuthFailureRate is the failed authentications per second one client
	// address may make, AuthFailureBurst how many at once; beyond them it is
	// answered 429. Zero or negative rate turns the limit off.
	AuthFailureRate  float64
	AuthFailureBurst int
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
	authGuard   *authGuard
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
		limits:    newLimiters(cfg.RateLimit, cfg.RateBurst),
		authGuard: newAuthGuard(cfg.AuthFailureRate, cfg.AuthFailureBurst)}
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
func (a *API) Handler() http.Handler { return a.recovering(a.router) }

// routes lists the whole API surface.
func (a *API) routes() {
	r := a.router
	r.Use(accesslog.Route)
	r.HandleFunc("/healthz", a.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", a.readyz).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(a.gather, promhttp.HandlerOpts{})).Methods(http.MethodGet)
	r.HandleFunc("/v1/checkpoint", a.checkpoint).Methods(http.MethodGet)

	// The log as C2SP tlog-tiles, public (tiles_routes.go): the published
	// checkpoint, hash tiles and entry bundles.
	r.HandleFunc("/tlog/checkpoint", a.tlogCheckpoint).Methods(http.MethodGet, http.MethodHead)
	r.PathPrefix("/tlog/tile/").HandlerFunc(a.tlogTile).Methods(http.MethodGet, http.MethodHead)

	// The log.
	a.handle(http.MethodGet, "/v1/log", "log", a.getLog)
	a.handle(http.MethodGet, "/v1/log/leaves", "leaves", a.getLeaves)
	a.handle(http.MethodGet, "/v1/log/leaves/{index}", "leaf", a.getLeaf)
	a.handle(http.MethodGet, "/v1/entries/{id}", "entry", a.getEntry)
	a.handle(http.MethodGet, "/v1/entries/{id}/receipt", "receipt", a.getReceipt)
	a.handle(http.MethodGet, "/v1/proofs/inclusion", "inclusion", a.getInclusion)
	a.handle(http.MethodGet, "/v1/proofs/consistency", "consistency", a.getConsistency)
	a.handle(http.MethodPost, "/v1/entries", "submit", a.postEntry)
	a.handle(http.MethodPost, "/v1/entries:batch", "batch", a.postBatch)
	a.handle(http.MethodPost, "/v1/admin/principals", "principals", a.postPrincipal)
	a.handle(http.MethodPost, "/v1/admin/principals/{id}/token", "principal_token", a.postToken)
	a.handle(http.MethodPost, "/v1/admin/principals/{id}/keys", "principal_keys", a.postKey)
	a.handle(http.MethodDelete, "/v1/admin/principals/{id}/keys/{key_id}", "principal_key", a.deleteKey)
	a.handle(http.MethodDelete, "/v1/admin/principals/{id}", "principal", a.deletePrincipal)
	a.handle(http.MethodPost, "/v1/records/verify", "records_verify", a.postRecordsVerify)

	// Trials.
	a.handle(http.MethodGet, "/v1/trials/{trial_id}", "trial", a.getTrial)
	a.handle(http.MethodGet, "/v1/trials/{trial_id}/outcomes", "trial_outcomes", a.getOutcomes)
	a.handle(http.MethodPost, "/v1/trials/{trial_id}/delegates", "trial_delegates", a.postDelegate)
	a.handle(http.MethodDelete, "/v1/trials/{trial_id}/delegates/{principal}", "trial_delegate", a.deleteDelegate)

	// Consent.
	a.handle(http.MethodPost, "/v1/consent/subjects", "consent_subjects", a.postSubject)
	a.handle(http.MethodPost, "/v1/consent/status", "consent_status", a.postStatus)
	a.handle(http.MethodPost, "/v1/consent/check", "consent_check", a.postCheck)
	a.handle(http.MethodPost, "/v1/consent/erase", "consent_erase", a.postErase)
	a.handle(http.MethodGet, "/v1/trials/{trial_id}/consent", "trial_consent", a.getTrialConsent)
	a.handle(http.MethodGet, "/v1/entries/{id}/fhir", "entry_fhir", a.getFHIR)

	// The read-only FHIR R4 facade: public; every answer a FHIR resource.
	r.Handle("/fhir/metadata", a.fhirWrap("fhir_metadata", a.fhirMetadata)).Methods(http.MethodGet)
	r.Handle("/fhir/Consent/{id}", a.fhirWrap("fhir_read", a.fhirRead)).Methods(http.MethodGet)
	r.Handle("/fhir/Consent", a.fhirWrap("fhir_search", a.fhirSearch)).Methods(http.MethodGet)
	r.Handle("/fhir/StructureDefinition/{id}", a.fhirWrap("fhir_profile", a.fhirProfile)).Methods(http.MethodGet)
	r.Handle("/fhir", a.fhirWrap("fhir_other", a.fhirOther))
	r.PathPrefix("/fhir/").Handler(a.fhirWrap("fhir_other", a.fhirOther))

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
		switch b, raw := body.(rawBody); {
		case err != nil:
			status = a.writeErr(w, r, err)
		case raw:
			w.Header().Set("Content-Type", b.contentType)
			w.WriteHeader(status)
			w.Write(b.body)
		default:
			writeJSON(w, status, body)
		}
		a.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// rawBody is an answer that is not JSON (receipts, FHIR): written as is.
type rawBody struct {
	contentType string
	body        []byte
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
