package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialog/trialog/internal/fhirvalid"
	"github.com/trialog/trialog/statement"
)

func addSeeds(f *testing.F, dir string) {
	files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"consent.grant","scope":[{}],"period":{}}`))
}

// fuzzParser checks that parse never panics, that every error wraps
// ErrInvalid, and that what it accepts survives its own invariants.
func fuzzParser(f *testing.F, dir string, parse func([]byte) (statement.Statement, error)) {
	addSeeds(f, dir)
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parse(b)
		if err != nil {
			if !errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		cs, ok := st.(Statement)
		if !ok || !ValidSubject(cs.SubjectID()) || cs.Trial() == "" {
			t.Fatalf("accepted %q without a subject and trial", b)
		}
		if out, err := ToFHIR(st, FHIRContext{}); err == nil {
			back, err := ParseFHIR(out)
			if err != nil || back.Type() != st.Type() {
				t.Fatalf("FHIR form of an accepted statement does not parse: %v\n%s", err, out)
			}
			// The FHIR form says what the statement says.
			a, _ := json.Marshal(back)
			b, _ := json.Marshal(st)
			if !bytes.Equal(a, b) {
				t.Fatalf("FHIR round trip changed the statement:\n%s\n%s", a, b)
			}
		}
	})
}

func FuzzParseGrant(f *testing.F)    { fuzzParser(f, "statements", ParseGrant) }
func FuzzParseWithdraw(f *testing.F) { fuzzParser(f, "statements", ParseWithdraw) }
func FuzzParseAccess(f *testing.F)   { fuzzParser(f, "statements", ParseAccess) }
func FuzzParseErasure(f *testing.F)  { fuzzParser(f, "statements", ParseErasure) }

// FuzzParseFHIR checks the FHIR parser as the other parsers, and more: what
// it accepts is valid R4 (google/fhir and the invariants), and so is the
// Consent trialog renders from it.
func FuzzParseFHIR(f *testing.F) {
	addSeeds(f, filepath.Join("fhir", "exports"))
	fuzzParser(f, "fhir", func(b []byte) (statement.Statement, error) {
		st, err := ParseFHIR(b)
		if err != nil {
			return nil, err
		}
		if err := fhirvalid.Validate(b); err != nil {
			panic(fmt.Sprintf("accepted a Consent that is not valid R4: %v\n%s", err, b))
		}
		out, err := ToFHIR(st, FHIRContext{})
		if err != nil {
			panic(err)
		}
		if err := fhirvalid.Validate(out); err != nil {
			panic(fmt.Sprintf("rendered a Consent that is not valid R4: %v\n%s", err, out))
		}
		return st, nil
	})
}
