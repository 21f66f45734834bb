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
// these types Report, Summary, Counts, DeclaredCounts, OutcomeStatus, Flag,
// Ver and Outcome).

// TrialReport is the outcome report of a trial (GET /v1/trials/{id}/outcomes).
type TrialReport struct {
	TrialID string `json:"trial_id"`
	// Identifiers lists every identifier of the trial.
	Identifiers []string `json:"identifiers"`
	// Baseline is the entry the pre-specified outcomes are taken from: the
	// last protocol version that precedes the trial's start, else the
	// last registration that does, else the first registration (see
	// StartAt for what "precedes" means).
	Baseline string `json:"baseline"`
	// BaselineReason says in a sentence why Baseline was chosen.
	BaselineReason string `json:"baseline_reason"`
	// Compared is the latest trial.results entry; nil when there is none,
	// and Outcomes is then empty.
	Compared *string `json:"compared"`
	// Summary counts the baseline's outcomes as COMPare did, in all and
	// by kind.
	Summary  TrialSummary    `json:"summary"`
	Outcomes []OutcomeStatus `json:"outcomes"`
	Flags    []Flag          `json:"flags"`
	// Start is the first first_participant_in milestone in log order.
	Start *string `json:"first_participant_in,omitempty"`
	// StartAt is the time the trial is taken to have started: the
	// earliest of the start any first_participant_in milestone claims
	// (its at) and the time the first one was logged (its received_at).
	// A pre-specification counts as preceding the start only when it was
	// both logged before that milestone and received before StartAt.
	StartAt string               `json:"start_at,omitempty"`
	Chains  map[string][]Version `json:"versions"`
}

// TrialSummary counts the baseline's outcomes as COMPare reported each trial:
// how many were pre-specified, how many reported correctly, how many not
// reported and how many switched without a word, and how many outcomes were
// added silently — for all outcomes, and apart for primary and secondary
// ones, as COMPare published them. As in COMPare, a change that the results
// declare (an outcome's declared, or an omission with its declaration)
// counts as correctly reported; Declared counts those apart, so
// prespecified = correctly_reported + not_reported + switched.
type TrialSummary struct {
	Counts
	// Primary and Secondary count the outcomes pre-specified as primary
	// or secondary in the baseline (an added outcome: by its reported
	// kind). A primary outcome reported as secondary counts as a switched
	// primary outcome.
	Primary   Counts `json:"primary"`
	Secondary Counts `json:"secondary"`
}

// Counts are the summary's figures for one set of outcomes.
type Counts struct {
	Prespecified      int `json:"prespecified"`
	CorrectlyReported int `json:"correctly_reported"`
	// NotReported are the baseline's outcomes the results leave out
	// without declaring it (status dropped).
	NotReported int `json:"not_reported"`
	// Switched are the baseline's outcomes reported changed (switched,
	// promoted, demoted or retimed) without declaring it.
	Switched int `json:"switched"`
	// Added are outcomes reported that the baseline does not pre-specify,
	// without declaring them new.
	Added int `json:"added"`
	// Declared counts the changes the results declare, by the same kinds.
	Declared DeclaredCounts `json:"declared"`
}

// DeclaredCounts counts declared changes.
type DeclaredCounts struct {
	NotReported int `json:"not_reported"`
	Switched    int `json:"switched"`
	Added       int `json:"added"`
}

// OutcomeStatus is one outcome's row in the report.
type OutcomeStatus struct {
	ID string `json:"id"`
	// Measure and Kind are as reported in the compared results, or as
	// pre-specified in the baseline for a dropped outcome.
	Measure string `json:"measure"`
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	// Declared is where the results declare this outcome's change (the
	// outcome's declared, or its entry in omitted); empty when they do not.
	Declared string `json:"declared,omitempty"`
	// Evidence lists, in log order, the baseline, every later registration,
	// protocol or SAP version that changed this outcome (added, removed, or
	// changed its kind, time frame or measure) relative to the version
	// before it, and the compared results.
	Evidence []string `json:"evidence"`
	// Changes lists what differs between baseline and results (kind,
	// time_frame, measure), compared in Normalise form; empty for added
	// and dropped outcomes. Status names the weightiest: a changed measure
	// (switched), then a changed kind (promoted, demoted), then a changed
	// time frame (retimed).
	Changes []string `json:"changes"`
	// Baseline and Reported are the outcome as pre-specified and as
	// reported; either is absent when the outcome is not in that statement.
	Baseline *Outcome `json:"baseline,omitempty"`
	Reported *Outcome `json:"reported,omitempty"`
}

// Flag is an observation about the order of the trial's entries and the
// dates they claim.
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
	// Declared is only for trial.results: where the results document
	// declares and explains how this outcome differs from the
	// pre-specified one, or that it was not pre-specified — a short
	// reference a reader can open ("Methods, Changes to outcomes",
	// "CSR section 9.8"), as CONSORT item 6b asks. Empty: not declared.
	Declared string `json:"declared,omitempty"`
}
