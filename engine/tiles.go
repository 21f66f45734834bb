package engine

import (
	"context"
	"fmt"

	"filippo.io/torchwood"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxLeafSize is the largest leaf the log accepts: C2SP tlog-tiles entry
// bundles prefix each entry with a 16-bit length, and the entries are the
// leaves exactly as hashed.
const MaxLeafSize = 0xFFFF

func errLeafTooLarge(n int) error {
	return fmt.Errorf("%w: this statement makes a log entry of %d bytes, over the %d bytes an entry may take; "+
		"split it: put long content such as a dataset's file list in a document and notarize the document's digest "+
		"(e.g. trial.dataset's manifest) instead of listing it in the statement",
		ErrLeafTooLarge, n, MaxLeafSize)
}

// TileWidth is the number of hashes or entries a full tile holds.
const TileWidth = 1 << torchwood.TileHeight

// HashTile returns the C2SP tlog-tiles hash tile t (t.L ≥ 0) of the
// published tree: t.W consecutive hashes of the tree's nodes at level 8·L,
// from index 256·N. A tile the published tree does not cover yet is
// ErrNotFound.
func (s *Log) HashTile(ctx context.Context, t tlog.Tile) ([]byte, error) {
	cp := s.Published()
	if cp == nil {
		return nil, errNoCheckpoint
	}
	first, ok := tileCovered(t, cp.Size)
	if !ok {
		return nil, notFoundf("the published tree (size %d) does not hold this tile yet", cp.Size)
	}
	// SPEC: C2SP tlog-tiles — a level-L tile holds the hashes of the tree's
	// nodes at height 8·L (level 0: the leaf hashes), left to right.
	ids := make([]compact.NodeID, t.W)
	for i := range ids {
		ids[i] = compact.NewNodeID(uint(t.L*torchwood.TileHeight), first+uint64(i))
	}
	if ns := s.nodeStore(); ns != nil {
		if hs, ok := ns.hashes(ids); ok {
			return concat(hs), nil
		}
	}
	if t.L == 0 {
		hs, err := s.store.LeafHashes(ctx, int64(first), int64(first)+int64(t.W))
		if err != nil {
			return nil, unavailable(err)
		}
		return concat(hs), nil
	}
	return nil, fmt.Errorf("%w: hash tiles above level 0 are served from the in-memory Merkle tree, which is off (--node-cache-leaves)", ErrUnavailable)
}

// EntryBundle returns the C2SP tlog-tiles entry bundle t (t.L = -1): the
// leaves 256·N … 256·N+W-1, exactly as hashed, each after its length as a
// big-endian uint16.
func (s *Log) EntryBundle(ctx context.Context, t tlog.Tile) ([]byte, error) {
	cp := s.Published()
	if cp == nil {
		return nil, errNoCheckpoint
	}
	level0 := t
	level0.L = 0
	first, ok := tileCovered(level0, cp.Size)
	if !ok {
		return nil, notFoundf("the published tree (size %d) does not hold this entry bundle yet", cp.Size)
	}
	es, err := s.store.EntriesRange(ctx, int64(first), int64(t.W))
	if err != nil {
		return nil, unavailable(err)
	}
	if len(es) != t.W {
		return nil, fmt.Errorf("entries [%d, %d) are missing from MySQL", first, first+uint64(t.W))
	}
	var out []byte
	for i, e := range es {
		if e.LeafIndex != int64(first)+int64(i) {
			return nil, fmt.Errorf("entry %d is missing from MySQL", int64(first)+int64(i))
		}
		// SPEC: C2SP tlog-tiles log entries — uint16 length, then the entry.
		if out, err = torchwood.AppendTileEntry(out, e.Leaf); err != nil {
			return nil, fmt.Errorf("entry %d (logged before entries were limited to %d bytes) cannot be put in an entry bundle: %w", e.LeafIndex, MaxLeafSize, err)
		}
	}
	return out, nil
}

// tileCovered returns the index of the tile's first node at its level, and
// whether the tree of size holds all W of its nodes.
func tileCovered(t tlog.Tile, size uint64) (uint64, bool) {
	if t.L < 0 || t.N < 0 || t.W < 1 || t.W > TileWidth || t.L*torchwood.TileHeight >= 63 || uint64(t.N) > 1<<54 {
		return 0, false
	}
	first := uint64(t.N) * TileWidth
	nodes := size >> uint(t.L*torchwood.TileHeight) // complete nodes at the tile's level
	return first, first+uint64(t.W) <= nodes
}

func concat(hs [][]byte) []byte {
	out := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		out = append(out, h...)
	}
	return out
}
