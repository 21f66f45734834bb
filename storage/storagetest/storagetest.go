// Package storagetest is the conformance suite of trialog's log store: what
// any implementation of the append path (the log's order, deduplication,
// checks against domain state by key, checkpoints, references) must do.
// Run it from a test with a constructor of empty stores:
//
//	storagetest.Run(t, func(t *testing.T) storagetest.Store { return newStore(t) })
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/storage"
)

// Store is the part of storage.Store the suite exercises.
type Store interface {
	Append(ctx context.Context, es []storage.Entry) ([]storage.Appended, error)
	NextIndex(ctx context.Context) (int64, error)
	EntryByID(ctx context.Context, id []byte) (*storage.Entry, error)
	EntriesByRef(ctx context.Context, ref string) ([]storage.Entry, error)
	StateValue(ctx context.Context, key string) ([]byte, bool, error)
	StoreCheckpoint(ctx context.Context, c storage.Checkpoint) error
	LatestCheckpoint(ctx context.Context) (*storage.Checkpoint, error)
	CheckpointAt(ctx context.Context, size int64) (*storage.Checkpoint, error)
	LeafHashes(ctx context.Context, from, to int64) ([][]byte, error)
	StoreCosigned(ctx context.Context, size int64, note []byte) error
	LatestCosigned(ctx context.Context) (*storage.Checkpoint, error)
}

// Run runs every conformance test, each on a new store from newStore (an
// initialised log with no entries).
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Store)
	}{
		{"AppendDenseIndices", testDense},
		{"AppendDeduplicates", testDedup},
		{"CheckFailures", testCheckFailures},
		{"BatchVisibility", testBatchVisibility},
		{"EntryByIDInCheck", testEntryByID},
		{"Refs", testRefs},
		{"Checkpoints", testCheckpoints},
		{"CosignedCheckpoints", testCosigned},
		{"ConcurrentAppendersOneKey", testConcurrentOneKey},
		{"ConcurrentCreatorsOneKey", testConcurrentCreate},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore(t)) })
	}
}

// Entry returns a test entry named name, indexed under "ref:"+name.
func Entry(name string) storage.Entry {
	id := sha256.Sum256([]byte("id " + name))
	lh := sha256.Sum256([]byte("leaf " + name))
	return storage.Entry{ID: id[:], LeafHash: lh[:], Leaf: []byte(`{"leaf":"` + name + `"}`), Type: "test", PrincipalID: "p1",
		ReceivedAt: time.Date(2026, 11, 23, 14, 0, 0, 123456000, time.UTC), Refs: []string{"ref:" + name}}
}

func mustAppend(t *testing.T, s Store, es ...storage.Entry) []storage.Appended {
	t.Helper()
	res, err := s.Append(context.Background(), es)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if len(res) != len(es) {
		t.Fatalf("Append answered %d results for %d entries", len(res), len(es))
	}
	return res
}

func testDense(t *testing.T, s Store) {
	ctx := context.Background()
	var want int64
	for b := 0; b < 3; b++ {
		var es []storage.Entry
		for i := 0; i < 5; i++ {
			es = append(es, Entry(fmt.Sprintf("d%d-%d", b, i)))
		}
		for _, a := range mustAppend(t, s, es...) {
			if !a.New || a.LeafIndex != want {
				t.Fatalf("entry got index %d (new %v), want %d (new)", a.LeafIndex, a.New, want)
			}
			want++
		}
	}
	if n, err := s.NextIndex(ctx); err != nil || n != want {
		t.Fatalf("NextIndex = %d, %v; want %d", n, err, want)
	}
	hs, err := s.LeafHashes(ctx, 0, want)
	if err != nil || int64(len(hs)) != want {
		t.Fatalf("LeafHashes: %d hashes, %v", len(hs), err)
	}
}

func testDedup(t *testing.T, s Store) {
	res := mustAppend(t, s, Entry("a"), Entry("b"), Entry("a"))
	if !res[0].New || !res[1].New || res[2].New || res[2].LeafIndex != 0 {
		t.Fatalf("batch: %+v %+v %+v; want a, b new and the second a answered with index 0", res[0].New, res[1].New, res[2])
	}
	res = mustAppend(t, s, Entry("b"), Entry("c"))
	if res[0].New || res[0].LeafIndex != 1 || !res[1].New || res[1].LeafIndex != 2 {
		t.Fatalf("second batch: b new=%v at %d, c new=%v at %d; want b old at 1, c new at 2", res[0].New, res[0].LeafIndex, res[1].New, res[1].LeafIndex)
	}
	// A duplicate is answered without running its Check.
	dup := Entry("c")
	dup.Check = func(context.Context, storage.State) error { return errors.New("must not run") }
	if res := mustAppend(t, s, dup); res[0].New || res[0].Err != nil || res[0].LeafIndex != 2 {
		t.Fatalf("resubmission: %+v, want the entry at 2 without a check", res[0])
	}
}

var errRefused = errors.New("refused")

func testCheckFailures(t *testing.T, s Store) {
	ctx := context.Background()
	bad := Entry("bad")
	bad.Check = func(ctx context.Context, st storage.State) error {
		st.Put("k", []byte("from a refused entry"))
		return errRefused
	}
	res := mustAppend(t, s, Entry("x"), bad, Entry("y"))
	if !errors.Is(res[1].Err, errRefused) || res[1].New {
		t.Fatalf("refused entry: %+v", res[1])
	}
	if res[0].LeafIndex != 0 || res[2].LeafIndex != 1 {
		t.Fatalf("indices %d, %d; want 0, 1 (no gap for the refused entry)", res[0].LeafIndex, res[2].LeafIndex)
	}
	if _, err := s.EntryByID(ctx, bad.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refused entry is stored: %v", err)
	}
	if _, ok, err := s.StateValue(ctx, "k"); ok || err != nil {
		t.Fatalf("a refused entry's Put was kept (%v, %v)", ok, err)
	}
	// A batch of refused entries changes nothing.
	res = mustAppend(t, s, bad)
	if res[0].Err == nil {
		t.Fatal("refused entry accepted")
	}
	if n, _ := s.NextIndex(ctx); n != 2 {
		t.Fatalf("NextIndex = %d, want 2", n)
	}
}

// counter is a Check that requires key's value to be want and sets it to
// want+1.
func counter(key string, want int) func(context.Context, storage.State) error {
	return func(ctx context.Context, st storage.State) error {
		v, ok, err := st.Get(ctx, key)
		if err != nil {
			return err
		}
		n := 0
		if ok {
			if n, err = strconv.Atoi(string(v)); err != nil {
				return err
			}
		}
		if n != want {
			return fmt.Errorf("%w: %s is %d, not %d", errRefused, key, n, want)
		}
		st.Put(key, []byte(strconv.Itoa(n+1)))
		return nil
	}
}

func testBatchVisibility(t *testing.T, s Store) {
	ctx := context.Background()
	var es []storage.Entry
	for i := 0; i < 4; i++ {
		e := Entry(fmt.Sprintf("v%d", i))
		e.Check = counter("trial", i)
		es = append(es, e)
	}
	// es[4] expects a value an earlier entry in the batch never left.
	stale := Entry("stale")
	stale.Check = counter("trial", 2)
	es = append(es, stale)
	res := mustAppend(t, s, es...)
	for i := 0; i < 4; i++ {
		if res[i].Err != nil || !res[i].New {
			t.Fatalf("entry %d: %v; each should see the one before it in the batch", i, res[i].Err)
		}
	}
	if !errors.Is(res[4].Err, errRefused) {
		t.Fatalf("stale entry: %v, want refused", res[4].Err)
	}
	if v, ok, err := s.StateValue(ctx, "trial"); err != nil || !ok || string(v) != "4" {
		t.Fatalf("state = %q, %v, %v; want 4", v, ok, err)
	}
	// The next batch sees the committed state.
	e := Entry("v4")
	e.Check = counter("trial", 4)
	if res := mustAppend(t, s, e); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
}

func testEntryByID(t *testing.T, s Store) {
	first := Entry("first")
	mustAppend(t, s, first)
	second := Entry("second")
	third := Entry("third")
	third.Check = func(ctx context.Context, st storage.State) error {
		for _, want := range [][]byte{first.ID, second.ID} {
			e, err := st.EntryByID(ctx, want)
			if err != nil {
				return err
			}
			if !bytes.Equal(e.ID, want) {
				return errors.New("wrong entry")
			}
		}
		missing := sha256.Sum256([]byte("missing"))
		if _, err := st.EntryByID(ctx, missing[:]); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("missing entry: %v", err)
		}
		return nil
	}
	if res := mustAppend(t, s, second, third); res[1].Err != nil {
		t.Fatalf("check of the third entry: %v", res[1].Err)
	}
}

func testRefs(t *testing.T, s Store) {
	ctx := context.Background()
	a, b, c := Entry("ra"), Entry("rb"), Entry("rc")
	a.Refs = []string{"shared", "only-a"}
	c.Refs = []string{"shared"}
	mustAppend(t, s, a, b, c)
	got, err := s.EntriesByRef(ctx, "shared")
	if err != nil || len(got) != 2 || got[0].LeafIndex != 0 || got[1].LeafIndex != 2 {
		t.Fatalf("EntriesByRef(shared) = %d entries, %v; want indices 0 and 2", len(got), err)
	}
	if !bytes.Equal(got[0].Leaf, a.Leaf) || got[0].PrincipalID != "p1" || !got[0].ReceivedAt.Equal(a.ReceivedAt) {
		t.Fatalf("entry read back differs: %+v", got[0])
	}
	if got, _ := s.EntriesByRef(ctx, "nothing"); len(got) != 0 {
		t.Fatalf("unknown ref has %d entries", len(got))
	}
}

func testCheckpoints(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.LatestCheckpoint(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LatestCheckpoint of a new log: %v", err)
	}
	root := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	for _, size := range []int64{1, 5, 3} {
		c := storage.Checkpoint{TreeSize: size, RootHash: root(byte(size)), Note: []byte(fmt.Sprintf("note %d\n", size)), Range: [][]byte{root(9)}}
		if err := s.StoreCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestCheckpoint(ctx)
	if err != nil || latest.TreeSize != 5 || string(latest.Note) != "note 5\n" || len(latest.Range) != 1 {
		t.Fatalf("LatestCheckpoint = %+v, %v; want size 5", latest, err)
	}
	if err := s.StoreCheckpoint(ctx, storage.Checkpoint{TreeSize: 3, RootHash: root(3), Note: []byte("note 3\n")}); err != nil {
		t.Fatalf("storing the same checkpoint again: %v", err)
	}
	if err := s.StoreCheckpoint(ctx, storage.Checkpoint{TreeSize: 3, RootHash: root(4), Note: []byte("other\n")}); err == nil {
		t.Fatal("a second root for size 3 was accepted")
	}
	if c, err := s.CheckpointAt(ctx, 3); err != nil || !bytes.Equal(c.RootHash, root(3)) {
		t.Fatalf("CheckpointAt(3) = %v, %v", c, err)
	}
}

// A checkpoint's cosigned note is kept beside its signed note, replaced
// when re-witnessed; the latest cosigned is the largest size that has one.
func testCosigned(t *testing.T, s Store) {
	ctx := context.Background()
	if _, err := s.LatestCosigned(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LatestCosigned of a new log: %v", err)
	}
	if err := s.StoreCosigned(ctx, 1, []byte("n1+w")); err == nil {
		t.Fatal("cosignatures recorded on a checkpoint that does not exist")
	}
	root := bytes.Repeat([]byte{1}, 32)
	for _, size := range []int64{1, 2} {
		if err := s.StoreCheckpoint(ctx, storage.Checkpoint{TreeSize: size, RootHash: root, Note: []byte("signed")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, note := range []string{"n1+w at t1", "n1+w at t2", "n1+w at t2"} {
		if err := s.StoreCosigned(ctx, 1, []byte(note)); err != nil {
			t.Fatalf("storing %q: %v", note, err)
		}
	}
	c, err := s.LatestCosigned(ctx)
	if err != nil || c.TreeSize != 1 || string(c.Note) != "n1+w at t2" || !bytes.Equal(c.RootHash, root) {
		t.Fatalf("LatestCosigned = %+v, %v", c, err)
	}
	if sc, err := s.CheckpointAt(ctx, 1); err != nil || string(sc.Note) != "signed" {
		t.Fatalf("the signed note changed: %+v, %v", sc, err)
	}
}

// Two appenders, one key: every entry's check reads and bumps one counter;
// none is lost, and the indices stay dense.
func testConcurrentOneKey(t *testing.T, s Store) {
	ctx := context.Background()
	const appenders, perAppender = 2, 30
	var mu sync.Mutex
	accepted := 0
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for a := 0; a < appenders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perAppender; i++ {
				e := Entry(fmt.Sprintf("c%d-%d", a, i))
				e.Check = func(ctx context.Context, st storage.State) error {
					v, _, err := st.Get(ctx, "one-trial")
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					st.Put("one-trial", []byte(strconv.Itoa(n+1)))
					return nil
				}
				res, err := s.Append(ctx, []storage.Entry{e, Entry(fmt.Sprintf("other%d-%d", a, i))})
				if err != nil {
					errs <- err
					return
				}
				if res[0].Err == nil && res[0].New {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if accepted != appenders*perAppender {
		t.Fatalf("%d entries accepted, want %d", accepted, appenders*perAppender)
	}
	v, _, err := s.StateValue(ctx, "one-trial")
	if err != nil || string(v) != strconv.Itoa(accepted) {
		t.Fatalf("counter = %q, %v; want %d (an update was lost)", v, err, accepted)
	}
	n, _ := s.NextIndex(ctx)
	if n != int64(2*accepted) {
		t.Fatalf("NextIndex = %d, want %d", n, 2*accepted)
	}
	if hs, err := s.LeafHashes(ctx, 0, n); err != nil || int64(len(hs)) != n {
		t.Fatalf("indices are not dense: %v", err)
	}
}

// Two appenders create the same new key at once (two registrations of one
// new trial): exactly one wins, the other's check sees the winner's value.
func testConcurrentCreate(t *testing.T, s Store) {
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		key := fmt.Sprintf("new-trial-%d", round)
		var wg sync.WaitGroup
		results := make([]storage.Appended, 2)
		errs := make([]error, 2)
		for a := 0; a < 2; a++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := Entry(fmt.Sprintf("reg%d-%d", round, a))
				e.Check = counter(key, 0)
				res, err := s.Append(ctx, []storage.Entry{e})
				errs[a] = err
				if err == nil {
					results[a] = res[0]
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		won := 0
		for _, r := range results {
			if r.Err == nil && r.New {
				won++
			} else if !errors.Is(r.Err, errRefused) {
				t.Fatalf("loser's answer: %v, want refused", r.Err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d creators won, want exactly 1", round, won)
		}
	}
}
