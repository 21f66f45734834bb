package trials_test

import (
	"errors"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

func (m *memLog) undelegate(trial, principal, owner, delegation string) (statement.Logged, error) {
	return m.submit(service, trials.DelegationRevocationStatement(trial, principal, owner, delegation, time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC)))
}

// TestDelegationRevocation: a withdrawn delegate may no longer write for the
// trial, what it wrote before stays, only the owner withdraws, only a
// current delegation, and a new delegation starts afresh.
func TestDelegationRevocation(t *testing.T) {
	m := newMemLog()
	const id = "NCT09300011"
	m.mustSubmit(t, owner, registration(id))
	d1 := mustDelegate(t, m, id, site.PrincipalID)
	before := m.mustSubmit(t, site, milestone(id, "first_participant_in"))

	_, err := m.undelegate(id, site.PrincipalID, other.PrincipalID, d1.ID)
	wantErr(t, err, statement.ErrForbidden, "only the owner")
	_, err = m.undelegate(id, cro.PrincipalID, owner.PrincipalID, d1.ID)
	if !errors.Is(err, trials.ErrNotDelegate) {
		t.Fatalf("withdrawing a non-delegate: %v", err)
	}
	_, err = m.submit(owner, trials.DelegationRevocationStatement(id, site.PrincipalID, owner.PrincipalID, d1.ID, timeZero))
	wantErr(t, err, statement.ErrForbidden, "may not submit trial.delegation-revocation")

	if _, err := m.undelegate(id, site.PrincipalID, owner.PrincipalID, d1.ID); err != nil {
		t.Fatal(err)
	}
	_, err = m.submit(site, milestone(id, "database_lock"))
	wantErr(t, err, statement.ErrForbidden, "neither the owner")
	tr := m.load(t, id)
	if tr.MayWrite(site.PrincipalID) || len(tr.Delegates) != 0 {
		t.Fatalf("delegates after the revocation: %v", tr.Delegates)
	}
	if _, ok := tr.Find(before.ID); !ok {
		t.Fatal("the delegate's earlier entry left the trial")
	}
	// Withdrawn twice: the second finds no current delegation.
	_, err = m.undelegate(id, site.PrincipalID, owner.PrincipalID, d1.ID)
	if !errors.Is(err, trials.ErrNotDelegate) {
		t.Fatalf("second withdrawal: %v", err)
	}
	// Delegated again: a new delegation, which a revocation of the old one
	// does not end.
	d2, err := m.submit(service, trials.DelegationStatement(id, site.PrincipalID, owner.PrincipalID, time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC)))
	if err != nil {
		t.Fatal(err)
	}
	m.mustSubmit(t, site, milestone(id, "database_lock"))
	_, err = m.undelegate(id, site.PrincipalID, owner.PrincipalID, d1.ID)
	if !errors.Is(err, trials.ErrNotDelegate) {
		t.Fatalf("withdrawing an ended delegation: %v", err)
	}
	if tr := m.load(t, id); tr.Delegates[site.PrincipalID] != d2.ID {
		t.Fatalf("delegates = %v", tr.Delegates)
	}
}

func FuzzParseDelegationRevocation(f *testing.F) {
	f.Add(trials.DelegationRevocationStatement("NCT09300011", "pr_0123456789abcdef01234567", "pr_0123456789abcdef01234568", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", timeZero))
	f.Add([]byte(`{"type":"trial.delegation-revocation","trial_id":"NCT09300011","principal":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := trials.ParseDelegationRevocation(b)
		if err != nil {
			return
		}
		d := st.(*trials.DelegationRevocation)
		if !trials.ValidPrincipalID(d.Principal) || !trials.ValidPrincipalID(d.RevokedBy) || !statement.IsHexDigest(d.Delegation) {
			t.Fatalf("accepted %+v", d)
		}
	})
}
