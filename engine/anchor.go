package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/transparency-dev/formats/log"
)

// ErrRolledBack marks a refused start: the database is behind what the log
// has published.
var ErrRolledBack = errors.New("the database is older than the log's published checkpoints")

// Evidence is a record, kept outside the database, of a checkpoint the log
// published: a witness's cosigned checkpoint, a monitor's copy. A restore of
// the database does not roll it back.
type Evidence interface {
	// Where names the record in messages.
	Where() string
	// Latest returns the latest checkpoint note of this log it holds, or
	// nil if it holds none.
	Latest(ctx context.Context) ([]byte, error)
}

// anchorPaths are the files the anchor is kept in: the data directory's,
// and the anchor file (Config.AnchorFile) if set.
func (s *publisher) anchorPaths() []string {
	ps := []string{filepath.Join(s.dataDir, "checkpoint")}
	if s.anchorFile != "" {
		ps = append(ps, s.anchorFile)
	}
	return ps
}

// readAnchors returns the largest checkpoint found in the anchor files and
// the evidence, and where it was found. Two records of the same size with
// different roots are a fork and refused.
func (s *publisher) readAnchors(ctx context.Context) (*Published, string, error) {
	var best *Published
	var where string
	consider := func(b []byte, from string) error {
		cp, _, _, err := log.ParseCheckpoint(b, s.origin, s.verifier)
		if err != nil {
			return fmt.Errorf("%s does not hold a checkpoint of this log: %w", from, err)
		}
		p := &Published{Size: cp.Size, Root: cp.Hash, Note: b}
		switch {
		case best == nil || p.Size > best.Size:
			best, where = p, from
		case p.Size == best.Size && !bytes.Equal(p.Root, best.Root):
			return fmt.Errorf("%w: %s and %s hold different checkpoints of size %d", ErrRolledBack, from, where, p.Size)
		}
		return nil
	}
	for _, path := range s.anchorPaths() {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		if err := consider(b, path); err != nil {
			return nil, "", err
		}
	}
	for _, e := range s.evidence {
		b, err := e.Latest(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", e.Where(), err)
		}
		if b == nil {
			continue
		}
		if err := consider(b, e.Where()); err != nil {
			return nil, "", err
		}
	}
	return best, where, nil
}

// writeAnchors records a checkpoint just signed and stored in every anchor
// file, durably (writeFileAtomic). A crash can leave the previous one,
// which is an earlier checkpoint and still a valid anchor, never a partial
// file.
func (s *publisher) writeAnchors(p *Published) error {
	for _, path := range s.anchorPaths() {
		if err := writeFileAtomic(path, p.Note, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// SizeEvidence is a record, kept outside the database, of the size of the
// latest tree the log published, where the record holds a size rather than
// a checkpoint: a witness, which answers add-checkpoint with the size it
// last cosigned (C2SP tlog-witness).
type SizeEvidence interface {
	// KnownSizes is shown the latest checkpoint note the database holds
	// (already signed: nothing new is signed) and returns the size each of
	// its records knows. A record that cannot be read is reported in its
	// KnownSize's Err, not as an error: it proves nothing either way.
	KnownSizes(ctx context.Context, signed []byte) ([]KnownSize, error)
}

// KnownSize is one record's answer to SizeEvidence.KnownSizes.
type KnownSize struct {
	// Where names the record in messages.
	Where string
	// Size is the largest tree size of the log it knows; valid when Err is
	// nil.
	Size uint64
	Err  error
}

// checkSizes refuses a start when a size record outside the database knows
// a larger tree than the database's latest checkpoint, stored. Records that
// cannot be read are logged and skipped: publication still needs the
// witness quorum, which refuses a tree inconsistent with what it cosigned.
func (s *publisher) checkSizes(ctx context.Context, stored *Published) error {
	if len(s.sizeEvidence) == 0 {
		return nil
	}
	if stored == nil {
		s.log.Info("the database holds no checkpoint yet; the witnesses are not asked for the size they cosigned")
		return nil
	}
	for _, e := range s.sizeEvidence {
		ks, err := e.KnownSizes(ctx, stored.Note)
		if err != nil {
			return err
		}
		for _, k := range ks {
			if k.Err != nil {
				s.log.Warn("could not ask a witness, at start, for the size of the log it cosigned; the database is not checked against it", "witness", k.Where, "err", k.Err)
				continue
			}
			if k.Size <= stored.Size {
				s.log.Info("a witness's cosigned size is within the database's checkpoints", "witness", k.Where, "witness_size", k.Size, "database_size", stored.Size)
				continue
			}
			// Another process of the log may have signed, and the
			// witnesses cosigned, a larger checkpoint since stored was
			// read: only the database's latest checkpoint now counts.
			if cp, err := s.store.LatestCheckpoint(ctx); err == nil && uint64(cp.TreeSize) >= k.Size {
				continue
			}
			return fmt.Errorf("%w: witness %s cosigned a checkpoint of size %d, but the database's latest checkpoint is of size %d: the database was rolled back or rows were removed; refusing to start (see \"Restore safety\" in docs/operations.md)", ErrRolledBack, k.Where, k.Size, stored.Size)
		}
	}
	return nil
}
