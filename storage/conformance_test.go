package storage_test

import (
	"context"
	"testing"

	"github.com/trialog/trialog/internal/testdb"
	"github.com/trialog/trialog/storage"
	"github.com/trialog/trialog/storage/storagetest"
)

// TestConformance runs the storage conformance suite against MariaDB.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store {
		ctx := context.Background()
		db, err := storage.Open(ctx, testdb.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := storage.Migrate(ctx, db, false); err != nil {
			t.Fatal(err)
		}
		st := storage.New(db)
		if err := st.InitLogConfig(ctx, storage.LogConfig{TreeID: 7, Origin: "o", LogPublicKey: "k", ServicePublicKey: make([]byte, 32)}); err != nil {
			t.Fatal(err)
		}
		return st
	})
}
