package consent

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/trialog/trialog/statement"
)

// FHIRPayloadType is the DSSE payloadType of a consent statement written as
// a FHIR R4 Consent resource.
const FHIRPayloadType = "application/fhir+json"

// The fixed codes and systems of trialog's FHIR R4 Consent profile
// (docs/consent.md).
const (
	// SPEC: FHIR R4 Consent.scope, value set consent-scope.
	fhirScopeSystem = "http://terminology.hl7.org/CodeSystem/consentscope"
	fhirScopeCode   = "research"
	// SPEC: FHIR R4 Consent.category; LOINC 59284-0 "Patient Consent".
	fhirCategorySystem = "http://loinc.org"
	fhirCategoryCode   = "59284-0"
	// FHIRSubjectSystem identifies subject references in Consent.patient.
	FHIRSubjectSystem = "urn:trialog:subject"
	// FHIRTrialSystem identifies trial ids (normalised or as written).
	FHIRTrialSystem = "urn:trialog:trial"
	// FHIRPurposeSystem is the code system of purposes.
	FHIRPurposeSystem = "urn:trialog:purpose"
	// SPEC: FHIR R4 core extension workflow-researchStudy: the trial.
	FHIRResearchStudyExtension = "http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"
	// FHIRFormVersionExtension carries a grant's consent-form version.
	FHIRFormVersionExtension = "urn:trialog:fhir:consent-form-version"
	// SPEC: RFC 6920 named information: ni:///sha-256;<base64url digest>.
	niSHA256 = "ni:///sha-256;"
)

// ErrNotConsent means a statement has no FHIR Consent form: only grants and
// withdrawals have one.
var ErrNotConsent = errors.New("only consent.grant and consent.withdraw entries are FHIR Consent resources")

// FHIR R4 Consent, the subset trialog reads and writes. Decoded strictly:
// any element not listed here is rejected, so that a logged resource means
// exactly what trialog took it to mean.
type fhirConsent struct {
	ResourceType string          `json:"resourceType"`
	Extension    []fhirExtension `json:"extension"`
	Status       string          `json:"status"`
	Scope        fhirConcept     `json:"scope"`
	Category     []fhirConcept   `json:"category"`
	Patient      fhirReference   `json:"patient"`
	DateTime     string          `json:"dateTime"`
	Policy       []fhirPolicy    `json:"policy,omitempty"`
	Provision    *fhirProvision  `json:"provision"`
}

type fhirExtension struct {
	URL            string         `json:"url"`
	ValueString    string         `json:"valueString,omitempty"`
	ValueReference *fhirReference `json:"valueReference,omitempty"`
}

type fhirConcept struct {
	Coding []fhirCoding `json:"coding"`
}

type fhirCoding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type fhirReference struct {
	Identifier *fhirIdentifier `json:"identifier"`
}

type fhirIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirPolicy struct {
	URI string `json:"uri"`
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

// ToFHIR renders a grant or withdrawal as a FHIR R4 Consent resource:
//
//   - status "active" for a grant, "inactive" for a withdrawal;
//   - scope research, category LOINC 59284-0;
//   - patient: the subject reference, as an identifier;
//   - dateTime: issued_at;
//   - the trial in the workflow-researchStudy extension, a grant's form
//     version in the FHIRFormVersionExtension, its document digest as
//     policy.uri (RFC 6920 ni URI);
//   - provision: a base "deny" (what is not listed is not consented to),
//     with the grant's period, and one nested provision per purpose with
//     its decision; for a withdrawal, one nested "deny" per purpose
//     withdrawn, none when all are.
func ToFHIR(st statement.Statement) ([]byte, error) {
	var h *Header
	c := fhirConsent{
		ResourceType: "Consent",
		Scope:        fhirConcept{Coding: []fhirCoding{{System: fhirScopeSystem, Code: fhirScopeCode}}},
		Category:     []fhirConcept{{Coding: []fhirCoding{{System: fhirCategorySystem, Code: fhirCategoryCode}}}},
		Provision:    &fhirProvision{Type: Deny},
	}
	switch s := st.(type) {
	case *Grant:
		h = &s.Header
		c.Status = "active"
		sum, _ := hex.DecodeString(s.Form.SHA256)
		c.Policy = []fhirPolicy{{URI: niSHA256 + base64.RawURLEncoding.EncodeToString(sum)}}
		if s.Period != nil {
			c.Provision.Period = &fhirPeriod{Start: s.Period.Start, End: s.Period.End}
		}
		for _, sc := range s.Scope {
			c.Provision.Provision = append(c.Provision.Provision, fhirProvision{Type: sc.Decision, Purpose: []fhirCoding{{System: FHIRPurposeSystem, Code: sc.Purpose}}})
		}
	case *Withdraw:
		h = &s.Header
		c.Status = "inactive"
		for _, p := range s.Purposes {
			c.Provision.Provision = append(c.Provision.Provision, fhirProvision{Type: Deny, Purpose: []fhirCoding{{System: FHIRPurposeSystem, Code: p}}})
		}
	default:
		return nil, ErrNotConsent
	}
	c.Extension = []fhirExtension{{URL: FHIRResearchStudyExtension, ValueReference: &fhirReference{Identifier: &fhirIdentifier{System: FHIRTrialSystem, Value: h.TrialID}}}}
	if g, ok := st.(*Grant); ok {
		c.Extension = append(c.Extension, fhirExtension{URL: FHIRFormVersionExtension, ValueString: g.Form.Version})
	}
	c.Patient = fhirReference{Identifier: &fhirIdentifier{System: FHIRSubjectSystem, Value: h.Subject}}
	c.DateTime = h.IssuedAt
	return json.MarshalIndent(c, "", "  ")
}

// FHIRType returns the statement type a FHIR Consent payload is.
func FHIRType(payload []byte) (string, error) {
	st, err := ParseFHIR(payload)
	if err != nil {
		return "", err
	}
	return st.Type(), nil
}

// ParseFHIR parses a FHIR R4 Consent resource of the form ToFHIR writes
// into the consent.grant or consent.withdraw it stands for, and validates
// that as its native form is. Errors wrap statement.ErrInvalid.
func ParseFHIR(payload []byte) (statement.Statement, error) {
	const t = "FHIR Consent"
	var c fhirConsent
	if err := statement.Decode(t, payload, &c); err != nil {
		return nil, err
	}
	if c.ResourceType != "Consent" {
		return nil, statement.Invalidf("%s: resourceType must be \"Consent\"", t)
	}
	if !oneCoding(c.Scope, fhirScopeSystem, fhirScopeCode) {
		return nil, statement.Invalidf("%s: scope must be the coding %s|%s", t, fhirScopeSystem, fhirScopeCode)
	}
	if len(c.Category) != 1 || !oneCoding(c.Category[0], fhirCategorySystem, fhirCategoryCode) {
		return nil, statement.Invalidf("%s: category must be the one coding %s|%s", t, fhirCategorySystem, fhirCategoryCode)
	}
	if c.Patient.Identifier == nil || c.Patient.Identifier.System != FHIRSubjectSystem {
		return nil, statement.Invalidf("%s: patient must be {\"identifier\": {\"system\": %q, \"value\": <subject reference>}}", t, FHIRSubjectSystem)
	}
	var trial, version string
	var haveTrial, haveVersion bool
	for i, e := range c.Extension {
		switch {
		case e.URL == FHIRResearchStudyExtension && !haveTrial && e.ValueString == "" && e.ValueReference != nil &&
			e.ValueReference.Identifier != nil && e.ValueReference.Identifier.System == FHIRTrialSystem:
			trial, haveTrial = e.ValueReference.Identifier.Value, true
		case e.URL == FHIRFormVersionExtension && !haveVersion && e.ValueReference == nil:
			version, haveVersion = e.ValueString, true
		default:
			return nil, statement.Invalidf("%s: extension[%d] is not one trialog reads, or is repeated (docs/consent.md)", t, i)
		}
	}
	if !haveTrial {
		return nil, statement.Invalidf("%s: the trial is required, in the %s extension with identifier system %s", t, FHIRResearchStudyExtension, FHIRTrialSystem)
	}
	p := c.Provision
	if p == nil || p.Type != Deny {
		return nil, statement.Invalidf("%s: provision is required, with type deny (what it does not list is not consented to)", t)
	}
	h := Header{TrialID: trial, Subject: c.Patient.Identifier.Value, IssuedAt: c.DateTime}
	purposes := func(wantDeny bool) ([]Scope, error) {
		var out []Scope
		for i, n := range p.Provision {
			if n.Period != nil || len(n.Provision) > 0 || len(n.Purpose) != 1 || n.Purpose[0].System != FHIRPurposeSystem {
				return nil, statement.Invalidf("%s: provision.provision[%d] must have a type and one purpose coding of system %s, nothing else", t, i, FHIRPurposeSystem)
			}
			if n.Type != Permit && n.Type != Deny || wantDeny && n.Type != Deny {
				return nil, statement.Invalidf("%s: provision.provision[%d].type must be %s", t, i, map[bool]string{true: "deny", false: "permit or deny"}[wantDeny])
			}
			out = append(out, Scope{Purpose: n.Purpose[0].Code, Decision: n.Type})
		}
		return out, nil
	}
	switch c.Status {
	case "active":
		h.Kind = TypeGrant
		if len(c.Policy) != 1 {
			return nil, statement.Invalidf("%s: a grant has one policy, whose uri is the consent form's digest (%s…)", t, niSHA256)
		}
		sum, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(c.Policy[0].URI, niSHA256))
		if !strings.HasPrefix(c.Policy[0].URI, niSHA256) || err != nil || len(sum) != 32 {
			return nil, statement.Invalidf("%s: policy[0].uri must be %s and the base64url SHA-256 of the consent form (RFC 6920)", t, niSHA256)
		}
		if !haveVersion {
			return nil, statement.Invalidf("%s: a grant names its consent-form version in the %s extension", t, FHIRFormVersionExtension)
		}
		g := &Grant{Header: h, Form: Form{Version: version, SHA256: hex.EncodeToString(sum)}}
		if p.Period != nil {
			g.Period = &Period{Start: p.Period.Start, End: p.Period.End}
		}
		if g.Scope, err = purposes(false); err != nil {
			return nil, err
		}
		if err := g.validate(); err != nil {
			return nil, err
		}
		return g, nil
	case "inactive":
		h.Kind = TypeWithdraw
		if len(c.Policy) > 0 || haveVersion || p.Period != nil {
			return nil, statement.Invalidf("%s: a withdrawal (status inactive) has no policy, form version or period", t)
		}
		sc, err := purposes(true)
		if err != nil {
			return nil, err
		}
		w := &Withdraw{Header: h}
		for _, s := range sc {
			w.Purposes = append(w.Purposes, s.Purpose)
		}
		if err := w.validate(); err != nil {
			return nil, err
		}
		return w, nil
	default:
		return nil, statement.Invalidf("%s: status must be active (a grant) or inactive (a withdrawal)", t)
	}
}

func oneCoding(c fhirConcept, system, code string) bool {
	return len(c.Coding) == 1 && c.Coding[0].System == system && c.Coding[0].Code == code
}
