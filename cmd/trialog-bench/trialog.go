package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/statement"
)

// freshDatabase creates a uniquely named database and returns its DSN and a
// function that drops it.
func freshDatabase(ctx context.Context, serverDSN, kind string) (string, func(), error) {
	cfg, err := gomysql.ParseDSN(serverDSN)
	if err != nil {
		return "", nil, err
	}
	var b [4]byte
	rand.Read(b[:])
	cfg.DBName = fmt.Sprintf("bench_%s_%x", kind, b)
	admin, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+cfg.DBName); err != nil {
		admin.Close()
		return "", nil, err
	}
	return cfg.FormatDSN(), func() {
		admin.Exec("DROP DATABASE " + cfg.DBName)
		admin.Close()
	}, nil
}

// bench is a running trialogd with a sponsor ready to submit.
type bench struct {
	dir   string
	url   string
	token string
	priv  ed25519.PrivateKey
	http  *http.Client
	stop  func()
	seq   atomic.Int64
}

func startTrialogd(ctx context.Context, o options) (*bench, error) {
	return startTrialogdWith(ctx, o, nil)
}

// startTrialogdWith is startTrialogd with the configuration amended by
// amend, if set.
func startTrialogdWith(ctx context.Context, o options, amend func(*daemon.Config)) (*bench, error) {
	dsn, drop, err := freshDatabase(ctx, o.dsn, "trialog")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "trialog-bench")
	if err != nil {
		drop()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	cfg := daemon.Config{
		MySQLDSN: dsn, DataDir: dir, Origin: "bench.trialog.example/log",
		CheckpointInterval: 100 * time.Millisecond, SequencerInterval: 100 * time.Millisecond,
		SequencerBatch: 4096, MaxBatch: 1000, QueueSize: 16384, ShutdownTimeout: 10 * time.Second,
	}
	if amend != nil {
		amend(&cfg)
	}
	go func() { done <- daemon.Serve(sctx, cfg, slog.New(slog.DiscardHandler), ln) }()
	b := &bench{
		dir: dir,
		url: "http://" + ln.Addr().String(),
		http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048, IdleConnTimeout: time.Minute,
		}},
		stop: func() { cancel(); <-done; os.RemoveAll(dir); drop() },
	}
	if err := waitReady(ctx, b.url); err != nil {
		b.stop()
		return nil, err
	}
	if err := b.registerSponsor(ctx, dir); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

// registerSponsor registers a sponsor with a fresh key, with the admin token
// in dataDir, and keeps its token and key for the bench's submissions.
func (b *bench) registerSponsor(ctx context.Context, dataDir string) error {
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	if err != nil {
		return err
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	p, err := client.New(b.url, strings.TrimSpace(string(tok))).CreatePrincipal(ctx, api.NewPrincipal{
		Name: "bench sponsor", Role: "sponsor", PublicKeys: []string{base64.StdEncoding.EncodeToString(pub)},
	})
	if err != nil {
		return err
	}
	b.token, b.priv = p.Token, priv
	return nil
}

// envelopeBody signs a new record.digest statement; signing is client work,
// done before a request is timed.
func (b *bench) envelopeBody() []byte {
	n := b.seq.Add(1)
	sum := sha256.Sum256([]byte(fmt.Sprintf("bench document %d %d", n, time.Now().UnixNano())))
	payload, _ := json.Marshal(map[string]any{
		"type": "record.digest", "digest": map[string]string{"sha256": hex.EncodeToString(sum[:])},
		"media_type": "application/pdf", "source": "bench.trialog.example", "issued_at": "2026-11-23T14:00:00Z",
	})
	body, _ := json.Marshal(envelope.Sign(statement.PayloadType, payload, b.priv))
	return body
}

// post sends one request with the bench's token and fails unless it is
// answered with want; a non-nil out receives the decoded answer.
func (b *bench) post(ctx context.Context, path string, body []byte, want int, out any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("HTTP %d: %.200s", resp.StatusCode, msg)
	}
	if out != nil {
		return json.Unmarshal(msg, out)
	}
	return nil
}

type result struct {
	count    int64
	rate     float64
	p50, p99 time.Duration
	errors   int64
}

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

// quantileMicro is quantile rounded to microseconds, for fast requests.
func (l *latencies) quantileMicro(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	return l.d[min(int(q*float64(len(l.d))), len(l.d)-1)].Round(time.Microsecond)
}

func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	return l.d[min(int(q*float64(len(l.d))), len(l.d)-1)].Round(time.Millisecond)
}

// measureP1: closed loop, o.clients clients, each submitting with ?wait and
// counting answers that carry an inclusion proof (201).
func measureP1(ctx context.Context, o options) (result, error) {
	b, err := startTrialogd(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer b.stop()
	return runP1(ctx, o, b)
}

// runP1 runs the P1 load against b for o.duration after a warm-up.
func runP1(ctx context.Context, o options, b *bench) (result, error) {
	// Envelopes are signed before the run, as P2's are: signing is each
	// client's own work, on its own machine, and here it would take the
	// server's cores. Clients sign more themselves if the pool runs out.
	pool := make([][]byte, int(float64(o.clients)*4+o.duration.Seconds()*6000))
	for i := range pool {
		pool[i] = b.envelopeBody()
	}
	var next atomic.Int64
	body := func() []byte {
		if i := next.Add(1) - 1; i < int64(len(pool)) {
			return pool[i]
		}
		return b.envelopeBody()
	}
	var done, errs atomic.Int64
	var lat latencies
	var counting atomic.Bool
	var firstErr atomic.Value
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for i := 0; i < o.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				env := body()
				t := time.Now()
				err := b.post(runCtx, "/v1/entries?wait=30s", env, http.StatusCreated, nil)
				if runCtx.Err() != nil {
					return
				}
				if !counting.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
				lat.add(time.Since(t))
			}
		}()
	}
	time.Sleep(2 * time.Second) // warm up: connections, caches
	counting.Store(true)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return result{}, err
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
	}
	t0 := time.Now()
	time.Sleep(o.duration)
	counting.Store(false)
	elapsed := time.Since(t0)
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	n := done.Load()
	stop()
	wg.Wait()
	if os.Getenv("TRIALOG_BENCH_METRICS") != "" {
		resp, err := http.Get(b.url + "/metrics")
		if err == nil {
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(m), "\n") {
				if strings.HasPrefix(l, "trialog_") && !strings.Contains(l, "_bucket") {
					fmt.Println("   ", l)
				}
			}
		}
	}
	r := result{count: n, rate: float64(n) / elapsed.Seconds(), p50: lat.quantile(0.5), p99: lat.quantile(0.99), errors: errs.Load()}
	if e := firstErr.Load(); e != nil {
		fmt.Printf("   first error: %v\n", e)
	}
	return r, nil
}

// measureP2: open loop at rate/s; every arrival is its own request, so a
// slow server shows as queueing delay rather than as a slower client.
func measureP2(ctx context.Context, o options, rate float64) (result, error) {
	b, err := startTrialogd(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer b.stop()
	return openLoop(ctx, o, b, rate)
}

// openLoop submits at rate/s for o.duration, each arrival its own request
// waiting for its proof, and reports latencies.
func openLoop(ctx context.Context, o options, b *bench, rate float64) (result, error) {
	// Pre-sign so that signing does not steal the server's CPU mid-run.
	n := int(rate*o.duration.Seconds()) + 1
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = b.envelopeBody()
	}
	var lat latencies
	var ok, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	t0 := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(body []byte) {
			defer wg.Done()
			t := time.Now()
			if err := b.post(ctx, "/v1/entries?wait=30s", body, http.StatusCreated, nil); err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			ok.Add(1)
			lat.add(time.Since(t))
		}(bodies[i])
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if e := firstErr.Load(); e != nil {
		fmt.Printf("   first error: %v\n", e)
	}
	return result{rate: float64(ok.Load()) / elapsed.Seconds(), p50: lat.quantile(0.5), p99: lat.quantile(0.99), errors: errs.Load()}, nil
}

// measureBatch: 4 clients posting batches of 1,000 with ?wait.
func measureBatch(ctx context.Context, o options) (result, error) {
	b, err := startTrialogd(ctx, o)
	if err != nil {
		return result{}, err
	}
	defer b.stop()
	var done atomic.Int64
	var lat latencies
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	t0 := time.Now()
	deadline := t0.Add(o.duration)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && runCtx.Err() == nil {
				envs := make([]json.RawMessage, 1000)
				for j := range envs {
					envs[j] = b.envelopeBody()
				}
				body, _ := json.Marshal(api.Batch{Envelopes: envs})
				t := time.Now()
				if err := b.post(runCtx, "/v1/entries:batch?wait=30s", body, http.StatusOK, nil); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat.add(time.Since(t))
				done.Add(1000)
			}
		}()
	}
	wg.Wait()
	stop()
	if e := firstErr.Load(); e != nil {
		return result{}, e.(error)
	}
	return result{rate: float64(done.Load()) / time.Since(t0).Seconds(), p50: lat.quantile(0.5), p99: lat.quantile(0.99)}, nil
}
