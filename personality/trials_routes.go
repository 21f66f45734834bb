package personality

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialsvc"
)

// defaultDelegationWait is how long the delegation endpoint waits for its
// entry's inclusion when the request names no wait.
const defaultDelegationWait = 10 * time.Second

func (a *API) getTrial(r *http.Request) (int, any, error) {
	id, err := trialsvc.ParseID(mux.Vars(r)["trial_id"])
	if err != nil {
		return 0, nil, err
	}
	tl, err := a.trials.Timeline(r.Context(), id)
	return http.StatusOK, tl, err
}

func (a *API) getOutcomes(r *http.Request) (int, any, error) {
	id, err := trialsvc.ParseID(mux.Vars(r)["trial_id"])
	if err != nil {
		return 0, nil, err
	}
	o, err := a.trials.Outcomes(r.Context(), id)
	return http.StatusOK, o, err
}

// ownedTrial reads what a delegation change needs: the trial named in the
// path, which the caller must own, and the wait (default
// defaultDelegationWait).
func (a *API) ownedTrial(r *http.Request) (*trials.State, time.Duration, error) {
	caller, err := a.caller(r)
	if err != nil {
		return nil, 0, err
	}
	id, err := trialsvc.ParseID(mux.Vars(r)["trial_id"])
	if err != nil {
		return nil, 0, err
	}
	wait, err := parseWait(r)
	if err != nil {
		return nil, 0, err
	}
	if wait == 0 {
		wait = defaultDelegationWait
	}
	trial, err := a.trials.Owned(r.Context(), caller, id)
	if err != nil {
		return nil, 0, err
	}
	return trial, wait, nil
}

// postDelegate lets the trial's owner delegate: 201 once the
// trial.delegation entry is proven (202 if the wait runs out), or 200 with
// the existing entry if the principal is a delegate already.
func (a *API) postDelegate(r *http.Request) (int, any, error) {
	trial, wait, err := a.ownedTrial(r)
	if err != nil {
		return 0, nil, err
	}
	var req api.TrialDelegate
	if err := decodeJSON(r, 4096, &req); err != nil {
		return 0, nil, err
	}
	d, err := a.trials.Delegate(r.Context(), trial, req.Principal, wait)
	if err != nil {
		return 0, nil, err
	}
	if d.Existing {
		return http.StatusOK, d.Entry, nil
	}
	return submitStatus(d.Submission, wait), d.Entry, nil
}
