package personality

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/statement"
)

// RegisterFHIRRoutes adds the read-only FHIR R4 facade under /fhir/:
// public, no token; every answer, errors included, a FHIR resource.
func RegisterFHIRRoutes(a *API) {
	f := fhirRoutes{a: a, svc: a.svc}
	a.router.Handle("/fhir/metadata", f.wrap("fhir_metadata", f.metadata)).Methods(http.MethodGet)
	a.router.Handle("/fhir/Consent/{id}", f.wrap("fhir_read", f.read)).Methods(http.MethodGet)
	a.router.Handle("/fhir/Consent", f.wrap("fhir_search", f.search)).Methods(http.MethodGet)
	a.router.Handle("/fhir/StructureDefinition/{id}", f.wrap("fhir_profile", f.profile)).Methods(http.MethodGet)
	a.router.Handle("/fhir", f.wrap("fhir_other", f.other))
	a.router.PathPrefix("/fhir/").Handler(f.wrap("fhir_other", f.other))
}

type fhirRoutes struct {
	a   *API
	svc *Service
}

// fhirHandler answers a FHIR resource's JSON bytes.
type fhirHandler func(r *http.Request) ([]byte, error)

// errNotAcceptable: the client asked for a format other than JSON. FHIR's
// HTTP rules answer 406 (http.html, content types).
var errNotAcceptable = newError(http.StatusNotAcceptable, "not_acceptable",
	"this server speaks FHIR R4 (4.0.1) JSON only: ask for application/fhir+json (Accept or _format=json)")

// wrap negotiates the format, applies the deadline, writes the resource
// or the OperationOutcome of the error, and records metrics.
func (f fhirRoutes) wrap(name string, h fhirHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
		defer cancel()
		status, body := http.StatusOK, []byte(nil)
		ctype, err := fhirFormat(r)
		if err == nil {
			body, err = h(r.WithContext(ctx))
		}
		if ctype == "" {
			ctype = consent.FHIRPayloadType
		}
		if err != nil {
			e := f.a.classify(r, err)
			status = e.Status
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", retryAfter)
			}
			body = consent.OperationOutcome(fhirIssue(status), e.Code, e.Message)
		}
		w.Header().Set("Content-Type", ctype+"; charset=utf-8")
		w.WriteHeader(status)
		w.Write(append(body, '\n'))
		f.svc.metrics.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// fhirFormat picks the answer's media type from _format, else Accept:
// application/fhir+json unless only application/json was asked for.
func fhirFormat(r *http.Request) (string, error) {
	if fs, ok := r.URL.Query()["_format"]; ok {
		switch strings.TrimSpace(fs[0]) {
		case "json", consent.FHIRPayloadType, "application/json+fhir":
			return consent.FHIRPayloadType, nil
		case "application/json":
			return "application/json", nil
		}
		return "", errNotAcceptable
	}
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return consent.FHIRPayloadType, nil
	}
	plainJSON := false
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if v, ok := params["fhirversion"]; ok && v != "4.0" && v != FHIRVersionParam {
			continue
		}
		switch mt {
		case consent.FHIRPayloadType, "application/json+fhir", "*/*", "application/*":
			return consent.FHIRPayloadType, nil
		case "application/json":
			plainJSON = true
		}
	}
	if plainJSON {
		return "application/json", nil
	}
	return "", errNotAcceptable
}

// FHIRVersionParam is the fhirVersion media-type parameter of R4.
const FHIRVersionParam = "4.0.1"

// fhirIssue is the FHIR issue-type of an HTTP error status.
func fhirIssue(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "login"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not-found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too-costly"
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusUnsupportedMediaType:
		return "not-supported"
	case http.StatusTooManyRequests:
		return "throttled"
	case http.StatusServiceUnavailable:
		return "transient"
	}
	return "exception"
}

// fhirBase is the facade's base URL as the client reached it.
func fhirBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func (f fhirRoutes) metadata(r *http.Request) ([]byte, error) {
	return consent.CapabilityStatement(fhirBase(r)), nil
}

func (f fhirRoutes) profile(r *http.Request) ([]byte, error) {
	id := mux.Vars(r)["id"]
	b, ok := consent.StructureDefinition(id)
	if !ok {
		return nil, errNotFound("no StructureDefinition %s here; this server has trialog-consent and consent-form-version", id)
	}
	return b, nil
}

func (f fhirRoutes) other(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodGet {
		return nil, newError(http.StatusMethodNotAllowed, "invalid_argument",
			"the FHIR facade is read-only; sites log a Consent with POST /v1/entries (payloadType application/fhir+json)")
	}
	return nil, errNotFound("no such FHIR endpoint: %s; this server has /fhir/metadata, /fhir/Consent/{id} and /fhir/Consent?patient=", r.URL.Path)
}

// read serves GET /fhir/Consent/{entry id}.
func (f fhirRoutes) read(r *http.Request) ([]byte, error) {
	return f.svc.ConsentFHIR(r.Context(), mux.Vars(r)["id"])
}

// ConsentFHIR renders a grant or withdrawal entry as a FHIR R4 Consent,
// with its id, the log's time and, for a withdrawal, the grant it changes.
func (s *Service) ConsentFHIR(ctx context.Context, id string) ([]byte, error) {
	e, err := s.EntryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	st, err := s.EntryStatement(e)
	if err != nil {
		return nil, err
	}
	x := consent.FHIRContext{ID: e.ID, ReceivedAt: e.ReceivedAt}
	if w, ok := st.(*consent.Withdraw); ok {
		es, err := s.LoggedByRef(ctx, consent.SubjectRef(w.Subject))
		if err != nil {
			return nil, err
		}
		x.Changes = consent.GrantChanged(es, e.LeafIndex)
	}
	b, err := consent.ToFHIR(st, x)
	if errors.Is(err, consent.ErrNotConsent) {
		return nil, errNotFound("entry %s is a %s; only consent.grant and consent.withdraw entries are FHIR Consent resources", id, st.Type())
	}
	return b, err
}

// search serves GET /fhir/Consent?patient=<subject>[&_count=n][&_offset=i]:
// the subject's grants and withdrawals in log order, as a searchset.
func (f fhirRoutes) search(r *http.Request) ([]byte, error) {
	q := r.URL.Query()
	var subject string
	count, offset := consent.DefaultFHIRPage, 0
	for k, vs := range q {
		v := vs[0]
		if len(vs) > 1 {
			return nil, errInvalid("search parameter %s is given twice", k)
		}
		switch k {
		case "patient", "patient:identifier":
			if subject != "" {
				return nil, errInvalid("give patient or patient:identifier, not both")
			}
			subject = strings.TrimPrefix(v, "Patient/")
			if k == "patient:identifier" {
				sys, val, ok := strings.Cut(v, "|")
				if !ok || sys != consent.FHIRSubjectSystem {
					return nil, errInvalid("patient:identifier must be %s|<subject reference>", consent.FHIRSubjectSystem)
				}
				subject = val
			}
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > consent.MaxFHIRPage {
				return nil, errInvalid("_count must be a whole number from 0 to %d", consent.MaxFHIRPage)
			}
			count = n
		case "_offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, errInvalid("_offset must be a whole number from 0")
			}
			offset = n
		case "_format":
		default:
			// Unknown parameters are refused rather than ignored, so that a
			// search is never silently broader than what was asked.
			return nil, errInvalid("search parameter %q is not supported; Consent is searched by patient (with _count)", k)
		}
	}
	if subject == "" {
		return nil, errInvalid("patient is required: GET /fhir/Consent?patient=<subject reference>")
	}
	if !consent.ValidSubject(subject) {
		return nil, errInvalid("patient must be a subject reference (sub_ and 32 hex digits)")
	}
	type item struct {
		id string
		st statement.Statement
		x  consent.FHIRContext
	}
	stored, err := f.svc.store.EntriesByRef(r.Context(), consent.SubjectRef(subject))
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Slice(stored, func(i, j int) bool { return stored[i].LeafIndex < stored[j].LeafIndex })
	var matches []item
	var last *consent.ChangedGrant
	for i := range stored {
		e, err := entryBase(&stored[i])
		if err != nil {
			return nil, err
		}
		st, err := f.svc.EntryStatement(e)
		if err != nil {
			return nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		x := consent.FHIRContext{ID: e.ID, ReceivedAt: e.ReceivedAt}
		switch s := st.(type) {
		case *consent.Grant:
			matches = append(matches, item{e.ID, st, x})
			last = &consent.ChangedGrant{EntryID: e.ID, Form: s.Form}
		case *consent.Withdraw:
			x.Changes = last
			matches = append(matches, item{e.ID, st, x})
		}
	}
	base := fhirBase(r)
	page := func(off int) string {
		v := url.Values{"patient": {subject}, "_count": {strconv.Itoa(count)}}
		if off > 0 {
			v.Set("_offset", strconv.Itoa(off))
		}
		return base + "/Consent?" + v.Encode()
	}
	links := []consent.BundleLink{{Relation: "self", URL: page(offset)}}
	var entries []consent.BundleEntry
	if offset < len(matches) {
		end := min(offset+count, len(matches))
		for _, m := range matches[offset:end] {
			b, err := consent.ToFHIR(m.st, m.x)
			if err != nil {
				return nil, err
			}
			entries = append(entries, consent.BundleEntry{FullURL: base + "/Consent/" + m.id, Resource: b})
		}
		if end < len(matches) && count > 0 {
			links = append(links, consent.BundleLink{Relation: "next", URL: page(end)})
		}
	}
	if offset > 0 && count > 0 {
		links = append(links, consent.BundleLink{Relation: "first", URL: page(0)},
			consent.BundleLink{Relation: "previous", URL: page(max(0, offset-count))})
	}
	return consent.SearchBundle(len(matches), links, entries), nil
}
