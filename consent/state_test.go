package consent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
)

// A grant on a consent-form version that a later version replaced is a
// conflict (409): the subject must consent on the current form.
func TestGrantOnReplacedForm(t *testing.T) {
	m := newMemLog(t)
	v1 := must(t, m, owner, formJSON("1.0", formV1, ""))
	must(t, m, site, grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth))
	must(t, m, owner, formJSON("2.0", formV2, v1))
	_, err := m.add(site, grantJSON(subjectB, "1.0", formV1, issuedAt, scopeBoth))
	if !errors.Is(err, statement.ErrConflict) || !strings.Contains(err.Error(), `replaced by version "2.0"`) {
		t.Fatalf("grant on the replaced version: %v, want a conflict naming 2.0", err)
	}
	must(t, m, site, grantJSON(subjectB, "2.0", formV2, issuedAt, scopeBoth))
	// Re-consent of subject A on the current version is fine.
	must(t, m, site, grantJSON(subjectA, "2.0", formV2, "2026-03-05T00:00:00Z", scopeBoth))
}

// The subject's state, kept entry by entry, says what its whole history
// says (Compute), at every step and at every time.
func TestSubjectStateMatchesHistory(t *testing.T) {
	m := newMemLog(t)
	must(t, m, owner, formJSON("1.0", formV1, ""))
	steps := []string{
		grantJSON(subjectA, "1.0", formV1, issuedAt, scopeBoth),
		withdrawJSON(subjectA, "2026-03-02T00:00:00Z", "primary-analysis"),
		grantJSON(subjectA, "1.0", formV1, "2026-03-03T00:00:00Z", `[{"purpose":"primary-analysis","decision":"permit"}]`),
		withdrawJSON(subjectA, "2026-03-04T00:00:00Z"),
		grantJSON(subjectA, "1.0", formV1, "2026-03-05T00:00:00Z", scopeBoth),
	}
	ctx := context.Background()
	for i, p := range steps {
		must(t, m, site, p)
		es, _ := m.EntriesByRef(ctx, SubjectRef(subjectA))
		s, err := LoadSubject(ctx, m.state, subjectA)
		if err != nil {
			t.Fatal(err)
		}
		for _, now := range []time.Time{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} {
			want := Compute(es, "2.0", now)
			got := s.Consent("2.0", now)
			if got.Status != want.Status || !slices.Equal(got.Evidence, want.Evidence) || !slices.Equal(got.Scope, want.Scope) ||
				got.FormVersion != want.FormVersion || got.ReconsentRequired != want.ReconsentRequired || got.Erased != want.Erased {
				t.Fatalf("step %d at %s: state says %+v, history says %+v", i, now, got, want)
			}
		}
	}
}
