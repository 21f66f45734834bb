package trials

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trialog/trialog/statement"
)

// Registry names the trial registry an identifier belongs to.
type Registry string

// The registries whose identifiers trialog accepts.
const (
	RegistryNCT     Registry = "ClinicalTrials.gov" // NCT + 8 digits
	RegistryEUCT    Registry = "EU CT"              // YYYY-NNNNNN-NN-NN (CTIS)
	RegistryEudraCT Registry = "EudraCT"            // YYYY-NNNNNN-NN
	RegistryISRCTN  Registry = "ISRCTN"             // ISRCTN + 8 digits
	RegistryUTN     Registry = "WHO UTN"            // U1111-NNNN-NNNN
)

// maxRawID bounds an identifier as written, before normalisation. The
// longest normalised form (ISRCTN12345678, 2025-522006-21-00) is 17 bytes;
// the rest is room for spaces.
const maxRawID = 64

var idForms = []struct {
	registry Registry
	re       *regexp.Regexp
}{
	{RegistryNCT, regexp.MustCompile(`^NCT[0-9]{8}$`)},
	{RegistryEUCT, regexp.MustCompile(`^[0-9]{4}-[0-9]{6}-[0-9]{2}-[0-9]{2}$`)},
	{RegistryEudraCT, regexp.MustCompile(`^[0-9]{4}-[0-9]{6}-[0-9]{2}$`)},
	{RegistryISRCTN, regexp.MustCompile(`^ISRCTN[0-9]{8}$`)},
	{RegistryUTN, regexp.MustCompile(`^U1111-[0-9]{4}-[0-9]{4}$`)},
}

// ParseID validates a trial identifier and returns its normalised form and
// registry.
//
// Normalisation, in this order:
//
//  1. every Unicode white-space character is removed, wherever it is
//     ("nct 0000 0419" and "2004 - 000123 - 45" are fine);
//  2. the Unicode hyphens and dashes that word processors and PDFs put in
//     place of "-" (U+2010–U+2015, U+2212, U+FE58, U+FE63, U+FF0D) become "-";
//  3. ASCII letters are upper-cased ("isrctn…" → "ISRCTN…", "u1111" → "U1111").
//
// The result must then be exactly one of the registries' forms: NCT + 8
// digits; EU CT YYYY-NNNNNN-NN-NN; EudraCT YYYY-NNNNNN-NN; ISRCTN + 8 digits;
// WHO UTN U1111-NNNN-NNNN. Nothing else is rewritten: a missing or extra
// hyphen, a hyphen after "NCT", a registry name in front ("EudraCT
// 2004-…") or non-ASCII digits are errors, so that one identifier has one
// spelling in the log. Only the form is checked: the registries do not
// publish how they compute check digits, so a well-formed identifier that no
// registry issued is accepted.
func ParseID(s string) (string, Registry, error) {
	if s == "" {
		return "", "", fmt.Errorf("a trial identifier is required")
	}
	if len(s) > maxRawID || !utf8.ValidString(s) {
		return "", "", fmt.Errorf("%q is not a trial identifier (NCT00000419, 2025-522006-21-00, 2004-000123-45, ISRCTN12345678 or U1111-1111-4101)", truncate(s))
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			continue
		case isDash(r):
			b.WriteByte('-')
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	n := b.String()
	for _, f := range idForms {
		if f.re.MatchString(n) {
			return n, f.registry, nil
		}
	}
	return "", "", fmt.Errorf("%q is not a trial identifier (NCT00000419, 2025-522006-21-00, 2004-000123-45, ISRCTN12345678 or U1111-1111-4101)", truncate(s))
}

// NormalizeID returns the normalised form of a trial identifier, or an error
// wrapping statement.ErrInvalid that names field.
func NormalizeID(field, s string) (string, error) {
	if s == "" {
		return "", statement.Invalidf("%s is required", field)
	}
	n, _, err := ParseID(s)
	if err != nil {
		return "", statement.Invalidf("%s: %v", field, err)
	}
	return n, nil
}

func isDash(r rune) bool {
	return (r >= 0x2010 && r <= 0x2015) || r == 0x2212 || r == 0xFE58 || r == 0xFE63 || r == 0xFF0D
}

func truncate(s string) string {
	if len(s) <= 40 {
		return s
	}
	for i := 40; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "…"
		}
	}
	return ""
}

// Ref is the index reference under which the entries of a trial are found.
func Ref(id string) string { return "trial:" + id }
