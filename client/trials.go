package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/envelope"
)

// Trial returns a trial's timeline (unverified; see Verifier.Trial) and the
// answer's bytes.
func (c *Client) Trial(ctx context.Context, trialID string) (*api.TrialTimeline, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/trials/"+url.PathEscape(trialID), nil, &raw); err != nil {
		return nil, nil, err
	}
	var t api.TrialTimeline
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, nil, fmt.Errorf("reading the trial timeline: %w", err)
	}
	return &t, raw, nil
}

// api.TrialOutcomes returns a trial's outcome report (unverified; see
// Verifier.Outcomes) and the answer's bytes.
func (c *Client) TrialOutcomes(ctx context.Context, trialID string) (*api.TrialOutcomes, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/v1/trials/"+url.PathEscape(trialID)+"/outcomes", nil, &raw); err != nil {
		return nil, nil, err
	}
	var o api.TrialOutcomes
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, nil, fmt.Errorf("reading the outcome report: %w", err)
	}
	return &o, raw, nil
}

// Trial verifies a timeline: its checkpoint's signature, and every entry
// completely (see Entry) against that one checkpoint, in strictly
// increasing log order. It returns the entries' envelopes in order.
func (v *Verifier) Trial(t *api.TrialTimeline) ([]*envelope.Parsed, *log.Checkpoint, error) {
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
func (v *Verifier) Outcomes(o *api.TrialOutcomes, timeline *api.TrialTimeline) error {
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
