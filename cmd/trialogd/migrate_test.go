package main

import (
	"bytes"
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/storage"
)

// TestMigrateCommand checks `trialogd migrate --trillian-schema`: it creates
// Trillian's tables and trialog's schema at this build's version, running it
// again changes nothing, and a failure never prints the DSN's password.
func TestMigrateCommand(t *testing.T) {
	dsn := testdb.DSN(t)
	ctx := context.Background()
	for run := 0; run < 2; run++ {
		var out, errb bytes.Buffer
		if code := runMigrate(ctx, []string{"--trillian-schema", "--mysql-dsn", dsn}, &out, &errb); code != 0 {
			t.Fatalf("run %d: exit %d: %s", run, code, errb.String())
		}
		if !strings.Contains(out.String(), "Trillian's and trialog's schemas are up to date") {
			t.Fatalf("run %d: %q", run, out.String())
		}
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM Trees").Scan(&n); err != nil || n != 0 {
		t.Fatalf("Trillian's Trees table: %d rows, %v", n, err)
	}
	var v int
	if err := db.QueryRowContext(ctx, "SELECT version FROM trialog_schema WHERE component = ?", storage.ComponentTrialog).Scan(&v); err != nil || v != storage.SchemaVersion() {
		t.Fatalf("trialog schema version %d (%v), want %d", v, err, storage.SchemaVersion())
	}

	var out, errb bytes.Buffer
	bad := "trialog:s3cret-pw@tcp(127.0.0.1:1)/trialog?timeout=200ms"
	if code := runMigrate(ctx, []string{"--mysql-dsn", bad, "--timeout", "1s"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d for an unreachable database, want 1", code)
	}
	if strings.Contains(errb.String(), "s3cret-pw") || !strings.HasPrefix(errb.String(), "trialogd migrate: ") {
		t.Fatalf("error output %q", errb.String())
	}
}
