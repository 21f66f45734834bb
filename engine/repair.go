package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/trialog/trialog/storage"
)

// RepairResult says what RepairTree did.
type RepairResult struct {
	OldTreeID, NewTreeID int64
	// Size is the number of trialog entries fed to the new tree, and Root
	// their RFC 6962 root, which the new tree's root equals.
	Size int64
	Root []byte
	// CheckpointSize is the size of the last signed checkpoint, whose root
	// the entries were checked to reproduce.
	CheckpointSize int64
}

// repairChunk is how many entries RepairTree reads and feeds at a time.
const repairChunk = 1000

// RepairTree moves the log to a new Trillian tree fed from trialog's own
// entries table, for when Trillian's tree holds a leaf that is not
// trialog's (so the consistency guard refuses to sign for ever). It runs
// with every trialogd of the log stopped:
//
//  1. it reads every entry in log order, hashes each leaf itself and checks
//     that the first ones reproduce the root of the last signed checkpoint
//     (so every published checkpoint stays consistent with what follows);
//  2. it creates a new PREORDERED_LOG tree and feeds it every entry at its
//     own index, waits until Trillian has integrated them all, and checks
//     that the new tree's root is the root of trialog's leaves and that
//     Trillian proves it consistent with the last signed checkpoint;
//  3. only then does it switch the log to the new tree. The old tree is
//     left in place, untouched, as evidence.
//
// conn reaches Trillian's admin API; emb is the in-process Trillian, whose
// sequencer RepairTree then drives itself, or nil for an external one.
func RepairTree(ctx context.Context, store *storage.Store, conn *grpc.ClientConn, emb *Embedded, logger *slog.Logger) (*RepairResult, error) {
	lc, err := store.LogConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the log's configuration: %w", err)
	}
	next, err := store.NextIndex(ctx)
	if err != nil {
		return nil, err
	}
	var cpSize int64
	var cpRoot []byte
	switch cp, err := store.LatestCheckpoint(ctx); {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		cpSize, cpRoot = cp.TreeSize, cp.RootHash
	}
	if cpSize > next {
		return nil, fmt.Errorf("the last checkpoint has size %d but trialog holds only %d entries: restore the database first", cpSize, next)
	}

	tc := trillian.NewTrillianLogClient(conn)
	if emb != nil {
		tc = emb.Log
	}
	newID, err := CreateTree(ctx, conn, "trialog")
	if err != nil {
		return nil, err
	}
	logger.Info("repair: feeding a new Trillian tree from trialog's entries", "old_tree_id", lc.TreeID, "new_tree_id", newID, "entries", next, "checkpoint_size", cpSize)

	rng := rangeFactory.NewEmptyRange(0)
	for start := int64(0); start < next; {
		es, err := store.EntriesRange(ctx, start, min(repairChunk, next-start))
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			return nil, fmt.Errorf("entry %d is missing from the entries table", start)
		}
		leaves := make([]*trillian.LogLeaf, len(es))
		for i, e := range es {
			if e.LeafIndex != start+int64(i) {
				return nil, fmt.Errorf("entry %d is missing from the entries table", start+int64(i))
			}
			// SPEC: RFC 6962 §2.1 — leaf hash SHA-256(0x00 ‖ leaf), from the bytes.
			h := rfc6962.DefaultHasher.HashLeaf(e.Leaf)
			if !bytes.Equal(h, e.LeafHash) {
				return nil, fmt.Errorf("entry %d: stored leaf hash %x is not the hash of its leaf %x", e.LeafIndex, e.LeafHash, h)
			}
			if err := rng.Append(h, nil); err != nil {
				return nil, err
			}
			if int64(rng.End()) == cpSize {
				root, err := rootOf(rng)
				if err != nil {
					return nil, err
				}
				if !bytes.Equal(root, cpRoot) {
					return nil, fmt.Errorf("trialog's first %d entries have root %x, not the last signed checkpoint's %x: the entries table does not match what was published; refusing to repair", cpSize, root, cpRoot)
				}
			}
			leaves[i] = &trillian.LogLeaf{LeafValue: e.Leaf, LeafIdentityHash: identityHash(e), LeafIndex: e.LeafIndex}
		}
		resp, err := tc.AddSequencedLeaves(ctx, &trillian.AddSequencedLeavesRequest{LogId: newID, Leaves: leaves})
		if err != nil {
			return nil, fmt.Errorf("AddSequencedLeaves: %w", err)
		}
		for i, r := range resp.GetResults() {
			if c := codes.Code(r.GetStatus().GetCode()); c != codes.OK {
				return nil, fmt.Errorf("AddSequencedLeaves: leaf %d: %v %s", es[i].LeafIndex, c, r.GetStatus().GetMessage())
			}
		}
		start += int64(len(es))
	}
	mine, err := rootOf(rng)
	if err != nil {
		return nil, err
	}

	// Wait for Trillian to integrate every leaf.
	var root types.LogRootV1
	var proofHashes [][]byte
	for {
		if emb != nil {
			if _, err := emb.seq.ExecutePass(ctx, newID, &emb.info); err != nil {
				return nil, fmt.Errorf("integrating the new tree: %w", err)
			}
		}
		resp, err := tc.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: newID, FirstTreeSize: cpSize})
		if err != nil {
			return nil, fmt.Errorf("GetLatestSignedLogRoot: %w", err)
		}
		if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
			return nil, err
		}
		if int64(root.TreeSize) >= next {
			proofHashes = resp.GetProof().GetHashes()
			break
		}
		if emb == nil {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("waiting for Trillian to integrate %d leaves (it has %d): %w", next, root.TreeSize, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if int64(root.TreeSize) != next || !bytes.Equal(root.RootHash, mine) {
		return nil, fmt.Errorf("the new tree's root at size %d (%x) is not the root of trialog's %d entries (%x); the log is left on tree %d", root.TreeSize, root.RootHash, next, mine, lc.TreeID)
	}
	if cpSize > 0 {
		if err := verifyConsistency(&Published{Size: uint64(cpSize), Root: cpRoot}, root.TreeSize, root.RootHash, proofHashes); err != nil {
			return nil, fmt.Errorf("the new tree is not proven consistent with the last signed checkpoint: %w", err)
		}
	}
	if err := store.SwitchTree(ctx, lc.TreeID, newID); err != nil {
		return nil, err
	}
	logger.Info("repair: the log now uses the new tree", "old_tree_id", lc.TreeID, "new_tree_id", newID, "size", next)
	return &RepairResult{OldTreeID: lc.TreeID, NewTreeID: newID, Size: next, Root: mine, CheckpointSize: cpSize}, nil
}
