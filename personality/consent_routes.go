package personality

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// FHIRContentType is the media type of GET /v1/entries/{id}/fhir.
const FHIRContentType = "application/fhir+json"

// defaultConsentWait is how long the consent endpoints wait for the entries
// they log to be in a published checkpoint.
const defaultConsentWait = MaxWait

// ConsentSubjectRequest is the body of POST /v1/consent/subjects.
type ConsentSubjectRequest struct {
	TrialID string `json:"trial_id"`
}

// ConsentSubject answers POST /v1/consent/subjects. SubjectSecret is shown
// this once; trialog keeps only a hash of it.
type ConsentSubject struct {
	TrialID       string `json:"trial_id"`
	Subject       string `json:"subject"`
	SubjectSecret string `json:"subject_secret"`
}

// ConsentStatusRequest is the body of POST /v1/consent/status.
type ConsentStatusRequest struct {
	SubjectSecret string `json:"subject_secret"`
	TrialID       string `json:"trial_id"`
}

// ConsentStatus answers POST /v1/consent/status: the subject's consent as
// the entries that Checkpoint includes make it, every entry proven against
// Checkpoint.
type ConsentStatus struct {
	TrialID           string          `json:"trial_id"`
	Subject           string          `json:"subject"`
	Status            string          `json:"status"`
	Scope             []consent.Scope `json:"scope"`
	FormVersion       string          `json:"form_version"`
	ReconsentRequired bool            `json:"reconsent_required"`
	Checkpoint        string          `json:"checkpoint"`
	Evidence          []*Entry        `json:"evidence"`
	Access            []*Entry        `json:"access"`
}

// ConsentCheckRequest is the body of POST /v1/consent/check.
type ConsentCheckRequest struct {
	TrialID string `json:"trial_id"`
	Subject string `json:"subject"`
	Purpose string `json:"purpose"`
}

// ConsentCheck answers POST /v1/consent/check, once the consent.access entry
// is in Checkpoint; the evidence and the access entry are proven against it.
type ConsentCheck struct {
	Decision    string   `json:"decision"`
	Evidence    []*Entry `json:"evidence"`
	AccessEntry string   `json:"access_entry"`
	Access      *Entry   `json:"access"`
	Checkpoint  string   `json:"checkpoint"`
}

// ConsentEraseRequest is the body of POST /v1/consent/erase: the patient's
// secret, or (with a site's token) the subject.
type ConsentEraseRequest struct {
	SubjectSecret string `json:"subject_secret,omitempty"`
	Subject       string `json:"subject,omitempty"`
	TrialID       string `json:"trial_id"`
}

// ConsentErased answers POST /v1/consent/erase.
type ConsentErased struct {
	Erased bool   `json:"erased"`
	Entry  *Entry `json:"entry"`
}

// TrialConsent answers GET /v1/trials/{trial_id}/consent.
type TrialConsent struct {
	TrialID string `json:"trial_id"`
	consent.Summary
	Checkpoint string `json:"checkpoint"`
}

// RegisterConsentRoutes adds the consent endpoints to a.
func RegisterConsentRoutes(a *API) {
	c := consentRoutes{a: a, svc: a.svc}
	a.Handle(http.MethodPost, "/v1/consent/subjects", "consent_subjects", c.postSubject)
	a.Handle(http.MethodPost, "/v1/consent/status", "consent_status", c.postStatus)
	a.Handle(http.MethodPost, "/v1/consent/check", "consent_check", c.postCheck)
	a.Handle(http.MethodPost, "/v1/consent/erase", "consent_erase", c.postErase)
	a.Handle(http.MethodGet, "/v1/trials/{trial_id}/consent", "trial_consent", c.getTrialConsent)
	a.router.Handle("/v1/entries/{id}/fhir", c.fhirHandler()).Methods(http.MethodGet)
}

type consentRoutes struct {
	a   *API
	svc *Service
}

// loadTrial reads the trial a request names; unknown is 404.
func (c consentRoutes) loadTrial(ctx context.Context, raw string) (*trials.Trial, error) {
	id, _, err := trials.ParseID(raw)
	if err != nil {
		return nil, errInvalid("trial_id: %v", err)
	}
	t, err := trials.Load(ctx, c.svc.Reader(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, errNotFound("trial %s is not registered", id)
	}
	return t, err
}

// trialState reads the state of the trial a request names; unknown is 404.
func (c consentRoutes) trialState(ctx context.Context, raw string) (*trials.State, error) {
	id, _, err := trials.ParseID(raw)
	if err != nil {
		return nil, errInvalid("trial_id: %v", err)
	}
	t, err := trials.LoadState(ctx, c.svc.State(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, errNotFound("trial %s is not registered", id)
	}
	return t, err
}

// delegatedSite checks that caller is a site delegated on t.
func delegatedSite(caller statement.Caller, t *trials.State) error {
	if caller.Role != statement.RoleSite {
		return errDenied("only a site delegated on trial %s may do this; the %s role may not", t.ID, caller.Role)
	}
	if _, ok := t.Delegates[caller.PrincipalID]; !ok {
		return errDenied("%s is not a site delegated on trial %s; the trial's owner delegates with POST /v1/trials/%s/delegates", caller.PrincipalID, t.ID, t.ID)
	}
	return nil
}

// postSubject mints a subject for a site delegated on the trial.
func (c consentRoutes) postSubject(r *http.Request) (int, any, error) {
	ctx := r.Context()
	caller, err := c.a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	var req ConsentSubjectRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	t, err := c.trialState(ctx, req.TrialID)
	if err != nil {
		return 0, nil, err
	}
	if err := delegatedSite(caller, t); err != nil {
		return 0, nil, err
	}
	subject, secret, err := c.svc.MintSubject(ctx, t.ID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, ConsentSubject{TrialID: t.ID, Subject: subject, SubjectSecret: secret}, nil
}

// latestForm is the trial's current consent-form version among the entries
// below size.
func latestForm(t *trials.Trial, size uint64) ([]consent.FormVersion, string) {
	var forms []consent.FormVersion
	for _, f := range consent.Forms(t) {
		if e, ok := t.Find(f.EntryID); ok && uint64(e.LeafIndex) < size {
			forms = append(forms, f)
		}
	}
	if len(forms) == 0 {
		return forms, ""
	}
	return forms, forms[len(forms)-1].Version
}

// postStatus answers the patient, who holds the secret, with their consent
// and every use of their data, all proven against one checkpoint.
func (c consentRoutes) postStatus(r *http.Request) (int, any, error) {
	ctx := r.Context()
	var req ConsentStatusRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	t, err := c.loadTrial(ctx, req.TrialID)
	if err != nil {
		return 0, nil, err
	}
	subject, _, err := c.svc.SubjectBySecret(ctx, t.ID, req.SubjectSecret)
	if err != nil {
		return 0, nil, err
	}
	pes, cp, err := c.svc.Proven(ctx, consent.SubjectRef(subject))
	if err != nil {
		return 0, nil, err
	}
	_, latest := latestForm(t, cp.Size)
	byID := map[string]*Entry{}
	logged := make([]statement.Logged, len(pes))
	for i, pe := range pes {
		byID[pe.ID] = pe.Entry
		logged[i] = statement.Logged{ID: pe.ID, LeafIndex: pe.LeafIndex, PrincipalID: pe.PrincipalID, Statement: pe.Statement, ReceivedAt: statement.ParseReceivedAt(pe.ReceivedAt)}
	}
	st := consent.Compute(logged, latest, c.svc.now())
	out := ConsentStatus{TrialID: t.ID, Subject: subject, Status: st.Status, Scope: st.Scope, FormVersion: st.FormVersion,
		ReconsentRequired: st.ReconsentRequired, Checkpoint: string(cp.Note), Evidence: []*Entry{}, Access: []*Entry{}}
	for _, id := range st.Evidence {
		out.Evidence = append(out.Evidence, byID[id])
	}
	for _, id := range st.Access {
		out.Access = append(out.Access, byID[id])
	}
	return http.StatusOK, out, nil
}

// maxCheckAttempts bounds the retries of a check whose subject's consent
// changes while it is answered (consent.access is then a conflict).
const maxCheckAttempts = 3

// postCheck answers a data user whether it may use a subject's data for a
// purpose. Every check, permit or deny, is logged as consent.access first.
func (c consentRoutes) postCheck(r *http.Request) (int, any, error) {
	ctx := r.Context()
	caller, err := c.a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	if caller.Role != statement.RoleDataUser {
		return 0, nil, errDenied("only a data user may check consent; the %s role may not", caller.Role)
	}
	var req ConsentCheckRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	if !consent.ValidSubject(req.Subject) {
		return 0, nil, errInvalid("subject must be a subject reference (sub_ and 32 hex digits)")
	}
	if !consent.ValidPurpose(req.Purpose) {
		return 0, nil, errInvalid("purpose must be 1 to 64 lowercase letters, digits, '.', '_' or '-'")
	}
	// From the trial's and subject's state, not their history: a check
	// costs the same after a thousand earlier ones.
	t, err := c.trialState(ctx, req.TrialID)
	if err != nil {
		return 0, nil, err
	}
	if err := c.svc.LiveSubject(ctx, t.ID, req.Subject); err != nil {
		return 0, nil, err
	}
	var sub *Submission
	var decision string
	for attempt := 1; ; attempt++ {
		ss, err := consent.LoadSubject(ctx, c.svc.State(), req.Subject)
		if err != nil {
			return 0, nil, err
		}
		now := c.svc.now()
		var evidence []string
		decision, evidence = consent.Decide(ss.Consent("", now), req.Purpose)
		payload, _ := json.Marshal(consent.AccessStatement(t.ID, req.Subject, caller.PrincipalID, req.Purpose, decision, evidence, now))
		sub, err = c.svc.SubmitAsService(ctx, payload, defaultConsentWait)
		if errors.Is(err, statement.ErrConflict) && attempt < maxCheckAttempts {
			continue
		}
		if errors.Is(err, statement.ErrInvalid) {
			// Erased between the lookup and the append.
			return 0, nil, errNotFound("subject %s of trial %s is unknown or erased", req.Subject, t.ID)
		}
		if err != nil {
			return 0, nil, err
		}
		break
	}
	if sub.Entry.Status != StatusIncluded {
		return 0, nil, errUnavailableMsg("the access record %s is logged but not yet in a published checkpoint; its answer is withheld until it is", sub.Entry.ID)
	}
	pes, cp, err := c.svc.provenAccess(ctx, sub.Entry.ID)
	if err != nil {
		return 0, nil, err
	}
	var access statement.Statement
	out := ConsentCheck{Decision: decision, Evidence: []*Entry{}, AccessEntry: sub.Entry.ID, Checkpoint: string(cp.Note)}
	byID := map[string]*Entry{}
	for _, pe := range pes {
		byID[pe.ID] = pe.Entry
		if pe.ID == sub.Entry.ID {
			out.Access, access = pe.Entry, pe.Statement
		}
	}
	a, ok := access.(*consent.Access)
	if !ok {
		return 0, nil, errors.New("the access entry is missing from its subject's entries")
	}
	// A duplicate (the same check in the same instant) answers the logged
	// record, so the answer is read from it.
	out.Decision = a.Decision
	for _, id := range a.Evidence {
		out.Evidence = append(out.Evidence, byID[id])
	}
	return http.StatusOK, out, nil
}

// postErase destroys the link between a patient and their subject: asked by
// the patient with the secret, or by a site delegated on the trial with the
// subject reference.
func (c consentRoutes) postErase(r *http.Request) (int, any, error) {
	ctx := r.Context()
	var req ConsentEraseRequest
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	if (req.SubjectSecret == "") == (req.Subject == "") {
		return 0, nil, errInvalid("give either subject_secret (the patient) or subject (a site, with its token), not both")
	}
	var caller statement.Caller
	if req.Subject != "" {
		var err error
		if caller, err = c.a.Caller(r); err != nil {
			return 0, nil, err
		}
		if !consent.ValidSubject(req.Subject) {
			return 0, nil, errInvalid("subject must be a subject reference (sub_ and 32 hex digits)")
		}
	}
	t, err := c.trialState(ctx, req.TrialID)
	if err != nil {
		return 0, nil, err
	}
	subject, hash := req.Subject, []byte(nil)
	if req.SubjectSecret != "" {
		if subject, hash, err = c.svc.SubjectBySecret(ctx, t.ID, req.SubjectSecret); err != nil {
			return 0, nil, err
		}
	} else {
		if err := delegatedSite(caller, t); err != nil {
			return 0, nil, err
		}
		cs, err := c.svc.store.ConsentSubject(ctx, subject)
		if err != nil || cs.TrialID != t.ID {
			if err == nil || errors.Is(err, ErrNotFound) || isStoreNotFound(err) {
				return 0, nil, errNotFound("subject %s of trial %s is unknown", subject, t.ID)
			}
			return 0, nil, unavailable(err)
		}
	}
	sub, err := c.svc.EraseSubject(ctx, t.ID, subject, hash, defaultConsentWait)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, ConsentErased{Erased: true, Entry: sub.Entry}, nil
}

// getTrialConsent counts a trial's subjects by consent state and form
// version, for its owner, its delegates and regulators.
func (c consentRoutes) getTrialConsent(r *http.Request) (int, any, error) {
	ctx := r.Context()
	caller, err := c.a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	t, err := c.loadTrial(ctx, mux.Vars(r)["trial_id"])
	if err != nil {
		return 0, nil, err
	}
	if caller.Role != statement.RoleRegulator && !t.MayWrite(caller.PrincipalID) {
		return 0, nil, errDenied("only the owner of trial %s, its delegates and regulators may see its consent counts", t.ID)
	}
	refs := make([]string, len(t.Identifiers))
	for i, id := range t.Identifiers {
		refs[i] = consent.Ref(id)
	}
	es, cp, err := c.svc.IncludedByRef(ctx, refs...)
	if err != nil {
		return 0, nil, err
	}
	forms, _ := latestForm(t, cp.Size)
	return http.StatusOK, TrialConsent{TrialID: t.ID, Summary: consent.Summarize(es, forms, c.svc.now()), Checkpoint: string(cp.Note)}, nil
}

// fhirHandler serves GET /v1/entries/{id}/fhir (public): a consent entry as
// a FHIR R4 Consent resource.
func (c consentRoutes) fhirHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
		defer cancel()
		r = r.WithContext(ctx)
		status := http.StatusOK
		b, err := c.fhir(ctx, mux.Vars(r)["id"])
		if err != nil {
			status = c.a.writeErr(w, r, err)
		} else {
			w.Header().Set("Content-Type", FHIRContentType)
			w.WriteHeader(status)
			w.Write(append(b, '\n'))
		}
		c.svc.metrics.requests.WithLabelValues("entry_fhir", strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

func (c consentRoutes) fhir(ctx context.Context, id string) ([]byte, error) {
	return c.svc.ConsentFHIR(ctx, id)
}
