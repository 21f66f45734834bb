package trials_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/trialog/trialog/trials"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		reg      trials.Registry
	}{
		{"NCT00000419", "NCT00000419", trials.RegistryNCT},
		{"nct00000419", "NCT00000419", trials.RegistryNCT},
		{"nct 0000 0419", "NCT00000419", trials.RegistryNCT},
		{" NCT00000419\t", "NCT00000419", trials.RegistryNCT},
		{"Nct\u00a000000419", "NCT00000419", trials.RegistryNCT}, // no-break space
		{"2025-522006-21-00", "2025-522006-21-00", trials.RegistryEUCT},
		{"2025 - 522006 - 21 - 00", "2025-522006-21-00", trials.RegistryEUCT},
		{"2025\u2013522006\u201321\u201300", "2025-522006-21-00", trials.RegistryEUCT}, // en dashes
		{"2004-000123-45", "2004-000123-45", trials.RegistryEudraCT},
		{"2004\u2010000123\u201045", "2004-000123-45", trials.RegistryEudraCT}, // Unicode hyphens
		{"2004\u2212000123\uff0d45", "2004-000123-45", trials.RegistryEudraCT},
		{"ISRCTN12345678", "ISRCTN12345678", trials.RegistryISRCTN},
		{"isrctn 1234 5678", "ISRCTN12345678", trials.RegistryISRCTN},
		{"U1111-1111-4101", "U1111-1111-4101", trials.RegistryUTN},
		{"u1111-1111-4101", "U1111-1111-4101", trials.RegistryUTN},
	} {
		got, reg, err := trials.ParseID(tc.in)
		if err != nil || got != tc.want || reg != tc.reg {
			t.Errorf("ParseID(%q) = %q %q %v, want %q %q", tc.in, got, reg, err, tc.want, tc.reg)
		}
	}
	for _, in := range []string{
		"", " ", "NCT", "NCT0000419", "NCT000004190", "NCT-00000419", "NCTO0000419",
		"NCT00000419X", "XNCT00000419", "NCT００000419", // full-width digits
		"2025-522006-21-0", "2025-522006-21-000", "2025-52200-21-00", "2025522006-21-00",
		"2025--522006-21-00", "2025_522006_21_00", "2025.522006.21.00", "2025-522006-21-00-00",
		"2004-000123-4", "200-0001234-45", "2004000123-45", "EudraCT 2004-000123-45", "2004/000123/45",
		"ISRCTN1234567", "ISRCTN123456789", "ISRCTN-12345678", "ISRTCN12345678",
		"U1111-1111-410", "U1111-11114101", "U2222-1111-4101", "U1111-1111-4101-1", "UTN U1111-1111-4101",
		"NCT0000\u200b0419", // zero-width space is not white space
		strings.Repeat(" ", 70) + "NCT00000419",
		"NCT\xff00000419",
	} {
		if got, reg, err := trials.ParseID(in); err == nil {
			t.Errorf("ParseID(%q) = %q %q, want an error", in, got, reg)
		}
	}
}

var normalForm = regexp.MustCompile(`^(NCT[0-9]{8}|ISRCTN[0-9]{8}|[0-9]{4}-[0-9]{6}-[0-9]{2}(-[0-9]{2})?|U1111-[0-9]{4}-[0-9]{4})$`)

func FuzzParseID(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParseID.
	for _, s := range []string{"NCT00000419", "nct 0000 0419", "2025-522006-21-00", "2004–000123–45", "isrctn12345678", "U1111-1111-4101", "NCT-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, reg, err := trials.ParseID(in)
		if err != nil {
			if n != "" || reg != "" {
				t.Fatalf("ParseID(%q) = %q %q with error %v", in, n, reg, err)
			}
			return
		}
		if !normalForm.MatchString(n) || reg == "" {
			t.Fatalf("ParseID(%q) = %q %q: not a normal form", in, n, reg)
		}
		// Normal forms are fixed points.
		if n2, reg2, err := trials.ParseID(n); err != nil || n2 != n || reg2 != reg {
			t.Fatalf("ParseID(%q) = %q %q %v, not a fixed point", n, n2, reg2, err)
		}
		// Normalisation only drops white space, unifies dashes and
		// upper-cases: the input holds the normal form's characters in
		// order, and nothing else but white space.
		var kept []rune
		for _, r := range in {
			switch {
			case unicode.IsSpace(r):
			case r == '-' || (r >= 0x2010 && r <= 0x2015) || r == 0x2212 || r == 0xFE58 || r == 0xFE63 || r == 0xFF0D:
				kept = append(kept, '-')
			default:
				kept = append(kept, unicode.ToUpper(r))
			}
		}
		if string(kept) != n {
			t.Fatalf("ParseID(%q) = %q, which is not the input without spaces", in, n)
		}
	})
}
