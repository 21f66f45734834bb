package trials_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// The trial's state, kept entry by entry, agrees with the trial its whole
// history builds (trials.Load), and a state rebuilt from the entries alone
// (Apply in log order, as trialogd does for an older database) is the same.
func TestStateMatchesHistory(t *testing.T) {
	m := newMemLog()
	const id = "NCT09300030"
	ctx := context.Background()
	m.mustSubmit(t, owner, registration(id))
	v1 := m.mustSubmit(t, owner, version(trials.TypeProtocol, id, "1.0", ""))
	m.mustSubmit(t, owner, version(trials.TypeProtocol, id, "2.0", v1.ID))
	c1 := m.mustSubmit(t, owner, version(trials.TypeConsentForm, id, "1.0", ""))
	m.mustSubmit(t, owner, version(trials.TypeConsentForm, id, "1.1", c1.ID))
	if _, err := m.delegate(id, "pr_site", owner.PrincipalID); err != nil {
		t.Fatal(err)
	}
	m.mustSubmit(t, owner, registration("2025-522008-21-00", id))
	for range 3 {
		m.mustSubmit(t, owner, milestone(id, trials.EventDatabaseLock))
	}

	rebuilt := statement.NewMemState()
	for _, e := range m.entries {
		k, _ := m.reg.Lookup(e.Statement.Type())
		if k.Apply != nil {
			if err := k.Apply(ctx, rebuilt, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	history := m.load(t, id)
	for name, s := range map[string]statement.State{"kept": m.state, "rebuilt": rebuilt} {
		for _, via := range []string{id, "2025-522008-21-00"} {
			st, err := trials.LoadState(ctx, s, via)
			if err != nil {
				t.Fatalf("%s state via %s: %v", name, via, err)
			}
			if st.ID != history.ID || st.Owner != history.Owner || st.First != history.First.ID ||
				!slices.Equal(st.Identifiers, history.Identifiers) || !maps.Equal(st.Delegates, history.Delegates) {
				t.Fatalf("%s state via %s: %+v; history: id %s owner %s identifiers %v delegates %v", name, via, st, history.ID, history.Owner, history.Identifiers, history.Delegates)
			}
			for _, typ := range []string{trials.TypeProtocol, trials.TypeConsentForm} {
				var want []string
				for _, e := range history.Entries {
					if e.Statement.Type() == typ {
						want = append(want, e.ID)
					}
				}
				var got []string
				for _, v := range st.Chain(typ) {
					got = append(got, v.Entry)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s %s chain: %v, want %v", name, typ, got, want)
				}
			}
		}
	}
	if _, err := trials.LoadState(ctx, m.state, "NCT09300031"); err != trials.ErrUnknownTrial {
		t.Fatalf("unknown trial: %v", err)
	}
}
