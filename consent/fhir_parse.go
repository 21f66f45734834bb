package consent

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

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
	if !utf8.Valid(payload) {
		return nil, statement.Invalidf("%s: not valid UTF-8", fhirT)
	}
	if err := checkShape(payload, maxFHIRDepth); err != nil {
		return nil, err
	}
	if err := noEmail(payload); err != nil {
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
		if err := checkNarrative(t.Div); err != nil {
			return nil, err
		}
	}
	if err := checkPrimitives(&c); err != nil {
		return nil, err
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

// checkShape refuses, in one pass and before anything is decoded or
// allocated per level, JSON nested deeper than max and what FHIR's JSON
// format forbids: empty strings, objects and arrays, and null
// (SPEC: FHIR R4 json.html and invariant ele-1, "All FHIR elements must have a
// @value or children").
func checkShape(b []byte, max int) error {
	depth, inString, escaped, opened, start := 0, false, false, false, 0
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if i == start+1 {
					return statement.Invalidf("%s: empty string at byte %d: FHIR JSON leaves an element out rather than empty", fhirT, i-1)
				}
			}
			continue
		}
		if opened && c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			opened = false
			if c == '}' || c == ']' {
				return statement.Invalidf("%s: empty object or array at byte %d: FHIR JSON leaves an element out rather than empty", fhirT, i)
			}
		}
		switch c {
		case '"':
			inString, start = true, i
		case '{', '[':
			if depth++; depth > max {
				return statement.Invalidf("%s: nested deeper than %d levels", fhirT, max)
			}
			opened = true
		case '}', ']':
			depth--
		case 'n':
			return statement.Invalidf("%s: null at byte %d: FHIR JSON leaves an element out rather than null", fhirT, i)
		}
	}
	return nil
}

var (
	// SPEC: FHIR R4 datatypes, the regular expressions of uri, code and
	// string.
	fhirURIRE    = regexp.MustCompile(`^\S*$`)
	fhirCodeRE   = regexp.MustCompile(`^[^\s]+( [^\s]+)*$`)
	fhirStringRE = regexp.MustCompile(`^[ \r\n\t\S]+$`)
)

// checkPrimitives checks the form of the primitives that trialog does not
// otherwise read (codings, references, policies, meta), so that what it
// accepts is valid R4 throughout.
func checkPrimitives(c *fhirConsent) error {
	uri := func(el, v string) error {
		if v != "" && !fhirURIRE.MatchString(v) {
			return invalidAt(el, "must be a URI (no white space)")
		}
		return nil
	}
	str := func(el, v string) error {
		if v != "" && !fhirStringRE.MatchString(v) {
			return invalidAt(el, "must be a FHIR string")
		}
		return nil
	}
	coding := func(el string, k fhirCoding) error {
		if k.Code != "" && !fhirCodeRE.MatchString(k.Code) {
			return invalidAt(el+".code", "must be a FHIR code (no leading, trailing or double white space)")
		}
		if err := uri(el+".system", k.System); err != nil {
			return err
		}
		if err := str(el+".version", k.Version); err != nil {
			return err
		}
		return str(el+".display", k.Display)
	}
	concept := func(el string, cc *fhirConcept) error {
		if cc == nil {
			return nil
		}
		for i, k := range cc.Coding {
			if err := coding(fmt.Sprintf("%s.coding[%d]", el, i), k); err != nil {
				return err
			}
		}
		return str(el+".text", cc.Text)
	}
	ref := func(el string, r *fhirReference) error {
		if r == nil {
			return nil
		}
		if r.Reference == "" && r.Identifier == nil && r.Display == "" {
			return invalidAt(el, "needs a reference, an identifier or a display")
		}
		if err := str(el+".reference", r.Reference); err != nil {
			return err
		}
		if err := uri(el+".type", r.Type); err != nil {
			return err
		}
		if id := r.Identifier; id != nil {
			if err := uri(el+".identifier.system", id.System); err != nil {
				return err
			}
			if err := str(el+".identifier.value", id.Value); err != nil {
				return err
			}
		}
		return str(el+".display", r.Display)
	}
	if m := c.Meta; m != nil {
		if err := uri("Consent.meta.source", m.Source); err != nil {
			return err
		}
		for i, k := range m.Security {
			if err := coding(fmt.Sprintf("Consent.meta.security[%d]", i), k); err != nil {
				return err
			}
		}
		for i, k := range m.Tag {
			if err := coding(fmt.Sprintf("Consent.meta.tag[%d]", i), k); err != nil {
				return err
			}
		}
	}
	for i, e := range c.Extension {
		el := fmt.Sprintf("Consent.extension[%d]", i)
		if err := ref(el+".valueReference", e.ValueReference); err != nil {
			return err
		}
		if err := str(el+".valueString", e.ValueString); err != nil {
			return err
		}
	}
	if err := concept("Consent.scope", c.Scope); err != nil {
		return err
	}
	for i := range c.Category {
		if err := concept(fmt.Sprintf("Consent.category[%d]", i), &c.Category[i]); err != nil {
			return err
		}
	}
	if err := ref("Consent.patient", c.Patient); err != nil {
		return err
	}
	if err := ref("Consent.sourceReference", c.SourceReference); err != nil {
		return err
	}
	for i, p := range c.Policy {
		if err := uri(fmt.Sprintf("Consent.policy[%d].authority", i), p.Authority); err != nil {
			return err
		}
		if err := uri(fmt.Sprintf("Consent.policy[%d].uri", i), p.URI); err != nil {
			return err
		}
	}
	if err := concept("Consent.policyRule", c.PolicyRule); err != nil {
		return err
	}
	if p := c.Provision; p != nil {
		for i, n := range p.Provision {
			for j, k := range n.Purpose {
				if err := coding(fmt.Sprintf("Consent.provision.provision[%d].purpose[%d]", i, j), k); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// narrativeElements are the XHTML elements a FHIR narrative may hold.
// SPEC: FHIR R4 narrative.html, invariant txt-1.
var narrativeElements = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em
		h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td tfoot th thead tr tt ul var`) {
		m[n] = true
	}
	return m
}()

// checkNarrative checks Consent.text.div: well-formed XHTML, one root div
// in the XHTML namespace, only the elements FHIR allows, no event
// attributes (txt-1), and some text (txt-2). trialog never shows a
// submitted narrative, but it accepts only valid ones.
func checkNarrative(div string) error {
	const el = "Consent.text.div"
	d := xml.NewDecoder(strings.NewReader(div))
	d.Strict = true
	d.Entity = xml.HTMLEntity // XHTML's named entities (&nbsp;, &eacute;, …)
	depth, roots, text := 0, 0, false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return invalidAt(el, "must be well-formed XHTML")
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if roots++; roots > 1 || x.Name.Local != "div" || x.Name.Space != "http://www.w3.org/1999/xhtml" {
					return invalidAt(el, "must be one <div xmlns=\"http://www.w3.org/1999/xhtml\"> element")
				}
			}
			depth++
			if !narrativeElements[x.Name.Local] || x.Name.Space != "http://www.w3.org/1999/xhtml" {
				return invalidAt(el, "may hold only basic XHTML elements (FHIR R4 txt-1), not <%s>", x.Name.Local)
			}
			for _, a := range x.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
					return invalidAt(el, "may not carry event attributes (FHIR R4 txt-1)")
				}
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(strings.TrimSpace(string(x))) > 0 {
				return invalidAt(el, "must be one <div> element")
			}
			if len(strings.TrimSpace(string(x))) > 0 {
				text = true
			}
		case xml.Directive, xml.ProcInst:
			return invalidAt(el, "may not hold XML directives or processing instructions")
		}
	}
	if roots != 1 {
		return invalidAt(el, "must be one <div xmlns=\"http://www.w3.org/1999/xhtml\"> element")
	}
	if !text {
		return invalidAt(el, "must have some text (FHIR R4 txt-2)")
	}
	return nil
}

// noEmail refuses a payload with an e-mail address in any string, escaped
// or not, naming the element.
// POLICY: GDPR, EDPB guidelines 02/2025 — no personal data on the log.
// Narratives, displays and meta are free text that an export may fill; an
// e-mail address in any of them is refused, as in every free-text field
// trialog logs.
func noEmail(payload []byte) error {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil // the strict decoder names the fault
	}
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		switch x := v.(type) {
		case string:
			if statement.HasEmail(x) {
				return invalidAt(path, "holds an e-mail address: personal data stays off the log; export the Consent without it")
			}
		case map[string]any:
			for k, e := range x {
				if err := walk(path+"."+k, e); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range x {
				if err := walk(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk("Consent", v)
}
