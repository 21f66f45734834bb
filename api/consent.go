package api

import (
	"fmt"
)

// The consent endpoints take secrets and subjects in bodies, never in URLs.

// ConsentSubjectRequest is the body of POST /v1/consent/subjects.
type ConsentSubjectRequest struct {
	TrialID string `json:"trial_id"`
}

// ConsentSubject answers POST /v1/consent/subjects: a new pseudonymous
// subject of a trial. SubjectSecret is the patient's, shown this once;
// trialog keeps only a hash of it. String and GoString leave it out, so that
// printing the value does not print the secret.
type ConsentSubject struct {
	TrialID       string `json:"trial_id"`
	Subject       string `json:"subject"`
	SubjectSecret string `json:"subject_secret"`
}

// String shows the subject without its secret.
func (s ConsentSubject) String() string {
	return fmt.Sprintf("subject %s of trial %s (secret withheld)", s.Subject, s.TrialID)
}

// GoString shows the subject without its secret.
func (s ConsentSubject) GoString() string { return s.String() }

// ConsentStatusRequest is the body of POST /v1/consent/status.
type ConsentStatusRequest struct {
	SubjectSecret string `json:"subject_secret"`
	TrialID       string `json:"trial_id"`
}

// ConsentStatus answers POST /v1/consent/status: the subject's consent as
// the entries that Checkpoint includes make it, and every use of its data,
// each entry proven against Checkpoint.
type ConsentStatus struct {
	TrialID           string   `json:"trial_id"`
	Subject           string   `json:"subject"`
	Status            string   `json:"status"` // granted, withdrawn or none
	Scope             []Scope  `json:"scope"`
	FormVersion       string   `json:"form_version"`
	ReconsentRequired bool     `json:"reconsent_required"`
	Checkpoint        string   `json:"checkpoint"`
	Evidence          []*Entry `json:"evidence"`
	Access            []*Entry `json:"access"`
}

// ConsentCheckRequest is the body of POST /v1/consent/check.
type ConsentCheckRequest struct {
	TrialID string `json:"trial_id"`
	Subject string `json:"subject"`
	Purpose string `json:"purpose"`
}

// ConsentCheck answers POST /v1/consent/check once the consent.access entry
// that records the check is in Checkpoint: the decision, the entries it
// rests on and the access entry, all proven against Checkpoint.
type ConsentCheck struct {
	Decision    string   `json:"decision"` // permit or deny
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

// ConsentErased answers POST /v1/consent/erase: the consent.erasure entry,
// proven when it is already in a published checkpoint.
type ConsentErased struct {
	Erased bool   `json:"erased"`
	Entry  *Entry `json:"entry"`
}

// TrialConsent answers GET /v1/trials/{trial_id}/consent: a trial's subjects
// counted by the state of their consent, as of Checkpoint.
type TrialConsent struct {
	TrialID string `json:"trial_id"`
	ConsentSummary
	Checkpoint string `json:"checkpoint"`
}

// The consent counts and scopes, as package consent computes them (it
// names these types Summary, FormCount and Scope).

// ConsentSummary counts a trial's subjects by the state of their consent.
type ConsentSummary struct {
	// LatestFormVersion is the trial's current consent-form version.
	LatestFormVersion string `json:"latest_form_version"`
	// Subjects is the number of subjects with a consent event in the log.
	Subjects int `json:"subjects"`
	// Granted, PartiallyWithdrawn, Withdrawn, Expired and None count them
	// by Status; Erased counts the erased ones, which are counted nowhere
	// else.
	Granted            int `json:"granted"`
	PartiallyWithdrawn int `json:"partially_withdrawn"`
	Withdrawn          int `json:"withdrawn"`
	Expired            int `json:"expired"`
	None               int `json:"none"`
	Erased             int `json:"erased"`
	// ByFormVersion counts the subjects whose consent is active (granted
	// or partially withdrawn) by the form version of their latest grant,
	// in the order the versions were logged.
	ByFormVersion []FormCount `json:"by_form_version"`
	// ReconsentRequired counts subjects with active consent on an older
	// form version.
	ReconsentRequired int `json:"reconsent_required"`
}

// FormCount is the number of granted subjects on a form version.
type FormCount struct {
	Version string `json:"version"`
	Granted int    `json:"granted"`
}

// Scope is the decision on one purpose.
type Scope struct {
	Purpose  string `json:"purpose"`
	Decision string `json:"decision"`
}
