package trials_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/trials/trialstest"
)

// playFixture submits a fixture's steps to an in-memory log and returns the
// log and the entry id of each label.
func playFixture(t *testing.T, f trialstest.Fixture) (*memLog, map[string]string) {
	t.Helper()
	m := newMemLog()
	callers := map[string]statement.Caller{}
	for name, role := range f.Principals {
		callers[name] = statement.Caller{PrincipalID: "pr_" + name, Name: name, Role: statement.Role(role)}
	}
	ids := map[string]string{}
	received := map[string]time.Time{}
	for _, s := range f.Steps {
		var e statement.Logged
		var err error
		if s.Delegate != "" {
			tr := m.load(t, f.Trial)
			e, err = m.delegate(tr.ID, callers[s.Delegate].PrincipalID, tr.Owner)
		} else {
			c, ok := callers[s.By]
			if !ok {
				t.Fatalf("step %s: unknown principal %q", s.Label, s.By)
			}
			payload, perr := s.Payload(ids, trialstest.Clock{Now: m.nextReceivedAt(), Received: received})
			if perr != nil {
				t.Fatal(perr)
			}
			e, err = m.submit(c, payload)
		}
		if err != nil {
			t.Fatalf("step %s: %v", s.Label, err)
		}
		ids[s.Label] = e.ID
		received[s.Label] = e.ReceivedAt
	}
	return m, ids
}

// checkReport compares a report with a fixture's expectations.
func checkReport(t *testing.T, f trialstest.Fixture, rep *trials.Report, ids map[string]string) {
	t.Helper()
	for _, d := range f.Diff(rep, ids) {
		t.Error(d)
	}
	for _, fl := range rep.Flags {
		t.Logf("flag %s: %s", fl.Code, fl.Message)
	}
}

func TestFixtures(t *testing.T) {
	fixtures, err := trialstest.Load("testdata/fixtures")
	if err != nil {
		t.Fatal(err)
	}
	// Together the fixtures show every status and every flag.
	statuses, flags := map[string]bool{}, map[string]bool{}
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			m, ids := playFixture(t, f)
			tr := m.load(t, f.Trial)
			rep, err := trials.Compute(f.Want.Identifiers[0], tr.Entries)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, f, rep, ids)
			// Every identifier finds the same trial.
			for _, id := range f.Want.Identifiers {
				if other := m.load(t, id); !reflect.DeepEqual(other.Entries, tr.Entries) {
					t.Errorf("the trial loaded by %s has %d entries, by %s %d", id, len(other.Entries), f.Trial, len(tr.Entries))
				}
			}
			if len(tr.Entries) != len(f.Steps) {
				t.Errorf("the trial has %d entries for %d steps", len(tr.Entries), len(f.Steps))
			}
			// The report is a function of the entries: the same report
			// from a shuffled copy.
			shuffled := append([]statement.Logged(nil), tr.Entries...)
			for i, j := 0, len(shuffled)-1; i < j; i, j = i+1, j-1 {
				shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			}
			again, err := trials.Compute(f.Want.Identifiers[0], shuffled)
			if err != nil || !reflect.DeepEqual(again, rep) {
				t.Errorf("the report depends on the order entries are given in")
			}
			b, _ := json.MarshalIndent(rep, "", "  ")
			t.Logf("report:\n%s", b)
		})
		for _, o := range f.Want.Outcomes {
			statuses[o.Status] = true
		}
		for _, fl := range f.Want.Flags {
			flags[fl.Code] = true
		}
	}
	for _, s := range []string{trials.StatusUnchanged, trials.StatusAdded, trials.StatusDropped, trials.StatusPromoted, trials.StatusDemoted, trials.StatusRetimed} {
		if !statuses[s] {
			t.Errorf("no fixture shows status %s", s)
		}
	}
	for _, c := range []string{trials.FlagResultsBeforeRegistration, trials.FlagRegisteredAfterStart, trials.FlagSAPAfterLock, trials.FlagSAPAfterUnblinding, trials.FlagAmendedAfterStart} {
		if !flags[c] {
			t.Errorf("no fixture shows flag %s", c)
		}
	}
}

// Claimed times never order anything: a milestone claiming a start before
// the protocol does not move the baseline.
func TestReportIgnoresClaimedTimes(t *testing.T) {
	m := newMemLog()
	owner := statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	reg := m.mustSubmit(t, owner, js(`{"type":"trial.registration","trial_id":"NCT09200001","issued_at":"2026-01-01T00:00:00Z","title":"T","outcomes":[`+outcome("P1", "primary", "W1")+`]}`))
	fpi := m.mustSubmit(t, owner, js(`{"type":"trial.milestone","trial_id":"NCT09200001","issued_at":"2030-01-01T00:00:00Z","event":"first_participant_in","at":"2030-01-01T00:00:00Z"}`))
	// Logged after the start, though it claims to be issued long before.
	p := m.mustSubmit(t, owner, js(`{"type":"trial.protocol","trial_id":"NCT09200001","issued_at":"2000-01-01T00:00:00Z","version":"1","document":{"sha256":"`+hexA+`"},"outcomes":[`+outcome("P1", "primary", "W2")+`]}`))
	res := m.mustSubmit(t, owner, js(`{"type":"trial.results","trial_id":"NCT09200001","issued_at":"1999-01-01T00:00:00Z","document":{"sha256":"`+hexA+`"},"outcomes":[`+outcome("P1", "primary", "W2")+`]}`))
	rep, err := trials.Compute("NCT09200001", m.load(t, "NCT09200001").Entries)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline != reg.ID || !strings.Contains(rep.BaselineReason, "last registration") {
		t.Fatalf("baseline = %s (%s), want the registration %s", rep.Baseline, rep.BaselineReason, reg.ID)
	}
	if *rep.Compared != res.ID || rep.Outcomes[0].Status != trials.StatusRetimed {
		t.Fatalf("outcomes = %+v", rep.Outcomes)
	}
	if rep.Start == nil || *rep.Start != fpi.ID {
		t.Fatalf("start = %v, want %s", rep.Start, fpi.ID)
	}
	_ = p
}

func TestReportWithoutStartOrResults(t *testing.T) {
	m := newMemLog()
	owner := statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	reg := m.mustSubmit(t, owner, js(`{"type":"trial.registration","trial_id":"NCT09200002","issued_at":"2026-01-01T00:00:00Z","title":"T","outcomes":[`+outcome("P1", "primary", "W1")+`]}`))
	m.mustSubmit(t, owner, js(`{"type":"trial.protocol","trial_id":"NCT09200002","issued_at":"2026-01-01T00:00:00Z","version":"1","document":{"sha256":"`+hexA+`"},"outcomes":[`+outcome("P1", "primary", "W1")+`]}`))
	rep, err := trials.Compute("NCT09200002", m.load(t, "NCT09200002").Entries)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Baseline != reg.ID || !strings.Contains(rep.BaselineReason, "no first_participant_in") {
		t.Fatalf("without a start the baseline is %s (%s), want the first registration", rep.Baseline, rep.BaselineReason)
	}
	if rep.Compared != nil || len(rep.Outcomes) != 0 || len(rep.Flags) != 0 {
		t.Fatalf("without results: compared %v, %d outcomes, %d flags", rep.Compared, len(rep.Outcomes), len(rep.Flags))
	}
	b, _ := json.Marshal(rep)
	if !strings.Contains(string(b), `"compared":null`) || !strings.Contains(string(b), `"outcomes":[]`) || !strings.Contains(string(b), `"flags":[]`) {
		t.Fatalf("report JSON %s", b)
	}
	if _, err := trials.Compute("NCT09200002", nil); err != trials.ErrUnknownTrial {
		t.Fatalf("report of no entries: %v", err)
	}
}

// A measure changed under the same id is switched, whatever else changed;
// kind and time frame both changed: the kind decides.
func TestReportChanges(t *testing.T) {
	m := newMemLog()
	owner := statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	m.mustSubmit(t, owner, js(`{"type":"trial.registration","trial_id":"NCT09200003","issued_at":"2026-01-01T00:00:00Z","title":"T","outcomes":[`+
		outcome("A", "primary", "W1")+`,`+outcome("B", "secondary", "W1")+`]}`))
	m.mustSubmit(t, owner, js(`{"type":"trial.results","trial_id":"NCT09200003","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"`+hexA+`"},"outcomes":[`+
		`{"id":"A","kind":"primary","measure":"another measure","time_frame":"W1"},`+outcome("B", "primary", "W9")+`]}`))
	rep, err := trials.Compute("NCT09200003", m.load(t, "NCT09200003").Entries)
	if err != nil {
		t.Fatal(err)
	}
	if o := rep.Outcomes[0]; o.Status != trials.StatusSwitched || !reflect.DeepEqual(o.Changes, []string{"measure"}) || o.Measure != "another measure" || o.Baseline.Measure != "measure of A" {
		t.Errorf("reworded outcome: %+v", o)
	}
	if o := rep.Outcomes[1]; o.Status != trials.StatusPromoted || !reflect.DeepEqual(o.Changes, []string{"kind", "time_frame"}) {
		t.Errorf("promoted and retimed outcome: %+v", o)
	}
}

const hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func outcome(id, kind, tf string) string {
	return `{"id":"` + id + `","kind":"` + kind + `","measure":"measure of ` + id + `","time_frame":"` + tf + `"}`
}

func js(s string) []byte { return []byte(s) }

// The fixture comparison itself catches a wrong status, evidence list, flag
// or baseline, so the fixture tests cannot pass by comparing nothing.
func TestFixtureDiffCatches(t *testing.T) {
	fixtures, err := trialstest.Load("testdata/fixtures")
	if err != nil {
		t.Fatal(err)
	}
	var f trialstest.Fixture
	for _, g := range fixtures {
		if g.Name == "switched" {
			f = g
		}
	}
	m, ids := playFixture(t, f)
	rep, err := trials.Compute(f.Want.Identifiers[0], m.load(t, f.Trial).Entries)
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Diff(rep, ids); len(d) != 0 {
		t.Fatalf("the fixture's own report differs: %q", d)
	}
	for name, mutate := range map[string]func(r *trials.Report){
		"status":   func(r *trials.Report) { r.Outcomes[0].Status = trials.StatusUnchanged },
		"summary":  func(r *trials.Report) { r.Summary.Switched++ },
		"evidence": func(r *trials.Report) { r.Outcomes[1].Evidence = r.Outcomes[1].Evidence[1:] },
		"changes":  func(r *trials.Report) { r.Outcomes[1].Changes = nil },
		"flag":     func(r *trials.Report) { r.Flags = r.Flags[1:] },
		"flag ev":  func(r *trials.Report) { r.Flags[0].Evidence[0] = r.Baseline },
		"baseline": func(r *trials.Report) { r.Baseline = *r.Compared },
		"compared": func(r *trials.Report) { r.Compared = nil },
	} {
		r, _ := trials.Compute(f.Want.Identifiers[0], m.load(t, f.Trial).Entries)
		mutate(r)
		if len(f.Diff(r, ids)) == 0 {
			t.Errorf("a report with another %s passes", name)
		}
	}
}

// An omission the results declare is counted as COMPare counts it: correctly
// reported, and apart as a declared omission.
func TestReportDeclaredOmission(t *testing.T) {
	m := newMemLog()
	owner := statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	m.mustSubmit(t, owner, js(`{"type":"trial.registration","trial_id":"NCT09200004","issued_at":"2026-01-01T00:00:00Z","title":"T","outcomes":[`+
		outcome("P1", "primary", "W1")+`,`+outcome("S1", "secondary", "W1")+`,`+outcome("S2", "secondary", "W1")+`]}`))
	m.mustSubmit(t, owner, js(`{"type":"trial.results","trial_id":"NCT09200004","issued_at":"2026-01-01T00:00:00Z","document":{"sha256":"`+hexA+`"},"outcomes":[`+
		outcome("P1", "primary", "W1")+`],"omitted":[{"id":"S1","declared":"Discussion, second paragraph"}]}`))
	rep, err := trials.Compute("NCT09200004", m.load(t, "NCT09200004").Entries)
	if err != nil {
		t.Fatal(err)
	}
	want := trials.Summary{
		Counts:    trials.Counts{Prespecified: 3, CorrectlyReported: 2, NotReported: 1, Declared: trials.DeclaredCounts{NotReported: 1}},
		Primary:   trials.Counts{Prespecified: 1, CorrectlyReported: 1},
		Secondary: trials.Counts{Prespecified: 2, CorrectlyReported: 1, NotReported: 1, Declared: trials.DeclaredCounts{NotReported: 1}},
	}
	if rep.Summary != want {
		t.Fatalf("summary %+v, want %+v", rep.Summary, want)
	}
	if o := rep.Outcomes[1]; o.Status != trials.StatusDropped || o.Declared != "Discussion, second paragraph" {
		t.Fatalf("declared omission row %+v", o)
	}
	if o := rep.Outcomes[2]; o.Status != trials.StatusDropped || o.Declared != "" {
		t.Fatalf("silent omission row %+v", o)
	}
}
