package consent

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/trialog/trialog/statement"
)

const fhirT = "FHIR Consent"

var (
	// SPEC: FHIR R4 datatypes: id.
	fhirIDRE = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	// SPEC: FHIR R4 dateTime and instant, when they carry a time: seconds
	// and a time zone are then required. Partial dates are valid FHIR but
	// not an instant, and trialog's times are instants.
	fhirInstantRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$`)
	unknownField  = regexp.MustCompile(`^unknown field "([^"]*)"$`)
)

// FHIRType returns the statement type a FHIR Consent payload is.
func FHIRType(payload []byte) (string, error) {
	st, err := ParseFHIR(payload)
	if err != nil {
		return "", err
	}
	return st.Type(), nil
}

func invalidAt(element, format string, args ...any) error {
	return statement.Invalidf("%s: %s %s", fhirT, element, fmt.Sprintf(format, args...))
}

// ParseFHIR parses a FHIR R4 Consent of trialog's profile (docs/fhir.md)
// into the consent.grant or consent.withdraw it stands for, and validates
// that as its native form is. Errors wrap statement.ErrInvalid and name the
// element (Consent.provision.provision[1].purpose, …).
//
// id, meta and text are checked for form and otherwise ignored: they stay
// in the signed bytes and do not change what the resource means. Date-times
// with an offset are read as the instant they name (issued_at in UTC).
// Cost is linear in the payload's size.
func ParseFHIR(payload []byte) (statement.Statement, error) {
	if err := checkDepth(payload, maxFHIRDepth); err != nil {
		return nil, err
	}
	var c fhirConsent
	if err := statement.Decode(fhirT, payload, &c); err != nil {
		// Name the element that is outside the profile.
		msg := strings.TrimPrefix(err.Error(), statement.ErrInvalid.Error()+": "+fhirT+": ")
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			return nil, invalidAt("Consent."+m[1], "is not part of trialog's Consent profile (docs/fhir.md)")
		}
		return nil, err
	}
	if c.ResourceType != "Consent" {
		return nil, invalidAt("Consent.resourceType", "must be \"Consent\"")
	}
	if c.ID != "" && !fhirIDRE.MatchString(c.ID) {
		return nil, invalidAt("Consent.id", "must be 1 to 64 letters, digits, '-' or '.' (FHIR id)")
	}
	if err := checkMeta(c.Meta); err != nil {
		return nil, err
	}
	if t := c.Text; t != nil {
		switch t.Status {
		case "generated", "extensions", "additional", "empty":
		default:
			return nil, invalidAt("Consent.text.status", "must be generated, extensions, additional or empty")
		}
		if !strings.HasPrefix(t.Div, "<div") || !strings.HasSuffix(strings.TrimSpace(t.Div), "</div>") {
			return nil, invalidAt("Consent.text.div", "must be an XHTML <div> element")
		}
	}
	if c.Scope == nil || len(c.Scope.Coding) != 1 || c.Scope.Coding[0].System != fhirScopeSystem || c.Scope.Coding[0].Code != fhirScopeCode {
		return nil, invalidAt("Consent.scope", "must be the one coding %s|%s", fhirScopeSystem, fhirScopeCode)
	}
	if !hasCategory(c.Category) {
		return nil, invalidAt("Consent.category", "must include the coding %s|%s", fhirCategorySystem, fhirCategoryCode)
	}
	// POLICY: HIPAA §164.514(c) — the patient is named only by a minted
	// subject reference: no literal reference to a Patient, no name.
	p := c.Patient
	if p == nil || p.Identifier == nil || p.Identifier.System != FHIRSubjectSystem {
		return nil, invalidAt("Consent.patient", "must be {\"identifier\": {\"system\": %q, \"value\": <subject reference>}}", FHIRSubjectSystem)
	}
	if p.Reference != "" || p.Display != "" || p.Type != "" {
		return nil, invalidAt("Consent.patient", "names the patient only by the identifier %s: no reference, type or display (names stay off the log)", FHIRSubjectSystem)
	}
	issued, err := fhirInstant("Consent.dateTime", c.DateTime)
	if err != nil {
		return nil, err
	}
	var trial, version string
	var haveTrial, haveVersion bool
	for i, e := range c.Extension {
		el := fmt.Sprintf("Consent.extension[%d]", i)
		switch e.URL {
		case FHIRResearchStudyExtension:
			if haveTrial || e.ValueString != "" || e.ValueReference == nil || e.ValueReference.Identifier == nil ||
				e.ValueReference.Identifier.System != FHIRTrialSystem || e.ValueReference.Reference != "" || e.ValueReference.Display != "" {
				return nil, invalidAt(el, "(workflow-researchStudy) appears once, as valueReference {\"identifier\": {\"system\": %q, \"value\": <trial id>}}", FHIRTrialSystem)
			}
			trial, haveTrial = e.ValueReference.Identifier.Value, true
		case FHIRFormVersionExtension:
			if haveVersion || e.ValueReference != nil || e.ValueString == "" {
				return nil, invalidAt(el, "(consent-form-version) appears once, with a valueString")
			}
			version, haveVersion = e.ValueString, true
		default:
			return nil, invalidAt(el, "has url %q, which is not part of trialog's Consent profile (docs/fhir.md)", e.URL)
		}
	}
	if !haveTrial {
		return nil, invalidAt("Consent.extension", "must name the trial in the %s extension with identifier system %s", FHIRResearchStudyExtension, FHIRTrialSystem)
	}
	// SPEC: FHIR R4 ppc-1, "policy.exists() or policyRule.exists()".
	if len(c.Policy) == 0 && c.PolicyRule == nil {
		return nil, invalidAt("Consent.policy", "or Consent.policyRule is required (FHIR R4 invariant ppc-1)")
	}
	for i, pol := range c.Policy {
		if pol.URI == "" && pol.Authority == "" {
			return nil, invalidAt(fmt.Sprintf("Consent.policy[%d]", i), "needs a uri or an authority")
		}
	}
	if r := c.PolicyRule; r != nil && len(r.Coding) == 0 && r.Text == "" {
		return nil, invalidAt("Consent.policyRule", "needs a coding or a text")
	}
	if r := c.SourceReference; r != nil && (r.Reference == "" || r.Identifier != nil) {
		return nil, invalidAt("Consent.sourceReference", "must be {\"reference\": \"Consent/<entry id>\"}, the consent it changes")
	}
	prov := c.Provision
	if prov == nil || prov.Type != Deny || len(prov.Purpose) > 0 {
		return nil, invalidAt("Consent.provision", "is required, with type deny (what it does not list is not consented to) and no purpose of its own")
	}
	h := Header{TrialID: trial, Subject: p.Identifier.Value, IssuedAt: issued}
	var scope []Scope
	for i, n := range prov.Provision {
		el := fmt.Sprintf("Consent.provision.provision[%d]", i)
		if n.Period != nil || len(n.Provision) > 0 {
			return nil, invalidAt(el, "has a type and a purpose, nothing else")
		}
		if n.Type != Permit && n.Type != Deny {
			return nil, invalidAt(el+".type", "must be permit or deny")
		}
		purpose, err := parsePurpose(el+".purpose", n.Purpose)
		if err != nil {
			return nil, err
		}
		scope = append(scope, Scope{Purpose: purpose, Decision: n.Type})
	}
	switch {
	case c.Status == "active" && haveVersion:
		h.Kind = TypeGrant
		if len(c.Policy) != 1 || c.Policy[0].Authority != "" {
			return nil, invalidAt("Consent.policy", "of a grant is one uri, the consent form's digest (%s…)", niSHA256)
		}
		sum, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(c.Policy[0].URI, niSHA256))
		if !strings.HasPrefix(c.Policy[0].URI, niSHA256) || err != nil || len(sum) != 32 {
			return nil, invalidAt("Consent.policy[0].uri", "must be %s and the base64url SHA-256 of the consent form (RFC 6920)", niSHA256)
		}
		if c.SourceReference != nil {
			return nil, invalidAt("Consent.sourceReference", "is for withdrawals, which name the grant they change; a grant's source is its form (Consent.policy)")
		}
		g := &Grant{Header: h, Form: Form{Version: version, SHA256: hex.EncodeToString(sum)}, Scope: scope}
		if pp := prov.Period; pp != nil {
			g.Period = &Period{}
			if pp.Start != "" {
				if g.Period.Start, err = fhirInstant("Consent.provision.period.start", pp.Start); err != nil {
					return nil, err
				}
			}
			if pp.End != "" {
				if g.Period.End, err = fhirInstant("Consent.provision.period.end", pp.End); err != nil {
					return nil, err
				}
			}
		}
		if err := g.validate(); err != nil {
			return nil, err
		}
		return g, nil
	case c.Status == "active" || c.Status == "inactive":
		// A withdrawal: inactive when of every purpose, active (the rest of
		// the grant in force) when of some.
		h.Kind = TypeWithdraw
		if haveVersion {
			return nil, invalidAt("Consent.extension", "of a withdrawal (status inactive) has no consent-form version")
		}
		if prov.Period != nil {
			return nil, invalidAt("Consent.provision.period", "is for grants; a withdrawal takes effect at its dateTime")
		}
		w := &Withdraw{Header: h}
		for i, s := range scope {
			if s.Decision != Deny {
				return nil, invalidAt(fmt.Sprintf("Consent.provision.provision[%d].type", i), "of a withdrawal must be deny")
			}
			w.Purposes = append(w.Purposes, s.Purpose)
		}
		if c.Status == "inactive" && len(w.Purposes) > 0 {
			return nil, invalidAt("Consent.status", "inactive is a withdrawal of every purpose, which lists none; a withdrawal of some purposes is active (the rest stays in force)")
		}
		if c.Status == "active" && len(w.Purposes) == 0 {
			return nil, invalidAt("Consent.extension", "of an active Consent names its consent-form version (a grant), or it lists the purposes withdrawn (a partial withdrawal)")
		}
		if err := w.validate(); err != nil {
			return nil, err
		}
		return w, nil
	default:
		return nil, invalidAt("Consent.status", "must be active (a grant, or a partial withdrawal) or inactive (a withdrawal of all purposes)")
	}
}

// parsePurpose reads a provision's purpose: one coding of the trialog
// purpose system and, optionally, the PurposeOfUse coding it maps to.
func parsePurpose(el string, cs []fhirCoding) (string, error) {
	var own, pou *fhirCoding
	for i := range cs {
		switch cs[i].System {
		case FHIRPurposeSystem:
			if own != nil {
				return "", invalidAt(el, "has one coding of system %s", FHIRPurposeSystem)
			}
			own = &cs[i]
		case FHIRActReasonSystem:
			if pou != nil {
				return "", invalidAt(el, "has at most one coding of system %s", FHIRActReasonSystem)
			}
			pou = &cs[i]
		default:
			return "", invalidAt(fmt.Sprintf("%s[%d].system", el, i), "must be %s or %s", FHIRPurposeSystem, FHIRActReasonSystem)
		}
	}
	if own == nil {
		return "", invalidAt(el, "needs a coding of system %s: the trial's own purpose", FHIRPurposeSystem)
	}
	if !purposeRE.MatchString(own.Code) {
		return "", invalidAt(el, "code must be 1 to 64 lowercase letters, digits, '.', '_' or '-'")
	}
	if pou != nil {
		// The PurposeOfUse code must say the same as the trialog code, or
		// the resource would mean one thing to FHIR readers and another to
		// trialog.
		want, ok := purposeOfUse[own.Code]
		if !ok || want.Code != pou.Code {
			exp := "no " + FHIRActReasonSystem + " coding"
			if ok {
				exp = "the code " + want.Code
			}
			return "", invalidAt(el, "pairs purpose %q with %s %q; it takes %s (docs/fhir.md)", own.Code, FHIRActReasonSystem, pou.Code, exp)
		}
	}
	return own.Code, nil
}

func hasCategory(cs []fhirConcept) bool {
	for _, c := range cs {
		for _, k := range c.Coding {
			if k.System == fhirCategorySystem && k.Code == fhirCategoryCode {
				return true
			}
		}
	}
	return false
}

func checkMeta(m *fhirMeta) error {
	if m == nil {
		return nil
	}
	if m.VersionID != "" && !fhirIDRE.MatchString(m.VersionID) {
		return invalidAt("Consent.meta.versionId", "must be a FHIR id")
	}
	if m.LastUpdated != "" {
		if _, err := fhirInstant("Consent.meta.lastUpdated", m.LastUpdated); err != nil {
			return err
		}
	}
	for i, p := range m.Profile {
		if p == "" || strings.ContainsAny(p, " \t\r\n") {
			return invalidAt(fmt.Sprintf("Consent.meta.profile[%d]", i), "must be a canonical URL")
		}
	}
	return nil
}

// fhirInstant reads a FHIR dateTime that names an instant (seconds and a
// time zone) and returns it in UTC as trialog writes times.
func fhirInstant(el, s string) (string, error) {
	if s == "" {
		return "", invalidAt(el, "is required")
	}
	if !fhirInstantRE.MatchString(s) {
		return "", invalidAt(el, "must be a date and time to the second with a time zone, as 2026-11-23T14:00:00Z or 2026-11-23T15:00:00+01:00")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", invalidAt(el, "is not a valid date and time")
	}
	return t.UTC().Format(time.RFC3339Nano), nil
}

// checkDepth refuses JSON nested deeper than max, in one pass and before
// anything is allocated per level.
func checkDepth(b []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > max {
				return statement.Invalidf("%s: nested deeper than %d levels", fhirT, max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
