// Package fhirvalid checks FHIR R4 resources for trialog's tests, with a
// maintained R4 implementation rather than by hand where one exists.
//
// Structure, cardinality, required elements, primitive syntax and reference
// types are checked by google/fhir's R4 JSON unmarshaller (generated from
// the R4 StructureDefinitions). It does not evaluate FHIRPath invariants, so
// the invariants that apply to what trialog serves are checked here, each
// beside its FHIRPath expression from the R4 specification.
//
// Only tests import this package: trialogd does not carry the validator.
package fhirvalid

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
)

// Validate checks that b is a valid FHIR R4 resource (JSON): structure by
// google/fhir, then the invariants below. Bundle entries are validated as
// resources of their own.
func Validate(b []byte) error {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		return err
	}
	if _, err := u.Unmarshal(b); err != nil {
		return fmt.Errorf("R4 structure (google/fhir): %w", err)
	}
	var res map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return err
	}
	return invariants(res)
}

func invariants(res map[string]any) error {
	if err := elements("", res); err != nil {
		return err
	}
	if t, ok := res["text"].(map[string]any); ok {
		if err := narrative(t); err != nil {
			return err
		}
	}
	// SPEC: dom-2 "contained.contained.empty()" and dom-3..5 apply to
	// contained resources; trialog never contains any.
	if _, ok := res["contained"]; ok {
		return errors.New("dom-2..5: unexpected contained resources")
	}
	switch res["resourceType"] {
	case "Consent":
		return consent(res)
	case "Bundle":
		return bundle(res)
	case "CapabilityStatement":
		return capability(res)
	}
	return nil
}

func consent(c map[string]any) error {
	// SPEC: ppc-1 "policy.exists() or policyRule.exists()".
	if c["policy"] == nil && c["policyRule"] == nil {
		return errors.New("ppc-1: Either a Policy or PolicyRule")
	}
	// SPEC: ppc-2..5 "patient.exists() or scope.coding.where(system='something'
	// and code='<patient-privacy|research|adr|treatment>').exists().not()".
	// The published expressions test the literal system 'something'; the
	// intent, a patient whenever scope is one of these codes, is checked
	// for the consentscope system and for 'something' alike.
	for inv, code := range map[string]string{"ppc-2": "patient-privacy", "ppc-3": "research", "ppc-4": "adr", "ppc-5": "treatment"} {
		if c["patient"] == nil && hasCoding(c["scope"], code) {
			return fmt.Errorf("%s: IF Scope=%s, there must be a patient", inv, code)
		}
	}
	return nil
}

func hasCoding(concept any, code string) bool {
	m, _ := concept.(map[string]any)
	cs, _ := m["coding"].([]any)
	for _, c := range cs {
		k, _ := c.(map[string]any)
		sys := k["system"]
		if k["code"] == code && (sys == "something" || sys == "http://terminology.hl7.org/CodeSystem/consentscope") {
			return true
		}
	}
	return false
}

func bundle(b map[string]any) error {
	typ := b["type"]
	// SPEC: bdl-1 "total.empty() or (type = 'searchset') or (type = 'history')".
	if b["total"] != nil && typ != "searchset" && typ != "history" {
		return errors.New("bdl-1: total only when a search or history")
	}
	entries, _ := b["entry"].([]any)
	full := map[string]bool{}
	for i, e := range entries {
		m, _ := e.(map[string]any)
		// SPEC: bdl-2 "entry.search.empty() or (type = 'searchset')".
		if m["search"] != nil && typ != "searchset" {
			return fmt.Errorf("bdl-2: entry[%d].search only when a search", i)
		}
		// SPEC: bdl-5 "resource.exists() or request.exists() or response.exists()".
		res, ok := m["resource"].(map[string]any)
		if !ok {
			return fmt.Errorf("bdl-5: entry[%d] must have a resource", i)
		}
		// SPEC: bdl-7 "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl & ...).isDistinct()".
		if u, _ := m["fullUrl"].(string); u != "" {
			if full[u] {
				return fmt.Errorf("bdl-7: fullUrl %s twice", u)
			}
			full[u] = true
		}
		// SPEC: bdl-8 "fullUrl.contains('/_history/').not()".
		if u, _ := m["fullUrl"].(string); strings.Contains(u, "/_history/") {
			return fmt.Errorf("bdl-8: fullUrl %s has a version", u)
		}
		if err := invariants(res); err != nil {
			return fmt.Errorf("entry[%d].resource: %w", i, err)
		}
	}
	return nil
}

func capability(c map[string]any) error {
	// SPEC: cpb-1 "rest.exists() or messaging.exists() or document.exists()".
	if c["rest"] == nil && c["messaging"] == nil && c["document"] == nil {
		return errors.New("cpb-1: rest, messaging or document required")
	}
	// SPEC: cpb-2 "(description.count() + software.count() + implementation.count()) > 0".
	if c["description"] == nil && c["software"] == nil && c["implementation"] == nil {
		return errors.New("cpb-2: description, software or implementation required")
	}
	// SPEC: cpb-15 "(kind != 'capability') or (implementation.exists().not() and software.exists())".
	if c["kind"] == "capability" && (c["implementation"] != nil || c["software"] == nil) {
		return errors.New("cpb-15")
	}
	// SPEC: cpb-16 "(kind!='requirements') or (implementation.exists().not() and software.exists().not())".
	if c["kind"] == "requirements" && (c["implementation"] != nil || c["software"] != nil) {
		return errors.New("cpb-16")
	}
	return nil
}

// elements checks ele-1 and ext-1 over the whole resource, and that no
// JSON value is empty (FHIR JSON: no empty strings, arrays or objects).
var isExtension = regexp.MustCompile(`[.]extension\[\d+\]$`)

func elements(path string, v any) error {
	switch x := v.(type) {
	case map[string]any:
		// SPEC: ele-1 "hasValue() or (children().count() > id.count())".
		if len(x) == 0 {
			return fmt.Errorf("ele-1: %s is empty", path)
		}
		// SPEC: ext-1 "extension.exists() != value.exists()".
		if isExtension.MatchString(path) {
			hasValue := false
			for k := range x {
				if strings.HasPrefix(k, "value") {
					hasValue = true
				}
			}
			if _, nested := x["extension"]; nested == hasValue {
				return fmt.Errorf("ext-1: %s must have either extensions or a value, not both", path)
			}
		}
		for k, e := range x {
			if err := elements(path+"."+k, e); err != nil {
				return err
			}
		}
	case []any:
		if len(x) == 0 {
			return fmt.Errorf("ele-1: %s is an empty array", path)
		}
		for i, e := range x {
			if err := elements(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	case string:
		if strings.TrimSpace(x) == "" {
			return fmt.Errorf("ele-1: %s is an empty string", path)
		}
	}
	return nil
}

// allowed are the XHTML elements a narrative may hold (R4 narrative.html,
// txt-1).
var allowed = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`a abbr acronym b big blockquote br caption cite code col colgroup dd dfn div dl dt em
		h1 h2 h3 h4 h5 h6 hr i img li ol p pre q samp small span strong sub sup table tbody td tfoot th thead tr tt ul var`) {
		m[n] = true
	}
	return m
}()

func narrative(t map[string]any) error {
	div, _ := t["div"].(string)
	d := xml.NewDecoder(strings.NewReader(div))
	d.Entity = xml.HTMLEntity // XHTML's named entities
	var text strings.Builder
	first := true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("txt-1: narrative is not well-formed XHTML: %w", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if first && (x.Name.Local != "div" || x.Name.Space != "http://www.w3.org/1999/xhtml") {
				return errors.New("narrative: the root must be an XHTML div")
			}
			first = false
			// SPEC: txt-1 "htmlChecks()": only basic HTML, no scripts, no
			// event attributes.
			if !allowed[x.Name.Local] {
				return fmt.Errorf("txt-1: element <%s> is not allowed in a narrative", x.Name.Local)
			}
			for _, a := range x.Attr {
				if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
					return fmt.Errorf("txt-1: attribute %s is not allowed", a.Name.Local)
				}
			}
		case xml.CharData:
			text.Write(x)
		}
	}
	// SPEC: txt-2 "htmlChecks()": the narrative has non-whitespace content.
	if strings.TrimSpace(text.String()) == "" {
		return errors.New("txt-2: the narrative has no content")
	}
	return nil
}
