package fhirvalid

import (
	"strings"
	"testing"
)

const base = `{"resourceType": "Consent", "status": "inactive",
 "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "research"}]},
 "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
 "patient": {"identifier": {"system": "urn:trialog:subject", "value": "sub_0123456789abcdef0123456789abcdef"}},
 "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>x</p></div>"},
 "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]},
 "provision": {"type": "deny"}}`

// TestValidate: the validator passes a valid Consent and catches each kind
// of fault it is relied on for.
func TestValidate(t *testing.T) {
	if err := Validate([]byte(base)); err != nil {
		t.Fatalf("valid Consent refused: %v", err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"ppc-1", `"policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}]},`, ``, "ppc-1"},
		{"ppc-3", `"patient": {"identifier": {"system": "urn:trialog:subject", "value": "sub_0123456789abcdef0123456789abcdef"}},`, ``, "ppc-3"},
		{"unknown element", `"status"`, `"decision": "permit", "status"`, "google/fhir"},
		{"bad code", `"status": "inactive"`, `"status": "withdrawn"`, "google/fhir"},
		{"missing status", `"status": "inactive",`, ``, "google/fhir"},
		{"offset-less time", `"status": "inactive",`, `"status": "inactive", "dateTime": "2026-01-01T10:00",`, "google/fhir"},
		{"script", `<p>x</p>`, `<script>x</script>`, "txt-1"},
		{"empty narrative", `<p>x</p>`, `<p> </p>`, "txt-2"},
		{"ext-1", `"status"`, `"extension": [{"url": "urn:x"}], "status"`, ""},
		{"empty array", `"status"`, `"policy": [], "status"`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := strings.Replace(base, tc.old, tc.new, 1)
			if b == base {
				t.Fatal("no change")
			}
			err := Validate([]byte(b))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
