package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/tlog"
)

// TestNodeStoreProofs grows a store in uneven batches, as the publisher does,
// and checks every inclusion and consistency proof it serves with
// golang.org/x/mod/sumdb/tlog, an independent implementation.
func TestNodeStoreProofs(t *testing.T) {
	const n = 300
	var leaves [][]byte
	var th []tlog.Hash // tlog's own stored hashes, for roots
	hashAt := func(i int64) (tlog.Hash, error) { return th[i], nil }
	ns := newNodeStore()
	rng := rangeFactory.NewEmptyRange(0)
	r := rand.New(rand.NewPCG(1, 2))
	roots := map[int64]tlog.Hash{}
	for len(leaves) < n {
		batch := 1 + r.IntN(17)
		var hs [][]byte
		for j := 0; j < batch && len(leaves) < n; j++ {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(len(leaves)))
			data := sha256.Sum256(b[:])
			lh := tlog.RecordHash(data[:])
			leaves = append(leaves, lh[:])
			hs = append(hs, lh[:])
			more, err := tlog.StoredHashes(int64(len(leaves)-1), data[:], tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
				out := make([]tlog.Hash, len(idx))
				for k, x := range idx {
					out[k], _ = hashAt(x)
				}
				return out, nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			th = append(th, more...)
		}
		var nodes []node
		var root []byte
		var err error
		rng, root, nodes, err = extend(rng, hs, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.add(nodes); err != nil {
			t.Fatal(err)
		}
		want, err := tlog.TreeHash(int64(len(leaves)), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for k, x := range idx {
				out[k] = th[x]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		if string(root) != string(want[:]) {
			t.Fatalf("root at %d differs from tlog's", len(leaves))
		}
		roots[int64(len(leaves))] = want
	}
	if ns.size() != n {
		t.Fatalf("store holds %d leaves, want %d", ns.size(), n)
	}
	toHashes := func(p [][]byte) []tlog.Hash {
		out := make([]tlog.Hash, len(p))
		for i := range p {
			copy(out[i][:], p[i])
		}
		return out
	}
	for size, root := range roots {
		for i := int64(0); i < size; i++ {
			p, ok := ns.inclusion(uint64(i), uint64(size))
			if !ok {
				t.Fatalf("no inclusion proof for %d in %d", i, size)
			}
			var lh tlog.Hash
			copy(lh[:], leaves[i])
			if err := tlog.CheckRecord(toHashes(p), size, root, i, lh); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
		}
		for old, oroot := range roots {
			if old > size {
				continue
			}
			p, ok := ns.consistency(uint64(old), uint64(size))
			if !ok {
				t.Fatalf("no consistency proof %d→%d", old, size)
			}
			if err := tlog.CheckTree(toHashes(p), size, root, old, oroot); err != nil {
				t.Fatalf("consistency %d→%d: %v", old, size, err)
			}
		}
	}
	for i, lh := range leaves {
		if got, ok := ns.leafIndex(lh); !ok || got != uint64(i) {
			t.Fatalf("leafIndex(leaf %d) = %d %v", i, got, ok)
		}
	}
	if _, ok := ns.leafIndex(make([]byte, 32)); ok {
		t.Fatal("an unknown leaf hash was found")
	}
	if _, ok := ns.inclusion(0, n+1); ok {
		t.Fatal("a proof for a tree larger than the store was served")
	}
	// A node out of order is refused.
	if err := ns.add([]node{{id: compact.NewNodeID(0, n+5), hash: leaves[0]}}); err == nil {
		t.Fatal("a node that does not follow the stored ones was accepted")
	}
}
