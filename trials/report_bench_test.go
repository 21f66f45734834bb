package trials_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// BenchmarkCompute measures the report of a large trial: 200 outcomes
// (the most a statement may list), 20 protocol and 20 SAP versions, each
// rewording one outcome, milestones and results.
func BenchmarkCompute(b *testing.B) {
	m := newMemLog()
	owner := statement.Caller{PrincipalID: "pr_owner", Role: statement.RoleSponsor}
	const trial = "NCT09400001"
	outs := func(v int) string {
		var os []map[string]string
		for i := 0; i < 200; i++ {
			measure := fmt.Sprintf("Change from baseline in measure %d", i)
			if i == v {
				measure += " (revised)"
			}
			os = append(os, map[string]string{"id": fmt.Sprintf("O%d", i), "kind": []string{"primary", "secondary"}[min(i, 1)], "measure": measure, "time_frame": "Week 26"})
		}
		j, _ := json.Marshal(os)
		return string(j)
	}
	sub := func(s string) statement.Logged {
		e, err := m.submit(owner, []byte(s))
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	h := func(typ string) string {
		return fmt.Sprintf(`"type":%q,"trial_id":%q,"issued_at":"2026-01-01T00:00:00Z"`, typ, trial)
	}
	sub(fmt.Sprintf(`{%s,"title":"T","outcomes":%s}`, h("trial.registration"), outs(-1)))
	prev := map[string]string{}
	for v := 0; v < 40; v++ {
		typ := []string{"trial.protocol", "trial.sap"}[v%2]
		p := ""
		if prev[typ] != "" {
			p = fmt.Sprintf(`,"previous":%q`, prev[typ])
		}
		prev[typ] = sub(fmt.Sprintf(`{%s,"version":"v%d","document":{"sha256":%q},"outcomes":%s%s}`, h(typ), v, hexA, outs(v), p)).ID
		if v == 10 {
			sub(fmt.Sprintf(`{%s,"event":"first_participant_in","at":%q}`, h("trial.milestone"), memEpoch.Format(time.RFC3339)))
		}
	}
	sub(fmt.Sprintf(`{%s,"event":"database_lock","at":%q}`, h("trial.milestone"), memEpoch.Format(time.RFC3339)))
	sub(fmt.Sprintf(`{%s,"document":{"sha256":%q},"outcomes":%s}`, h("trial.results"), hexA, outs(7)))
	entries := m.load(b, trial).Entries
	b.ResetTimer()
	for b.Loop() {
		if _, err := trials.Compute(trial, entries); err != nil {
			b.Fatal(err)
		}
	}
}
