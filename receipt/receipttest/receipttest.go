// Package receipttest is an in-memory log for tests of receipts and of
// clients: it signs C2SP checkpoints with a note key and proves inclusion
// and consistency with golang.org/x/mod/sumdb/tlog, sharing no code with
// trialogd.
package receipttest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/statement"
)

// Log is an append-only Merkle log held in memory. It is not safe for
// concurrent use.
type Log struct {
	Origin string
	// VKey is the note verifier key of the log's checkpoints.
	VKey   string
	Signer note.Signer
	leaves [][]byte
	stored []tlog.Hash
}

// Seeded returns a deterministic stream of bytes for key generation.
func Seeded(seed uint64) io.Reader { return rand.NewChaCha8(seedBytes(seed)) }

func seedBytes(seed uint64) [32]byte {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return s
}

// New returns an empty log named origin whose note key comes from rnd.
func New(origin string, rnd io.Reader) (*Log, error) {
	skey, vkey, err := note.GenerateKey(rnd, origin)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	return &Log{Origin: origin, VKey: vkey, Signer: signer}, nil
}

// Size is the number of leaves.
func (l *Log) Size() int64 { return int64(len(l.leaves)) }

// Leaf returns the leaf at index.
func (l *Log) Leaf(index int64) []byte { return l.leaves[index] }

func (l *Log) reader() tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(l.stored)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = l.stored[x]
		}
		return out, nil
	})
}

// Append adds a leaf and returns its index.
func (l *Log) Append(leaf []byte) int64 {
	n := int64(len(l.leaves))
	hs, err := tlog.StoredHashes(n, leaf, l.reader())
	if err != nil {
		panic(err)
	}
	l.stored = append(l.stored, hs...)
	l.leaves = append(l.leaves, leaf)
	return n
}

// Root is the root hash of the tree of the first size leaves.
func (l *Log) Root(size int64) []byte {
	h, err := tlog.TreeHash(size, l.reader())
	if err != nil {
		panic(err)
	}
	return h[:]
}

// Checkpoint returns the signed checkpoint of the tree of size leaves.
func (l *Log) Checkpoint(size int64) []byte {
	return l.Sign(log.Checkpoint{Origin: l.Origin, Size: uint64(size), Hash: l.Root(size)})
}

// Sign signs any checkpoint body with the log's key, such as one for a
// forked tree.
func (l *Log) Sign(cp log.Checkpoint) []byte {
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, l.Signer)
	if err != nil {
		panic(err)
	}
	return b
}

// InclusionProof proves leaf index in the tree of size leaves.
func (l *Log) InclusionProof(index, size int64) [][]byte {
	p, err := tlog.ProveRecord(size, index, l.reader())
	if err != nil {
		panic(err)
	}
	return hashes(p)
}

// ConsistencyProof proves that the tree of size from is a prefix of the
// tree of size to.
func (l *Log) ConsistencyProof(from, to int64) [][]byte {
	p, err := tlog.ProveTree(to, from, l.reader())
	if err != nil {
		panic(err)
	}
	return hashes(p)
}

func hashes[T ~[]tlog.Hash](p T) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = append([]byte(nil), p[i][:]...)
	}
	return out
}

// B64s encodes hashes as standard base64.
func B64s(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// Entry returns the API entry at index, proven against the checkpoint of
// the tree of size leaves, as trialogd serves it.
func (l *Log) Entry(index, size int64) *api.Entry {
	leaf := l.leaves[index]
	dl, pe, err := envelope.ParseLeaf(leaf)
	if err != nil {
		panic(err)
	}
	lh := tlog.RecordHash(leaf)
	return &api.Entry{
		ID: pe.ID, Status: api.StatusIncluded, LeafIndex: index,
		Leaf: base64.StdEncoding.EncodeToString(leaf), LeafHash: hex.EncodeToString(lh[:]),
		ReceivedAt: dl.ReceivedAt, Envelope: dl.Envelope, Statement: json.RawMessage(pe.PayloadBytes),
		InclusionProof: &api.InclusionProof{LeafIndex: index, TreeSize: size, Hashes: B64s(l.InclusionProof(index, size))},
		Checkpoint:     string(l.Checkpoint(size)),
	}
}

// Receipt returns the receipt of the leaf at index against the checkpoint
// of the tree of size leaves.
func (l *Log) Receipt(index, size int64, signers []receipt.Signer) *receipt.Receipt {
	return &receipt.Receipt{
		Signers: signers, Leaf: l.leaves[index], LeafIndex: uint64(index),
		Proof: l.InclusionProof(index, size), Checkpoint: l.Checkpoint(size),
	}
}

// Key is a deterministic Ed25519 key.
func Key(seed uint64) ed25519.PrivateKey {
	s := seedBytes(seed)
	return ed25519.NewKeyFromSeed(s[:])
}

// Leaf is the leaf the log writes for payload signed by priv, received at.
func Leaf(payload []byte, receivedAt string, privs ...ed25519.PrivateKey) []byte {
	env := envelope.Sign(statement.PayloadType, payload, privs[0])
	for _, p := range privs[1:] {
		env.Signatures = append(env.Signatures, envelope.Sign(statement.PayloadType, payload, p).Signatures[0])
	}
	return envelope.MarshalLeaf(envelope.Leaf{Envelope: env, ReceivedAt: receivedAt})
}

// DigestStatement is a record.digest statement for a document digest (hex).
func DigestStatement(sha256Hex string) []byte {
	b, _ := json.Marshal(map[string]any{
		"type":       "record.digest",
		"digest":     map[string]string{"sha256": sha256Hex},
		"media_type": "application/pdf",
		"source":     "ehr.test.example",
		"issued_at":  "2026-11-23T14:00:00Z",
	})
	return b
}

// Signer is the receipt signer of a private key.
func Signer(priv ed25519.PrivateKey, keyEntry string) receipt.Signer {
	return receipt.Signer{PublicKey: priv.Public().(ed25519.PublicKey), KeyEntry: keyEntry}
}
