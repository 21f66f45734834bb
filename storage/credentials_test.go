package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// TestRevocationUnderTheAppendLock: once a revocation commits, Append
// refuses entries signed with the key, whatever any cache says, and keeps
// those of other keys in the same batch; the revocation, its entry and the
// key's state change together or not at all.
func TestRevocationUnderTheAppendLock(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	kidA, kidB := sha256.Sum256([]byte("key a")), sha256.Sum256([]byte("key b"))
	keys := []Key{{KeyID: kidA[:], PublicKey: make([]byte, 32)}, {KeyID: kidB[:], PublicKey: make([]byte, 32)}}
	keys[1].PublicKey[0] = 1
	res, err := st.CreatePrincipalLogged(ctx, Principal{ID: "p1", Name: "P", Role: "site"}, []byte("01234567890123456789012345678901"), keys, []Entry{entry("key a"), entry("key b")})
	if err != nil || res[0].LeafIndex != 0 || res[1].LeafIndex != 1 {
		t.Fatalf("create: %v %+v", err, res)
	}
	signed := func(name string, kid []byte) Entry { e := entry(name); e.KeyIDs = [][]byte{kid}; return e }
	if res, err := st.Append(ctx, []Entry{signed("by a", kidA[:])}); err != nil || res[0].Err != nil {
		t.Fatalf("before revocation: %v %v", err, res[0].Err)
	}

	// A revocation whose store fails (the key is not this principal's)
	// logs nothing.
	if _, err := st.RevokeKeysLogged(ctx, "p2", [][]byte{kidA[:]}, []Entry{entry("bad revocation")}, false); err == nil {
		t.Fatal("revoking another principal's key succeeded")
	}
	if n, _ := st.NextIndex(ctx); n != 3 {
		t.Fatalf("a failed revocation left the log at %d entries", n)
	}
	rev, err := st.RevokeKeysLogged(ctx, "p1", [][]byte{kidA[:]}, []Entry{entry("revocation a")}, false)
	if err != nil || rev[0].LeafIndex != 3 {
		t.Fatalf("revocation: %v %+v", err, rev)
	}
	if _, err := st.RevokeKeysLogged(ctx, "p1", [][]byte{kidA[:]}, []Entry{entry("revocation a again")}, false); !errors.Is(err, ErrAlreadyRevoked) {
		t.Fatalf("second revocation: %v", err)
	}
	res, err = st.Append(ctx, []Entry{signed("after by a", kidA[:]), signed("after by b", kidB[:])})
	var kre *KeyRevokedError
	if err != nil || !errors.As(res[0].Err, &kre) || kre.RevokedIndex != 3 || res[1].Err != nil || res[1].LeafIndex != 4 {
		t.Fatalf("after revocation: %v %+v", err, res)
	}
	ks, err := st.Keys(ctx, "p1")
	if err != nil || len(ks) != 2 {
		t.Fatal(err)
	}
	for _, k := range ks {
		if string(k.KeyID) == string(kidA[:]) && (!k.Revoked() || k.RevokedIndex != 3 || k.EntryIndex != 0) {
			t.Fatalf("key a: %+v", k)
		}
	}

	// Deactivation with a stale key list is refused whole.
	if _, err := st.RevokeKeysLogged(ctx, "p1", nil, nil, true); !errors.Is(err, ErrKeysChanged) {
		t.Fatalf("deactivation missing key b: %v", err)
	}
	if _, err := st.RevokeKeysLogged(ctx, "p1", [][]byte{kidB[:]}, []Entry{entry("deactivation b")}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PrincipalByToken(ctx, []byte("01234567890123456789012345678901")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token of a deactivated principal: %v", err)
	}
	if err := st.ReplaceToken(ctx, "p1", []byte("x1234567890123456789012345678901")); !errors.Is(err, ErrDeactivated) {
		t.Fatalf("new token for a deactivated principal: %v", err)
	}
	if _, err := st.AddKeyLogged(ctx, "p1", Key{KeyID: make([]byte, 32), PublicKey: make([]byte, 32)}, entry("late key")); !errors.Is(err, ErrDeactivated) {
		t.Fatalf("key for a deactivated principal: %v", err)
	}
	if n, _ := st.NextIndex(ctx); n != 6 {
		t.Fatalf("log at %d entries, want 6", n)
	}
}

// TestMigrationFillsKeyIndex: the credentials schema version gives keys registered before
// it the leaf index of their principal.key entry.
func TestMigrationFillsKeyIndex(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	kid := sha256.Sum256([]byte("old key"))
	if _, err := st.CreatePrincipalLogged(ctx, Principal{ID: "p1", Name: "P", Role: "site"}, make([]byte, 32), []Key{{KeyID: kid[:], PublicKey: make([]byte, 32)}}, []Entry{entry("old key")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().Exec(`UPDATE trialog_keys SET entry_index = NULL`); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, m := range ms {
		if strings.HasSuffix(m.name, "_credentials.sql") {
			stmts = splitSQL(m.sql)
		}
	}
	if _, err := st.DB().Exec(stmts[len(stmts)-1]); err != nil {
		t.Fatal(err)
	}
	ks, err := st.Keys(ctx, "p1")
	if err != nil || len(ks) != 1 || ks[0].EntryIndex != 0 {
		t.Fatalf("keys after the migration: %+v %v", ks, err)
	}
}

// TestRevocationRacingAnAppend revokes a key while an append of an entry
// signed with it is between its checks and the log's lock (from inside its
// Check, on another connection): the append notices under the lock, decides
// the batch again and refuses the entry, keeping the other.
func TestRevocationRacingAnAppend(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	kidA, kidB := sha256.Sum256([]byte("key a")), sha256.Sum256([]byte("key b"))
	keys := []Key{{KeyID: kidA[:], PublicKey: make([]byte, 32)}, {KeyID: kidB[:], PublicKey: make([]byte, 32)}}
	if _, err := st.CreatePrincipalLogged(ctx, Principal{ID: "p1", Name: "P", Role: "site"}, make([]byte, 32), keys, []Entry{entry("key a"), entry("key b")}); err != nil {
		t.Fatal(err)
	}
	checks := 0
	var revIndex int64 = -1
	racing := entry("signed by a while revoked")
	racing.KeyIDs = [][]byte{kidA[:]}
	racing.Check = func(ctx context.Context, _ State) error {
		checks++
		if checks == 1 {
			res, err := st.RevokeKeysLogged(ctx, "p1", [][]byte{kidA[:]}, []Entry{entry("revocation a")}, false)
			if err != nil {
				return err
			}
			revIndex = res[0].LeafIndex
		}
		return nil
	}
	other := entry("signed by b")
	other.KeyIDs = [][]byte{kidB[:]}
	res, err := st.Append(ctx, []Entry{racing, other})
	var kre *KeyRevokedError
	if err != nil || !errors.As(res[0].Err, &kre) || kre.RevokedIndex != revIndex || res[1].Err != nil || res[1].LeafIndex <= revIndex {
		t.Fatalf("append racing a revocation: %v %+v (revocation at %d, %d checks)", err, res, revIndex, checks)
	}
	if checks != 1 {
		t.Fatalf("the racing entry was checked %d times; refused before its check on the second run, want 1", checks)
	}
}
