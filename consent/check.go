package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// ErrUnknownSubject means no subject with this reference was ever minted.
var ErrUnknownSubject = errors.New("unknown subject")

// Subject is what trialog keeps off the log about a minted subject: the trial
// it was minted for and whether it was erased. The patient's secret is not
// part of it.
type Subject struct {
	Ref    string
	Trial  string
	Erased bool
}

// Subjects reads the minted subjects. Lookups must see every subject whose
// minting has returned, and every erasure that has returned.
type Subjects interface {
	// Subject returns the subject with this reference, or an error
	// wrapping ErrUnknownSubject.
	Subject(ctx context.Context, ref string) (*Subject, error)
}

// Register adds the consent statement types to r: grants and withdrawals
// from sites, access and erasure records from trialogd alone, and the FHIR R4
// Consent form of grants and withdrawals (payloadType FHIRPayloadType).
// subjects is asked, under the append lock, whether a statement's subject
// was minted for its trial and is not erased.
func Register(r *statement.Registry, subjects Subjects) {
	c := checker{subjects: subjects}
	site := []statement.Role{statement.RoleSite}
	r.Register(statement.Kind{Name: TypeGrant, Roles: site, Parse: ParseGrant, Check: c.checkEvent, Apply: applyEvent})
	r.Register(statement.Kind{Name: TypeWithdraw, Roles: site, Parse: ParseWithdraw, Check: c.checkEvent, Apply: applyEvent})
	r.Register(statement.Kind{Name: TypeAccess, Parse: ParseAccess, Check: c.checkAccess, Apply: applyAccess})
	r.Register(statement.Kind{Name: TypeErasure, Parse: ParseErasure, Check: c.checkErasure, Apply: applyEvent})
	r.RegisterFormat(statement.Format{PayloadType: FHIRPayloadType, Type: FHIRType, Parse: ParseFHIR})
}

type checker struct {
	subjects Subjects
}

// subject checks that st's subject was minted for trial (the trial's
// canonical id, trials.Trial.ID) and, unless erasedOK, is not erased. An
// unknown or erased subject is a 400: the statement cannot be logged.
func (c checker) subject(ctx context.Context, st Statement, trial string, erasedOK bool) error {
	s, err := c.subjects.Subject(ctx, st.SubjectID())
	if errors.Is(err, ErrUnknownSubject) {
		return statement.Invalidf("%s: subject %s is not known: a site mints subjects with POST /v1/consent/subjects", st.Type(), st.SubjectID())
	}
	if err != nil {
		return err
	}
	if s.Trial != trial {
		return statement.Invalidf("%s: subject %s was not minted for trial %s", st.Type(), st.SubjectID(), st.Trial())
	}
	if s.Erased && !erasedOK {
		return statement.Invalidf("%s: subject %s was erased; nothing more can be logged for it", st.Type(), st.SubjectID())
	}
	return nil
}

// checkEvent decides a grant or withdrawal: the subject must be a live
// subject of the trial (400), the caller a site delegated on the trial (403),
// and a grant's form a consent-form version logged for the trial (400) that
// no later version has replaced (409).
func (c checker) checkEvent(ctx context.Context, r statement.State, caller statement.Caller, st statement.Statement) error {
	cs := st.(Statement)
	t, err := trials.LoadState(ctx, r, cs.Trial())
	if errors.Is(err, trials.ErrUnknownTrial) {
		return statement.Invalidf("%s: trial %s is not registered", cs.Type(), cs.Trial())
	}
	if err != nil {
		return err
	}
	if _, ok := t.Delegates[caller.PrincipalID]; !ok {
		return fmt.Errorf("%w: %s is not a site delegated on trial %s; the trial's owner delegates with POST /v1/trials/%s/delegates",
			statement.ErrForbidden, caller.PrincipalID, t.ID, t.ID)
	}
	if err := c.subject(ctx, cs, t.ID, false); err != nil {
		return err
	}
	// The subject's row is locked with the trial's: events of one subject
	// take turns.
	if _, err := LoadSubject(ctx, r, cs.SubjectID()); err != nil {
		return err
	}
	g, ok := st.(*Grant)
	if !ok {
		return nil
	}
	forms := t.Chain(trials.TypeConsentForm)
	for _, f := range forms {
		if f.Version == g.Form.Version {
			if f.SHA256 != g.Form.SHA256 {
				return statement.Invalidf("%s: form.sha256 is not the digest of consent-form version %q of trial %s (entry %s)", TypeGrant, f.Version, t.ID, f.Entry)
			}
			if next, ok := t.HasSuccessor(trials.TypeConsentForm, f.Entry); ok {
				return fmt.Errorf("%w: %s: consent-form version %q of trial %s was replaced by version %q (entry %s); grant consent on the current version",
					statement.ErrConflict, TypeGrant, f.Version, t.ID, next.Version, next.Entry)
			}
			return nil
		}
	}
	if len(forms) == 0 {
		return statement.Invalidf("%s: trial %s has no consent-form version logged; its sponsor logs a %s first", TypeGrant, t.ID, trials.TypeConsentForm)
	}
	var vs []string
	for _, f := range forms {
		vs = append(vs, fmt.Sprintf("%q", f.Version))
	}
	return statement.Invalidf("%s: form.version %q is not a consent-form version of trial %s (logged: %s)", TypeGrant, g.Form.Version, t.ID, strings.Join(vs, ", "))
}

// checkAccess decides trialogd's own consent.access: the subject must be a
// live subject of the trial, and the decision and evidence must be what the
// subject's state says at the access entry's place in the log. A consent
// event logged between the answer's computation and the append makes it a
// conflict, which the caller retries; so an access record never contradicts
// the entries before it.
func (c checker) checkAccess(ctx context.Context, r statement.State, _ statement.Caller, st statement.Statement) error {
	a := st.(*Access)
	if err := c.subject(ctx, a, a.trial, false); err != nil {
		return err
	}
	s, err := LoadSubject(ctx, r, a.Subject)
	if err != nil {
		return err
	}
	at, _ := statement.ParseTime("", a.IssuedAt)
	decision, evidence := Decide(s.Consent("", at), a.Purpose)
	if decision != a.Decision || strings.Join(evidence, ",") != strings.Join(a.Evidence, ",") {
		return fmt.Errorf("%w: %s: the consent of subject %s changed while the check was answered; retry", statement.ErrConflict, TypeAccess, a.Subject)
	}
	return nil
}

// checkErasure decides trialogd's own consent.erasure: the subject must have
// been minted for the trial; it is erased already (the link goes first).
func (c checker) checkErasure(ctx context.Context, _ statement.State, _ statement.Caller, st statement.Statement) error {
	e := st.(*Erasure)
	return c.subject(ctx, e, e.trial, true)
}

// FormVersion is a consent-form version logged for a trial.
type FormVersion struct {
	Version string
	SHA256  string
	EntryID string
}

// Forms lists the trial's consent-form versions in log order; the last is
// the current one (the versions form one chain, trials.checkChain).
func Forms(t *trials.Trial) []FormVersion {
	var out []FormVersion
	for _, e := range t.Entries {
		if cf, ok := e.Statement.(*trials.ConsentForm); ok && cf.Document != nil {
			out = append(out, FormVersion{Version: cf.Version, SHA256: cf.Document.SHA256, EntryID: e.ID})
		}
	}
	return out
}

// AccessStatement is the payload of the consent.access that trialogd logs
// when accessor checks purpose for subject.
func AccessStatement(trial, subject, accessor, purpose, decision string, evidence []string, at time.Time) *Access {
	if evidence == nil {
		evidence = []string{}
	}
	return &Access{
		Header:   Header{Kind: TypeAccess, TrialID: trial, Subject: subject, IssuedAt: at.UTC().Format(time.RFC3339Nano), trial: trial},
		Accessor: accessor, Purpose: purpose, Decision: decision, Evidence: evidence,
	}
}

// ErasureStatement is the payload of the consent.erasure that trialogd logs
// when subject is erased at at.
func ErasureStatement(trial, subject string, at time.Time) *Erasure {
	return &Erasure{Header{Kind: TypeErasure, TrialID: trial, Subject: subject, IssuedAt: at.UTC().Format(time.RFC3339Nano), trial: trial}}
}
