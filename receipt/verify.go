package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/internal/strictjson"
)

// The checks a receipt can fail, as Error.Check names them.
const (
	CheckFormat     = "receipt format"
	CheckCheckpoint = "checkpoint"
	CheckWitnesses  = "witnesses"
	CheckInclusion  = "inclusion proof"
	CheckLeaf       = "leaf"
	CheckSigner     = "signer key"
	CheckSignature  = "statement signature"
	CheckRevocation = "key revocation"
	CheckFile       = "file digest"
)

// Error is a receipt that failed a check. Check says which one.
type Error struct {
	Check string
	Err   error
}

func (e *Error) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(check, format string, args ...any) error {
	return &Error{Check: check, Err: fmt.Errorf(format, args...)}
}

// Verified is what a receipt proves, once every check has passed.
type Verified struct {
	// Origin, TreeSize and RootHash are the signed checkpoint's.
	Origin     string
	TreeSize   uint64
	RootHash   []byte
	Checkpoint []byte
	// LeafIndex and Leaf are the proven leaf; LeafHash = SHA-256(0x00 ‖ Leaf).
	LeafIndex uint64
	Leaf      []byte
	LeafHash  []byte
	// EntryID is the entry id of the envelope in the leaf (hex).
	EntryID string
	// ReceivedAt is the time the log received the statement (RFC 3339).
	ReceivedAt string
	// PayloadType and Payload are the signed statement.
	PayloadType string
	Payload     []byte
	// Signers are the keys whose signatures verified, in signature order.
	Signers []Signer
}

// Verifier checks receipts against one log's public key. It checks each
// distinct checkpoint's signature once and is safe for concurrent use.
type Verifier struct {
	origin string
	nv     note.Verifier

	mu   sync.Mutex
	cps  map[string]*log.Checkpoint // verified checkpoints by their exact bytes
	keys keyCache

	cosigned func(signed []byte, log note.Verifier) error // see RequireCosignatures
}

// RequireCosignatures makes every checkpoint also pass check, such as a
// witness policy's quorum of cosignatures (witness.Policy.Verify); a
// checkpoint that fails it fails the "witnesses" check. Call it before
// verifying anything.
func (v *Verifier) RequireCosignatures(check func(signed []byte, log note.Verifier) error) {
	v.cosigned = check
}

const maxCachedCheckpoints = 4096

// NewVerifier returns a verifier for the log whose note verifier key is
// logKey ("<origin>+<hash>+<base64>", as GET /v1/log gives it). The key's
// name is the log's origin.
func NewVerifier(logKey string) (*Verifier, error) {
	nv, err := note.NewVerifier(strings.TrimSpace(logKey))
	if err != nil {
		return nil, errors.New("the log key is not a note verifier key (origin+hash+base64)")
	}
	return &Verifier{origin: nv.Name(), nv: nv, cps: map[string]*log.Checkpoint{}}, nil
}

// Origin is the origin of the log whose receipts v checks.
func (v *Verifier) Origin() string { return v.origin }

// batchSize is how many signatures are checked together; larger batches
// gain little more.
const batchSize = 256

// Verify checks one receipt completely.
func (v *Verifier) Verify(r *Receipt) (*Verified, error) {
	out, errs := v.VerifyAll([]*Receipt{r})
	return out[0], errs[0]
}

// VerifyAll checks receipts and returns, for each, what it proves or why it
// fails (an *Error). For every receipt it checks:
//
//  1. the checkpoint's signature, with the log key (once per distinct
//     checkpoint), and that its origin is the key's name;
//  2. the inclusion proof of SHA-256(0x00 ‖ leaf) at the leaf index against
//     the checkpoint's root hash;
//  3. that the leaf is an envelope and a received_at time, as the log
//     writes them;
//  4. that the receipt has one signer key per signature, each hashing to
//     the key id the signature names;
//  5. every signature over the statement, with those keys;
//  6. where the receipt says, that each key's principal.key entry comes
//     before the entry and its revocation after it.
func (v *Verifier) VerifyAll(rs []*Receipt) ([]*Verified, []error) {
	out := make([]*Verified, len(rs))
	errs := make([]error, len(rs))
	var checks []sigCheck
	var owners []int // receipt index of each check
	for i, r := range rs {
		vr, sigs, err := v.verifyProof(r)
		if err != nil {
			errs[i] = err
			continue
		}
		out[i] = vr
		pae := envelope.PAE(vr.PayloadType, vr.Payload)
		for j, s := range vr.Signers {
			checks = append(checks, sigCheck{pub: s.PublicKey, msg: pae, sig: sigs[j]})
			owners = append(owners, i)
		}
	}
	for start := 0; start < len(checks); start += batchSize {
		end := min(start+batchSize, len(checks))
		for k, err := range v.keys.verifyBatch(checks[start:end]) {
			i := owners[start+k]
			if err != nil && errs[i] == nil {
				errs[i] = fail(CheckSignature, "signature %d does not verify with key %s", sigIndex(owners, start+k), envelope.KeyID(checks[start+k].pub))
				out[i] = nil
			}
		}
	}
	return out, errs
}

// sigIndex is the position of check k among its receipt's signatures.
func sigIndex(owners []int, k int) int {
	n := 0
	for j := k - 1; j >= 0 && owners[j] == owners[k]; j-- {
		n++
	}
	return n
}

// verifyProof runs every check but the signatures, and returns the raw
// signatures to check.
func (v *Verifier) verifyProof(r *Receipt) (*Verified, [][]byte, error) {
	cp, err := v.checkpoint(r.Checkpoint)
	if err != nil {
		return nil, nil, err
	}
	if r.LeafIndex >= cp.Size {
		return nil, nil, fail(CheckInclusion, "leaf index %d is outside the checkpoint's tree of size %d", r.LeafIndex, cp.Size)
	}
	// SPEC: RFC 6962 §2.1: leaf hash = SHA-256(0x00 ‖ leaf).
	lh := rfc6962.DefaultHasher.HashLeaf(r.Leaf)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.LeafIndex, cp.Size, lh, r.Proof, cp.Hash); err != nil {
		return nil, nil, fail(CheckInclusion, "the leaf is not at index %d of the checkpoint's tree of size %d (%v)", r.LeafIndex, cp.Size, err)
	}
	leaf, pe, err := parseLeaf(r.Leaf)
	if err != nil {
		return nil, nil, fail(CheckLeaf, "%s", strings.TrimPrefix(err.Error(), "leaf: "))
	}
	if len(r.Signers) != len(pe.Signatures) {
		return nil, nil, fail(CheckSigner, "the receipt has %d signer keys for the statement's %d signatures", len(r.Signers), len(pe.Signatures))
	}
	for j, s := range r.Signers {
		if kid := envelope.KeyID(s.PublicKey); kid != pe.Signatures[j].KeyID {
			return nil, nil, fail(CheckSigner, "signer key %d has key id %s but signature %d names key %s", j, kid, j, pe.Signatures[j].KeyID)
		}
		if err := checkKeyLife(j, s, r.LeafIndex); err != nil {
			return nil, nil, err
		}
	}
	return &Verified{
		Origin: cp.Origin, TreeSize: cp.Size, RootHash: cp.Hash, Checkpoint: r.Checkpoint,
		LeafIndex: r.LeafIndex, Leaf: r.Leaf, LeafHash: lh,
		EntryID: pe.ID, ReceivedAt: leaf.ReceivedAt,
		PayloadType: pe.PayloadType, Payload: pe.PayloadBytes,
		Signers: r.Signers,
	}, pe.Sigs, nil
}

// checkKeyLife checks the signer's key was registered before the entry and
// not revoked at or before it: a key counts from its principal.key entry up
// to, not including, its principal.key-revocation entry.
func checkKeyLife(j int, s Signer, leafIndex uint64) error {
	if s.KeyIndex != nil && uint64(*s.KeyIndex) >= leafIndex {
		return fail(CheckSigner, "signer key %d was registered at leaf %d, not before this entry at leaf %d", j, *s.KeyIndex, leafIndex)
	}
	if s.RevokedIndex == nil {
		return nil
	}
	if s.KeyIndex != nil && *s.RevokedIndex <= *s.KeyIndex {
		return fail(CheckSigner, "signer key %d is said to be revoked at leaf %d, not after its registration at leaf %d", j, *s.RevokedIndex, *s.KeyIndex)
	}
	if leafIndex >= uint64(*s.RevokedIndex) {
		return fail(CheckRevocation, "signer key %d (%s) was revoked at leaf %d, and this entry is at leaf %d: statements signed with a revoked key do not count",
			j, envelope.KeyID(s.PublicKey), *s.RevokedIndex, leafIndex)
	}
	return nil
}

// Revocations returns the signers whose key has been revoked since (always
// after this entry, once the receipt verified).
func (vr *Verified) Revocations() []Signer {
	var out []Signer
	for _, s := range vr.Signers {
		if s.RevokedIndex != nil {
			out = append(out, s)
		}
	}
	return out
}

// checkpoint verifies a signed checkpoint, or finds it verified before.
func (v *Verifier) checkpoint(b []byte) (*log.Checkpoint, error) {
	v.mu.Lock()
	cp, ok := v.cps[string(b)]
	v.mu.Unlock()
	if ok {
		return cp, nil
	}
	cp, err := v.openCheckpoint(b)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.cps) >= maxCachedCheckpoints {
		clear(v.cps)
	}
	v.cps[string(b)] = cp
	v.mu.Unlock()
	return cp, nil
}

func (v *Verifier) openCheckpoint(b []byte) (*log.Checkpoint, error) {
	// SPEC: c2sp.org/signed-note: text, an empty line, signature lines
	// "— <name> <base64>". note.Open accepts non-canonical base64 in
	// signatures; a receipt has one encoding, so they are checked here.
	split := bytes.LastIndex(b, []byte("\n\n"))
	if split < 0 {
		return nil, fail(CheckCheckpoint, "not a signed note (no empty line before the signatures)")
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(b[split+2:], []byte("\n")), []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			return nil, fail(CheckCheckpoint, "signature line %d is empty", n+1)
		}
		if _, err := decodeB64(f[len(f)-1]); err != nil {
			return nil, fail(CheckCheckpoint, "signature line %d is not canonical base64", n+1)
		}
	}
	n, err := note.Open(b, note.VerifierList(v.nv))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, fail(CheckCheckpoint, "it has no signature by the log key of %s", v.origin)
		case errors.As(err, &invalid):
			return nil, fail(CheckCheckpoint, "the log's signature does not verify")
		default:
			return nil, fail(CheckCheckpoint, "not a well-formed signed note")
		}
	}
	// SPEC: c2sp.org/tlog-checkpoint: origin, decimal size and base64 root
	// hash lines, then optional extension lines.
	cp := &log.Checkpoint{}
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return nil, fail(CheckCheckpoint, "the signed text is not a checkpoint: %v", err)
	}
	if cp.Origin != v.origin {
		return nil, fail(CheckCheckpoint, "it is for the log %q, not %q", cp.Origin, v.origin)
	}
	if len(cp.Hash) != sha256.Size {
		return nil, fail(CheckCheckpoint, "the root hash is not 32 bytes")
	}
	if v.cosigned != nil {
		if err := v.cosigned(b, v.nv); err != nil {
			return nil, fail(CheckWitnesses, "%v", err)
		}
	}
	return cp, nil
}

// StatementType returns the statement's "type", or "" when the payload is
// not a JSON object with a string type.
func (vr *Verified) StatementType() string {
	var st struct {
		Type string `json:"type"`
	}
	// The I-JSON reader trialogd used: a duplicate "type" has one reading.
	if strictjson.Valid(vr.Payload) != nil || json.Unmarshal(vr.Payload, &st) != nil {
		return ""
	}
	return st.Type
}

// FindDigest looks in the statement for a document digest {"sha256": …}
// equal to sum and returns where it is, such as "digest.sha256". Salted
// digests ("salted": true) never match a document's own hash.
func (vr *Verified) FindDigest(sum []byte) (string, error) {
	if strictjson.Valid(vr.Payload) != nil {
		return "", fail(CheckFile, "the statement is not I-JSON")
	}
	var st any
	dec := json.NewDecoder(bytes.NewReader(vr.Payload))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		return "", fail(CheckFile, "the statement is not JSON")
	}
	want := hex.EncodeToString(sum)
	var found []string
	var match string
	walkDigests(st, "", func(path, hexsum string, salted bool) {
		if hexsum == want && !salted && match == "" {
			match = path
		}
		found = append(found, path)
	})
	if match != "" {
		return match, nil
	}
	if len(found) == 0 {
		return "", fail(CheckFile, "the statement holds no document digest")
	}
	return "", fail(CheckFile, "the file's SHA-256 %s is not the statement's %s", want, strings.Join(found, " or "))
}

func walkDigests(v any, path string, f func(path, hexsum string, salted bool)) {
	switch t := v.(type) {
	case map[string]any:
		if s, ok := t["sha256"].(string); ok {
			salted, _ := t["salted"].(bool)
			f(join(path, "sha256"), s, salted)
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			walkDigests(t[k], join(path, k), f)
		}
	case []any:
		for i, e := range t {
			walkDigests(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// KeyID is the key id of a signer's key.
func (s Signer) KeyID() string { return envelope.KeyID(s.PublicKey) }
