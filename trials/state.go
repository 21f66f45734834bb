package trials

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/trialog/trialog/statement"
)

// State is what the trial Kinds' checks need of a trial, kept by key and
// updated with every entry that changes it (statement.State): a statement's
// check costs the same at the trial's first entry and at its ten
// thousandth.
//
// Keys: "trial:<id>" holds the State of the trial whose canonical id (its
// first registration's trial_id) is id; "trial-alias:<identifier>" holds the
// canonical id for each further identifier its registrations list.
type State struct {
	// ID, Identifiers, Owner and Delegates mean what they mean in Trial.
	ID          string            `json:"id"`
	Identifiers []string          `json:"identifiers"`
	Owner       string            `json:"owner"`
	First       string            `json:"first"` // entry id of the first registration
	Delegates   map[string]string `json:"delegates"`
	// Chains holds the versions of each version chain (by statement type:
	// protocol, SAP, consent form), in log order. The chains are linear,
	// so every version but the last has a successor.
	Chains map[string][]Version `json:"chains,omitempty"`
}

// Version is one logged version of a chain.
type Version struct {
	Version  string `json:"version"`
	Entry    string `json:"entry"`
	Previous string `json:"previous,omitempty"`
	// SHA256 is the document's digest (for consent forms).
	SHA256 string `json:"sha256,omitempty"`
}

// MayWrite reports whether principal may submit trial statements for the
// trial: its owner and its delegates may.
func (t *State) MayWrite(principal string) bool {
	if principal == t.Owner {
		return true
	}
	_, ok := t.Delegates[principal]
	return ok
}

// Chain returns the versions of the chain of statement type typ, in log
// order.
func (t *State) Chain(typ string) []Version { return t.Chains[typ] }

// HasSuccessor reports whether the version logged as entry id has a
// successor in its chain, and the successor.
func (t *State) HasSuccessor(typ, id string) (Version, bool) {
	for _, v := range t.Chains[typ] {
		if v.Previous == id {
			return v, true
		}
	}
	return Version{}, false
}

func stateKey(id string) string { return "trial:" + id }
func aliasKey(id string) string { return "trial-alias:" + id }

// LoadState reads the state of the trial that id (normalised) names, by its
// canonical id or any identifier its registrations list. It returns
// ErrUnknownTrial when no registration lists id.
func LoadState(ctx context.Context, s statement.State, id string) (*State, error) {
	var t State
	ok, err := s.Get(ctx, stateKey(id), &t)
	if err != nil {
		return nil, err
	}
	if ok {
		return &t, nil
	}
	var canonical string
	ok, err = s.Get(ctx, aliasKey(id), &canonical)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrUnknownTrial
	}
	ok, err = s.Get(ctx, stateKey(canonical), &t)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("trial state: identifier %s names trial %s, which has no state", id, canonical)
	}
	return &t, nil
}

func putState(ctx context.Context, s statement.State, t *State) error {
	return s.Put(ctx, stateKey(t.ID), t)
}

// applyRegistration: a first registration creates the trial, owned by its
// submitter; a later one adds identifiers.
func applyRegistration(ctx context.Context, s statement.State, e statement.Logged) error {
	g := e.Statement.(*Registration)
	var t *State
	for _, id := range g.IDs() {
		got, err := LoadState(ctx, s, id)
		if errors.Is(err, ErrUnknownTrial) {
			continue
		}
		if err != nil {
			return err
		}
		t = got
		break
	}
	if t == nil {
		t = &State{ID: g.Trial(), Owner: e.PrincipalID, First: e.ID, Delegates: map[string]string{}}
	}
	for _, id := range g.IDs() {
		if slices.Contains(t.Identifiers, id) {
			continue
		}
		t.Identifiers = append(t.Identifiers, id)
		if id != t.ID {
			if err := s.Put(ctx, aliasKey(id), t.ID); err != nil {
				return err
			}
		}
	}
	return putState(ctx, s, t)
}

// applyDelegation records a delegation made by the owner (only those count,
// as in Build).
func applyDelegation(ctx context.Context, s statement.State, e statement.Logged) error {
	d := e.Statement.(*Delegation)
	t, err := LoadState(ctx, s, d.Trial())
	if errors.Is(err, ErrUnknownTrial) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.DelegatedBy != t.Owner {
		return nil
	}
	if _, dup := t.Delegates[d.Principal]; dup {
		return nil
	}
	if t.Delegates == nil {
		t.Delegates = map[string]string{}
	}
	t.Delegates[d.Principal] = e.ID
	return putState(ctx, s, t)
}

// applyWrite records a version in its chain; other trial statements change
// nothing the checks read.
func applyWrite(ctx context.Context, s statement.State, e statement.Logged) error {
	v, ok := e.Statement.(Versioned)
	if !ok {
		return nil
	}
	t, err := LoadState(ctx, s, v.Trial())
	if errors.Is(err, ErrUnknownTrial) {
		return nil
	}
	if err != nil {
		return err
	}
	version, previous := v.Chain()
	nv := Version{Version: version, Entry: e.ID, Previous: previous}
	if cf, ok := v.(*ConsentForm); ok && cf.Document != nil {
		nv.SHA256 = cf.Document.SHA256
	}
	if t.Chains == nil {
		t.Chains = map[string][]Version{}
	}
	t.Chains[v.Type()] = append(t.Chains[v.Type()], nv)
	return putState(ctx, s, t)
}

// belongs reports whether a logged statement is indexed under one of the
// trial's identifiers (as the entries Trial.Find searches are).
func (t *State) belongs(st statement.Statement) bool {
	if st == nil {
		return false
	}
	for _, r := range st.Refs() {
		for _, id := range t.Identifiers {
			if r == Ref(id) {
				return true
			}
		}
	}
	return false
}
