package consent

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html"
	"strings"

	"github.com/trialog/trialog/statement"
)

// FHIRPayloadType is the DSSE payloadType of a consent statement written as
// a FHIR R4 Consent resource.
const FHIRPayloadType = "application/fhir+json"

// The codes, systems and canonical URLs of trialog's FHIR R4 Consent profile
// (docs/fhir.md; the StructureDefinitions are in fhirprofile/).
const (
	// FHIRCanonicalBase is the base of the canonical URLs of trialog's
	// FHIR conformance resources. Canonical URLs are names, not addresses:
	// every trialogd also serves them under /fhir/StructureDefinition/.
	FHIRCanonicalBase = "https://trialog.example/fhir"
	// FHIRProfile is the canonical URL of trialog's Consent profile.
	FHIRProfile = FHIRCanonicalBase + "/StructureDefinition/trialog-consent"
	// FHIRFormVersionExtension is the canonical URL of the extension that
	// carries a grant's consent-form version.
	FHIRFormVersionExtension = FHIRCanonicalBase + "/StructureDefinition/consent-form-version"
	// FHIRSubjectSystem identifies subject references in Consent.patient.
	FHIRSubjectSystem = "urn:trialog:subject"
	// FHIRTrialSystem identifies trial ids (normalised or as written).
	FHIRTrialSystem = "urn:trialog:trial"
	// FHIRPurposeSystem is the code system of trialog purposes.
	FHIRPurposeSystem = "urn:trialog:purpose"
	// SPEC: FHIR R4 core extension workflow-researchStudy: the trial.
	FHIRResearchStudyExtension = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"
	// SPEC: FHIR R4 Consent.provision.purpose, value set PurposeOfUse
	// (v3-ActReason).
	FHIRActReasonSystem = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	// SPEC: v3-ActCode, consent directive codes: OPTOUT is a withdrawal's
	// policyRule.
	fhirActCodeSystem = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	fhirOptOut        = "OPTOUT"
	// SPEC: FHIR R4 Consent.scope, value set consent-scope.
	fhirScopeSystem = "http://terminology.hl7.org/CodeSystem/consentscope"
	fhirScopeCode   = "research"
	// SPEC: FHIR R4 Consent.category; LOINC 59284-0 "Patient Consent".
	fhirCategorySystem = "http://loinc.org"
	fhirCategoryCode   = "59284-0"
	// SPEC: RFC 6920 named information: ni:///sha-256;<base64url digest>.
	niSHA256 = "ni:///sha-256;"
	// maxFHIRDepth bounds the nesting of a FHIR payload, as of every JSON
	// body trialogd reads; the profile itself needs fewer than 10 levels.
	maxFHIRDepth = 64
)

// purposeOfUse maps the trialog purposes that have an HL7 PurposeOfUse
// (v3-ActReason) equivalent. Other purposes carry the trialog code alone.
var purposeOfUse = map[string]fhirCoding{
	"primary-analysis":   {System: FHIRActReasonSystem, Code: "CLINTRCH", Display: "clinical trial research"},
	"secondary-analysis": {System: FHIRActReasonSystem, Code: "CLINTRCH", Display: "clinical trial research"},
	"clinical-trial":     {System: FHIRActReasonSystem, Code: "CLINTRCH", Display: "clinical trial research"},
	"future-research":    {System: FHIRActReasonSystem, Code: "HRESCH", Display: "healthcare research"},
	"research":           {System: FHIRActReasonSystem, Code: "HRESCH", Display: "healthcare research"},
}

// PurposeOfUse returns the v3-ActReason code of a trialog purpose, if it has
// one.
func PurposeOfUse(purpose string) (string, bool) {
	c, ok := purposeOfUse[purpose]
	return c.Code, ok
}

// ErrNotConsent means a statement has no FHIR Consent form: only grants and
// withdrawals have one.
var ErrNotConsent = errors.New("only consent.grant and consent.withdraw entries are FHIR Consent resources")

// FHIR R4 Consent, the elements of trialog's profile. Decoded strictly: any
// element not listed here is refused, so that a logged resource means
// exactly what trialog took it to mean.
type fhirConsent struct {
	ResourceType    string          `json:"resourceType"`
	ID              string          `json:"id,omitempty"`
	Meta            *fhirMeta       `json:"meta,omitempty"`
	Text            *fhirNarrative  `json:"text,omitempty"`
	Extension       []fhirExtension `json:"extension,omitempty"`
	Status          string          `json:"status"`
	Scope           *fhirConcept    `json:"scope"`
	Category        []fhirConcept   `json:"category"`
	Patient         *fhirReference  `json:"patient"`
	DateTime        string          `json:"dateTime"`
	SourceReference *fhirReference  `json:"sourceReference,omitempty"`
	Policy          []fhirPolicy    `json:"policy,omitempty"`
	PolicyRule      *fhirConcept    `json:"policyRule,omitempty"`
	Provision       *fhirProvision  `json:"provision"`
}

type fhirMeta struct {
	VersionID   string       `json:"versionId,omitempty"`
	LastUpdated string       `json:"lastUpdated,omitempty"`
	Source      string       `json:"source,omitempty"`
	Profile     []string     `json:"profile,omitempty"`
	Security    []fhirCoding `json:"security,omitempty"`
	Tag         []fhirCoding `json:"tag,omitempty"`
}

type fhirNarrative struct {
	Status string `json:"status"`
	Div    string `json:"div"`
}

type fhirExtension struct {
	URL            string         `json:"url"`
	ValueString    string         `json:"valueString,omitempty"`
	ValueReference *fhirReference `json:"valueReference,omitempty"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding,omitempty"`
	Text   string       `json:"text,omitempty"`
}

type fhirCoding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type fhirReference struct {
	Reference  string          `json:"reference,omitempty"`
	Type       string          `json:"type,omitempty"`
	Identifier *fhirIdentifier `json:"identifier,omitempty"`
	Display    string          `json:"display,omitempty"`
}

type fhirIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirPolicy struct {
	Authority string `json:"authority,omitempty"`
	URI       string `json:"uri,omitempty"`
}

type fhirPeriod struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type fhirProvision struct {
	Type      string          `json:"type"`
	Period    *fhirPeriod     `json:"period,omitempty"`
	Purpose   []fhirCoding    `json:"purpose,omitempty"`
	Provision []fhirProvision `json:"provision,omitempty"`
}

// FHIRContext is what the log knows of an entry beyond its statement, and
// what its Consent resource shows of it. Every field is optional.
type FHIRContext struct {
	// ID is the entry id: Consent.id.
	ID string
	// ReceivedAt is the log's time of the entry: meta.lastUpdated.
	ReceivedAt string
	// Changes is, for a withdrawal, the grant it changes: its policy is
	// the withdrawal's, and sourceReference points at it.
	Changes *ChangedGrant
}

// ChangedGrant is the grant a withdrawal changes.
type ChangedGrant struct {
	EntryID string
	Form    Form
}

// GrantChanged returns the grant that the withdrawal logged at leaf index at
// changes: the subject's latest grant before it in log order, or nil. es are
// the subject's entries in log order.
func GrantChanged(es []statement.Logged, at int64) *ChangedGrant {
	var out *ChangedGrant
	for _, e := range es {
		if e.LeafIndex >= at {
			break
		}
		if g, ok := e.Statement.(*Grant); ok {
			out = &ChangedGrant{EntryID: e.ID, Form: g.Form}
		}
	}
	return out
}

// ToFHIR renders a grant or withdrawal as a FHIR R4 Consent resource of
// trialog's profile (docs/fhir.md), valid R4 with every invariant:
//
//   - a grant is "active"; its policy is the consent form's digest (RFC
//     6920 ni URI), its form version is in the FHIRFormVersionExtension;
//   - a withdrawal of all purposes is "inactive", of some purposes "active"
//     (the rest of the grant stays in force); both carry policyRule
//     v3-ActCode OPTOUT and, when x.Changes names the grant they change, its
//     policy and a sourceReference to it;
//   - scope research, category LOINC 59284-0, patient the subject reference
//     as an identifier, dateTime issued_at, the trial in the
//     workflow-researchStudy extension;
//   - provision: a base "deny" (what is not listed is not consented to),
//     with a grant's period and one nested provision per purpose with its
//     decision, or a withdrawal's one nested "deny" per purpose withdrawn;
//     each purpose as its PurposeOfUse code where it has one and its
//     trialog code;
//   - a generated XHTML narrative; id and meta from x.
func ToFHIR(st statement.Statement, x FHIRContext) ([]byte, error) {
	var h *Header
	c := fhirConsent{
		ResourceType: "Consent",
		ID:           x.ID,
		Meta:         &fhirMeta{Profile: []string{FHIRProfile}},
		Scope:        &fhirConcept{Coding: []fhirCoding{{System: fhirScopeSystem, Code: fhirScopeCode}}},
		Category:     []fhirConcept{{Coding: []fhirCoding{{System: fhirCategorySystem, Code: fhirCategoryCode}}}},
		Provision:    &fhirProvision{Type: Deny},
	}
	if x.ReceivedAt != "" {
		c.Meta.VersionID, c.Meta.LastUpdated = "1", x.ReceivedAt
	}
	switch s := st.(type) {
	case *Grant:
		h = &s.Header
		c.Status = "active"
		c.Policy = []fhirPolicy{{URI: formURI(s.Form)}}
		if s.Period != nil {
			c.Provision.Period = &fhirPeriod{Start: s.Period.Start, End: s.Period.End}
		}
		for _, sc := range s.Scope {
			c.Provision.Provision = append(c.Provision.Provision, fhirProvision{Type: sc.Decision, Purpose: purposeCodings(sc.Purpose)})
		}
	case *Withdraw:
		h = &s.Header
		c.Status = "inactive"
		if !s.All() {
			c.Status = "active"
		}
		if g := x.Changes; g != nil {
			c.SourceReference = &fhirReference{Reference: "Consent/" + g.EntryID}
			c.Policy = []fhirPolicy{{URI: formURI(g.Form)}}
		}
		// POLICY: FHIR R4 ppc-1 — every Consent has a policy or a
		// policyRule, whatever the log knows of the grant.
		c.PolicyRule = &fhirConcept{Coding: []fhirCoding{{System: fhirActCodeSystem, Code: fhirOptOut}}}
		for _, p := range s.Purposes {
			c.Provision.Provision = append(c.Provision.Provision, fhirProvision{Type: Deny, Purpose: purposeCodings(p)})
		}
	default:
		return nil, ErrNotConsent
	}
	c.Extension = []fhirExtension{{URL: FHIRResearchStudyExtension, ValueReference: &fhirReference{Identifier: &fhirIdentifier{System: FHIRTrialSystem, Value: h.TrialID}}}}
	if g, ok := st.(*Grant); ok {
		c.Extension = append(c.Extension, fhirExtension{URL: FHIRFormVersionExtension, ValueString: g.Form.Version})
	}
	c.Patient = &fhirReference{Identifier: &fhirIdentifier{System: FHIRSubjectSystem, Value: h.Subject}}
	c.DateTime = h.IssuedAt
	c.Text = &fhirNarrative{Status: "generated", Div: narrative(st, x)}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the narrative is XHTML; keep it legible
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

func formURI(f Form) string {
	sum, _ := hex.DecodeString(f.SHA256)
	return niSHA256 + base64.RawURLEncoding.EncodeToString(sum)
}

func purposeCodings(p string) []fhirCoding {
	own := fhirCoding{System: FHIRPurposeSystem, Code: p}
	if c, ok := purposeOfUse[p]; ok {
		return []fhirCoding{c, own}
	}
	return []fhirCoding{own}
}

// narrative is the generated XHTML of a Consent: what a person reading the
// resource needs, in plain words. Every value is escaped.
func narrative(st statement.Statement, x FHIRContext) string {
	e := html.EscapeString
	var b strings.Builder
	b.WriteString(`<div xmlns="http://www.w3.org/1999/xhtml">`)
	purpose := func(p string) string {
		s := "<code>" + e(p) + "</code>"
		if c, ok := purposeOfUse[p]; ok {
			s += " (" + e(c.Display) + ", " + c.Code + ")"
		}
		return s
	}
	switch s := st.(type) {
	case *Grant:
		b.WriteString("<p>Research consent of subject <code>" + e(s.Subject) + "</code> in trial <code>" + e(s.TrialID) +
			"</code>, on consent form version <code>" + e(s.Form.Version) + "</code>, recorded " + e(s.IssuedAt) + ".</p><ul>")
		for _, sc := range s.Scope {
			word := "permitted"
			if sc.Decision == Deny {
				word = "denied"
			}
			b.WriteString("<li>" + purpose(sc.Purpose) + ": " + word + "</li>")
		}
		b.WriteString("</ul>")
		if p := s.Period; p != nil {
			b.WriteString("<p>In force")
			if p.Start != "" {
				b.WriteString(" from " + e(p.Start))
			}
			if p.End != "" {
				b.WriteString(" until " + e(p.End))
			}
			b.WriteString(".</p>")
		}
		b.WriteString("<p>Every other use is denied.</p>")
	case *Withdraw:
		if s.All() {
			b.WriteString("<p>Withdrawal of all research consent of subject <code>" + e(s.Subject) + "</code> in trial <code>" + e(s.TrialID) + "</code>, recorded " + e(s.IssuedAt) + ". Every use is denied from then on.</p>")
		} else {
			b.WriteString("<p>Partial withdrawal of research consent of subject <code>" + e(s.Subject) + "</code> in trial <code>" + e(s.TrialID) + "</code>, recorded " + e(s.IssuedAt) + ". From then on these uses are denied:</p><ul>")
			for _, p := range s.Purposes {
				b.WriteString("<li>" + purpose(p) + "</li>")
			}
			b.WriteString("</ul><p>The rest of the consent stays in force.</p>")
		}
		if x.Changes != nil {
			b.WriteString("<p>It changes the consent <code>Consent/" + e(x.Changes.EntryID) + "</code> (form version <code>" + e(x.Changes.Form.Version) + "</code>).</p>")
		}
	}
	b.WriteString("</div>")
	return b.String()
}
