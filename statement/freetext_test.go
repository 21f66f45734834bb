package statement_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/trialog/trialog/statement"
)

func TestHasEmail(t *testing.T) {
	for _, s := range []string{
		"j.doe@st-mary.example", "contact: x@y.co", "Ask Dr Smith (smith@hospital.org.uk) first",
		"a+tag@example.com.", "ab＠example.org", "name@sub.domain.example", "x_y@h.io;",
	} {
		if !statement.HasEmail(s) {
			t.Errorf("HasEmail(%q) = false", s)
		}
		if err := statement.RefuseEmail("field", s); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "e-mail") {
			t.Errorf("RefuseEmail(%q) = %v", s, err)
		}
	}
	for _, s := range []string{
		"", "ehr.st-mary.example", "@handle", "user@", "user@localhost", "x@y", "x@y.c", "x@y.123",
		"HAM-D <= 8 or >= 50% reduction", "meet @ 9.30", "a@.com", "Week 26 @ 10 mg/kg", "@@@@",
	} {
		if statement.HasEmail(s) {
			t.Errorf("HasEmail(%q) = true", s)
		}
	}
}

func FuzzHasEmail(f *testing.F) {
	for _, s := range []string{"j.doe@st-mary.example", "x@y", strings.Repeat("a@", 100) + "b.cc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := statement.HasEmail(s)
		// Text around an address never hides it.
		if got && !statement.HasEmail("before "+s+" after") {
			t.Fatalf("HasEmail(%q) but not with text around it", s)
		}
		if !strings.ContainsAny(s, "@＠") && got {
			t.Fatalf("HasEmail(%q) without an @", s)
		}
	})
}
