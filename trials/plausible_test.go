package trials_test

import (
	"errors"

	"github.com/trialog/trialog/statement"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/trials"
)

// Identifiers of real, well-known trials pass; near-misses that no registry
// could have issued are refused with a reason.
func TestPlausibleIDs(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for _, in := range []string{
		// ClinicalTrials.gov numbers cited in published papers (from the
		// ctregistries package's tests): NCT01400022, NCT00902941 …
		"NCT01400022", "NCT00902941", "NCT01208194", "NCT00379470", "NCT02529358",
		"NCT00000102", // one of the first ClinicalTrials.gov records
		// EudraCT numbers on the EU Clinical Trials Register.
		"2011-004770-28", "2017-004823-66", "2017-001768-39", "2014-003326-41",
		"2004-000123-45", "2023-499999-10",
		// EU CT numbers as CTIS issues them.
		"2025-522006-21-00", "2025-523586-18-00", "2022-500001-11-00", "2026-500123-45-01",
		"ISRCTN37167117", "U1111-1111-4101",
	} {
		if _, _, err := trials.ParseIDAt(in, now); err != nil {
			t.Errorf("ParseIDAt(%q): %v", in, err)
		}
	}
	for in, why := range map[string]string{
		"NCT00000000":       "all zeros",
		"ISRCTN00000000":    "all zeros",
		"U1111-0000-0000":   "all zeros",
		"1999-000123-45":    "2004 to 2023",
		"2003-000123-45":    "2004 to 2023",
		"2024-000123-45":    "2004 to 2023",
		"2023-500123-45":    "EU CT number without its last two digits",
		"2011-000000-28":    "zero",
		"2021-500123-45-00": "from 2022",
		"2023-000123-45-00": "start at 500000",
		"2027-500123-45-00": "after the current year",
		"2030-000123-45":    "after the current year",
	} {
		_, _, err := trials.ParseIDAt(in, now)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseIDAt(%q) = %v, want an error saying %q", in, err, why)
		}
	}
	// The clock decides "the current year".
	if _, _, err := trials.ParseIDAt("2027-500123-45-00", now.AddDate(1, 0, 0)); err != nil {
		t.Errorf("an EU CT number of 2027 read in 2027: %v", err)
	}
}

func TestNormalise(t *testing.T) {
	same := [][]string{
		{"Week 26", "26 weeks", "26 wk", "26-week", "26wks", "week 26", "WEEK 26", "26 Weeks.", "week 26"},
		{"Day 28", "28 days", "28 d", "28-day", "day 028"},
		{"Month 6", "6 months", "6 mo", "6-month", "six months", "6 mths"},
		{"Year 1", "1 year", "1 yr", "one year", "1 y"},
		{"All-cause mortality", "all cause mortality", "All-cause  mortality", "all-cause mortality."},
		{"HbA1c change from baseline", "HbA1c: change from baseline"},
		{"1.5 years", "1.5 yrs"},
		{"24 hours", "24 h", "24-hr"},
		{"HbA1c ≤ 7.0%", "HbA1c <= 7.0 %", "hba1c < = 7.0%"},
		{"Change >= 50%", "change ≥50%"},
		{"1,000 steps", "1000 steps"},
	}
	for _, group := range same {
		for _, s := range group[1:] {
			if trials.Normalise(s) != trials.Normalise(group[0]) {
				t.Errorf("Normalise(%q) = %q, Normalise(%q) = %q: want the same", s, trials.Normalise(s), group[0], trials.Normalise(group[0]))
			}
		}
	}
	differ := [][2]string{
		{"Week 26", "Week 52"}, {"Week 26", "26 days"}, {"12 months", "1 year"}, {"6 months", "26 weeks"},
		{"All-cause mortality", "Cardiovascular mortality"}, {"1.5 years", "15 years"}, {"HbA1c", "HbA1"},
		{"Day 1", "Day 10"}, {"2 mg", "2 mo"},
		{"HbA1c < 7%", "HbA1c > 7%"}, {"HbA1c < 7%", "HbA1c 7%"}, {"HAM-D <= 8", "HAM-D >= 8"},
		{"change of -0.5", "change of 0.5"}, {"7%", "7"}, {"± 5 mmHg", "5 mmHg"}, {"1,000 steps", "1,0 steps"},
	}
	for _, d := range differ {
		if trials.Normalise(d[0]) == trials.Normalise(d[1]) {
			t.Errorf("Normalise(%q) = Normalise(%q) = %q: want different", d[0], d[1], trials.Normalise(d[0]))
		}
	}
}

func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"Week 26", "26-week", "1.5 years", "week 2 day 3", "..1..", "０１２", "ǅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := trials.Normalise(s)
		if trials.Normalise(n) != n {
			t.Fatalf("Normalise(%q) = %q is not a fixed point (%q)", s, n, trials.Normalise(n))
		}
		if strings.ToUpper(s) != s && trials.Normalise(strings.ToUpper(s)) != n && !strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f }) {
			t.Fatalf("Normalise depends on ASCII case: %q", s)
		}
	})
}

// Free text in trial statements refuses e-mail addresses; declared belongs
// only in results; omitted names outcomes the results do not report.
func TestStatementFreeText(t *testing.T) {
	const h = `"trial_id":"NCT01400022","issued_at":"2026-01-01T00:00:00Z"`
	out := func(extra string) string {
		return `[{"id":"P1","kind":"primary","measure":"Mortality","time_frame":"Week 26"` + extra + `}]`
	}
	doc := `"document":{"sha256":"` + hexA + `"}`
	for name, tc := range map[string]struct {
		parse func([]byte) (statement.Statement, error)
		body  string
		want  string
	}{
		"title":                  {trials.ParseRegistration, `{"type":"trial.registration",` + h + `,"title":"Ask pi@trial.example","outcomes":` + out("") + `}`, "title must not contain an e-mail"},
		"measure":                {trials.ParseRegistration, `{"type":"trial.registration",` + h + `,"title":"T","outcomes":[{"id":"P1","kind":"primary","measure":"as a@b.org said","time_frame":"W"}]}`, "measure must not contain an e-mail"},
		"reason":                 {trials.ParseProtocol, `{"type":"trial.protocol",` + h + `,"version":"2",` + doc + `,"reason":"per j.doe@cro.example","outcomes":` + out("") + `}`, "reason must not contain an e-mail"},
		"dataset name":           {trials.ParseDataset, `{"type":"trial.dataset",` + h + `,"name":"x@y.org export","lock":"final","manifest":{"sha256":"` + hexA + `"}}`, "name must not contain an e-mail"},
		"declared":               {trials.ParseResults, `{"type":"trial.results",` + h + `,` + doc + `,"outcomes":` + out(`,"declared":"mail stats@cro.example"`) + `}`, "declared must not contain an e-mail"},
		"declared in a protocol": {trials.ParseProtocol, `{"type":"trial.protocol",` + h + `,"version":"2",` + doc + `,"outcomes":` + out(`,"declared":"Methods"`) + `}`, "declared belongs only in trial.results"},
		"omitted also reported":  {trials.ParseResults, `{"type":"trial.results",` + h + `,` + doc + `,"outcomes":` + out("") + `,"omitted":[{"id":"P1","declared":"Methods"}]}`, "also reported"},
		"omitted undeclared":     {trials.ParseResults, `{"type":"trial.results",` + h + `,` + doc + `,"outcomes":` + out("") + `,"omitted":[{"id":"S1","declared":""}]}`, "omitted[0].declared is required"},
		"doi":                    {trials.ParsePublication, `{"type":"trial.publication",` + h + `,` + doc + `,"doi":"10.5555/x@journal.example"}`, "doi must not contain an e-mail"},
		"implausible trial":      {trials.ParseMilestone, `{"type":"trial.milestone","trial_id":"NCT00000000","issued_at":"2026-01-01T00:00:00Z","event":"unblinding","at":"2026-01-01T00:00:00Z"}`, "all zeros"},
	} {
		_, err := tc.parse([]byte(tc.body))
		if !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an invalid-argument error saying %q", name, err, tc.want)
		}
	}
	st, err := trials.ParseResults([]byte(`{"type":"trial.results",` + h + `,` + doc + `,"outcomes":` + out(`,"declared":"Methods, Changes to outcomes"`) + `,"omitted":[{"id":"S1","declared":"Discussion, limitations"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := st.(*trials.Results); r.Outcomes[0].Declared != "Methods, Changes to outcomes" || r.Omitted[0].ID != "S1" {
		t.Fatalf("parsed results %+v", r)
	}
}
