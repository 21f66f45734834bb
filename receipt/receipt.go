// Package receipt is trialog's receipt: one file holding everything needed to
// check, offline and with nothing but the log's public key, that a signed
// statement is in the log — the exact leaf, its index, an RFC 6962 inclusion
// proof, the signed checkpoint the proof leads to, and the public key of each
// signer of the statement.
//
// A receipt is a trialog header followed by a C2SP tlog-proof whose extra
// data is the leaf (docs/receipts.md):
//
//	trialog-receipt@v1
//	signer <base64 raw Ed25519 key>[ <principal.key entry id>[ registered <index>]][ revoked <index>]
//	c2sp.org/tlog-proof@v1
//	extra <base64 of the exact leaf bytes>
//	index <leaf index>
//	<base64 proof hash>
//	…
//
//	<signed checkpoint>
//
// Parse is strict: one encoding per receipt, up to the free text of the
// checkpoint, whose bytes are signed. Verifier checks a receipt completely.
// The package uses no Trillian code so that verifiers stay small.
package receipt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/envelope"
)

// The fixed lines of a receipt.
const (
	// Header is the first line of every receipt.
	Header = "trialog-receipt@v1"
	// SPEC: c2sp.org/tlog-proof: "The first line MUST be the string
	// c2sp.org/tlog-proof@v1."
	tlogProofHeader = "c2sp.org/tlog-proof@v1"
)

// Limits that bound the work one receipt can ask for.
const (
	// MaxSize is the largest receipt accepted: a leaf holds an envelope of
	// at most 1 MiB, base64 makes it a third larger.
	MaxSize = 4 << 20
	// MaxSigners matches the envelope's limit of eight signatures.
	MaxSigners = 8
	// maxProof is the longest inclusion proof of a tree of 2^63 leaves.
	maxProof = 63
)

// Receipt is a parsed receipt. Its fields are what the file holds; nothing
// in it is trusted before Verifier.Verify has checked it.
type Receipt struct {
	// Signers holds one key per signature of the envelope in the leaf, in
	// signature order.
	Signers []Signer
	// Leaf is the exact leaf bytes: {"envelope":…,"received_at":…}.
	Leaf []byte
	// LeafIndex is the leaf's index in the log.
	LeafIndex uint64
	// Proof is the inclusion proof of the leaf in the checkpoint's tree,
	// from the leaf's sibling up.
	Proof [][]byte
	// Checkpoint is the signed C2SP checkpoint note, verbatim.
	Checkpoint []byte
}

// Signer is the public key of one signature, as the log asserts it.
type Signer struct {
	// PublicKey is the raw 32-byte Ed25519 key.
	PublicKey ed25519.PublicKey
	// KeyEntry is the id (64 hex digits) of the principal.key entry that
	// registered the key, empty for trialogd's own service key. It is a
	// pointer for online checks: nothing offline authenticates it.
	KeyEntry string
	// KeyIndex is the leaf index of that principal.key entry; nil when the
	// receipt does not say (keys registered before trialog recorded it, and
	// the service key).
	KeyIndex *int64
	// RevokedIndex is the leaf index of the principal.key-revocation entry
	// from which on the key no longer counts; nil when the key was not
	// revoked when the receipt was made.
	RevokedIndex *int64
}

// FromEntry builds the receipt of an included entry, as trialogd serves it,
// with the keys of its signers. It checks that the entry is included, not
// that it verifies: see Verifier.
func FromEntry(e *api.Entry, signers []Signer) (*Receipt, error) {
	if e.Status != api.StatusIncluded || e.InclusionProof == nil || e.Checkpoint == "" {
		return nil, errors.New("the entry is not yet in a published checkpoint")
	}
	if e.InclusionProof.LeafIndex != e.LeafIndex || e.LeafIndex < 0 {
		return nil, errors.New("the inclusion proof is not for the entry's leaf index")
	}
	leaf, err := envelope.DecodeB64(e.Leaf)
	if err != nil {
		return nil, fmt.Errorf("leaf: %w", err)
	}
	r := &Receipt{Signers: signers, Leaf: leaf, LeafIndex: uint64(e.LeafIndex), Checkpoint: []byte(e.Checkpoint)}
	for i, h := range e.InclusionProof.Hashes {
		b, err := envelope.DecodeB64(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("inclusion proof hash %d is not a base64 SHA-256", i)
		}
		r.Proof = append(r.Proof, b)
	}
	return r, nil
}

// Marshal encodes the receipt. Parse(r.Marshal()) gives r back.
func (r *Receipt) Marshal() []byte {
	var b bytes.Buffer
	b.Grow(len(r.Leaf)*4/3 + len(r.Checkpoint) + 64*len(r.Proof) + 256)
	b.WriteString(Header + "\n")
	for _, s := range r.Signers {
		b.WriteString("signer ")
		b.WriteString(base64.StdEncoding.EncodeToString(s.PublicKey))
		if s.KeyEntry != "" {
			b.WriteByte(' ')
			b.WriteString(s.KeyEntry)
			if s.KeyIndex != nil {
				b.WriteString(" registered ")
				b.WriteString(strconv.FormatInt(*s.KeyIndex, 10))
			}
		}
		if s.RevokedIndex != nil {
			b.WriteString(" revoked ")
			b.WriteString(strconv.FormatInt(*s.RevokedIndex, 10))
		}
		b.WriteByte('\n')
	}
	// SPEC: c2sp.org/tlog-proof: header, optional "extra <base64>", "index
	// <decimal>", one base64 hash per line, an empty line, the checkpoint.
	b.WriteString(tlogProofHeader + "\n")
	b.WriteString("extra ")
	b.WriteString(base64.StdEncoding.EncodeToString(r.Leaf))
	b.WriteString("\nindex ")
	b.WriteString(strconv.FormatUint(r.LeafIndex, 10))
	b.WriteByte('\n')
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// TLogProof returns the C2SP tlog-proof inside the receipt: the part from
// the line "c2sp.org/tlog-proof@v1" on. Its extra data is the leaf, so any
// tlog-proof verifier can check it with record hash SHA-256(0x00 ‖ extra).
func (r *Receipt) TLogProof() []byte {
	m := r.Marshal()
	i := bytes.Index(m, []byte("\n"+tlogProofHeader+"\n"))
	return m[i+1:]
}

// ParseError is a receipt that does not follow the format.
type ParseError struct {
	Line int // 1-based; 0 for the whole receipt
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Parse decodes a receipt strictly: exact line structure, canonical
// standard base64 with padding, lowercase hex, decimal without leading
// zeros, nothing unknown. It checks form, not content: see Verifier.
func Parse(data []byte) (*Receipt, error) {
	if len(data) > MaxSize {
		return nil, &ParseError{Msg: fmt.Sprintf("a receipt is at most %d bytes", MaxSize)}
	}
	p := lineReader{data: data}
	if l, ok := p.next(); !ok || string(l) != Header {
		return nil, p.errorf("the first line must be %q", Header)
	}
	r := &Receipt{}
	for {
		l, ok := p.next()
		if !ok {
			return nil, p.errorf("expected a signer line or %q", tlogProofHeader)
		}
		if string(l) == tlogProofHeader {
			break
		}
		rest, ok := bytes.CutPrefix(l, []byte("signer "))
		if !ok {
			return nil, p.errorf("expected a signer line or %q", tlogProofHeader)
		}
		if len(r.Signers) == MaxSigners {
			return nil, p.errorf("at most %d signer lines", MaxSigners)
		}
		s, err := parseSigner(rest)
		if err != nil {
			return nil, p.errorf("%v", err)
		}
		r.Signers = append(r.Signers, s)
	}
	if len(r.Signers) == 0 {
		return nil, p.errorf("at least one signer line must come before %q", tlogProofHeader)
	}
	// SPEC: c2sp.org/tlog-proof: "The second line MAY start with the string
	// extra followed by a space and base64-encoded opaque extra data."
	// trialog requires it: the extra data is the leaf.
	l, _ := p.next()
	rest, ok := bytes.CutPrefix(l, []byte("extra "))
	if !ok {
		return nil, p.errorf("expected the leaf as \"extra <base64>\"")
	}
	leaf, err := decodeB64(rest)
	if err != nil || len(leaf) == 0 {
		return nil, p.errorf("the leaf must be non-empty canonical standard base64 with padding")
	}
	r.Leaf = leaf
	// SPEC: c2sp.org/tlog-proof: "index" SP decimal "with no leading
	// zeroes (unless the index is 0)".
	l, _ = p.next()
	rest, ok = bytes.CutPrefix(l, []byte("index "))
	if !ok {
		return nil, p.errorf("expected \"index <leaf index>\"")
	}
	if r.LeafIndex, ok = parseDecimal(rest); !ok {
		return nil, p.errorf("the index must be a decimal number without leading zeros, below 2^63")
	}
	for {
		l, ok := p.next()
		if !ok {
			return nil, p.errorf("expected an empty line before the checkpoint")
		}
		if len(l) == 0 {
			break
		}
		if len(r.Proof) == maxProof {
			return nil, p.errorf("an inclusion proof has at most %d hashes", maxProof)
		}
		h, err := decodeB64(l)
		if err != nil || len(h) != 32 {
			return nil, p.errorf("an inclusion proof line must be the canonical base64 of a 32-byte hash")
		}
		r.Proof = append(r.Proof, h)
	}
	r.Checkpoint = data[p.off:]
	if len(r.Checkpoint) == 0 {
		return nil, p.errorf("the checkpoint is missing")
	}
	return r, nil
}

// parseSigner parses what follows "signer ": the key, then optionally the
// key entry id (optionally followed by "registered <index>"), then
// optionally "revoked <index>", each separated by one space.
func parseSigner(rest []byte) (Signer, error) {
	f := bytes.Split(rest, []byte(" "))
	key, err := decodeB64(f[0])
	if err != nil || len(key) != ed25519.PublicKeySize {
		return Signer{}, errors.New("a signer's key must be the canonical base64 of a raw 32-byte Ed25519 key")
	}
	s := Signer{PublicKey: key}
	f = f[1:]
	if len(f) > 0 && string(f[0]) != "revoked" {
		if !isLowerHex64(f[0]) {
			return Signer{}, errors.New("a signer's key entry must be 64 lowercase hex digits")
		}
		s.KeyEntry = string(f[0])
		f = f[1:]
		if len(f) > 0 && string(f[0]) == "registered" {
			if len(f) < 2 {
				return Signer{}, errors.New("\"registered\" must be followed by the key entry's leaf index")
			}
			n, ok := parseDecimal(f[1])
			if !ok {
				return Signer{}, errors.New("the key entry's leaf index must be a decimal number without leading zeros, below 2^63")
			}
			s.KeyIndex = Index(int64(n))
			f = f[2:]
		}
	}
	if len(f) > 0 && string(f[0]) == "revoked" {
		if len(f) < 2 {
			return Signer{}, errors.New("\"revoked\" must be followed by the revocation's leaf index")
		}
		n, ok := parseDecimal(f[1])
		if !ok {
			return Signer{}, errors.New("the revocation's leaf index must be a decimal number without leading zeros, below 2^63")
		}
		s.RevokedIndex = Index(int64(n))
		f = f[2:]
	}
	if len(f) > 0 {
		return Signer{}, errors.New("a signer line is \"signer KEY[ ENTRY[ registered N]][ revoked N]\", fields separated by one space")
	}
	return s, nil
}

// Index returns a pointer to a leaf index, for Signer's optional fields.
func Index(i int64) *int64 { return &i }

// lineReader splits data into "\n"-terminated lines.
type lineReader struct {
	data []byte
	off  int
	line int
}

// next returns the next line without its "\n"; ok is false at the end or
// when the last line has no "\n".
func (p *lineReader) next() ([]byte, bool) {
	i := bytes.IndexByte(p.data[p.off:], '\n')
	if i < 0 {
		return nil, false
	}
	l := p.data[p.off : p.off+i]
	p.off += i + 1
	p.line++
	return l, true
}

func (p *lineReader) errorf(format string, args ...any) error {
	return &ParseError{Line: p.line, Msg: fmt.Sprintf(format, args...)}
}

// decodeB64 accepts only canonical standard base64 with padding.
func decodeB64(b []byte) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Strict().Decode(out, b)
	if err != nil || base64.StdEncoding.EncodedLen(n) != len(b) {
		return nil, errors.New("not canonical base64")
	}
	// Strict decoding rejects non-zero padding bits and newlines; with the
	// length checked, the encoding is the only one of these bytes.
	return out[:n], nil
}

func parseDecimal(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, n < 1<<63
}

func isLowerHex64(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
