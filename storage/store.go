package storage

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Store is trialog's repository over one database. It is safe for
// concurrent use.
type Store struct {
	db *sql.DB
}

// New returns a Store over db, which must have been migrated.
func New(db *sql.DB) *Store { return &Store{db: db} }

// DB returns the underlying database handle.
func (s *Store) DB() *sql.DB { return s.db }

// LogConfig is the log's fixed configuration, written once on first start.
type LogConfig struct {
	TreeID           int64
	Origin           string
	LogPublicKey     string // note verifier key
	ServicePublicKey ed25519.PublicKey
}

const (
	selectLogConfig = `SELECT tree_id, origin, log_public_key, service_public_key FROM trialog_log WHERE id = 1`
	// A new log has no entries: its state is built.
	insertLogConfig = `INSERT INTO trialog_log (id, tree_id, origin, log_public_key, service_public_key, next_index, created_at, state_built)
  VALUES (1, ?, ?, ?, ?, 0, UTC_TIMESTAMP(6), TRUE)`
)

// LogConfig returns the log's configuration, or ErrNotFound on a new
// database.
func (s *Store) LogConfig(ctx context.Context) (*LogConfig, error) {
	var c LogConfig
	var svc []byte
	err := s.db.QueryRowContext(ctx, selectLogConfig).Scan(&c.TreeID, &c.Origin, &c.LogPublicKey, &svc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.ServicePublicKey = ed25519.PublicKey(svc)
	return &c, nil
}

// InitLogConfig records the configuration of a new log. It fails if one is
// already recorded.
func (s *Store) InitLogConfig(ctx context.Context, c LogConfig) error {
	_, err := s.db.ExecContext(ctx, insertLogConfig, c.TreeID, c.Origin, c.LogPublicKey, []byte(c.ServicePublicKey))
	return err
}

// Principal is an account that calls the API.
type Principal struct {
	ID        string
	Name      string
	Role      string
	CreatedAt time.Time
	// DeactivatedAt is set once the principal is deactivated: it then holds
	// no token and every key it had is revoked.
	DeactivatedAt *time.Time
}

// Key is a signing key registered to a principal.
type Key struct {
	KeyID     []byte // SHA-256 of PublicKey
	PublicKey ed25519.PublicKey
	EntryID   []byte // the principal.key entry that logged it
	// EntryIndex is that entry's leaf index, -1 when not recorded (keys
	// registered before schema version 9 whose entry is not in the log).
	EntryIndex int64
	// RevokedIndex is the leaf index of the principal.key-revocation entry
	// from which on the key no longer counts, -1 while it is valid;
	// RevokedEntryID is that entry's id.
	RevokedIndex   int64
	RevokedEntryID []byte
}

// Revoked reports whether the key has been revoked.
func (k Key) Revoked() bool { return k.RevokedIndex >= 0 }

const (
	insertPrincipal       = `INSERT INTO trialog_principals (id, name, role, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`
	insertToken           = `INSERT INTO trialog_tokens (token_hash, principal_id, created_at) VALUES (?, ?, UTC_TIMESTAMP(6))`
	insertKey             = `INSERT INTO trialog_keys (key_id, principal_id, public_key, entry_id, entry_index, created_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))`
	selectByToken         = `SELECT p.id, p.name, p.role, p.created_at, p.deactivated_at FROM trialog_tokens t JOIN trialog_principals p ON p.id = t.principal_id WHERE t.token_hash = ? AND p.deactivated_at IS NULL`
	selectPrincipal       = `SELECT id, name, role, created_at, deactivated_at FROM trialog_principals WHERE id = ?`
	selectKeys            = `SELECT key_id, public_key, entry_id, entry_index, revoked_index, revoked_entry_id FROM trialog_keys WHERE principal_id = ? ORDER BY created_at, key_id`
	selectKeyOwner        = `SELECT principal_id FROM trialog_keys WHERE key_id = ?`
	insertTokenIgnore     = `INSERT IGNORE INTO trialog_tokens (token_hash, principal_id, created_at) VALUES (?, ?, UTC_TIMESTAMP(6))`
	insertPrincipalIgnore = `INSERT IGNORE INTO trialog_principals (id, name, role, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))`
)

// ErrDuplicateKey is returned when a key is already registered.
var ErrDuplicateKey = errors.New("key already registered")

// CreatePrincipal stores a principal, the hash of its API token and its keys
// in one transaction. Keys registered through the log use
// CreatePrincipalLogged instead.
func (s *Store) CreatePrincipal(ctx context.Context, p Principal, tokenHash []byte, keys []Key) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return insertPrincipalTx(ctx, tx, p, tokenHash, keys) })
}

func insertPrincipalTx(ctx context.Context, tx *sql.Tx, p Principal, tokenHash []byte, keys []Key) error {
	if _, err := tx.ExecContext(ctx, insertPrincipal, p.ID, p.Name, p.Role); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, insertToken, tokenHash, p.ID); err != nil {
		return err
	}
	for _, k := range keys {
		if err := insertKeyTx(ctx, tx, p.ID, k); err != nil {
			return err
		}
	}
	return nil
}

func insertKeyTx(ctx context.Context, tx *sql.Tx, principalID string, k Key) error {
	idx := sql.NullInt64{Int64: k.EntryIndex, Valid: k.EntryIndex >= 0}
	if _, err := tx.ExecContext(ctx, insertKey, k.KeyID, principalID, []byte(k.PublicKey), k.EntryID, idx); err != nil {
		if isDuplicate(err) {
			return fmt.Errorf("%w: %s", ErrDuplicateKey, hex.EncodeToString(k.KeyID))
		}
		return err
	}
	return nil
}

// EnsureAdmin makes sure a principal with the admin role exists under id and
// that tokenHash is its only token: replacing the admin token file revokes
// the old token. It is idempotent.
func (s *Store) EnsureAdmin(ctx context.Context, id string, tokenHash []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertPrincipalIgnore, id, "admin", "admin"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM trialog_tokens WHERE principal_id = ? AND token_hash <> ?`, id, tokenHash); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, insertTokenIgnore, tokenHash, id)
		return err
	})
}

// PrincipalByToken returns the principal holding the token with this hash.
func (s *Store) PrincipalByToken(ctx context.Context, tokenHash []byte) (*Principal, error) {
	return s.scanPrincipal(s.db.QueryRowContext(ctx, selectByToken, tokenHash))
}

// Principal returns the principal with this id.
func (s *Store) Principal(ctx context.Context, id string) (*Principal, error) {
	return s.scanPrincipal(s.db.QueryRowContext(ctx, selectPrincipal, id))
}

func (s *Store) scanPrincipal(row *sql.Row) (*Principal, error) {
	var p Principal
	var deact sql.NullTime
	err := row.Scan(&p.ID, &p.Name, &p.Role, &p.CreatedAt, &deact)
	if deact.Valid {
		t := deact.Time.UTC()
		p.DeactivatedAt = &t
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Keys returns the keys registered to a principal.
func (s *Store) Keys(ctx context.Context, principalID string) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, selectKeys, principalID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []Key
	for rows.Next() {
		var k Key
		var pub []byte
		var entryIdx, revIdx sql.NullInt64
		if err := rows.Scan(&k.KeyID, &pub, &k.EntryID, &entryIdx, &revIdx, &k.RevokedEntryID); err != nil {
			return nil, err
		}
		k.PublicKey = pub
		k.EntryIndex, k.RevokedIndex = -1, -1
		if entryIdx.Valid {
			k.EntryIndex = entryIdx.Int64
		}
		if revIdx.Valid {
			k.RevokedIndex = revIdx.Int64
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// KeyOwner returns the principal a key id is registered to.
func (s *Store) KeyOwner(ctx context.Context, keyID []byte) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, selectKeyOwner, keyID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}
