package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/receipt/receipttest"
	"github.com/trialog/trialog/trials"
)

// fakeTrials serves a trial timeline and outcome report built from an
// in-memory log with real proofs and a real signed checkpoint, as
// API.md describes GET /v1/trials/{id} and /v1/trials/{id}/outcomes.
type fakeTrials struct {
	log      *receipttest.Log
	timeline api.TrialTimeline
	outcomes api.TrialOutcomes
	ids      []string // entry ids in log order
}

const fakeTrialID = "NCT01234567"

func newFakeTrials(t *testing.T) *fakeTrials {
	t.Helper()
	l, err := receipttest.New("fake.trialog.example/log", receipttest.Seeded(5))
	if err != nil {
		t.Fatal(err)
	}
	sponsor := receipttest.Key(6)
	outcomes := `[{"id":"o1","kind":"primary","measure":"HbA1c at 26 weeks","time_frame":"26 weeks"},{"id":"o2","kind":"secondary","measure":"weight","time_frame":"26 weeks"}]`
	doc := `{"sha256":"` + strings.Repeat("ab", 32) + `"}`
	statements := []string{
		`{"type":"record.digest","digest":{"sha256":"` + strings.Repeat("cd", 32) + `"},"issued_at":"2026-01-01T00:00:00Z"}`, // another entry of the log
		`{"type":"trial.registration","trial_id":"NCT01234567","title":"Glucose trial","outcomes":` + outcomes + `,"issued_at":"2026-01-02T00:00:00Z"}`,
		`{"type":"trial.protocol","trial_id":"NCT01234567","version":"1.0","document":` + doc + `,"outcomes":` + outcomes + `,"issued_at":"2026-01-03T00:00:00Z"}`,
		`{"type":"trial.milestone","trial_id":"NCT01234567","event":"first_participant_in","at":"2026-02-01T00:00:00Z","issued_at":"2026-02-01T00:00:00Z"}`,
		`{"type":"trial.results","trial_id":"NCT01234567","document":` + doc + `,"outcomes":[{"id":"o2","kind":"primary","measure":"weight","time_frame":"26 weeks"}],"issued_at":"2027-01-01T00:00:00Z"}`,
	}
	f := &fakeTrials{log: l}
	for i, st := range statements {
		l.Append(receipttest.Leaf([]byte(st), fmt.Sprintf("2026-11-23T14:00:0%d.000001Z", i), sponsor))
	}
	size := l.Size()
	f.timeline = api.TrialTimeline{TrialID: fakeTrialID, Identifiers: []string{fakeTrialID}, Owner: "pr_0123", Checkpoint: string(l.Checkpoint(size))}
	for i := int64(1); i < size; i++ {
		e := l.Entry(i, size)
		f.timeline.Entries = append(f.timeline.Entries, e)
		f.ids = append(f.ids, e.ID)
	}
	compared := f.ids[3]
	f.outcomes = api.TrialOutcomes{TrialReport: trials.Report{
		TrialID: fakeTrialID, Baseline: f.ids[1], BaselineReason: "the last protocol before first_participant_in", Compared: &compared,
		Outcomes: []trials.OutcomeStatus{
			{ID: "o1", Kind: "primary", Measure: "HbA1c at 26 weeks", Status: "dropped", Evidence: []string{f.ids[1], f.ids[3]}},
			{ID: "o2", Kind: "primary", Measure: "weight", Status: "promoted", Evidence: []string{f.ids[1], f.ids[3]}, Changes: []string{"kind"}},
		},
		Flags: []trials.Flag{{Code: "results_before_registration", Message: "an example flag", Evidence: []string{f.ids[0], f.ids[3]}}},
		Summary: trials.Summary{
			Counts:  trials.Counts{Prespecified: 2, NotReported: 1, Switched: 1, Added: 0, Declared: trials.DeclaredCounts{Added: 1}},
			Primary: trials.Counts{Prespecified: 2, NotReported: 1, Switched: 1},
		}},
		Checkpoint: f.timeline.Checkpoint,
	}
	return f
}

func (f *fakeTrials) serve(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/log":
			json.NewEncoder(w).Encode(api.LogInfo{Origin: f.log.Origin, PublicKey: f.log.VKey, TreeSize: uint64(f.log.Size()), Checkpoint: f.timeline.Checkpoint})
		case "/v1/trials/" + fakeTrialID:
			json.NewEncoder(w).Encode(f.timeline)
		case "/v1/trials/" + fakeTrialID + "/outcomes":
			json.NewEncoder(w).Encode(f.outcomes)
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":{"code":"not_found","message":"trial ` + strings.TrimPrefix(r.URL.Path, "/v1/trials/") + ` is not registered"}}`))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// TestTrialFake checks trial show and trial outcomes against a server
// serving data built here with real proofs: the tables, --json, and that
// any tampering with the proofs or the evidence fails.
func TestTrialFake(t *testing.T) {
	f := newFakeTrials(t)
	srv := f.serve(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "log-key.txt"), f.log.VKey)
	c := &cli{t: t, env: map[string]string{"TRIALOG_URL": srv.URL, "TRIALOG_LOG_KEY": "@" + filepath.Join(dir, "log-key.txt")}}

	r := c.run("trial", "show", fakeTrialID).ok(t)
	r.has(t, "trial       NCT01234567", "signature verified", "entries     4, each proven",
		"LEAF", "trial.registration", `"Glucose trial", 2 outcomes`, "version 1.0", "first_participant_in at 2026-02-01T00:00:00Z", f.ids[3])
	r = c.run("trial", "show", "--json", fakeTrialID).ok(t)
	var tl api.TrialTimeline
	if err := json.Unmarshal([]byte(r.stdout), &tl); err != nil || len(tl.Entries) != 4 {
		t.Fatalf("--json: %v %s", err, r.stdout)
	}
	r = c.run("trial", "outcomes", fakeTrialID).ok(t)
	r.has(t, "baseline    "+f.ids[1], "compared    "+f.ids[3], "OUTCOME", "o1", "dropped", "promoted", "kind", "results_before_registration: an example flag",
		"summary     of 2 outcomes pre-specified, 0 reported as pre-specified, 1 switched without saying so, 1 not reported without saying so",
		"declared in the results (counted as correctly reported, as COMPare does): 1 added", "primary outcomes: 0 of 2 reported as pre-specified; 1 switched, 1 not reported, 0 added without saying so", "1 flag: results_before_registration ×1")
	// The summary comes first, before the baseline and the rows.
	if s, b := strings.Index(r.stdout, "summary "), strings.Index(r.stdout, "baseline "); s < 0 || b < 0 || s > b {
		t.Fatalf("the summary is not printed before the baseline:\n%s", r.stdout)
	}
	c.run("trial", "outcomes", "--json", fakeTrialID).ok(t).has(t, `"baseline": "`+f.ids[1])

	// Without --log-key: checked against the announced key, and said so.
	delete(c.env, "TRIALOG_LOG_KEY")
	c.run("trial", "show", fakeTrialID).ok(t).has(t, "the key the server announced")
	c.env["TRIALOG_LOG_KEY"] = "@" + filepath.Join(dir, "log-key.txt")

	// Tampering.
	good := f.timeline
	mutate := func(name string, change func(), args []string, msg string) {
		t.Run(name, func(t *testing.T) {
			saved, savedO := f.timeline, f.outcomes
			tl := f.timeline
			tl.Entries = make([]*api.Entry, len(good.Entries))
			for i, e := range good.Entries {
				cp := *e
				p := *e.InclusionProof
				p.Hashes = append([]string(nil), e.InclusionProof.Hashes...)
				cp.InclusionProof = &p
				tl.Entries[i] = &cp
			}
			f.timeline = tl
			change()
			defer func() { f.timeline, f.outcomes = saved, savedO }()
			c.run(args...).fails(t, exitFailure, msg)
		})
	}
	show := []string{"trial", "show", fakeTrialID}
	mutate("proof hash", func() { f.timeline.Entries[2].InclusionProof.Hashes[0] = b64(randomHash()) }, show, "inclusion proof")
	mutate("leaf", func() { f.timeline.Entries[1].Leaf = f.timeline.Entries[0].Leaf }, show, "leaf_hash is not the hash of the leaf")
	mutate("order", func() {
		e := f.timeline.Entries
		e[1], e[2] = e[2], e[1]
	}, show, "out of log order")
	mutate("other checkpoint", func() {
		f.timeline.Entries[0].Checkpoint = string(f.log.Checkpoint(f.log.Size() - 1))
	}, show, "another checkpoint")
	mutate("forged checkpoint", func() {
		f.timeline.Checkpoint = strings.Replace(f.timeline.Checkpoint, "\n5\n", "\n6\n", 1)
		for _, e := range f.timeline.Entries {
			e.Checkpoint = f.timeline.Checkpoint
		}
	}, show, "checkpoint")
	outcomes := []string{"trial", "outcomes", fakeTrialID}
	mutate("unproven evidence", func() {
		f.outcomes.Outcomes = append([]trials.OutcomeStatus(nil), f.outcomes.Outcomes...)
		f.outcomes.Outcomes[0].Evidence = []string{strings.Repeat("ee", 32)}
	}, outcomes, "evidence of outcome o1 "+strings.Repeat("ee", 32)+" is not a proven entry")
	mutate("unproven baseline", func() { f.outcomes.Baseline = strings.Repeat("ee", 32) }, outcomes, "the baseline")
	mutate("entry dropped from timeline", func() { f.timeline.Entries = f.timeline.Entries[:3] }, outcomes, "is not a proven entry")

	c.run("trial", "show", "NCT99999999").fails(t, exitFailure, "not registered")
	c.run("trial").fails(t, exitUsage, "show, outcomes, delegate or undelegate")
	c.run("trial", "list").fails(t, exitUsage, "unknown subcommand")
	c.run("trial", "show").fails(t, exitUsage, "one trial id")
}

// TestTrialLive registers a trial on the real trialogd with the CLI and
// reads it back with trial show and trial outcomes.
func TestTrialLive(t *testing.T) {
	w := newWorld(t)
	c := w.cli
	reg := filepath.Join(w.dir, "registration.json")
	writeFile(t, reg, `{"trial_id":"NCT01234567","title":"Glucose trial","outcomes":[{"id":"o1","kind":"primary","measure":"HbA1c","time_frame":"26 weeks"}]}`)
	c.run("submit", "--key", w.keyFile, "--type", "trial.registration", "--json", reg, "--receipt", filepath.Join(w.dir, "registration.receipt")).ok(t)
	protocol := filepath.Join(w.dir, "protocol.pdf")
	writeFile(t, protocol, "%PDF protocol 1.0")
	c.run("submit", "--key", w.keyFile, "--type", "trial.protocol", "--set", "trial_id=NCT01234567", "--set", "version=1.0",
		"--set", `outcomes:=[{"id":"o1","kind":"primary","measure":"HbA1c","time_frame":"26 weeks"}]`,
		"--file", protocol, "--receipt", protocol+".receipt").ok(t)
	c.run("verify", "--file", protocol, protocol+".receipt").ok(t).has(t, "trial.protocol")

	var r result
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r = c.run("trial", "show", "NCT01234567")
		if r.code == 0 && strings.Contains(r.stdout, "trial.protocol") || time.Now().After(deadline) {
			break
		}
	}
	r.ok(t).has(t, "trial       NCT01234567", "entries     2", "trial.registration", `"Glucose trial"`, "trial.protocol", "version 1.0")
	c.run("trial", "outcomes", "NCT01234567").ok(t).has(t, "baseline    ", "compared    none")
	if _, err := client.New(w.srv.URL, "").Log(context.Background()); err != nil {
		t.Fatal(err)
	}
}
