package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// StoreCosigned records the cosigned note of the stored checkpoint of this
// size, replacing an earlier one (a re-witnessed checkpoint carries newer
// cosignatures). A size with no stored checkpoint is an error.
func (s *Store) StoreCosigned(ctx context.Context, size int64, note []byte) error {
	res, err := s.db.ExecContext(ctx, `UPDATE trialog_checkpoints SET cosigned_note = ? WHERE tree_size = ?`, string(note), size)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		// MySQL counts only changed rows: the same note again is fine.
		if _, err := s.CheckpointAt(ctx, size); err != nil {
			return fmt.Errorf("no checkpoint of size %d to record cosignatures on: %w", size, err)
		}
	}
	return nil
}

// LatestCosigned returns the largest checkpoint recorded with a cosigned
// note, its Note being the cosigned one, or ErrNotFound.
func (s *Store) LatestCosigned(ctx context.Context) (*Checkpoint, error) {
	var c Checkpoint
	var note string
	err := s.db.QueryRowContext(ctx, `SELECT tree_size, root_hash, cosigned_note, created_at FROM trialog_checkpoints WHERE cosigned_note IS NOT NULL ORDER BY tree_size DESC LIMIT 1`).
		Scan(&c.TreeSize, &c.RootHash, &note, &c.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.Note = []byte(note)
	return &c, nil
}
