package receipt

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"sync"

	"filippo.io/edwards25519"
)

// Ed25519 verification for receipts, one signature at a time or many at
// once.
//
// One Ed25519 verification costs about as much as everything else a
// receipt needs several times over, and DESIGN.md's P4 asks for 20,000
// receipts per second per core, about what a core verifies alone. Checking
// many signatures together with one multi-scalar multiplication costs a
// quarter as much per signature.
//
// Batches can only be checked with the cofactored equation
//
//	[8]([S]B − R − [k]A) = 0
//
// so single signatures are checked with it too: a receipt gets the same
// answer alone or among thousands. Every signature Go's crypto/ed25519
// accepts (the cofactorless [S]B = R + [k]A, which trialogd applies at
// submission) is accepted here. The only signatures this accepts that Go
// refuses are ones whose R carries a small-order component, which only the
// holder of the private key can make: no one can forge a signature either
// way. As in Go, S must be canonical (below the group order), R must be the
// canonical encoding of a point, and A may be any encoding of a point.
//
// SPEC: RFC 8032 §5.1.7 (verification; step 3 allows the cofactored check).

// sigCheck is one signature to verify: key, message and signature.
type sigCheck struct {
	pub []byte // 32 bytes
	msg []byte
	sig []byte // 64 bytes
}

// keyCache keeps decoded public keys, as many receipts share a signer.
type keyCache struct {
	mu   sync.Mutex
	keys map[[32]byte]*edwards25519.Point
}

const maxCachedKeys = 4096

func (c *keyCache) point(pub []byte) (*edwards25519.Point, error) {
	var k [32]byte
	copy(k[:], pub)
	c.mu.Lock()
	p, ok := c.keys[k]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, errors.New("the public key is not a valid Ed25519 point")
	}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[[32]byte]*edwards25519.Point)
	}
	c.keys[k] = p
	c.mu.Unlock()
	return p, nil
}

// prepared is a signature's decoded parts.
type prepared struct {
	a *edwards25519.Point
	r *edwards25519.Point
	s *edwards25519.Scalar
	k *edwards25519.Scalar
}

var errBadSignature = errors.New("the signature does not verify with the signer's key")

// prepare decodes a signature and computes k = SHA-512(R ‖ A ‖ M) mod L.
func (c *keyCache) prepare(sc sigCheck) (*prepared, error) {
	if len(sc.pub) != 32 || len(sc.sig) != 64 {
		return nil, errBadSignature
	}
	a, err := c.point(sc.pub)
	if err != nil {
		return nil, err
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sc.sig[32:])
	if err != nil {
		return nil, errBadSignature
	}
	if !canonicalPoint(sc.sig[:32]) {
		return nil, errBadSignature
	}
	r, err := new(edwards25519.Point).SetBytes(sc.sig[:32])
	if err != nil {
		return nil, errBadSignature
	}
	h := sha512.New()
	h.Write(sc.sig[:32])
	h.Write(sc.pub)
	h.Write(sc.msg)
	var digest [64]byte
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
	return &prepared{a: a, r: r, s: s, k: k}, nil
}

// canonicalPoint reports whether a 32-byte point encoding is canonical: its
// y coordinate is below p = 2^255 − 19, and the sign bit is clear when x
// is zero (y = 1 or y = p − 1). The decoder accepts the other encodings;
// Go's verifier refuses them for R, and so does this.
func canonicalPoint(b []byte) bool {
	var y [32]byte
	copy(y[:], b)
	sign := y[31] >> 7
	y[31] &= 0x7f
	// y ≥ p: 0x7fff…ffed to 0x7fff…ffff (little-endian).
	high := y[31] == 0x7f && y[0] >= 0xed
	for i := 1; i < 31 && high; i++ {
		high = y[i] == 0xff
	}
	if high {
		return false
	}
	// x = 0 for y = 1 and y = p − 1: the sign bit must be clear.
	return sign == 0 || (y != yOne && y != yMinusOne)
}

var (
	yOne      = [32]byte{1}
	yMinusOne = [32]byte{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
)

// verifyOne checks one signature with the cofactored equation.
func (c *keyCache) verifyOne(sc sigCheck) error {
	p, err := c.prepare(sc)
	if err != nil {
		return err
	}
	// [k](−A) + [S]B − R, times the cofactor, must be the identity.
	minusA := new(edwards25519.Point).Negate(p.a)
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(p.k, minusA, p.s)
	q.Subtract(q, p.r)
	q.MultByCofactor(q)
	if q.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return errBadSignature
	}
	return nil
}

// verifyBatch checks many signatures and returns one error per signature
// (nil for a valid one). It checks
//
//	[8]( [Σ zᵢSᵢ]B − Σ [zᵢ]Rᵢ − Σⱼ [Σ_{i: Aᵢ=Aⱼ} zᵢkᵢ]Aⱼ ) = 0
//
// with random 128-bit zᵢ, which holds for valid signatures and, for any
// invalid one, fails except with probability 2⁻¹²⁸. When it fails, each
// signature is checked alone to name the bad ones.
func (c *keyCache) verifyBatch(checks []sigCheck) []error {
	errs := make([]error, len(checks))
	if len(checks) < 4 {
		for i, sc := range checks {
			errs[i] = c.verifyOne(sc)
		}
		return errs
	}
	zs := make([]byte, 16*len(checks))
	if _, err := rand.Read(zs); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	scalars := make([]*edwards25519.Scalar, 0, len(checks)+2)
	points := make([]*edwards25519.Point, 0, len(checks)+2)
	keyIndex := map[*edwards25519.Point]int{} // key → position in scalars
	sumS := edwards25519.NewScalar()
	valid := 0
	var zb [32]byte
	for i, sc := range checks {
		p, err := c.prepare(sc)
		if err != nil {
			errs[i] = err
			continue
		}
		valid++
		copy(zb[:16], zs[16*i:])
		z, _ := edwards25519.NewScalar().SetCanonicalBytes(zb[:]) // < 2^128 < L
		sumS.MultiplyAdd(z, p.s, sumS)
		scalars = append(scalars, edwards25519.NewScalar().Negate(z))
		points = append(points, p.r)
		zk := edwards25519.NewScalar().Multiply(z, p.k)
		if j, ok := keyIndex[p.a]; ok {
			scalars[j].Subtract(scalars[j], zk)
		} else {
			keyIndex[p.a] = len(scalars)
			scalars = append(scalars, edwards25519.NewScalar().Negate(zk))
			points = append(points, p.a)
		}
	}
	if valid == 0 {
		return errs
	}
	scalars = append(scalars, sumS)
	points = append(points, edwards25519.NewGeneratorPoint())
	q := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	q.MultByCofactor(q)
	if q.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return errs
	}
	for i, sc := range checks {
		if errs[i] == nil {
			errs[i] = c.verifyOne(sc)
		}
	}
	return errs
}
