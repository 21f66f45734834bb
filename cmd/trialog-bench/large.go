package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
)

// large measures the figures that need big trees: P1 at several tree sizes
// up to 2M entries (P6 is P1 at 2M over P1 at 10k), inclusion proofs served
// per second at 1M (P3) and trialogd's resident memory at 1M under load (P5).
// trialogd runs as its own process so that its memory is its own; the tree
// is grown with the documented loader (batches of 1,000 through the API).
func large(ctx context.Context, o options) error {
	dsn, drop, err := freshDatabase(ctx, o.dsn, "large")
	if err != nil {
		return err
	}
	defer drop()
	dir, err := os.MkdirTemp("", "trialog-bench-large")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "trialogd")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/trialogd").CombinedOutput(); err != nil {
		return fmt.Errorf("building trialogd: %v\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "trialogd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--listen", addr, "--mysql-dsn", dsn, "--data-dir", filepath.Join(dir, "data"),
		"--origin", "bench.trialog.example/log", "--queue-size", "65536")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	b := &bench{url: "http://" + addr, http: &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{MaxIdleConns: 2048, MaxIdleConnsPerHost: 2048}}}
	if err := waitReady(ctx, b.url); err != nil {
		return err
	}
	if err := b.registerSponsor(ctx, filepath.Join(dir, "data")); err != nil {
		return err
	}
	pid := cmd.Process.Pid

	type point struct {
		size int64
		p1   result
	}
	var points []point
	var leafSample []string
	var rssMax1M int64
	loaded := int64(1) // the principal.key entry
	start := time.Now()
	var loadTime time.Duration
	sizes, err := parseSizes(o.sizes)
	if err != nil {
		return err
	}
	p3At := sizes[len(sizes)-1]
	for _, sz := range sizes {
		if sz == 1_000_000 {
			p3At = sz
		}
	}
	for _, target := range sizes {
		t0 := time.Now()
		before := loaded
		sample, err := load(ctx, b, max(target-loaded, 0))
		if err != nil {
			return fmt.Errorf("loading to %d: %w", target, err)
		}
		leafSample = append(leafSample, sample...)
		loaded = target
		if err := waitSize(ctx, b.url, target); err != nil {
			return err
		}
		d := time.Since(t0)
		loadTime += d
		if target > before {
			fmt.Printf("loaded to %d entries in %v (%.0f entries/s)\n", target, d.Round(time.Second), float64(target-before)/d.Seconds())
		}
		var rss rssWatch
		rss.start(pid)
		r, err := runP1(ctx, o, b)
		peak := rss.stop()
		if err != nil {
			return err
		}
		loaded += int64(r.count)
		fmt.Printf("P1 at %7d entries: %6.0f entries/s (p50 %v, p99 %v, errors %d), trialogd RSS peak %d MiB\n", target, r.rate, r.p50, r.p99, r.errors, peak>>20)
		points = append(points, point{target, r})
		if target == p3At {
			rssMax1M = peak
			rss.start(pid)
			p3, err := measureP3(ctx, o, b, leafSample, target)
			if peak := rss.stop(); peak > rssMax1M {
				rssMax1M = peak
			}
			if err != nil {
				return err
			}
			fmt.Printf("P3 at %d: %.0f inclusion proofs/s, p50 %v, p99 %v (targets ≥ 20,000/s, p99 ≤ 10ms), errors %d\n", target, p3.rate, p3.p50, p3.p99, p3.errors)
			fmt.Printf("P5 at %d: trialogd resident memory peak under load %d MiB (target ≤ 256 MiB)\n", target, rssMax1M>>20)
		}
		if sz, _ := logSize(ctx, b.url); sz > loaded {
			loaded = sz
		}
	}
	// Restart: how long until the in-memory tree is loaded again.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	t0 := time.Now()
	cmd = exec.Command(bin, "--listen", addr, "--mysql-dsn", dsn, "--data-dir", filepath.Join(dir, "data"),
		"--origin", "bench.trialog.example/log", "--queue-size", "65536")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := waitReady(ctx, b.url); err != nil {
		return err
	}
	ready := time.Since(t0)
	loadedMsg := ""
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && loadedMsg == ""; time.Sleep(100 * time.Millisecond) {
		if log, err := os.ReadFile(logf.Name()); err == nil {
			if i := strings.LastIndex(string(log), `"msg":"loaded the Merkle tree into memory"`); i >= 0 {
				line := string(log[i:])
				if j := strings.IndexByte(line, '\n'); j >= 0 {
					line = line[:j]
				}
				loadedMsg = line
			}
		}
	}
	fmt.Printf("restart at %d entries: ready after %v; %s\n", loaded, ready.Round(time.Millisecond), loadedMsg)

	first, last := points[0].p1.rate, points[len(points)-1].p1.rate
	fmt.Printf("P6: P1 at %d / P1 at %d = %.0f%% (target ≥ 80%%)\n", points[len(points)-1].size, points[0].size, 100*last/first)
	fmt.Printf("loader: %v in all to grow the tree to %d entries; whole run %v\n", loadTime.Round(time.Second), sizes[len(sizes)-1], time.Since(start).Round(time.Second))
	if o.csv != "" {
		f, err := os.Create(o.csv)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintln(f, "tree_size,p1_entries_per_s,p50_ms,p99_ms")
		for _, pt := range points {
			fmt.Fprintf(f, "%d,%.0f,%d,%d\n", pt.size, pt.p1.rate, pt.p1.p50.Milliseconds(), pt.p1.p99.Milliseconds())
		}
	}
	return nil
}

func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < 2 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("-sizes must be increasing tree sizes, such as 10000,1000000,2000000")
		}
		out = append(out, n)
	}
	return out, nil
}

// load adds n entries through the batch endpoint, 8 clients posting batches
// of 1,000 without waiting, and returns a sample of their leaf hashes.
func load(ctx context.Context, b *bench, n int64) ([]string, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var sample []string
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && firstErr.Load() == nil {
				k := min(1000, n-next.Add(1000)+1000)
				if k <= 0 {
					return
				}
				envs := make([]json.RawMessage, k)
				for j := range envs {
					envs[j] = b.envelopeBody()
				}
				body, _ := json.Marshal(api.Batch{Envelopes: envs})
				var res api.BatchResults
				if err := b.post(ctx, "/v1/entries:batch", body, http.StatusOK, &res); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				mu.Lock()
				for _, r := range res.Results[:min(len(res.Results), 20)] {
					if r.Entry != nil {
						sample = append(sample, r.Entry.LeafHash)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return nil, e.(error)
	}
	return sample, nil
}

// measureP3: 64 clients fetch inclusion proofs of random known leaves in
// the tree of size at.
func measureP3(ctx context.Context, o options, b *bench, leaves []string, at int64) (result, error) {
	var done, errs atomic.Int64
	var lat latencies
	runCtx, stop := context.WithTimeout(ctx, o.duration)
	defer stop()
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(seed, 7))
			for runCtx.Err() == nil {
				lh := leaves[r.IntN(len(leaves))]
				t := time.Now()
				req, _ := http.NewRequestWithContext(runCtx, http.MethodGet, b.url+"/v1/proofs/inclusion?leaf_hash="+lh+"&tree_size="+strconv.FormatInt(at, 10), nil)
				resp, err := b.http.Do(req)
				if err != nil {
					if runCtx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				done.Add(1)
				lat.add(time.Since(t))
			}
		}(uint64(c))
	}
	wg.Wait()
	return result{rate: float64(done.Load()) / time.Since(t0).Seconds(), p50: lat.quantileMicro(0.5), p99: lat.quantileMicro(0.99), errors: errs.Load()}, nil
}

// rssWatch samples a process's resident memory every 200ms.
type rssWatch struct {
	stopc chan struct{}
	done  chan int64
}

func (w *rssWatch) start(pid int) {
	w.stopc, w.done = make(chan struct{}), make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if v := rss(pid); v > peak {
				peak = v
			}
			select {
			case <-w.stopc:
				w.done <- peak
				return
			case <-t.C:
			}
		}
	}()
}

func (w *rssWatch) stop() int64 { close(w.stopc); return <-w.done }

func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func waitReady(ctx context.Context, url string) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("trialogd at %s did not become ready", url)
}

func logSize(ctx context.Context, url string) (int64, error) {
	info, err := client.New(url, "").Log(ctx)
	if err != nil {
		return 0, err
	}
	return int64(info.TreeSize), nil
}

func waitSize(ctx context.Context, url string, n int64) error {
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if sz, err := logSize(ctx, url); err == nil && sz >= n {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("the log did not reach %d entries", n)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
