package storage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
)

// BenchmarkAppendRevocationCheck measures what the revocation check under
// the append lock costs an append of 100 signed entries (one query per
// append): "unsigned" entries carry no key ids, "signed" ones do.
func BenchmarkAppendRevocationCheck(b *testing.B) {
	for _, signed := range []bool{false, true} {
		b.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(b *testing.B) {
			ctx := context.Background()
			st := newStore(b)
			kid := sha256.Sum256([]byte("key"))
			n := 0
			b.ResetTimer()
			for range b.N {
				es := make([]Entry, 100)
				for i := range es {
					es[i] = entry(fmt.Sprintf("%d", n))
					n++
					if signed {
						es[i].KeyIDs = [][]byte{kid[:]}
					}
				}
				if _, err := st.Append(ctx, es); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
