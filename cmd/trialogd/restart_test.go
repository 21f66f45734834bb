package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// trialogdBinary builds trialogd once per test process.
func trialogdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trialogd-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "trialogd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is trialogd running as a child process.
type process struct {
	URL  string
	cmd  *exec.Cmd
	logf *os.File
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs the trialogd binary with cfg on addr and waits for
// /readyz.
func startProcess(t *testing.T, cfg daemon.Config, addr string) *process {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(cfg.DataDir, "trialogd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(trialogdBinary(t), "--listen", addr, "--mysql-dsn", cfg.MySQLDSN, "--data-dir", cfg.DataDir,
		"--origin", cfg.Origin, "--checkpoint-interval", "20ms", "--sequencer-interval", "20ms")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{URL: "http://" + addr, cmd: cmd, logf: logf}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		logf.Close()
	})
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
	}
	b, _ := os.ReadFile(logf.Name())
	t.Fatalf("trialogd did not become ready:\n%s", b)
	return nil
}

func (p *process) signal(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatalf("trialogd did not exit after %v", sig)
		return nil
	}
}

// TestRestart stops trialogd with SIGTERM and with kill -9 under load and
// starts it again on the same database and data dir: same key and tree,
// every acknowledged entry present exactly once, new checkpoints consistent
// with old ones.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the trialogd binary")
	}
	cfg := testserver.Config(t, testdb.DSN(t))
	addr := freeAddr(t)
	p := startProcess(t, cfg, addr)
	sponsor := testserver.NewPrincipal(t, p.URL, cfg.DataDir, "Restart sponsor", "sponsor")
	ctx := context.Background()

	var acked []string
	for i := 0; i < 5; i++ {
		e, _, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("before sigterm %d", i))), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, e.ID)
	}
	first := testserver.ReadLog(t, p.URL)

	// SIGTERM: a clean exit.
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("trialogd exited uncleanly on SIGTERM: %v", err)
	}
	p = startProcess(t, cfg, addr)
	second := testserver.ReadLog(t, p.URL)
	if second.VKey != first.VKey {
		t.Fatalf("the log key changed across a restart: %s → %s", first.VKey, second.VKey)
	}
	if second.Size < first.Size {
		t.Fatalf("tree shrank across a restart: %d → %d", first.Size, second.Size)
	}
	testserver.CheckConsistency(t, p.URL, second.Size, second.Root, first.Size, first.Root)

	// kill -9 under load: 16 clients submit without waiting; every 202 is
	// an acknowledgement that must survive.
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("load %d-%d", c, i))), 0)
				if err != nil {
					return // the server died under us
				}
				if status == http.StatusAccepted || status == http.StatusCreated {
					mu.Lock()
					acked = append(acked, e.ID)
					mu.Unlock()
				}
			}
		}(c)
	}
	// Kill it mid-load, once some entries are acknowledged.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d entries acknowledged under load in 20s", n)
		}
	}
	p.signal(t, syscall.SIGKILL)
	close(stop)
	wg.Wait()
	t.Logf("%d entries acknowledged before kill -9", len(acked))

	p = startProcess(t, cfg, addr)
	third := testserver.ReadLog(t, p.URL)
	if third.VKey != first.VKey {
		t.Fatal("the log key changed after kill -9")
	}
	testserver.CheckConsistency(t, p.URL, third.Size, third.Root, second.Size, second.Root)

	// Every acknowledged entry becomes included, each exactly once.
	pub := client.New(p.URL, "")
	for _, id := range acked {
		var e *api.Entry
		var err error
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if e, err = pub.Entry(ctx, id); err == nil && e.Status == "included" {
				break
			}
		}
		if err != nil || e.Status != "included" {
			t.Fatalf("acknowledged entry %s lost after kill -9: %v", id, err)
		}
		testserver.VerifyEntry(t, first.VKey, e)
	}
	final := testserver.ReadLog(t, p.URL)
	testserver.CheckConsistency(t, p.URL, final.Size, final.Root, first.Size, first.Root)
	seen := map[string]int64{}
	for start := int64(0); start < final.Size; start += 1000 {
		leaves, err := pub.Leaves(ctx, start, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leaves {
			if prev, dup := seen[l.ID]; dup {
				t.Fatalf("entry %s is logged twice, at %d and %d", l.ID, prev, l.LeafIndex)
			}
			seen[l.ID] = l.LeafIndex
		}
	}
	if int64(len(seen)) != final.Size {
		t.Fatalf("%d distinct entries in a tree of %d", len(seen), final.Size)
	}

	// Still accepting submissions.
	e, status, err := sponsor.Client.Submit(ctx, sponsor.Sign(testserver.DigestStatement("after kill")), 10*time.Second)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("submit after restart: %d %v", status, err)
	}
	testserver.VerifyEntry(t, first.VKey, e)
	if err := p.signal(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit on SIGTERM: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(cfg.DataDir, "trialogd.log"))
	if !strings.Contains(string(b), `"msg":"trialogd stopped"`) {
		t.Fatal("trialogd did not log a clean stop")
	}
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			t.Fatalf("log line is not slog JSON: %q", l)
		}
		lines++
	}
	if strings.Contains(string(b), sponsor.Token) {
		t.Fatal("a token appears in the server log")
	}
}
