// Package consent defines trialog's pseudonymous consent ledger: the
// consent.grant and consent.withdraw statements that sites log for a trial's
// subjects, the consent.access and consent.erasure statements that trialogd
// logs itself, what a subject's consent is at a point of the log (status,
// scope per purpose, re-consent), and the mapping to and from FHIR R4
// Consent resources.
//
// A subject is a random reference ("sub_" and 32 hex digits) minted per
// trial; nothing here is derived from a patient's identifiers, and nothing
// here knows the patient's secret: the link from secret to subject is kept
// off the log, by personality and storage (docs/privacy.md).
//
// Everything is computed from log entries (statement.Logged) and the small
// Subjects interface; no HTTP, no SQL.
package consent

import (
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// The consent statement types.
const (
	// TypeGrant records a subject's consent on a consent-form version, with
	// a decision per purpose. Signed by a site delegated on the trial.
	TypeGrant = "consent.grant"
	// TypeWithdraw records a withdrawal of all or some purposes. Signed by
	// a site delegated on the trial.
	TypeWithdraw = "consent.withdraw"
	// TypeAccess records a data user's consent check and its answer.
	// Written only by trialogd, signed with its service key.
	TypeAccess = "consent.access"
	// TypeErasure records that the link between a patient and a subject
	// was destroyed. Written only by trialogd, signed with its service key.
	TypeErasure = "consent.erasure"
)

// Decisions of a scope item, an access check.
const (
	Permit = "permit"
	Deny   = "deny"
)

// Limits on the statements' fields.
const (
	maxVersion  = 64
	maxPurposes = 50
	maxEvidence = 1000
)

var (
	subjectRef = regexp.MustCompile(`^sub_[0-9a-f]{32}$`)
	purposeRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	principal  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	entryIDRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidSubject reports whether s has the form of a subject reference.
func ValidSubject(s string) bool { return subjectRef.MatchString(s) }

// ValidPurpose reports whether s has the form of a purpose.
func ValidPurpose(s string) bool { return purposeRE.MatchString(s) }

// Ref is the index reference of a trial's grants, withdrawals and erasures.
func Ref(trial string) string { return "consent:" + trial }

// AccessRef is the index reference of a trial's consent.access entries.
func AccessRef(trial string) string { return "consent-access:" + trial }

// SubjectRef is the index reference of every entry about a subject (consent
// statements, and record.digest entries that name it).
func SubjectRef(subject string) string { return "subject:" + subject }

// Statement is a consent statement: every one names a trial and a subject.
type Statement interface {
	statement.Statement
	// Trial is the normalised trial_id.
	Trial() string
	// SubjectID is the subject reference.
	SubjectID() string
}

// Header holds the fields every consent statement has.
type Header struct {
	Kind     string `json:"type"`
	TrialID  string `json:"trial_id"`
	Subject  string `json:"subject"`
	IssuedAt string `json:"issued_at"`

	trial string // TrialID normalised
}

// Type implements statement.Statement.
func (h *Header) Type() string { return h.Kind }

// Trial is the normalised trial_id.
func (h *Header) Trial() string { return h.trial }

// SubjectID is the subject reference.
func (h *Header) SubjectID() string { return h.Subject }

// Refs indexes the entry under its trial's consent and its subject. Never
// under trials.Ref: consent events are not part of a trial's public
// timeline.
func (h *Header) Refs() []string { return []string{Ref(h.trial), SubjectRef(h.Subject)} }

func (h *Header) check(typ string) error {
	if h.Kind != typ {
		return statement.Invalidf("type must be %q", typ)
	}
	id, err := trials.NormalizeID(typ+": trial_id", h.TrialID)
	if err != nil {
		return err
	}
	h.trial = id
	if h.Subject == "" {
		return statement.Invalidf("%s: subject is required", typ)
	}
	// POLICY: HIPAA §164.514(c) — only a minted random reference is taken,
	// so that no record number, name or hash of one can be logged here.
	if !subjectRef.MatchString(h.Subject) {
		return statement.Invalidf("%s: subject must be a subject reference minted by POST /v1/consent/subjects (sub_ and 32 hex digits)", typ)
	}
	if _, err := statement.ParseTime(typ+": issued_at", h.IssuedAt); err != nil {
		return err
	}
	return nil
}

// Form names a consent-form version logged for the trial
// (trial.consent-form) and its document's digest.
type Form struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// Scope is the decision on one purpose (defined in api).
type Scope = api.Scope

// Period limits a grant in time; either end may be open.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// Grant is a consent.grant statement. A grant replaces the subject's whole
// scope: purposes it does not list are denied.
type Grant struct {
	Header
	Form   Form    `json:"form"`
	Scope  []Scope `json:"scope"`
	Period *Period `json:"period,omitempty"`
}

// Withdraw is a consent.withdraw statement: of the listed purposes, or of
// all when Purposes is empty.
type Withdraw struct {
	Header
	Purposes []string `json:"purposes,omitempty"`
}

// Access is a consent.access statement: a data user asked whether it may use
// the subject's data for a purpose, and trialogd answered Decision, from the
// Evidence entries.
type Access struct {
	Header
	Accessor string   `json:"accessor"`
	Purpose  string   `json:"purpose"`
	Decision string   `json:"decision"`
	Evidence []string `json:"evidence"`
}

// Refs indexes an access record under the subject and the trial's access
// log, apart from the consent events.
func (a *Access) Refs() []string { return []string{AccessRef(a.trial), SubjectRef(a.Subject)} }

// Erasure is a consent.erasure statement. It names only the trial, the
// subject reference and the time: the patient's secret, and whoever asked,
// stay off the log.
type Erasure struct {
	Header
}

// ParseGrant parses a consent.grant statement.
func ParseGrant(payload []byte) (statement.Statement, error) {
	var g Grant
	if err := statement.Decode(TypeGrant, payload, &g); err != nil {
		return nil, err
	}
	if err := g.validate(); err != nil {
		return nil, err
	}
	return &g, nil
}

func (g *Grant) validate() error {
	const t = TypeGrant
	if err := g.Header.check(t); err != nil {
		return err
	}
	if g.Form.Version == "" {
		return statement.Invalidf("%s: form.version is required", t)
	}
	if !printable(g.Form.Version, maxVersion) {
		return statement.Invalidf("%s: form.version must be at most %d bytes of printable text", t, maxVersion)
	}
	if err := statement.RefuseEmail(t+": form.version", g.Form.Version); err != nil {
		return err
	}
	if !statement.IsHexDigest(g.Form.SHA256) {
		return statement.Invalidf("%s: form.sha256 must be 64 lowercase hex digits", t)
	}
	if len(g.Scope) == 0 {
		return statement.Invalidf("%s: scope is required: at least one purpose with a decision", t)
	}
	if len(g.Scope) > maxPurposes {
		return statement.Invalidf("%s: scope: at most %d purposes", t, maxPurposes)
	}
	seen := map[string]bool{}
	for i, s := range g.Scope {
		if !purposeRE.MatchString(s.Purpose) {
			return statement.Invalidf("%s: scope[%d].purpose must be 1 to 64 lowercase letters, digits, '.', '_' or '-', such as primary-analysis", t, i)
		}
		if seen[s.Purpose] {
			return statement.Invalidf("%s: scope[%d]: purpose %q is listed twice", t, i, s.Purpose)
		}
		seen[s.Purpose] = true
		if s.Decision != Permit && s.Decision != Deny {
			return statement.Invalidf("%s: scope[%d].decision must be permit or deny", t, i)
		}
	}
	if p := g.Period; p != nil {
		if p.Start == "" && p.End == "" {
			return statement.Invalidf("%s: period needs a start, an end or both", t)
		}
		var start, end = p.Start, p.End
		if start != "" {
			if _, err := statement.ParseTime(t+": period.start", start); err != nil {
				return err
			}
		}
		if end != "" {
			e, err := statement.ParseTime(t+": period.end", end)
			if err != nil {
				return err
			}
			if start != "" {
				s, _ := statement.ParseTime("", start)
				if !s.Before(e) {
					return statement.Invalidf("%s: period.start must be before period.end", t)
				}
			}
		}
	}
	return nil
}

// ParseWithdraw parses a consent.withdraw statement.
func ParseWithdraw(payload []byte) (statement.Statement, error) {
	var w Withdraw
	if err := statement.Decode(TypeWithdraw, payload, &w); err != nil {
		return nil, err
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	return &w, nil
}

func (w *Withdraw) validate() error {
	const t = TypeWithdraw
	if err := w.Header.check(t); err != nil {
		return err
	}
	if w.Purposes != nil && len(w.Purposes) == 0 {
		return statement.Invalidf("%s: purposes, when given, lists at least one purpose; leave it out to withdraw all", t)
	}
	if len(w.Purposes) > maxPurposes {
		return statement.Invalidf("%s: purposes: at most %d", t, maxPurposes)
	}
	for i, p := range w.Purposes {
		if !purposeRE.MatchString(p) {
			return statement.Invalidf("%s: purposes[%d] must be 1 to 64 lowercase letters, digits, '.', '_' or '-'", t, i)
		}
		if slices.Contains(w.Purposes[:i], p) {
			return statement.Invalidf("%s: purposes[%d]: %q is listed twice", t, i, p)
		}
	}
	return nil
}

// All reports whether the withdrawal is of every purpose.
func (w *Withdraw) All() bool { return len(w.Purposes) == 0 }

// ParseAccess parses a consent.access statement.
func ParseAccess(payload []byte) (statement.Statement, error) {
	const t = TypeAccess
	var a Access
	if err := statement.Decode(t, payload, &a); err != nil {
		return nil, err
	}
	if err := a.Header.check(t); err != nil {
		return nil, err
	}
	if !principal.MatchString(a.Accessor) {
		return nil, statement.Invalidf("%s: accessor must be a principal id", t)
	}
	if !purposeRE.MatchString(a.Purpose) {
		return nil, statement.Invalidf("%s: purpose must be 1 to 64 lowercase letters, digits, '.', '_' or '-'", t)
	}
	if a.Decision != Permit && a.Decision != Deny {
		return nil, statement.Invalidf("%s: decision must be permit or deny", t)
	}
	if a.Evidence == nil {
		return nil, statement.Invalidf("%s: evidence is required (an empty list when nothing is logged)", t)
	}
	if len(a.Evidence) > maxEvidence {
		return nil, statement.Invalidf("%s: evidence: at most %d entries", t, maxEvidence)
	}
	for i, id := range a.Evidence {
		if !entryIDRE.MatchString(id) {
			return nil, statement.Invalidf("%s: evidence[%d] must be an entry id (64 lowercase hex digits)", t, i)
		}
	}
	return &a, nil
}

// ParseErasure parses a consent.erasure statement.
func ParseErasure(payload []byte) (statement.Statement, error) {
	var e Erasure
	if err := statement.Decode(TypeErasure, payload, &e); err != nil {
		return nil, err
	}
	if err := e.Header.check(TypeErasure); err != nil {
		return nil, err
	}
	return &e, nil
}

func printable(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// header returns st's consent header, or nil for another statement.
func header(st statement.Statement) *Header {
	switch s := st.(type) {
	case *Grant:
		return &s.Header
	case *Withdraw:
		return &s.Header
	case *Access:
		return &s.Header
	case *Erasure:
		return &s.Header
	}
	return nil
}
