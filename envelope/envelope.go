// Package envelope is trialog's signed-statement format: DSSE envelopes
// (parsing, PAE, signing, verification), entry ids, key ids and the leaf that
// the log stores. Server, client and verifiers share it.
package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/internal/strictjson"
	"github.com/trialog/trialog/statement"
)

// Envelope is a DSSE envelope as submitted and as stored in the leaf.
//
// SPEC: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md
type Envelope = api.Envelope

// Signature is one DSSE signature. KeyID is the lowercase hex SHA-256 of the
// raw 32-byte Ed25519 public key.
type Signature = api.Signature

// maxSignatures bounds the work one envelope can ask for.
const maxSignatures = 8

var keyIDPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Parsed is an envelope whose encoding has been checked, with its
// decoded parts.
type Parsed struct {
	Envelope
	PayloadBytes []byte
	KeyIDs       [][]byte // raw 32-byte key ids, in signature order
	Sigs         [][]byte // raw 64-byte signatures, in signature order
	// ID is the entry id: SHA-256(PAE ‖ keyid₁ ‖ sig₁ ‖ …), lowercase hex.
	ID string
}

// Parse decodes an envelope strictly: no unknown or duplicate
// fields, canonical standard base64, one to eight signatures with distinct
// well-formed key ids. It does not verify signatures.
func Parse(data []byte) (*Parsed, error) {
	var e Envelope
	if err := strictjson.Unmarshal(data, &e); err != nil {
		return nil, statement.Invalidf("envelope: %v", err)
	}
	return Check(e)
}

// Check validates an envelope decoded elsewhere, as ParseEnvelope does.
func Check(e Envelope) (*Parsed, error) {
	if e.PayloadType == "" {
		return nil, statement.Invalidf("envelope: payloadType is required")
	}
	if len(e.PayloadType) > 255 {
		return nil, statement.Invalidf("envelope: payloadType is longer than 255 bytes")
	}
	payload, err := DecodeB64(e.Payload)
	if err != nil {
		return nil, statement.Invalidf("envelope: payload: %v", err)
	}
	if len(payload) == 0 {
		return nil, statement.Invalidf("envelope: payload is empty")
	}
	if len(e.Signatures) == 0 {
		return nil, statement.Invalidf("envelope: at least one signature is required")
	}
	if len(e.Signatures) > maxSignatures {
		return nil, statement.Invalidf("envelope: at most %d signatures are accepted", maxSignatures)
	}
	p := &Parsed{Envelope: e, PayloadBytes: payload}
	seen := make(map[string]bool)
	for i, s := range e.Signatures {
		if !keyIDPattern.MatchString(s.KeyID) {
			return nil, statement.Invalidf("envelope: signatures[%d].keyid must be the 64-hex-digit SHA-256 of the raw Ed25519 public key", i)
		}
		if seen[s.KeyID] {
			return nil, statement.Invalidf("envelope: signatures[%d].keyid repeats an earlier key", i)
		}
		seen[s.KeyID] = true
		sig, err := DecodeB64(s.Sig)
		if err != nil {
			return nil, statement.Invalidf("envelope: signatures[%d].sig: %v", i, err)
		}
		if len(sig) != ed25519.SignatureSize {
			return nil, statement.Invalidf("envelope: signatures[%d].sig must be a 64-byte Ed25519 signature", i)
		}
		kid, _ := hex.DecodeString(s.KeyID)
		p.KeyIDs = append(p.KeyIDs, kid)
		p.Sigs = append(p.Sigs, sig)
	}
	p.ID = entryID(e.PayloadType, payload, p.KeyIDs, p.Sigs)
	return p, nil
}

// DecodeB64 accepts only canonical standard base64 with padding, so that one
// value has one encoding.
func DecodeB64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not standard base64 with padding")
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, fmt.Errorf("not canonical base64")
	}
	return b, nil
}

// PAE is DSSE's pre-authentication encoding of payloadType and payload.
//
// SPEC: DSSE v1 "PAE(type, body) = "DSSEv1" + SP + LEN(type) + SP + type + SP
// + LEN(body) + SP + body", LEN as ASCII decimal byte counts.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(payloadType) + len(payload) + 32)
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// entryID is the lowercase hex SHA-256 of PAE followed by each signature's
// raw key id and raw signature, in order (API.md).
func entryID(payloadType string, payload []byte, keyIDs, sigs [][]byte) string {
	h := sha256.New()
	h.Write(PAE(payloadType, payload))
	for i := range keyIDs {
		h.Write(keyIDs[i])
		h.Write(sigs[i])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// KeyID returns the key id of an Ed25519 public key: lowercase hex SHA-256
// of its raw 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// VerifySignatures checks every signature against keys, which maps key ids
// (hex) to public keys. A key id missing from keys is reported by index so
// the caller can answer 403 rather than 400.
func (p *Parsed) VerifySignatures(keys map[string]ed25519.PublicKey) error {
	pae := PAE(p.PayloadType, p.PayloadBytes)
	for i, s := range p.Signatures {
		pub, ok := keys[s.KeyID]
		if !ok {
			return &UnknownKeyError{Index: i, KeyID: s.KeyID}
		}
		if !ed25519.Verify(pub, pae, p.Sigs[i]) {
			return statement.Invalidf("envelope: signatures[%d] does not verify with key %s", i, s.KeyID)
		}
	}
	return nil
}

// UnknownKeyError says a signature's key is not registered to the caller.
type UnknownKeyError struct {
	Index int
	KeyID string
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("signatures[%d]: key %s is not registered to the calling principal", e.Index, e.KeyID)
}

// Sign makes a single-signature envelope over payload with priv. trialogd
// uses it for its own entries; clients use the same function.
func Sign(payloadType string, payload []byte, priv ed25519.PrivateKey) Envelope {
	sig := ed25519.Sign(priv, PAE(payloadType, payload))
	return Envelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures: []Signature{{
			KeyID: KeyID(priv.Public().(ed25519.PublicKey)),
			Sig:   base64.StdEncoding.EncodeToString(sig),
		}},
	}
}

// Leaf is the JSON object stored as a Merkle leaf: the envelope and the
// time the log received it. It is serialized once, by MarshalLeaf, and its
// bytes are stored and served verbatim; nobody re-serializes a leaf.
type Leaf struct {
	Envelope   Envelope `json:"envelope"`
	ReceivedAt string   `json:"received_at"`
}

// MarshalLeaf serializes a leaf. encoding/json writes struct fields in
// declaration order and escapes nothing ambiguous here, so the bytes are a
// function of the envelope and time alone.
func MarshalLeaf(l Leaf) []byte {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // only strings and slices of strings: cannot fail
	}
	return b
}

// ParseLeaf decodes leaf bytes strictly and re-checks the envelope inside.
func ParseLeaf(b []byte) (*Leaf, *Parsed, error) {
	var l Leaf
	if err := strictjson.Unmarshal(b, &l); err != nil {
		return nil, nil, fmt.Errorf("leaf: %v", err)
	}
	pe, err := Check(l.Envelope)
	if err != nil {
		return nil, nil, fmt.Errorf("leaf: %v", err)
	}
	if _, err := statement.ParseTime("received_at", l.ReceivedAt); err != nil {
		return nil, nil, fmt.Errorf("leaf: %v", err)
	}
	return &l, pe, nil
}

// ReadLeaf decodes a leaf this log wrote itself (MarshalLeaf's output,
// checked when it was submitted) without the strict checks of ParseLeaf,
// and returns it with its decoded payload. Never use it on leaves from
// elsewhere.
func ReadLeaf(b []byte) (*Leaf, []byte, error) {
	var l Leaf
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, nil, fmt.Errorf("leaf: %v", err)
	}
	payload, err := base64.StdEncoding.DecodeString(l.Envelope.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("leaf: payload: %v", err)
	}
	return &l, payload, nil
}
