// Package witnesstest runs litewitness (filippo.io/torchwood/cmd/litewitness),
// a C2SP tlog-witness implementation trialog shares no code with, as a
// separate process for tests: its Ed25519 key in a dedicated ssh-agent, its
// state in SQLite.
package witnesstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/trialog/trialog/internal/testserver"
)

// Witness is a running litewitness.
type Witness struct {
	Name string
	// VKey is the witness's cosignature/v1 verifier key, as litewitness
	// printed it.
	VKey string
	// URL is its submission prefix.
	URL string

	bin, dir, db, sock, fingerprint, addr string
	cmd                                   *exec.Cmd
	exited                                chan struct{}
	logs                                  *testserver.Buffer
}

// T is what the package needs of a test; testing.TB has it, and so does
// the benchmark's runner.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// Version is the litewitness release the tests run.
const Version = "v0.6.1"

// Binary returns the litewitness binary: $LITEWITNESS if set (`make
// litewitness` builds bin/litewitness), else one built now. It is built in
// a module of its own, so that trialog's go.mod holds only the torchwood
// packages trialog imports.
func Binary(t T) string {
	t.Helper()
	if p := os.Getenv("LITEWITNESS"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "litewitness-bin")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "litewitness")
		buildErr = Build(built)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// Build builds litewitness at Version into out.
func Build(out string) error {
	out, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	mod, err := os.MkdirTemp("", "litewitness-mod")
	if err != nil {
		return err
	}
	defer os.RemoveAll(mod)
	gomod := "module litewitness.build\n\ngo 1.24\n\nrequire filippo.io/torchwood " + Version + "\n"
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-mod=mod", "-o", out, "filippo.io/torchwood/cmd/litewitness")
	cmd.Dir = mod
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build litewitness %s: %v\n%s", Version, err, b)
	}
	return nil
}

// need fails the test (skips outside CI) when a tool is missing.
func need(t T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed to run litewitness in tests", tool)
			}
			t.Skipf("%s is not installed; litewitness tests need it", tool)
		}
	}
}

// Start generates a witness key, loads it into a new ssh-agent and starts
// litewitness named name on a free local port. Both stop when the test
// ends.
func Start(t T, name string) *Witness {
	t.Helper()
	// sqlite3 stands in for witnessctl (which needs sigsum.org/sigsum-go,
	// not served by the module proxy this project uses) to add a log.
	need(t, "ssh-agent", "ssh-add", "ssh-keygen", "sqlite3")
	// A short directory: a unix socket path is limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &Witness{Name: name, bin: Binary(t), dir: dir, db: filepath.Join(dir, "w.db"), sock: filepath.Join(dir, "s")}
	key := filepath.Join(dir, "key")
	run(t, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key)
	fp := strings.Fields(run(t, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))
	if len(fp) < 2 {
		t.Fatal("ssh-keygen printed no fingerprint")
	}
	w.fingerprint = fp[1]
	agent := exec.Command("ssh-agent", "-D", "-a", w.sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	// The socket file appears when the agent binds it, a moment before it
	// accepts connections: retry ssh-add until the agent answers.
	var out []byte
	waitFor(t, "ssh-agent to take the key", func() bool {
		cmd := exec.Command("ssh-add", key)
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+w.sock)
		out, err = cmd.CombinedOutput()
		return err == nil
	})
	if err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = ln.Addr().String()
	ln.Close()
	w.URL = "http://" + w.addr
	w.Restart(t)
	t.Cleanup(func() { w.Stop(t) })
	return w
}

// Restart starts litewitness again (after Stop) on the same address, key
// and database.
func (w *Witness) Restart(t T) {
	t.Helper()
	w.logs = &testserver.Buffer{}
	w.cmd = exec.Command(w.bin, "-listen", w.addr, "-db", w.db, "-name", w.Name, "-ssh-agent", w.sock, "-key", w.fingerprint)
	w.cmd.Stdout = w.logs
	w.cmd.Stderr = w.logs
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.exited = make(chan struct{})
	go func() { w.cmd.Wait(); close(w.exited) }()
	vkeyRE := regexp.MustCompile(`vkey=(\S+)`)
	waitFor(t, "litewitness to start", func() bool {
		select {
		case <-w.exited:
			t.Fatalf("litewitness exited:\n%s", w.logs.String())
		default:
		}
		if m := vkeyRE.FindStringSubmatch(w.logs.String()); m != nil {
			w.VKey = strings.Trim(m[1], `"`)
		}
		c, err := net.DialTimeout("tcp", w.addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return w.VKey != ""
	})
}

// Stop ends litewitness and waits for it to exit.
func (w *Witness) Stop(t T) {
	if w.cmd == nil {
		return
	}
	w.cmd.Process.Kill()
	<-w.exited
	w.cmd = nil
}

// Logs is what litewitness printed since it last started.
func (w *Witness) Logs() string { return w.logs.String() }

// AddLog makes the witness know a log: its origin and note verifier key,
// starting from the empty tree, as `witnessctl add-log` and `add-key` do.
func (w *Witness) AddLog(t T, origin, vkey string) {
	t.Helper()
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	// The empty tree's hash, SHA-256 of nothing (RFC 6962).
	sql := fmt.Sprintf("INSERT INTO log (origin, tree_size, tree_hash) VALUES (%s, 0, '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='); INSERT INTO key (origin, key) VALUES (%s, %s);",
		q(origin), q(origin), q(vkey))
	run(t, "sqlite3", w.db, sql)
}

// Known returns the tree size litewitness recorded for origin.
func (w *Witness) Known(t T, origin string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "sqlite3", w.db, "SELECT tree_size FROM log WHERE origin = '"+strings.ReplaceAll(origin, "'", "''")+"';"))
}

func run(t T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func waitFor(t T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
