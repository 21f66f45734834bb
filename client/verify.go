package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/envelope"
)

// Verifier checks what a log serves against the log's note key. It caches
// verified checkpoints and is not safe for concurrent use.
type Verifier struct {
	Origin   string
	verifier note.Verifier
	// seen caches checkpoints already verified, by their exact bytes.
	seen map[string]*log.Checkpoint
	// cosigned, if set, is a further check of every checkpoint.
	cosigned func(signed []byte, log note.Verifier) error
}

// RequireCosignatures makes every checkpoint also pass check, such as a
// witness policy's quorum of cosignatures (witness.Policy.Verify).
func (v *Verifier) RequireCosignatures(check func(signed []byte, log note.Verifier) error) {
	v.cosigned = check
	clear(v.seen)
}

// NewVerifier returns a verifier for the log whose note verifier key is vkey
// ("<name>+<hash>+<base64>"). The key's name is the log's origin.
func NewVerifier(vkey string) (*Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("the log key is not a note verifier key (name+hash+base64): %w", err)
	}
	return &Verifier{Origin: v.Name(), verifier: v, seen: map[string]*log.Checkpoint{}}, nil
}

// Checkpoint verifies a signed checkpoint note and returns its contents.
// Each distinct checkpoint's signature is checked once.
func (v *Verifier) Checkpoint(signed []byte) (*log.Checkpoint, error) {
	if cp, ok := v.seen[string(signed)]; ok {
		return cp, nil
	}
	cp, _, _, err := log.ParseCheckpoint(signed, v.Origin, v.verifier)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if v.cosigned != nil {
		if err := v.cosigned(signed, v.verifier); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	if len(v.seen) > 4096 {
		clear(v.seen)
	}
	v.seen[string(signed)] = cp
	return cp, nil
}

// Entry verifies an included entry completely: the checkpoint's signature,
// the leaf's inclusion in it, that the leaf holds the entry's envelope and
// that the entry id is that envelope's. It does not check the statement's
// signature (that needs the signer's key; see envelope.Parsed).
func (v *Verifier) Entry(e *api.Entry) (*envelope.Parsed, *log.Checkpoint, error) {
	if e.Status != api.StatusIncluded || e.InclusionProof == nil || e.Checkpoint == "" {
		return nil, nil, errors.New("the entry is not yet included in a checkpoint")
	}
	cp, err := v.Checkpoint([]byte(e.Checkpoint))
	if err != nil {
		return nil, nil, err
	}
	leaf, err := envelope.DecodeB64(e.Leaf)
	if err != nil {
		return nil, nil, fmt.Errorf("leaf: %w", err)
	}
	lh := rfc6962.DefaultHasher.HashLeaf(leaf)
	if hex.EncodeToString(lh) != e.LeafHash {
		return nil, nil, errors.New("leaf_hash is not the hash of the leaf")
	}
	if e.InclusionProof.LeafIndex != e.LeafIndex || uint64(e.InclusionProof.TreeSize) != cp.Size {
		return nil, nil, errors.New("the inclusion proof is not for this leaf index and checkpoint size")
	}
	if err := VerifyInclusion(e.InclusionProof, lh, cp); err != nil {
		return nil, nil, err
	}
	_, env, err := envelope.ParseLeaf(leaf)
	if err != nil {
		return nil, nil, err
	}
	if env.ID != e.ID {
		return nil, nil, errors.New("the entry id is not the id of the envelope in the leaf")
	}
	return env, cp, nil
}

// VerifyInclusion checks an inclusion proof of leafHash against a
// checkpoint.
func VerifyInclusion(p *api.InclusionProof, leafHash []byte, cp *log.Checkpoint) error {
	hashes, err := decodeHashes(p.Hashes)
	if err != nil {
		return fmt.Errorf("inclusion proof: %w", err)
	}
	if p.LeafIndex < 0 || p.TreeSize < 0 {
		return errors.New("inclusion proof: negative index or size")
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.LeafIndex), cp.Size, leafHash, hashes, cp.Hash); err != nil {
		return fmt.Errorf("inclusion proof: %w", err)
	}
	return nil
}

// VerifyConsistency checks that checkpoint b extends checkpoint a.
func VerifyConsistency(p *api.ConsistencyProof, a, b *log.Checkpoint) error {
	if uint64(p.From) != a.Size || uint64(p.To) != b.Size {
		return errors.New("consistency proof: sizes do not match the checkpoints")
	}
	hashes, err := decodeHashes(p.Hashes)
	if err != nil {
		return fmt.Errorf("consistency proof: %w", err)
	}
	if a.Size == b.Size {
		if !bytes.Equal(a.Hash, b.Hash) {
			return errors.New("two checkpoints of the same size have different roots")
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, b.Size, hashes, a.Hash, b.Hash); err != nil {
		return fmt.Errorf("consistency proof: %w", err)
	}
	return nil
}

func decodeHashes(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := envelope.DecodeB64(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("hash %d is not a base64 SHA-256", i)
		}
		out[i] = b
	}
	return out, nil
}
