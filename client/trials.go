package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/personality/api"
	"github.com/trialog/trialog/personality/envelope"
	"github.com/trialog/trialog/trials"
)

// TrialTimeline is GET /v1/trials/{trial_id}: every entry of the trial in
// log order, all proven against Checkpoint.
type TrialTimeline struct {
	TrialID     string       `json:"trial_id"`
	Identifiers []string     `json:"identifiers,omitempty"`
	Owner       string       `json:"owner,omitempty"`
	Delegates   []string     `json:"delegates,omitempty"`
	Checkpoint  string       `json:"checkpoint"`
	Entries     []*api.Entry `json:"entries"`
}

// TrialOutcomes is GET /v1/trials/{trial_id}/outcomes: pre-specified
// outcomes (from Baseline) compared with reported ones (from Compared).
type TrialOutcomes struct {
	TrialID        string   `json:"trial_id"`
	Identifiers    []string `json:"identifiers,omitempty"`
	Baseline       string   `json:"baseline"`
	BaselineReason string   `json:"baseline_reason,omitempty"`
	Compared       *string  `json:"compared"` // null until results are logged
	// Summary counts the baseline's outcomes as COMPare did; nil from a
	// server that does not send it.
	Summary  *trials.Summary `json:"summary,omitempty"`
	Outcomes []OutcomeStatus `json:"outcomes"`
	// StartAt is the time the trial is taken to have started.
	StartAt    string `json:"start_at,omitempty"`
	Flags      []Flag `json:"flags"`
	Checkpoint string `json:"checkpoint,omitempty"`
}

// OutcomeStatus is one outcome's row of the report.
type OutcomeStatus struct {
	ID       string   `json:"id"`
	Measure  string   `json:"measure"`
	Kind     string   `json:"kind"`
	Status   string   `json:"status"`
	Declared string   `json:"declared,omitempty"`
	Evidence []string `json:"evidence"`
	Changes  []string `json:"changes,omitempty"`
}

// Flag is an observation about the order of a trial's entries.
type Flag struct {
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Evidence []string `json:"evidence"`
}

// Trial returns a trial's timeline (unverified; see Verifier.Trial) and the
// answer's bytes.
func (c *Client) Trial(ctx context.Context, trialID string) (*TrialTimeline, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/trials/"+url.PathEscape(trialID), nil, &raw); err != nil {
		return nil, nil, err
	}
	var t TrialTimeline
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, nil, fmt.Errorf("reading the trial timeline: %w", err)
	}
	return &t, raw, nil
}

// TrialOutcomes returns a trial's outcome report (unverified; see
// Verifier.Outcomes) and the answer's bytes.
func (c *Client) TrialOutcomes(ctx context.Context, trialID string) (*TrialOutcomes, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/trials/"+url.PathEscape(trialID)+"/outcomes", nil, &raw); err != nil {
		return nil, nil, err
	}
	var o TrialOutcomes
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, nil, fmt.Errorf("reading the outcome report: %w", err)
	}
	return &o, raw, nil
}

// Trial verifies a timeline: its checkpoint's signature, and every entry
// completely (see Entry) against that one checkpoint, in strictly
// increasing log order. It returns the entries' envelopes in order.
func (v *Verifier) Trial(t *TrialTimeline) ([]*envelope.Parsed, *log.Checkpoint, error) {
	cp, err := v.Checkpoint([]byte(t.Checkpoint))
	if err != nil {
		return nil, nil, err
	}
	out := make([]*envelope.Parsed, len(t.Entries))
	for i, e := range t.Entries {
		if e == nil {
			return nil, nil, fmt.Errorf("entries[%d] is null", i)
		}
		if e.Checkpoint == "" {
			e.Checkpoint = t.Checkpoint
		}
		if e.Checkpoint != t.Checkpoint {
			return nil, nil, fmt.Errorf("entry %s is proven against another checkpoint than the timeline's", e.ID)
		}
		if i > 0 && e.LeafIndex <= t.Entries[i-1].LeafIndex {
			return nil, nil, fmt.Errorf("entry %s is out of log order", e.ID)
		}
		env, _, err := v.Entry(e)
		if err != nil {
			return nil, nil, fmt.Errorf("entry %s: %w", e.ID, err)
		}
		out[i] = env
	}
	return out, cp, nil
}

// Outcomes checks that every entry an outcome report names — baseline,
// compared results and all evidence — is one of the verified timeline's
// entries, and that the report's checkpoint, if it has one, verifies and is
// no larger than the timeline's (fetch the report first).
func (v *Verifier) Outcomes(o *TrialOutcomes, timeline *TrialTimeline) error {
	proven := make(map[string]bool, len(timeline.Entries))
	for _, e := range timeline.Entries {
		proven[e.ID] = true
	}
	tcp, err := v.Checkpoint([]byte(timeline.Checkpoint))
	if err != nil {
		return err
	}
	if o.Checkpoint != "" {
		ocp, err := v.Checkpoint([]byte(o.Checkpoint))
		if err != nil {
			return fmt.Errorf("the report's %w", err)
		}
		if ocp.Size > tcp.Size {
			return errors.New("the report is computed against a newer checkpoint than the timeline's")
		}
	}
	check := func(what, id string) error {
		if !proven[id] {
			return fmt.Errorf("%s %s is not a proven entry of the trial", what, id)
		}
		return nil
	}
	if o.Baseline != "" {
		if err := check("the baseline", o.Baseline); err != nil {
			return err
		}
	}
	if o.Compared != nil {
		if err := check("the compared results", *o.Compared); err != nil {
			return err
		}
	}
	for _, oc := range o.Outcomes {
		for _, id := range oc.Evidence {
			if err := check("evidence of outcome "+oc.ID, id); err != nil {
				return err
			}
		}
	}
	for _, f := range o.Flags {
		for _, id := range f.Evidence {
			if err := check("evidence of flag "+f.Code, id); err != nil {
				return err
			}
		}
	}
	return nil
}
