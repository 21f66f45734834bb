package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/testdb"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := Migrate(ctx, db, true); err != nil {
		t.Fatal(err)
	}
	st := New(db)
	if err := st.InitLogConfig(ctx, LogConfig{TreeID: 7, Origin: "o", LogPublicKey: "k", ServicePublicKey: make([]byte, 32)}); err != nil {
		t.Fatal(err)
	}
	return st
}

func entry(name string) Entry {
	id := sha256.Sum256([]byte("id " + name))
	lh := sha256.Sum256([]byte("leaf " + name))
	return Entry{ID: id[:], LeafHash: lh[:], Leaf: []byte(`{"leaf":"` + name + `"}`), Type: "record.digest", PrincipalID: "p1",
		ReceivedAt: time.Date(2026, 11, 23, 14, 0, 0, 123456000, time.UTC), Refs: []string{"sha256:" + name}}
}

func TestAppendOrdersAndDeduplicates(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	res, err := st.Append(ctx, []Entry{entry("a"), entry("b"), entry("a")})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].New || !res[1].New || res[2].New {
		t.Fatalf("new flags %v %v %v, want true true false", res[0].New, res[1].New, res[2].New)
	}
	if res[0].LeafIndex != 0 || res[1].LeafIndex != 1 || res[2].LeafIndex != 0 {
		t.Fatalf("indices %d %d %d, want 0 1 0", res[0].LeafIndex, res[1].LeafIndex, res[2].LeafIndex)
	}
	res, err = st.Append(ctx, []Entry{entry("b"), entry("c")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].New || res[0].LeafIndex != 1 || !res[1].New || res[1].LeafIndex != 2 {
		t.Fatalf("second append: %+v", res)
	}
	if n, _ := st.NextIndex(ctx); n != 3 {
		t.Fatalf("next index %d, want 3", n)
	}
	got, err := st.EntryByIndex(ctx, 2)
	if err != nil || !bytes.Equal(got.Leaf, entry("c").Leaf) || !got.ReceivedAt.Equal(entry("c").ReceivedAt) {
		t.Fatalf("entry 2 = %+v, %v", got, err)
	}
	if _, err := st.EntryByIndex(ctx, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("entry 3: %v, want ErrNotFound", err)
	}
	byRef, err := st.EntriesByRef(ctx, "sha256:b")
	if err != nil || len(byRef) != 1 || byRef[0].LeafIndex != 1 {
		t.Fatalf("by ref: %+v %v", byRef, err)
	}
	hs, err := st.LeafHashes(ctx, 0, 3)
	if err != nil || len(hs) != 3 || !bytes.Equal(hs[2], entry("c").LeafHash) {
		t.Fatalf("leaf hashes: %v", err)
	}
	if _, err := st.LeafHashes(ctx, 0, 4); err == nil {
		t.Fatal("LeafHashes past the end did not fail")
	}
}

func TestConcurrentAppendsAreDense(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	const writers, each = 8, 25
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			for i := 0; i < each; i++ {
				if _, err := st.Append(ctx, []Entry{entry(fmt.Sprintf("%d-%d", w, i))}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	es, err := st.EntriesRange(ctx, 0, writers*each+10)
	if err != nil || len(es) != writers*each {
		t.Fatalf("%d entries, want %d (%v)", len(es), writers*each, err)
	}
	for i, e := range es {
		if e.LeafIndex != int64(i) {
			t.Fatalf("entry %d has index %d: indices are not dense", i, e.LeafIndex)
		}
	}
}

func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if _, err := st.LatestCheckpoint(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest on an empty log: %v", err)
	}
	r := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}
	c := Checkpoint{TreeSize: 3, RootHash: bytes.Repeat([]byte{9}, 32), Note: []byte("note"), Range: r}
	if err := st.StoreCheckpoint(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.StoreCheckpoint(ctx, c); err != nil {
		t.Fatalf("storing the same checkpoint again: %v", err)
	}
	other := c
	other.RootHash = bytes.Repeat([]byte{8}, 32)
	if err := st.StoreCheckpoint(ctx, other); err == nil {
		t.Fatal("a second checkpoint of the same size with another root was stored")
	}
	got, err := st.LatestCheckpoint(ctx)
	if err != nil || got.TreeSize != 3 || len(got.Range) != 2 || !bytes.Equal(got.Range[1], r[1]) || string(got.Note) != "note" {
		t.Fatalf("latest = %+v, %v", got, err)
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if err := Migrate(ctx, st.DB(), true); err != nil {
		t.Fatalf("migrating twice: %v", err)
	}
	var v int
	if err := st.DB().QueryRow(`SELECT version FROM trialog_schema WHERE component = 'trialog'`).Scan(&v); err != nil || v != SchemaVersion() {
		t.Fatalf("schema version %d, want %d (%v)", v, SchemaVersion(), err)
	}
	if _, err := st.DB().Exec(`UPDATE trialog_schema SET version = version + 1 WHERE component = 'trialog'`); err != nil {
		t.Fatal(err)
	}
	err := Migrate(ctx, st.DB(), true)
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade trialogd") {
		t.Fatalf("Migrate on a newer schema = %v, want ErrSchemaTooNew", err)
	}
}

func TestOpenCreatesDatabase(t *testing.T) {
	dsn := testdb.DSN(t) + "_created"
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defer db.Exec("DROP DATABASE " + dsn[strings.LastIndex(dsn, "/")+1:])
	var mode string
	if err := db.QueryRow(`SELECT @@SESSION.sql_mode`).Scan(&mode); err != nil || !strings.Contains(mode, "STRICT_ALL_TABLES") {
		t.Fatalf("sql_mode %q (%v), want STRICT_ALL_TABLES on every connection", mode, err)
	}
	if _, err := Open(context.Background(), "root@tcp(127.0.0.1:3306)/"); err == nil {
		t.Fatal("a DSN without a database was accepted")
	}
}

// TestTrillianSchemaMatchesModule keeps the embedded copy of Trillian's
// schema equal to the one in the Trillian module go.mod selects.
func TestTrillianSchemaMatchesModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/trillian").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	want, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "storage/mysql/schema/storage.sql"))
	if err != nil {
		t.Skipf("Trillian's module source is not in the module cache: %v", err)
	}
	got, err := schemaFS.ReadFile("schema/trillian.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(got, want) {
		t.Fatal("schema/trillian.sql differs from Trillian's storage/mysql/schema/storage.sql")
	}
}
