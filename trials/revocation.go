package trials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/trialog/trialog/statement"
)

// ErrNotDelegate is the refusal of a delegation revocation for a principal
// that is not a delegate of the trial (any more).
var ErrNotDelegate = fmt.Errorf("%w: the principal is not a delegate of this trial", statement.ErrConflict)

// DelegationRevocation is a trial.delegation-revocation statement, logged by
// trialogd with its service key when the trial's owner (RevokedBy) withdraws
// the delegation of Principal. From its leaf on, Principal may no longer
// submit statements for the trial; what it logged before stays.
type DelegationRevocation struct {
	Header
	Principal string `json:"principal"`
	RevokedBy string `json:"revoked_by"`
	// Delegation is the id of the trial.delegation entry withdrawn.
	Delegation string `json:"delegation"`
}

// ParseDelegationRevocation parses a trial.delegation-revocation statement.
func ParseDelegationRevocation(payload []byte) (statement.Statement, error) {
	const t = TypeDelegationRevocation
	var d DelegationRevocation
	if err := decode(t, payload, &d, time.Now()); err != nil {
		return nil, err
	}
	if !principalID.MatchString(d.Principal) || !principalID.MatchString(d.RevokedBy) {
		return nil, statement.Invalidf("%s: principal and revoked_by must be principal ids", t)
	}
	if !statement.IsHexDigest(d.Delegation) {
		return nil, statement.Invalidf("%s: delegation must be the id of the trial.delegation entry", t)
	}
	return &d, nil
}

// checkDelegationRevocation decides a trial.delegation-revocation
// (trialogd's own): revoked_by must be the trial's owner, and the principal
// a current delegate by the named delegation.
func checkDelegationRevocation(ctx context.Context, r statement.State, caller statement.Caller, st statement.Statement) error {
	d := st.(*DelegationRevocation)
	t, err := loadFor(ctx, r, d)
	if err != nil {
		return err
	}
	if d.RevokedBy != t.Owner {
		return fmt.Errorf("%w: %s: only the owner of trial %s may withdraw a delegation", statement.ErrForbidden, TypeDelegationRevocation, t.ID)
	}
	if id, ok := t.Delegates[d.Principal]; !ok || id != d.Delegation {
		return fmt.Errorf("%w: %s is not a delegate of trial %s by delegation %s", ErrNotDelegate, d.Principal, t.ID, d.Delegation)
	}
	return nil
}

// applyDelegationRevocation removes the delegate a revocation by the owner
// names (only those count, as in Build).
func applyDelegationRevocation(ctx context.Context, s statement.State, e statement.Logged) error {
	d := e.Statement.(*DelegationRevocation)
	t, err := LoadState(ctx, s, d.Trial())
	if errors.Is(err, ErrUnknownTrial) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.RevokedBy != t.Owner || t.Delegates[d.Principal] != d.Delegation {
		return nil
	}
	delete(t.Delegates, d.Principal)
	return putState(ctx, s, t)
}

// DelegationRevocationStatement is the payload of the
// trial.delegation-revocation that trialogd logs when owner withdraws
// delegation (an entry id) of trial from principal.
func DelegationRevocationStatement(trial, principal, owner, delegation string, now time.Time) []byte {
	b, _ := json.Marshal(DelegationRevocation{
		Header:     Header{Kind: TypeDelegationRevocation, TrialID: trial, IssuedAt: now.UTC().Format(issuedAtFormat)},
		Principal:  principal,
		RevokedBy:  owner,
		Delegation: delegation,
	})
	return b
}

// issuedAtFormat is the time of trialogd's own trial statements: with
// microseconds, so that delegating, withdrawing and delegating again within
// one second makes three entries, not a resubmission of the first.
const issuedAtFormat = "2006-01-02T15:04:05.000000Z"
