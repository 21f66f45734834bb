package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/google/trillian"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	"github.com/trialog/trialog/internal/throttle"
	"github.com/trialog/trialog/storage"
)

// pipeline puts entries in the log's order and hands them to Trillian: the
// appender takes submissions off a queue and appends them to MySQL in
// batches (group commit, the durable index); the feeder hands every appended
// entry to Trillian with AddSequencedLeaves, in index order, from the
// appender's batches or, after a restart, a failure or another replica's
// appends, from MySQL.
type pipeline struct {
	store     Store
	tclient   trillian.TrillianLogClient
	treeID    int64
	embedded  *Embedded // kicked after each feed; nil with an external Trillian
	maxBatch  int       // most entries per MySQL transaction
	queueSize int       // most entries waiting for the appender
	log       *slog.Logger
	metrics   *metrics
	fedNew    func() // called after each feed (wakes the publisher)

	queue      chan *appendReq
	queued     atomic.Int64 // entries waiting in queue
	appendWarn *throttle.Throttle
	fed        chan []storage.Entry // appended batches, for the feeder's fast path
	kickF      chan struct{}        // wakes the feeder
}

// appendReq is one submission's entries (one, or a batch's), appended
// together or not at all.
type appendReq struct {
	entries []storage.Entry
	done    chan appendResult
}

type appendResult struct {
	res []storage.Appended
	err error
}

// appendAll hands entries to the appender and waits until they are durable.
// A submission is queued whole or refused whole when the queue is full.
func (s *pipeline) appendAll(ctx context.Context, es []storage.Entry) ([]storage.Appended, error) {
	if len(es) == 0 {
		return nil, nil
	}
	r, err := s.enqueue(es)
	if err != nil {
		return nil, err
	}
	return r.wait(ctx)
}

// enqueue queues es for the appender, whole, or refuses them with
// ErrQueueFull. Submissions are appended in the order they were queued.
func (s *pipeline) enqueue(es []storage.Entry) (*appendReq, error) {
	if s.queued.Add(int64(len(es))) > int64(s.queueSize) && s.queued.Load() > int64(len(es)) {
		s.queued.Add(-int64(len(es)))
		return nil, ErrQueueFull
	}
	r := &appendReq{entries: es, done: make(chan appendResult, 1)}
	select {
	case s.queue <- r:
		return r, nil
	default:
		s.queued.Add(-int64(len(es)))
		return nil, ErrQueueFull
	}
}

// wait waits until r's entries are durable (or failed).
func (r *appendReq) wait(ctx context.Context) ([]storage.Appended, error) {
	select {
	case res := <-r.done:
		return res.res, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// maxBatchBytes keeps one multi-row INSERT well under MySQL's default
// max_allowed_packet (16 MiB) and one AddSequencedLeaves call under gRPC's
// message limit.
const maxBatchBytes = 4 << 20

// appender takes submissions off the queue and appends them in batches: while
// one transaction commits, the next batch gathers (group commit).
func (s *pipeline) appender(ctx context.Context) {
	for {
		var batch []*appendReq
		select {
		case <-ctx.Done():
			return
		case r := <-s.queue:
			batch = append(batch, r)
		}
		n, size := len(batch[0].entries), leafBytes(batch[0].entries)
	gather:
		for n < s.maxBatch && size < maxBatchBytes {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
				n += len(r.entries)
				size += leafBytes(r.entries)
			default:
				break gather
			}
		}
		es := make([]storage.Entry, 0, n)
		for _, r := range batch {
			es = append(es, r.entries...)
		}
		s.queued.Add(-int64(n))
		start := time.Now()
		res, err := s.store.Append(context.WithoutCancel(ctx), es)
		s.metrics.appendSeconds.Observe(time.Since(start).Seconds())
		s.metrics.batchSize.Observe(float64(n))
		if err != nil {
			s.appendWarn.Warn(s.log, "appending entries failed", err, "entries", n)
			err = unavailable(err)
		} else {
			s.appendWarn.Reset()
		}
		var fresh []storage.Entry
		for _, r := range batch {
			if err != nil {
				r.done <- appendResult{err: err}
				continue
			}
			mine := res[:len(r.entries)]
			res = res[len(r.entries):]
			r.done <- appendResult{res: mine}
			for _, a := range mine {
				if a.New && a.Err == nil {
					fresh = append(fresh, a.Entry)
				}
			}
		}
		if len(fresh) > 0 {
			sort.Slice(fresh, func(i, j int) bool { return fresh[i].LeafIndex < fresh[j].LeafIndex })
			select {
			case s.fed <- fresh:
			default: // the feeder is behind; it reads from MySQL instead
			}
			s.kickFeeder()
		}
	}
}

func leafBytes(es []storage.Entry) int {
	n := 0
	for _, e := range es {
		n += len(e.Leaf)
	}
	return n
}

func (s *pipeline) kickFeeder() {
	select {
	case s.kickF <- struct{}{}:
	default:
	}
}

// feeder hands every ordered entry to Trillian with AddSequencedLeaves, in
// index order. It normally takes batches straight from the appender; after a
// restart, a failure, or entries appended by another replica it reads them
// from MySQL, so that no committed entry is ever left out of the tree (a gap
// would stop Trillian's integration).
func (s *pipeline) feeder(ctx context.Context) {
	var fedTo int64 = -1 // every index below fedTo is known to be in Trillian
	t := time.NewTicker(time.Second)
	defer t.Stop()
	backoff := 50 * time.Millisecond
	warn := throttle.New(10 * time.Second)
	for {
		if fedTo < 0 {
			size, err := s.trillianSize(ctx)
			if err == nil {
				fedTo = size
			}
		}
		if fedTo >= 0 {
			if err := s.feedTo(ctx, &fedTo); err != nil {
				if ctx.Err() != nil {
					return
				}
				warn.Warn(s.log, "feeding Trillian failed; retrying", err, "from", fedTo)
				fedTo = -1 // re-read Trillian's size: some of the batch may have landed
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 2*time.Second)
				continue
			}
			backoff = 50 * time.Millisecond
			warn.Reset()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kickF:
		case <-t.C:
		}
	}
}

// feedTo brings Trillian up to the log's order, starting at *fedTo.
func (s *pipeline) feedTo(ctx context.Context, fedTo *int64) error {
	for {
		// Fast path: batches the appender just committed, merged while they
		// are contiguous, so that one feed covers everything waiting.
		var run []storage.Entry
	drain:
		for {
			select {
			case b := <-s.fed:
				if b[len(b)-1].LeafIndex < *fedTo {
					continue // already fed
				}
				if b[0].LeafIndex != *fedTo+int64(len(run)) {
					// Out of step (another replica appended in between, or
					// an earlier batch was dropped): MySQL below has it all.
					break drain
				}
				run = append(run, b...)
			default:
				break drain
			}
		}
		if len(run) > 0 {
			if err := s.addSequenced(ctx, run); err != nil {
				return err
			}
			*fedTo += int64(len(run))
		}
		next, err := s.store.NextIndex(ctx)
		if err != nil {
			return err
		}
		if *fedTo >= next {
			return nil
		}
		es, err := s.store.EntriesRange(ctx, *fedTo, min(next-*fedTo, int64(s.maxBatch)))
		if err != nil {
			return err
		}
		if len(es) == 0 || es[0].LeafIndex != *fedTo {
			return fmt.Errorf("entry %d is missing from trialog_entries", *fedTo)
		}
		if err := s.addSequenced(ctx, es); err != nil {
			return err
		}
		*fedTo = es[len(es)-1].LeafIndex + 1
	}
}

func (s *pipeline) addSequenced(ctx context.Context, es []storage.Entry) error {
	// Trillian's MySQL storage writes sequenced leaves one statement at a
	// time; several calls in flight, each its own transaction over its own
	// slice of indices, keep MySQL busy instead of waiting on round trips.
	defer s.metrics.observe("feed", time.Now())
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(feedParallel)
	for len(es) > 0 {
		n, size := 0, 0
		for n < len(es) && n < feedChunk && (n == 0 || size+len(es[n].Leaf) < maxBatchBytes) {
			size += len(es[n].Leaf)
			n++
		}
		chunk := es[:n]
		es = es[n:]
		g.Go(func() error { return s.addChunk(gctx, chunk) })
	}
	err := g.Wait()
	if s.embedded != nil {
		s.embedded.Kick()
	}
	s.fedNew()
	return err
}

// Feeding parallelism: leaves per AddSequencedLeaves call, calls in flight.
const (
	feedChunk    = 32
	feedParallel = 8
)

// identityHash is the LeafIdentityHash trialog gives Trillian: the leaf
// index, big-endian, then the first 24 bytes of the entry id. trialog
// deduplicates entries itself, so Trillian only needs a unique value; one that
// grows with the index makes Trillian's LeafData table (clustered on it)
// grow at its end instead of at random places, which keeps inserts cheap as
// the tree outgrows MySQL's buffer pool.
func identityHash(e storage.Entry) []byte {
	h := make([]byte, 32)
	binary.BigEndian.PutUint64(h, uint64(e.LeafIndex))
	copy(h[8:], e.ID[:24])
	return h
}

func (s *pipeline) addChunk(ctx context.Context, es []storage.Entry) error {
	leaves := make([]*trillian.LogLeaf, len(es))
	for i, e := range es {
		leaves[i] = &trillian.LogLeaf{LeafValue: e.Leaf, LeafIdentityHash: identityHash(e), LeafIndex: e.LeafIndex}
	}
	resp, err := s.tclient.AddSequencedLeaves(ctx, &trillian.AddSequencedLeavesRequest{LogId: s.treeID, Leaves: leaves})
	if err != nil {
		return fmt.Errorf("AddSequencedLeaves: %w", err)
	}
	for i, r := range resp.GetResults() {
		switch c := codes.Code(r.GetStatus().GetCode()); c {
		case codes.OK, codes.AlreadyExists, codes.FailedPrecondition:
			// FailedPrecondition/AlreadyExists: this index or identity is
			// already in Trillian from an earlier attempt. Whether it holds
			// the same leaf is what the publisher's root check decides.
		default:
			return fmt.Errorf("AddSequencedLeaves: leaf %d: %v %s", es[i].LeafIndex, c, r.GetStatus().GetMessage())
		}
	}
	return nil
}

// trillianSize returns the size of Trillian's latest root.
func (s *pipeline) trillianSize(ctx context.Context) (int64, error) {
	root, err := latestRoot(ctx, s.tclient, s.treeID)
	if err != nil {
		return 0, err
	}
	return int64(root.TreeSize), nil
}
