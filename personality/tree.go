package personality

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/google/trillian"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/trialog/trialog/storage"
)

// The Service keeps the compact range of its latest checkpoint's tree (at
// most 64 hashes). From it and the leaf hashes of trialog's own entries it
// computes each new root itself — which must equal Trillian's before
// anything is signed — and the inclusion proofs of the entries the new
// checkpoint adds, so that submitters waiting for their proof cost no reads
// of Trillian's nodes.

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// provenBatch holds the Merkle nodes needed to prove every leaf in
// [from, cp.Size) against cp.
type provenBatch struct {
	from  uint64
	cp    *Published
	nodes map[compact.NodeID][]byte
}

// maxProvenBatch bounds the leaves of one batch whose nodes are kept (about
// 2 nodes of 32 bytes per leaf); larger jumps are proven by Trillian.
const maxProvenBatch = 1 << 15

// recentBatches is how many published batches keep their nodes.
const recentBatches = 16

type batches struct {
	mu   sync.Mutex
	ring []*provenBatch
}

func (b *batches) add(pb *provenBatch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) == recentBatches {
		copy(b.ring, b.ring[1:])
		b.ring = b.ring[:recentBatches-1]
	}
	b.ring = append(b.ring, pb)
}

// find returns the batch whose checkpoint first included index.
func (b *batches) find(index uint64) *provenBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, pb := range b.ring {
		if pb.from <= index && index < pb.cp.Size {
			return pb
		}
	}
	return nil
}

// inclusion computes the inclusion proof of index in pb.cp's tree.
func (pb *provenBatch) inclusion(index uint64) ([][]byte, error) {
	n, err := proof.Inclusion(index, pb.cp.Size)
	if err != nil {
		return nil, err
	}
	hashes := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, ok := pb.nodes[id]
		if !ok {
			return nil, fmt.Errorf("node %+v is not held", id)
		}
		hashes[i] = h
	}
	return n.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

// extend appends leaf hashes to a copy of the compact range rng and returns
// the new range, its root, and, for batches up to maxProvenBatch leaves,
// every node a proof of the new leaves needs.
func extend(rng *compact.Range, leafHashes [][]byte) (*compact.Range, []byte, map[compact.NodeID][]byte, error) {
	next, err := rangeFactory.NewRange(0, rng.End(), append([][]byte(nil), rng.Hashes()...))
	if err != nil {
		return nil, nil, nil, err
	}
	var nodes map[compact.NodeID][]byte
	var visit compact.VisitFn
	if len(leafHashes) <= maxProvenBatch {
		nodes = make(map[compact.NodeID][]byte, 2*len(leafHashes)+64)
		// The old range's nodes are the left siblings of every new leaf's
		// path that lie wholly before the batch.
		for i, id := range compact.RangeNodes(0, rng.End(), nil) {
			nodes[id] = rng.Hashes()[i]
		}
		visit = func(id compact.NodeID, h []byte) { nodes[id] = h }
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
func (s *Service) frontierFor(ctx context.Context, c *storage.Checkpoint) (*compact.Range, error) {
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
		return nil, fmt.Errorf("%w: the compact range of checkpoint %d does not hash to its root", errGuard, c.TreeSize)
	}
	return rng, nil
}

// frontierFromTrillian derives the compact range of the tree of size n: the
// inclusion proof of the last leaf holds exactly the roots of the perfect
// subtrees before it, lowest first.
func (s *Service) frontierFromTrillian(ctx context.Context, n uint64) (*compact.Range, error) {
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
		return nil, fmt.Errorf("%w: Trillian's proof of the last leaf does not have the shape of a compact range", errGuard)
	}
	if err := rng.Append(last[0], nil); err != nil {
		return nil, err
	}
	return rng, nil
}
