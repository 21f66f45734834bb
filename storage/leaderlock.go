package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrLockLost is returned by LeaderLock.Check when this connection no longer
// holds the lock.
var ErrLockLost = errors.New("the leader lock is no longer held")

// LeaderLock is a MySQL named lock (GET_LOCK) held on one dedicated
// connection. MySQL releases it when that connection ends: when the process
// dies (kill -9 included, the socket closes), or when the server drops the
// connection after idleTimeout without a command from the holder, which
// Check keeps from happening while the holder is alive.
type LeaderLock struct {
	conn *sql.Conn
	name string
}

// LeaderLockName is the lock's name for the current database: lock names are
// server-wide, so the database's name is part of it (hashed, since names are
// limited to 64 characters).
func LeaderLockName(ctx context.Context, db *sql.DB) (string, error) {
	var dbName sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT DATABASE()`).Scan(&dbName); err != nil {
		return "", err
	}
	if !dbName.Valid {
		return "", errors.New("the DSN names no database")
	}
	sum := sha256.Sum256([]byte(dbName.String))
	return "trialog-leader-" + hex.EncodeToString(sum[:16]), nil
}

// TryLeaderLock tries for up to wait to take the lock name on a new
// dedicated connection. It returns nil and no error when another connection
// holds it.
func TryLeaderLock(ctx context.Context, db *sql.DB, name string, wait, idleTimeout time.Duration) (*LeaderLock, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	secs := int(idleTimeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	// The server ends this connection, and so releases the lock, when its
	// holder has been silent for idleTimeout (a paused process, a network
	// partition).
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET SESSION wait_timeout = %d, SESSION interactive_timeout = %d", secs, secs)); err != nil {
		discard(conn)
		return nil, err
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK(?, ?)`, name, wait.Seconds()).Scan(&got); err != nil {
		discard(conn)
		return nil, err
	}
	if !got.Valid || got.Int64 != 1 {
		discard(conn)
		return nil, nil
	}
	return &LeaderLock{conn: conn, name: name}, nil
}

// Check confirms, on the lock's own connection, that this connection still
// holds the lock; it also keeps the connection from idling out.
func (l *LeaderLock) Check(ctx context.Context) error {
	var mine sql.NullBool
	if err := l.conn.QueryRowContext(ctx, `SELECT IS_USED_LOCK(?) = CONNECTION_ID()`, l.name).Scan(&mine); err != nil {
		return fmt.Errorf("%w: %v", ErrLockLost, err)
	}
	if !mine.Valid || !mine.Bool {
		return ErrLockLost
	}
	return nil
}

// Release gives the lock up and closes its connection.
func (l *LeaderLock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l.conn.ExecContext(ctx, `DO RELEASE_LOCK(?)`, l.name)
	discard(l.conn)
}

// discard closes conn instead of returning it to the pool: its short
// wait_timeout must not reach the connections other queries use.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}

// Conn is the lock's dedicated connection (for tests).
func (l *LeaderLock) Conn() *sql.Conn { return l.conn }
