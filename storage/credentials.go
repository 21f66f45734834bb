package storage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// Errors of credential changes.
var (
	// ErrDeactivated: the principal is deactivated; nothing can be given to
	// it any more.
	ErrDeactivated = errors.New("the principal is deactivated")
	// ErrKeyNotFound: the principal holds no key with this id.
	ErrKeyNotFound = errors.New("the principal holds no such key")
	// ErrAlreadyRevoked: the key was revoked before.
	ErrAlreadyRevoked = errors.New("the key is already revoked")
	// ErrKeysChanged: the principal's keys changed between reading them and
	// taking the append lock; read them again.
	ErrKeysChanged = errors.New("the principal's keys changed meanwhile")
	// ErrNotLogged: an entry that had to be new was refused or was already
	// in the log.
	ErrNotLogged = errors.New("the entry was not logged as a new entry")
)

// KeyRevokedError refuses an entry signed with a revoked key.
type KeyRevokedError struct {
	KeyID []byte
	// RevokedIndex is the leaf index of the revocation entry.
	RevokedIndex int64
}

func (e *KeyRevokedError) Error() string {
	return fmt.Sprintf("key %s was revoked from leaf %d on; statements signed with it are refused", hex.EncodeToString(e.KeyID), e.RevokedIndex)
}

// revokedAmong returns the revocation index of each revoked key that signed
// one of es, read inside the append transaction.
func revokedAmong(ctx context.Context, tx *sql.Tx, es []Entry) (map[string]int64, error) {
	var ids []any
	seen := map[string]bool{}
	for _, e := range es {
		for _, k := range e.KeyIDs {
			if !seen[string(k)] {
				seen[string(k)] = true
				ids = append(ids, k)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT key_id, revoked_index FROM trialog_keys WHERE revoked_index IS NOT NULL AND key_id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return nil, fmt.Errorf("reading key revocations: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k []byte
		var idx int64
		if err := rows.Scan(&k, &idx); err != nil {
			return nil, err
		}
		out[string(k)] = idx
	}
	return out, rows.Err()
}

func firstRevoked(keyIDs [][]byte, revoked map[string]int64) error {
	for _, k := range keyIDs {
		if idx, ok := revoked[string(k)]; ok {
			return &KeyRevokedError{KeyID: k, RevokedIndex: idx}
		}
	}
	return nil
}

// mustBeNew returns ErrNotLogged unless every result is a new entry.
func mustBeNew(res []Appended) error {
	for _, a := range res {
		if a.Err != nil {
			return fmt.Errorf("%w: %w", ErrNotLogged, a.Err)
		}
		if !a.New {
			return ErrNotLogged
		}
	}
	return nil
}

// CreatePrincipalLogged appends keyEntries (the principal.key entry of each
// key, in keys' order) and stores the principal, its token hash and its keys
// in the same transaction: either the entries and the principal both exist
// or neither does. A key registered to someone else is ErrDuplicateKey.
func (s *Store) CreatePrincipalLogged(ctx context.Context, p Principal, tokenHash []byte, keys []Key, keyEntries []Entry) ([]Appended, error) {
	if len(keys) != len(keyEntries) {
		return nil, errors.New("one principal.key entry per key")
	}
	return s.AppendAtomic(ctx, keyEntries, func(ctx context.Context, tx *sql.Tx, res []Appended) error {
		if err := mustBeNew(res); err != nil {
			return err
		}
		ks := make([]Key, len(keys))
		for i, k := range keys {
			k.EntryID, k.EntryIndex = res[i].ID, res[i].LeafIndex
			ks[i] = k
		}
		return insertPrincipalTx(ctx, tx, p, tokenHash, ks)
	})
}

// lockPrincipal reads a principal inside a credential change.
func lockPrincipal(ctx context.Context, tx *sql.Tx, id string) error {
	var deact sql.NullTime
	err := tx.QueryRowContext(ctx, `SELECT deactivated_at FROM trialog_principals WHERE id = ? FOR UPDATE`, id).Scan(&deact)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if deact.Valid {
		return ErrDeactivated
	}
	return nil
}

// AddKeyLogged appends e, the key's principal.key entry, and registers the
// key to an active principal in the same transaction.
func (s *Store) AddKeyLogged(ctx context.Context, principalID string, k Key, e Entry) (Appended, error) {
	res, err := s.AppendAtomic(ctx, []Entry{e}, func(ctx context.Context, tx *sql.Tx, res []Appended) error {
		if err := lockPrincipal(ctx, tx, principalID); err != nil {
			return err
		}
		if err := mustBeNew(res); err != nil {
			return err
		}
		k.EntryID, k.EntryIndex = res[0].ID, res[0].LeafIndex
		return insertKeyTx(ctx, tx, principalID, k)
	})
	if err != nil {
		return Appended{}, err
	}
	return res[0], nil
}

// RevokeKeysLogged appends revocations (one principal.key-revocation entry
// per key of keyIDs, in order) and marks each key revoked from its entry's
// leaf index on, in the same transaction. It fails with ErrKeyNotFound or
// ErrAlreadyRevoked when a key is not an unrevoked key of the principal.
//
// With deactivate, the principal is also deactivated and its tokens deleted,
// and keyIDs must be exactly its unrevoked keys (else ErrKeysChanged: a key
// was added or revoked meanwhile).
func (s *Store) RevokeKeysLogged(ctx context.Context, principalID string, keyIDs [][]byte, revocations []Entry, deactivate bool) ([]Appended, error) {
	if len(keyIDs) != len(revocations) {
		return nil, errors.New("one revocation entry per key")
	}
	return s.AppendAtomic(ctx, revocations, func(ctx context.Context, tx *sql.Tx, res []Appended) error {
		if err := lockPrincipal(ctx, tx, principalID); err != nil {
			return err
		}
		if deactivate {
			live, err := liveKeys(ctx, tx, principalID)
			if err != nil {
				return err
			}
			if !sameKeys(live, keyIDs) {
				return ErrKeysChanged
			}
		}
		if err := mustBeNew(res); err != nil {
			return err
		}
		for i, k := range keyIDs {
			r, err := tx.ExecContext(ctx, `UPDATE trialog_keys SET revoked_index = ?, revoked_entry_id = ? WHERE key_id = ? AND principal_id = ? AND revoked_index IS NULL`,
				res[i].LeafIndex, res[i].ID, k, principalID)
			if err != nil {
				return err
			}
			if n, err := r.RowsAffected(); err != nil {
				return err
			} else if n != 1 {
				var revoked sql.NullInt64
				err := tx.QueryRowContext(ctx, `SELECT revoked_index FROM trialog_keys WHERE key_id = ? AND principal_id = ?`, k, principalID).Scan(&revoked)
				switch {
				case errors.Is(err, sql.ErrNoRows):
					return ErrKeyNotFound
				case err != nil:
					return err
				default:
					return ErrAlreadyRevoked
				}
			}
		}
		if deactivate {
			if _, err := tx.ExecContext(ctx, `UPDATE trialog_principals SET deactivated_at = UTC_TIMESTAMP(6) WHERE id = ?`, principalID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM trialog_tokens WHERE principal_id = ?`, principalID); err != nil {
				return err
			}
		}
		return nil
	})
}

func liveKeys(ctx context.Context, tx *sql.Tx, principalID string) ([][]byte, error) {
	rows, err := tx.QueryContext(ctx, `SELECT key_id FROM trialog_keys WHERE principal_id = ? AND revoked_index IS NULL`, principalID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var k []byte
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func sameKeys(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if bytes.Equal(x, y) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// ReplaceToken makes tokenHash the only token of an active principal: every
// earlier token stops working when the transaction commits.
func (s *Store) ReplaceToken(ctx context.Context, principalID string, tokenHash []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockPrincipal(ctx, tx, principalID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trialog_tokens WHERE principal_id = ?`, principalID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insertToken, tokenHash, principalID)
		return err
	})
}

// Key returns the key with this id and the principal it is registered to.
func (s *Store) Key(ctx context.Context, keyID []byte) (string, *Key, error) {
	var owner string
	var k Key
	var pub []byte
	var entryIdx, revIdx sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT principal_id, key_id, public_key, entry_id, entry_index, revoked_index, revoked_entry_id FROM trialog_keys WHERE key_id = ?`, keyID).
		Scan(&owner, &k.KeyID, &pub, &k.EntryID, &entryIdx, &revIdx, &k.RevokedEntryID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, ErrNotFound
	}
	if err != nil {
		return "", nil, err
	}
	k.PublicKey = pub
	k.EntryIndex, k.RevokedIndex = -1, -1
	if entryIdx.Valid {
		k.EntryIndex = entryIdx.Int64
	}
	if revIdx.Valid {
		k.RevokedIndex = revIdx.Int64
	}
	return owner, &k, nil
}
