package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/statement"
)

// The mixed workload (P7): record digests, trial statements on a trial with
// many entries and consent checks on a subject with many earlier checks,
// side by side; a statement's cost on the big trial against a trial with ten
// entries; and unrelated submissions' latency with and without a trial
// batch running.

const (
	bigTrial   = "NCT09400001"
	smallTrial = "NCT09400002"
)

// actor is a principal the mixed workload submits as.
type actor struct {
	id, token string
	priv      ed25519.PrivateKey
}

func (b *bench) newActor(ctx context.Context, name, role string) (*actor, error) {
	tok, err := os.ReadFile(filepath.Join(b.dir, "admin.token"))
	if err != nil {
		return nil, err
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p, err := client.New(b.url, strings.TrimSpace(string(tok))).CreatePrincipal(ctx, api.NewPrincipal{
		Name: name, Role: role, PublicKeys: []string{base64.StdEncoding.EncodeToString(pub)},
	})
	if err != nil {
		return nil, err
	}
	return &actor{id: p.ID, token: p.Token, priv: priv}, nil
}

func (a *actor) sign(payload []byte) []byte {
	body, _ := json.Marshal(envelope.Sign(statement.PayloadType, payload, a.priv))
	return body
}

// send posts body as a and accepts any 2xx answer.
func (b *bench) send(ctx context.Context, a *actor, path string, body []byte, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d: %.300s", path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.Unmarshal(msg, out)
	}
	return nil
}

var milestoneSeq atomic.Int64

// milestone is a new trial.milestone of trial: each one unique by its
// issued_at.
func milestone(trial string) []byte {
	n := milestoneSeq.Add(1)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
	b, _ := json.Marshal(map[string]any{"type": "trial.milestone", "trial_id": trial, "issued_at": at,
		"event": "first_participant_in", "at": "2026-01-01T00:00:00Z"})
	return b
}

func digestOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

type mixedSetup struct {
	sponsor, site, dataUser *actor
	subject                 string
}

// setupMixed registers both trials, delegates a site, logs a consent form,
// mints and consents a subject, grows the big trial to trialEntries entries
// and the small one to 10, and logs checks earlier consent checks.
func setupMixed(ctx context.Context, b *bench, trialEntries, checks int) (*mixedSetup, error) {
	var m mixedSetup
	var err error
	if m.sponsor, err = b.newActor(ctx, "mixed sponsor", "sponsor"); err != nil {
		return nil, err
	}
	if m.site, err = b.newActor(ctx, "mixed site", "site"); err != nil {
		return nil, err
	}
	if m.dataUser, err = b.newActor(ctx, "mixed data user", "data-user"); err != nil {
		return nil, err
	}
	for _, trial := range []string{bigTrial, smallTrial} {
		reg, _ := json.Marshal(map[string]any{"type": "trial.registration", "trial_id": trial, "issued_at": "2026-01-01T00:00:00Z",
			"title": "Mixed workload trial", "outcomes": []map[string]string{{"id": "P1", "kind": "primary", "measure": "HbA1c", "time_frame": "Week 26"}}})
		if err := b.send(ctx, m.sponsor, "/v1/entries?wait=30s", m.sponsor.sign(reg), nil); err != nil {
			return nil, err
		}
	}
	del, _ := json.Marshal(map[string]string{"principal": m.site.id})
	if err := b.send(ctx, m.sponsor, "/v1/trials/"+bigTrial+"/delegates", del, nil); err != nil {
		return nil, err
	}
	form, _ := json.Marshal(map[string]any{"type": "trial.consent-form", "trial_id": bigTrial, "issued_at": "2026-01-02T00:00:00Z",
		"version": "1.0", "document": map[string]string{"sha256": digestOf("mixed consent form")}})
	if err := b.send(ctx, m.sponsor, "/v1/entries?wait=30s", m.sponsor.sign(form), nil); err != nil {
		return nil, err
	}
	var sub struct {
		Subject string `json:"subject"`
	}
	req, _ := json.Marshal(map[string]string{"trial_id": bigTrial})
	if err := b.send(ctx, m.site, "/v1/consent/subjects", req, &sub); err != nil {
		return nil, err
	}
	m.subject = sub.Subject
	grant, _ := json.Marshal(map[string]any{"type": "consent.grant", "trial_id": bigTrial, "subject": m.subject, "issued_at": "2026-01-03T00:00:00Z",
		"form":  map[string]string{"version": "1.0", "sha256": digestOf("mixed consent form")},
		"scope": []map[string]string{{"purpose": "primary-analysis", "decision": "permit"}}})
	if err := b.send(ctx, m.site, "/v1/entries?wait=30s", m.site.sign(grant), nil); err != nil {
		return nil, err
	}
	// Grow the trials in batches of up to 100 (a check that replays the
	// trial's history, as trialogd's did, could not take 1,000 in time).
	grow := func(trial string, n int) error {
		for n > 0 {
			k := min(n, 100)
			envs := make([]json.RawMessage, k)
			for i := range envs {
				envs[i] = m.sponsor.sign(milestone(trial))
			}
			body, _ := json.Marshal(api.Batch{Envelopes: envs})
			var res api.BatchResults
			if err := b.send(ctx, m.sponsor, "/v1/entries:batch", body, &res); err != nil {
				return err
			}
			for _, r := range res.Results {
				if r.Error != nil {
					return fmt.Errorf("growing %s: %s", trial, r.Error.Message)
				}
			}
			n -= k
		}
		return nil
	}
	t0 := time.Now()
	// The big trial holds the registration, the delegation, the form and
	// the subject's grant already.
	if err := grow(bigTrial, trialEntries-4); err != nil {
		return nil, err
	}
	if err := grow(smallTrial, 9); err != nil {
		return nil, err
	}
	fmt.Printf("P7 setup: trial %s grown to %d entries in %v\n", bigTrial, trialEntries, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	var firstErr atomic.Value
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(checks) {
				if err := b.check(ctx, &m); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, e.(error)
	}
	fmt.Printf("P7 setup: %d consent checks of subject %s logged in %v\n", checks, m.subject, time.Since(t0).Round(time.Millisecond))
	return &m, nil
}

func (b *bench) check(ctx context.Context, m *mixedSetup) error {
	req, _ := json.Marshal(map[string]string{"trial_id": bigTrial, "subject": m.subject, "purpose": "primary-analysis"})
	var ans struct {
		Decision string `json:"decision"`
	}
	if err := b.send(ctx, m.dataUser, "/v1/consent/check", req, &ans); err != nil {
		return err
	}
	if ans.Decision != "permit" {
		return fmt.Errorf("consent check answered %q, want permit", ans.Decision)
	}
	return nil
}

// measureMixed runs the P7 figures on a fresh log.
func measureMixed(ctx context.Context, o options) error {
	b, err := startTrialogd(ctx, o)
	if err != nil {
		return err
	}
	defer b.stop()
	m, err := setupMixed(ctx, b, o.mixedTrialEntries, o.mixedChecks)
	if err != nil {
		return err
	}

	// Per-statement cost: one milestone at a time, alternating between the
	// big and the small trial so that drift hits both alike. Without
	// ?wait: the answer comes once the entry is durable and checked.
	var big, small latencies
	for i := 0; i < o.mixedCostSamples && ctx.Err() == nil; i++ {
		for _, tc := range []struct {
			trial string
			lat   *latencies
		}{{bigTrial, &big}, {smallTrial, &small}} {
			body := m.sponsor.sign(milestone(tc.trial))
			t := time.Now()
			if err := b.send(ctx, m.sponsor, "/v1/entries", body, nil); err != nil {
				return err
			}
			tc.lat.add(time.Since(t))
		}
	}
	fmt.Printf("P7 trial statement, one at a time: at %d entries p50 %v p99 %v; at 10 entries p50 %v p99 %v; ratio of p50s %.2fx (target ≤ 1.2x)\n",
		o.mixedTrialEntries, big.quantileMicro(0.5), big.quantileMicro(0.99), small.quantileMicro(0.5), small.quantileMicro(0.99),
		float64(big.quantileMicro(0.5))/float64(small.quantileMicro(0.5)))

	// Side by side: digests, milestones on the big trial, consent checks.
	type load struct {
		name    string
		clients int
		do      func(ctx context.Context) error
		lat     latencies
		errs    atomic.Int64
		first   atomic.Value
	}
	digest := func(ctx context.Context) error {
		return b.post(ctx, "/v1/entries", b.envelopeBody(), http.StatusAccepted, nil)
	}
	loads := []*load{
		{name: "record.digest", clients: 16, do: digest},
		{name: "trial.milestone (" + fmt.Sprint(o.mixedTrialEntries) + "-entry trial)", clients: 4, do: func(ctx context.Context) error {
			return b.send(ctx, m.sponsor, "/v1/entries", m.sponsor.sign(milestone(bigTrial)), nil)
		}},
		{name: "consent check (subject with " + fmt.Sprint(o.mixedChecks) + "+ checks)", clients: 4, do: func(ctx context.Context) error { return b.check(ctx, m) }},
	}
	runLoads := func(d time.Duration, ls []*load) {
		runCtx, stop := context.WithTimeout(ctx, d)
		defer stop()
		var wg sync.WaitGroup
		for _, l := range ls {
			for range l.clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// A request in flight at the end is waited for and
					// counted: a stalled request must show in the p99.
					for runCtx.Err() == nil {
						t := time.Now()
						err := l.do(ctx)
						if err != nil {
							l.errs.Add(1)
							l.first.CompareAndSwap(nil, err)
							continue
						}
						l.lat.add(time.Since(t))
					}
				}()
			}
		}
		wg.Wait()
	}
	t0 := time.Now()
	runLoads(o.duration, loads)
	elapsed := time.Since(t0)
	fmt.Printf("P7 side by side for %v:\n", o.duration)
	for _, l := range loads {
		fmt.Printf("    %-48s %6.0f/s  p50 %v  p99 %v  errors %d\n", l.name, float64(len(l.lat.d))/elapsed.Seconds(),
			l.lat.quantileMicro(0.5), l.lat.quantileMicro(0.99), l.errs.Load())
		if e := l.first.Load(); e != nil {
			fmt.Printf("      first error: %v\n", e)
		}
	}

	// Unrelated submissions with and without a trial batch running.
	alone := &load{name: "record.digest alone", clients: 16, do: digest}
	runLoads(o.duration/2, []*load{alone})
	withBatch := &load{name: "record.digest during trial batches", clients: 16, do: digest}
	batches := &load{name: "trial batches of 100 milestones", clients: 1, do: func(ctx context.Context) error {
		envs := make([]json.RawMessage, 100)
		for i := range envs {
			envs[i] = m.sponsor.sign(milestone(bigTrial))
		}
		body, _ := json.Marshal(api.Batch{Envelopes: envs})
		return b.send(ctx, m.sponsor, "/v1/entries:batch", body, nil)
	}}
	runLoads(o.duration/2, []*load{withBatch, batches})
	fmt.Printf("P7 unrelated record.digest p99: alone %v (p50 %v), during trial batches %v (p50 %v); batch of 100 on the %d+-entry trial p50 %v p99 %v\n",
		alone.lat.quantileMicro(0.99), alone.lat.quantileMicro(0.5), withBatch.lat.quantileMicro(0.99), withBatch.lat.quantileMicro(0.5),
		o.mixedTrialEntries, batches.lat.quantileMicro(0.5), batches.lat.quantileMicro(0.99))
	for _, l := range []*load{alone, withBatch, batches} {
		if e := l.first.Load(); e != nil {
			fmt.Printf("      %s: %d errors, first: %v\n", l.name, l.errs.Load(), e)
		}
	}
	return nil
}
