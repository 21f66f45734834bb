package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestCosignedCheckpoints(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if _, err := st.LatestCosigned(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty: %v", err)
	}
	if err := st.StoreCosigned(ctx, 1, []byte("n1+w")); err == nil {
		t.Fatal("cosignatures recorded on a checkpoint that does not exist")
	}
	root := bytes.Repeat([]byte{1}, 32)
	for _, size := range []int64{1, 2} {
		if err := st.StoreCheckpoint(ctx, Checkpoint{TreeSize: size, RootHash: root, Note: []byte("signed")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, note := range []string{"n1+w at t1", "n1+w at t2", "n1+w at t2"} {
		if err := st.StoreCosigned(ctx, 1, []byte(note)); err != nil {
			t.Fatalf("storing %q: %v", note, err)
		}
	}
	c, err := st.LatestCosigned(ctx)
	if err != nil || c.TreeSize != 1 || string(c.Note) != "n1+w at t2" || !bytes.Equal(c.RootHash, root) {
		t.Fatalf("latest cosigned: %+v, %v", c, err)
	}
	// The signed note itself is untouched.
	if s, err := st.CheckpointAt(ctx, 1); err != nil || string(s.Note) != "signed" {
		t.Fatalf("the signed note changed: %+v, %v", s, err)
	}
}
