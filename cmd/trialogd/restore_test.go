package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// clientArgs are the connection arguments of the mariadb/mariadb-dump
// clients for dsn, and its database name.
func clientArgs(t *testing.T, dsn string) ([]string, string) {
	t.Helper()
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--no-defaults", "-u" + mc.User}
	if mc.Passwd != "" {
		args = append(args, "-p"+mc.Passwd)
	}
	if mc.Net == "unix" {
		args = append(args, "--socket="+mc.Addr)
	} else {
		host, port, _ := strings.Cut(mc.Addr, ":")
		args = append(args, "-h"+host, "-P"+port, "--protocol=tcp")
	}
	return args, mc.DBName
}

func mysqlTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("none of %v is installed", names)
	}
	t.Skipf("none of %v is installed", names)
	return ""
}

// dumpDatabase writes a consistent dump of dsn's database to file, as the
// backup procedure in docs/operations.md does.
func dumpDatabase(t *testing.T, dsn, file string) {
	t.Helper()
	args, db := clientArgs(t, dsn)
	cmd := exec.Command(mysqlTool(t, "mariadb-dump", "mysqldump"), append(args, "--single-transaction", "--routines", "--hex-blob", db)...)
	out, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dump: %v\n%s", err, stderr.String())
	}
}

// loadDump loads file into dsn's database.
func loadDump(t *testing.T, dsn, file string) {
	t.Helper()
	args, db := clientArgs(t, dsn)
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(mysqlTool(t, "mariadb", "mysql"), append(args, db)...)
	cmd.Stdin = in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
}

// copyDir copies a flat directory (the data dir holds files only).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkpoints returns the number of stored checkpoints and the largest size.
func checkpoints(t *testing.T, dsn string) (n, size int64) {
	t.Helper()
	db := testdb.Open(t, dsn)
	if err := db.QueryRow(`SELECT COUNT(*), COALESCE(MAX(tree_size), 0) FROM trialog_checkpoints`).Scan(&n, &size); err != nil {
		t.Fatal(err)
	}
	return n, size
}

func submitN(t *testing.T, p *testserver.Principal, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		_, status, err := p.Client.Submit(context.Background(), p.Sign(testserver.DigestStatement(fmt.Sprintf("%s %d", prefix, i))), 10*time.Second)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("%s %d: %d %v", prefix, i, status, err)
		}
	}
}

// TestRestoreOlderDatabaseRefused is the restore that forks a log: the
// database and the data directory are restored from a backup older than
// what the log has published, while the anchor kept on separate storage
// (--anchor-file) is not. trialogd must refuse to start, and sign nothing,
// instead of giving the published leaf indices to new entries (R7).
func TestRestoreOlderDatabaseRefused(t *testing.T) {
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	cfg.AnchorFile = filepath.Join(t.TempDir(), "trialog-anchor")
	srv := testserver.Start(t, cfg)
	sponsor := srv.NewPrincipal(t, "Restore sponsor", "sponsor")
	submitN(t, sponsor, "before the backup", 10)

	backup := t.TempDir()
	dumpDatabase(t, dsn, filepath.Join(backup, "db.sql"))
	copyDir(t, cfg.DataDir, filepath.Join(backup, "data"))
	dumpedN, dumpedSize := checkpoints(t, dsn)

	submitN(t, sponsor, "after the backup", 20)
	published := testserver.ReadLog(t, srv.URL)
	srv.Stop(t)
	if published.Size <= dumpedSize {
		t.Fatalf("the log did not grow after the backup: %d <= %d", published.Size, dumpedSize)
	}

	// Restore both the database and the data directory from the backup.
	// The dump drops and recreates every table it holds.
	loadDump(t, dsn, filepath.Join(backup, "db.sql"))
	if err := os.RemoveAll(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(backup, "data"), cfg.DataDir)
	if n, size := checkpoints(t, dsn); n != dumpedN || size != dumpedSize {
		t.Fatalf("the restore did not bring back the old checkpoints: %d up to %d, want %d up to %d", n, size, dumpedN, dumpedSize)
	}

	err := serveErr(t, cfg)
	if !errors.Is(err, engine.ErrRolledBack) || !strings.Contains(err.Error(), cfg.AnchorFile) ||
		!strings.Contains(err.Error(), fmt.Sprintf("size %d", published.Size)) || !strings.Contains(err.Error(), "Restore safety") {
		t.Fatalf("a start on the restored database was not refused as rolled back: %v", err)
	}
	if n, size := checkpoints(t, dsn); n != dumpedN || size != dumpedSize {
		t.Fatalf("checkpoints were signed on the restored database: %d up to %d, backup had %d up to %d", n, size, dumpedN, dumpedSize)
	}
	b, err := os.ReadFile(cfg.AnchorFile)
	if err != nil || !strings.Contains(string(b), fmt.Sprintf("\n%d\n", published.Size)) {
		t.Fatalf("the anchor changed: %v\n%s", err, b)
	}
}

// heldCheckpoint is evidence of a published checkpoint held outside the
// database, as a witness holds the checkpoint it last cosigned.
type heldCheckpoint []byte

func (h heldCheckpoint) Where() string                          { return "a witness" }
func (h heldCheckpoint) Latest(context.Context) ([]byte, error) { return h, nil }

// TestRestoreRefusedByEvidence: with no anchor file, the same restore is
// refused on the evidence of a checkpoint held outside (a witness's).
func TestRestoreRefusedByEvidence(t *testing.T) {
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	srv := testserver.Start(t, cfg)
	sponsor := srv.NewPrincipal(t, "Evidence sponsor", "sponsor")
	submitN(t, sponsor, "before the backup", 3)
	backup := t.TempDir()
	dumpDatabase(t, dsn, filepath.Join(backup, "db.sql"))
	copyDir(t, cfg.DataDir, filepath.Join(backup, "data"))
	dumpedN, dumpedSize := checkpoints(t, dsn)
	submitN(t, sponsor, "after the backup", 4)
	info, err := client.New(srv.URL, "").Log(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)
	loadDump(t, dsn, filepath.Join(backup, "db.sql"))
	os.RemoveAll(cfg.DataDir)
	copyDir(t, filepath.Join(backup, "data"), cfg.DataDir)

	cfg.Evidence = []engine.Evidence{heldCheckpoint(info.Checkpoint)}
	if err := serveErr(t, cfg); !errors.Is(err, engine.ErrRolledBack) || !strings.Contains(err.Error(), "a witness") {
		t.Fatalf("not refused on the witness's evidence: %v", err)
	}
	if n, size := checkpoints(t, dsn); n != dumpedN || size != dumpedSize {
		t.Fatalf("checkpoints were signed: %d up to %d, backup had %d up to %d", n, size, dumpedN, dumpedSize)
	}
	// Evidence that is not this log's checkpoint is an error, not ignored.
	cfg.Evidence = []engine.Evidence{heldCheckpoint("not a checkpoint\n")}
	if err := serveErr(t, cfg); err == nil || !strings.Contains(err.Error(), "does not hold a checkpoint of this log") {
		t.Fatalf("bad evidence accepted: %v", err)
	}
}

var (
	cliOnce sync.Once
	cliPath string
	cliErr  error
)

// trialogCLI builds the trialog CLI once per test process.
func trialogCLI(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trialog-cli")
		if err != nil {
			cliErr = err
			return
		}
		cliPath = filepath.Join(dir, "trialog")
		if out, err := exec.Command("go", "build", "-o", cliPath, "../trialog").CombinedOutput(); err != nil {
			cliErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliPath
}

// TestBackupRestoreAudit follows the backup and restore procedure of
// docs/operations.md: an auditor follows the log; the database is dumped
// with mariadb-dump --single-transaction while trialogd runs, trialogd is
// stopped; the dump is loaded into a new, empty database and trialogd
// started on it with the same keys and data directory; the log serves the
// entries it had, grows on, and `trialog audit` from the auditor's state
// finds it consistent with everything published before.
func TestBackupRestoreAudit(t *testing.T) {
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	srv := testserver.Start(t, cfg)
	sponsor := srv.NewPrincipal(t, "Backup sponsor", "sponsor")
	submitN(t, sponsor, "backed up", 15)
	vkey := testserver.ReadLog(t, srv.URL).VKey
	state := t.TempDir()
	audit := func(url string) string {
		t.Helper()
		out, err := exec.Command(trialogCLI(t), "audit", "--url", url, "--log-key", vkey, "--state", state, "-v").CombinedOutput()
		if err != nil {
			t.Fatalf("trialog audit against %s: %v\n%s", url, err, out)
		}
		return string(out)
	}
	audit(srv.URL)

	// The log is quiet (a maintenance window): the dump holds everything
	// published.
	file := filepath.Join(t.TempDir(), "db.sql")
	dumpDatabase(t, dsn, file)
	before := testserver.ReadLog(t, srv.URL)
	srv.Stop(t)

	newDSN := testdb.DSN(t)
	loadDump(t, newDSN, file)
	cfg.MySQLDSN = newDSN
	restored := testserver.Start(t, cfg)
	after := testserver.ReadLog(t, restored.URL)
	if after.Size != before.Size || after.Root != before.Root {
		t.Fatalf("the restored log serves size %d %x, published was %d %x", after.Size, after.Root, before.Size, before.Root)
	}
	p := *sponsor
	p.Client = client.New(restored.URL, sponsor.Token)
	submitN(t, &p, "after the restore", 5)
	out := audit(restored.URL)
	if !strings.Contains(out, fmt.Sprint(before.Size+5)) {
		t.Fatalf("audit did not check the grown log:\n%s", out)
	}
}
