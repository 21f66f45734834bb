package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
	"github.com/trialog/trialog/storage"
)

// A database whose domain state is missing (one that predates it) gets it
// built from its entries at start-up, and the rules hold as before: the
// fork is a 409, the owner and the added identifier are known.
func TestStateBuiltFromEntries(t *testing.T) {
	cfg := testserver.Config(t, testdb.DSN(t))
	srv := testserver.Start(t, cfg)
	owner := srv.NewPrincipal(t, "Owner", "sponsor")
	other := srv.NewPrincipal(t, "Other", "sponsor")
	const trial = "2004-000124-45"
	mustSubmit(t, owner, registrationJSON(trial, "2026-01-01T00:00:00Z"))
	v1 := mustSubmit(t, owner, protocolJSON(trial, "1.0", ""))
	v2 := mustSubmit(t, owner, protocolJSON(trial, "2.0", v1.ID))
	mustSubmit(t, owner, registrationJSON("2025-522007-21-00", "2026-01-07T00:00:00Z", trial))
	srv.Stop(t)

	ctx := context.Background()
	db, err := storage.Open(ctx, cfg.MySQLDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wipe := func(db *sql.DB) {
		for _, q := range []string{`DELETE FROM trialog_state`, `UPDATE trialog_log SET state_built = FALSE`} {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	wipe(db)

	srv = testserver.Start(t, cfg)
	for _, p := range []*testserver.Principal{owner, other} {
		p.Client = client.New(srv.URL, p.Token)
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM trialog_state`).Scan(&rows); err != nil || rows != 2 {
		t.Fatalf("state rows after start-up: %d, %v; want the trial and its alias", rows, err)
	}
	for _, tc := range []struct {
		name    string
		by      *testserver.Principal
		payload []byte
		status  int
		inMsg   string
	}{
		{"fork", owner, protocolJSON(trial, "3.0", v1.ID), 409, "fork"},
		{"reused label", owner, protocolJSON(trial, "2.0", v2.ID), 409, "already logged"},
		{"other sponsor", other, registrationJSON("2025-522007-21-00", "2026-01-09T00:00:00Z"), 409, "already registered by another principal"},
		{"identifier left out", owner, registrationJSON("2025-522007-21-00", "2026-01-08T00:00:00Z"), 400, "never removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, err := submitStatement(t, tc.by, tc.payload)
			if status != tc.status || err == nil || !strings.Contains(err.Error(), tc.inMsg) {
				t.Fatalf("%d %v, want %d containing %q", status, err, tc.status, tc.inMsg)
			}
		})
	}
	// Through the added identifier, the chain goes on from its head.
	if status, _, err := submitStatement(t, owner, protocolJSON("2025-522007-21-00", "3.0", v2.ID)); status != 201 && status != 202 {
		t.Fatalf("extending the chain after the rebuild: %d %v", status, err)
	}
}
