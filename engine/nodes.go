package engine

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// NodeBytesPerLeaf is the heap the node store holds per leaf: 32 bytes at
// the leaf level, 32 more over all the levels above, and the leaf index at
// most half full (8 to 16 bytes). TestNodeBytesPerLeaf measures it (78.5 at
// 1M leaves, 79.0 at 1.5M) and fails if it grows past this.
const NodeBytesPerLeaf = 80

// DefaultNodeCacheLeaves is the node store's limit when nothing sizes it:
// 4,194,304 leaves, about 330 MB.
const DefaultNodeCacheLeaves = 1 << 22

// NodeCacheLeavesFor sizes the node store to three quarters of a memory
// limit (the Go runtime's soft limit, or a container's): the rest is left
// to the heap's garbage, request buffers and the MySQL driver, which take
// about 60 MB under P1's load. At the default 224 MiB that is 2,202,009
// leaves: a 2M-entry log serves every proof from memory (P6), and trialogd's
// resident memory at 1M entries stays under 256 MiB (P5). Past the limit,
// proofs come from Trillian and cost several times more (docs/performance.md).
// A limit of zero or less, or none (math.MaxInt64), gives
// DefaultNodeCacheLeaves.
func NodeCacheLeavesFor(memLimit int64) int {
	if memLimit <= 0 || memLimit/4*3/NodeBytesPerLeaf >= DefaultNodeCacheLeaves {
		return DefaultNodeCacheLeaves
	}
	return int(memLimit / 4 * 3 / NodeBytesPerLeaf)
}

// nodeStore keeps, in memory, the hash of every perfect Merkle node of the
// log's tree up to the latest checkpoint (about 2 × 32 bytes per leaf) and an
// index from leaf hashes to leaf indices. Inclusion and consistency proofs for
// any published size are then lookups: no Trillian or MySQL read per proof.
// Nodes are added only after the publisher has checked the new root against
// Trillian's, so the store never holds a tree that was not signed.
//
// It is safe for concurrent use: one writer (the publisher), many readers.
type nodeStore struct {
	mu     sync.RWMutex
	levels []*hashList
	// byLeaf is an open-addressing table from leaf hashes to leaf indices.
	// Slots hold index+1 (0 is empty); keys are not stored: a probe compares
	// the full leaf hash at level 0. About 8 bytes per leaf.
	byLeaf []uint32
	inLeaf uint64 // leaves in byLeaf
}

// hashList is an append-only list of 32-byte hashes in fixed-size chunks, so
// that growth never copies what is already stored.
type hashList struct {
	chunks [][]byte
	n      uint64
}

const chunkHashes = 1 << 14

func (l *hashList) append(h []byte) {
	if l.n%chunkHashes == 0 {
		l.chunks = append(l.chunks, make([]byte, 0, chunkHashes*32))
	}
	c := &l.chunks[len(l.chunks)-1]
	*c = append(*c, h...)
	l.n++
}

func (l *hashList) get(i uint64) []byte {
	c := l.chunks[i/chunkHashes]
	o := (i % chunkHashes) * 32
	return c[o : o+32 : o+32]
}

func newNodeStore() *nodeStore { return &nodeStore{byLeaf: make([]uint32, 64)} }

// indexLeaf adds leaf index i (whose hash is at level 0) to byLeaf, growing
// the table to keep it at most half full. Caller holds mu.
func (s *nodeStore) indexLeaf(i uint64) {
	if i >= 1<<32-1 {
		return // beyond the table's range; lookups fall back to MySQL
	}
	if 2*(s.inLeaf+1) > uint64(len(s.byLeaf)) {
		old := s.byLeaf
		s.byLeaf = make([]uint32, 2*len(old))
		for _, v := range old {
			if v != 0 {
				s.place(uint64(v - 1))
			}
		}
	}
	s.place(i)
	s.inLeaf++
}

func (s *nodeStore) place(i uint64) {
	mask := uint64(len(s.byLeaf) - 1)
	for slot := binary.BigEndian.Uint64(s.levels[0].get(i)) & mask; ; slot = (slot + 1) & mask {
		if s.byLeaf[slot] == 0 {
			s.byLeaf[slot] = uint32(i + 1)
			return
		}
	}
}

// node is one node to add.
type node struct {
	id   compact.NodeID
	hash []byte
}

// size is the number of leaves held.
func (s *nodeStore) size() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.levels) == 0 {
		return 0
	}
	return s.levels[0].n
}

// add appends nodes reported, in order, by a compact range growing from the
// store's size. Each level's nodes must continue where that level ends.
func (s *nodeStore) add(nodes []node) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range nodes {
		for uint(len(s.levels)) <= n.id.Level {
			s.levels = append(s.levels, &hashList{})
		}
		l := s.levels[n.id.Level]
		if n.id.Index != l.n {
			return fmt.Errorf("node store: node %d at level %d does not follow %d", n.id.Index, n.id.Level, l.n)
		}
		l.append(n.hash)
		if n.id.Level == 0 {
			s.indexLeaf(n.id.Index)
		}
	}
	return nil
}

// leafIndex returns the index of the leaf with this hash, if held.
func (s *nodeStore) leafIndex(leafHash []byte) (uint64, bool) {
	if s == nil || len(leafHash) != 32 {
		return 0, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.levels) == 0 {
		return 0, false
	}
	mask := uint64(len(s.byLeaf) - 1)
	for slot := binary.BigEndian.Uint64(leafHash) & mask; ; slot = (slot + 1) & mask {
		v := s.byLeaf[slot]
		if v == 0 {
			return 0, false
		}
		if string(s.levels[0].get(uint64(v-1))) == string(leafHash) {
			return uint64(v - 1), true
		}
	}
}

// hashes looks up the nodes of a proof; ok is false if any is not held.
func (s *nodeStore) hashes(ids []compact.NodeID) ([][]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([][]byte, len(ids))
	for i, id := range ids {
		if uint(len(s.levels)) <= id.Level || s.levels[id.Level].n <= id.Index {
			return nil, false
		}
		out[i] = s.levels[id.Level].get(id.Index)
	}
	return out, true
}

// inclusion returns the inclusion proof of index in the tree of size, or
// ok false if the store does not hold that tree.
func (s *nodeStore) inclusion(index, size uint64) ([][]byte, bool) {
	n, err := proof.Inclusion(index, size)
	return s.proof(n, size, err)
}

// consistency returns the consistency proof from size1 to size2, or ok false
// if the store does not hold the tree of size2.
func (s *nodeStore) consistency(size1, size2 uint64) ([][]byte, bool) {
	n, err := proof.Consistency(size1, size2)
	return s.proof(n, size2, err)
}

// proof looks up a proof's nodes in the tree of size and rehashes its
// ephemeral node.
func (s *nodeStore) proof(n proof.Nodes, size uint64, err error) ([][]byte, bool) {
	if err != nil || s.size() < size {
		return nil, false
	}
	h, ok := s.hashes(n.IDs)
	if !ok {
		return nil, false
	}
	p, err := n.Rehash(h, rfc6962.DefaultHasher.HashChildren)
	return p, err == nil
}

// nodeStore returns the store, or nil when it is off.
func (s *publisher) nodeStore() *nodeStore { return s.nodes.Load() }
