package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

// TestNodeBytesPerLeaf checks NodeBytesPerLeaf, from which the node store's
// default limit is sized, against the heap the store really holds once it has
// grown to 1<<20 leaves in checkpoint-sized steps.
func TestNodeBytesPerLeaf(t *testing.T) {
	if testing.Short() {
		t.Skip("grows a store to a million leaves")
	}
	for _, n := range []int{1 << 20, 3 << 19} {
		perLeaf := nodeStoreBytes(t, n)
		t.Logf("node store: %.1f bytes per leaf at %d leaves (NodeBytesPerLeaf %d)", perLeaf, n, NodeBytesPerLeaf)
		if perLeaf > NodeBytesPerLeaf {
			t.Fatalf("the node store holds %.1f bytes per leaf at %d leaves, more than NodeBytesPerLeaf (%d) sizes it for", perLeaf, n, NodeBytesPerLeaf)
		}
	}
}

// nodeStoreBytes grows a node store to n leaves and returns the heap it
// holds per leaf.
func nodeStoreBytes(t *testing.T, n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ns := newNodeStore()
	rng := rangeFactory.NewEmptyRange(0)
	for done := 0; done < n; {
		hs := make([][]byte, 0, 4096)
		for j := 0; j < 4096 && done < n; j++ {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(done))
			d := sha256.Sum256(b[:])
			hs = append(hs, rfc6962.DefaultHasher.HashLeaf(d[:]))
			done++
		}
		var nodes []node
		var err error
		rng, _, nodes, err = extend(rng, hs, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.add(nodes); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(ns)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
