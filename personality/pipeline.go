package personality

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/google/trillian"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"

	"github.com/trialog/trialog/personality/envelope"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/storage"
)

// TimeFormat is how received_at is written in leaves: RFC 3339 in UTC with
// exactly microseconds, so that every leaf's time has one spelling.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

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

// Submission is the outcome of a submission.
type Submission struct {
	Entry *Entry
	// New is false when the same envelope was logged before.
	New bool
}

// Submit verifies and logs one envelope for caller. It returns once the
// entry is durable in the log's order; with wait > 0 it also waits, up to
// wait, until a published checkpoint includes the entry and then returns it
// with its inclusion proof.
func (s *Service) Submit(ctx context.Context, caller statement.Caller, body []byte, wait time.Duration) (*Submission, error) {
	e, err := s.prepare(ctx, caller, body)
	if err != nil {
		s.metrics.submissions.WithLabelValues("rejected").Inc()
		return nil, err
	}
	res, err := s.appendAll(ctx, []storage.Entry{*e})
	if err != nil {
		s.metrics.submissions.WithLabelValues("unavailable").Inc()
		return nil, err
	}
	return s.finish(ctx, res[0], wait)
}

// SubmitBatch logs several envelopes, each judged on its own: the i-th
// result answers bodies[i] with either a submission or an error.
func (s *Service) SubmitBatch(ctx context.Context, caller statement.Caller, bodies [][]byte, wait time.Duration) ([]*Submission, []error) {
	subs := make([]*Submission, len(bodies))
	errs := make([]error, len(bodies))
	var es []storage.Entry
	var pos []int
	for i, b := range bodies {
		e, err := s.prepare(ctx, caller, b)
		if err != nil {
			s.metrics.submissions.WithLabelValues("rejected").Inc()
			errs[i] = err
			continue
		}
		es = append(es, *e)
		pos = append(pos, i)
	}
	res, err := s.appendAll(ctx, es)
	if err != nil {
		s.metrics.submissions.WithLabelValues("unavailable").Add(float64(len(pos)))
		for _, i := range pos {
			errs[i] = err
		}
		return subs, errs
	}
	deadline, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for j, i := range pos {
		w := time.Duration(0)
		if wait > 0 {
			if dl, ok := deadline.Deadline(); ok {
				w = max(time.Until(dl), time.Nanosecond)
			}
		}
		subs[i], errs[i] = s.finish(ctx, res[j], w)
	}
	return subs, errs
}

func (s *Service) finish(ctx context.Context, a storage.Appended, wait time.Duration) (*Submission, error) {
	if a.Err != nil {
		s.metrics.submissions.WithLabelValues("rejected").Inc()
		return nil, a.Err
	}
	if a.New {
		s.metrics.submissions.WithLabelValues("new").Inc()
	} else {
		s.metrics.submissions.WithLabelValues("duplicate").Inc()
	}
	sub := &Submission{New: a.New}
	if wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		cp, err := s.WaitPublished(wctx, a.LeafIndex)
		cancel()
		if err == nil {
			e, err := s.entryWithProof(ctx, &a.Entry, cp)
			if err != nil {
				return nil, err
			}
			sub.Entry = e
			return sub, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	// Not waiting, or the wait ran out: the entry as far as known.
	e, err := s.entryAsKnown(ctx, &a.Entry)
	if err != nil {
		return nil, err
	}
	sub.Entry = e
	return sub, nil
}

// prepare checks an envelope completely and builds its leaf. Nothing is
// stored.
func (s *Service) prepare(ctx context.Context, caller statement.Caller, body []byte) (*storage.Entry, error) {
	env, err := envelope.Parse(body)
	if err != nil {
		return nil, err
	}
	// Other payloadTypes than statement.PayloadType are accepted when a
	// statement.Format is registered for them (FHIR Consent, for instance).
	kind, err := s.reg.KindFor(env.PayloadType, env.PayloadBytes)
	if err != nil {
		return nil, err
	}
	if caller.Role != statement.RoleService && !slices.Contains(kind.Roles, caller.Role) {
		if len(kind.Roles) == 0 {
			return nil, fmt.Errorf("%w: %s entries are written only by trialogd itself", statement.ErrForbidden, kind.Name)
		}
		return nil, fmt.Errorf("%w: the %s role may not submit %s", statement.ErrForbidden, caller.Role, kind.Name)
	}
	_, st, err := s.reg.ParseFor(env.PayloadType, env.PayloadBytes)
	if err != nil {
		return nil, err
	}
	keys, err := s.callerKeys(ctx, caller)
	if err != nil {
		return nil, err
	}
	if err := env.VerifySignatures(keys); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	leaf := envelope.MarshalLeaf(envelope.Leaf{Envelope: env.Envelope, ReceivedAt: now.Format(TimeFormat)})
	id, _ := hex.DecodeString(env.ID)
	// Judged in the append, after duplicates are answered: a resubmission
	// of a logged envelope gets its entry, and two statements that
	// contradict each other cannot both pass.
	check := s.entryCheck(kind, caller, st, id)
	return &storage.Entry{
		Check:       check,
		ID:          id,
		LeafHash:    rfc6962.DefaultHasher.HashLeaf(leaf),
		Leaf:        leaf,
		Type:        kind.Name,
		PrincipalID: caller.PrincipalID,
		ReceivedAt:  now,
		Refs:        st.Refs(),
	}, nil
}

func (s *Service) callerKeys(ctx context.Context, caller statement.Caller) (map[string]ed25519.PublicKey, error) {
	if caller.Role == statement.RoleService {
		pub := s.ServicePublicKey()
		return map[string]ed25519.PublicKey{envelope.KeyID(pub): pub}, nil
	}
	keys, err := s.auth.keys(ctx, caller.PrincipalID)
	if err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}

// appendAll hands entries to the appender and waits until they are durable.
// A submission is queued whole or refused whole when the queue is full.
func (s *Service) appendAll(ctx context.Context, es []storage.Entry) ([]storage.Appended, error) {
	if len(es) == 0 {
		return nil, nil
	}
	if s.queued.Add(int64(len(es))) > int64(s.cfg.QueueSize) && s.queued.Load() > int64(len(es)) {
		s.queued.Add(-int64(len(es)))
		return nil, fmt.Errorf("%w: the submission queue is full", ErrUnavailable)
	}
	r := &appendReq{entries: es, done: make(chan appendResult, 1)}
	select {
	case s.queue <- r:
	default:
		s.queued.Add(-int64(len(es)))
		return nil, fmt.Errorf("%w: the submission queue is full", ErrUnavailable)
	}
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
func (s *Service) appender(ctx context.Context) {
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
		for n < s.cfg.MaxBatch && size < maxBatchBytes {
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
			s.appendWarn.warn(s.log, "appending entries failed", err, "entries", n)
			err = unavailable(err)
		} else {
			s.appendWarn.reset()
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

func (s *Service) kickFeeder() {
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
func (s *Service) feeder(ctx context.Context) {
	var fedTo int64 = -1 // every index below fedTo is known to be in Trillian
	t := time.NewTicker(time.Second)
	defer t.Stop()
	backoff := 50 * time.Millisecond
	warn := throttle{period: 10 * time.Second}
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
				warn.warn(s.log, "feeding Trillian failed; retrying", err, "from", fedTo)
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
			warn.reset()
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
func (s *Service) feedTo(ctx context.Context, fedTo *int64) error {
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
		es, err := s.store.EntriesRange(ctx, *fedTo, min(next-*fedTo, int64(s.cfg.MaxBatch)))
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

func (s *Service) addSequenced(ctx context.Context, es []storage.Entry) error {
	// Trillian's MySQL storage writes sequenced leaves one statement at a
	// time; several calls in flight, each its own transaction over its own
	// slice of indices, keep MySQL busy instead of waiting on round trips.
	defer s.observe("feed", time.Now())
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
	if s.cfg.Embedded != nil {
		s.cfg.Embedded.Kick()
	}
	s.kickPublisher()
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

func (s *Service) addChunk(ctx context.Context, es []storage.Entry) error {
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
func (s *Service) trillianSize(ctx context.Context) (int64, error) {
	root, err := s.latestRoot(ctx)
	if err != nil {
		return 0, err
	}
	return int64(root.TreeSize), nil
}

func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (s *Service) observe(stage string, start time.Time) {
	s.metrics.stageSeconds.WithLabelValues(stage).Observe(time.Since(start).Seconds())
}
