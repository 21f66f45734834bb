// Package trialsvc is the trial service: a trial's timeline and outcome
// report proven against one checkpoint, and delegation by the trial's owner.
// It applies the rules of package trials to what the log engine holds and
// returns plain values and errors; it speaks neither HTTP (personality
// serves it) nor SQL (the engine reads the log).
//
// Its errors wrap trials.ErrUnknownTrial (no such trial), statement.ErrInvalid
// (malformed input), statement.ErrForbidden (not the owner) or the engine's
// errors, for errors.Is.
package trialsvc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// Log is what the service needs of the log engine (*engine.Log).
type Log interface {
	Reader() statement.Reader
	// State reads the domain state by key as last committed.
	State() statement.State
	Proven(ctx context.Context, refs ...string) ([]engine.ProvenEntry, *engine.Published, error)
	SubmitAsService(ctx context.Context, payload []byte, wait time.Duration) (*engine.Submission, error)
	EntryByID(ctx context.Context, id string) (*api.Entry, error)
	WaitPublished(ctx context.Context, index int64) (*engine.Published, error)
}

// Principals tells whether a principal exists (*principals.Directory). An
// unknown id is an error for which Unknown is true.
type Principals interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Config is what a Service needs.
type Config struct {
	Log        Log
	Principals Principals
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Service answers trial questions from the log.
type Service struct {
	log        Log
	principals Principals
	now        func() time.Time
}

// New returns the service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{log: cfg.Log, principals: cfg.Principals, now: cfg.Now}
}

// ParseID normalises a trial identifier given by a caller.
func ParseID(raw string) (string, error) {
	id, _, err := trials.ParseID(raw)
	if err != nil {
		return "", statement.Invalidf("trial_id: %v", err)
	}
	return id, nil
}

// Load reads the trial id names from everything logged, included in a
// checkpoint or not.
func (s *Service) Load(ctx context.Context, id string) (*trials.Trial, error) {
	t, err := trials.Load(ctx, s.log.Reader(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, fmt.Errorf("%w: trial %s is not registered", trials.ErrUnknownTrial, id)
	}
	return t, err
}

// proven returns the trial's entries that the latest checkpoint includes,
// each proven against it, and the trial they make.
func (s *Service) proven(ctx context.Context, id string) (*trials.Trial, []engine.ProvenEntry, *engine.Published, error) {
	// The identifiers come from everything logged; the answer only from
	// what the checkpoint includes.
	all, err := s.Load(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	pes, cp, err := s.log.Proven(ctx, all.Refs()...)
	if err != nil {
		return nil, nil, nil, err
	}
	logged := make([]statement.Logged, len(pes))
	for i, pe := range pes {
		logged[i] = statement.Logged{ID: pe.ID, LeafIndex: pe.LeafIndex, PrincipalID: pe.PrincipalID, Statement: pe.Statement, ReceivedAt: statement.ParseReceivedAt(pe.ReceivedAt)}
	}
	trial, err := trials.Build(logged)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, nil, nil, fmt.Errorf("%w: trial %s is registered, but its registration is not in a published checkpoint yet; retry shortly", trials.ErrUnknownTrial, id)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return trial, pes, cp, nil
}

// Timeline returns every entry of the trial in log order, all proven
// against one checkpoint.
func (s *Service) Timeline(ctx context.Context, id string) (*api.TrialTimeline, error) {
	trial, pes, cp, err := s.proven(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &api.TrialTimeline{TrialID: id, Identifiers: trial.Identifiers, Owner: trial.Owner, Delegates: []string{},
		Checkpoint: string(cp.Note), Entries: make([]*api.Entry, len(pes))}
	for p := range trial.Delegates {
		out.Delegates = append(out.Delegates, p)
	}
	sort.Strings(out.Delegates)
	for i, pe := range pes {
		out.Entries[i] = pe.Entry
	}
	return out, nil
}

// Outcomes returns the trial's outcome report, computed from the entries
// one checkpoint includes.
func (s *Service) Outcomes(ctx context.Context, id string) (*api.TrialOutcomes, error) {
	trial, _, cp, err := s.proven(ctx, id)
	if err != nil {
		return nil, err
	}
	rep, err := trials.Compute(id, trial.Entries)
	if err != nil {
		return nil, err
	}
	return &api.TrialOutcomes{TrialReport: *rep, Checkpoint: string(cp.Note)}, nil
}

// state reads the state of the trial id names (its owner, delegates and
// chains, kept by key): what a write needs, at a cost that does not grow
// with the trial's history.
func (s *Service) state(ctx context.Context, id string) (*trials.State, error) {
	t, err := trials.LoadState(ctx, s.log.State(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, fmt.Errorf("%w: trial %s is not registered", trials.ErrUnknownTrial, id)
	}
	return t, err
}

// Owned returns the state of the trial id names if caller owns it.
func (s *Service) Owned(ctx context.Context, caller statement.Caller, id string) (*trials.State, error) {
	trial, err := s.state(ctx, id)
	if err != nil {
		return nil, err
	}
	if caller.PrincipalID != trial.Owner {
		return nil, fmt.Errorf("%w: only the owner of trial %s may delegate", statement.ErrForbidden, id)
	}
	return trial, nil
}

// Delegation is the outcome of Delegate.
type Delegation struct {
	*engine.Submission
	// Existing is set when the principal was a delegate already: Entry is
	// then the delegation logged before.
	Existing bool
}

// Delegate makes principal a delegate of trial (which the caller owns; see
// Owned): trialogd logs a trial.delegation signed with its service key,
// and waits up to wait for the entry to be in a published checkpoint. A
// principal that is a delegate already gets the existing entry.
func (s *Service) Delegate(ctx context.Context, trial *trials.State, principal string, wait time.Duration) (*Delegation, error) {
	switch {
	case principal == "":
		return nil, statement.Invalidf("principal is required: the id of the principal to delegate to")
	case !trials.ValidPrincipalID(principal):
		return nil, statement.Invalidf("principal must be a principal id, such as pr_0123456789abcdef01234567")
	case principal == trial.Owner:
		return nil, statement.Invalidf("%s owns trial %s already", principal, trial.ID)
	case principal == engine.ServicePrincipalID:
		return nil, statement.Invalidf("trialogd cannot be a delegate")
	}
	if ok, err := s.principals.Exists(ctx, principal); err != nil {
		return nil, err
	} else if !ok {
		return nil, statement.Invalidf("principal: no principal has id %s", principal)
	}
	if eid, ok := trial.Delegates[principal]; ok {
		return s.existing(ctx, eid, wait)
	}
	sub, err := s.log.SubmitAsService(ctx, trials.DelegationStatement(trial.ID, principal, trial.Owner, s.now()), wait)
	if errors.Is(err, trials.ErrAlreadyDelegated) {
		// Another request delegated the same principal in between.
		again, err := s.state(ctx, trial.ID)
		if err != nil {
			return nil, err
		}
		return s.existing(ctx, again.Delegates[principal], wait)
	}
	if err != nil {
		return nil, err
	}
	return &Delegation{Submission: sub}, nil
}

// existing answers a delegation logged before, proven: like a resubmission
// with a wait, it waits up to wait for the entry to be in a published
// checkpoint, and answers the entry as far as known when the wait runs out.
func (s *Service) existing(ctx context.Context, id string, wait time.Duration) (*Delegation, error) {
	e, err := s.log.EntryByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.Status != api.StatusIncluded {
		wctx, cancel := context.WithTimeout(ctx, wait)
		_, werr := s.log.WaitPublished(wctx, e.LeafIndex)
		cancel()
		if werr != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if werr == nil {
			if e, err = s.log.EntryByID(ctx, id); err != nil {
				return nil, err
			}
		}
	}
	return &Delegation{Submission: &engine.Submission{Entry: e}, Existing: true}, nil
}
