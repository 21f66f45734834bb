package principals

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

// FuzzPrincipalName: a name is refused with a 400 that says why, or it is
// at most 200 bytes of valid UTF-8 with no control character and no
// e-mail-like "local@domain.tld".
func FuzzPrincipalName(f *testing.F) {
	for _, s := range []string{"St Mary's Hospital, site 12", "a@b.c", "jane.roe@st-mary.example", "Site\n1", "Site\u200b1", "Hôpital @ Paris", "", strings.Repeat("a", 201), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := checkName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "), "name") {
				t.Fatalf("checkName(%q) = %v, not an invalid name", name, err)
			}
			return
		}
		if name == "" || len(name) > 200 || strings.ContainsFunc(name, unicode.IsControl) || emailLike.MatchString(name) {
			t.Fatalf("accepted %q", name)
		}
	})
}

// FuzzParseKeyRevocation: the parser never panics, and what it accepts
// names a key id, a principal and a known reason.
func FuzzParseKeyRevocation(f *testing.F) {
	f.Add([]byte(`{"type":"principal.key-revocation","principal":"pr_0123456789abcdef01234567","key_id":"` + strings.Repeat("ab", 32) + `","key_entry":"` + strings.Repeat("cd", 32) + `","reason":"key-revoked","issued_at":"2026-11-29T17:20:04.512345Z"}`))
	f.Add([]byte(`{"type":"principal.key-revocation","principal":"p","key_id":"x","reason":"other","issued_at":"2026"}`))
	f.Add([]byte(`{"type":"principal.key-revocation","type":"principal.key"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseKeyRevocation(b)
		if err != nil {
			return
		}
		k := st.(*KeyRevocation)
		if len(k.KeyID) != 64 || k.Principal == "" || (k.Reason != RevocationKey && k.Reason != RevocationDeactivated) || k.Kind != TypeKeyRevocation {
			t.Fatalf("accepted %+v", k)
		}
	})
}
