// Command trialog-bench measures trialog against a plain Trillian client on
// the same MySQL, in one run, and prints the figures of the performance
// targets (docs/performance.md):
//
//   - P1: submissions/s end to end through the HTTP API — 512 concurrent
//     clients, each waiting (?wait) for its inclusion proof — next to a plain
//     Trillian QueueLeaf client (64 callers, default sequencer settings,
//     in-process Trillian) and the ratio of the two.
//   - P2: p99 from submission to inclusion proof at half of P1's rate, with
//     open-loop arrivals so that queueing shows.
//   - P8: P2 again with a witness policy: every checkpoint is cosigned by a
//     local litewitness (filippo.io/torchwood) before it is published.
//   - the batch endpoint's entries/s for batches of 1,000.
//   - P7, the mixed workload: record digests, trial statements on a trial
//     with 10,000 entries and consent checks of a subject with 1,000 earlier
//     checks side by side, each type's latency; a trial statement's cost at
//     10,000 entries against 10; record digests' p99 with and without a
//     trial batch running.
//
// With -large it grows one log to 2M entries and prints P1 at 10k, 500k,
// 1M, 1.5M and 2M entries (P6 compares 2M with 10k), P3 (inclusion proofs
// served per second at 1M) and P5 (trialogd's resident memory at 1M).
//
// Each measurement gets fresh databases on the server named by -dsn, dropped
// afterwards.
//
//	go run ./cmd/trialog-bench -duration 20s
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/trialog/trialog/internal/daemon"
)

type options struct {
	dsn             string
	duration        time.Duration
	clients         int
	baselineCallers int
	skipBaseline    bool
	skipP2          bool
	skipBatch       bool
	skipP8          bool
	p8Rate          float64
	large           bool
	cpuProfile      string
	csv             string
	sizes           string

	skipMixed         bool
	mixedOnly         bool
	mixedTrialEntries int
	mixedChecks       int
	mixedCostSamples  int
	indexBytes        int
}

func main() {
	var o options
	flag.StringVar(&o.dsn, "dsn", envOr("TRIALOG_BENCH_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/"), "MySQL server DSN without a database (env TRIALOG_BENCH_MYSQL_DSN)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "measuring time of each figure")
	flag.IntVar(&o.clients, "clients", 512, "P1: concurrent HTTP clients, each waiting for its proof")
	flag.IntVar(&o.baselineCallers, "baseline-callers", 64, "plain Trillian QueueLeaf callers")
	flag.BoolVar(&o.skipBaseline, "skip-baseline", false, "do not measure plain Trillian")
	flag.BoolVar(&o.skipP2, "skip-p2", false, "do not measure P2")
	flag.BoolVar(&o.skipBatch, "skip-batch", false, "do not measure the batch endpoint")
	flag.Float64Var(&o.p8Rate, "p8-rate", 0, "measure only P8, at this rate (arrivals/s), and P2 at the same rate for comparison")
	flag.BoolVar(&o.skipP8, "skip-p8", false, "do not measure P8 (P2 with a local litewitness cosigning every checkpoint)")
	flag.BoolVar(&o.large, "large", false, "large-tree figures (P3, P5, P6)")
	flag.StringVar(&o.sizes, "sizes", "10000,500000,1000000,1500000,2000000", "-large: tree sizes at which P1 is measured; P3 and P5 at 1000000 (else the largest)")
	flag.StringVar(&o.csv, "csv", "", "-large: write P1 by tree size to this CSV file (for scripts/plot-throughput)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the P1 run (server and clients) to this file")
	flag.BoolVar(&o.skipMixed, "skip-mixed", false, "do not measure the mixed workload (P7)")
	flag.BoolVar(&o.mixedOnly, "mixed-only", false, "measure only the mixed workload (P7)")
	flag.IntVar(&o.mixedTrialEntries, "mixed-trial-entries", 10000, "P7: entries of the big trial")
	flag.IntVar(&o.mixedChecks, "mixed-checks", 1000, "P7: earlier consent checks of the subject")
	flag.IntVar(&o.mixedCostSamples, "mixed-cost-samples", 300, "P7: statements timed one at a time on each trial")
	flag.IntVar(&o.indexBytes, "index-bytes", 0, "append this many entries straight into trialog's store and print its index sizes per entry, then stop")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	daemon.RouteLibraryLogs(slog.New(slog.DiscardHandler))
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "trialog-bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if err := printMachine(ctx, o); err != nil {
		return err
	}
	if o.large {
		return large(ctx, o)
	}
	if o.p8Rate > 0 {
		return onlyP8(ctx, o)
	}
	if o.indexBytes > 0 {
		return measureIndexBytes(ctx, o, o.indexBytes)
	}
	if o.mixedOnly {
		return measureMixed(ctx, o)
	}
	var base float64
	if !o.skipBaseline {
		r, err := baseline(ctx, o)
		if err != nil {
			return fmt.Errorf("plain Trillian: %w", err)
		}
		base = r
		fmt.Printf("plain Trillian QueueLeaf, %d callers, default sequencer: %8.0f leaves/s integrated\n", o.baselineCallers, base)
	}
	p1, err := measureP1(ctx, o)
	if err != nil {
		return fmt.Errorf("P1: %w", err)
	}
	fmt.Printf("P1 trialog end to end, %d clients waiting for proofs:  %8.0f entries/s  (latency p50 %v, p99 %v, errors %d)\n",
		o.clients, p1.rate, p1.p50, p1.p99, p1.errors)
	if base > 0 {
		fmt.Printf("P1 ratio trialog / plain Trillian:                      %8.2fx (target ≥ 5x)\n", p1.rate/base)
	}
	if !o.skipP2 && p1.rate > 0 {
		p2, err := measureP2(ctx, o, p1.rate/2)
		if err != nil {
			return fmt.Errorf("P2: %w", err)
		}
		fmt.Printf("P2 open loop at %.0f/s (half of P1): p50 %v, p99 %v (target ≤ 1s), achieved %.0f/s, errors %d\n",
			p1.rate/2, p2.p50, p2.p99, p2.rate, p2.errors)
	}
	if !o.skipP8 && p1.rate > 0 {
		p8, err := measureP8(ctx, o, p1.rate/2)
		if err != nil {
			return fmt.Errorf("P8: %w", err)
		}
		fmt.Printf("P8 as P2, every checkpoint cosigned by a local litewitness first: p50 %v, p99 %v (target ≤ 1s), achieved %.0f/s, errors %d\n",
			p8.p50, p8.p99, p8.rate, p8.errors)
	}
	if !o.skipBatch {
		b, err := measureBatch(ctx, o)
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		fmt.Printf("batch endpoint, batches of 1,000, 4 clients waiting:     %8.0f entries/s  (batch latency p50 %v, p99 %v)\n", b.rate, b.p50, b.p99)
	}
	if !o.skipMixed {
		if err := measureMixed(ctx, o); err != nil {
			return fmt.Errorf("P7: %w", err)
		}
	}
	return nil
}

func printMachine(ctx context.Context, o options) error {
	db, err := sql.Open("mysql", o.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var version string
	var flush, binlog string
	if err := db.QueryRowContext(ctx, "SELECT VERSION(), @@innodb_flush_log_at_trx_commit, @@sync_binlog").Scan(&version, &flush, &binlog); err != nil {
		return fmt.Errorf("MySQL at %s: %w", o.dsn, err)
	}
	host, _ := os.Hostname()
	fmt.Printf("machine: %s, %d CPUs, %s %s/%s\n", host, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("MySQL:   %s, innodb_flush_log_at_trx_commit=%s, sync_binlog=%s\n", version, flush, binlog)
	fmt.Printf("run:     %v per figure, %s\n\n", o.duration, strings.Join(os.Args[1:], " "))
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
