package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/trialog/trialog/internal/fhirvalid"
	"github.com/trialog/trialog/statement"
)

var changed = &ChangedGrant{EntryID: "5a1e0c5f0d6c2f9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817",
	Form: Form{Version: "1.0", SHA256: "8e2a6ce82e328eb9f71f65bdd62aa360798665e56d76937045cbcf2a0840e6a8"}}

// TestFHIRFixtures checks both directions against hand-checked FHIR R4
// Consent resources: each native statement renders as its fixture, the
// fixture is valid R4 (google/fhir and the invariants), and it parses back
// to the statement.
func TestFHIRFixtures(t *testing.T) {
	for _, tc := range []struct {
		native, fhir string
		x            FHIRContext
		parse        func([]byte) (statement.Statement, error)
	}{
		{"statements/grant.json", "fhir/grant.json", FHIRContext{ID: changed.EntryID, ReceivedAt: "2026-03-01T09:30:01.123456Z"}, ParseGrant},
		{"statements/withdraw-some.json", "fhir/withdraw-some.json", FHIRContext{ID: "7c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d", ReceivedAt: "2026-04-01T10:00:00.5Z", Changes: changed}, ParseWithdraw},
		{"statements/withdraw-all.json", "fhir/withdraw-all.json", FHIRContext{ID: "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d", ReceivedAt: "2026-05-01T10:00:00.25Z", Changes: changed}, ParseWithdraw},
		{"statements/withdraw-all.json", "fhir/withdraw-no-grant.json", FHIRContext{}, ParseWithdraw},
	} {
		t.Run(tc.fhir, func(t *testing.T) {
			want, err := tc.parse(readFile(t, tc.native))
			if err != nil {
				t.Fatal(err)
			}
			fixture := readFile(t, tc.fhir)
			got, err := ToFHIR(want, tc.x)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, '\n'), fixture) {
				t.Errorf("ToFHIR:\n%s\nwant:\n%s", got, fixture)
			}
			if err := fhirvalid.Validate(got); err != nil {
				t.Errorf("not valid R4: %v", err)
			}
			back, err := ParseFHIR(fixture)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("ParseFHIR = %+v\nwant %+v", back, want)
			}
			if typ, err := FHIRType(fixture); err != nil || typ != want.Type() {
				t.Errorf("FHIRType = %s, %v", typ, err)
			}
			// The native JSON of the parsed resource is the native fixture.
			nb, _ := json.Marshal(back)
			var a, b any
			json.Unmarshal(nb, &a)
			json.Unmarshal(readFile(t, tc.native), &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("native form of the FHIR resource:\n%s", nb)
			}
		})
	}
}

// TestFHIRExports: Consents as a HAPI FHIR server and an EHR export them —
// with id, meta (versionId, lastUpdated, source, security, tags), their own
// narrative, policyRule, displays, an extra category and date-times with
// offsets — are valid R4 and are accepted unedited, meaning the statement
// they stand for.
func TestFHIRExports(t *testing.T) {
	for _, tc := range []struct {
		export, native string
		parse          func([]byte) (statement.Statement, error)
	}{
		{"fhir/exports/hapi-grant.json", "statements/grant.json", ParseGrant},
		{"fhir/exports/ehr-grant.json", "statements/grant.json", ParseGrant},
		{"fhir/exports/hapi-withdraw-some.json", "statements/withdraw-some.json", ParseWithdraw},
		{"fhir/exports/ehr-withdraw-all.json", "statements/withdraw-all.json", ParseWithdraw},
	} {
		t.Run(tc.export, func(t *testing.T) {
			b := readFile(t, tc.export)
			if err := fhirvalid.Validate(b); err != nil {
				t.Fatalf("the export is not valid R4: %v", err)
			}
			got, err := ParseFHIR(b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tc.parse(readFile(t, tc.native))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseFHIR = %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestFHIRPurposeOfUse: mapped purposes carry their v3-ActReason code.
func TestFHIRPurposeOfUse(t *testing.T) {
	for p, want := range map[string]string{"primary-analysis": "CLINTRCH", "future-research": "HRESCH", "genomics": ""} {
		got, ok := PurposeOfUse(p)
		if got != want || ok != (want != "") {
			t.Errorf("PurposeOfUse(%q) = %q, %v", p, got, ok)
		}
	}
}

func TestFHIRNotConsent(t *testing.T) {
	for f, parse := range map[string]func([]byte) (statement.Statement, error){
		"statements/access.json": ParseAccess, "statements/erasure.json": ParseErasure,
	} {
		s, err := parse(readFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ToFHIR(s, FHIRContext{}); !errors.Is(err, ErrNotConsent) {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestGrantChanged: a withdrawal changes the subject's latest grant before
// it in log order.
func TestGrantChanged(t *testing.T) {
	g1, _ := ParseGrant(readFile(t, "statements/grant.json"))
	w, _ := ParseWithdraw(readFile(t, "statements/withdraw-all.json"))
	es := []statement.Logged{{ID: "a", LeafIndex: 3, Statement: g1}, {ID: "b", LeafIndex: 5, Statement: w}, {ID: "c", LeafIndex: 9, Statement: g1}}
	if c := GrantChanged(es, 5); c == nil || c.EntryID != "a" || c.Form.Version != "1.0" {
		t.Errorf("GrantChanged(5) = %+v", c)
	}
	if c := GrantChanged(es, 12); c == nil || c.EntryID != "c" {
		t.Errorf("GrantChanged(12) = %+v", c)
	}
	if c := GrantChanged(es, 3); c != nil {
		t.Errorf("GrantChanged(3) = %+v, want none", c)
	}
}

// TestParseFHIRInvalid: near-misses of the profile are refused, each with
// the element named.
func TestParseFHIRInvalid(t *testing.T) {
	grant := string(readFile(t, "fhir/exports/hapi-grant.json"))
	some := string(readFile(t, "fhir/withdraw-some.json"))
	all := string(readFile(t, "fhir/exports/ehr-withdraw-all.json"))
	for _, tc := range []struct {
		name, base, old, new, want string
	}{
		{"not a Consent", grant, `"resourceType": "Consent"`, `"resourceType": "Patient"`, "Consent.resourceType"},
		{"identifier", grant, `"status": "active"`, `"identifier": [{"system": "urn:mrn", "value": "123"}], "status": "active"`, "Consent.identifier is not part"},
		{"performer", grant, `"status": "active"`, `"performer": [{"reference": "Practitioner/1"}], "status": "active"`, "Consent.performer"},
		{"provision actor", grant, `"type": "permit",`, `"type": "permit", "actor": [{"reference": {"reference": "Organization/1"}, "role": {"text": "x"}}],`, "Consent.provision.provision[0].actor"},
		{"modifierExtension", grant, `"status": "active"`, `"modifierExtension": [{"url": "urn:x", "valueBoolean": true}], "status": "active"`, "Consent.modifierExtension"},
		{"bad id", grant, `"id": "1203"`, `"id": "12 03"`, "Consent.id"},
		{"bad lastUpdated", grant, `"2026-03-01T10:31:07.402+01:00"`, `"2026-03-01"`, "Consent.meta.lastUpdated"},
		{"text status", grant, `"status": "generated"`, `"status": "made-up"`, "Consent.text.status"},
		{"other scope", grant, `"code": "research",`, `"code": "treatment",`, "Consent.scope"},
		{"other category", grant, `"59284-0"`, `"64292-6"`, "Consent.category"},
		{"patient by name", grant, `"patient": {`, `"patient": {"display": "Jane Doe",`, "Consent.patient"},
		{"patient literal", grant, `"patient": {`, `"patient": {"reference": "Patient/123",`, "Consent.patient"},
		{"patient MRN", grant, `"system": "urn:trialog:subject"`, `"system": "urn:oid:1.2.3.4"`, "Consent.patient"},
		{"subject MRN value", grant, `"sub_0123456789abcdef0123456789abcdef"`, `"MRN123456"`, "subject reference"},
		{"draft", grant, `"status": "active"`, `"status": "draft"`, "Consent.status"},
		{"partial date", grant, `"dateTime": "2026-03-01T10:30:00+01:00"`, `"dateTime": "2026-03-01"`, "Consent.dateTime"},
		{"no zone", grant, `"dateTime": "2026-03-01T10:30:00+01:00"`, `"dateTime": "2026-03-01T10:30:00"`, "Consent.dateTime"},
		{"period no zone", grant, `"start": "2026-03-01T01:00:00+01:00"`, `"start": "2026-03-01T01:00"`, "Consent.provision.period.start"},
		{"no trial", grant, `"http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"`, `"urn:other"`, "Consent.extension[0]"},
		{"legacy form-version URN", grant, `"https://trialog.example/fhir/StructureDefinition/consent-form-version"`, `"urn:trialog:fhir:consent-form-version"`, "Consent.extension[1]"},
		{"hex policy", grant, `ni:///sha-256;jips6C4yjrn3H2W91iqjYHmGZeVtdpNwRcvPKghA5qg`, `urn:sha256:8e2a6ce82e328eb9f71f65bdd62aa360798665e56d76937045cbcf2a0840e6a8`, "Consent.policy[0].uri"},
		{"padded policy", grant, `5qg"`, `5qg="`, "Consent.policy[0].uri"},
		{"no policy (ppc-1)", all, `"policyRule": {`, `"foo": {`, "Consent.foo"},
		{"base permit", grant, `"type": "deny",
    "period"`, `"type": "permit",
    "period"`, "Consent.provision is required, with type deny"},
		{"HRESCH for primary-analysis", grant, `"code": "CLINTRCH"`, `"code": "HRESCH"`, "Consent.provision.provision[0].purpose"},
		{"PurposeOfUse alone", grant, `"system": "urn:trialog:purpose",
            "code": "primary-analysis"`, `"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": "CLINTRCH"`, "Consent.provision.provision[0].purpose"},
		{"other purpose system", grant, `"system": "urn:trialog:purpose",
            "code": "future-research"`, `"system": "http://snomed.info/sct",
            "code": "future-research"`, "Consent.provision.provision[1].purpose[0].system"},
		{"withdraw with permit", some, `"type": "deny",
        "purpose"`, `"type": "permit",
        "purpose"`, "Consent.provision.provision[0].type"},
		{"inactive with purposes", some, `"status": "active"`, `"status": "inactive"`, "Consent.status"},
		{"withdraw with period", some, `"provision": {
    "type": "deny",`, `"provision": {
    "type": "deny", "period": {"start": "2026-01-01T00:00:00Z"},`, "Consent.provision.period"},
		{"grant with sourceReference", grant, `"policy": [`, `"sourceReference": {"reference": "Consent/1"}, "policy": [`, "Consent.sourceReference"},
		{"R5 subject", grant, `"patient": {`, `"subject": {"reference": "Patient/1"}, "patient": {`, "Consent.subject"},
		{"e-mail in the narrative", grant, `<b>Consent</b>`, `<b>Consent</b> of jane.doe@example.org`, "Consent.text.div holds an e-mail address"},
		{"escaped e-mail", grant, `"#k3Xp9QzR2LmN7vTb"`, `"jane\u0040example\u002eorg"`, "Consent.meta.source holds an e-mail address"},
		{"e-mail in meta.source", grant, `"#k3Xp9QzR2LmN7vTb"`, `"mailto:records@st-mary.example"`, "e-mail address"},
		{"duplicate key", grant, `"status": "active"`, `"status": "active", "status": "inactive"`, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.base, tc.old) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			_, err := ParseFHIR([]byte(strings.Replace(tc.base, tc.old, tc.new, 1)))
			if err == nil || !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an invalid-statement error naming %q", err, tc.want)
			}
		})
	}
}

// TestParseFHIRPolicyRequired: a withdrawal without policy or policyRule
// breaks ppc-1 and is refused.
func TestParseFHIRPolicyRequired(t *testing.T) {
	var m map[string]any
	json.Unmarshal(readFile(t, "fhir/exports/ehr-withdraw-all.json"), &m)
	delete(m, "policyRule")
	b, _ := json.Marshal(m)
	if _, err := ParseFHIR(b); err == nil || !strings.Contains(err.Error(), "ppc-1") {
		t.Fatalf("got %v, want ppc-1", err)
	}
}

// TestParseFHIRDepth: deep nesting is refused before decoding.
func TestParseFHIRDepth(t *testing.T) {
	b := []byte(`{"resourceType": "Consent", "text": ` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)
	if _, err := ParseFHIR(b); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("got %v", err)
	}
}

// TestParseFHIRShape: what FHIR JSON forbids is refused before decoding;
// an escaped quote is not an empty string.
func TestParseFHIRShape(t *testing.T) {
	grant := string(readFile(t, "fhir/exports/hapi-grant.json"))
	for _, tc := range []struct{ old, new, want string }{
		{`"display": "Research"`, `"display": ""`, "empty string"},
		{`"source": "#k3Xp9QzR2LmN7vTb"`, `"source": null`, "null"},
		{`"profile": [`, `"security": [ ], "profile": [`, "empty object or array"},
		{`"versionId": "2",`, `"versionId": "2", "tag": [{}],`, "empty object or array"},
	} {
		if _, err := ParseFHIR([]byte(strings.Replace(grant, tc.old, tc.new, 1))); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.new, err, tc.want)
		}
	}
	for _, div := range []string{`<p>Consent&nbsp;for research &amp; &eacute;tude</p>`, `<table><tr><td style=\"color: red\">x</td></tr></table><br/>`} {
		ok := strings.Replace(grant, `<p><b>Consent</b> for research, study NCT00000419, form 1.0</p>`, div, 1)
		if _, err := ParseFHIR([]byte(ok)); err != nil {
			t.Errorf("narrative %s: %v", div, err)
		}
		if err := fhirvalid.Validate([]byte(ok)); err != nil {
			t.Errorf("narrative %s: %v", div, err)
		}
	}
	for div, want := range map[string]string{
		`<script>alert(1)</script>`: "txt-1", `<p onclick=\"x()\">x</p>`: "event attributes", `<p>x`: "well-formed",
		`<p> </p>`: "txt-2", `<p>x</p></div><div xmlns=\"http://www.w3.org/1999/xhtml\">y`: "one <div",
	} {
		bad := strings.Replace(grant, `<p><b>Consent</b> for research, study NCT00000419, form 1.0</p>`, div, 1)
		if _, err := ParseFHIR([]byte(bad)); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Consent.text.div") {
			t.Errorf("narrative %s: got %v, want %q", div, err, want)
		}
	}
	escaped := strings.Replace(grant, `"text": "Research"`, `"text": "Research \"R\""`, 1)
	if _, err := ParseFHIR([]byte(escaped)); err != nil {
		t.Errorf("escaped quotes: %v", err)
	}
}

// TestFHIRFormat checks the registry hook: a FHIR payload is a consent
// statement of the type it stands for.
func TestFHIRFormat(t *testing.T) {
	reg := statement.NewRegistry()
	Register(reg, memSubjects{})
	k, st, err := reg.ParseFor(FHIRPayloadType, readFile(t, "fhir/grant.json"))
	if err != nil || k.Name != TypeGrant || st.Type() != TypeGrant {
		t.Fatalf("%v %v %v", k, st, err)
	}
	if _, err := reg.KindFor("application/xml", nil); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), FHIRPayloadType) {
		t.Fatalf("unknown payloadType: %v", err)
	}
	if _, _, err := reg.ParseFor(statement.PayloadType, readFile(t, "fhir/grant.json")); err == nil {
		t.Fatal("a FHIR resource parsed as a native statement")
	}
}
