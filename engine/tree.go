package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/trillian"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/trialog/trialog/storage"
)

// The publisher keeps the compact range of its latest checkpoint's tree (at
// most 64 hashes). From it and the leaf hashes of trialog's own entries it
// computes each new root itself, which must equal Trillian's before anything
// is signed. With the node store on, it also keeps every node, and proofs are
// served from memory.

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// extend appends leaf hashes to a copy of the compact range rng and returns
// the new range, its root and, if collect is set, every node the new leaves
// complete, in the order a nodeStore takes them.
func extend(rng *compact.Range, leafHashes [][]byte, collect bool) (*compact.Range, []byte, []node, error) {
	next, err := rangeFactory.NewRange(0, rng.End(), append([][]byte(nil), rng.Hashes()...))
	if err != nil {
		return nil, nil, nil, err
	}
	var nodes []node
	var visit compact.VisitFn
	if collect {
		nodes = make([]node, 0, 2*len(leafHashes))
		visit = func(id compact.NodeID, h []byte) { nodes = append(nodes, node{id: id, hash: h}) }
	}
	for _, h := range leafHashes {
		if err := next.Append(h, visit); err != nil {
			return nil, nil, nil, err
		}
	}
	root, err := rootOf(next)
	return next, root, nodes, err
}

func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return r.GetRootHash(nil)
}

// frontierFor returns the compact range of a stored checkpoint's tree: the
// recorded one, or, for a checkpoint stored without it, one rebuilt from
// Trillian's inclusion proof of its last leaf. Either way it must hash to the
// checkpoint's root.
func (s *publisher) frontierFor(ctx context.Context, c *storage.Checkpoint) (*compact.Range, error) {
	var rng *compact.Range
	var err error
	switch {
	case c.TreeSize == 0:
		rng = rangeFactory.NewEmptyRange(0)
	case c.Range != nil:
		rng, err = rangeFactory.NewRange(0, uint64(c.TreeSize), c.Range)
	default:
		rng, err = s.frontierFromTrillian(ctx, uint64(c.TreeSize))
	}
	if err != nil {
		return nil, err
	}
	root, err := rootOf(rng)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, c.RootHash) {
		return nil, fmt.Errorf("%w: the compact range of checkpoint %d does not hash to its root", ErrGuard, c.TreeSize)
	}
	return rng, nil
}

// frontierFromTrillian derives the compact range of the tree of size n: the
// inclusion proof of the last leaf holds exactly the roots of the perfect
// subtrees before it, lowest first.
func (s *publisher) frontierFromTrillian(ctx context.Context, n uint64) (*compact.Range, error) {
	last, err := s.store.LeafHashes(ctx, int64(n-1), int64(n))
	if err != nil {
		return nil, err
	}
	resp, err := s.tclient.GetInclusionProof(ctx, &trillian.GetInclusionProofRequest{LogId: s.treeID, LeafIndex: int64(n - 1), TreeSize: int64(n)})
	if err != nil {
		return nil, err
	}
	hs := resp.GetProof().GetHashes()
	left := make([][]byte, len(hs))
	for i, h := range hs {
		left[len(hs)-1-i] = h
	}
	rng, err := rangeFactory.NewRange(0, n-1, left)
	if err != nil {
		return nil, fmt.Errorf("%w: Trillian's proof of the last leaf does not have the shape of a compact range", ErrGuard)
	}
	if err := rng.Append(last[0], nil); err != nil {
		return nil, err
	}
	return rng, nil
}

// catchUp makes s.front the compact range of last's tree and, with the node
// store on, fills the store up to last's size from the leaf hashes in MySQL:
// at start-up, and after another replica published. A tree that does not hash
// to last's root trips the guard.
func (s *publisher) catchUp(ctx context.Context, last *Published) error {
	if s.nodes.Load() != nil && last.Size > uint64(s.nodeLimit) {
		s.log.Warn("the log outgrew the in-memory node store; proofs now come from Trillian", "size", last.Size, "limit", s.nodeLimit)
		s.nodes.Store(nil)
	}
	if s.front != nil && s.front.End() == last.Size && (s.nodes.Load() == nil || s.nodes.Load().size() == last.Size) {
		return nil
	}
	if s.nodes.Load() == nil {
		c, err := s.store.CheckpointAt(ctx, int64(last.Size))
		if err != nil {
			return err
		}
		s.front, err = s.frontierFor(ctx, c)
		return err
	}
	have := s.nodes.Load().size()
	base := rangeFactory.NewEmptyRange(0)
	if have > 0 {
		hs, ok := s.nodes.Load().hashes(compact.RangeNodes(0, have, nil))
		if !ok {
			return errors.New("node store: compact range not held")
		}
		var err error
		if base, err = rangeFactory.NewRange(0, have, hs); err != nil {
			return err
		}
	}
	start := time.Now()
	const chunk = 100000
	for from := have; from < last.Size; {
		to := min(from+chunk, last.Size)
		hashes, err := s.store.LeafHashes(ctx, int64(from), int64(to))
		if errors.Is(err, storage.ErrMissing) {
			return fmt.Errorf("%w: %v", ErrGuard, err)
		} else if err != nil {
			return err
		}
		var nodes []node
		if base, _, nodes, err = extend(base, hashes, true); err != nil {
			return err
		}
		if err := s.nodes.Load().add(nodes); err != nil {
			return err
		}
		from = to
	}
	root, err := rootOf(base)
	if err != nil {
		return err
	}
	if !bytes.Equal(root, last.Root) {
		s.nodes.Store(newNodeStore())
		s.front = nil
		return fmt.Errorf("%w: trialog's entries [0, %d) do not hash to the checkpoint's root", ErrGuard, last.Size)
	}
	if last.Size > have+chunk {
		s.log.Info("loaded the Merkle tree into memory", "leaves", last.Size, "took", time.Since(start).Round(time.Millisecond))
	}
	s.front = base
	return nil
}
