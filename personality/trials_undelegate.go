package personality

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/personality/api"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// deleteDelegate lets the trial's owner withdraw a delegation: trialogd logs
// a trial.delegation-revocation signed with its service key and answers 200
// with it. From that leaf on the principal's trial statements are refused
// (403); what it logged before stays in the trial. Withdrawing a delegation
// withdrawn before answers that revocation; a principal that was never a
// delegate is 404.
func (t trialRoutes) deleteDelegate(r *http.Request) (int, any, error) {
	ctx := r.Context()
	caller, err := t.a.Caller(r)
	if err != nil {
		return 0, nil, err
	}
	id, err := trialID(r)
	if err != nil {
		return 0, nil, err
	}
	principal := mux.Vars(r)["principal"]
	if !trials.ValidPrincipalID(principal) {
		return 0, nil, errInvalid("principal must be a principal id, such as pr_0123456789abcdef01234567")
	}
	wait, err := parseWait(r)
	if err != nil {
		return 0, nil, err
	}
	if wait == 0 {
		wait = defaultDelegationWait
	}
	for attempt := 0; ; attempt++ {
		trial, err := trials.Load(ctx, t.svc.Reader(), id)
		if errors.Is(err, trials.ErrUnknownTrial) {
			return 0, nil, errNotFound("trial %s is not registered", id)
		}
		if err != nil {
			return 0, nil, err
		}
		if caller.PrincipalID != trial.Owner {
			return 0, nil, errDenied("only the owner of trial %s may withdraw a delegation", id)
		}
		delegation, ok := trial.Delegates[principal]
		if !ok {
			if rev, found := lastRevocation(trial, principal); found {
				e, err := t.svc.existingEntryByHex(ctx, rev, wait)
				return http.StatusOK, api.RevokedKey{Entry: e}, err
			}
			return 0, nil, errNotFound("%s is not a delegate of trial %s", principal, id)
		}
		sub, err := t.svc.SubmitAsService(ctx, trials.DelegationRevocationStatement(trial.ID, principal, trial.Owner, delegation, t.svc.now()), wait)
		if errors.Is(err, trials.ErrNotDelegate) && attempt < 3 {
			continue // withdrawn by another request meanwhile: answer that one
		}
		if err != nil {
			return 0, nil, err
		}
		t.svc.log.Info("trial delegation withdrawn", "trial", trial.ID, "principal", principal, "leaf_index", sub.Entry.LeafIndex)
		return http.StatusOK, api.RevokedKey{Entry: sub.Entry}, nil
	}
}

// lastRevocation returns the id of the last trial.delegation-revocation of
// principal on the trial.
func lastRevocation(t *trials.Trial, principal string) (string, bool) {
	var id string
	for _, e := range t.Entries {
		if d, ok := e.Statement.(*trials.DelegationRevocation); ok && d.Principal == principal && d.RevokedBy == t.Owner {
			id = e.ID
		}
	}
	return id, id != ""
}

// existingEntryByHex answers an entry logged before, by its hex id, waiting
// up to wait for its inclusion.
func (s *Service) existingEntryByHex(ctx context.Context, id string, wait time.Duration) (*Entry, error) {
	raw, err := statement.DecodeHexDigest(id)
	if err != nil {
		return nil, err
	}
	return s.existingEntry(ctx, raw, wait)
}
