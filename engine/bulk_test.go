package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/trialog/trialog/storage"
)

func TestBulkGateDecides(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := newBulkGate(16, 256, 100*time.Millisecond, nil)

	if n, wait, _ := g.decide(t0); n != 256 || wait != 0 {
		t.Fatalf("no single in progress: chunk %d, wait %v; want 256 at once", n, wait)
	}
	g.enter()
	if n, _, _ := g.decide(t0); n != 16 {
		t.Fatalf("first chunk with a single in progress: %d entries, want 16", n)
	}
	n, wait, idle := g.decide(t0.Add(30 * time.Millisecond))
	if n != 0 || wait != 70*time.Millisecond || idle == nil {
		t.Fatalf("30ms later with a single in progress: chunk %d, wait %v, idle %v; want to wait 70ms or for the singles to end", n, wait, idle)
	}
	if n, _, _ := g.decide(t0.Add(100 * time.Millisecond)); n != 16 {
		t.Fatalf("an interval later: chunk %d, want 16", n)
	}
	g.enter()
	g.leave()
	if n, _, _ := g.decide(t0.Add(110 * time.Millisecond)); n != 0 {
		t.Fatalf("one of two singles left: chunk %d, want to wait", n)
	}
	g.leave()
	select {
	case <-idle:
	default:
		t.Fatal("the channel a waiting chunk watches was not closed when the last single ended")
	}
	if n, _, _ := g.decide(t0.Add(110 * time.Millisecond)); n != 256 {
		t.Fatalf("no single in progress again: chunk %d, want 256", n)
	}
}

// A chunk waiting for its interval goes as soon as the singles end, and
// otherwise once the interval has passed.
func TestBulkGateAdmit(t *testing.T) {
	g := newBulkGate(16, 256, time.Hour, time.Now)
	timer := make(chan time.Time)
	waits := make(chan time.Duration, 1)
	g.after = func(d time.Duration) <-chan time.Time { waits <- d; return timer }
	g.enter()
	if n, err := g.admit(context.Background()); err != nil || n != 16 {
		t.Fatalf("first chunk: %d, %v", n, err)
	}
	got := make(chan int)
	go func() {
		n, _ := g.admit(context.Background())
		got <- n
	}()
	<-waits // it waits for the interval
	g.leave()
	if n := <-got; n != 256 {
		t.Fatalf("after the single ended: chunk %d, want 256", n)
	}

	g.enter()
	g.mu.Lock()
	g.last = time.Now().Add(-time.Hour + time.Minute) // the interval ends in a minute
	g.mu.Unlock()
	go func() {
		n, _ := g.admit(context.Background())
		got <- n
	}()
	if d := <-waits; d <= 0 || d > time.Minute {
		t.Fatalf("waiting %v for the interval's end, want at most a minute", d)
	}
	g.mu.Lock()
	g.last = g.last.Add(-time.Minute) // as if the minute had passed
	g.mu.Unlock()
	timer <- time.Now()
	if n := <-got; n != 16 {
		t.Fatalf("after the interval: chunk %d, want 16", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.admit(ctx); err == nil {
		t.Fatal("admit with a done context and a single in progress returned no error")
	}
	g.leave()
}

// recordingStore notes the size of every Append.
type recordingStore struct {
	Store
	mu    sync.Mutex
	sizes []int
}

func (r *recordingStore) Append(ctx context.Context, es []storage.Entry) ([]storage.Appended, error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(es))
	r.mu.Unlock()
	return r.Store.Append(ctx, es)
}

func (r *recordingStore) take() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sizes
	r.sizes = nil
	return s
}

// While a single submission is in progress a batch is appended a chunk per
// interval; with none it goes in one transaction. Either way every entry is
// logged, in the batch's order.
func TestBatchYieldsToSingleSubmissions(t *testing.T) {
	f := newFixture(t)
	rec := &recordingStore{Store: f.store}
	const interval = 20 * time.Millisecond
	l, err := New(context.Background(), Config{
		Origin: testOrigin, DataDir: f.dir, Store: rec, Trillian: f.emb.Conn, Embedded: f.emb,
		Registry: f.reg, CheckpointInterval: 10 * time.Millisecond, BulkChunk: 16, BulkInterval: interval,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.appender(ctx)

	batch := func(from, n int) ([]*Submission, time.Duration) {
		t.Helper()
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i] = signed(l, []byte(fmt.Sprintf(`{"type":"test.note","n":%d}`, from+i)))
		}
		start := time.Now()
		subs, errs := l.SubmitBatch(ctx, l.serviceCaller(), bodies, 0)
		took := time.Since(start)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("envelope %d: %v", i, err)
			}
		}
		for i := 1; i < n; i++ {
			if subs[i].Entry.LeafIndex != subs[i-1].Entry.LeafIndex+1 {
				t.Fatalf("entry %d at leaf %d after leaf %d: the batch's order was not kept", i, subs[i].Entry.LeafIndex, subs[i-1].Entry.LeafIndex)
			}
		}
		return subs, took
	}

	l.bulk.enter() // a single submission in progress throughout
	_, took := batch(0, 64)
	l.bulk.leave()
	if got := rec.take(); !slices.Equal(got, []int{16, 16, 16, 16}) {
		t.Fatalf("with a single submission in progress the batch of 64 was appended in transactions of %v entries, want 4 of 16", got)
	}
	if took < 3*interval {
		t.Fatalf("4 chunks took %v, less than the 3 intervals between them (%v)", took, 3*interval)
	}

	batch(64, 64)
	if got := rec.take(); !slices.Equal(got, []int{64}) {
		t.Fatalf("with no single submission in progress the batch of 64 was appended in transactions of %v entries, want one", got)
	}
}
