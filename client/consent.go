package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"time"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/statement"
)

// MintSubject mints a subject of a trial (a site delegated on it): a random
// reference and the patient's secret.
func (c *Client) MintSubject(ctx context.Context, trialID string) (*api.ConsentSubject, error) {
	var out api.ConsentSubject
	if err := c.do(ctx, http.MethodPost, "/v1/consent/subjects", api.ConsentSubjectRequest{TrialID: trialID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// api.ConsentStatus asks for the consent of the subject holding secret (no
// token: the secret is the credential). It returns the answer (unverified;
// see Verifier.ConsentStatus) and its bytes. A secret that no live subject
// of the trial holds is a 404.
func (c *Client) ConsentStatus(ctx context.Context, trialID, secret string) (*api.ConsentStatus, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/v1/consent/status", api.ConsentStatusRequest{SubjectSecret: secret, TrialID: trialID}, &raw); err != nil {
		return nil, nil, err
	}
	var out api.ConsentStatus
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, fmt.Errorf("reading the consent status: %w", err)
	}
	return &out, raw, nil
}

// api.ConsentCheck asks whether the caller (a data user) may use the subject's
// data for purpose; trialogd logs the check as a consent.access entry. It
// returns the answer (unverified; see Verifier.ConsentCheck) and its bytes.
func (c *Client) ConsentCheck(ctx context.Context, trialID, subject, purpose string) (*api.ConsentCheck, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodPost, "/v1/consent/check", api.ConsentCheckRequest{TrialID: trialID, Subject: subject, Purpose: purpose}, &raw); err != nil {
		return nil, nil, err
	}
	var out api.ConsentCheck
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, fmt.Errorf("reading the consent check: %w", err)
	}
	return &out, raw, nil
}

// EraseBySecret erases the subject holding secret (the patient; no token is
// needed).
func (c *Client) EraseBySecret(ctx context.Context, trialID, secret string) (*api.ConsentErased, error) {
	var out api.ConsentErased
	if err := c.do(ctx, http.MethodPost, "/v1/consent/erase", api.ConsentEraseRequest{SubjectSecret: secret, TrialID: trialID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EraseSubject erases a subject by its reference (a site delegated on the
// trial, with its token).
func (c *Client) EraseSubject(ctx context.Context, trialID, subject string) (*api.ConsentErased, error) {
	var out api.ConsentErased
	if err := c.do(ctx, http.MethodPost, "/v1/consent/erase", api.ConsentEraseRequest{Subject: subject, TrialID: trialID}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// api.TrialConsent returns a trial's consent counts (its owner, delegates and
// regulators) and the answer's bytes.
func (c *Client) TrialConsent(ctx context.Context, trialID string) (*api.TrialConsent, json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/trials/"+url.PathEscape(trialID)+"/consent", nil, &raw); err != nil {
		return nil, nil, err
	}
	var out api.TrialConsent
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, nil, fmt.Errorf("reading the consent counts: %w", err)
	}
	return &out, raw, nil
}

// ConsentFHIR returns a consent.grant or consent.withdraw entry as a FHIR R4
// Consent resource (application/fhir+json), as trialogd renders it.
func (c *Client) ConsentFHIR(ctx context.Context, entryID string) ([]byte, error) {
	return c.getText(ctx, "/v1/entries/"+url.PathEscape(entryID)+"/fhir", 1<<20)
}

// consentRegistry parses consent statements, in either payloadType.
var consentRegistry = func() *statement.Registry {
	r := statement.NewRegistry()
	consent.Register(r, nil) // parsing only: the checks, which need subjects, are never run
	return r
}()

// ConsentEntry is a verified entry and the consent statement it logs.
type ConsentEntry struct {
	Entry       *api.Entry
	PayloadType string
	Statement   consent.Statement
}

// Logged is the entry as consent.Compute reads it.
func (e ConsentEntry) Logged() statement.Logged {
	return statement.Logged{ID: e.Entry.ID, LeafIndex: e.Entry.LeafIndex, Statement: e.Statement, ReceivedAt: statement.ParseReceivedAt(e.Entry.ReceivedAt)}
}

// ConsentEntry verifies an included entry completely (see Entry) and parses
// the consent statement its leaf holds — from the leaf's signed bytes, not
// from the answer's copy of the statement.
func (v *Verifier) ConsentEntry(e *api.Entry) (*ConsentEntry, *log.Checkpoint, error) {
	env, cp, err := v.Entry(e)
	if err != nil {
		return nil, nil, err
	}
	_, st, err := consentRegistry.ParseFor(env.PayloadType, env.PayloadBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("the logged statement is not a consent statement: %w", err)
	}
	cs, ok := st.(consent.Statement)
	if !ok {
		return nil, nil, fmt.Errorf("the logged statement is a %s, not a consent statement", st.Type())
	}
	return &ConsentEntry{Entry: e, PayloadType: env.PayloadType, Statement: cs}, cp, nil
}

// ProvenStatus is a verified consent status: its checkpoint, and its
// evidence and access entries with their statements, in log order.
type ProvenStatus struct {
	Checkpoint *log.Checkpoint
	Evidence   []ConsentEntry
	Access     []ConsentEntry
}

// periodSlack is how far the clocks of trialogd and this machine may be
// apart when a grant's period starts or ends between their two readings.
const periodSlack = 5 * time.Minute

// api.ConsentStatus verifies a status answer: its checkpoint's signature; every
// evidence and access entry completely against that one checkpoint, in log
// order; that the evidence entries are the subject's grants and withdrawals
// (the latest grant first, if any, then withdrawals) and the access entries
// its consent.access records; and that status, scope and form version are
// what the evidence makes them at now (give or take a few minutes of clock
// difference for a grant's period).
func (v *Verifier) ConsentStatus(s *api.ConsentStatus, now time.Time) (*ProvenStatus, error) {
	cp, err := v.Checkpoint([]byte(s.Checkpoint))
	if err != nil {
		return nil, err
	}
	if !consent.ValidSubject(s.Subject) {
		return nil, errors.New("the answer's subject is not a subject reference")
	}
	out := &ProvenStatus{Checkpoint: cp}
	if out.Evidence, err = v.consentEntries("evidence", s.Evidence, s.Checkpoint, s.Subject); err != nil {
		return nil, err
	}
	if out.Access, err = v.consentEntries("access", s.Access, s.Checkpoint, s.Subject); err != nil {
		return nil, err
	}
	for i, e := range out.Evidence {
		switch e.Statement.(type) {
		case *consent.Grant:
			if i > 0 {
				return nil, fmt.Errorf("evidence entry %s is a grant after the first evidence entry; only the latest grant is evidence", e.Entry.ID)
			}
		case *consent.Withdraw:
		default:
			return nil, fmt.Errorf("evidence entry %s is a %s, not a grant or a withdrawal", e.Entry.ID, e.Statement.Type())
		}
	}
	for _, e := range out.Access {
		if _, ok := e.Statement.(*consent.Access); !ok {
			return nil, fmt.Errorf("access entry %s is a %s, not a consent.access", e.Entry.ID, e.Statement.Type())
		}
	}
	switch s.Status {
	case consent.StatusGranted, consent.StatusPartiallyWithdrawn, consent.StatusWithdrawn, consent.StatusExpired, consent.StatusNone:
	default:
		return nil, fmt.Errorf("the answer's status %q is none of granted, partially withdrawn, withdrawn, expired and none", s.Status)
	}
	if s.ReconsentRequired && !consent.Active(s.Status) {
		return nil, errors.New("the answer asks for re-consent of a subject whose consent is not active")
	}
	logged := make([]statement.Logged, 0, len(out.Evidence)+len(out.Access))
	for _, e := range append(slices.Clone(out.Evidence), out.Access...) {
		logged = append(logged, e.Logged())
	}
	slices.SortFunc(logged, func(a, b statement.Logged) int { return cmp.Compare(a.LeafIndex, b.LeafIndex) })
	scope := s.Scope
	if scope == nil {
		scope = []consent.Scope{}
	}
	var mismatch string
	for _, at := range []time.Time{now, now.Add(-periodSlack), now.Add(periodSlack)} {
		st := consent.Compute(logged, "", at)
		switch {
		case st.Status != s.Status:
			mismatch = fmt.Sprintf("the answer's status is %s, but its evidence makes it %s", s.Status, st.Status)
		case st.FormVersion != s.FormVersion:
			mismatch = fmt.Sprintf("the answer's form version is %q, but its evidence makes it %q", s.FormVersion, st.FormVersion)
		case !reflect.DeepEqual(st.Scope, scope):
			mismatch = "the answer's decisions per purpose are not what its evidence makes them"
		default:
			return out, nil
		}
	}
	return nil, errors.New(mismatch)
}

// consentEntries verifies entries against the answer's checkpoint, in log
// order, each a consent statement about subject.
func (v *Verifier) consentEntries(what string, es []*api.Entry, checkpoint, subject string) ([]ConsentEntry, error) {
	out := make([]ConsentEntry, 0, len(es))
	for i, e := range es {
		ce, err := v.consentEntryAt(what, i, e, checkpoint, subject)
		if err != nil {
			return nil, err
		}
		if i > 0 && e.LeafIndex <= es[i-1].LeafIndex {
			return nil, fmt.Errorf("%s entry %s is out of log order", what, e.ID)
		}
		out = append(out, *ce)
	}
	return out, nil
}

func (v *Verifier) consentEntryAt(what string, i int, e *api.Entry, checkpoint, subject string) (*ConsentEntry, error) {
	if e == nil {
		return nil, fmt.Errorf("%s[%d] is null", what, i)
	}
	if e.Checkpoint == "" {
		e.Checkpoint = checkpoint
	}
	if e.Checkpoint != checkpoint {
		return nil, fmt.Errorf("%s entry %s is proven against another checkpoint than the answer's", what, e.ID)
	}
	ce, _, err := v.ConsentEntry(e)
	if err != nil {
		return nil, fmt.Errorf("%s entry %s: %w", what, e.ID, err)
	}
	if ce.Statement.SubjectID() != subject {
		return nil, fmt.Errorf("%s entry %s is about another subject", what, e.ID)
	}
	return ce, nil
}

// ProvenCheck is a verified consent check.
type ProvenCheck struct {
	Checkpoint *log.Checkpoint
	// Access is the consent.access entry recording the check.
	Access    ConsentEntry
	Statement *consent.Access
	Evidence  []ConsentEntry
}

// api.ConsentCheck verifies a check answer for subject and purpose: its
// checkpoint's signature; the access entry and every evidence entry
// completely against it; that the access entry records this check (subject,
// purpose, decision, and exactly these evidence entries) and comes after
// its evidence; and that the evidence, the subject's latest grant and the
// withdrawals after it, gives this decision at the time of the check.
func (v *Verifier) ConsentCheck(c *api.ConsentCheck, subject, purpose string) (*ProvenCheck, error) {
	cp, err := v.Checkpoint([]byte(c.Checkpoint))
	if err != nil {
		return nil, err
	}
	if c.Decision != consent.Permit && c.Decision != consent.Deny {
		return nil, fmt.Errorf("the answer's decision %q is neither permit nor deny", c.Decision)
	}
	if c.Access == nil {
		return nil, errors.New("the answer has no access entry")
	}
	if c.Access.ID != c.AccessEntry {
		return nil, fmt.Errorf("the answer names access entry %s but proves entry %s", c.AccessEntry, c.Access.ID)
	}
	acc, err := v.consentEntryAt("access", 0, c.Access, c.Checkpoint, subject)
	if err != nil {
		return nil, err
	}
	a, ok := acc.Statement.(*consent.Access)
	if !ok {
		return nil, fmt.Errorf("access entry %s is a %s, not a consent.access", c.Access.ID, acc.Statement.Type())
	}
	switch {
	case a.Purpose != purpose:
		return nil, fmt.Errorf("access entry %s records a check of purpose %s, not %s", c.Access.ID, a.Purpose, purpose)
	case a.Decision != c.Decision:
		return nil, fmt.Errorf("access entry %s records the decision %s, but the answer says %s", c.Access.ID, a.Decision, c.Decision)
	}
	evidence, err := v.consentEntries("evidence", c.Evidence, c.Checkpoint, subject)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(evidence))
	logged := make([]statement.Logged, len(evidence))
	for i, e := range evidence {
		ids[i], logged[i] = e.Entry.ID, e.Logged()
		if e.Entry.LeafIndex >= c.Access.LeafIndex {
			return nil, fmt.Errorf("evidence entry %s is logged after the access entry", e.Entry.ID)
		}
		switch e.Statement.(type) {
		case *consent.Grant:
			if i > 0 {
				return nil, fmt.Errorf("evidence entry %s is a grant after the first evidence entry", e.Entry.ID)
			}
		case *consent.Withdraw:
		default:
			return nil, fmt.Errorf("evidence entry %s is a %s, not a grant or a withdrawal", e.Entry.ID, e.Statement.Type())
		}
	}
	if !slices.Equal(ids, a.Evidence) {
		return nil, fmt.Errorf("the answer's evidence is not the evidence access entry %s records", c.Access.ID)
	}
	at, err := statement.ParseTime("issued_at", a.IssuedAt)
	if err != nil {
		return nil, fmt.Errorf("access entry %s: %w", c.Access.ID, err)
	}
	if d, _ := consent.Decide(consent.Compute(logged, "", at), purpose); d != c.Decision {
		return nil, fmt.Errorf("the evidence gives the decision %s, not %s", d, c.Decision)
	}
	return &ProvenCheck{Checkpoint: cp, Access: *acc, Statement: a, Evidence: evidence}, nil
}

// api.TrialConsent verifies the checkpoint of a trial's consent counts. The
// counts themselves are trialogd's computation: they carry no proofs.
func (v *Verifier) TrialConsent(t *api.TrialConsent) (*log.Checkpoint, error) {
	return v.Checkpoint([]byte(t.Checkpoint))
}
