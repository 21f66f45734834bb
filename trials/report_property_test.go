package trials_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// randomHistory logs a random trial history in an in-memory log: a
// registration, then protocol and SAP versions, milestones claiming times
// anywhere around the log's own, datasets and results, with outcomes drawn
// from a small pool of ids, kinds, measures and time frames spelt several
// ways.
func randomHistory(t *testing.T, rng *rand.Rand, trial string) []statement.Logged {
	t.Helper()
	m := newMemLog()
	owner := statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	measures := []string{"All-cause mortality", "all cause mortality", "Cardiovascular mortality", "HbA1c", "HbA1c change", "Quality of life (EQ-5D)"}
	frames := []string{"Week 26", "26 weeks", "26 wk", "26-week", "52 weeks", "Month 6", "6 months", "12 months", "1 year"}
	outs := func() string {
		var os []map[string]string
		for _, id := range []string{"P1", "P2", "S1", "S2", "S3"} {
			if rng.Intn(3) == 0 {
				continue
			}
			kind := "secondary"
			if rng.Intn(2) == 0 {
				kind = "primary"
			}
			os = append(os, map[string]string{"id": id, "kind": kind, "measure": measures[rng.Intn(len(measures))], "time_frame": frames[rng.Intn(len(frames))]})
		}
		if len(os) == 0 {
			os = append(os, map[string]string{"id": "P1", "kind": "primary", "measure": measures[0], "time_frame": frames[0]})
		}
		b, _ := json.Marshal(os)
		return string(b)
	}
	submit := func(s string) statement.Logged { return m.mustSubmit(t, owner, []byte(s)) }
	head := func(typ string) string {
		return fmt.Sprintf(`"type":%q,"trial_id":%q,"issued_at":"2026-01-01T00:00:00Z"`, typ, trial)
	}
	submit(fmt.Sprintf(`{%s,"title":"T","outcomes":%s}`, head("trial.registration"), outs()))
	prev := map[string]string{}
	for i, n := 0, 3+rng.Intn(10); i < n; i++ {
		switch rng.Intn(6) {
		case 0:
			submit(fmt.Sprintf(`{%s,"title":"T","outcomes":%s}`, head("trial.registration"), outs()))
		case 1, 2:
			typ := []string{"trial.protocol", "trial.sap"}[rng.Intn(2)]
			p := ""
			if prev[typ] != "" {
				p = fmt.Sprintf(`,"previous":%q`, prev[typ])
			}
			e := submit(fmt.Sprintf(`{%s,"version":"v%d","document":{"sha256":%q},"outcomes":%s%s}`, head(typ), i, hexA, outs(), p))
			prev[typ] = e.ID
		case 3:
			ev := []string{"first_participant_in", "database_lock", "unblinding", "last_participant_out"}[rng.Intn(4)]
			at := m.nextReceivedAt().Add(time.Duration(rng.Intn(24*20)-24*15) * time.Hour)
			submit(fmt.Sprintf(`{%s,"event":%q,"at":%q}`, head("trial.milestone"), ev, at.Format(time.RFC3339)))
		case 4:
			submit(fmt.Sprintf(`{%s,"name":"d%d","lock":%q,"manifest":{"sha256":%q}}`, head("trial.dataset"), i, []string{"interim", "final"}[rng.Intn(2)], hexA))
		case 5:
			submit(fmt.Sprintf(`{%s,"document":{"sha256":%q},"outcomes":%s}`, head("trial.results"), hexA, outs()))
		}
	}
	return m.load(t, trial).Entries
}

// withClaims returns entries whose milestones claim the given times, in
// order; nothing else changes, entry ids included.
func withClaims(entries []statement.Logged, ats []string) []statement.Logged {
	out := slices.Clone(entries)
	k := 0
	for i, e := range out {
		if ms, ok := e.Statement.(*trials.Milestone); ok {
			c := *ms
			c.At = ats[k]
			k++
			out[i].Statement = &c
		}
	}
	return out
}

// For random histories: an outcome whose measure differs from the
// baseline's is never unchanged (nor is any outcome with a change), and
// moving only the claimed dates around changes neither which entries the
// report rests on for its comparison (compared, first_participant_in,
// version chains) nor that every reported outcome has its row.
func TestReportProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(20261129))
	switched, moved, late := 0, 0, 0
	for run := 0; run < 400; run++ {
		trial := fmt.Sprintf("NCT0930%04d", run+1)
		entries := randomHistory(t, rng, trial)
		rep, err := trials.Compute(trial, entries)
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, run, rep, entries)
		for _, o := range rep.Outcomes {
			if o.Status == trials.StatusSwitched {
				switched++
			}
		}

		var ats, never []string
		for _, e := range entries {
			if ms, ok := e.Statement.(*trials.Milestone); ok {
				ats = append(ats, ms.At)
				never = append(never, "9999-12-31T00:00:00Z")
			}
		}
		// Claims are used only against the claimant: against the report
		// of the same entries claiming nothing earlier than the log saw,
		// the baseline is never later and every flag is still there.
		plain, err := trials.Compute(trial, withClaims(entries, never))
		if err != nil {
			t.Fatal(err)
		}
		leaf := map[string]int64{}
		for _, e := range entries {
			leaf[e.ID] = e.LeafIndex
		}
		if rep.Baseline != plain.Baseline {
			moved++
		}
		if slices.ContainsFunc(rep.Flags, func(f trials.Flag) bool { return f.Code == trials.FlagMilestoneLoggedLate }) {
			late++
		}
		if leaf[rep.Baseline] > leaf[plain.Baseline] {
			t.Fatalf("run %d: claimed dates moved the baseline later, from leaf %d to %d", run, leaf[plain.Baseline], leaf[rep.Baseline])
		}
		for _, f := range plain.Flags {
			if !slices.ContainsFunc(rep.Flags, func(g trials.Flag) bool { return g.Code == f.Code && slices.Equal(g.Evidence, f.Evidence) }) {
				t.Fatalf("run %d: claimed dates removed flag %s %q", run, f.Code, f.Evidence)
			}
		}
		for _, f := range plain.Flags {
			if f.Code == trials.FlagMilestoneLoggedLate {
				t.Fatalf("run %d: a milestone claiming nothing early is flagged late", run)
			}
		}
		for k := 0; k < 3 && len(ats) > 1; k++ {
			rng.Shuffle(len(ats), func(i, j int) { ats[i], ats[j] = ats[j], ats[i] })
			other, err := trials.Compute(trial, withClaims(entries, ats))
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, run, other, entries)
			if !reflect.DeepEqual(other.Compared, rep.Compared) || !reflect.DeepEqual(other.Start, rep.Start) ||
				!reflect.DeepEqual(other.Chains, rep.Chains) || !slices.Equal(other.Identifiers, rep.Identifiers) {
				t.Fatalf("run %d: reordering claimed dates changed the entries the report rests on", run)
			}
		}
	}
	if switched == 0 || moved == 0 || late == 0 {
		t.Fatalf("of the random histories, %d switched an outcome, %d had claims that moved the baseline, %d a late milestone: the generator must produce each", switched, moved, late)
	}
	t.Logf("%d switched outcomes, %d baselines moved by claims, %d histories with a late milestone", switched, moved, late)
}

// checkRows checks one report's rows against its baseline and results.
func checkRows(t *testing.T, run int, rep *trials.Report, entries []statement.Logged) {
	t.Helper()
	known := map[string]bool{}
	for _, e := range entries {
		known[e.ID] = true
	}
	if !known[rep.Baseline] {
		t.Fatalf("run %d: baseline %s is not an entry of the trial", run, rep.Baseline)
	}
	if rep.Compared == nil {
		return
	}
	rows := map[string]trials.OutcomeStatus{}
	for _, o := range rep.Outcomes {
		rows[o.ID] = o
		if o.Baseline != nil && o.Reported != nil {
			if trials.Normalise(o.Baseline.Measure) != trials.Normalise(o.Reported.Measure) && o.Status != trials.StatusSwitched {
				t.Fatalf("run %d: %s measure %q → %q is %s", run, o.ID, o.Baseline.Measure, o.Reported.Measure, o.Status)
			}
			if len(o.Changes) > 0 && o.Status == trials.StatusUnchanged {
				t.Fatalf("run %d: %s changed %q yet unchanged", run, o.ID, o.Changes)
			}
		}
		for _, id := range o.Evidence {
			if !known[id] {
				t.Fatalf("run %d: evidence %s is not an entry of the trial", run, id)
			}
		}
	}
	for _, e := range entries {
		if e.ID != *rep.Compared {
			continue
		}
		for _, o := range e.Statement.(*trials.Results).Outcomes {
			if _, ok := rows[o.ID]; !ok {
				t.Fatalf("run %d: reported outcome %s has no row", run, o.ID)
			}
		}
	}
	s := rep.Summary
	for _, c := range []trials.Counts{s.Counts, s.Primary, s.Secondary} {
		if c.CorrectlyReported+c.NotReported+c.Switched != c.Prespecified {
			t.Fatalf("run %d: summary %+v does not add up", run, s)
		}
	}
	if s.Primary.Prespecified+s.Secondary.Prespecified != s.Prespecified || s.Primary.Added+s.Secondary.Added != s.Added ||
		s.Primary.Switched+s.Secondary.Switched != s.Switched || s.Primary.NotReported+s.Secondary.NotReported != s.NotReported {
		t.Fatalf("run %d: summary by kind %+v does not add up to the totals", run, s)
	}
	for _, f := range rep.Flags {
		for _, id := range f.Evidence {
			if !known[id] || !contains(f.Message, id) {
				t.Fatalf("run %d: flag %s evidence %s unknown or not named in %q", run, f.Code, id, f.Message)
			}
		}
		if !contains(f.Message, "leaf ") || !(contains(f.Message, "claiming ") || contains(f.Message, "signed as issued ")) {
			t.Fatalf("run %d: flag %s message names no log position or no claimed date: %q", run, f.Code, f.Message)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
