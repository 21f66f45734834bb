package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/storage"
)

// TestLeaderLockConnections: the lock is exclusive, and the lock's short
// wait_timeout never leaks into the pool's other connections.
func TestLeaderLockConnections(t *testing.T) {
	dsn := testdb.DSN(t)
	ctx := context.Background()
	a, b := testdb.Open(t, dsn), testdb.Open(t, dsn)
	b.SetMaxOpenConns(1)
	name, err := storage.LeaderLockName(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	held, err := storage.TryLeaderLock(ctx, a, name, 0, 6*time.Second)
	if err != nil || held == nil {
		t.Fatalf("first lock: %v %v", held, err)
	}
	if err := held.Check(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := storage.TryLeaderLock(ctx, b, name, 0, 6*time.Second)
	if err != nil || other != nil {
		t.Fatalf("a second holder: %v %v", other, err)
	}
	var timeout int
	if err := b.QueryRow(`SELECT @@SESSION.wait_timeout`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout == 6 {
		t.Fatal("the lock's wait_timeout leaked into the pool")
	}
	held.Release()
	other, err = storage.TryLeaderLock(ctx, b, name, time.Second, 6*time.Second)
	if err != nil || other == nil {
		t.Fatalf("no lock after the release: %v", err)
	}
	if err := other.Check(ctx); err != nil {
		t.Fatal(err)
	}
	other.Release()
}
