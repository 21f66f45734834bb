package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
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
	// *KeyRevokedError, an entry signed with a key revoked in the log: it
	// reads the keys' revocations before the checks and again once it holds
	// the log's lock, which revocations take too. Not stored.
	KeyIDs [][]byte

	// Check, if set, decides whether the entry may join the log given the
	// domain state it reads from st, and records the entry's effect on that
	// state with st.Put. Append calls it inside the append's transaction,
	// after duplicates are answered; the state rows it reads stay locked
	// until the append commits, so no other append can change the answer
	// first. Puts take effect only if Check returns nil. Check may be called
	// more than once for one Append (a transaction that lost a race is run
	// again): it must depend on st alone. Not stored.
	Check func(ctx context.Context, st State) error
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
	insertColumns   = `leaf_index, id, leaf_hash, leaf, type, principal_id, received_at, id_key`
	selectNextIndex = `SELECT next_index FROM trialog_log WHERE id = 1`
	selectByRef     = `SELECT e.leaf_index, e.id, e.leaf_hash, e.leaf, e.type, e.principal_id, e.received_at
  FROM trialog_refs r JOIN trialog_entries e ON e.leaf_index = r.leaf_index WHERE r.ref_hash = ? ORDER BY r.leaf_index`
)

// maxAppendAttempts bounds the runs of one Append's transaction. A run is
// repeated when it lost a race to another process's append: a deadlock
// between two appenders' state locks, a state row or entry inserted by the
// other one first.
const maxAppendAttempts = 5

// Append gives each new entry the next leaf index and commits them in one
// transaction, together with their index references and the state their
// Checks put. Entries whose ID is already in the log (or earlier in the same
// batch) get no new index: the result holds the entry logged first. An entry
// whose Check fails gets no index either; its result carries the error. A
// Check sees the state left by the entries accepted before it in es. The
// i-th result answers es[i].
//
// Locks: each Check locks the state rows it reads; the log's row
// (trialog_log, the next index) is locked last, only to number and insert
// the accepted entries. Appends from several processes that touch different
// keys therefore run their checks side by side; indices stay dense and
// unique. Once Append returns, the entries are durable.
func (s *Store) Append(ctx context.Context, es []Entry) ([]Appended, error) {
	if len(es) == 0 {
		return nil, nil
	}
	return s.AppendAtomic(ctx, es, nil)
}

// AppendAtomic appends es as Append does and then, in the same transaction,
// while it holds the log's lock, calls then with the results (then may be
// nil; it may run more than once, in transactions of which only the last
// commits). If then fails, nothing is appended and nothing then wrote is
// kept: the error is returned. The credential changes that go with their log
// entries (a key and its principal.key entry, a revocation and its entry)
// are stored this way, so that neither exists without the other.
func (s *Store) AppendAtomic(ctx context.Context, es []Entry, then func(ctx context.Context, tx *sql.Tx, res []Appended) error) ([]Appended, error) {
	if len(es) == 0 {
		out := []Appended{}
		return out, s.tx(ctx, func(tx *sql.Tx) error {
			if then == nil {
				return nil
			}
			return then(ctx, tx, out)
		})
	}
	var err error
	for attempt := 1; ; attempt++ {
		var out []Appended
		out, err = s.appendOnce(ctx, es, then)
		if err == nil {
			return out, nil
		}
		if !retryable(err) || attempt == maxAppendAttempts || ctx.Err() != nil {
			return nil, err
		}
	}
}

// errRaced means another process logged one of the batch's entries while
// its checks ran: the batch is decided again, answering it as a duplicate.
var errRaced = errors.New("an entry of the batch was logged concurrently")

func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// 1213 deadlock, 1062 duplicate key (a state row or entry inserted
		// by another appender first).
		return me.Number == 1213 || me.Number == 1062
	}
	return errors.Is(err, errRaced)
}

func (s *Store) appendOnce(ctx context.Context, es []Entry, then func(ctx context.Context, tx *sql.Tx, res []Appended) error) ([]Appended, error) {
	out := make([]Appended, len(es))
	// READ COMMITTED: a locking read of a missing state row takes no gap
	// lock, and plain reads see what other appends committed.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	keys := make([]any, len(es))
	for i, e := range es {
		if len(e.ID) != 32 {
			return nil, fmt.Errorf("entry id of %d bytes, want 32", len(e.ID))
		}
		keys[i] = idKey(e.ID)
	}
	existing, err := queryEntries(ctx, tx, `SELECT `+entryColumns+` FROM trialog_entries WHERE id_key IN (`+placeholders(len(keys))+`)`, keys...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Entry, len(existing))
	byKey := make(map[string]bool, len(existing))
	for _, e := range existing {
		byID[string(e.ID)] = e
		byKey[string(idKey(e.ID))] = true
	}
	revoked, err := revokedAmong(ctx, tx, es)
	if err != nil {
		return nil, err
	}
	st := newTxState(tx)
	inBatch := map[string]int{}
	var dups [][2]int // (i, j): es[i] repeats the accepted es[j]
	var accepted []int
	var checked []any
	for i, e := range es {
		if prev, ok := byID[string(e.ID)]; ok {
			out[i] = Appended{Entry: prev}
			continue
		}
		if byKey[string(idKey(e.ID))] {
			// Another entry's id shares the first 16 bytes: not this one.
			out[i] = Appended{Entry: e, Err: ErrIDCollision}
			continue
		}
		if j, ok := inBatch[string(e.ID)]; ok {
			dups = append(dups, [2]int{i, j})
			continue
		}
		if err := firstRevoked(e.KeyIDs, revoked); err != nil {
			out[i] = Appended{Entry: e, Err: err}
			continue
		}
		if e.Check != nil {
			st.begin()
			if err := e.Check(ctx, st); err != nil {
				st.discard()
				if st.err != nil {
					return nil, st.err
				}
				out[i] = Appended{Entry: e, Err: err}
				continue
			}
			if st.err != nil {
				return nil, st.err
			}
			st.keep()
			checked = append(checked, idKey(e.ID))
		}
		inBatch[string(e.ID)] = i
		st.pending[string(e.ID)] = &es[i]
		out[i] = Appended{Entry: e, New: true}
		accepted = append(accepted, i)
	}
	if len(accepted) == 0 {
		if then != nil {
			var next int64
			if err := tx.QueryRowContext(ctx, lockNextIndex).Scan(&next); err != nil {
				return nil, fmt.Errorf("locking the log: %w", err)
			}
			if err := then(ctx, tx, out); err != nil {
				return nil, err
			}
		}
		return out, tx.Commit()
	}
	defer func() {
		for _, d := range dups {
			out[d[0]] = Appended{Entry: out[d[1]].Entry}
		}
	}()
	if len(checked) > 0 {
		// The checks ran under their keys' locks; an entry another process
		// committed meanwhile is a duplicate, not a new statement.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM trialog_entries WHERE id_key IN (`+placeholders(len(checked))+`)`, checked...).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, errRaced
		}
	}
	if err := st.write(ctx); err != nil {
		return nil, err
	}
	// The log's lock, last and briefly: numbering and inserting.
	var next int64
	if err := tx.QueryRowContext(ctx, lockNextIndex).Scan(&next); err != nil {
		return nil, fmt.Errorf("locking the log: %w", err)
	}
	// A key revoked between the first reading and the lock: decide the
	// batch again (its entries signed with the key are then refused).
	// Revocations are numbered under this lock too, so once it is held no
	// revocation can come before these entries.
	acceptedEs := make([]Entry, 0, len(accepted))
	for _, i := range accepted {
		acceptedEs = append(acceptedEs, es[i])
	}
	if now, err := revokedAmong(ctx, tx, acceptedEs); err != nil {
		return nil, err
	} else if len(now) > 0 {
		return nil, errRaced
	}
	rows := make([]any, 0, 8*len(accepted))
	var refs []any
	nRefs := 0
	for _, i := range accepted {
		out[i].LeafIndex = next
		next++
		e := out[i].Entry
		rows = append(rows, e.LeafIndex, e.ID, e.LeafHash, e.Leaf, e.Type, e.PrincipalID, e.ReceivedAt, idKey(e.ID))
		for _, r := range e.Refs {
			refs = append(refs, RefKey(r), e.LeafIndex)
			nRefs++
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO trialog_entries (`+insertColumns+`) VALUES `+tuples(len(accepted), 8), rows...); err != nil {
		return nil, fmt.Errorf("inserting entries: %w", err)
	}
	if nRefs > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT IGNORE INTO trialog_refs (ref_hash, leaf_index) VALUES `+tuples(nRefs, 2), refs...); err != nil {
			return nil, fmt.Errorf("inserting entry refs: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, updateNextIndex, next); err != nil {
		return nil, fmt.Errorf("advancing the log: %w", err)
	}
	if then != nil {
		if err := then(ctx, tx, out); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
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
	return entryByID(ctx, s.db, id)
}

// entryByID finds an entry by its id's key and compares the whole id.
func entryByID(ctx context.Context, q querier, id []byte) (*Entry, error) {
	if len(id) != 32 {
		return nil, ErrNotFound
	}
	es, err := queryEntries(ctx, q, `SELECT `+entryColumns+` FROM trialog_entries WHERE id_key = ?`, idKey(id))
	if err != nil {
		return nil, err
	}
	if len(es) == 0 || !bytes.Equal(es[0].ID, id) {
		return nil, ErrNotFound
	}
	return &es[0], nil
}

// ErrIDCollision refuses an entry whose id shares its first 16 bytes (the
// unique key) with another logged entry's id: with SHA-256 ids, no more
// likely than a collision of a 128-bit hash.
var ErrIDCollision = errors.New("entry id collides with a logged entry's id in its first 16 bytes")

// idKey is the unique key of an entry id: its first 16 bytes.
func idKey(id []byte) []byte { return id[:16] }

// RefKey is the stored form of an index reference: the first 16 bytes of
// its SHA-256. The schema's migration to version 6 computes the same.
func RefKey(ref string) []byte {
	h := sha256.Sum256([]byte(ref))
	return h[:16]
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
	return queryEntries(ctx, s.db, selectByRef, RefKey(ref))
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
