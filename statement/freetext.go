package statement

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// HasEmail reports whether s holds something shaped like an e-mail address:
// a character that may end a local part, "@" (or the full-width "＠"), then
// a domain of letters, digits and hyphens with at least one dot and a last
// label of two letters or more ("j.doe@st-mary.example", "x@y.co"). Whatever
// a log holds it holds for good, so free text refuses what would put a
// person's address in it. The cost is linear in len(s): each scan of a
// domain stops at the next "@".
func HasEmail(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == '@' || r == '＠') && i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(s[:i])
			if localChar(prev) && domainAfter(s[i+n:]) {
				return true
			}
		}
		i += n
	}
	return false
}

func localChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '%' || r == '+' || r == '-' || r == '\''
}

// domainAfter reports whether s starts with a dotted domain name whose
// last label is letters only, at least two.
func domainAfter(s string) bool {
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '.')
	})
	if end >= 0 {
		s = s[:end]
	}
	labels := strings.Split(strings.TrimRight(s, "."), ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return utf8.RuneCountInString(tld) >= 2 && !strings.ContainsFunc(tld, func(r rune) bool { return !unicode.IsLetter(r) })
}

// RefuseEmail returns an error wrapping ErrInvalid, naming field, when s
// holds an e-mail address.
func RefuseEmail(field, s string) error {
	if HasEmail(s) {
		return Invalidf("%s must not contain an e-mail address: the log keeps every entry for good and cannot forget personal data; name a role or a system instead", field)
	}
	return nil
}
