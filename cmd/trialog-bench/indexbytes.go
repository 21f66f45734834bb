package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/trialog/trialog/storage"
)

// measureIndexBytes appends n record.digest-shaped entries straight into
// trialog's store (no HTTP, no Trillian: only trialog's own tables) and
// prints the size of each of its indexes per entry, from InnoDB's own
// statistics. The indexes with random keys are the ones whose pages an
// insert reads from disk once the table outgrows the buffer pool (P6).
func measureIndexBytes(ctx context.Context, o options, n int) error {
	dsn, drop, err := freshDatabase(ctx, o.dsn, "index")
	if err != nil {
		return err
	}
	defer drop()
	db, err := storage.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := storage.Migrate(ctx, db, false); err != nil {
		return err
	}
	st := storage.New(db)
	if err := st.InitLogConfig(ctx, storage.LogConfig{TreeID: 1, Origin: "bench", LogPublicKey: "k", ServicePublicKey: make([]byte, 32)}); err != nil {
		return err
	}
	leaf := make([]byte, 900)
	rand.Read(leaf)
	t0 := time.Now()
	tLast := t0
	const batch = 1000
	for done := 0; done < n; done += batch {
		if done == n-n/10-(n/10)%batch {
			tLast = time.Now()
		}
		es := make([]storage.Entry, batch)
		for i := range es {
			var id, doc [32]byte
			rand.Read(id[:])
			rand.Read(doc[:])
			lh := sha256.Sum256(id[:])
			es[i] = storage.Entry{ID: id[:], LeafHash: lh[:], Leaf: leaf, Type: "record.digest", PrincipalID: "pr_0123456789abcdef01234567",
				ReceivedAt: time.Now().UTC(), Refs: []string{"sha256:" + hex.EncodeToString(doc[:])}}
		}
		if _, err := st.Append(ctx, es); err != nil {
			return err
		}
	}
	total := time.Since(t0)
	last := time.Since(tLast)
	fmt.Printf("index bytes: %d entries appended in %v (%.0f/s; the last tenth %.0f/s)\n", n, total.Round(time.Second), float64(n)/total.Seconds(), float64(n/10)/last.Seconds())
	cfgName := ""
	if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&cfgName); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name IN ('trialog_entries', 'trialog_entry_refs', 'trialog_refs')`, cfgName)
	if err != nil {
		return err
	}
	var tables []string
	for rows.Next() {
		var t string
		rows.Scan(&t)
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+t); err != nil {
			return err
		}
	}
	q := `SELECT table_name, index_name, stat_value * @@innodb_page_size FROM mysql.innodb_index_stats
  WHERE database_name = ? AND stat_name = 'size' AND table_name IN ('trialog_entries', 'trialog_entry_refs', 'trialog_refs') ORDER BY table_name, index_name`
	rows, err = db.QueryContext(ctx, q, cfgName)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var table, index string
		var size sql.NullFloat64
		if err := rows.Scan(&table, &index, &size); err != nil {
			return err
		}
		fmt.Printf("    %-22s %-12s %8.1f MB  %6.1f B/entry\n", table, index, size.Float64/1e6, size.Float64/float64(n))
	}
	return rows.Err()
}
