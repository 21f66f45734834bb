package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrMissing means entries that the log's order says exist are not in the
// entries table: rows were removed behind trialogd's back.
var ErrMissing = errors.New("entries missing from the log's order")

// Entry is a row of the log's order.
type Entry struct {
	LeafIndex   int64
	ID          []byte // 32 bytes
	LeafHash    []byte // 32 bytes, RFC 6962 leaf hash of Leaf
	Leaf        []byte // exact leaf bytes
	Type        string
	PrincipalID string
	ReceivedAt  time.Time
	Refs        []string // index keys; written, not read back

	// KeyIDs are the ids of the keys that signed the entry, for a principal's
	// entry (nil for trialogd's own). Append refuses, with a
	// *KeyRevokedError, an entry signed with a key revoked in the log, under
	// the same lock that orders revocations. Not stored.
	KeyIDs [][]byte

	// Check, if set, decides whether the entry may join the log given what
	// the log holds. Append calls it while it holds the log's append lock,
	// so that no other append can change the answer before this one
	// commits. Not stored.
	Check func(ctx context.Context, r RefReader) error
}

// RefReader reads entries by index reference inside an append: it sees the
// committed log and the entries accepted earlier in the same batch.
type RefReader interface {
	EntriesByRef(ctx context.Context, ref string) ([]Entry, error)
}

// Appended is the outcome of appending one entry.
type Appended struct {
	Entry
	// New is false when an entry with the same ID was already in the log;
	// Entry is then that earlier entry.
	New bool
	// Err is the entry's Check error; the entry was not appended.
	Err error
}

const (
	lockNextIndex   = `SELECT next_index FROM trialog_log WHERE id = 1 FOR UPDATE`
	updateNextIndex = `UPDATE trialog_log SET next_index = ? WHERE id = 1`
	entryColumns    = `leaf_index, id, leaf_hash, leaf, type, principal_id, received_at`
	selectNextIndex = `SELECT next_index FROM trialog_log WHERE id = 1`
	selectByRef     = `SELECT e.leaf_index, e.id, e.leaf_hash, e.leaf, e.type, e.principal_id, e.received_at
  FROM trialog_entry_refs r JOIN trialog_entries e ON e.leaf_index = r.leaf_index WHERE r.ref = ? ORDER BY r.leaf_index`
)

// Append gives each new entry the next leaf index and commits them in one
// transaction, together with their index references. Entries whose ID is
// already in the log (or earlier in the same batch) get no new index: the
// result holds the entry logged first. An entry whose Check fails gets no
// index either; its result carries the error. The i-th result answers es[i].
//
// Appends from several processes take turns on the trialog_log row lock, so
// indices are dense and unique. Once Append returns, the entries are durable.
func (s *Store) Append(ctx context.Context, es []Entry) ([]Appended, error) {
	if len(es) == 0 {
		return nil, nil
	}
	return s.AppendAtomic(ctx, es, nil)
}

// AppendAtomic appends es as Append does and then, in the same transaction
// and still under the log's append lock, calls then with the results (then
// may be nil). If then fails, nothing is appended and nothing then wrote is
// kept: the error is returned. The credential changes that go with their log
// entries (a key and its principal.key entry, a revocation and its entry)
// are stored this way, so that neither exists without the other.
func (s *Store) AppendAtomic(ctx context.Context, es []Entry, then func(ctx context.Context, tx *sql.Tx, res []Appended) error) ([]Appended, error) {
	out := make([]Appended, len(es))
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var next int64
		if err := tx.QueryRowContext(ctx, lockNextIndex).Scan(&next); err != nil {
			return fmt.Errorf("locking the log: %w", err)
		}
		if len(es) == 0 {
			if then != nil {
				return then(ctx, tx, out)
			}
			return nil
		}
		revoked, err := revokedAmong(ctx, tx, es)
		if err != nil {
			return err
		}
		ids := make([]any, len(es))
		for i, e := range es {
			ids[i] = e.ID
		}
		existing, err := queryEntries(ctx, tx, `SELECT `+entryColumns+` FROM trialog_entries WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
		if err != nil {
			return err
		}
		byID := make(map[string]Entry, len(existing))
		for _, e := range existing {
			byID[string(e.ID)] = e
		}
		var rows, refs []any
		nRows, nRefs := 0, 0
		var accepted []Entry
		for i, e := range es {
			if prev, ok := byID[string(e.ID)]; ok {
				out[i] = Appended{Entry: prev}
				continue
			}
			if err := firstRevoked(e.KeyIDs, revoked); err != nil {
				out[i] = Appended{Entry: e, Err: err}
				continue
			}
			if e.Check != nil {
				if err := e.Check(ctx, batchReader{tx: tx, pending: accepted}); err != nil {
					out[i] = Appended{Entry: e, Err: err}
					continue
				}
			}
			e.LeafIndex = next
			next++
			byID[string(e.ID)] = e
			out[i] = Appended{Entry: e, New: true}
			accepted = append(accepted, e)
			rows = append(rows, e.LeafIndex, e.ID, e.LeafHash, e.Leaf, e.Type, e.PrincipalID, e.ReceivedAt)
			nRows++
			for _, r := range e.Refs {
				refs = append(refs, r, e.LeafIndex)
				nRefs++
			}
		}
		if nRows == 0 {
			if then != nil {
				return then(ctx, tx, out)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO trialog_entries (`+entryColumns+`) VALUES `+tuples(nRows, 7), rows...); err != nil {
			return fmt.Errorf("inserting entries: %w", err)
		}
		if nRefs > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT IGNORE INTO trialog_entry_refs (ref, leaf_index) VALUES `+tuples(nRefs, 2), refs...); err != nil {
				return fmt.Errorf("inserting entry refs: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, updateNextIndex, next); err != nil {
			return fmt.Errorf("advancing the log: %w", err)
		}
		if then != nil {
			return then(ctx, tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batchReader is the RefReader of an append in progress.
type batchReader struct {
	tx      *sql.Tx
	pending []Entry
}

func (b batchReader) EntriesByRef(ctx context.Context, ref string) ([]Entry, error) {
	es, err := queryEntries(ctx, b.tx, selectByRef, ref)
	if err != nil {
		return nil, err
	}
	for _, e := range b.pending {
		for _, r := range e.Refs {
			if r == ref {
				es = append(es, e)
				break
			}
		}
	}
	return es, nil
}

// NextIndex returns the number of entries in the log's order (committed,
// whether or not yet integrated by Trillian).
func (s *Store) NextIndex(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, selectNextIndex).Scan(&n)
	return n, err
}

// EntryByID returns the entry with this 32-byte ID.
func (s *Store) EntryByID(ctx context.Context, id []byte) (*Entry, error) {
	return s.one(ctx, `SELECT `+entryColumns+` FROM trialog_entries WHERE id = ?`, id)
}

// EntryByIndex returns the entry at a leaf index.
func (s *Store) EntryByIndex(ctx context.Context, index int64) (*Entry, error) {
	return s.one(ctx, `SELECT `+entryColumns+` FROM trialog_entries WHERE leaf_index = ?`, index)
}

// EntriesRange returns up to count entries from leaf index start on, in
// order.
func (s *Store) EntriesRange(ctx context.Context, start, count int64) ([]Entry, error) {
	return queryEntries(ctx, s.db, `SELECT `+entryColumns+` FROM trialog_entries WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index`, start, start+count)
}

// EntriesByRef returns the entries indexed under ref, in log order.
func (s *Store) EntriesByRef(ctx context.Context, ref string) ([]Entry, error) {
	return queryEntries(ctx, s.db, selectByRef, ref)
}

func (s *Store) one(ctx context.Context, q string, args ...any) (*Entry, error) {
	es, err := queryEntries(ctx, s.db, q, args...)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, ErrNotFound
	}
	return &es[0], nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func queryEntries(ctx context.Context, q querier, query string, args ...any) ([]Entry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		if err := rows.Scan(&e.LeafIndex, &e.ID, &e.LeafHash, &e.Leaf, &e.Type, &e.PrincipalID, &e.ReceivedAt); err != nil {
			return nil, err
		}
		e.ReceivedAt = e.ReceivedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func tuples(n, width int) string {
	t := "(" + placeholders(width) + ")"
	var b strings.Builder
	b.Grow(n * (len(t) + 1))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t)
	}
	return b.String()
}

// Checkpoint is a checkpoint trialogd signed.
type Checkpoint struct {
	TreeSize  int64
	RootHash  []byte
	Note      []byte // the signed note, verbatim
	CreatedAt time.Time
	// Range is the tree's compact range: the hashes of the perfect subtrees
	// covering [0, TreeSize), left to right. Nil when not recorded.
	Range [][]byte
}

// StoreCheckpoint records a signed checkpoint. Storing the same size twice
// with the same root is a no-op; with another root it is an error.
func (s *Store) StoreCheckpoint(ctx context.Context, c Checkpoint) error {
	var rng []byte
	for _, h := range c.Range {
		rng = append(rng, h...)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO trialog_checkpoints (tree_size, root_hash, note, created_at, compact_range) VALUES (?, ?, ?, UTC_TIMESTAMP(6), ?)`, c.TreeSize, c.RootHash, string(c.Note), rng)
	if isDuplicate(err) {
		prev, perr := s.CheckpointAt(ctx, c.TreeSize)
		if perr == nil && string(prev.RootHash) == string(c.RootHash) {
			return nil
		}
		return fmt.Errorf("a different checkpoint of size %d is already stored", c.TreeSize)
	}
	return err
}

// LatestCheckpoint returns the largest checkpoint signed, or ErrNotFound.
func (s *Store) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	return s.checkpoint(ctx, `SELECT tree_size, root_hash, note, created_at, compact_range FROM trialog_checkpoints ORDER BY tree_size DESC LIMIT 1`)
}

// CheckpointAt returns the checkpoint of exactly this size, or ErrNotFound.
func (s *Store) CheckpointAt(ctx context.Context, size int64) (*Checkpoint, error) {
	return s.checkpoint(ctx, `SELECT tree_size, root_hash, note, created_at, compact_range FROM trialog_checkpoints WHERE tree_size = ?`, size)
}

func (s *Store) checkpoint(ctx context.Context, q string, args ...any) (*Checkpoint, error) {
	var c Checkpoint
	var note string
	var rng []byte
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&c.TreeSize, &c.RootHash, &note, &c.CreatedAt, &rng)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.Note = []byte(note)
	if rng != nil {
		if len(rng)%32 != 0 {
			return nil, fmt.Errorf("checkpoint %d: compact range is not a list of 32-byte hashes", c.TreeSize)
		}
		c.Range = make([][]byte, 0, len(rng)/32)
		for i := 0; i < len(rng); i += 32 {
			c.Range = append(c.Range, rng[i:i+32])
		}
	}
	return &c, nil
}

// LeafHashes returns the leaf hashes of entries [from, to), in order.
func (s *Store) LeafHashes(ctx context.Context, from, to int64) ([][]byte, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT leaf_index, leaf_hash FROM trialog_entries WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([][]byte, 0, max(to-from, 0))
	for rows.Next() {
		var idx int64
		var h []byte
		if err := rows.Scan(&idx, &h); err != nil {
			return nil, err
		}
		if idx != from+int64(len(out)) {
			return nil, fmt.Errorf("%w: entry %d", ErrMissing, from+int64(len(out)))
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(out)) != to-from {
		return nil, fmt.Errorf("%w: entries [%d, %d)", ErrMissing, from+int64(len(out)), to)
	}
	return out, nil
}
