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
// file. A crash can leave the previous one, which is an earlier checkpoint
// and still a valid anchor.
func (s *publisher) writeAnchors(p *Published) error {
	for _, path := range s.anchorPaths() {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, p.Note, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return nil
}
