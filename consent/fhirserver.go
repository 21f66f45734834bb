package consent

import (
	"embed"
	"encoding/json"
	"strconv"
	"strings"
)

// The facade's own FHIR resources: the CapabilityStatement, searchset
// Bundles, OperationOutcomes and the profile's StructureDefinitions. They
// are plain data; personality serves them over HTTP.

//go:embed fhirprofile/*.json
var profiles embed.FS

// FHIRVersion is the FHIR release trialog speaks.
const FHIRVersion = "4.0.1"

// StructureDefinition returns one of the profile's StructureDefinitions by
// id (trialog-consent, consent-form-version).
func StructureDefinition(id string) ([]byte, bool) {
	if strings.ContainsAny(id, "/\\.") {
		return nil, false
	}
	b, err := profiles.ReadFile("fhirprofile/" + id + ".json")
	return b, err == nil
}

// CapabilityStatement describes the read-only FHIR facade whose base is
// base (such as https://log.example.org/fhir).
func CapabilityStatement(base string) []byte {
	type m = map[string]any
	cs := m{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-11-29",
		"publisher":    "trialog",
		"kind":         "instance",
		"software":     m{"name": "trialog"},
		"implementation": m{
			"description": "trialog: consent events of clinical-trial subjects, from a verifiable log (read-only)",
			"url":         base,
		},
		"fhirVersion": FHIRVersion,
		"format":      []string{"json", FHIRPayloadType},
		"rest": []m{{
			"mode":          "server",
			"documentation": "Read-only and public: no token. Consents are logged with POST /v1/entries (payloadType application/fhir+json), signed by a trial site.",
			"resource": []m{
				{
					"type":    "Consent",
					"profile": FHIRProfile,
					"interaction": []m{
						{"code": "read"},
						{"code": "search-type", "documentation": "patient is required; _count pages (at most " + strconv.Itoa(MaxFHIRPage) + "), in log order"},
					},
					"versioning": "no-version",
					"searchParam": []m{{
						"name":          "patient",
						"definition":    "http://hl7.org/fhir/SearchParameter/clinical-patient",
						"type":          "reference",
						"documentation": "The subject reference (sub_ and 32 hex digits), or patient:identifier=" + FHIRSubjectSystem + "|<subject reference>",
					}},
				},
				{
					"type":        "StructureDefinition",
					"interaction": []m{{"code": "read"}},
				},
			},
		}},
	}
	b, _ := json.MarshalIndent(cs, "", "  ")
	return b
}

// MaxFHIRPage is the most entries a searchset page holds; DefaultFHIRPage
// is the page size without _count.
const (
	MaxFHIRPage     = 1000
	DefaultFHIRPage = 50
)

// BundleEntry is one Consent of a searchset.
type BundleEntry struct {
	FullURL  string
	Resource []byte
}

// BundleLink is a Bundle.link: relation self, first, next or previous.
type BundleLink struct {
	Relation, URL string
}

// SearchBundle is a searchset Bundle of total matches, with these entries
// and links.
func SearchBundle(total int, links []BundleLink, entries []BundleEntry) []byte {
	type m = map[string]any
	b := m{"resourceType": "Bundle", "type": "searchset", "total": total}
	var ls []m
	for _, l := range links {
		ls = append(ls, m{"relation": l.Relation, "url": l.URL})
	}
	if len(ls) > 0 {
		b["link"] = ls
	}
	var es []m
	for _, e := range entries {
		es = append(es, m{"fullUrl": e.FullURL, "resource": json.RawMessage(e.Resource), "search": m{"mode": "match"}})
	}
	if len(es) > 0 {
		b["entry"] = es
	}
	out, _ := json.MarshalIndent(b, "", "  ")
	return out
}

// OperationOutcome is an error as FHIR clients read it: issue code (FHIR
// issue-type: invalid, not-found, …), the trialog error code word and the
// message.
func OperationOutcome(issue, code, message string) []byte {
	type m = map[string]any
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(m{
		"resourceType": "OperationOutcome",
		"issue": []m{{
			"severity":    "error",
			"code":        issue,
			"details":     m{"text": code},
			"diagnostics": message,
		}},
	})
	return []byte(b.String())
}
