// Package records defines the record.digest statement: the notarized SHA-256
// digest of a medical record or any other document. The document itself never
// reaches trialog.
package records

import (
	"regexp"

	"github.com/trialog/trialog/statement"
)

// TypeDigest is the statement type of a document digest.
const TypeDigest = "record.digest"

// Digest is a record.digest statement.
type Digest struct {
	Kind      string           `json:"type"`
	Digest    statement.Digest `json:"digest"`
	MediaType string           `json:"media_type,omitempty"`
	Source    string           `json:"source,omitempty"`
	Subject   string           `json:"subject,omitempty"`
	IssuedAt  string           `json:"issued_at"`
}

// Type implements statement.Statement.
func (d *Digest) Type() string { return TypeDigest }

// Refs indexes the entry under its digest and, when given, its subject —
// under "record-subject:", apart from the subject's consent events, so that
// nobody can crowd a patient's consent status with records.
func (d *Digest) Refs() []string {
	refs := []string{d.Digest.Ref()}
	if d.Subject != "" {
		refs = append(refs, "record-subject:"+d.Subject)
	}
	return refs
}

var (
	mediaType = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$`)
	source    = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
	// A subject reference as trialog mints them (sub_ and 32 hex digits):
	// random, so never a patient identifier such as a record number.
	subject = regexp.MustCompile(`^sub_[0-9a-f]{32}$`)
)

// Parse validates a record.digest payload.
func Parse(payload []byte) (statement.Statement, error) {
	var d Digest
	if err := statement.Decode(TypeDigest, payload, &d); err != nil {
		return nil, err
	}
	if d.Kind != TypeDigest {
		return nil, statement.Invalidf("type must be %q", TypeDigest)
	}
	if err := d.Digest.Validate("digest"); err != nil {
		return nil, err
	}
	if _, err := statement.ParseTime("issued_at", d.IssuedAt); err != nil {
		return nil, err
	}
	if d.MediaType != "" && !mediaType.MatchString(d.MediaType) {
		return nil, statement.Invalidf("media_type must be a lowercase media type such as application/pdf")
	}
	if d.Source != "" && !source.MatchString(d.Source) {
		return nil, statement.Invalidf("source must be 1 to 255 printable ASCII characters without spaces")
	}
	if err := statement.RefuseEmail("source", d.Source); err != nil {
		return nil, err
	}
	if d.Subject != "" && !subject.MatchString(d.Subject) {
		return nil, statement.Invalidf("subject must be a subject reference as POST /v1/consent/subjects mints it (sub_ and 32 hex digits), never a patient identifier")
	}
	return &d, nil
}

// Register adds record.digest to r: sponsors and sites may submit it.
func Register(r *statement.Registry) {
	r.Register(statement.Kind{
		Name:  TypeDigest,
		Roles: []statement.Role{statement.RoleSponsor, statement.RoleSite},
		Parse: Parse,
	})
}
