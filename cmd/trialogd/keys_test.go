package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/internal/daemon"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// serveErr runs trialogd with cfg and returns the error it stops with, for
// configurations that must be refused at start.
func serveErr(t *testing.T, cfg daemon.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return daemon.Serve(ctx, cfg, slog.New(slog.DiscardHandler), ln)
}

func TestKeysAndFirstStart(t *testing.T) {
	dsn := testdb.DSN(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, "keys.trialog.example/log")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "brought.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testserver.Config(t, dsn)
	cfg.Origin = "keys.trialog.example/log"
	cfg.SigningKeyFile = keyFile
	srv := testserver.Start(t, cfg)
	if got := testserver.ReadLog(t, srv.URL).VKey; got != vkey {
		t.Fatalf("/v1/log public_key %s, want the brought key %s", got, vkey)
	}
	// Secrets are files of mode 0600; the brought key is used, not copied.
	for _, f := range []string{"admin.token", "service.key"} {
		fi, err := os.Stat(filepath.Join(cfg.DataDir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", f, err, fi.Mode())
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "log.key")); !os.IsNotExist(err) {
		t.Fatalf("log.key written although --signing-key-file was given: %v", err)
	}
	srv.Stop(t)

	// The same database with another log key, another origin or another
	// service key is refused.
	other := testserver.Config(t, dsn)
	other.Origin = cfg.Origin
	if err := serveErr(t, other); err == nil || !strings.Contains(err.Error(), "not this log's key") {
		t.Fatalf("start with a new log key on an existing log: %v", err)
	}
	renamed := cfg
	renamed.Origin = "other.example/log"
	if err := serveErr(t, renamed); err == nil || !strings.Contains(err.Error(), "named") {
		t.Fatalf("start with a key whose name is not the origin: %v", err)
	}
	svc := cfg
	svc.ServiceKeyFile = filepath.Join(t.TempDir(), "other-service.key")
	if err := serveErr(t, svc); err == nil || !strings.Contains(err.Error(), "service key") {
		t.Fatalf("start with another service key: %v", err)
	}
	bad := cfg
	bad.SigningKeyFile = filepath.Join(t.TempDir(), "garbage.key")
	os.WriteFile(bad.SigningKeyFile, []byte("PRIVATE+KEY+not-really"), 0o600)
	err = serveErr(t, bad)
	if err == nil || strings.Contains(err.Error(), "not-really") {
		t.Fatalf("a malformed key: %v (the error must not echo the key)", err)
	}
	// And the original configuration still starts, on the same tree.
	again := testserver.Start(t, cfg)
	if got := testserver.ReadLog(t, again.URL).VKey; got != vkey {
		t.Fatalf("restart changed the key to %s", got)
	}
}

func TestFlagsAndEnvironment(t *testing.T) {
	t.Setenv("TRIALOG_MYSQL_DSN", "u@tcp(db:3306)/x")
	t.Setenv("TRIALOG_ORIGIN", "env.example/log")
	t.Setenv("TRIALOG_MAX_BATCH", "50")
	fs := newFlagSet()
	cfg, err := parseFlags(fs, []string{"--origin", "flag.example/log"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MySQLDSN != "u@tcp(db:3306)/x" || cfg.Origin != "flag.example/log" || cfg.MaxBatch != 50 {
		t.Fatalf("config %+v: want the DSN and batch from the environment, the origin from the flag", cfg.Config)
	}
	if cfg.MaxConnections != 1024 || cfg.AuthFailureRate != 1 || cfg.AuthFailureBurst != 20 || cfg.AdminListen != "" || cfg.TLSCert != "" {
		t.Fatalf("limit and listener defaults %+v", cfg.Config)
	}
	t.Setenv("TRIALOG_ADMIN_LISTEN", "127.0.0.1:9")
	t.Setenv("TRIALOG_AUTH_FAILURE_RATE", "0.5")
	cfg, err = parseFlags(newFlagSet(), []string{"--max-connections", "10", "--tls-cert", "c.pem", "--tls-key", "k.pem"})
	if err != nil || cfg.AdminListen != "127.0.0.1:9" || cfg.AuthFailureRate != 0.5 || cfg.MaxConnections != 10 || cfg.TLSCert != "c.pem" || cfg.TLSKey != "k.pem" {
		t.Fatalf("listener and limit flags: %+v %v", cfg.Config, err)
	}
	for _, args := range [][]string{{"--origin", "has space"}, {"--origin", "a+b"}, {"--max-batch", "0"}, {"--log-level", "loud"}, {"extra"},
		{"--tls-cert", "c.pem"}, {"--tls-key", "k.pem"}, {"--max-connections", "-1"}, {"--auth-failure-burst", "0"}} {
		if _, err := parseFlags(newFlagSet(), args); err == nil {
			t.Errorf("parseFlags(%q) accepted bad input", args)
		}
	}
	t.Setenv("TRIALOG_QUEUE_SIZE", "many")
	if _, err := parseFlags(newFlagSet(), nil); err == nil || !strings.Contains(err.Error(), "TRIALOG_QUEUE_SIZE") {
		t.Fatalf("a bad environment value: %v", err)
	}
}

// TestRefusesRolledBackCheckpoints removes the newest checkpoints from the
// database behind trialogd's back. The checkpoint it last signed, kept in its
// data directory, makes it refuse to start rather than sign a second history.
func TestRefusesRolledBackCheckpoints(t *testing.T) {
	dsn := testdb.DSN(t)
	cfg := testserver.Config(t, dsn)
	srv := testserver.Start(t, cfg)
	sponsor := srv.NewPrincipal(t, "Sponsor", "sponsor")
	for i := 0; i < 3; i++ {
		if _, _, err := sponsor.Client.Submit(context.Background(), sponsor.Sign(testserver.DigestStatement(fmt.Sprintf("rollback %d", i))), 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	last := testserver.ReadLog(t, srv.URL)
	srv.Stop(t)
	anchor, err := os.ReadFile(filepath.Join(cfg.DataDir, "checkpoint"))
	if err != nil || !strings.Contains(string(anchor), fmt.Sprintf("\n%d\n", last.Size)) {
		t.Fatalf("the data dir does not hold the last signed checkpoint: %v\n%s", err, anchor)
	}
	db := testdb.Open(t, dsn)
	if _, err := db.Exec(`DELETE FROM trialog_checkpoints WHERE tree_size = ?`, last.Size); err != nil {
		t.Fatal(err)
	}
	if err := serveErr(t, cfg); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("start on a rolled-back database: %v, want a refusal", err)
	}
}
