package engine

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/storage"
)

// Receipt returns the receipt of an entry (id: 64 hex digits) proven
// against the latest published checkpoint, with the public key of each of
// its signers and the principal.key entry that registered it.
func (s *Log) Receipt(ctx context.Context, id string) (*receipt.Receipt, error) {
	e, err := s.storedEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	cp := s.Published()
	if cp == nil || cp.Size <= uint64(e.LeafIndex) {
		return nil, fmt.Errorf("%w: entry %s is not yet in a published checkpoint; its receipt exists once it is, usually within a second", ErrPending, id)
	}
	entry, err := s.entryWithProof(ctx, e, cp)
	if err != nil {
		return nil, err
	}
	signers, err := s.signers(ctx, e)
	if err != nil {
		return nil, err
	}
	return receipt.FromEntry(entry, signers)
}

// signers returns the key of each signature of a stored entry, in order.
// Keys come from the signing principal's registered keys, each with the
// principal.key entry that logged it; trialogd's own entries are signed
// with the service key, which has no such entry.
func (s *Log) signers(ctx context.Context, e *storage.Entry) ([]receipt.Signer, error) {
	_, env, err := envelope.ParseLeaf(e.Leaf)
	if err != nil {
		return nil, fmt.Errorf("stored leaf %d: %w", e.LeafIndex, err)
	}
	keys := map[string]receipt.Signer{}
	if e.PrincipalID == ServicePrincipalID {
		pub := s.ServicePublicKey()
		keys[envelope.KeyID(pub)] = receipt.Signer{PublicKey: pub}
	} else {
		ks, err := s.store.Keys(ctx, e.PrincipalID)
		if err != nil {
			return nil, unavailable(err)
		}
		for _, k := range ks {
			sg := receipt.Signer{PublicKey: k.PublicKey, KeyEntry: hex.EncodeToString(k.EntryID)}
			if k.EntryIndex >= 0 {
				sg.KeyIndex = receipt.Index(k.EntryIndex)
			}
			if k.Revoked() {
				sg.RevokedIndex = receipt.Index(k.RevokedIndex)
			}
			keys[hex.EncodeToString(k.KeyID)] = sg
		}
	}
	out := make([]receipt.Signer, len(env.Signatures))
	for i, sig := range env.Signatures {
		k, ok := keys[sig.KeyID]
		if !ok {
			return nil, fmt.Errorf("entry %d is signed with key %s, which is not registered to its principal %s", e.LeafIndex, sig.KeyID, e.PrincipalID)
		}
		out[i] = k
	}
	return out, nil
}
