package trials

import (
	"strings"
	"unicode"
)

// Normalise returns the form in which measures and time frames are
// compared: two texts that differ only in case, white space, punctuation or
// the spelling of a duration have the same form.
//
//   - letters are lower-cased; every run of characters that are neither
//     letters nor digits is one separator, so punctuation and white space
//     count for nothing ("All-cause mortality" = "all cause mortality"),
//     except the symbols that change what a measure means, which are kept:
//     comparisons ("<", ">", "=", "≤" = "<=", "≥" = ">="), "%", "±", "+"
//     and a minus sign before a number ("HbA1c < 7%" is not "HbA1c > 7%");
//     a comma before three digits separates thousands ("1,000" = "1000");
//   - a boundary between letters and digits separates too ("26wk" = "26 wk");
//   - a duration — a number next to a unit of time, on either side — is
//     written "<number> <unit>", the unit in the singular: "Week 26",
//     "26 weeks", "26 wk", "26-week" and "26wks" are all "26 week". Units:
//     minute (min, mins), hour (h, hr, hrs), day (d, dy, dys), week (w, wk,
//     wks), month (mo, mos, mth, mths, mnth), year (y, yr, yrs); one-letter
//     abbreviations count only after the number ("28 d", not "d 28"), and
//     "m" is never a unit (minutes, months and metres all use it);
//   - numbers lose leading zeros ("Week 08" = "week 8"); a decimal point
//     between digits is kept ("1.5 years"); the number words one to twelve
//     count as numbers in a duration ("twelve months" = "12 months").
//
// Different units are never converted: "12 months" and "1 year", or "6
// months" and "26 weeks", stay different, because a trial's visit schedule
// says which one was meant and the texts alone do not.
//
// The cost is linear in the length of s.
func Normalise(s string) string {
	toks := tokens(s)
	out := make([]string, 0, len(toks))
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if n, ok := number(t); ok && i+1 < len(toks) {
			if u, ok := unit(toks[i+1], true); ok {
				out = append(out, n, u)
				i++
				continue
			}
		}
		if u, ok := unit(t, false); ok && i+1 < len(toks) {
			if n, ok := number(toks[i+1]); ok {
				// "week 26", unless a unit follows the number too: a
				// number between two units goes with the one after
				// it, as "26 weeks" does.
				if i+2 >= len(toks) || !isUnit(toks[i+2]) {
					out = append(out, n, u)
					i++
					continue
				}
			}
		}
		if n, ok := number(t); ok && isDigits(t) {
			t = n
		}
		out = append(out, t)
	}
	return strings.Join(out, " ")
}

// tokens splits s into lower-case runs of letters, runs of digits (with
// decimal points between digits; a comma before exactly three digits is a
// thousands separator and dropped) and the symbols that carry meaning in a
// measure: comparisons (< > =, with ≤ and ≥ written "< =" and "> ="), %,
// ±, + and a minus sign (a hyphen or U+2212 before a digit and not after a
// letter or digit: "-0.5", not "26-week"). Everything else separates.
func tokens(s string) []string {
	var out []string
	var b strings.Builder
	class := 0 // 0 none, 1 letters, 2 digits
	flush := func() {
		if b.Len() > 0 {
			out = append(out, b.String())
			b.Reset()
		}
		class = 0
	}
	rs := []rune(s)
	digit := func(i int) bool { return i >= 0 && i < len(rs) && rs[i] >= '0' && rs[i] <= '9' }
	alnum := func(i int) bool { return i >= 0 && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) }
	for i, r := range rs {
		switch {
		case unicode.IsLetter(r):
			if class != 1 {
				flush()
			}
			class = 1
			b.WriteString(strings.ToLower(string(r)))
		case r >= '0' && r <= '9':
			if class != 2 {
				flush()
			}
			class = 2
			b.WriteRune(r)
		case r == '.' && class == 2 && digit(i+1):
			b.WriteRune(r)
		case r == ',' && class == 2 && digit(i+1) && digit(i+2) && digit(i+3) && !digit(i+4):
			// 1,000 = 1000
		case r == '≤' || r == '≥':
			flush()
			out = append(out, map[rune]string{'≤': "<", '≥': ">"}[r], "=")
		case strings.ContainsRune("<>=%±+", r):
			flush()
			out = append(out, string(r))
		case (r == '-' || r == '−') && digit(i+1) && !alnum(i-1):
			// A minus sign starts the number it belongs to.
			flush()
			class = 2
			b.WriteByte('-')
		default:
			flush()
		}
	}
	flush()
	return out
}

var numberWords = map[string]string{
	"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
	"seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}

func isDigits(t string) bool {
	t = strings.TrimPrefix(t, "-")
	return t != "" && t[0] >= '0' && t[0] <= '9'
}

// number reports whether t is a number and returns it without leading
// zeros.
func number(t string) (string, bool) {
	if w, ok := numberWords[t]; ok {
		return w, true
	}
	if !isDigits(t) {
		return "", false
	}
	sign := ""
	if rest, ok := strings.CutPrefix(t, "-"); ok {
		sign, t = "-", rest
	}
	n := strings.TrimLeft(t, "0")
	if n == "" || n[0] == '.' {
		n = "0" + n
	}
	return sign + n, true
}

var units = map[string]string{
	"minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
	"hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour",
	"day": "day", "days": "day", "dy": "day", "dys": "day",
	"week": "week", "weeks": "week", "wk": "week", "wks": "week",
	"month": "month", "months": "month", "mo": "month", "mos": "month", "mth": "month", "mths": "month", "mnth": "month",
	"year": "year", "years": "year", "yr": "year", "yrs": "year",
}

// oneLetter are the units that count only after a number.
var oneLetter = map[string]string{"h": "hour", "d": "day", "w": "week", "y": "year"}

func unit(t string, afterNumber bool) (string, bool) {
	if u, ok := units[t]; ok {
		return u, true
	}
	if afterNumber {
		u, ok := oneLetter[t]
		return u, ok
	}
	return "", false
}

func isUnit(t string) bool { _, ok := unit(t, true); return ok }
