package statement_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/records"
	"github.com/trialog/trialog/statement"
)

const hex64 = "abababababababababababababababababababababababababababababababab"

// fake is a statement of a test kind.
type fake struct {
	Kind  string `json:"type"`
	Value string `json:"value,omitempty"`
}

func (f *fake) Type() string   { return f.Kind }
func (f *fake) Refs() []string { return []string{"fake:" + f.Value} }

// fakeKind is a strict test kind named name.
func fakeKind(name string, roles ...statement.Role) statement.Kind {
	return statement.Kind{
		Name:  name,
		Roles: roles,
		Parse: func(payload []byte) (statement.Statement, error) {
			var f fake
			if err := statement.Decode(name, payload, &f); err != nil {
				return nil, err
			}
			return &f, nil
		},
	}
}

func panicMessage(f func()) (msg string, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			msg, panicked = r.(string), true
		}
	}()
	f()
	return "", false
}

func TestRegisterPanics(t *testing.T) {
	parse := func([]byte) (statement.Statement, error) { return nil, nil }
	for _, tc := range []struct {
		name  string
		kinds []statement.Kind
		want  string
	}{
		{"no name", []statement.Kind{{Parse: parse}}, "needs a Name"},
		{"no parse", []statement.Kind{{Name: "a"}}, "Parse function"},
		{"nothing", []statement.Kind{{}}, "needs a Name"},
		{"duplicate", []statement.Kind{fakeKind("a"), fakeKind("a")}, "duplicate kind a"},
		{"duplicate among others", []statement.Kind{fakeKind("a"), fakeKind("b"), {Name: "a", Parse: parse}}, "duplicate kind a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := statement.NewRegistry()
			msg, panicked := panicMessage(func() {
				for _, k := range tc.kinds {
					r.Register(k)
				}
			})
			if !panicked {
				t.Fatal("Register did not panic")
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("panic %q does not mention %q", msg, tc.want)
			}
		})
	}

	// Registering a real package twice is the same programming error.
	r := statement.NewRegistry()
	records.Register(r)
	if _, panicked := panicMessage(func() { records.Register(r) }); !panicked {
		t.Error("registering records twice did not panic")
	}
}

func TestRegistryLookupNames(t *testing.T) {
	r := statement.NewRegistry()
	if got := r.Names(); len(got) != 0 {
		t.Errorf("empty registry Names = %v", got)
	}
	r.Register(fakeKind("zeta", statement.RoleSite))
	r.Register(fakeKind("alpha"))
	records.Register(r)
	if got, want := r.Names(), []string{"alpha", records.TypeDigest, "zeta"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	k, ok := r.Lookup("zeta")
	if !ok || k.Name != "zeta" || !reflect.DeepEqual(k.Roles, []statement.Role{statement.RoleSite}) {
		t.Errorf("Lookup(zeta) = %+v, %v", k, ok)
	}
	k, ok = r.Lookup(records.TypeDigest)
	if !ok || !reflect.DeepEqual(k.Roles, []statement.Role{statement.RoleSponsor, statement.RoleSite}) {
		t.Errorf("Lookup(record.digest) = %+v, %v", k, ok)
	}
	for _, name := range []string{"", "ZETA", "Zeta", "zeta ", "beta"} {
		if k, ok := r.Lookup(name); ok || k != nil {
			t.Errorf("Lookup(%q) = %+v, %v", name, k, ok)
		}
	}
}

func TestRegistryParseDispatches(t *testing.T) {
	r := statement.NewRegistry()
	var calls []string
	for _, name := range []string{"a", "b"} {
		k := fakeKind(name)
		inner := k.Parse
		k.Parse = func(payload []byte) (statement.Statement, error) {
			calls = append(calls, name+":"+string(payload))
			return inner(payload)
		}
		r.Register(k)
	}
	for _, tc := range []struct{ in, kind, value string }{
		{`{"type":"a","value":"1"}`, "a", "1"},
		{`{"type":"b","value":"2"}`, "b", "2"},
		{`{"value":"3","type":"b"}`, "b", "3"},
		{` {"type" : "a"} `, "a", ""},
		{`{"type":"\u0061"}`, "a", ""},
	} {
		calls = nil
		k, st, err := r.Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("Parse(%s): %v", tc.in, err)
			continue
		}
		if k.Name != tc.kind {
			t.Errorf("Parse(%s) kind = %s, want %s", tc.in, k.Name, tc.kind)
		}
		f, ok := st.(*fake)
		if !ok || f.Kind != tc.kind || f.Value != tc.value {
			t.Errorf("Parse(%s) statement = %#v", tc.in, st)
		}
		// Exactly one Kind saw the payload, verbatim.
		if want := []string{tc.kind + ":" + tc.in}; !reflect.DeepEqual(calls, want) {
			t.Errorf("Parse(%s) called %q, want %q", tc.in, calls, want)
		}
	}

	// The Kind's error is returned as is.
	sentinel := errors.New("kind says no")
	r.Register(statement.Kind{Name: "c", Parse: func([]byte) (statement.Statement, error) { return nil, sentinel }})
	k, st, err := r.Parse([]byte(`{"type":"c"}`))
	if !errors.Is(err, sentinel) || k != nil || st != nil {
		t.Errorf("Parse with failing kind = %v, %v, %v", k, st, err)
	}
}

func TestRegistryParseRejects(t *testing.T) {
	r := statement.NewRegistry()
	records.Register(r)
	r.Register(fakeKind("a"))
	rec := `"digest":{"sha256":"` + hex64 + `"},"issued_at":"2026-11-23T14:00:00Z"`
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown type", `{"type":"record.unknown"}`, []string{`unknown statement type "record.unknown"`}},
		{"type differs in case", `{"type":"Record.Digest",` + rec + `}`, []string{`unknown statement type "Record.Digest"`}},
		{"type with space", `{"type":"record.digest ",` + rec + `}`, []string{`unknown statement type "record.digest "`}},
		{"missing type", `{` + rec + `}`, []string{`no "type"`}},
		{"empty type", `{"type":"",` + rec + `}`, []string{`"type" must be a non-empty string`}},
		{"null type", `{"type":null,` + rec + `}`, []string{`"type" must be a non-empty string`}},
		{"empty object", `{}`, []string{`no "type"`}},
		{"type not a string", `{"type":1}`, []string{`"type" must be a non-empty string`}},
		{"type an object", `{"type":{"name":"a"}}`, []string{`"type" must be a non-empty string`}},
		{"array", `[{"type":"a"}]`, []string{"not a JSON object"}},
		{"string", `"record.digest"`, []string{"not a JSON object"}},
		{"number", `1`, []string{"not a JSON object"}},
		{"true", `true`, []string{"not a JSON object"}},
		{"null", `null`, []string{`no "type"`}},
		{"empty input", ``, []string{"malformed JSON"}},
		{"truncated", `{"type":"a"`, []string{"malformed JSON"}},
		{"trailing data", `{"type":"a"} {}`, []string{"unexpected data after the JSON value"}},
		{"duplicate type, same value", `{"type":"a","type":"a"}`, []string{`duplicate field "type"`}},
		{"duplicate type, different values", `{"type":"a","type":"record.digest",` + rec + `}`, []string{`duplicate field "type"`}},
		{"duplicate nested key", `{"type":"record.digest","digest":{"sha256":"` + hex64 + `","sha256":"` + hex64 + `"},"issued_at":"2026-11-23T14:00:00Z"}`, []string{`duplicate field "digest.sha256"`}},
		{"duplicate key in array element", `{"type":"a","value":[{"x":1,"x":2}]}`, []string{`duplicate field "value[0].x"`}},
		// The registry reads "type" leniently; the Kind's strict decoding
		// must still reject a case variant, whichever key comes first.
		{"case-variant Type", `{"Type":"record.digest",` + rec + `}`, []string{`no "type"`}},
		{"case-variant TYPE", `{"TYPE":"a"}`, []string{`no "type"`}},
		{"case-variant before type", `{"TYPE":"x","type":"record.digest",` + rec + `}`, []string{"TYPE"}},
		// "type" is read by its exact key; the strict parse of the kind then
		// names the case variant.
		{"case-variant after type", `{"type":"record.digest","TYPE":"x",` + rec + `}`, []string{"TYPE"}},
		{"kind's own rejection", `{"type":"record.digest","digest":{"sha256":"xyz"},"issued_at":"2026-11-23T14:00:00Z"}`, []string{"digest.sha256"}},
		{"unknown field for kind", `{"type":"a","extra":true}`, []string{`unknown field "extra"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, st, err := r.Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse accepted %s as %s: %#v", tc.in, k.Name, st)
			}
			if k != nil || st != nil {
				t.Errorf("Parse returned %v, %v with an error", k, st)
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// The registry itself rejects duplicate keys, so even a lenient Kind never
// sees an ambiguous payload.
func TestRegistryRejectsDuplicatesBeforeKind(t *testing.T) {
	r := statement.NewRegistry()
	called := false
	r.Register(statement.Kind{Name: "lenient", Parse: func([]byte) (statement.Statement, error) {
		called = true
		return &fake{Kind: "lenient"}, nil
	}})
	if _, _, err := r.Parse([]byte(`{"type":"lenient"}`)); err != nil || !called {
		t.Fatalf("lenient kind: %v, called %v", err, called)
	}
	for _, in := range []string{
		`{"type":"lenient","type":"lenient"}`,
		`{"type":"other","type":"lenient"}`,
		`{"type":"lenient","x":1,"x":1}`,
		`{"type":"lenient","x":{"y":[{"z":1,"z":2}]}}`,
		`{"type":"lenient"} {"type":"lenient"}`,
	} {
		called = false
		_, _, err := r.Parse([]byte(in))
		if !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("Parse(%s) = %v, want ErrInvalid", in, err)
		}
		if called {
			t.Errorf("Parse(%s) passed an ambiguous payload to the Kind", in)
		}
	}
}

func TestInvalidf(t *testing.T) {
	err := statement.Invalidf("%s must be %d", "x", 5)
	if !errors.Is(err, statement.ErrInvalid) {
		t.Error("Invalidf does not wrap ErrInvalid")
	}
	if errors.Is(err, statement.ErrForbidden) || errors.Is(err, statement.ErrConflict) {
		t.Error("Invalidf wraps the wrong sentinel")
	}
	if got := err.Error(); got != "invalid statement: x must be 5" {
		t.Errorf("Error() = %q", got)
	}
	// A literal % in an argument is not re-interpreted.
	if got := statement.Invalidf("%s", "100%d").Error(); got != "invalid statement: 100%d" {
		t.Errorf("Error() = %q", got)
	}
}

func TestDecode(t *testing.T) {
	var f fake
	if err := statement.Decode("a", []byte(`{"type":"a","value":"v"}`), &f); err != nil || f.Value != "v" {
		t.Fatalf("Decode = %v, %+v", err, f)
	}
	for in, want := range map[string]string{
		`{"type":"a","other":1}`:   `unknown field "other"`,
		`{"type":"a","Value":"v"}`: `unknown field "Value"`,
		`{"type":"a","type":"a"}`:  `duplicate field "type"`,
		`{"type":"a"} 1`:           "unexpected data after the JSON value",
		`{"type":"a","value":1}`:   `field "value"`,
	} {
		var f fake
		err := statement.Decode("my.kind", []byte(in), &f)
		if !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("Decode(%s) = %v, want ErrInvalid", in, err)
			continue
		}
		if !strings.Contains(err.Error(), "my.kind: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("Decode(%s) error %q does not name the kind and %q", in, err, want)
		}
	}
}

func TestDigestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    *statement.Digest
		want string // "" means valid
	}{
		{"valid", &statement.Digest{SHA256: hex64}, ""},
		{"valid salted", &statement.Digest{SHA256: hex64, Salted: true}, ""},
		{"valid digits", &statement.Digest{SHA256: strings.Repeat("0123456789", 6) + "abcd"}, ""},
		{"nil", nil, "doc.sha256 is required"},
		{"empty", &statement.Digest{}, "doc.sha256 is required"},
		{"salted but empty", &statement.Digest{Salted: true}, "doc.sha256 is required"},
		{"uppercase", &statement.Digest{SHA256: strings.ToUpper(hex64)}, "doc.sha256 must be 64 lowercase hex digits"},
		{"one uppercase", &statement.Digest{SHA256: "A" + hex64[1:]}, "doc.sha256 must be 64 lowercase hex digits"},
		{"63 digits", &statement.Digest{SHA256: hex64[:63]}, "doc.sha256 must be 64 lowercase hex digits"},
		{"65 digits", &statement.Digest{SHA256: hex64 + "a"}, "doc.sha256 must be 64 lowercase hex digits"},
		{"128 digits", &statement.Digest{SHA256: hex64 + hex64}, "doc.sha256 must be 64 lowercase hex digits"},
		{"non-hex", &statement.Digest{SHA256: "g" + hex64[1:]}, "doc.sha256 must be 64 lowercase hex digits"},
		{"sha256: prefix", &statement.Digest{SHA256: "sha256:" + hex64[7:]}, "doc.sha256 must be 64 lowercase hex digits"},
		{"trailing newline", &statement.Digest{SHA256: hex64 + "\n"}, "doc.sha256 must be 64 lowercase hex digits"},
		{"leading space", &statement.Digest{SHA256: " " + hex64[1:]}, "doc.sha256 must be 64 lowercase hex digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.d.Validate("doc")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}

	d := statement.Digest{SHA256: hex64, Salted: true}
	if got := d.Ref(); got != "sha256:"+hex64 {
		t.Errorf("Ref = %q", got)
	}
	// The JSON form is the API's.
	b, _ := json.Marshal(statement.Digest{SHA256: hex64})
	if string(b) != `{"sha256":"`+hex64+`"}` {
		t.Errorf("unsalted digest marshals as %s", b)
	}
	b, _ = json.Marshal(d)
	if string(b) != `{"sha256":"`+hex64+`","salted":true}` {
		t.Errorf("salted digest marshals as %s", b)
	}
}

func TestHexDigest(t *testing.T) {
	for s, ok := range map[string]bool{
		hex64:                   true,
		strings.Repeat("0", 64): true,
		strings.ToUpper(hex64):  false,
		hex64[:63]:              false,
		hex64 + "0":             false,
		"":                      false,
		"z" + hex64[1:]:         false,
	} {
		if got := statement.IsHexDigest(s); got != ok {
			t.Errorf("IsHexDigest(%q) = %v", s, got)
		}
		b, err := statement.DecodeHexDigest(s)
		if ok && (err != nil || len(b) != 32) {
			t.Errorf("DecodeHexDigest(%q) = %x, %v", s, b, err)
		}
		if !ok && err == nil {
			t.Errorf("DecodeHexDigest(%q) accepted", s)
		}
	}
	b, _ := statement.DecodeHexDigest(hex64)
	if b[0] != 0xab || b[31] != 0xab {
		t.Errorf("DecodeHexDigest = %x", b)
	}
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-23T14:00:00Z", time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)},
		{"2026-11-23T14:00:00.123456Z", time.Date(2026, 11, 23, 14, 0, 0, 123456000, time.UTC)},
		{"2026-11-23T14:00:00.000Z", time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)},
		{"2026-11-23T14:00:00.123456789Z", time.Date(2026, 11, 23, 14, 0, 0, 123456789, time.UTC)},
		{"2028-02-29T23:59:59Z", time.Date(2028, 2, 29, 23, 59, 59, 0, time.UTC)},
		{"1999-12-31T00:00:00Z", time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := statement.ParseTime("issued_at", tc.in)
		if err != nil {
			t.Errorf("ParseTime(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if _, off := got.Zone(); off != 0 {
			t.Errorf("ParseTime(%q) has offset %d", tc.in, off)
		}
	}

	for _, tc := range []struct{ in, want string }{
		{"", "when is required"},
		{"2026-11-23T15:00:00+01:00", "when must be in UTC, ending in Z"},
		{"2026-11-23T13:00:00-01:00", "when must be in UTC, ending in Z"},
		{"2026-11-23T14:00:00+00:00", "when must be in UTC, ending in Z"},
		{"2026-11-23T14:00:00-00:00", "when must be in UTC, ending in Z"},
		{"2026-11-23T14:00:00.5+00:00", "when must be in UTC, ending in Z"},
		{"2026-11-23T14:00:00", "when must be an RFC 3339 time"},
		{"2026-11-23T14:00:00.123456", "when must be an RFC 3339 time"},
		{"2026-11-23", "when must be an RFC 3339 time"},
		{"2026-11-23T14:00Z", "when must be an RFC 3339 time"},
		{"2026-11-23 14:00:00Z", "when must be an RFC 3339 time"},
		{"2026-11-23T14:00:00z", "when must be an RFC 3339 time"},
		{"2026-11-23T14:00:00.Z", "when must be an RFC 3339 time"},
		{"2026-02-30T14:00:00Z", "when must be an RFC 3339 time"},
		{"2026-11-23T24:00:00Z", "when must be an RFC 3339 time"},
		{"2026-11-23T14:00:00ZZ", "when must be an RFC 3339 time"},
		{" 2026-11-23T14:00:00Z", "when must be an RFC 3339 time"},
		{"2026-11-23T14:00:00Z ", "when must be an RFC 3339 time"},
		{"1764000000", "when must be an RFC 3339 time"},
		{"Mon, 23 Nov 2026 14:00:00 GMT", "when must be an RFC 3339 time"},
	} {
		got, err := statement.ParseTime("when", tc.in)
		if err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", tc.in, got)
			continue
		}
		if !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("ParseTime(%q) error %q does not wrap ErrInvalid", tc.in, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTime(%q) error %q does not contain %q", tc.in, err, tc.want)
		}
		if !got.IsZero() {
			t.Errorf("ParseTime(%q) returned %v with an error", tc.in, got)
		}
	}
}

func TestValidRole(t *testing.T) {
	for _, r := range []statement.Role{statement.RoleSponsor, statement.RoleSite, statement.RoleRegulator, statement.RoleDataUser, statement.RoleAdmin} {
		if !statement.ValidRole(r) {
			t.Errorf("ValidRole(%q) = false", r)
		}
	}
	if got, want := statement.Roles, []statement.Role{"sponsor", "site", "regulator", "data-user", "admin"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Roles = %q, want %q", got, want)
	}
	// trialogd's own role cannot be given to a principal.
	for _, r := range []statement.Role{statement.RoleService, "", "Sponsor", "SITE", "data_user", "dataUser", "sponsor ", "root"} {
		if statement.ValidRole(r) {
			t.Errorf("ValidRole(%q) = true", r)
		}
	}
}

// The Reader and Check hooks are plain data for the service; a Kind's Check
// is stored and returned by Lookup.
func TestKindCheckKept(t *testing.T) {
	r := statement.NewRegistry()
	k := fakeKind("a")
	k.Check = func(ctx context.Context, rd statement.State, c statement.Caller, st statement.Statement) error {
		return statement.ErrConflict
	}
	r.Register(k)
	got, _ := r.Lookup("a")
	if got.Check == nil || !errors.Is(got.Check(context.Background(), nil, statement.Caller{}, nil), statement.ErrConflict) {
		t.Error("Lookup lost the Kind's Check")
	}
}

func TestSeedCorpus(t *testing.T) {
	r := statement.NewRegistry()
	records.Register(r)
	dir := filepath.Join("testdata", "fuzz", "FuzzRegistryParse")
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
		body, ok2 := strings.CutSuffix(body, ")\n")
		in, err := strconv.Unquote(body)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s is not a []byte corpus file", e.Name())
		}
		_, _, err = r.Parse([]byte(in))
		switch {
		case strings.HasPrefix(e.Name(), "valid_") && err != nil:
			t.Errorf("%s rejected: %v", e.Name(), err)
		case strings.HasPrefix(e.Name(), "invalid_") && err == nil:
			t.Errorf("%s accepted", e.Name())
		}
	}
}

var (
	refPattern     = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	subjectPattern = regexp.MustCompile(`^record-subject:sub_[0-9a-f]{32}$`)
)

func FuzzRegistryParse(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzRegistryParse.
	for _, s := range []string{
		`{"type":"record.digest","digest":{"sha256":"` + hex64 + `"},"issued_at":"2026-11-23T14:00:00Z"}`,
		`{"type":"record.digest","digest":{"sha256":"` + hex64 + `","salted":true},"media_type":"text/plain","source":"x","subject":"s","issued_at":"2026-11-23T14:00:00.1Z"}`,
		`{"Type":"record.digest","digest":{"sha256":"` + hex64 + `"},"issued_at":"2026-11-23T14:00:00Z"}`,
		`{"type":"record.digest","TYPE":"x"}`,
		`{"type":"a","type":"b"}`,
		`{"type":"\u0072ecord.digest"}`,
		`{"type":1}`,
		`[]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	r := statement.NewRegistry()
	records.Register(r)
	f.Fuzz(func(t *testing.T, payload []byte) {
		k, st, err := r.Parse(payload)
		if err != nil {
			if k != nil || st != nil {
				t.Fatalf("results with error %v", err)
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		// Only record.digest is registered.
		if k.Name != records.TypeDigest || st.Type() != records.TypeDigest {
			t.Fatalf("kind %q, statement type %q", k.Name, st.Type())
		}
		d, ok := st.(*records.Digest)
		if !ok {
			t.Fatalf("statement is %T", st)
		}
		if d.Kind != records.TypeDigest {
			t.Fatalf(`accepted "type" %q`, d.Kind)
		}
		if !statement.IsHexDigest(d.Digest.SHA256) {
			t.Fatalf("accepted digest %q", d.Digest.SHA256)
		}
		if _, err := statement.ParseTime("issued_at", d.IssuedAt); err != nil {
			t.Fatalf("accepted issued_at %q: %v", d.IssuedAt, err)
		}
		refs := st.Refs()
		if len(refs) == 0 || !refPattern.MatchString(refs[0]) || refs[0] != "sha256:"+d.Digest.SHA256 {
			t.Fatalf("refs %q", refs)
		}
		for _, ref := range refs[1:] {
			if !subjectPattern.MatchString(ref) {
				t.Fatalf("ref %q", ref)
			}
		}
		// Parsing is a function of the payload: the Kind alone agrees, and
		// re-encoding the statement gives it back.
		st2, err := records.Parse(payload)
		if err != nil || !reflect.DeepEqual(st2, st) {
			t.Fatalf("records.Parse disagrees: %#v, %v", st2, err)
		}
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		_, st3, err := r.Parse(b)
		if err != nil || !reflect.DeepEqual(st3, st) {
			t.Fatalf("re-encoded statement %s parses as %#v, %v", b, st3, err)
		}
	})
}
