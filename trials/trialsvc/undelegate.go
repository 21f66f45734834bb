package trialsvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// ErrNotDelegate is the answer to withdrawing a delegation that was never
// made: the principal is not, and never was, a delegate of the trial.
var ErrNotDelegate = errors.New("not a delegate")

// Undelegate withdraws principal's delegation of trial (owned by the
// caller: see Owned): trialogd logs a trial.delegation-revocation signed
// with its service key. From that leaf on the principal's statements for
// the trial are refused; what it logged before stays. Withdrawing a
// withdrawn delegation answers the first withdrawal (Existing).
func (s *Service) Undelegate(ctx context.Context, trial *trials.State, principal string, wait time.Duration) (*Delegation, error) {
	if !trials.ValidPrincipalID(principal) {
		return nil, statement.Invalidf("principal must be a principal id, such as pr_0123456789abcdef01234567")
	}
	for attempt := 0; ; attempt++ {
		delegation, ok := trial.Delegates[principal]
		if !ok {
			t, err := trials.Load(ctx, s.log.Reader(), trial.ID)
			if err != nil {
				return nil, err
			}
			if rev, found := lastRevocation(t, principal); found {
				return s.existing(ctx, rev, wait)
			}
			return nil, fmt.Errorf("%w: %s is not a delegate of trial %s", ErrNotDelegate, principal, trial.ID)
		}
		sub, err := s.log.SubmitAsService(ctx, trials.DelegationRevocationStatement(trial.ID, principal, trial.Owner, delegation, s.now()), wait)
		if errors.Is(err, trials.ErrNotDelegate) && attempt < 3 {
			// Withdrawn by another request meanwhile: answer that one.
			if trial, err = s.state(ctx, trial.ID); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Delegation{Submission: sub}, nil
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
