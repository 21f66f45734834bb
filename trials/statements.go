package trials

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/statement"
)

// The trial statement types.
const (
	TypeRegistration = "trial.registration"
	TypeProtocol     = "trial.protocol"
	TypeSAP          = "trial.sap"
	TypeConsentForm  = "trial.consent-form"
	TypeMilestone    = "trial.milestone"
	TypeDataset      = "trial.dataset"
	TypeResults      = "trial.results"
	TypePublication  = "trial.publication"
	// TypeDelegation is written only by trialogd, signed with its service
	// key, when a trial's owner delegates (POST /v1/trials/{id}/delegates).
	TypeDelegation = "trial.delegation"
	// TypeDelegationRevocation is written only by trialogd, signed with its
	// service key, when a trial's owner withdraws a delegation (DELETE
	// /v1/trials/{id}/delegates/{principal}).
	TypeDelegationRevocation = "trial.delegation-revocation"
)

// Milestone events.
const (
	EventFirstParticipantIn = "first_participant_in"
	EventDatabaseLock       = "database_lock"
	EventUnblinding         = "unblinding"
	EventLastParticipantOut = "last_participant_out"
)

// Dataset locks.
const (
	LockInterim = "interim"
	LockFinal   = "final"
)

// Outcome kinds.
const (
	KindPrimary   = "primary"
	KindSecondary = "secondary"
)

// Limits on the statements' fields, in bytes or items.
const (
	maxTitle       = 1000
	maxMeasure     = 1000
	maxTimeFrame   = 200
	maxVersion     = 64
	maxReason      = 2000
	maxApprovalRef = 200
	maxName        = 200
	maxPath        = 1024
	maxDOI         = 300
	maxDeclared    = 300
	maxOutcomes    = 200
	maxIdentifiers = 20
	maxFiles       = 10000
)

var (
	outcomeID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	principalID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	doi         = regexp.MustCompile(`^10\.[0-9]{4,9}/[\x21-\x7e]+$`)
)

// Statement is a trial statement: every one names the trial it is about.
type Statement interface {
	statement.Statement
	// Trial is the normalised trial_id.
	Trial() string
}

// Header holds the fields every trial statement has.
type Header struct {
	Kind     string `json:"type"`
	TrialID  string `json:"trial_id"`
	IssuedAt string `json:"issued_at"`

	trial string // TrialID normalised
}

// Type implements statement.Statement.
func (h *Header) Type() string { return h.Kind }

// Trial is the normalised trial_id.
func (h *Header) Trial() string { return h.trial }

// Refs indexes the entry under its trial.
func (h *Header) Refs() []string { return []string{Ref(h.trial)} }

func (h *Header) check(typ string, now time.Time) error {
	if h.Kind != typ {
		return statement.Invalidf("type must be %q", typ)
	}
	id, err := NormalizeIDAt(typ+": trial_id", h.TrialID, now)
	if err != nil {
		return err
	}
	h.trial = id
	if _, err := statement.ParseTime(typ+": issued_at", h.IssuedAt); err != nil {
		return err
	}
	return nil
}

// Outcome is a pre-specified or reported outcome (defined in api).
type Outcome = api.Outcome

// Omission is a pre-specified outcome that a trial.results statement says
// it does not report, and where it declares and explains that.
type Omission struct {
	ID       string `json:"id"`
	Declared string `json:"declared"`
}

// Registration is a trial.registration statement: the trial as registered,
// at registration and at each registry update. The principal that logs the
// first one owns the trial.
type Registration struct {
	Header
	Title            string            `json:"title"`
	Outcomes         []Outcome         `json:"outcomes"`
	Identifiers      []string          `json:"identifiers,omitempty"`
	RegistrySnapshot *statement.Digest `json:"registry_snapshot,omitempty"`

	ids []string // Identifiers normalised
}

// IDs lists the trial_id and every further identifier, normalised, trial_id
// first.
func (g *Registration) IDs() []string { return append([]string{g.trial}, g.ids...) }

// Refs indexes the registration under every identifier it lists, and under
// its registry snapshot's digest.
func (g *Registration) Refs() []string {
	var refs []string
	for _, id := range g.IDs() {
		refs = append(refs, Ref(id))
	}
	if g.RegistrySnapshot != nil {
		refs = append(refs, g.RegistrySnapshot.Ref())
	}
	return refs
}

// Plan is a trial.protocol or trial.sap statement: one version of the
// protocol or of the statistical analysis plan. Type tells which.
type Plan struct {
	Header
	Version     string            `json:"version"`
	Document    *statement.Digest `json:"document"`
	Outcomes    []Outcome         `json:"outcomes"`
	Previous    string            `json:"previous,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	ApprovalRef string            `json:"approval_ref,omitempty"`
}

// Refs indexes the version under its trial and its document's digest.
func (p *Plan) Refs() []string { return []string{Ref(p.trial), p.Document.Ref()} }

// ConsentForm is a trial.consent-form statement: one version of the
// participant information and consent form.
type ConsentForm struct {
	Header
	Version     string            `json:"version"`
	Document    *statement.Digest `json:"document"`
	Previous    string            `json:"previous,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	ApprovalRef string            `json:"approval_ref,omitempty"`
}

// Refs indexes the version under its trial and its document's digest.
func (c *ConsentForm) Refs() []string { return []string{Ref(c.trial), c.Document.Ref()} }

// Versioned is a statement in a version chain: protocol, SAP and consent
// form versions.
type Versioned interface {
	Statement
	// Chain returns the version's label and the entry id of the version
	// it replaces ("" for the first).
	Chain() (version, previous string)
}

// Chain implements Versioned.
func (p *Plan) Chain() (string, string) { return p.Version, p.Previous }

// Chain implements Versioned.
func (c *ConsentForm) Chain() (string, string) { return c.Version, c.Previous }

// Milestone is a trial.milestone statement. At is the submitter's claim;
// trialog orders milestones by their place in the log.
type Milestone struct {
	Header
	Event string `json:"event"`
	At    string `json:"at"`
}

// Dataset is a trial.dataset statement: a data-lock manifest.
type Dataset struct {
	Header
	Name     string            `json:"name"`
	Lock     string            `json:"lock"` // LockInterim or LockFinal
	Manifest *statement.Digest `json:"manifest"`
	Files    []File            `json:"files,omitempty"`
}

// File is one file of a dataset manifest.
type File struct {
	Path   string `json:"path"`
	Size   *int64 `json:"size"`
	SHA256 string `json:"sha256"`
}

// Refs indexes the manifest under its trial and the manifest's digest.
func (d *Dataset) Refs() []string { return []string{Ref(d.trial), d.Manifest.Ref()} }

// Results is a trial.results statement: the reported outcomes and the digest
// of the results document (registry results, CSR synopsis).
type Results struct {
	Header
	Outcomes []Outcome         `json:"outcomes"`
	Document *statement.Digest `json:"document"`
	// Omitted lists pre-specified outcomes the results do not report,
	// each with where the omission is declared.
	Omitted []Omission `json:"omitted,omitempty"`
}

// Refs indexes the results under their trial and the document's digest.
func (r *Results) Refs() []string { return []string{Ref(r.trial), r.Document.Ref()} }

// Publication is a trial.publication statement.
type Publication struct {
	Header
	Document *statement.Digest `json:"document"`
	DOI      string            `json:"doi,omitempty"`
}

// Refs indexes the publication under its trial and the document's digest.
func (p *Publication) Refs() []string { return []string{Ref(p.trial), p.Document.Ref()} }

// Delegation is a trial.delegation statement, logged by trialogd with its
// service key when the trial's owner (DelegatedBy) lets Principal submit
// trial statements for the trial.
type Delegation struct {
	Header
	Principal   string `json:"principal"`
	DelegatedBy string `json:"delegated_by"`
}

// decode is the first step of every parser: valid UTF-8, strict JSON, the
// header.
//
// now is when the statement is read: trial identifiers must be plausible
// as of then (ParseIDAt). The exported parsers read the clock once and pass
// it down.
func decode(typ string, payload []byte, v interface{ header() *Header }, now time.Time) error {
	// Invalid UTF-8 would be decoded as U+FFFD: two readers of the signed
	// bytes could then disagree about what they say.
	if !utf8.Valid(payload) {
		return statement.Invalidf("%s: the statement is not valid UTF-8", typ)
	}
	if err := statement.Decode(typ, payload, v); err != nil {
		return err
	}
	return v.header().check(typ, now)
}

func (h *Header) header() *Header { return h }

// text checks a free-text field: required or not, at most max bytes, no
// control characters, no white space at either end, no e-mail address.
func text(field, s string, max int, required bool) error {
	switch {
	case s == "" && required:
		return statement.Invalidf("%s is required", field)
	case s == "":
		return nil
	case len(s) > max:
		return statement.Invalidf("%s must be at most %d bytes", field, max)
	case strings.TrimSpace(s) != s:
		return statement.Invalidf("%s must not begin or end with white space", field)
	case strings.ContainsFunc(s, unicode.IsControl):
		return statement.Invalidf("%s must not contain control characters", field)
	}
	return statement.RefuseEmail(field, s)
}

func digest(field string, d *statement.Digest, required bool) error {
	if d == nil {
		if required {
			return statement.Invalidf("%s is required", field)
		}
		return nil
	}
	return d.Validate(field)
}

func outcomes(typ string, os []Outcome) error {
	if len(os) == 0 {
		return statement.Invalidf("%s: outcomes is required (at least one outcome)", typ)
	}
	if len(os) > maxOutcomes {
		return statement.Invalidf("%s: outcomes may list at most %d outcomes", typ, maxOutcomes)
	}
	seen := map[string]int{}
	for i, o := range os {
		f := fmt.Sprintf("%s: outcomes[%d]", typ, i)
		if o.ID == "" {
			return statement.Invalidf("%s.id is required", f)
		}
		if !outcomeID.MatchString(o.ID) {
			return statement.Invalidf("%s.id must be 1 to 64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", f)
		}
		if j, dup := seen[o.ID]; dup {
			return statement.Invalidf("%s.id %q repeats outcomes[%d].id", f, o.ID, j)
		}
		seen[o.ID] = i
		if o.Kind == "" {
			return statement.Invalidf("%s.kind is required", f)
		}
		if o.Kind != KindPrimary && o.Kind != KindSecondary {
			return statement.Invalidf("%s.kind must be %q or %q", f, KindPrimary, KindSecondary)
		}
		if err := text(f+".measure", o.Measure, maxMeasure, true); err != nil {
			return err
		}
		if err := text(f+".time_frame", o.TimeFrame, maxTimeFrame, true); err != nil {
			return err
		}
		if o.Declared != "" && typ != TypeResults {
			return statement.Invalidf("%s.declared belongs only in %s: it says where a report declares a change", f, TypeResults)
		}
		if err := text(f+".declared", o.Declared, maxDeclared, false); err != nil {
			return err
		}
	}
	return nil
}

func entryID(field, s string) error {
	if s != "" && !statement.IsHexDigest(s) {
		return statement.Invalidf("%s must be an entry id (64 lowercase hex digits)", field)
	}
	return nil
}

// ParseRegistration parses a trial.registration statement.
func ParseRegistration(payload []byte) (statement.Statement, error) {
	const t = TypeRegistration
	now := time.Now()
	var g Registration
	if err := decode(t, payload, &g, now); err != nil {
		return nil, err
	}
	if err := text(t+": title", g.Title, maxTitle, true); err != nil {
		return nil, err
	}
	if err := outcomes(t, g.Outcomes); err != nil {
		return nil, err
	}
	if g.Identifiers != nil && len(g.Identifiers) == 0 {
		return nil, statement.Invalidf("%s: identifiers must list at least one identifier when present", t)
	}
	if len(g.Identifiers) > maxIdentifiers {
		return nil, statement.Invalidf("%s: identifiers may list at most %d identifiers", t, maxIdentifiers)
	}
	seen := map[string]string{g.trial: "trial_id"}
	for i, s := range g.Identifiers {
		f := fmt.Sprintf("%s: identifiers[%d]", t, i)
		id, err := NormalizeIDAt(f, s, now)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[id]; dup {
			return nil, statement.Invalidf("%s (%s) repeats %s", f, id, prev)
		}
		seen[id] = fmt.Sprintf("identifiers[%d]", i)
		g.ids = append(g.ids, id)
	}
	if err := digest(t+": registry_snapshot", g.RegistrySnapshot, false); err != nil {
		return nil, err
	}
	return &g, nil
}

// ParseProtocol parses a trial.protocol statement.
func ParseProtocol(payload []byte) (statement.Statement, error) {
	return parsePlan(TypeProtocol, payload)
}

// ParseSAP parses a trial.sap statement.
func ParseSAP(payload []byte) (statement.Statement, error) { return parsePlan(TypeSAP, payload) }

func parsePlan(t string, payload []byte) (statement.Statement, error) {
	var p Plan
	if err := decode(t, payload, &p, time.Now()); err != nil {
		return nil, err
	}
	if err := versionFields(t, p.Version, p.Document, p.Previous, p.Reason, p.ApprovalRef); err != nil {
		return nil, err
	}
	if err := outcomes(t, p.Outcomes); err != nil {
		return nil, err
	}
	return &p, nil
}

func versionFields(t, version string, doc *statement.Digest, previous, reason, approval string) error {
	if err := text(t+": version", version, maxVersion, true); err != nil {
		return err
	}
	if err := digest(t+": document", doc, true); err != nil {
		return err
	}
	if err := entryID(t+": previous", previous); err != nil {
		return err
	}
	if err := text(t+": reason", reason, maxReason, false); err != nil {
		return err
	}
	return text(t+": approval_ref", approval, maxApprovalRef, false)
}

// ParseConsentForm parses a trial.consent-form statement.
func ParseConsentForm(payload []byte) (statement.Statement, error) {
	const t = TypeConsentForm
	var c ConsentForm
	if err := decode(t, payload, &c, time.Now()); err != nil {
		return nil, err
	}
	if err := versionFields(t, c.Version, c.Document, c.Previous, c.Reason, c.ApprovalRef); err != nil {
		return nil, err
	}
	return &c, nil
}

// ParseMilestone parses a trial.milestone statement.
func ParseMilestone(payload []byte) (statement.Statement, error) {
	const t = TypeMilestone
	var m Milestone
	if err := decode(t, payload, &m, time.Now()); err != nil {
		return nil, err
	}
	switch m.Event {
	case "":
		return nil, statement.Invalidf("%s: event is required", t)
	case EventFirstParticipantIn, EventDatabaseLock, EventUnblinding, EventLastParticipantOut:
	default:
		return nil, statement.Invalidf("%s: event must be one of %s, %s, %s, %s", t, EventFirstParticipantIn, EventDatabaseLock, EventUnblinding, EventLastParticipantOut)
	}
	if _, err := statement.ParseTime(t+": at", m.At); err != nil {
		return nil, err
	}
	return &m, nil
}

// ParseDataset parses a trial.dataset statement.
func ParseDataset(payload []byte) (statement.Statement, error) {
	const t = TypeDataset
	var d Dataset
	if err := decode(t, payload, &d, time.Now()); err != nil {
		return nil, err
	}
	if err := text(t+": name", d.Name, maxName, true); err != nil {
		return nil, err
	}
	switch d.Lock {
	case "":
		return nil, statement.Invalidf("%s: lock is required", t)
	case LockInterim, LockFinal:
	default:
		return nil, statement.Invalidf("%s: lock must be %q or %q", t, LockInterim, LockFinal)
	}
	if err := digest(t+": manifest", d.Manifest, true); err != nil {
		return nil, err
	}
	if d.Files != nil && len(d.Files) == 0 {
		return nil, statement.Invalidf("%s: files must list at least one file when present", t)
	}
	if len(d.Files) > maxFiles {
		return nil, statement.Invalidf("%s: files may list at most %d files", t, maxFiles)
	}
	seen := map[string]int{}
	for i, f := range d.Files {
		field := fmt.Sprintf("%s: files[%d]", t, i)
		if err := text(field+".path", f.Path, maxPath, true); err != nil {
			return nil, err
		}
		if j, dup := seen[f.Path]; dup {
			return nil, statement.Invalidf("%s.path repeats files[%d].path", field, j)
		}
		seen[f.Path] = i
		if f.Size == nil {
			return nil, statement.Invalidf("%s.size is required", field)
		}
		if *f.Size < 0 {
			return nil, statement.Invalidf("%s.size must not be negative", field)
		}
		if f.SHA256 == "" {
			return nil, statement.Invalidf("%s.sha256 is required", field)
		}
		if !statement.IsHexDigest(f.SHA256) {
			return nil, statement.Invalidf("%s.sha256 must be 64 lowercase hex digits", field)
		}
	}
	return &d, nil
}

// ParseResults parses a trial.results statement.
func ParseResults(payload []byte) (statement.Statement, error) {
	const t = TypeResults
	var r Results
	if err := decode(t, payload, &r, time.Now()); err != nil {
		return nil, err
	}
	if err := outcomes(t, r.Outcomes); err != nil {
		return nil, err
	}
	if err := digest(t+": document", r.Document, true); err != nil {
		return nil, err
	}
	if r.Omitted != nil && len(r.Omitted) == 0 {
		return nil, statement.Invalidf("%s: omitted must list at least one outcome when present", t)
	}
	if len(r.Omitted) > maxOutcomes {
		return nil, statement.Invalidf("%s: omitted may list at most %d outcomes", t, maxOutcomes)
	}
	seen := map[string]bool{}
	for _, o := range r.Outcomes {
		seen[o.ID] = true
	}
	for i, o := range r.Omitted {
		f := fmt.Sprintf("%s: omitted[%d]", t, i)
		if !outcomeID.MatchString(o.ID) {
			return nil, statement.Invalidf("%s.id must be an outcome id (1 to 64 letters, digits, '.', '_', ':' or '-')", f)
		}
		if seen[o.ID] {
			return nil, statement.Invalidf("%s.id %q is also reported in outcomes, or listed twice", f, o.ID)
		}
		seen[o.ID] = true
		if err := text(f+".declared", o.Declared, maxDeclared, true); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// ParsePublication parses a trial.publication statement.
func ParsePublication(payload []byte) (statement.Statement, error) {
	const t = TypePublication
	var p Publication
	if err := decode(t, payload, &p, time.Now()); err != nil {
		return nil, err
	}
	if err := digest(t+": document", p.Document, true); err != nil {
		return nil, err
	}
	if p.DOI != "" && (len(p.DOI) > maxDOI || !doi.MatchString(p.DOI)) {
		return nil, statement.Invalidf("%s: doi must be a DOI such as 10.1056/NEJMoa2034577 (no \"doi:\" or URL prefix)", t)
	}
	if err := statement.RefuseEmail(t+": doi", p.DOI); err != nil {
		return nil, err
	}
	return &p, nil
}

// ParseDelegation parses a trial.delegation statement.
func ParseDelegation(payload []byte) (statement.Statement, error) {
	const t = TypeDelegation
	var d Delegation
	if err := decode(t, payload, &d, time.Now()); err != nil {
		return nil, err
	}
	if d.Principal == "" {
		return nil, statement.Invalidf("%s: principal is required", t)
	}
	if !principalID.MatchString(d.Principal) {
		return nil, statement.Invalidf("%s: principal must be a principal id", t)
	}
	if d.DelegatedBy == "" {
		return nil, statement.Invalidf("%s: delegated_by is required", t)
	}
	if !principalID.MatchString(d.DelegatedBy) {
		return nil, statement.Invalidf("%s: delegated_by must be a principal id", t)
	}
	return &d, nil
}
