package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// State is the domain state by key that an entry's Check reads and updates
// inside an append. Keys and values belong to the statement kinds: the
// store keeps opaque bytes under opaque keys (at most 191 bytes).
//
// Consistency: a Check sees the state committed by earlier appends and the
// Puts of the entries accepted before it in the same batch. Concurrency: Get
// locks the key's row until the append commits or rolls back, so two appends
// that read one key take turns, while appends on other keys do not wait.
// Errors: a failing Get makes the whole append fail (and be retried by the
// caller); Put cannot fail.
type State interface {
	// Get returns the value stored under key and whether there is one.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Put sets key's value. It takes effect only if the Check that calls
	// it returns nil.
	Put(key string, value []byte)
	// EntryByID returns the logged entry with this 32-byte ID (or the one
	// accepted earlier in the same batch), or ErrNotFound. It locks
	// nothing; LeafIndex is -1 for an entry of the same batch.
	EntryByID(ctx context.Context, id []byte) (*Entry, error)
}

const (
	selectStateForUpdate = `SELECT v FROM trialog_state WHERE k = ? FOR UPDATE`
	selectState          = `SELECT v FROM trialog_state WHERE k = ?`
)

// stateRow is a key's value as the append sees it.
type stateRow struct {
	v      []byte
	inDB   bool // the row existed when it was locked
	dirty  bool // v differs from the database
	exists bool // v is a value (false: no row)
}

// txState is the State of one append transaction: rows read are cached and
// locked; each Check's Puts are staged and kept only if the Check passes.
type txState struct {
	tx      *sql.Tx
	rows    map[string]*stateRow
	staged  map[string][]byte
	pending map[string]*Entry
	err     error // a database error met by Get; fails the append
}

func newTxState(tx *sql.Tx) *txState {
	return &txState{tx: tx, rows: map[string]*stateRow{}, pending: map[string]*Entry{}}
}

func (t *txState) begin()   { t.staged = map[string][]byte{} }
func (t *txState) discard() { t.staged = nil }

func (t *txState) keep() {
	for k, v := range t.staged {
		r := t.rows[k]
		if r == nil {
			// Put without Get: lock the row (and learn whether it exists).
			var err error
			if r, _, err = t.load(context.Background(), k); err != nil {
				t.err = err
				return
			}
		}
		r.v, r.exists, r.dirty = v, true, true
	}
	t.staged = nil
}

func (t *txState) load(ctx context.Context, key string) (*stateRow, bool, error) {
	if r, ok := t.rows[key]; ok {
		return r, true, nil
	}
	var v []byte
	err := t.tx.QueryRowContext(ctx, selectStateForUpdate, key).Scan(&v)
	r := &stateRow{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, false, err
	default:
		r.v, r.inDB, r.exists = v, true, true
	}
	t.rows[key] = r
	return r, false, nil
}

func (t *txState) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if v, ok := t.staged[key]; ok {
		return v, true, nil
	}
	r, _, err := t.load(ctx, key)
	if err != nil {
		t.err = err
		return nil, false, err
	}
	return r.v, r.exists, nil
}

func (t *txState) Put(key string, value []byte) {
	if t.staged == nil {
		t.begin()
	}
	t.staged[key] = value
}

func (t *txState) EntryByID(ctx context.Context, id []byte) (*Entry, error) {
	if e, ok := t.pending[string(id)]; ok {
		c := *e
		c.LeafIndex = -1
		return &c, nil
	}
	e, err := entryByID(ctx, t.tx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.err = err
	}
	return e, err
}

// write stores the changed rows: new keys by INSERT (another process that
// inserted the key first makes it a duplicate, and the append runs again),
// locked existing ones by update.
func (t *txState) write(ctx context.Context) error {
	var ins, upd []any
	for k, r := range t.rows {
		if !r.dirty {
			continue
		}
		if r.inDB {
			upd = append(upd, k, r.v)
		} else {
			ins = append(ins, k, r.v)
		}
	}
	if len(ins) > 0 {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO trialog_state (k, v) VALUES `+tuples(len(ins)/2, 2), ins...); err != nil {
			return fmt.Errorf("inserting state: %w", err)
		}
	}
	if len(upd) > 0 {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO trialog_state (k, v) VALUES `+tuples(len(upd)/2, 2)+` ON DUPLICATE KEY UPDATE v = VALUES(v)`, upd...); err != nil {
			return fmt.Errorf("updating state: %w", err)
		}
	}
	return nil
}

// StateValue reads the value committed under key, without locking it: for
// answers that do not log anything, or that a Check confirms under the lock.
func (s *Store) StateValue(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, selectState, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// stateChunk is the number of entries BuildState reads at a time.
const stateChunk = 1000

// BuildState makes trialog_state reflect every logged entry, once: on a
// database whose state was never built (one that predates it), it replays
// the entries of the given types in log order through apply, in one
// transaction that holds the log's lock, and marks the state built. On a
// built database it does nothing. apply records an entry's effect with
// st.Put, as an entry's Check does in Append.
func (s *Store) BuildState(ctx context.Context, types []string, apply func(ctx context.Context, st State, e Entry) error) (int, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var built bool
	var next int64
	err = tx.QueryRowContext(ctx, `SELECT state_built, next_index FROM trialog_log WHERE id = 1 FOR UPDATE`).Scan(&built, &next)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && built) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("locking the log: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM trialog_state`); err != nil {
		return 0, err
	}
	st := newTxState(tx)
	n := 0
	if len(types) > 0 {
		typeArgs := make([]any, len(types))
		for i, t := range types {
			typeArgs[i] = t
		}
		q := `SELECT ` + entryColumns + ` FROM trialog_entries WHERE leaf_index > ? AND leaf_index < ? AND type IN (` + placeholders(len(types)) + `) ORDER BY leaf_index LIMIT ` + fmt.Sprint(stateChunk)
		last := int64(-1)
		for {
			es, err := queryEntries(ctx, tx, q, append([]any{last, next}, typeArgs...)...)
			if err != nil {
				return 0, err
			}
			for _, e := range es {
				st.begin()
				if err := apply(ctx, st, e); err != nil {
					return 0, fmt.Errorf("building state at entry %d: %w", e.LeafIndex, err)
				}
				if st.err != nil {
					return 0, st.err
				}
				st.keep()
				if st.err != nil {
					return 0, st.err
				}
				last = e.LeafIndex
				n++
			}
			if len(es) < stateChunk {
				break
			}
		}
	}
	if err := st.write(ctx); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE trialog_log SET state_built = TRUE WHERE id = 1`); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
