package consent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/statement"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	for _, tc := range []struct {
		file  string
		parse func([]byte) (statement.Statement, error)
		typ   string
	}{
		{"statements/grant.json", ParseGrant, TypeGrant},
		{"statements/withdraw-some.json", ParseWithdraw, TypeWithdraw},
		{"statements/withdraw-all.json", ParseWithdraw, TypeWithdraw},
		{"statements/access.json", ParseAccess, TypeAccess},
		{"statements/erasure.json", ParseErasure, TypeErasure},
	} {
		st, err := tc.parse(readFile(t, tc.file))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if st.Type() != tc.typ {
			t.Errorf("%s: type %s", tc.file, st.Type())
		}
		refs := st.Refs()
		if len(refs) != 2 || refs[1] != "subject:sub_0123456789abcdef0123456789abcdef" {
			t.Errorf("%s: refs %q", tc.file, refs)
		}
		for _, r := range refs {
			if strings.HasPrefix(r, "trial:") {
				t.Errorf("%s: indexed under %s: consent must stay out of trial timelines", tc.file, r)
			}
		}
	}
}

// TestParseInvalid changes one field of a valid statement at a time.
func TestParseInvalid(t *testing.T) {
	grant := string(readFile(t, "statements/grant.json"))
	withdraw := string(readFile(t, "statements/withdraw-some.json"))
	access := string(readFile(t, "statements/access.json"))
	sub := "sub_0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, base, old, new, want string
		parse                      func([]byte) (statement.Statement, error)
	}{
		{"grant: wrong type", grant, `"consent.grant"`, `"consent.withdraw"`, "type must be", ParseGrant},
		{"grant: bad trial", grant, `"NCT00000419"`, `"NCT123"`, "trial_id", ParseGrant},
		{"grant: MRN as subject", grant, sub, "MRN-000123", "subject reference", ParseGrant},
		{"grant: hashed identifier as subject", grant, sub, "sub_0123456789abcdef0123456789abcdef00", "subject reference", ParseGrant},
		{"grant: no subject", grant, `"subject": "` + sub + `",`, ``, "subject is required", ParseGrant},
		{"grant: local time", grant, `"2026-03-01T09:30:00Z"`, `"2026-03-01T09:30:00+01:00"`, "UTC", ParseGrant},
		{"grant: no issued_at", grant, `"issued_at": "2026-03-01T09:30:00Z",`, ``, "issued_at is required", ParseGrant},
		{"grant: e-mail in form version", grant, `"version": "1.0"`, `"version": "1.0 from dr.who@st-mary.example"`, "must not contain an e-mail address", ParseGrant},
		{"grant: no form version", grant, `"version": "1.0"`, `"version": ""`, "form.version is required", ParseGrant},
		{"grant: bad digest", grant, `"sha256": "8e2a`, `"sha256": "8E2A`, "form.sha256", ParseGrant},
		{"grant: empty scope", grant, `"scope": [
    {
      "purpose": "primary-analysis",
      "decision": "permit"
    },
    {
      "purpose": "future-research",
      "decision": "deny"
    }
  ]`, `"scope": []`, "scope is required", ParseGrant},
		{"grant: bad decision", grant, `"decision": "deny"`, `"decision": "maybe"`, "permit or deny", ParseGrant},
		{"grant: bad purpose", grant, `"future-research"`, `"Future Research"`, "purpose", ParseGrant},
		{"grant: duplicate purpose", grant, `"future-research"`, `"primary-analysis"`, "listed twice", ParseGrant},
		{"grant: period reversed", grant, `"end": "2031-03-01T00:00:00Z"`, `"end": "2025-03-01T00:00:00Z"`, "before period.end", ParseGrant},
		{"grant: empty period", grant, `"start": "2026-03-01T00:00:00Z",
    "end": "2031-03-01T00:00:00Z"`, ``, "period needs", ParseGrant},
		{"grant: unknown field", grant, `"scope"`, `"name": "Jane Doe", "scope"`, "unknown field", ParseGrant},
		{"grant: duplicate field", grant, `"scope"`, `"subject": "` + sub + `", "scope"`, "duplicate", ParseGrant},
		{"grant: case-folded key", grant, `"scope"`, `"Scope"`, "", ParseGrant},
		{"withdraw: empty purposes", withdraw, `[
    "primary-analysis"
  ]`, `[]`, "at least one", ParseWithdraw},
		{"withdraw: repeated purpose", withdraw, `"primary-analysis"`, `"primary-analysis", "primary-analysis"`, "twice", ParseWithdraw},
		{"access: no evidence", access, `"evidence": [
    "` + strings.Repeat("a", 64) + `"
  ]`, `"evidence": null`, "evidence is required", ParseAccess},
		{"access: bad evidence", access, strings.Repeat("a", 64), "xyz", "entry id", ParseAccess},
		{"access: bad accessor", access, `"pr_0123456789abcdef01234567"`, `"Dr. Jane Doe"`, "accessor", ParseAccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.base, tc.old) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			_, err := tc.parse([]byte(strings.Replace(tc.base, tc.old, tc.new, 1)))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
