package records_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/trialog/trialog/records"
	"github.com/trialog/trialog/statement"
)

const (
	hex64  = "abababababababababababababababababababababababababababababababab"
	issued = "2026-11-23T14:00:00Z"
)

// payload builds a record.digest statement from JSON members.
func payload(members ...string) []byte {
	return []byte(`{"type":"record.digest",` + strings.Join(members, ",") + `}`)
}

const (
	digestM = `"digest":{"sha256":"` + hex64 + `"}`
	issuedM = `"issued_at":"` + issued + `"`
)

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want records.Digest
		refs []string
	}{
		{
			"minimal", payload(digestM, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, IssuedAt: issued},
			[]string{"sha256:" + hex64},
		},
		{
			"all fields",
			payload(`"digest":{"sha256":"`+hex64+`","salted":true}`, `"media_type":"application/pdf"`, `"source":"site-7/ehr#42"`, `"subject":"sub_0123456789abcdef0123456789abcdef"`, `"issued_at":"2026-11-23T14:00:00.123456Z"`),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64, Salted: true}, MediaType: "application/pdf", Source: "site-7/ehr#42", Subject: "sub_0123456789abcdef0123456789abcdef", IssuedAt: "2026-11-23T14:00:00.123456Z"},
			[]string{"sha256:" + hex64, "record-subject:sub_0123456789abcdef0123456789abcdef"},
		},
		{
			"salted", payload(`"digest":{"sha256":"`+hex64+`","salted":true}`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64, Salted: true}, IssuedAt: issued},
			// The ref is the digest as given, salted or not.
			[]string{"sha256:" + hex64},
		},
		{
			"salted false", payload(`"digest":{"salted":false,"sha256":"`+hex64+`"}`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, IssuedAt: issued},
			[]string{"sha256:" + hex64},
		},
		{
			"subject only", payload(digestM, `"subject":"sub_fedcba9876543210fedcba9876543210"`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, Subject: "sub_fedcba9876543210fedcba9876543210", IssuedAt: issued},
			[]string{"sha256:" + hex64, "record-subject:sub_fedcba9876543210fedcba9876543210"},
		},
		{
			"media type and source only", payload(digestM, `"media_type":"application/fhir+json"`, `"source":"x"`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, MediaType: "application/fhir+json", Source: "x", IssuedAt: issued},
			[]string{"sha256:" + hex64},
		},
		{
			// Empty optional strings count as absent.
			"empty optionals", payload(digestM, `"media_type":""`, `"source":""`, `"subject":""`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, IssuedAt: issued},
			[]string{"sha256:" + hex64},
		},
		{
			"null optionals", payload(digestM, `"media_type":null`, `"subject":null`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, IssuedAt: issued},
			[]string{"sha256:" + hex64},
		},
		{
			"members in another order, whitespace",
			[]byte(" {\n\"issued_at\" : \"" + issued + "\",\n \"subject\":\"sub_00000000000000000000000000000001\", \"digest\":{\"sha256\":\"" + hex64 + "\"},\"type\":\"record.digest\"}\n"),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, Subject: "sub_00000000000000000000000000000001", IssuedAt: issued},
			[]string{"sha256:" + hex64, "record-subject:sub_00000000000000000000000000000001"},
		},
		{
			"longest fields",
			payload(digestM, `"media_type":"a`+strings.Repeat("b", 126)+`/c`+strings.Repeat("d", 126)+`"`, `"source":"`+strings.Repeat("~", 255)+`"`, `"subject":"sub_`+strings.Repeat("a", 32)+`"`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, MediaType: "a" + strings.Repeat("b", 126) + "/c" + strings.Repeat("d", 126), Source: strings.Repeat("~", 255), Subject: "sub_" + strings.Repeat("a", 32), IssuedAt: issued},
			[]string{"sha256:" + hex64, "record-subject:sub_" + strings.Repeat("a", 32)},
		},
		{
			"media type punctuation", payload(digestM, `"media_type":"application/vnd.ms-excel.sheet.macroenabled.12"`, `"source":"!\"#$%&'()*+,-./:;<=>?@[\\]^_{|}~"`, issuedM),
			records.Digest{Kind: "record.digest", Digest: statement.Digest{SHA256: hex64}, MediaType: "application/vnd.ms-excel.sheet.macroenabled.12", Source: `!"#$%&'()*+,-./:;<=>?@[\]^_{|}~`, IssuedAt: issued},
			[]string{"sha256:" + hex64},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := records.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.in, err)
			}
			d, ok := st.(*records.Digest)
			if !ok {
				t.Fatalf("Parse returned %T", st)
			}
			if !reflect.DeepEqual(*d, tc.want) {
				t.Errorf("Parse = %+v\nwant %+v", *d, tc.want)
			}
			if st.Type() != records.TypeDigest || records.TypeDigest != "record.digest" {
				t.Errorf("Type() = %q", st.Type())
			}
			if got := st.Refs(); !reflect.DeepEqual(got, tc.refs) {
				t.Errorf("Refs() = %q, want %q", got, tc.refs)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string // the error names this field
	}{
		// digest
		{"missing digest", payload(issuedM), "digest.sha256 is required"},
		{"null digest", payload(`"digest":null`, issuedM), "digest.sha256 is required"},
		{"empty digest object", payload(`"digest":{}`, issuedM), "digest.sha256 is required"},
		{"salted without sha256", payload(`"digest":{"salted":true}`, issuedM), "digest.sha256 is required"},
		{"empty sha256", payload(`"digest":{"sha256":""}`, issuedM), "digest.sha256 is required"},
		{"uppercase sha256", payload(`"digest":{"sha256":"`+strings.ToUpper(hex64)+`"}`, issuedM), "digest.sha256 must be 64 lowercase hex digits"},
		{"short sha256", payload(`"digest":{"sha256":"`+hex64[:63]+`"}`, issuedM), "digest.sha256 must be 64 lowercase hex digits"},
		{"long sha256", payload(`"digest":{"sha256":"`+hex64+`ab"}`, issuedM), "digest.sha256 must be 64 lowercase hex digits"},
		{"non-hex sha256", payload(`"digest":{"sha256":"`+strings.Repeat("x", 64)+`"}`, issuedM), "digest.sha256 must be 64 lowercase hex digits"},
		{"base64 sha256", payload(`"digest":{"sha256":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s="}`, issuedM), "digest.sha256 must be 64 lowercase hex digits"},
		{"sha256 number", payload(`"digest":{"sha256":1}`, issuedM), `"digest.sha256"`},
		{"digest a string", payload(`"digest":"`+hex64+`"`, issuedM), `"digest"`},
		{"salted a string", payload(`"digest":{"sha256":"`+hex64+`","salted":"yes"}`, issuedM), `"digest.salted"`},
		{"unknown digest field", payload(`"digest":{"sha256":"`+hex64+`","sha512":"x"}`, issuedM), `unknown field "digest.sha512"`},
		{"case-variant SHA256", payload(`"digest":{"SHA256":"`+hex64+`"}`, issuedM), `unknown field "digest.SHA256"`},
		{"duplicate sha256", payload(`"digest":{"sha256":"`+hex64+`","sha256":"`+hex64+`"}`, issuedM), `duplicate field "digest.sha256"`},

		// source
		{"e-mail as source", payload(digestM, issuedM, `"source":"records.clerk@st-mary.example"`), "source must not contain an e-mail address"},

		// issued_at
		{"missing issued_at", payload(digestM), "issued_at is required"},
		{"empty issued_at", payload(digestM, `"issued_at":""`), "issued_at is required"},
		{"issued_at +01:00", payload(digestM, `"issued_at":"2026-11-23T15:00:00+01:00"`), "issued_at must be in UTC"},
		{"issued_at +00:00", payload(digestM, `"issued_at":"2026-11-23T14:00:00+00:00"`), "issued_at must be in UTC"},
		{"issued_at no zone", payload(digestM, `"issued_at":"2026-11-23T14:00:00"`), "issued_at must be an RFC 3339 time"},
		{"issued_at date", payload(digestM, `"issued_at":"2026-11-23"`), "issued_at must be an RFC 3339 time"},
		{"issued_at garbage", payload(digestM, `"issued_at":"now"`), "issued_at must be an RFC 3339 time"},
		{"issued_at number", payload(digestM, `"issued_at":1764000000`), `"issued_at"`},

		// media_type
		{"media_type uppercase", payload(digestM, `"media_type":"Application/PDF"`, issuedM), "media_type"},
		{"media_type no slash", payload(digestM, `"media_type":"pdf"`, issuedM), "media_type"},
		{"media_type two slashes", payload(digestM, `"media_type":"a/b/c"`, issuedM), "media_type"},
		{"media_type parameters", payload(digestM, `"media_type":"text/plain; charset=utf-8"`, issuedM), "media_type"},
		{"media_type empty subtype", payload(digestM, `"media_type":"text/"`, issuedM), "media_type"},
		{"media_type leading dot", payload(digestM, `"media_type":".text/plain"`, issuedM), "media_type"},
		{"media_type type too long", payload(digestM, `"media_type":"a`+strings.Repeat("b", 127)+`/c"`, issuedM), "media_type"},
		{"media_type subtype too long", payload(digestM, `"media_type":"a/c`+strings.Repeat("d", 127)+`"`, issuedM), "media_type"},
		{"media_type trailing newline", payload(digestM, `"media_type":"text/plain\n"`, issuedM), "media_type"},
		{"media_type number", payload(digestM, `"media_type":1`, issuedM), `"media_type"`},

		// source
		{"source with space", payload(digestM, `"source":"site 7"`, issuedM), "source"},
		{"source with tab", payload(digestM, `"source":"site\t7"`, issuedM), "source"},
		{"source with newline", payload(digestM, `"source":"site7\n"`, issuedM), "source"},
		{"source non-ASCII", payload(digestM, `"source":"sité"`, issuedM), "source"},
		{"source NUL", payload(digestM, `"source":"a\u0000"`, issuedM), "source"},
		{"source DEL", payload(digestM, `"source":"a\u007f"`, issuedM), "source"},
		{"source too long", payload(digestM, `"source":"`+strings.Repeat("s", 256)+`"`, issuedM), "source"},

		// subject
		{"subject with space", payload(digestM, `"subject":"S 1"`, issuedM), "subject"},
		{"subject with slash", payload(digestM, `"subject":"S/1"`, issuedM), "subject"},
		{"subject with colon", payload(digestM, `"subject":"sha256:x"`, issuedM), "subject"},
		{"subject with dot", payload(digestM, `"subject":"S.1"`, issuedM), "subject"},
		{"subject non-ASCII", payload(digestM, `"subject":"Sé"`, issuedM), "subject"},
		{"subject too long", payload(digestM, `"subject":"`+strings.Repeat("s", 129)+`"`, issuedM), "subject"},
		{"subject trailing newline", payload(digestM, `"subject":"S1\n"`, issuedM), "subject"},
		{"subject a record number", payload(digestM, `"subject":"MRN-0012345"`, issuedM), "never a patient identifier"},
		{"subject upper-case hex", payload(digestM, `"subject":"sub_0123456789ABCDEF0123456789ABCDEF"`, issuedM), "subject"},
		{"subject array", payload(digestM, `"subject":["S1"]`, issuedM), `"subject"`},

		// strict JSON
		{"unknown field", payload(digestM, issuedM, `"note":"x"`), `unknown field "note"`},
		{"case-variant Issued_At", payload(digestM, `"Issued_At":"`+issued+`"`), `unknown field "Issued_At"`},
		{"case-variant issuedAt", payload(digestM, `"issuedAt":"`+issued+`"`), `unknown field "issuedAt"`},
		{"case-variant Digest", payload(`"Digest":{"sha256":"`+hex64+`"}`, issuedM), `unknown field "Digest"`},
		{"case-variant Type", []byte(`{"Type":"record.digest",` + digestM + `,` + issuedM + `}`), `unknown field "Type"`},
		{"duplicate issued_at", payload(digestM, issuedM, issuedM), `duplicate field "issued_at"`},
		{"duplicate digest", payload(digestM, digestM, issuedM), `duplicate field "digest"`},
		{"duplicate type", []byte(`{"type":"record.digest","type":"record.digest",` + digestM + `,` + issuedM + `}`), `duplicate field "type"`},
		{"type number", []byte(`{"type":1,` + digestM + `,` + issuedM + `}`), `"type"`},
		{"trailing data", append(payload(digestM, issuedM), " {}"...), "unexpected data after the JSON value"},
		{"array", []byte(`[]`), "record.digest"},
		{"empty", nil, "malformed JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := records.Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%s) accepted: %+v", tc.in, st)
			}
			if st != nil {
				t.Errorf("Parse returned %+v with an error", st)
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestRefs(t *testing.T) {
	for _, tc := range []struct {
		d    records.Digest
		want []string
	}{
		{records.Digest{Digest: statement.Digest{SHA256: hex64}}, []string{"sha256:" + hex64}},
		{records.Digest{Digest: statement.Digest{SHA256: hex64, Salted: true}, Subject: "P-7"}, []string{"sha256:" + hex64, "record-subject:P-7"}},
		// Neither the media type nor the source is an index key.
		{records.Digest{Digest: statement.Digest{SHA256: hex64}, MediaType: "text/plain", Source: "s"}, []string{"sha256:" + hex64}},
	} {
		if got := tc.d.Refs(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Refs(%+v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestRegister(t *testing.T) {
	r := statement.NewRegistry()
	records.Register(r)
	if got := r.Names(); !reflect.DeepEqual(got, []string{"record.digest"}) {
		t.Errorf("Names = %v", got)
	}
	k, ok := r.Lookup(records.TypeDigest)
	if !ok {
		t.Fatal("record.digest not registered")
	}
	if want := []statement.Role{statement.RoleSponsor, statement.RoleSite}; !reflect.DeepEqual(k.Roles, want) {
		t.Errorf("Roles = %v, want %v", k.Roles, want)
	}
	if k.Check != nil {
		t.Error("record.digest has a Check; it needs none")
	}
	kind, st, err := r.Parse(payload(digestM, `"subject":"sub_0123456789abcdef0123456789abcdef"`, issuedM))
	if err != nil || kind.Name != records.TypeDigest {
		t.Fatalf("registry Parse = %v, %v", kind, err)
	}
	if got := st.Refs(); !reflect.DeepEqual(got, []string{"sha256:" + hex64, "record-subject:sub_0123456789abcdef0123456789abcdef"}) {
		t.Errorf("Refs = %q", got)
	}
	// Through the registry the type must be exactly record.digest.
	for _, in := range []string{
		`{` + digestM + `,` + issuedM + `}`,
		`{"type":"record.Digest",` + digestM + `,` + issuedM + `}`,
		`{"type":"other",` + digestM + `,` + issuedM + `}`,
	} {
		if _, _, err := r.Parse([]byte(in)); !errors.Is(err, statement.ErrInvalid) {
			t.Errorf("registry Parse(%s) = %v, want ErrInvalid", in, err)
		}
	}
}

// A parsed statement marshals back to the API's JSON form.
func TestMarshal(t *testing.T) {
	in := payload(`"digest":{"sha256":"`+hex64+`","salted":true}`, `"media_type":"application/pdf"`, `"source":"s"`, `"subject":"sub_0123456789abcdef0123456789abcdef"`, issuedM)
	st, err := records.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(in) {
		t.Errorf("Marshal = %s\nwant %s", b, in)
	}
	st, err = records.Parse(payload(digestM, issuedM))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(st)
	if want := `{"type":"record.digest","digest":{"sha256":"` + hex64 + `"},"issued_at":"` + issued + `"}`; string(b) != want {
		t.Errorf("Marshal = %s\nwant %s", b, want)
	}
}

func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
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
		_, err = records.Parse([]byte(in))
		switch {
		case strings.HasPrefix(e.Name(), "valid_") && err != nil:
			t.Errorf("%s rejected: %v", e.Name(), err)
		case strings.HasPrefix(e.Name(), "invalid_") && err == nil:
			t.Errorf("%s accepted", e.Name())
		}
	}
}

var (
	mediaTypeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$`)
	subjectRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func FuzzParse(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParse.
	f.Add(payload(digestM, issuedM))
	f.Add(payload(`"digest":{"sha256":"`+hex64+`","salted":true}`, `"media_type":"image/png"`, `"source":"pacs://x"`, `"subject":"S-1"`, `"issued_at":"2026-11-23T14:00:00.5Z"`))
	f.Add(payload(digestM, `"issued_at":"2026-11-23T14:00:00+01:00"`))
	f.Add(payload(digestM, issuedM, `"Subject":"x"`))
	f.Add([]byte(`{"type":"record.digest","digest":{"sha256":"` + hex64 + `","sha256":"` + hex64 + `"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := records.Parse(in)
		if err != nil {
			if st != nil {
				t.Fatalf("statement with error %v", err)
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		d := st.(*records.Digest)
		if !statement.IsHexDigest(d.Digest.SHA256) {
			t.Fatalf("accepted digest %q", d.Digest.SHA256)
		}
		if _, err := statement.ParseTime("issued_at", d.IssuedAt); err != nil || !strings.HasSuffix(d.IssuedAt, "Z") {
			t.Fatalf("accepted issued_at %q", d.IssuedAt)
		}
		if d.MediaType != "" && (!mediaTypeRE.MatchString(d.MediaType) || len(d.MediaType) > 255) {
			t.Fatalf("accepted media_type %q", d.MediaType)
		}
		if d.Source != "" && (len(d.Source) > 255 || strings.ContainsFunc(d.Source, func(r rune) bool { return r <= ' ' || r > '~' })) {
			t.Fatalf("accepted source %q", d.Source)
		}
		if d.Subject != "" && (!subjectRE.MatchString(d.Subject) || len(d.Subject) > 128) {
			t.Fatalf("accepted subject %q", d.Subject)
		}
		refs := st.Refs()
		want := []string{"sha256:" + d.Digest.SHA256}
		if d.Subject != "" {
			want = append(want, "record-subject:"+d.Subject)
		}
		if !reflect.DeepEqual(refs, want) {
			t.Fatalf("Refs = %q, want %q", refs, want)
		}
		// Marshalling and parsing again gives the same statement.
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		st2, err := records.Parse(b)
		if err != nil || !reflect.DeepEqual(st2, st) {
			t.Fatalf("re-encoded %s parses as %+v, %v", b, st2, err)
		}
	})
}
