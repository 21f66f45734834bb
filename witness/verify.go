package witness

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// Note key algorithms (C2SP signed-note).
const (
	algEd25519       = 0x01
	algCosignatureV1 = 0x04
)

// NewVerifier returns a note verifier for a witness key: a cosignature/v1
// key (C2SP tlog-cosignature) or a plain Ed25519 note key.
//
// torchwood builds cosignature verifiers only from a private key and
// golang.org/x/mod/sumdb/note knows only Ed25519, so the cosignature/v1
// check is here, on the same Ed25519 primitive.
func NewVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok := strings.Cut(vkey, "+")
	if !ok {
		return nil, errors.New("malformed verifier key: want NAME+HASH+KEY")
	}
	hash16, key64, ok := strings.Cut(rest, "+")
	if !ok || len(hash16) != 8 || name == "" {
		return nil, errors.New("malformed verifier key: want NAME+HASH+KEY")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(key) == 0 {
		return nil, errors.New("malformed verifier key: the key is not base64")
	}
	switch key[0] {
	case algEd25519:
		return note.NewVerifier(vkey)
	case algCosignatureV1:
	default:
		return nil, fmt.Errorf("unsupported key algorithm %d (want 1, Ed25519, or 4, cosignature/v1)", key[0])
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, errors.New("malformed verifier key: a cosignature/v1 key is 33 bytes")
	}
	h, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil || keyHash(name, key) != uint32(h) {
		return nil, errors.New("malformed verifier key: the key hash does not match the name and key")
	}
	return &cosigVerifier{name: name, hash: uint32(h), key: ed25519.PublicKey(key[1:])}, nil
}

// SPEC: C2SP signed-note — the key hash is the first four bytes of
// SHA-256(name || "\n" || algorithm byte || key).
func keyHash(name string, key []byte) uint32 {
	h := sha256Sum([]byte(name+"\n"), key)
	return binary.BigEndian.Uint32(h[:4])
}

type cosigVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

// Verify checks a cosignature/v1 signature: an 8-byte big-endian timestamp
// followed by an Ed25519 signature over
// "cosignature/v1\ntime <T>\n" + checkpoint.
func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	// SPEC: C2SP tlog-cosignature — timestamped_signature is
	// uint64 timestamp || Ed25519 signature.
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	if _, err := torchwood.ParseCheckpoint(string(msg)); err != nil {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 {
		return false
	}
	// SPEC: C2SP tlog-cosignature — the signed message.
	m := "cosignature/v1\ntime " + strconv.FormatUint(t, 10) + "\n" + string(msg)
	return ed25519.Verify(v.key, []byte(m), sig[8:])
}

// Cosigned is a checkpoint that verified against a policy.
type Cosigned struct {
	Note   *note.Note
	Origin string
	Size   uint64
	Hash   []byte
	// Witnesses are the witnesses whose cosignatures verified, by name.
	Witnesses []string
	// Times are their cosignatures' timestamps (zero for Ed25519 keys,
	// which carry none).
	Times map[string]time.Time
	// CosignedAt is the oldest timestamp among the cosignatures that meet
	// the quorum: the checkpoint was seen by the quorum at least this
	// recently. Zero when the quorum is "none" or no key carries a time.
	CosignedAt time.Time
}

// QuorumError is a checkpoint without enough valid cosignatures.
type QuorumError struct {
	Quorum    string
	Witnesses []string // the witnesses that did cosign
}

func (e *QuorumError) Error() string {
	if len(e.Witnesses) == 0 {
		return fmt.Sprintf("the checkpoint carries no valid cosignature from the witnesses of the policy (quorum %s)", e.Quorum)
	}
	return fmt.Sprintf("the checkpoint's valid cosignatures (%s) do not meet the policy's quorum %s", strings.Join(e.Witnesses, ", "), e.Quorum)
}

// Verify opens a signed checkpoint with the log's verifier and the policy's
// witness verifiers, and checks that the log signed it and that the valid
// cosignatures meet the quorum. Signatures from unknown keys are ignored; a
// signature from a known key that does not verify is an error.
func (p *Policy) Verify(signed []byte, log note.Verifier) (*Cosigned, error) {
	vs := []note.Verifier{log}
	for _, w := range p.Witnesses {
		vs = append(vs, w.verifier)
	}
	n, err := note.Open(signed, note.VerifierList(vs...))
	if err != nil {
		return nil, fmt.Errorf("checkpoint signatures: %w", err)
	}
	cp, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c := &Cosigned{Note: n, Origin: cp.Origin, Size: uint64(cp.N), Hash: append([]byte(nil), cp.Hash[:]...), Times: map[string]time.Time{}}
	byKey := map[string]*Witness{}
	for _, w := range p.Witnesses {
		byKey[sigID(w.verifier.Name(), w.verifier.KeyHash())] = w
	}
	logSigned := false
	got := map[string]bool{}
	for _, s := range n.Sigs {
		if s.Name == log.Name() && s.Hash == log.KeyHash() {
			logSigned = true
			continue
		}
		w := byKey[sigID(s.Name, s.Hash)]
		if w == nil || got[w.Name] {
			continue
		}
		got[w.Name] = true
		c.Witnesses = append(c.Witnesses, w.Name)
		if _, ok := w.verifier.(*cosigVerifier); ok {
			ts, err := torchwood.CosignatureTimestamp(s)
			if err != nil {
				return nil, fmt.Errorf("cosignature of %s: %w", w.Name, err)
			}
			c.Times[w.Name] = time.Unix(ts, 0).UTC()
		}
	}
	if !logSigned {
		return nil, errors.New("the checkpoint is not signed by the log's key")
	}
	sort.Strings(c.Witnesses)
	if !p.Satisfied(got) {
		return nil, &QuorumError{Quorum: p.Quorum(), Witnesses: c.Witnesses}
	}
	c.CosignedAt = p.freshness(c.Times)
	return c, nil
}

// freshness is the oldest cosignature time among the witnesses that meet
// the quorum, preferring the most recent ones: drop witnesses oldest first
// while the rest still meet it.
func (p *Policy) freshness(times map[string]time.Time) time.Time {
	if p.quorum == -1 || len(times) == 0 {
		return time.Time{}
	}
	names := make([]string, 0, len(times))
	for n := range times {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return times[names[i]].Before(times[names[j]]) })
	in := map[string]bool{}
	for _, n := range names {
		in[n] = true
	}
	for _, n := range names {
		delete(in, n)
		if !p.Satisfied(in) {
			return times[n]
		}
	}
	return times[names[len(names)-1]]
}

func sigID(name string, hash uint32) string {
	return name + "+" + strconv.FormatUint(uint64(hash), 16)
}

// splitNote returns a signed note's text and signature block.
func splitNote(signed []byte) (text, sigs []byte, ok bool) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return nil, nil, false
	}
	return signed[:i+1], signed[i+2:], true
}
