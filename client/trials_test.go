package client_test

import (
	"strings"
	"testing"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/receipt/receipttest"
	"github.com/trialog/trialog/trials"
)

func timeline(t *testing.T) (*receipttest.Log, *api.TrialTimeline) {
	t.Helper()
	l, err := receipttest.New("client.trialog.example/log", receipttest.Seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		st := `{"type":"trial.milestone","trial_id":"NCT01234567","event":"database_lock","at":"2026-01-01T00:00:00Z","issued_at":"2026-01-0` + string(rune('1'+i)) + `T00:00:00Z"}`
		l.Append(receipttest.Leaf([]byte(st), "2026-11-23T14:00:00Z", receipttest.Key(4)))
	}
	tl := &api.TrialTimeline{TrialID: "NCT01234567", Checkpoint: string(l.Checkpoint(6))}
	for _, i := range []int64{1, 3, 4} {
		e := l.Entry(i, 6)
		e.Checkpoint = "" // proven against the timeline's checkpoint
		tl.Entries = append(tl.Entries, e)
	}
	return l, tl
}

func TestVerifierTrial(t *testing.T) {
	l, tl := timeline(t)
	v, err := client.NewVerifier(l.VKey)
	if err != nil {
		t.Fatal(err)
	}
	envs, cp, err := v.Trial(tl)
	if err != nil || len(envs) != 3 || cp.Size != 6 {
		t.Fatalf("Trial: %v", err)
	}
	id := func(i int) string { return tl.Entries[i].ID }
	compared := id(2)
	o := &api.TrialOutcomes{TrialReport: trials.Report{Baseline: id(0), Compared: &compared, Outcomes: []trials.OutcomeStatus{{ID: "o1", Evidence: []string{id(0), id(2)}}}}, Checkpoint: string(l.Checkpoint(5))}
	if err := v.Outcomes(o, tl); err != nil {
		t.Fatalf("Outcomes: %v", err)
	}
	o.Checkpoint = string(l.Checkpoint(6))
	o.Flags = []trials.Flag{{Code: "x", Evidence: []string{strings.Repeat("00", 32)}}}
	if err := v.Outcomes(o, tl); err == nil || !strings.Contains(err.Error(), "evidence of flag x") {
		t.Fatalf("Outcomes with unproven evidence: %v", err)
	}

	for name, change := range map[string]func(tl *api.TrialTimeline){
		"out of order":     func(tl *api.TrialTimeline) { tl.Entries[0], tl.Entries[1] = tl.Entries[1], tl.Entries[0] },
		"other checkpoint": func(tl *api.TrialTimeline) { tl.Entries[1].Checkpoint = string(l.Checkpoint(5)) },
		"forged proof": func(tl *api.TrialTimeline) {
			tl.Entries[2].InclusionProof.Hashes[0] = tl.Entries[2].InclusionProof.Hashes[1]
		},
		"pending entry":    func(tl *api.TrialTimeline) { tl.Entries[1].Status = api.StatusPending },
		"bad checkpoint":   func(tl *api.TrialTimeline) { tl.Checkpoint = strings.Replace(tl.Checkpoint, "\n6\n", "\n7\n", 1) },
		"entry of another": func(tl *api.TrialTimeline) { tl.Entries[1].ID = tl.Entries[0].ID },
		"null entry":       func(tl *api.TrialTimeline) { tl.Entries[1] = nil },
	} {
		t.Run(name, func(t *testing.T) {
			_, tl := timeline(t)
			change(tl)
			if _, _, err := v.Trial(tl); err == nil {
				t.Fatal("verified")
			}
		})
	}
}
