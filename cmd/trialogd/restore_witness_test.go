package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/engine"
	"github.com/trialog/trialog/internal/testserver"
)

// TestRestoreRefusedByWitness is the restore of TestRestoreOlderDatabaseRefused
// with no --anchor-file: the database and the data directory are both
// restored from a backup older than what the log published, so nothing on
// this host remembers the larger checkpoints. The witness (a real
// litewitness) does: asked at start with the database's latest signed
// checkpoint, it answers 409 with the larger size it cosigned, and trialogd
// refuses to start and signs nothing. Before the restore, a restart on the
// up-to-date database with the same witness starts normally.
func TestRestoreRefusedByWitness(t *testing.T) {
	w := newWitnessedLog(t)
	dsn := w.cfg.MySQLDSN
	w.start(t, true)
	sponsor := w.srv.NewPrincipal(t, "Witnessed restore sponsor", "sponsor")
	submitN(t, sponsor, "before the backup", 3)

	backup := t.TempDir()
	dumpDatabase(t, dsn, filepath.Join(backup, "db.sql"))
	copyDir(t, w.cfg.DataDir, filepath.Join(backup, "data"))
	dumpedN, dumpedSize := checkpoints(t, dsn)

	submitN(t, sponsor, "after the backup", 4)
	published := testserver.ReadLog(t, w.srv.URL)
	info, err := client.New(w.srv.URL, "").Log(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.cosigned(t, "the checkpoint published after the backup", []byte(info.Checkpoint))
	if published.Size <= dumpedSize {
		t.Fatalf("the log did not grow after the backup: %d <= %d", published.Size, dumpedSize)
	}
	w.srv.Stop(t)
	known := w.lw.Known(t, w.cfg.Origin)
	if known != fmt.Sprint(published.Size) {
		t.Fatalf("litewitness knows size %s, the log published %d", known, published.Size)
	}

	// Control: the same witness, an up-to-date database: a normal start,
	// serving what it published.
	w.start(t, true)
	if again := testserver.ReadLog(t, w.srv.URL); again.Size < published.Size {
		t.Fatalf("after a restart on the up-to-date database the log serves size %d, it had published %d", again.Size, published.Size)
	}
	if !strings.Contains(w.logs.String(), "a witness's cosigned size is within the database's checkpoints") {
		t.Fatalf("the witness was not asked at start:\n%s", w.logs.String())
	}
	w.srv.Stop(t)
	known = w.lw.Known(t, w.cfg.Origin)

	// Restore both the database and the data directory from the backup.
	loadDump(t, dsn, filepath.Join(backup, "db.sql"))
	if err := os.RemoveAll(w.cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, filepath.Join(backup, "data"), w.cfg.DataDir)
	if n, size := checkpoints(t, dsn); n != dumpedN || size != dumpedSize {
		t.Fatalf("the restore did not bring back the old checkpoints: %d up to %d, want %d up to %d", n, size, dumpedN, dumpedSize)
	}

	err = serveErr(t, w.cfg)
	t.Logf("the start was refused: %v", err)
	for _, want := range []string{"witness w1", fmt.Sprintf("size %s", known), fmt.Sprintf("size %d", dumpedSize), `"Restore safety" in docs/operations.md`} {
		if !errors.Is(err, engine.ErrRolledBack) || !strings.Contains(fmt.Sprint(err), want) {
			t.Fatalf("a start on the restored database was not refused as rolled back with %q: %v", want, err)
		}
	}
	if n, size := checkpoints(t, dsn); n != dumpedN || size != dumpedSize {
		t.Fatalf("checkpoints were signed on the restored database: %d up to %d, backup had %d up to %d", n, size, dumpedN, dumpedSize)
	}
	if got := w.lw.Known(t, w.cfg.Origin); got != known {
		t.Fatalf("litewitness's size moved from %s to %s", known, got)
	}
}
