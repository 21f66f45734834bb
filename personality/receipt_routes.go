package personality

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/trialog/trialog/personality/envelope"
	"github.com/trialog/trialog/personality/receipt"
	"github.com/trialog/trialog/storage"
)

// ReceiptContentType is the media type of GET /v1/entries/{id}/receipt: a
// text file, as C2SP tlog-proofs are (docs/receipts.md).
const ReceiptContentType = "text/plain; charset=utf-8"

// errPending marks an entry that exists but is not yet in a published
// checkpoint: it has no receipt yet.
var errPending = errors.New("entry not yet in a published checkpoint")

// receiptHandler serves GET /v1/entries/{id}/receipt (public): the entry's
// receipt against the latest checkpoint, as text. Unknown ids are 404; an
// entry not yet in a published checkpoint is 404 too, with Retry-After,
// since its receipt does not exist yet (409 means a fork in this API, 503
// an outage).
func (a *API) receiptHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
		defer cancel()
		status := http.StatusOK
		rc, err := a.svc.Receipt(ctx, mux.Vars(r)["id"])
		if err != nil {
			if errors.Is(err, errPending) {
				w.Header().Set("Retry-After", retryAfter)
			}
			status = a.writeErr(w, r.WithContext(ctx), err)
		} else {
			w.Header().Set("Content-Type", ReceiptContentType)
			w.WriteHeader(status)
			w.Write(rc.Marshal())
		}
		a.svc.metrics.requests.WithLabelValues("receipt", strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}

// Receipt returns the receipt of an entry (id: 64 hex digits) proven
// against the latest published checkpoint, with the public key of each of
// its signers and the principal.key entry that registered it.
func (s *Service) Receipt(ctx context.Context, id string) (*receipt.Receipt, error) {
	e, err := s.storedEntry(ctx, id)
	if err != nil {
		return nil, err
	}
	cp := s.Published()
	if cp == nil || cp.Size <= uint64(e.LeafIndex) {
		return nil, fmt.Errorf("%w: %w", errPending, errNotFound("entry %s is not yet in a published checkpoint; its receipt exists once it is, usually within a second", id))
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
// principal.key entry that logged it (and its leaf index) and, for a revoked
// key, the leaf index of its revocation; trialogd's own entries are signed
// with the service key, which has no such entry.
func (s *Service) signers(ctx context.Context, e *storage.Entry) ([]receipt.Signer, error) {
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
