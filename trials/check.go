package trials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trialog/trialog/statement"
)

// ErrAlreadyDelegated is the conflict of a delegation that the log already
// holds. The delegation endpoint answers it with the existing entry.
var ErrAlreadyDelegated = fmt.Errorf("%w: the principal is already a delegate of this trial", statement.ErrConflict)

// Register adds the trial statement types to r.
//
// trial.registration may be submitted by sponsors; the other types by a
// principal of any role, which the Kind's check then limits to the trial's
// owner and delegates. trial.delegation is written only by trialogd.
func Register(r *statement.Registry) {
	anyRole := slices.Clone(statement.Roles)
	r.Register(statement.Kind{Name: TypeRegistration, Roles: []statement.Role{statement.RoleSponsor}, Parse: ParseRegistration, Check: checkRegistration, Apply: applyRegistration})
	for _, k := range []struct {
		name  string
		parse func([]byte) (statement.Statement, error)
	}{
		{TypeProtocol, ParseProtocol},
		{TypeSAP, ParseSAP},
		{TypeConsentForm, ParseConsentForm},
		{TypeMilestone, ParseMilestone},
		{TypeDataset, ParseDataset},
		{TypeResults, ParseResults},
		{TypePublication, ParsePublication},
	} {
		r.Register(statement.Kind{Name: k.name, Roles: anyRole, Parse: k.parse, Check: checkWrite, Apply: applyWrite})
	}
	r.Register(statement.Kind{Name: TypeDelegation, Parse: ParseDelegation, Check: checkDelegation, Apply: applyDelegation})
	r.Register(statement.Kind{Name: TypeDelegationRevocation, Parse: ParseDelegationRevocation, Check: checkDelegationRevocation, Apply: applyDelegationRevocation})
}

// checkRegistration decides a trial.registration. A registration whose
// identifiers no trial holds creates a trial, owned by the caller. One that
// names a registered trial is a registry update: only the trial's owner and
// delegates may log it (anyone else: 409, the trial is someone else's), and
// it must list every identifier the trial already has (400). Identifiers of
// two different trials in one registration are a conflict (409).
func checkRegistration(ctx context.Context, r statement.State, caller statement.Caller, st statement.Statement) error {
	g := st.(*Registration)
	var existing *State
	var via string
	for _, id := range g.IDs() {
		t, err := LoadState(ctx, r, id)
		if errors.Is(err, ErrUnknownTrial) {
			continue
		}
		if err != nil {
			return err
		}
		if existing == nil {
			existing, via = t, id
			continue
		}
		if t.First != existing.First {
			return fmt.Errorf("%w: %s: %s and %s are identifiers of two different trials (registered in entries %s and %s)",
				statement.ErrConflict, TypeRegistration, via, id, existing.First, t.First)
		}
	}
	if existing == nil {
		return nil
	}
	if !existing.MayWrite(caller.PrincipalID) {
		return fmt.Errorf("%w: %s: trial %s is already registered by another principal (entry %s); only its owner and delegates may update its registration",
			statement.ErrConflict, TypeRegistration, via, existing.First)
	}
	var missing []string
	for _, id := range existing.Identifiers {
		if !slices.Contains(g.IDs(), id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return statement.Invalidf("%s: identifiers may be added, never removed: this registration leaves out %s; list them in trial_id or identifiers",
			TypeRegistration, strings.Join(missing, ", "))
	}
	return nil
}

// loadFor reads the trial a statement names; an unregistered trial is a
// 400, since the statement cannot be logged until the registration is.
func loadFor(ctx context.Context, r statement.State, st Statement) (*State, error) {
	t, err := LoadState(ctx, r, st.Trial())
	if errors.Is(err, ErrUnknownTrial) {
		return nil, statement.Invalidf("%s: trial %s is not registered; its sponsor must log a %s first",
			st.Type(), st.Trial(), TypeRegistration)
	}
	return t, err
}

// checkWrite decides every trial statement but registrations and
// delegations: the trial must be registered (else 400), the caller must be
// its owner or a delegate (else 403), and versions must extend their chain
// without forking it.
func checkWrite(ctx context.Context, r statement.State, caller statement.Caller, st statement.Statement) error {
	ts := st.(Statement)
	t, err := loadFor(ctx, r, ts)
	if err != nil {
		return err
	}
	if !t.MayWrite(caller.PrincipalID) {
		return fmt.Errorf("%w: %s is neither the owner of trial %s nor one of its delegates; the owner can delegate with POST /v1/trials/%s/delegates",
			statement.ErrForbidden, caller.PrincipalID, ts.Trial(), t.ID)
	}
	if v, ok := st.(Versioned); ok {
		return checkChain(ctx, r, t, v)
	}
	return nil
}

// checkChain enforces one linear chain of versions per kind and trial: the
// first version has no previous; every later one names an earlier version of
// the same kind and trial that has no successor yet; version labels are not
// reused.
func checkChain(ctx context.Context, r statement.State, t *State, v Versioned) error {
	typ := v.Type()
	version, previous := v.Chain()
	chain := t.Chain(typ)
	for _, e := range chain {
		if e.Version == version {
			return fmt.Errorf("%w: %s: version %q of trial %s is already logged (entry %s); give the new version its own label",
				statement.ErrConflict, typ, version, t.ID, e.Entry)
		}
	}
	if previous == "" {
		if len(chain) > 0 {
			last := chain[len(chain)-1]
			return fmt.Errorf("%w: %s: trial %s already has a first version (entry %s); a new version must name the version it replaces in previous (the latest is %q, entry %s)",
				statement.ErrConflict, typ, t.ID, chain[0].Entry, last.Version, last.Entry)
		}
		return nil
	}
	if !slices.ContainsFunc(chain, func(e Version) bool { return e.Entry == previous }) {
		e, err := r.Entry(ctx, previous)
		if err != nil && !errors.Is(err, statement.ErrNoEntry) {
			return err
		}
		if err == nil && t.belongs(e.Statement) {
			return statement.Invalidf("%s: previous %s is a %s entry, not a %s", typ, previous, e.Statement.Type(), typ)
		}
		return statement.Invalidf("%s: previous %s is not a %s entry of trial %s", typ, previous, typ, t.ID)
	}
	if s, ok := t.HasSuccessor(typ, previous); ok {
		return fmt.Errorf("%w: %s: entry %s already has a successor, version %q (entry %s); a second one would fork the chain: name the latest version in previous",
			statement.ErrConflict, typ, previous, s.Version, s.Entry)
	}
	return nil
}

// checkDelegation decides a trial.delegation (trialogd's own): the trial
// must be registered, delegated_by must be its owner, and the principal must
// be neither the owner nor already a delegate.
func checkDelegation(ctx context.Context, r statement.State, caller statement.Caller, st statement.Statement) error {
	d := st.(*Delegation)
	t, err := loadFor(ctx, r, d)
	if err != nil {
		return err
	}
	if d.DelegatedBy != t.Owner {
		return fmt.Errorf("%w: %s: only the owner of trial %s may delegate", statement.ErrForbidden, TypeDelegation, t.ID)
	}
	if d.Principal == t.Owner {
		return statement.Invalidf("%s: %s owns trial %s already", TypeDelegation, d.Principal, t.ID)
	}
	if id, ok := t.Delegates[d.Principal]; ok {
		return fmt.Errorf("%w (entry %s)", ErrAlreadyDelegated, id)
	}
	return nil
}

// DelegationStatement is the payload of the trial.delegation that trialogd
// logs when owner delegates trial to principal.
func DelegationStatement(trial, principal, owner string, now time.Time) []byte {
	b, _ := json.Marshal(Delegation{
		Header:      Header{Kind: TypeDelegation, TrialID: trial, IssuedAt: now.UTC().Format(issuedAtFormat)},
		Principal:   principal,
		DelegatedBy: owner,
	})
	return b
}

// ValidPrincipalID reports whether s has the form of a principal id.
func ValidPrincipalID(s string) bool { return principalID.MatchString(s) }
