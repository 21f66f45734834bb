package personality

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/consent/consentsvc"
	"github.com/trialog/trialog/statement"
)

// FHIRContentType is the media type of GET /v1/entries/{id}/fhir.
const FHIRContentType = "application/fhir+json"

// postSubject mints a subject for a site delegated on the trial.
func (a *API) postSubject(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	var req api.ConsentSubjectRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	s, err := a.consent.MintSubject(r.Context(), caller, req.TrialID)
	return http.StatusCreated, s, err
}

// postStatus answers the patient, who holds the secret, with their consent
// and every use of their data, all proven against one checkpoint.
func (a *API) postStatus(r *http.Request) (int, any, error) {
	var req api.ConsentStatusRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	st, err := a.consent.Status(r.Context(), req.TrialID, req.SubjectSecret)
	return http.StatusOK, st, err
}

// postCheck answers a data user whether it may use a subject's data for a
// purpose; every check is logged as consent.access first.
func (a *API) postCheck(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	if err := consentsvc.CheckAllowed(caller); err != nil {
		return 0, nil, err
	}
	var req api.ConsentCheckRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	c, err := a.consent.Check(r.Context(), caller, req.TrialID, req.Subject, req.Purpose)
	return http.StatusOK, c, err
}

// postErase destroys the link between a patient and their subject: asked by
// the patient with the secret, or by a site delegated on the trial with its
// token and the subject reference.
func (a *API) postErase(r *http.Request) (int, any, error) {
	var req api.ConsentEraseRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	if (req.SubjectSecret == "") == (req.Subject == "") {
		return 0, nil, errInvalid("give either subject_secret (the patient) or subject (a site, with its token), not both")
	}
	var caller statement.Caller
	if req.Subject != "" {
		var err error
		if caller, err = a.caller(r); err != nil {
			return 0, nil, err
		}
	}
	e, err := a.consent.Erase(r.Context(), consentsvc.Erasure{TrialID: req.TrialID, Secret: req.SubjectSecret, Subject: req.Subject, Caller: caller})
	return http.StatusOK, e, err
}

// getTrialConsent counts a trial's subjects by consent state and form
// version, for its owner, its delegates and regulators.
func (a *API) getTrialConsent(r *http.Request) (int, any, error) {
	caller, err := a.caller(r)
	if err != nil {
		return 0, nil, err
	}
	s, err := a.consent.Summary(r.Context(), caller, mux.Vars(r)["trial_id"])
	return http.StatusOK, s, err
}

// getFHIR serves a consent entry as a FHIR R4 Consent resource (public).
func (a *API) getFHIR(r *http.Request) (int, any, error) {
	b, err := a.consent.FHIR(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, rawBody{FHIRContentType, append(b, '\n')}, nil
}
