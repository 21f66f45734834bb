package storage

import (
	"context"
	"fmt"
)

// SwitchTree makes the log use Trillian tree newID instead of oldID. It
// fails if the log is not on oldID any more.
func (s *Store) SwitchTree(ctx context.Context, oldID, newID int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE trialog_log SET tree_id = ? WHERE id = 1 AND tree_id = ?`, newID, oldID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("the log is no longer on Trillian tree %d; not switched (%v)", oldID, err)
	}
	return nil
}
