package personality

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

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

// TrialOutcomes answers GET /v1/trials/{trial_id}/outcomes: the report,
// computed from the entries that Checkpoint includes.
type TrialOutcomes struct {
	trials.Report
	Checkpoint string `json:"checkpoint"`
}

// TrialDelegate is the body of POST /v1/trials/{trial_id}/delegates.
type TrialDelegate struct {
	Principal string `json:"principal"`
}

// defaultDelegationWait is how long the delegation endpoint waits for its
// entry's inclusion when the request names no wait.
const defaultDelegationWait = 10 * time.Second

// RegisterTrialRoutes adds the trial endpoints to a.
func RegisterTrialRoutes(a *API) {
	t := trialRoutes{a: a, svc: a.svc}
	a.Handle(http.MethodGet, "/v1/trials/{trial_id}", "trial", t.getTimeline)
	a.Handle(http.MethodGet, "/v1/trials/{trial_id}/outcomes", "trial_outcomes", t.getOutcomes)
	a.Handle(http.MethodPost, "/v1/trials/{trial_id}/delegates", "trial_delegates", t.postDelegate)
}

type trialRoutes struct {
	a   *API
	svc *Service
}

func trialID(r *http.Request) (string, error) {
	id, _, err := trials.ParseID(mux.Vars(r)["trial_id"])
	if err != nil {
		return "", errInvalid("trial_id: %v", err)
	}
	return id, nil
}

// provenTrial returns the trial's entries that the latest checkpoint
// includes, each proven against it, and the trial they make.
func (t trialRoutes) provenTrial(ctx context.Context, id string) (*trials.Trial, []ProvenEntry, *Published, error) {
	// The identifiers come from everything logged; the answer only from
	// what the checkpoint includes.
	all, err := trials.Load(ctx, t.svc.Reader(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, nil, nil, errNotFound("trial %s is not registered", id)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	pes, cp, err := t.svc.Proven(ctx, all.Refs()...)
	if err != nil {
		return nil, nil, nil, err
	}
	logged := make([]statement.Logged, len(pes))
	for i, pe := range pes {
		logged[i] = statement.Logged{ID: pe.ID, LeafIndex: pe.LeafIndex, PrincipalID: pe.PrincipalID, Statement: pe.Statement, ReceivedAt: statement.ParseReceivedAt(pe.ReceivedAt)}
	}
	trial, err := trials.Build(logged)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return nil, nil, nil, errNotFound("trial %s is registered, but its registration is not in a published checkpoint yet; retry shortly", id)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return trial, pes, cp, nil
}

func (t trialRoutes) getTimeline(r *http.Request) (int, any, error) {
	id, err := trialID(r)
	if err != nil {
		return 0, nil, err
	}
	trial, pes, cp, err := t.provenTrial(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	out := TrialTimeline{TrialID: id, Identifiers: trial.Identifiers, Owner: trial.Owner, Delegates: []string{},
		Checkpoint: string(cp.Note), Entries: make([]*Entry, len(pes))}
	for p := range trial.Delegates {
		out.Delegates = append(out.Delegates, p)
	}
	sort.Strings(out.Delegates)
	for i, pe := range pes {
		out.Entries[i] = pe.Entry
	}
	return http.StatusOK, out, nil
}

func (t trialRoutes) getOutcomes(r *http.Request) (int, any, error) {
	id, err := trialID(r)
	if err != nil {
		return 0, nil, err
	}
	trial, _, cp, err := t.provenTrial(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	rep, err := trials.Compute(id, trial.Entries)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, TrialOutcomes{Report: *rep, Checkpoint: string(cp.Note)}, nil
}

// postDelegate lets the trial's owner delegate: trialogd logs a
// trial.delegation signed with its service key and answers the entry, 201
// once proven (202 if the wait runs out), or 200 with the existing entry if
// the principal is a delegate already.
func (t trialRoutes) postDelegate(r *http.Request) (int, any, error) {
	ctx := r.Context()
	caller, err := t.a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	id, err := trialID(r)
	if err != nil {
		return 0, nil, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	if wait == 0 {
		wait = defaultDelegationWait
	}
	trial, err := trials.LoadState(ctx, t.svc.State(), id)
	if errors.Is(err, trials.ErrUnknownTrial) {
		return 0, nil, errNotFound("trial %s is not registered", id)
	}
	if err != nil {
		return 0, nil, err
	}
	if caller.PrincipalID != trial.Owner {
		return 0, nil, errDenied("only the owner of trial %s may delegate", id)
	}
	var req TrialDelegate
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	switch {
	case req.Principal == "":
		return 0, nil, errInvalid("principal is required: the id of the principal to delegate to")
	case !trials.ValidPrincipalID(req.Principal):
		return 0, nil, errInvalid("principal must be a principal id, such as pr_0123456789abcdef01234567")
	case req.Principal == trial.Owner:
		return 0, nil, errInvalid("%s owns trial %s already", req.Principal, id)
	case req.Principal == ServicePrincipalID:
		return 0, nil, errInvalid("trialogd cannot be a delegate")
	}
	if _, err := t.svc.Principal(ctx, req.Principal); errors.Is(err, ErrNotFound) {
		return 0, nil, errInvalid("principal: no principal has id %s", req.Principal)
	} else if err != nil {
		return 0, nil, err
	}
	if eid, ok := trial.Delegates[req.Principal]; ok {
		return t.existingDelegation(ctx, eid, wait)
	}
	sub, err := t.svc.SubmitAsService(ctx, trials.DelegationStatement(trial.ID, req.Principal, trial.Owner, t.svc.now()), wait)
	if errors.Is(err, trials.ErrAlreadyDelegated) {
		// Another request delegated the same principal in between.
		trial, err := trials.LoadState(ctx, t.svc.State(), id)
		if err != nil {
			return 0, nil, err
		}
		return t.existingDelegation(ctx, trial.Delegates[req.Principal], wait)
	}
	if err != nil {
		return 0, nil, err
	}
	return submitStatus(sub, wait), sub.Entry, nil
}

// existingDelegation answers 200 with a delegation logged before, proven:
// like a resubmission with ?wait, it waits up to wait for the entry to be
// in a published checkpoint.
func (t trialRoutes) existingDelegation(ctx context.Context, id string, wait time.Duration) (int, any, error) {
	e, err := t.svc.EntryByID(ctx, id)
	if err != nil || e.Status == StatusIncluded {
		return http.StatusOK, e, err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	_, werr := t.svc.WaitPublished(wctx, e.LeafIndex)
	cancel()
	if werr != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return http.StatusOK, e, nil // the wait ran out: the entry as far as known
	}
	e, err = t.svc.EntryByID(ctx, id)
	return http.StatusOK, e, err
}
