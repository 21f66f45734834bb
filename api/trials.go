package api

import "github.com/trialog/trialog/trials"

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
// chains) computed from the entries that Checkpoint includes. The report is
// the trials package's own value, so that server and clients read one
// definition of it.
type TrialOutcomes struct {
	trials.Report
	Checkpoint string `json:"checkpoint"`
}

// TrialDelegate is the body of POST /v1/trials/{trial_id}/delegates.
type TrialDelegate struct {
	Principal string `json:"principal"`
}
