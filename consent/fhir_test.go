package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/trialog/trialog/statement"
)

// TestFHIRFixtures checks both directions against hand-checked FHIR R4
// Consent resources: each native statement renders as its fixture, and each
// fixture parses back to the statement.
func TestFHIRFixtures(t *testing.T) {
	for _, tc := range []struct {
		native, fhir string
		parse        func([]byte) (statement.Statement, error)
	}{
		{"statements/grant.json", "fhir/grant.json", ParseGrant},
		{"statements/withdraw-some.json", "fhir/withdraw-some.json", ParseWithdraw},
		{"statements/withdraw-all.json", "fhir/withdraw-all.json", ParseWithdraw},
	} {
		t.Run(tc.fhir, func(t *testing.T) {
			want, err := tc.parse(readFile(t, tc.native))
			if err != nil {
				t.Fatal(err)
			}
			fixture := readFile(t, tc.fhir)
			got, err := ToFHIR(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, '\n'), fixture) {
				t.Errorf("ToFHIR:\n%s\nwant:\n%s", got, fixture)
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

func TestFHIRNotConsent(t *testing.T) {
	for f, parse := range map[string]func([]byte) (statement.Statement, error){
		"statements/access.json": ParseAccess, "statements/erasure.json": ParseErasure,
	} {
		s, err := parse(readFile(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ToFHIR(s); !errors.Is(err, ErrNotConsent) {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseFHIRInvalid(t *testing.T) {
	grant := string(readFile(t, "fhir/grant.json"))
	withdraw := string(readFile(t, "fhir/withdraw-some.json"))
	for _, tc := range []struct {
		name, base, old, new, want string
	}{
		{"not a Consent", grant, `"resourceType": "Consent"`, `"resourceType": "Patient"`, "resourceType"},
		{"other scope", grant, `"code": "research"`, `"code": "treatment"`, "scope"},
		{"other category", grant, `"59284-0"`, `"64292-6"`, "category"},
		{"patient by name", grant, `"identifier": {
      "system": "urn:trialog:subject",
      "value": "sub_0123456789abcdef0123456789abcdef"
    }`, `"display": "Jane Doe"`, "unknown field"},
		{"patient MRN", grant, `"sub_0123456789abcdef0123456789abcdef"`, `"MRN123456"`, "subject reference"},
		{"draft", grant, `"status": "active"`, `"status": "draft"`, "status"},
		{"no trial", grant, `"http://hl7.org/fhir/StructureDefinition/workflow-researchStudy"`, `"urn:other"`, "extension[0]"},
		{"no form version", grant, `"urn:trialog:fhir:consent-form-version"`, `"urn:other"`, "extension[1]"},
		{"hex policy", grant, `ni:///sha-256;jips6C4yjrn3H2W91iqjYHmGZeVtdpNwRcvPKghA5qg`, `urn:sha256:8e2a6ce82e328eb9f71f65bdd62aa360798665e56d76937045cbcf2a0840e6a8`, "policy[0].uri"},
		{"padded policy", grant, `5qg"`, `5qg="`, "policy[0].uri"},
		{"base permit", grant, `"type": "deny",
    "period"`, `"type": "permit",
    "period"`, "type deny"},
		{"nested purpose system", grant, `"system": "urn:trialog:purpose",
            "code": "future-research"`, `"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": "HRESCH"`, "purpose coding"},
		{"withdraw with permit", withdraw, `"type": "deny",
        "purpose"`, `"type": "permit",
        "purpose"`, "must be deny"},
		{"withdraw with policy", withdraw, `"provision": {`, `"policy": [{"uri": "ni:///sha-256;jips6C4yjrn3H2W91iqjYHmGZeVtdpNwRcvPKghA5qg"}], "provision": {`, "no policy"},
		{"offset time", withdraw, `"2026-04-01T10:00:00Z"`, `"2026-04-01T12:00:00+02:00"`, "UTC"},
		{"meta", grant, `"status"`, `"meta": {}, "status"`, "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.base, tc.old) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			_, err := ParseFHIR([]byte(strings.Replace(tc.base, tc.old, tc.new, 1)))
			if err == nil || !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an invalid-statement error mentioning %q", err, tc.want)
			}
		})
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
