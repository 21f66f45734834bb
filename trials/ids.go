package trials

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
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

// ParseID is ParseIDAt with the current time: the edge where a request or
// a statement is read.
func ParseID(s string) (string, Registry, error) { return ParseIDAt(s, time.Now()) }

// ParseIDAt validates a trial identifier as of now and returns its
// normalised form and registry.
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
// spelling in the log.
//
// The identifier must also be one the registry could have issued by now
// (see plausible): a serial of zeros, a EudraCT number from before the
// register opened (2004) or after it stopped issuing (2023), a EudraCT
// sequence in the EU CT range or the other way round, and a year after
// now's are refused. The registries publish no check-digit algorithm
// (EudraCT and EU CT numbers carry two check digits computed by the EMA;
// WHO documents none for the UTN), so check digits are not verified.
func ParseIDAt(s string, now time.Time) (string, Registry, error) {
	if s == "" {
		return "", "", fmt.Errorf("a trial identifier is required")
	}
	if len(s) > maxRawID || !utf8.ValidString(s) {
		return "", "", fmt.Errorf("%q is not a trial identifier (%s)", truncate(s), idExamples)
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
			if err := plausible(n, f.registry, now); err != nil {
				return "", "", fmt.Errorf("%s is not an identifier the registry could have issued: %v", n, err)
			}
			return n, f.registry, nil
		}
	}
	return "", "", fmt.Errorf("%q is not a trial identifier (%s)", truncate(s), idExamples)
}

const idExamples = "NCT00000419, 2025-522006-21-00, 2004-000123-45, ISRCTN12345678 or U1111-1111-4101"

// The years and sequence numbers of the EU registries. EudraCT issued
// numbers from April 2004; CTIS took over initial applications from 31
// January 2023 and numbers trials from 2022 on, with sequences from 500000
// up, so that no EU CT number can be mistaken for a EudraCT number.
const (
	eudraCTFirstYear = 2004
	eudraCTLastYear  = 2023
	euCTFirstYear    = 2022
	euCTFirstSeq     = 500000
)

// plausible checks a well-formed identifier n of registry reg against what
// the registry issues, as of now.
func plausible(n string, reg Registry, now time.Time) error {
	switch reg {
	case RegistryNCT:
		return nonZero(n[3:], "the serial")
	case RegistryISRCTN:
		return nonZero(n[6:], "the serial")
	case RegistryUTN:
		return nonZero(strings.ReplaceAll(n[6:], "-", ""), "the serial")
	}
	year, _ := strconv.Atoi(n[:4])
	seq, _ := strconv.Atoi(n[5:11])
	if year > now.UTC().Year() {
		return fmt.Errorf("its year %d is after the current year %d", year, now.UTC().Year())
	}
	if seq == 0 {
		return fmt.Errorf("its sequence number is zero")
	}
	switch reg {
	case RegistryEudraCT:
		if year < eudraCTFirstYear || year > eudraCTLastYear {
			return fmt.Errorf("EudraCT numbers were issued from %d to %d, not in %d", eudraCTFirstYear, eudraCTLastYear, year)
		}
		if seq >= euCTFirstSeq {
			return fmt.Errorf("EudraCT sequence numbers are below %d; %s looks like an EU CT number without its last two digits (YYYY-NNNNNN-NN-NN)", euCTFirstSeq, n)
		}
	case RegistryEUCT:
		if year < euCTFirstYear {
			return fmt.Errorf("EU CT numbers are issued from %d, not in %d", euCTFirstYear, year)
		}
		if seq < euCTFirstSeq {
			return fmt.Errorf("EU CT sequence numbers start at %d; a EudraCT number has the form YYYY-NNNNNN-NN", euCTFirstSeq)
		}
	}
	return nil
}

func nonZero(digits, what string) error {
	if strings.Trim(digits, "0") == "" {
		return fmt.Errorf("%s is all zeros", what)
	}
	return nil
}

// NormalizeID returns the normalised form of a trial identifier, or an error
// wrapping statement.ErrInvalid that names field.
func NormalizeID(field, s string) (string, error) { return NormalizeIDAt(field, s, time.Now()) }

// NormalizeIDAt is NormalizeID as of now.
func NormalizeIDAt(field, s string, now time.Time) (string, error) {
	if s == "" {
		return "", statement.Invalidf("%s is required", field)
	}
	n, _, err := ParseIDAt(s, now)
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
