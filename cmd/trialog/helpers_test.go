package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// cli runs the CLI in-process with its own environment variables.
type cli struct {
	t   *testing.T
	env map[string]string
}

// result is what one run printed and returned.
type result struct {
	args           []string
	stdout, stderr string
	code           int
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := &environ{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(k string) string { return c.env[k] }}
	code := runMain(context.Background(), env, args)
	return result{args: args, stdout: out.String(), stderr: errb.String(), code: code}
}

// ok fails the test unless the run exited 0.
func (r result) ok(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("trialog %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails fails the test unless the run exited with code and its stderr
// holds each of msgs.
func (r result) fails(t *testing.T, code int, msgs ...string) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("trialog %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			t.Fatalf("trialog %s: stderr lacks %q:\n%s", strings.Join(r.args, " "), m, r.stderr)
		}
	}
	return r
}

// has fails the test unless stdout holds each of msgs.
func (r result) has(t *testing.T, msgs ...string) result {
	t.Helper()
	for _, m := range msgs {
		if !strings.Contains(r.stdout, m) {
			t.Fatalf("trialog %s: stdout lacks %q:\n%s", strings.Join(r.args, " "), m, r.stdout)
		}
	}
	return r
}

// world is a real trialogd on MariaDB, a working directory, and a CLI
// whose TRIALOG_URL, TRIALOG_LOG_KEY and TRIALOG_TOKEN_FILE point at them
// and at a sponsor registered with a key made by trialog keygen.
type world struct {
	srv     *testserver.Server
	dir     string
	cli     *cli
	logKey  string
	keyFile string // the sponsor's PREFIX.key
	sponsor *api.CreatedPrincipal
}

func newWorld(t *testing.T) *world {
	t.Helper()
	srv := testserver.Start(t, testserver.Config(t, testdb.DSN(t)))
	return newWorldOn(t, srv)
}

func newWorldOn(t *testing.T, srv *testserver.Server) *world {
	t.Helper()
	dir := t.TempDir()
	info, err := client.New(srv.URL, "").Log(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "log-key.txt")
	writeFile(t, keyPath, info.PublicKey+"\n")
	w := &world{srv: srv, dir: dir, logKey: info.PublicKey,
		cli: &cli{t: t, env: map[string]string{"TRIALOG_URL": srv.URL, "TRIALOG_LOG_KEY": "@" + keyPath}}}
	w.keyFile, w.sponsor = w.principal(t, "acme", "Acme Pharma", "sponsor")
	w.cli.env["TRIALOG_TOKEN_FILE"] = filepath.Join(dir, "acme.token")
	return w
}

// principal makes a key with keygen, registers it to a new principal and
// writes its token to NAME.token.
func (w *world) principal(t *testing.T, name, full, role string) (string, *api.CreatedPrincipal) {
	t.Helper()
	prefix := filepath.Join(w.dir, name)
	w.cli.run("keygen", "--out", prefix).ok(t)
	pub, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	p, err := client.New(w.srv.URL, w.srv.AdminToken(t)).CreatePrincipal(context.Background(),
		api.NewPrincipal{Name: full, Role: role, PublicKeys: []string{strings.TrimSpace(string(pub))}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".token", []byte(p.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return prefix + ".key", p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMain(m *testing.M) {
	// The trialogd these tests run logs through Trillian's klog and the
	// MySQL driver's logger; keep them out of the test output.
	daemon.RouteLibraryLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
