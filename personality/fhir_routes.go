package personality

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/consent/consentsvc"
)

// The read-only FHIR R4 facade under /fhir/ (its routes are in routes):
// public, no token; every answer, errors included, a FHIR resource.

// fhirHandler answers a FHIR resource's JSON bytes.
type fhirHandler func(r *http.Request) ([]byte, error)

// errNotAcceptable: the client asked for a format other than JSON. FHIR's
// HTTP rules answer 406 (http.html, content types).
var errNotAcceptable = newError(http.StatusNotAcceptable, "not_acceptable",
	"this server speaks FHIR R4 (4.0.1) JSON only: ask for application/fhir+json (Accept or _format=json)")

// fhirWrap is the facade's wrapper: as wrap does for the rest of the API,
// it applies the deadline, maps errors with the one table and records
// metrics; it also negotiates the format and writes errors as FHIR
// OperationOutcomes.
func (a *API) fhirWrap(name string, h fhirHandler) http.Handler {
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
			e := a.classify(r, err)
			status = e.Status
			if status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", retryAfter)
			}
			body = consent.OperationOutcome(fhirIssue(status), e.Code, e.Message)
		}
		w.Header().Set("Content-Type", ctype+"; charset=utf-8")
		w.WriteHeader(status)
		w.Write(append(body, '\n'))
		a.requests.WithLabelValues(name, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
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

func (a *API) fhirMetadata(r *http.Request) ([]byte, error) {
	return consent.CapabilityStatement(fhirBase(r)), nil
}

func (a *API) fhirProfile(r *http.Request) ([]byte, error) {
	id := mux.Vars(r)["id"]
	b, ok := consent.StructureDefinition(id)
	if !ok {
		return nil, newError(http.StatusNotFound, "not_found", "no StructureDefinition %s here; this server has trialog-consent and consent-form-version", id)
	}
	return b, nil
}

func (a *API) fhirOther(r *http.Request) ([]byte, error) {
	if r.Method != http.MethodGet {
		return nil, newError(http.StatusMethodNotAllowed, "invalid_argument",
			"the FHIR facade is read-only; sites log a Consent with POST /v1/entries (payloadType application/fhir+json)")
	}
	return nil, newError(http.StatusNotFound, "not_found", "no such FHIR endpoint: %s; this server has /fhir/metadata, /fhir/Consent/{id} and /fhir/Consent?patient=", r.URL.Path)
}

// fhirRead serves GET /fhir/Consent/{entry id}.
func (a *API) fhirRead(r *http.Request) ([]byte, error) {
	return a.consent.FHIR(r.Context(), mux.Vars(r)["id"])
}

// fhirSearch serves GET /fhir/Consent?patient=<subject>[&_count=n][&_offset=i]:
// the subject's grants and withdrawals in log order, as a searchset.
func (a *API) fhirSearch(r *http.Request) ([]byte, error) {
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
	return a.consent.SearchFHIR(r.Context(), subject, consentsvc.FHIRPage{Base: fhirBase(r), Count: count, Offset: offset})
}
