package consent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/trials"
)

// The status word follows the purposes the latest grant permits: granted,
// partially withdrawn, withdrawn (in full or purpose by purpose), expired
// when the grant's period ended; and what a data user may do follows it.
func TestStatusWord(t *testing.T) {
	const three = `[{"purpose":"primary-analysis","decision":"permit"},{"purpose":"secondary-analysis","decision":"permit"},{"purpose":"future-research","decision":"deny"}]`
	m := newMemLog(t)
	f1 := must(t, m, owner, formJSON("1.0", formV1, ""))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	status := func(subject string, at time.Time) *Status {
		es, _ := m.EntriesByRef(context.Background(), SubjectRef(subject))
		return Compute(es, "1.0", at)
	}
	check := func(what string, s *Status, word string, permitted ...string) {
		t.Helper()
		if s.Status != word {
			t.Fatalf("%s: status %q, want %q", what, s.Status, word)
		}
		for _, p := range []string{"primary-analysis", "secondary-analysis", "future-research"} {
			want := Deny
			for _, q := range permitted {
				if p == q {
					want = Permit
				}
			}
			if d, _ := Decide(s, p); d != want {
				t.Fatalf("%s: %s is %s, want %s", what, p, d, want)
			}
		}
	}

	must(t, m, site, grantJSON(subjectA, "1.0", formV1, issuedAt, three))
	check("granted", status(subjectA, now), StatusGranted, "primary-analysis", "secondary-analysis")
	// Withdrawing a purpose the grant denied changes nothing.
	must(t, m, site, withdrawJSON(subjectA, "2026-03-02T00:00:00Z", "future-research"))
	check("a denied purpose withdrawn", status(subjectA, now), StatusGranted, "primary-analysis", "secondary-analysis")
	must(t, m, site, withdrawJSON(subjectA, "2026-03-03T00:00:00Z", "primary-analysis"))
	check("one of two withdrawn", status(subjectA, now), StatusPartiallyWithdrawn, "secondary-analysis")
	must(t, m, site, withdrawJSON(subjectA, "2026-03-04T00:00:00Z", "secondary-analysis"))
	check("both withdrawn one by one", status(subjectA, now), StatusWithdrawn)

	// A grant with a period: granted (nothing permitted yet) before it
	// begins, granted within it, expired after it, expired also when
	// partially withdrawn; a full withdrawal says withdrawn whenever.
	period := strings.Replace(grantJSON(subjectB, "1.0", formV1, issuedAt, three), `"scope"`, `"period":{"start":"2026-03-01T00:00:00Z","end":"2027-03-01T00:00:00Z"},"scope"`, 1)
	must(t, m, site, period)
	check("before the period", status(subjectB, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)), StatusGranted)
	check("within the period", status(subjectB, now), StatusGranted, "primary-analysis", "secondary-analysis")
	check("after the period", status(subjectB, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)), StatusExpired)
	must(t, m, site, withdrawJSON(subjectB, "2026-03-05T00:00:00Z", "primary-analysis"))
	check("partially withdrawn within the period", status(subjectB, now), StatusPartiallyWithdrawn, "secondary-analysis")
	check("partially withdrawn after the period", status(subjectB, time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)), StatusExpired)
	must(t, m, site, withdrawJSON(subjectB, "2026-03-06T00:00:00Z"))
	check("fully withdrawn after the period", status(subjectB, time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)), StatusWithdrawn)

	// Re-consent applies to active consent only, partially withdrawn
	// included; the summary counts every word.
	must(t, m, site, grantJSON(subjectA, "1.0", formV1, issuedAt, three))
	must(t, m, site, withdrawJSON(subjectA, "2026-03-07T00:00:00Z", "secondary-analysis"))
	must(t, m, owner, formJSON("2.0", formV2, f1))
	es, _ := m.EntriesByRef(context.Background(), SubjectRef(subjectA))
	if s := Compute(es, "2.0", now); s.Status != StatusPartiallyWithdrawn || !s.ReconsentRequired {
		t.Fatalf("partially withdrawn on an old form: %+v", s)
	}
	tr, err := trials.Load(context.Background(), m, trialID)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := m.EntriesByRef(context.Background(), Ref(trialID))
	sum := Summarize(all, Forms(tr), time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))
	if sum.Withdrawn != 1 || sum.PartiallyWithdrawn != 1 || sum.Granted != 0 || sum.Expired != 0 || sum.ReconsentRequired != 1 {
		t.Fatalf("summary %+v", sum)
	}
}
