package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/internal/testserver"
)

// TestLatin1Database runs trialogd on a database whose default character
// set is latin1, with a DSN asking for latin1 too: trialog's connections
// and tables are utf8mb4 anyway, and a principal named "Zoë 医院" is stored
// as sent.
func TestLatin1Database(t *testing.T) {
	dsn := testdb.DSN(t)
	db := testdb.Open(t, dsn)
	name := dsn[strings.LastIndex(dsn, "/")+1:]
	if _, err := db.Exec("ALTER DATABASE `" + name + "` CHARACTER SET latin1 COLLATE latin1_swedish_ci"); err != nil {
		t.Fatal(err)
	}
	srv := testserver.Start(t, testserver.Config(t, dsn+"?charset=latin1&collation=latin1_swedish_ci"))

	const zoe = "Zoë 医院 😀"
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	cp, err := client.New(srv.URL, srv.AdminToken(t)).CreatePrincipal(context.Background(),
		api.NewPrincipal{Name: zoe, Role: "site", PublicKeys: []string{base64.StdEncoding.EncodeToString(pub)}})
	if err != nil {
		t.Fatalf("creating principal %q: %v", zoe, err)
	}
	var got string
	if err := db.QueryRow("SELECT name FROM trialog_principals WHERE id = ?", cp.ID).Scan(&got); err != nil || got != zoe {
		t.Fatalf("stored name %q (%v), want %q", got, err, zoe)
	}
	// The key entry logged with it names the principal the same way.
	e, err := client.New(srv.URL, "").Entry(context.Background(), cp.KeyEntries[0])
	if err != nil || !strings.Contains(string(e.Statement), zoe) {
		t.Fatalf("principal.key entry %s (%v) does not name %q", e.Statement, err, zoe)
	}

	var bad []string
	rows, err := db.Query(`SELECT CONCAT(TABLE_NAME, '.', COLUMN_NAME, ' ', CHARACTER_SET_NAME) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'trialog\_%' AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME <> 'utf8mb4'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		bad = append(bad, c)
	}
	rows.Close()
	if len(bad) > 0 {
		t.Fatalf("columns not in utf8mb4: %v", bad)
	}
	var dbCharset string
	if err := db.QueryRow("SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()").Scan(&dbCharset); err != nil || dbCharset != "utf8mb4" {
		t.Fatalf("database default character set %q (%v), want utf8mb4", dbCharset, err)
	}
}
