package receipt

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
)

func TestCanonicalPoint(t *testing.T) {
	b := func(s string) []byte { x, _ := hex.DecodeString(s); return x }
	for _, tc := range []struct {
		enc  string
		want bool
	}{
		{"0100000000000000000000000000000000000000000000000000000000000000", true},  // identity
		{"0100000000000000000000000000000000000000000000000000000000000080", false}, // identity, x = 0 with sign
		{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", true},  // y = p − 1 (order 2)
		{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false}, // the same with sign
		{"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false}, // y = p
		{"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", false}, // y = p + 1
		{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", false},
		{"edfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe7f", true}, // below p
	} {
		if got := canonicalPoint(b(tc.enc)); got != tc.want {
			t.Errorf("canonicalPoint(%s) = %v", tc.enc, got)
		}
	}
	for range 100 {
		s := make([]byte, 64)
		rand.Read(s)
		x, _ := edwards25519.NewScalar().SetUniformBytes(s)
		if p := new(edwards25519.Point).ScalarBaseMult(x).Bytes(); !canonicalPoint(p) {
			t.Fatalf("the encoding of a point is not canonical: %x", p)
		}
	}
}

// TestEd25519Rule checks the verification rule against Go's crypto/ed25519
// on valid, invalid and crafted signatures, alone and in batches.
func TestEd25519Rule(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	var c keyCache
	msg := []byte("DSSEv1 4 test 5 hello")
	sig := ed25519.Sign(priv, msg)
	L, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")

	nonCanonicalS := append([]byte(nil), sig...)
	var carry uint16
	for i := 0; i < 32; i++ { // S + L: the same scalar, not reduced
		v := uint16(nonCanonicalS[32+i]) + uint16(L[i]) + carry
		nonCanonicalS[32+i], carry = byte(v), v>>8
	}
	flipped := append([]byte(nil), sig...)
	flipped[10] ^= 1

	crafted := torsionSignature(t, priv, msg)
	for _, tc := range []struct {
		name      string
		sig       []byte
		goAccepts bool
		accepted  bool
	}{
		{"valid", sig, true, true},
		{"flipped R", flipped, false, false},
		{"S not reduced", nonCanonicalS, false, false},
		{"R with a small-order component, by the key holder", crafted, false, true},
	} {
		if got := ed25519.Verify(pub, msg, tc.sig); got != tc.goAccepts {
			t.Fatalf("%s: crypto/ed25519 says %v", tc.name, got)
		}
		if got := c.verifyOne(sigCheck{pub, msg, tc.sig}) == nil; got != tc.accepted {
			t.Errorf("%s: alone: accepted %v, want %v", tc.name, got, tc.accepted)
		}
		// In a batch of valid signatures by several keys.
		var batch []sigCheck
		for i := range 20 {
			p2, k2, _ := ed25519.GenerateKey(rand.Reader)
			m := []byte(fmt.Sprint("message ", i))
			batch = append(batch, sigCheck{p2, m, ed25519.Sign(k2, m)}, sigCheck{pub, m, ed25519.Sign(priv, m)})
		}
		batch[7] = sigCheck{pub, msg, tc.sig}
		errs := c.verifyBatch(batch)
		for i, err := range errs {
			if want := i != 7 || tc.accepted; (err == nil) != want {
				t.Errorf("%s: in a batch, signature %d: %v", tc.name, i, err)
			}
		}
	}
}

// torsionSignature signs msg with R = rB + T, T of order 8: the
// cofactorless equation fails, the cofactored one holds. Only the private
// key's holder can make one.
func torsionSignature(t *testing.T, priv ed25519.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha512.Sum512(priv.Seed())
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	A := priv.Public().(ed25519.PublicKey)
	tb, _ := hex.DecodeString("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
	T, err := new(edwards25519.Point).SetBytes(tb)
	if err != nil {
		t.Fatal(err)
	}
	if new(edwards25519.Point).MultByCofactor(T).Equal(edwards25519.NewIdentityPoint()) != 1 {
		t.Fatal("T is not of small order")
	}
	rb := make([]byte, 64)
	rand.Read(rb)
	r, _ := edwards25519.NewScalar().SetUniformBytes(rb)
	R := new(edwards25519.Point).ScalarBaseMult(r)
	R.Add(R, T)
	kh := sha512.New()
	kh.Write(R.Bytes())
	kh.Write(A)
	kh.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(R.Bytes(), S.Bytes()...)
}
