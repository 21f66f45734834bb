package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/witnesstest"
)

// P8: ?wait latency at P2's rate when every checkpoint must first be
// cosigned by a witness quorum — here one local litewitness
// (filippo.io/torchwood), run as its own process with its key in its own
// ssh-agent, as a witness operator would run it.

const benchOrigin = "bench.trialog.example/log"

func measureP8(ctx context.Context, o options, rate float64) (result, error) {
	r := &runner{}
	defer r.cleanup()
	var err error
	res := result{}
	func() {
		defer r.recover(&err)
		skey, vkey, gerr := note.GenerateKey(rand.Reader, benchOrigin)
		if gerr != nil {
			panic(gerr)
		}
		dir, derr := os.MkdirTemp("", "trialog-bench-witness")
		if derr != nil {
			panic(derr)
		}
		r.Cleanup(func() { os.RemoveAll(dir) })
		keyFile := filepath.Join(dir, "log.key")
		policy := filepath.Join(dir, "witnesses.policy")
		lw := witnesstest.Start(r, "bench.witness.example/w1")
		lw.AddLog(r, benchOrigin, vkey)
		if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
			panic(err)
		}
		if err := os.WriteFile(policy, []byte(fmt.Sprintf("witness w1 %s %s\nquorum w1\n", lw.VKey, lw.URL)), 0o644); err != nil {
			panic(err)
		}
		b, berr := startTrialogdWith(ctx, o, func(c *daemon.Config) {
			c.SigningKeyFile = keyFile
			c.WitnessPolicyFile = policy
			c.WitnessTimeout = 5 * time.Second
			c.WitnessRefresh = time.Minute
		})
		if berr != nil {
			panic(berr)
		}
		defer b.stop()
		res, err = openLoop(ctx, o, b, rate)
		if err == nil {
			printWitnessRounds(ctx, b)
		}
	}()
	return res, err
}

// printWitnessRounds prints how long the witness took per checkpoint and
// how many rounds there were, from trialogd's metrics.
func printWitnessRounds(ctx context.Context, b *bench) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/metrics", nil)
	resp, err := b.http.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	val := func(name string) float64 {
		for _, l := range strings.Split(string(body), "\n") {
			if rest, ok := strings.CutPrefix(l, name+" "); ok {
				v, _ := strconv.ParseFloat(rest, 64)
				return v
			}
		}
		return 0
	}
	n := val(`trialog_witness_request_seconds_count{witness="w1"}`)
	if n == 0 {
		return
	}
	fmt.Printf("   witness rounds: %.0f, mean add-checkpoint %v; mean witnessing round %v; failures %.0f\n",
		n, time.Duration(val(`trialog_witness_request_seconds_sum{witness="w1"}`)/n*float64(time.Second)).Round(time.Millisecond),
		time.Duration(val(`trialog_stage_seconds_sum{stage="witness"}`)/max(1, val(`trialog_stage_seconds_count{stage="witness"}`))*float64(time.Second)).Round(time.Millisecond),
		val(`trialog_witness_failures_total{reason="timeout",witness="w1"}`)+val(`trialog_witness_failures_total{reason="error",witness="w1"}`))
}

// onlyP8 measures P2 and P8 at o.p8Rate, one after the other.
func onlyP8(ctx context.Context, o options) error {
	p2, err := measureP2(ctx, o, o.p8Rate)
	if err != nil {
		return fmt.Errorf("P2: %w", err)
	}
	fmt.Printf("P2 open loop at %.0f/s, no witness:          p50 %v, p99 %v, achieved %.0f/s, errors %d\n", o.p8Rate, p2.p50, p2.p99, p2.rate, p2.errors)
	p8, err := measureP8(ctx, o, o.p8Rate)
	if err != nil {
		return fmt.Errorf("P8: %w", err)
	}
	fmt.Printf("P8 open loop at %.0f/s, local litewitness:   p50 %v, p99 %v (target ≤ 1s), achieved %.0f/s, errors %d\n", o.p8Rate, p8.p50, p8.p99, p8.rate, p8.errors)
	return nil
}

// runner gives witnesstest what it needs of a test outside one: failures
// become errors, cleanups run at the end.
type runner struct {
	mu       sync.Mutex
	cleanups []func()
}

type runnerFailure struct{ err error }

func (*runner) Helper()                           {}
func (*runner) Fatal(args ...any)                 { panic(runnerFailure{fmt.Errorf("%s", fmt.Sprint(args...))}) }
func (*runner) Fatalf(format string, args ...any) { panic(runnerFailure{fmt.Errorf(format, args...)}) }
func (*runner) Skipf(format string, args ...any) {
	panic(runnerFailure{fmt.Errorf("cannot run litewitness: "+format, args...)})
}
func (r *runner) Cleanup(f func()) { r.mu.Lock(); r.cleanups = append(r.cleanups, f); r.mu.Unlock() }

func (r *runner) cleanup() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// recover turns a failure raised by Fatal, or any panic with an error, into
// *err.
func (r *runner) recover(err *error) {
	switch v := recover().(type) {
	case nil:
	case runnerFailure:
		*err = v.err
	case error:
		*err = v
	default:
		panic(v)
	}
}
