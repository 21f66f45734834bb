package witness

import (
	"context"
	"errors"
	"fmt"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// Known is a witness's answer to Probe: the tree size of the log it last
// cosigned, or why it could not tell.
type Known struct {
	Witness string
	// Size is the size it last cosigned (after the probe: at least the
	// probed checkpoint's if it cosigned it). Valid when Err is nil.
	Size uint64
	// Cosigned is set when the witness had no larger tree and cosigned the
	// probed checkpoint.
	Cosigned bool
	Err      error
}

// Probe asks every witness of the policy, in parallel and within the
// timeout, which size of the log it last cosigned, by submitting signed (a
// checkpoint the log already signed; nothing new is signed) from old size 0
// with no proof. It records each size learnt, so that the next Cosign
// starts from it.
//
// SPEC: C2SP tlog-witness add-checkpoint — a witness whose latest cosigned
// size is not the request's old size answers 409 with that size
// (text/x.tlog.size); one that never cosigned a checkpoint of the log
// (size 0) verifies the signature and cosigns this one, which only records
// an already signed checkpoint. There is no cheaper read-only request in
// the protocol.
func (c *Collector) Probe(ctx context.Context, signed []byte) ([]Known, error) {
	n, err := note.Open(signed, note.VerifierList(c.opts.Log))
	if err != nil {
		return nil, fmt.Errorf("the checkpoint to probe with does not verify with the log's key: %w", err)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	size := uint64(cp.N)
	ws := c.opts.Policy.Witnesses
	out := make([]Known, len(ws))
	done := make(chan struct{})
	for i, w := range ws {
		go func() {
			defer func() { done <- struct{}{} }()
			wctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
			defer cancel()
			out[i] = c.probeOne(wctx, w, size, signed)
		}()
	}
	for range ws {
		<-done
	}
	return out, nil
}

func (c *Collector) probeOne(ctx context.Context, w *Witness, size uint64, signed []byte) Known {
	k := Known{Witness: w.Name}
	lines, err := addCheckpoint(ctx, c.opts.HTTPClient, w.AddCheckpointURL(), 0, nil, signed)
	var conflict *ConflictError
	switch {
	case err == nil:
		if err := c.checkCosignature(w, signed, lines); err != nil {
			k.Err = err
			return k
		}
		k.Size, k.Cosigned = size, true
	case errors.As(err, &conflict):
		k.Size = conflict.Known
	default:
		k.Err = err
		return k
	}
	c.setKnown(w.Name, k.Size)
	c.metrics.size.WithLabelValues(w.Name).Set(float64(k.Size))
	return k
}
