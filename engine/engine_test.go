package engine

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// These tests drive the engine's steps one at a time — append, feed,
// sequence, publish — on a real MariaDB and Trillian running in-process,
// with a Trillian client that can be made to lie.

const testOrigin = "engine.test.example/log"

// testNote is the one statement kind these tests log: the engine knows no other.
type testNote struct {
	Kind string `json:"type"`
	N    int    `json:"n"`
}

func (n *testNote) Type() string   { return "test.note" }
func (n *testNote) Refs() []string { return []string{fmt.Sprintf("note:%d", n.N)} }

func testRegistry() *statement.Registry {
	r := statement.NewRegistry()
	r.Register(statement.Kind{Name: "test.note", Parse: func(p []byte) (statement.Statement, error) {
		var n testNote
		if err := statement.Decode("test.note", p, &n); err != nil {
			return nil, err
		}
		return &n, nil
	}})
	return r
}

type fixture struct {
	db    *sql.DB
	store *storage.Store
	emb   *Embedded
	dir   string
	reg   *statement.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := storage.Open(ctx, testdb.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := storage.Migrate(ctx, db, true); err != nil {
		t.Fatal(err)
	}
	emb, err := StartEmbedded(ctx, db, EmbeddedOptions{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Close)
	return &fixture{db: db, store: storage.New(db), emb: emb, dir: t.TempDir(), reg: testRegistry()}
}

// open starts a Log on the fixture's database and data directory, as a
// restarted trialogd would; client, if set, stands between it and Trillian.
func (f *fixture) open(t *testing.T, client trillian.TrillianLogClient) *Log {
	t.Helper()
	l, err := New(context.Background(), Config{
		Origin: testOrigin, DataDir: f.dir, Store: f.store, Trillian: f.emb.Conn, Embedded: f.emb,
		Client: client, Registry: f.reg, CheckpointInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendNotes appends n notes straight to MySQL, as the appender does,
// and returns them: durable in the log's order, not yet in Trillian.
func appendNotes(t *testing.T, l *Log, from, n int) []storage.Entry {
	t.Helper()
	ctx := context.Background()
	var es []storage.Entry
	for i := from; i < from+n; i++ {
		payload := []byte(fmt.Sprintf(`{"type":"test.note","n":%d}`, i))
		e, err := l.prepare(ctx, l.serviceCaller(), signed(l, payload))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, *e)
	}
	res, err := l.store.Append(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]storage.Entry, len(res))
	for i, a := range res {
		if a.Err != nil || !a.New {
			t.Fatalf("append %d: new=%v err=%v", i, a.New, a.Err)
		}
		out[i] = a.Entry
	}
	return out
}

// signed is an envelope of payload signed with the log's service key.
func signed(l *Log, payload []byte) []byte {
	b, _ := json.Marshal(envelope.Sign(statement.PayloadType, payload, l.svcKey))
	return b
}

// sequence runs the in-process sequencer until Trillian has integrated
// everything fed to it.
func (f *fixture) sequence(t *testing.T, l *Log) {
	t.Helper()
	for {
		n, err := f.emb.seq.ExecutePass(context.Background(), l.treeID, &f.emb.info)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// feedAll feeds Trillian from MySQL as the feeder does after a restart.
func feedAll(t *testing.T, l *Log) {
	t.Helper()
	size, err := l.trillianSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.feedTo(context.Background(), &size); err != nil {
		t.Fatal(err)
	}
}

func storedSize(t *testing.T, f *fixture) int64 {
	t.Helper()
	cp, err := f.store.LatestCheckpoint(context.Background())
	if errors.Is(err, storage.ErrNotFound) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	return cp.TreeSize
}

func anchorSize(t *testing.T, l *Log) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.cfg.DataDir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := log.ParseCheckpoint(b, l.origin, l.verifier)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

// liar is a Trillian client that can change the roots Trillian answers.
type liar struct {
	trillian.TrillianLogClient
	mu   sync.Mutex
	root func(*types.LogRootV1) // rewrites each root while set
}

func (c *liar) lie(f func(*types.LogRootV1)) { c.mu.Lock(); c.root = f; c.mu.Unlock() }

func (c *liar) GetLatestSignedLogRoot(ctx context.Context, in *trillian.GetLatestSignedLogRootRequest, opts ...grpc.CallOption) (*trillian.GetLatestSignedLogRootResponse, error) {
	resp, err := c.TrillianLogClient.GetLatestSignedLogRoot(ctx, in, opts...)
	c.mu.Lock()
	f := c.root
	c.mu.Unlock()
	if err != nil || f == nil {
		return resp, err
	}
	var root types.LogRootV1
	if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return nil, err
	}
	f(&root)
	b, err := root.MarshalBinary()
	if err != nil {
		return nil, err
	}
	resp.SignedLogRoot.LogRoot = b
	return resp, nil
}

// TestGuardRefusesInconsistentRoot: a root that is not the root of the
// log's own entries, or a tree that shrank, is never signed: nothing is
// stored or anchored, Ready says why, and signing resumes once Trillian
// answers truthfully.
func TestGuardRefusesInconsistentRoot(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := &liar{TrillianLogClient: f.emb.Log}
	l := f.open(t, c)

	appendNotes(t, l, 0, 3)
	feedAll(t, l)
	f.sequence(t, l)
	if err := l.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.Published().Size; got != 3 {
		t.Fatalf("published size %d, want 3", got)
	}

	appendNotes(t, l, 3, 2)
	feedAll(t, l)
	f.sequence(t, l)
	for name, lie := range map[string]func(*types.LogRootV1){
		"another root": func(r *types.LogRootV1) { r.RootHash = bytes.Repeat([]byte{7}, 32) },
		"shrunk tree":  func(r *types.LogRootV1) { r.TreeSize = 2 },
		"same size, other root": func(r *types.LogRootV1) {
			r.TreeSize = 3
			r.RootHash = bytes.Repeat([]byte{9}, 32)
		},
	} {
		c.lie(lie)
		err := l.PublishOnce(ctx)
		if !errors.Is(err, ErrGuard) {
			t.Fatalf("%s: PublishOnce = %v, want the guard's refusal", name, err)
		}
		if got := l.Published().Size; got != 3 {
			t.Fatalf("%s: published size %d after a refused root, want 3", name, got)
		}
		if got := storedSize(t, f); got != 3 {
			t.Fatalf("%s: stored checkpoint size %d after a refused root, want 3", name, got)
		}
		if got := anchorSize(t, l); got != 3 {
			t.Fatalf("%s: anchored checkpoint size %d after a refused root, want 3", name, got)
		}
		if err := l.Ready(ctx); err == nil || !strings.Contains(err.Error(), "checkpoint guard") {
			t.Fatalf("%s: Ready = %v while the guard refuses", name, err)
		}
	}

	c.lie(nil)
	if err := l.PublishOnce(ctx); err != nil {
		t.Fatalf("PublishOnce with Trillian truthful again: %v", err)
	}
	if got := l.Published().Size; got != 5 {
		t.Fatalf("published size %d, want 5", got)
	}
	if err := l.Ready(ctx); err != nil {
		t.Fatalf("Ready after the guard cleared: %v", err)
	}
}

// TestCatchUpFillsGapAfterCrash: entries committed to MySQL but fed to
// Trillian only in part (a crash between commit and feed) are fed by the
// next start, in order, and published.
func TestCatchUpFillsGapAfterCrash(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	before := f.open(t, nil)
	es := appendNotes(t, before, 0, 7)
	if err := before.addSequenced(ctx, es[:3]); err != nil { // the first three made it
		t.Fatal(err)
	}
	// "Crash": before is dropped without running. A new process starts.
	after := f.open(t, nil)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { after.Run(runCtx); close(done) }()
	t.Cleanup(func() { stop(); <-done })

	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cp, err := after.WaitPublished(wctx, 6)
	if err != nil {
		t.Fatalf("the entries left unfed were not published: %v", err)
	}
	if cp.Size != 7 {
		t.Fatalf("published size %d, want 7", cp.Size)
	}
	// Every entry is in the signed tree at its own index.
	for _, e := range es {
		p, err := after.InclusionProof(ctx, e.LeafIndex, int64(cp.Size))
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(e.LeafIndex), cp.Size, e.LeafHash, decode(t, p.Hashes), cp.Root); err != nil {
			t.Fatalf("entry %d: %v", e.LeafIndex, err)
		}
	}
}

// TestCatchUpRebuildsNodes: a restarted log loads the Merkle nodes from the
// leaf hashes in MySQL and serves the proofs Trillian would; leaf hashes
// altered behind its back trip the guard instead.
func TestCatchUpRebuildsNodes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first := f.open(t, nil)
	appendNotes(t, first, 0, 11)
	feedAll(t, first)
	f.sequence(t, first)
	if err := first.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}

	second := f.open(t, nil)
	if err := second.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ns := second.nodeStore()
	if ns == nil || ns.size() != 11 {
		t.Fatalf("node store after catch-up: %v", ns)
	}
	for i := int64(0); i < 11; i++ {
		mem, ok := ns.inclusion(uint64(i), 11)
		if !ok {
			t.Fatalf("leaf %d: no proof from memory", i)
		}
		resp, err := f.emb.Log.GetInclusionProof(ctx, &trillian.GetInclusionProofRequest{LogId: second.treeID, LeafIndex: i, TreeSize: 11})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(mem) != fmt.Sprint(resp.GetProof().GetHashes()) {
			t.Fatalf("leaf %d: the node store's proof differs from Trillian's", i)
		}
	}

	if _, err := f.db.ExecContext(ctx, `UPDATE trialog_entries SET leaf_hash = ? WHERE leaf_index = 4`, bytes.Repeat([]byte{1}, 32)); err != nil {
		t.Fatal(err)
	}
	third := f.open(t, nil)
	if err := third.PublishOnce(ctx); !errors.Is(err, ErrGuard) {
		t.Fatalf("PublishOnce over an altered leaf hash = %v, want the guard's refusal", err)
	}
}

func decode(t *testing.T, hs []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestFeedOutOfStep: the feeder's fast path takes the appender's batches
// only while they follow on from what Trillian has; a batch out of step (a
// dropped batch, another replica's entries in between) or already fed sends
// it to MySQL, and Trillian still gets every entry once, in order.
func TestFeedOutOfStep(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := f.open(t, nil)
	es := appendNotes(t, l, 0, 6)
	l.fed <- es[:2]  // in step
	l.fed <- es[4:6] // out of step: 2 and 3 were never handed over
	var fedTo int64
	if err := l.feedTo(ctx, &fedTo); err != nil {
		t.Fatal(err)
	}
	if fedTo != 6 {
		t.Fatalf("fed to %d, want 6", fedTo)
	}
	l.fed <- es[:2] // already fed: skipped
	if err := l.feedTo(ctx, &fedTo); err != nil || fedTo != 6 {
		t.Fatalf("feeding a batch again: fedTo %d, %v", fedTo, err)
	}
	f.sequence(t, l)
	if err := l.PublishOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.Published().Size; got != 6 {
		t.Fatalf("published size %d, want 6", got)
	}
}
