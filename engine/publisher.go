package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/trialog/trialog/internal/throttle"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/witness"
)

// publisher signs checkpoints. It holds the latest one, the compact range
// of its tree and the node store, and the consistency guard's state; every
// new root passes PublishOnce's checks before it is signed, stored and
// anchored in the data directory.
type publisher struct {
	store     Store
	tclient   trillian.TrillianLogClient
	treeID    int64
	origin    string
	signer    note.Signer
	verifier  note.Verifier
	dataDir   string        // holds the anchor: the last checkpoint signed here
	interval  time.Duration // how often to look for a new root unkicked
	embedded  *Embedded     // nil with an external Trillian
	nodeLimit int           // largest tree kept in the node store; ≤ 0: none
	log       *slog.Logger
	metrics   *metrics
	now       func() time.Time
	kick      chan struct{} // wakes the publisher

	anchorFile string      // a second anchor, outside the data dir; "" if none
	evidence   []Evidence  // records of published checkpoints outside the database
	mayPublish func() bool // nil, or whether this process may sign now (elected)

	// sizeEvidence are records of published tree sizes outside the
	// database: the witnesses, with a policy.
	sizeEvidence []SizeEvidence

	cpMu    sync.Mutex
	cp      *Published    // latest signed checkpoint (published too without a witness policy)
	cpChang chan struct{} // closed and replaced when Published() changes
	signedC chan struct{} // with a witness policy, closed and replaced when cp changes

	pubMu sync.Mutex                // serialises PublishOnce
	front *compact.Range            // compact range of the latest checkpoint's tree
	nodes atomic.Pointer[nodeStore] // every node up to the latest checkpoint; nil when off

	guardErr atomic.Pointer[string] // set while the consistency guard refuses

	// With a witness policy (witnessing.go):
	witness        *witness.Collector        // nil without a witness policy
	witnessPolicy  *witness.Policy           // the policy witness collects for
	witnessRefresh time.Duration             // how often an idle log's checkpoint is cosigned again
	cosigned       *Published                // latest checkpoint the witness quorum cosigned; under cpMu
	witnessed      atomic.Pointer[Published] // latest cosigned by this process's witness rounds, for persistCosigned
	witnessErr     atomic.Pointer[string]    // set while the witness quorum is not met, or on a standby the leader's cosigned checkpoint cannot be published
	persistC       chan struct{}             // wakes persistCosigned
}

// Published is a checkpoint trialogd signed.
type Published struct {
	Size      uint64
	Root      []byte
	Note      []byte // the signed note, verbatim; with a witness policy, cosigned
	CreatedAt time.Time
	// CosignedAt is, with a witness policy, the oldest cosignature time of
	// the quorum that cosigned Note.
	CosignedAt time.Time
}

func (s *publisher) parsePublished(c *storage.Checkpoint) (*Published, error) {
	cp, _, _, err := log.ParseCheckpoint(c.Note, s.origin, s.verifier)
	if err != nil {
		return nil, err
	}
	if cp.Size != uint64(c.TreeSize) || !bytes.Equal(cp.Hash, c.RootHash) {
		return nil, errors.New("stored checkpoint row disagrees with its note")
	}
	return &Published{Size: cp.Size, Root: cp.Hash, Note: c.Note, CreatedAt: c.CreatedAt}, nil
}

// Published returns the latest published checkpoint, or nil before the
// first one. With a witness policy that is the latest checkpoint the
// quorum cosigned, else the latest signed.
func (s *publisher) Published() *Published {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if s.witness != nil {
		return s.cosigned
	}
	return s.cp
}

// latestSigned returns the latest checkpoint signed, published or not.
func (s *publisher) latestSigned() *Published {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	return s.cp
}

func (s *publisher) setPublished(p *Published) {
	s.cpMu.Lock()
	defer s.cpMu.Unlock()
	if s.cp != nil && p.Size <= s.cp.Size {
		return
	}
	s.cp = p
	if s.metrics != nil {
		s.metrics.treeSize.Set(float64(p.Size))
	}
	s.notifySigned()
}

// WaitPublished waits until a published checkpoint covers leaf index, and
// returns it.
func (s *publisher) WaitPublished(ctx context.Context, index int64) (*Published, error) {
	for {
		s.cpMu.Lock()
		ch := s.cpChang
		s.cpMu.Unlock()
		if cp := s.Published(); cp != nil && cp.Size > uint64(index) {
			return cp, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// loop signs a new checkpoint whenever Trillian's tree has grown, after
// checking that it is consistent with the last one signed.
func (s *publisher) loop(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	var integrated <-chan struct{}
	if s.embedded != nil {
		integrated = s.embedded.Integrated()
	}
	warn := throttle.New(10 * time.Second)
	for {
		if err := s.PublishOnce(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrGuard) {
			warn.Warn(s.log, "publishing a checkpoint failed", err)
		} else if err == nil {
			warn.Reset()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-integrated:
		case <-s.kick:
		}
	}
}

// PublishOnce fetches Trillian's latest root and, if the tree grew, signs
// and stores a new checkpoint — but only if the root is the one trialogd
// computes itself from the last checkpoint's compact range and the leaf
// hashes of its own entries, and if Trillian's consistency proof from the
// last checkpoint verifies. Otherwise it signs nothing, logs an error, counts
// it, and makes Ready fail until a good root comes.
func (s *publisher) PublishOnce(ctx context.Context) error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	last := s.latestSigned()
	stored, err := s.store.LatestCheckpoint(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		stored = nil
	} else if err != nil {
		return err
	}
	if stored != nil && (last == nil || uint64(stored.TreeSize) > last.Size) {
		// Another replica signed a newer one.
		p, err := s.parsePublished(stored)
		if err != nil {
			return s.guardFailed(fmt.Errorf("%w: stored checkpoint of size %d does not verify: %v", ErrGuard, stored.TreeSize, err))
		}
		if last != nil {
			if err := s.checkConsistency(ctx, last, p.Size, p.Root); err != nil {
				return s.guardFailed(err)
			}
		}
		s.setPublished(p)
		last = p
	}
	if last != nil {
		if err := s.catchUp(ctx, last); err != nil {
			if errors.Is(err, ErrGuard) {
				return s.guardFailed(err)
			}
			return err
		}
	}

	if s.mayPublish != nil && !s.mayPublish() {
		return nil
	}
	req := &trillian.GetLatestSignedLogRootRequest{LogId: s.treeID}
	if last != nil {
		req.FirstTreeSize = int64(last.Size)
	}
	resp, err := s.tclient.GetLatestSignedLogRoot(ctx, req)
	if err != nil {
		return fmt.Errorf("GetLatestSignedLogRoot: %w", err)
	}
	var root types.LogRootV1
	if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return s.guardFailed(fmt.Errorf("%w: Trillian returned an unreadable root: %v", ErrGuard, err))
	}
	var from uint64
	base := rangeFactory.NewEmptyRange(0)
	if last != nil {
		switch {
		case root.TreeSize == last.Size:
			if !bytes.Equal(root.RootHash, last.Root) {
				return s.guardFailed(fmt.Errorf("%w: Trillian's root at size %d (%x) differs from the signed checkpoint's (%x)", ErrGuard, root.TreeSize, root.RootHash, last.Root))
			}
			s.guardOK()
			return nil
		case root.TreeSize < last.Size:
			return s.guardFailed(fmt.Errorf("%w: Trillian's tree shrank from %d to %d", ErrGuard, last.Size, root.TreeSize))
		}
		from, base = last.Size, s.front
	}
	next, err := s.store.NextIndex(ctx)
	if err != nil {
		return err
	}
	if root.TreeSize > uint64(next) {
		return s.guardFailed(fmt.Errorf("%w: Trillian's tree has %d leaves but trialog ordered only %d", ErrGuard, root.TreeSize, next))
	}
	hashes, err := s.store.LeafHashes(ctx, int64(from), int64(root.TreeSize))
	if errors.Is(err, storage.ErrMissing) {
		return s.guardFailed(fmt.Errorf("%w: %v", ErrGuard, err))
	} else if err != nil {
		return err
	}
	rng, mine, nodes, err := extend(base, hashes, s.nodes.Load() != nil)
	if err != nil {
		return err
	}
	if last != nil {
		var proofHashes [][]byte
		if resp.GetProof() != nil {
			proofHashes = resp.GetProof().GetHashes()
		}
		if err := verifyConsistency(last, root.TreeSize, root.RootHash, proofHashes); err != nil {
			return s.guardFailed(err)
		}
	}
	// SPEC: RFC 6962 §2.1 — and it must be the root of trialog's own leaves.
	if !bytes.Equal(mine, root.RootHash) {
		return s.guardFailed(fmt.Errorf("%w: Trillian's root at size %d (%x) is not the root of trialog's entries (%x)", ErrGuard, root.TreeSize, root.RootHash, mine))
	}
	if s.mayPublish != nil && !s.mayPublish() {
		return nil
	}
	defer s.metrics.observe("publish", time.Now())
	p, err := s.sign(root.TreeSize, root.RootHash)
	if err != nil {
		return err
	}
	if err := s.store.StoreCheckpoint(ctx, storage.Checkpoint{TreeSize: int64(p.Size), RootHash: p.Root, Note: p.Note, Range: rng.Hashes()}); err != nil {
		return fmt.Errorf("storing checkpoint: %w", err)
	}
	if err := s.writeAnchors(p); err != nil {
		return fmt.Errorf("recording the checkpoint in the anchor: %w", err)
	}
	s.guardOK()
	if s.nodes.Load() != nil {
		if err := s.nodes.Load().add(nodes); err != nil {
			// Out of step: rebuild from MySQL on the next pass.
			s.log.Warn("node store out of step; rebuilding", "err", err)
			s.nodes.Store(newNodeStore())
		}
	}
	s.front = rng
	s.setPublished(p)
	return nil
}

// checkConsistency asks Trillian for a consistency proof from last to
// (size, root) and verifies it.
func (s *publisher) checkConsistency(ctx context.Context, last *Published, size uint64, root []byte) error {
	if size < last.Size {
		return fmt.Errorf("%w: checkpoint of size %d is smaller than the last signed (%d)", ErrGuard, size, last.Size)
	}
	if size == last.Size || last.Size == 0 {
		return verifyConsistency(last, size, root, nil)
	}
	resp, err := s.tclient.GetConsistencyProof(ctx, &trillian.GetConsistencyProofRequest{LogId: s.treeID, FirstTreeSize: int64(last.Size), SecondTreeSize: int64(size)})
	if err != nil {
		return err
	}
	return verifyConsistency(last, size, root, resp.GetProof().GetHashes())
}

// SPEC: RFC 6962 §2.1.2 consistency proof between the last signed tree head
// and the new one.
func verifyConsistency(last *Published, size uint64, root []byte, hashes [][]byte) error {
	if size < last.Size {
		return fmt.Errorf("%w: tree shrank from %d to %d", ErrGuard, last.Size, size)
	}
	if last.Size == 0 {
		return nil // every tree is consistent with the empty one
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, last.Size, size, hashes, last.Root, root); err != nil {
		return fmt.Errorf("%w: Trillian's root of size %d (%x) is not consistent with the checkpoint of size %d (%x)", ErrGuard, size, root, last.Size, last.Root)
	}
	return nil
}

func (s *publisher) sign(size uint64, root []byte) (*Published, error) {
	body := log.Checkpoint{Origin: s.origin, Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("signing checkpoint: %w", err)
	}
	return &Published{Size: size, Root: root, Note: signed, CreatedAt: s.now().UTC()}, nil
}

func (s *publisher) guardFailed(err error) error {
	msg := err.Error()
	if prev := s.guardErr.Swap(&msg); prev == nil || *prev != msg {
		s.log.Error("refusing to sign a checkpoint", "err", err)
	}
	s.metrics.guardFailures.Inc()
	s.metrics.guardFailing.Set(1)
	return err
}

func (s *publisher) guardOK() {
	if s.guardErr.Swap(nil) != nil {
		s.log.Info("consistency guard: Trillian's root is consistent again")
	}
	s.metrics.guardFailing.Set(0)
}

// kickPublisher asks the publisher to look for a new root now.
func (s *publisher) kickPublisher() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}
