package trials_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

type parser func([]byte) (statement.Statement, error)

// schemas lists each statement type with its parser and a full valid
// example; required lists the fields whose absence must be a 400 naming
// them (dotted paths into the example).
var schemas = []struct {
	typ      string
	parse    parser
	example  string
	required []string
}{
	{trials.TypeRegistration, trials.ParseRegistration,
		`{"type":"trial.registration","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","title":"A trial",
		  "outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}],
		  "identifiers":["2004-000123-45"],"registry_snapshot":{"sha256":"` + hexA + `"}}`,
		[]string{"trial_id", "issued_at", "title", "outcomes", "outcomes.0.id", "outcomes.0.kind", "outcomes.0.measure", "outcomes.0.time_frame", "registry_snapshot.sha256"}},
	{trials.TypeProtocol, trials.ParseProtocol,
		`{"type":"trial.protocol","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","version":"2.0","document":{"sha256":"` + hexA + `"},
		  "outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}],
		  "previous":"` + hexA + `","reason":"Longer follow-up","approval_ref":"EC-1"}`,
		[]string{"trial_id", "issued_at", "version", "document", "document.sha256", "outcomes", "outcomes.0.id", "outcomes.0.kind", "outcomes.0.measure", "outcomes.0.time_frame"}},
	{trials.TypeSAP, trials.ParseSAP,
		`{"type":"trial.sap","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","version":"1.0","document":{"sha256":"` + hexA + `"},
		  "outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}]}`,
		[]string{"trial_id", "issued_at", "version", "document", "outcomes", "outcomes.0.time_frame"}},
	{trials.TypeConsentForm, trials.ParseConsentForm,
		`{"type":"trial.consent-form","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","version":"1.0","document":{"sha256":"` + hexA + `"},
		  "previous":"` + hexA + `","reason":"r","approval_ref":"a"}`,
		[]string{"trial_id", "issued_at", "version", "document", "document.sha256"}},
	{trials.TypeMilestone, trials.ParseMilestone,
		`{"type":"trial.milestone","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","event":"first_participant_in","at":"2026-01-01T00:00:00Z"}`,
		[]string{"trial_id", "issued_at", "event", "at"}},
	{trials.TypeDataset, trials.ParseDataset,
		`{"type":"trial.dataset","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","name":"Final","lock":"final","manifest":{"sha256":"` + hexA + `"},
		  "files":[{"path":"adam/adsl.xpt","size":0,"sha256":"` + hexA + `"}]}`,
		[]string{"trial_id", "issued_at", "name", "lock", "manifest", "files.0.path", "files.0.size", "files.0.sha256"}},
	{trials.TypeResults, trials.ParseResults,
		`{"type":"trial.results","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"` + hexA + `"},
		  "outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}]}`,
		[]string{"trial_id", "issued_at", "document", "outcomes", "outcomes.0.kind"}},
	{trials.TypePublication, trials.ParsePublication,
		`{"type":"trial.publication","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"` + hexA + `"},"doi":"10.1056/NEJMoa2034577"}`,
		[]string{"trial_id", "issued_at", "document"}},
	{trials.TypeDelegation, trials.ParseDelegation,
		`{"type":"trial.delegation","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","principal":"pr_0123","delegated_by":"pr_4567"}`,
		[]string{"trial_id", "issued_at", "principal", "delegated_by"}},
}

func generic(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// edit applies f to the value at a dotted path (numbers index arrays).
func edit(v any, path []string, f func(parent map[string]any, key string)) {
	switch x := v.(type) {
	case map[string]any:
		if len(path) == 1 {
			f(x, path[0])
			return
		}
		edit(x[path[0]], path[1:], f)
	case []any:
		i, _ := strconv.Atoi(path[0])
		edit(x[i], path[1:], f)
	}
}

// fieldName is how error messages name a dotted path: outcomes.0.id →
// outcomes[0].id.
func fieldName(path string) string {
	parts := strings.Split(path, ".")
	var b strings.Builder
	for i, p := range parts {
		if _, err := strconv.Atoi(p); err == nil {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func TestSchemas(t *testing.T) {
	for _, s := range schemas {
		t.Run(s.typ, func(t *testing.T) {
			st, err := s.parse([]byte(s.example))
			if err != nil {
				t.Fatalf("the example is rejected: %v", err)
			}
			if st.Type() != s.typ || st.(trials.Statement).Trial() != "NCT00000419" || st.Refs()[0] != "trial:NCT00000419" {
				t.Fatalf("type %s trial %s refs %q", st.Type(), st.(trials.Statement).Trial(), st.Refs())
			}
			// Missing required fields: 400 naming the field.
			for _, field := range s.required {
				m := generic(t, s.example)
				edit(m, strings.Split(field, "."), func(p map[string]any, k string) { delete(p, k) })
				b, _ := json.Marshal(m)
				_, err := s.parse(b)
				if !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), fieldName(field)) {
					t.Errorf("without %s: %v, want an error naming %s", field, err, fieldName(field))
				}
			}
			// Unknown fields, at the top and inside, and case variants.
			for _, path := range []string{"extra", "Trial_ID"} {
				m := generic(t, s.example)
				m[path] = "x"
				b, _ := json.Marshal(m)
				if _, err := s.parse(b); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), path) {
					t.Errorf("with field %s: %v", path, err)
				}
			}
			if m := generic(t, s.example); m["outcomes"] != nil {
				m["outcomes"].([]any)[0].(map[string]any)["result"] = 1.5
				b, _ := json.Marshal(m)
				if _, err := s.parse(b); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "outcomes[0].result") {
					t.Errorf("with outcomes[0].result: %v", err)
				}
			}
			// Another type's "type" is refused.
			m := generic(t, s.example)
			m["type"] = "trial.other"
			b, _ := json.Marshal(m)
			if _, err := s.parse(b); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "type must be") {
				t.Errorf("with another type: %v", err)
			}
		})
	}
}

func TestSchemaValues(t *testing.T) {
	reg := `{"type":"trial.registration","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","title":"T","outcomes":[%s]%s}`
	o := `{"id":"P1","kind":"primary","measure":"m","time_frame":"w"}`
	for _, tc := range []struct {
		name, in, inMsg string
	}{
		{"bad trial_id", strings.Replace(fmt.Sprintf(reg, o, ""), "NCT00000419", "NCT123", 1), "trial_id"},
		{"local time", strings.Replace(fmt.Sprintf(reg, o, ""), "00:00:00Z", "00:00:00+01:00", 1), "issued_at must be in UTC"},
		{"empty outcomes", fmt.Sprintf(reg, "", ""), "outcomes is required"},
		{"outcome kind", fmt.Sprintf(reg, strings.Replace(o, "primary", "tertiary", 1), ""), `outcomes[0].kind must be "primary" or "secondary"`},
		{"outcome id", fmt.Sprintf(reg, strings.Replace(o, `"P1"`, `"P 1"`, 1), ""), "outcomes[0].id must be"},
		{"outcome id twice", fmt.Sprintf(reg, o+","+o, ""), `outcomes[1].id "P1" repeats outcomes[0].id`},
		{"measure padded", fmt.Sprintf(reg, strings.Replace(o, `"m"`, `" m"`, 1), ""), "outcomes[0].measure must not begin or end with white space"},
		{"measure control", fmt.Sprintf(reg, strings.Replace(o, `"m"`, `"m\u0007"`, 1), ""), "control characters"},
		{"identifiers empty", fmt.Sprintf(reg, o, `,"identifiers":[]`), "identifiers must list at least one"},
		{"identifier bad", fmt.Sprintf(reg, o, `,"identifiers":["NCT1"]`), "identifiers[0]"},
		{"identifier repeats trial_id", fmt.Sprintf(reg, o, `,"identifiers":["nct 0000 0419"]`), "identifiers[0] (NCT00000419) repeats trial_id"},
		{"identifiers repeat", fmt.Sprintf(reg, o, `,"identifiers":["ISRCTN12345678","isrctn12345678"]`), "identifiers[1] (ISRCTN12345678) repeats identifiers[0]"},
		{"snapshot hex", fmt.Sprintf(reg, o, `,"registry_snapshot":{"sha256":"ABC"}`), "registry_snapshot.sha256 must be 64 lowercase hex"},
		{"not UTF-8", strings.Replace(fmt.Sprintf(reg, o, ""), `"T"`, "\"\xff\"", 1), "not valid UTF-8"},
		{"duplicate field", strings.Replace(fmt.Sprintf(reg, o, ""), `"title":"T"`, `"title":"T","title":"U"`, 1), `duplicate field "title"`},
		{"trailing data", fmt.Sprintf(reg, o, "") + "{}", "after the JSON value"},
		{"milestone event", `{"type":"trial.milestone","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","event":"started","at":"2026-01-01T00:00:00Z"}`, "event must be one of"},
		{"milestone at", `{"type":"trial.milestone","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","event":"unblinding","at":"yesterday"}`, "at must be an RFC 3339 time"},
		{"dataset lock", `{"type":"trial.dataset","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","name":"n","lock":"soft","manifest":{"sha256":"` + hexA + `"}}`, "lock must be"},
		{"dataset size", `{"type":"trial.dataset","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","name":"n","lock":"final","manifest":{"sha256":"` + hexA + `"},"files":[{"path":"a","size":-1,"sha256":"` + hexA + `"}]}`, "files[0].size must not be negative"},
		{"dataset size fraction", `{"type":"trial.dataset","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","name":"n","lock":"final","manifest":{"sha256":"` + hexA + `"},"files":[{"path":"a","size":1.5,"sha256":"` + hexA + `"}]}`, "size"},
		{"dataset path twice", `{"type":"trial.dataset","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","name":"n","lock":"final","manifest":{"sha256":"` + hexA + `"},"files":[{"path":"a","size":1,"sha256":"` + hexA + `"},{"path":"a","size":1,"sha256":"` + hexA + `"}]}`, "files[1].path repeats files[0].path"},
		{"dataset no files", `{"type":"trial.dataset","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","name":"n","lock":"final","manifest":{"sha256":"` + hexA + `"},"files":[]}`, "files must list at least one"},
		{"protocol previous", `{"type":"trial.protocol","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","version":"2","document":{"sha256":"` + hexA + `"},"outcomes":[` + o + `],"previous":"v1"}`, "previous must be an entry id"},
		{"protocol version long", `{"type":"trial.protocol","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","version":"` + strings.Repeat("9", 65) + `","document":{"sha256":"` + hexA + `"},"outcomes":[` + o + `]}`, "version must be at most 64 bytes"},
		{"consent-form outcomes", `{"type":"trial.consent-form","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","version":"2","document":{"sha256":"` + hexA + `"},"outcomes":[` + o + `]}`, `unknown field "outcomes"`},
		{"doi prefix", `{"type":"trial.publication","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"` + hexA + `"},"doi":"https://doi.org/10.1056/x"}`, "doi must be a DOI"},
		{"delegation principal", `{"type":"trial.delegation","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","principal":"a b","delegated_by":"pr_1"}`, "principal must be a principal id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := statement.NewRegistry()
			trials.Register(reg)
			_, _, err := reg.Parse([]byte(tc.in))
			if !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), tc.inMsg) {
				t.Fatalf("%v, want an error containing %q", err, tc.inMsg)
			}
		})
	}
}

// Refs are derived from the signed statement only: the trial and every
// identifier, and the document digests.
func TestRefs(t *testing.T) {
	st, err := trials.ParseRegistration([]byte(`{"type":"trial.registration","trial_id":"nct 0000 0419","issued_at":"2026-01-01T00:00:00Z","title":"T",
		"outcomes":[{"id":"P1","kind":"primary","measure":"m","time_frame":"w"}],"identifiers":["2004 - 000123 - 45","u1111-1111-4101"],"registry_snapshot":{"sha256":"` + hexA + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"trial:NCT00000419", "trial:2004-000123-45", "trial:U1111-1111-4101", "sha256:" + hexA}
	if !reflect.DeepEqual(st.Refs(), want) {
		t.Fatalf("Refs = %q, want %q", st.Refs(), want)
	}
	// The signed spelling is kept; only refs are normalised.
	if st.(*trials.Registration).TrialID != "nct 0000 0419" {
		t.Fatal("the statement was rewritten")
	}
	st, _ = trials.ParseResults([]byte(`{"type":"trial.results","trial_id":"NCT00000419","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"` + hexA + `"},"outcomes":[{"id":"P1","kind":"primary","measure":"m","time_frame":"w"}]}`))
	if want := []string{"trial:NCT00000419", "sha256:" + hexA}; !reflect.DeepEqual(st.Refs(), want) {
		t.Fatalf("Refs = %q, want %q", st.Refs(), want)
	}
}

// TestSeedCorpus checks the seeds in testdata/fuzz: files named valid_*
// parse, invalid_* do not.
func TestSeedCorpus(t *testing.T) {
	parsers := map[string]parser{}
	for _, s := range schemas {
		parsers[fuzzName(s.typ)] = s.parse
	}
	n := 0
	for name, parse := range parsers {
		dir := filepath.Join("testdata", "fuzz", name)
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Errorf("no seeds for %s: %v", name, err)
			continue
		}
		for _, e := range entries {
			in := readSeed(t, filepath.Join(dir, e.Name()))
			_, err := parse(in)
			switch {
			case strings.HasPrefix(e.Name(), "valid_") && err != nil:
				t.Errorf("%s/%s rejected: %v", name, e.Name(), err)
			case strings.HasPrefix(e.Name(), "invalid_") && err == nil:
				t.Errorf("%s/%s accepted", name, e.Name())
			}
			n++
		}
	}
	t.Logf("%d seeds", n)
}

func readSeed(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
	body, ok2 := strings.CutSuffix(body, ")\n")
	in, err := strconv.Unquote(body)
	if !ok || !ok2 || err != nil {
		t.Fatalf("%s is not a []byte corpus file", path)
	}
	return []byte(in)
}

// fuzzName is the fuzz target of a type: trial.consent-form →
// FuzzConsentForm.
func fuzzName(typ string) string {
	name := map[string]string{
		trials.TypeRegistration: "Registration", trials.TypeProtocol: "Protocol", trials.TypeSAP: "SAP",
		trials.TypeConsentForm: "ConsentForm", trials.TypeMilestone: "Milestone", trials.TypeDataset: "Dataset",
		trials.TypeResults: "Results", trials.TypePublication: "Publication", trials.TypeDelegation: "Delegation",
	}[typ]
	return "Fuzz" + name
}

// fuzzSchema is the body of every schema's fuzz target: errors wrap
// ErrInvalid; what is accepted is well-formed, indexed under its normalised
// trial, and reads the same after encoding it again.
func fuzzSchema(f *testing.F, typ string) {
	var parse parser
	for _, s := range schemas {
		if s.typ == typ {
			parse = s.parse
			f.Add([]byte(s.example))
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"` + typ + `"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := parse(in)
		if err != nil {
			if st != nil || !errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("statement %v with error %q (not ErrInvalid?)", st, err)
			}
			return
		}
		ts := st.(trials.Statement)
		if ts.Type() != typ {
			t.Fatalf("type %q", ts.Type())
		}
		if n, _, err := trials.ParseID(ts.Trial()); err != nil || n != ts.Trial() {
			t.Fatalf("trial %q is not normalised", ts.Trial())
		}
		refs := st.Refs()
		if len(refs) == 0 || refs[0] != trials.Ref(ts.Trial()) {
			t.Fatalf("refs %q do not start with the trial", refs)
		}
		for _, r := range refs {
			if len(r) > 191 {
				t.Fatalf("ref %q is longer than the index column", r)
			}
		}
		checkOutcomes(t, st)
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := parse(b)
		if err != nil || !reflect.DeepEqual(st2, st) {
			t.Fatalf("re-encoded %s parses as %+v, %v", b, st2, err)
		}
	})
}

func checkOutcomes(t *testing.T, st statement.Statement) {
	var os []trials.Outcome
	switch x := st.(type) {
	case *trials.Registration:
		os = x.Outcomes
	case *trials.Plan:
		os = x.Outcomes
	case *trials.Results:
		os = x.Outcomes
	default:
		return
	}
	if len(os) == 0 {
		t.Fatal("accepted without outcomes")
	}
	var ids []string
	for _, o := range os {
		if slices.Contains(ids, o.ID) || (o.Kind != "primary" && o.Kind != "secondary") || o.Measure == "" || o.TimeFrame == "" ||
			strings.ContainsFunc(o.Measure+o.TimeFrame, unicode.IsControl) {
			t.Fatalf("accepted outcome %+v", o)
		}
		if _, results := st.(*trials.Results); (o.Declared != "" && !results) || statement.HasEmail(o.Measure) || statement.HasEmail(o.TimeFrame) || statement.HasEmail(o.Declared) {
			t.Fatalf("accepted outcome %+v", o)
		}
		ids = append(ids, o.ID)
	}
}

func FuzzRegistration(f *testing.F) { fuzzSchema(f, trials.TypeRegistration) }
func FuzzProtocol(f *testing.F)     { fuzzSchema(f, trials.TypeProtocol) }
func FuzzSAP(f *testing.F)          { fuzzSchema(f, trials.TypeSAP) }
func FuzzConsentForm(f *testing.F)  { fuzzSchema(f, trials.TypeConsentForm) }
func FuzzMilestone(f *testing.F)    { fuzzSchema(f, trials.TypeMilestone) }
func FuzzDataset(f *testing.F)      { fuzzSchema(f, trials.TypeDataset) }
func FuzzResults(f *testing.F)      { fuzzSchema(f, trials.TypeResults) }
func FuzzPublication(f *testing.F)  { fuzzSchema(f, trials.TypePublication) }
func FuzzDelegation(f *testing.F)   { fuzzSchema(f, trials.TypeDelegation) }
