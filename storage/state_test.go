package storage

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/trialog/trialog/internal/testdb"
)

// BuildState replays an older database's entries once, in log order, and
// marks the state built; a second start does nothing.
func TestBuildState(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	var es []Entry
	for i := 0; i < 2500; i++ {
		e := entry(strconv.Itoa(i))
		if i%2 == 1 {
			e.Type = "counted"
		}
		es = append(es, e)
	}
	for i := 0; i < len(es); i += 500 {
		if _, err := st.Append(ctx, es[i:i+500]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().ExecContext(ctx, `UPDATE trialog_log SET state_built = FALSE`); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	apply := func(ctx context.Context, s State, e Entry) error {
		if e.LeafIndex <= last {
			t.Errorf("entry %d after %d: not in log order", e.LeafIndex, last)
		}
		last = e.LeafIndex
		v, _, err := s.Get(ctx, "count")
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(v))
		s.Put("count", []byte(strconv.Itoa(n+1)))
		return nil
	}
	n, err := st.BuildState(ctx, []string{"counted"}, apply)
	if err != nil || n != 1250 {
		t.Fatalf("BuildState = %d, %v; want 1250 entries", n, err)
	}
	if v, _, _ := st.StateValue(ctx, "count"); string(v) != "1250" {
		t.Fatalf("count = %q, want 1250", v)
	}
	if n, err := st.BuildState(ctx, []string{"counted"}, apply); err != nil || n != 0 {
		t.Fatalf("second BuildState = %d, %v; want nothing done", n, err)
	}
}

// A database at schema version 5 keeps its entries findable by id and by
// reference across the move to hashed references and 16-byte id keys.
func TestMigrationToShortKeys(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, createSchemaTable); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, conn, ComponentTrialog, ms[:5]); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	a, b := entry("old-a"), entry("old-b")
	for i, e := range []Entry{a, b} {
		if _, err := db.ExecContext(ctx, `INSERT INTO trialog_entries (`+entryColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			i, e.ID, e.LeafHash, e.Leaf, e.Type, e.PrincipalID, e.ReceivedAt); err != nil {
			t.Fatal(err)
		}
		for _, r := range append(e.Refs, "shared") {
			if _, err := db.ExecContext(ctx, `INSERT INTO trialog_entry_refs (ref, leaf_index) VALUES (?, ?)`, r, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := Migrate(ctx, db, false); err != nil {
		t.Fatal(err)
	}
	st := New(db)
	if got, err := st.EntriesByRef(ctx, "shared"); err != nil || len(got) != 2 || !bytes.Equal(got[1].ID, b.ID) {
		t.Fatalf("EntriesByRef(shared) after the migration: %d entries, %v", len(got), err)
	}
	if got, err := st.EntriesByRef(ctx, a.Refs[0]); err != nil || len(got) != 1 || !bytes.Equal(got[0].ID, a.ID) {
		t.Fatalf("EntriesByRef(%s): %d entries, %v", a.Refs[0], len(got), err)
	}
	if got, err := st.EntryByID(ctx, b.ID); err != nil || got.LeafIndex != 1 {
		t.Fatalf("EntryByID after the migration: %v, %v", got, err)
	}
	// The unique key still refuses a second copy of an entry.
	if _, err := db.ExecContext(ctx, `INSERT INTO trialog_entries (`+insertColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		2, a.ID, a.LeafHash, a.Leaf, a.Type, a.PrincipalID, a.ReceivedAt, idKey(a.ID)); !isDuplicate(err) {
		t.Fatalf("second copy of an entry: %v, want a duplicate key", err)
	}
}

// An entry id sharing its first 16 bytes with a logged one is refused, not
// answered as the other entry.
func TestIDKeyCollision(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	a := entry("a")
	if _, err := st.Append(ctx, []Entry{a}); err != nil {
		t.Fatal(err)
	}
	c := entry("c")
	c.ID = append(append([]byte{}, a.ID[:16]...), bytes.Repeat([]byte{7}, 16)...)
	res, err := st.Append(ctx, []Entry{c})
	if err != nil || !errors.Is(res[0].Err, ErrIDCollision) || res[0].New {
		t.Fatalf("colliding id: %+v, %v", res, err)
	}
	if _, err := st.EntryByID(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("EntryByID of the colliding id: %v, want not found", err)
	}
}
