// Package trials defines trialog's clinical-trial statements and what the log
// makes of them: who may write for a trial, version chains of protocols,
// analysis plans and consent forms, and the outcome report that compares
// pre-specified with reported outcomes.
//
// Everything here is computed from log entries (statement.Logged) and
// nothing else: no HTTP, no SQL. The Kinds' checks read the trial's State,
// kept by key and locked for the append (see statement.State), so that two
// registrations of one trial, or two successors of one protocol version,
// cannot both be logged; timelines and reports read the history (Load).
// trials/trialsvc serves the timeline and the report to personality.
package trials

import (
	"context"
	"errors"
	"slices"
	"sort"

	"github.com/trialog/trialog/statement"
)

// ErrUnknownTrial means no trial.registration in the log lists the
// identifier.
var ErrUnknownTrial = errors.New("trial is not registered")

// Trial is a trial as its log entries define it.
type Trial struct {
	// ID is the normalised trial_id of the first registration.
	ID string
	// Identifiers lists every identifier the trial's registrations name,
	// normalised, in the order they were first registered; ID is first.
	Identifiers []string
	// Owner is the principal that logged the first registration.
	Owner string
	// First is the first registration.
	First statement.Logged
	// Delegates maps each delegated principal to its trial.delegation
	// entry id.
	Delegates map[string]string
	// Entries are all entries of the trial in log order, of any type.
	Entries []statement.Logged
}

// MayWrite reports whether principal may submit trial statements for the
// trial: its owner and its delegates may.
func (t *Trial) MayWrite(principal string) bool {
	if principal == t.Owner {
		return true
	}
	_, ok := t.Delegates[principal]
	return ok
}

// Refs are the index references under which the trial's entries are found:
// one per identifier.
func (t *Trial) Refs() []string {
	refs := make([]string, len(t.Identifiers))
	for i, id := range t.Identifiers {
		refs[i] = Ref(id)
	}
	return refs
}

// Build makes the trial out of its entries, which must be in log order
// without duplicates; entries of other types are kept in Entries and
// otherwise ignored. It returns ErrUnknownTrial when there is no
// registration among them. PrincipalID may be empty (a verifier that
// recomputes a report from a timeline does not know it); Owner, Delegates
// and MayWrite then mean nothing, but Compute does not use them.
func Build(entries []statement.Logged) (*Trial, error) {
	t := &Trial{Delegates: map[string]string{}, Entries: entries}
	registered := false
	for _, e := range entries {
		g, ok := e.Statement.(*Registration)
		if !ok {
			continue
		}
		if !registered {
			registered = true
			t.ID, t.Owner, t.First = g.Trial(), e.PrincipalID, e
		}
		for _, id := range g.IDs() {
			if !slices.Contains(t.Identifiers, id) {
				t.Identifiers = append(t.Identifiers, id)
			}
		}
	}
	if !registered {
		return nil, ErrUnknownTrial
	}
	for _, e := range entries {
		// Only trialogd logs delegations and their revocations (the Kinds
		// have no roles), and its checks accepted only those made by the
		// owner; one naming anyone else as its maker is ignored all the
		// same. In log order: a revocation ends the delegation before it,
		// and a later delegation starts a new one.
		switch d := e.Statement.(type) {
		case *Delegation:
			if d.DelegatedBy != t.Owner {
				continue
			}
			if _, dup := t.Delegates[d.Principal]; !dup {
				t.Delegates[d.Principal] = e.ID
			}
		case *DelegationRevocation:
			if d.RevokedBy == t.Owner {
				delete(t.Delegates, d.Principal)
			}
		}
	}
	return t, nil
}

// Load reads the trial that id (normalised) names from r: every entry under
// the identifier, then under every identifier its registrations list, until
// no new one turns up. It returns ErrUnknownTrial when no registration lists
// id.
func Load(ctx context.Context, r statement.Reader, id string) (*Trial, error) {
	entries, err := collect(ctx, r, id)
	if err != nil {
		return nil, err
	}
	return Build(entries)
}

// collect gathers the entries of the trial id names, in log order.
func collect(ctx context.Context, r statement.Reader, id string) ([]statement.Logged, error) {
	queue := []string{id}
	seenID := map[string]bool{id: true}
	seen := map[int64]bool{}
	var out []statement.Logged
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		es, err := r.EntriesByRef(ctx, Ref(next))
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if seen[e.LeafIndex] {
				continue
			}
			seen[e.LeafIndex] = true
			out = append(out, e)
			if g, ok := e.Statement.(*Registration); ok {
				for _, other := range g.IDs() {
					if !seenID[other] {
						seenID[other] = true
						queue = append(queue, other)
					}
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LeafIndex < out[j].LeafIndex })
	return out, nil
}

// Find returns the trial's entry with this id.
func (t *Trial) Find(id string) (statement.Logged, bool) {
	for _, e := range t.Entries {
		if e.ID == id {
			return e, true
		}
	}
	return statement.Logged{}, false
}
