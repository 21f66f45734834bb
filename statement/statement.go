// Package statement defines what a logged statement is and the registry of
// statement types.
//
// A statement is the JSON payload of a DSSE envelope. Its "type" field selects
// a Kind registered here; the Kind parses the payload strictly, says which
// roles may submit it, and lists the index references under which the entry
// can later be found (a document digest, a trial, a subject). Adding a family
// of statement types — trials, consent — is a matter of a package that calls
// Registry.Register; the log service itself knows none of them.
package statement

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trialog/trialog/internal/strictjson"
)

// PayloadType is the DSSE payloadType of trialog statements.
const PayloadType = "application/vnd.trialog.statement+json"

// Role is a principal's role.
type Role string

// The roles a principal can have.
const (
	RoleSponsor   Role = "sponsor"
	RoleSite      Role = "site"
	RoleRegulator Role = "regulator"
	RoleDataUser  Role = "data-user"
	RoleAdmin     Role = "admin"
	// RoleService is trialogd itself; no principal can be given it.
	RoleService Role = "service"
)

// Roles lists the roles that can be given to a principal.
var Roles = []Role{RoleSponsor, RoleSite, RoleRegulator, RoleDataUser, RoleAdmin}

// ValidRole reports whether r can be given to a principal.
func ValidRole(r Role) bool { return slices.Contains(Roles, r) }

// ErrInvalid marks a statement that does not follow its schema. Errors
// wrapping it are shown to the submitter, so their text names the field.
var ErrInvalid = errors.New("invalid statement")

// ErrForbidden marks a statement the caller may not submit.
var ErrForbidden = errors.New("not allowed")

// ErrConflict marks a statement that contradicts the log (a forked version
// chain, a trial registered by someone else).
var ErrConflict = errors.New("conflict")

// Invalidf returns an error wrapping ErrInvalid.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Statement is a parsed, schema-valid statement.
type Statement interface {
	// Type is the statement's "type".
	Type() string
	// Refs are the index keys the entry is found under, such as
	// "sha256:<hex>" for a notarized document. They are derived only from
	// the signed statement.
	Refs() []string
}

// Caller is who submits a statement.
type Caller struct {
	PrincipalID string
	Name        string
	Role        Role
}

// Reader is the read access to already-logged entries, by index reference,
// for answers built from a trial's or subject's history (timelines,
// reports). A Kind's Check reads State instead.
type Reader interface {
	// EntriesByRef returns the entries indexed under ref, in log order.
	EntriesByRef(ctx context.Context, ref string) ([]Logged, error)
}

// Logged is an entry already in the log, as a Kind's checks see it.
type Logged struct {
	ID          string
	LeafIndex   int64
	PrincipalID string
	Statement   Statement
	// ReceivedAt is the leaf's received_at: the log's own time of the
	// entry. Zero when the reader does not know it.
	ReceivedAt time.Time
}

// ParseReceivedAt reads a leaf's received_at (RFC 3339, UTC); "" and
// anything unreadable are the zero time.
func ParseReceivedAt(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// Kind describes one statement type.
type Kind struct {
	// Name is the value of the statement's "type" field.
	Name string
	// Roles may submit statements of this kind. Empty means only trialogd
	// itself writes them, signed with its service key.
	Roles []Role
	// Parse validates payload strictly and returns the statement. Errors
	// must wrap ErrInvalid.
	Parse func(payload []byte) (Statement, error)
	// Check, if set, decides from the domain state whether caller may log
	// st (ownership, version chains). It reads, and never writes, s; the
	// keys it reads stay locked until the append commits. Returned errors
	// wrap ErrForbidden, ErrConflict or ErrInvalid; any other error (the
	// state's) fails the append. See State.
	Check func(ctx context.Context, s State, caller Caller, st Statement) error
	// Apply, if set, records a logged entry's effect on the domain state
	// with s.Put. It runs right after a passing Check, in the same
	// transaction, and when trialogd builds the state of an existing log
	// from its entries (e.LeafIndex is then set; at append time it is -1).
	// It must accept every entry that its Kind's Check once accepted.
	Apply func(ctx context.Context, s State, e Logged) error
}

// Registry maps statement types to their Kind. Build it at start-up, then
// only read it.
type Registry struct {
	kinds   map[string]*Kind
	formats map[string]*Format
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{kinds: make(map[string]*Kind), formats: make(map[string]*Format)}
}

// Format lets envelopes of another payloadType than PayloadType carry a
// registered Kind's statement in a standard form (a FHIR resource, say). The
// signed bytes are logged unchanged; Format only reads them.
type Format struct {
	// PayloadType is the DSSE payloadType, such as "application/fhir+json".
	PayloadType string
	// Type returns the Name of the registered Kind that payload is a
	// statement of. Errors must wrap ErrInvalid.
	Type func(payload []byte) (string, error)
	// Parse validates payload strictly and returns the statement, of the
	// Kind that Type named. Errors must wrap ErrInvalid.
	Parse func(payload []byte) (Statement, error)
}

// RegisterFormat adds f. It panics on a duplicate or incomplete Format, or
// one for PayloadType itself.
func (r *Registry) RegisterFormat(f Format) {
	if f.PayloadType == "" || f.PayloadType == PayloadType || f.Type == nil || f.Parse == nil {
		panic("statement: Format needs another PayloadType, a Type and a Parse function")
	}
	if _, dup := r.formats[f.PayloadType]; dup {
		panic("statement: duplicate format " + f.PayloadType)
	}
	r.formats[f.PayloadType] = &f
}

// KindFor returns the Kind of a payload of payloadType: by its "type" for
// PayloadType, by a registered Format otherwise.
func (r *Registry) KindFor(payloadType string, payload []byte) (*Kind, error) {
	if payloadType == PayloadType {
		return r.KindOf(payload)
	}
	f, ok := r.formats[payloadType]
	if !ok {
		accepted := []string{PayloadType}
		for pt := range r.formats {
			accepted = append(accepted, pt)
		}
		sort.Strings(accepted[1:])
		return nil, Invalidf("envelope: payloadType %q is not accepted (use %s)", payloadType, strings.Join(accepted, " or "))
	}
	name, err := f.Type(payload)
	if err != nil {
		return nil, err
	}
	k, ok := r.kinds[name]
	if !ok {
		return nil, Invalidf("unknown statement type %q", name)
	}
	return k, nil
}

// ParseFor parses a payload of payloadType with its Kind or Format.
func (r *Registry) ParseFor(payloadType string, payload []byte) (*Kind, Statement, error) {
	k, err := r.KindFor(payloadType, payload)
	if err != nil {
		return nil, nil, err
	}
	parse := k.Parse
	if payloadType != PayloadType {
		parse = r.formats[payloadType].Parse
	}
	st, err := parse(payload)
	if err != nil {
		return nil, nil, err
	}
	if st.Type() != k.Name {
		return nil, nil, Invalidf("statement is a %s, not a %s", st.Type(), k.Name)
	}
	return k, st, nil
}

// Register adds k. It panics on a duplicate or incomplete Kind: that is a
// programming error found at start-up.
func (r *Registry) Register(k Kind) {
	if k.Name == "" || k.Parse == nil {
		panic("statement: Kind needs a Name and a Parse function")
	}
	if _, dup := r.kinds[k.Name]; dup {
		panic("statement: duplicate kind " + k.Name)
	}
	r.kinds[k.Name] = &k
}

// Lookup returns the Kind registered for name.
func (r *Registry) Lookup(name string) (*Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the registered types, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// KindOf reads a statement's "type" and returns its registered Kind,
// without parsing the rest.
func (r *Registry) KindOf(payload []byte) (*Kind, error) {
	if err := strictjson.CheckDuplicates(payload); err != nil {
		return nil, Invalidf("statement: %v", err)
	}
	// Only "type" is read here, by its exact key; the Kind's Parse then
	// decodes the whole payload strictly.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, Invalidf("statement is not a JSON object")
	}
	var typ string
	if raw, ok := fields["type"]; !ok {
		return nil, Invalidf(`statement has no "type"`)
	} else if err := json.Unmarshal(raw, &typ); err != nil || typ == "" {
		return nil, Invalidf(`statement "type" must be a non-empty string`)
	}
	k, ok := r.kinds[typ]
	if !ok {
		return nil, Invalidf("unknown statement type %q", typ)
	}
	return k, nil
}

// Parse reads a statement's type and parses it with the registered Kind.
func (r *Registry) Parse(payload []byte) (*Kind, Statement, error) {
	k, err := r.KindOf(payload)
	if err != nil {
		return nil, nil, err
	}
	st, err := k.Parse(payload)
	if err != nil {
		return nil, nil, err
	}
	return k, st, nil
}

// Decode parses payload strictly into v (a pointer to the Kind's struct) and
// wraps any error in ErrInvalid with the type's name.
func Decode(typ string, payload []byte, v any) error {
	if err := strictjson.Unmarshal(payload, v); err != nil {
		return Invalidf("%s: %v", typ, err)
	}
	return nil
}

// Digest is a document digest: {"sha256": "<64 lowercase hex>"}, optionally
// salted (SHA-256 of salt ‖ document, the salt kept by the submitter).
type Digest struct {
	SHA256 string `json:"sha256"`
	Salted bool   `json:"salted,omitempty"`
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Validate checks the digest's form; field names the digest in errors.
func (d *Digest) Validate(field string) error {
	if d == nil || d.SHA256 == "" {
		return Invalidf("%s.sha256 is required", field)
	}
	if !hex64.MatchString(d.SHA256) {
		return Invalidf("%s.sha256 must be 64 lowercase hex digits", field)
	}
	return nil
}

// Ref is the index key of the digest.
func (d *Digest) Ref() string { return "sha256:" + d.SHA256 }

// IsHexDigest reports whether s is 64 lowercase hex digits.
func IsHexDigest(s string) bool { return hex64.MatchString(s) }

// DecodeHexDigest decodes a 64-hex-digit digest.
func DecodeHexDigest(s string) ([]byte, error) {
	if !hex64.MatchString(s) {
		return nil, fmt.Errorf("not 64 lowercase hex digits")
	}
	return hex.DecodeString(s)
}

var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$`)

// ParseTime parses an RFC 3339 time in UTC: "Z" suffix, "." as the only
// decimal separator (Go's time.Parse also takes ",", which RFC 3339 does
// not).
func ParseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, Invalidf("%s is required", field)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || strings.Contains(s, ",") {
		return time.Time{}, Invalidf("%s must be an RFC 3339 time, as 2026-11-23T14:00:00Z", field)
	}
	if !rfc3339UTC.MatchString(s) {
		return time.Time{}, Invalidf("%s must be in UTC, ending in Z", field)
	}
	return t, nil
}
