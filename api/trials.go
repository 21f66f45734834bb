package api

// TrialTimeline answers GET /v1/trials/{trial_id}: every entry of the trial
// in log order, all proven against Checkpoint.
type TrialTimeline struct {
	TrialID     string   `json:"trial_id"`
	Identifiers []string `json:"identifiers"`
	Owner       string   `json:"owner"`
	Delegates   []string `json:"delegates"`
	Checkpoint  string   `json:"checkpoint"`
	Entries     []*Entry `json:"entries"`
}

// TrialOutcomes answers GET /v1/trials/{trial_id}/outcomes: the report
// (pre-specified outcomes compared with reported ones, order flags, version
// chains) computed from the entries that Checkpoint includes.
type TrialOutcomes struct {
	TrialReport
	Checkpoint string `json:"checkpoint"`
}

// TrialDelegate is the body of POST /v1/trials/{trial_id}/delegates.
type TrialDelegate struct {
	Principal string `json:"principal"`
}

// The outcome report, as trials.Compute makes it (package trials names
// these types Report, OutcomeStatus, Flag, Ver and Outcome).

// TrialReport is the outcome report of a trial (GET /v1/trials/{id}/outcomes).
type TrialReport struct {
	TrialID string `json:"trial_id"`
	// Identifiers lists every identifier of the trial.
	Identifiers []string `json:"identifiers"`
	// Baseline is the entry the pre-specified outcomes are taken from: the
	// last protocol version logged before the first first_participant_in
	// milestone, else the last registration logged before it, else the
	// first registration.
	Baseline string `json:"baseline"`
	// BaselineReason says in a sentence why Baseline was chosen.
	BaselineReason string `json:"baseline_reason"`
	// Compared is the latest trial.results entry; nil when there is none,
	// and Outcomes is then empty.
	Compared *string              `json:"compared"`
	Outcomes []OutcomeStatus      `json:"outcomes"`
	Flags    []Flag               `json:"flags"`
	Start    *string              `json:"first_participant_in,omitempty"` // the milestone entry that marks the start
	Chains   map[string][]Version `json:"versions"`
}

// OutcomeStatus is one outcome's row in the report.
type OutcomeStatus struct {
	ID string `json:"id"`
	// Measure and Kind are as reported in the compared results, or as
	// pre-specified in the baseline for a dropped outcome.
	Measure string `json:"measure"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	// Evidence lists, in log order, the baseline, every later registration,
	// protocol or SAP version that changed this outcome (added, removed, or
	// changed its kind, time frame or measure) relative to the version
	// before it, and the compared results.
	Evidence []string `json:"evidence"`
	// Changes lists what differs between baseline and results (kind,
	// time_frame, measure); empty for added and dropped outcomes. Status
	// names the weightiest: a changed kind before a changed time frame; a
	// changed measure alone leaves the status unchanged but is listed here.
	Changes []string `json:"changes"`
	// Baseline and Reported are the outcome as pre-specified and as
	// reported; either is absent when the outcome is not in that statement.
	Baseline *Outcome `json:"baseline,omitempty"`
	Reported *Outcome `json:"reported,omitempty"`
}

// Flag is an observation about the order of the trial's entries.
type Flag struct {
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Evidence []string `json:"evidence"`
}

// Version is one version in a protocol, SAP or consent-form chain.
type Version struct {
	Entry    string `json:"entry"`
	Version  string `json:"version"`
	Previous string `json:"previous,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Outcome is a pre-specified or reported outcome. Outcomes correspond across
// registrations, protocol and SAP versions and results by ID.
type Outcome struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"` // KindPrimary or KindSecondary
	Measure   string `json:"measure"`
	TimeFrame string `json:"time_frame"`
}
