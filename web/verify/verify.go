// Package verify is what trialog's pages check in the browser before they
// show anything: web/wasm compiles it to WebAssembly. It adds no
// cryptography of its own. Checkpoint signatures, inclusion proofs and
// statement signatures are checked by the packages trialog's CLI and
// offline verifier use (client, receipt, golang.org/x/mod's note
// and transparency-dev/merkle), and the outcome report and the consent
// status are recomputed from the proven entries by the same functions
// trialogd uses (trials.Compute, consent.Compute), then compared with what
// the server answered.
//
// Every function takes what the server sent, as bytes, and the log key the
// page trusts, and returns a result: OK, or the list of what failed. The
// entries in a result are read from the verified leaves, never from the
// server's decoded copies, so that a page shows only what it proved.
package verify

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/transparency-dev/formats/log"

	fnote "github.com/transparency-dev/formats/note"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/client"
	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
)

// The checks a result can name in a Failure.
const (
	CheckLogKey     = "log_key"
	CheckCheckpoint = "checkpoint"
	CheckWitness    = "witness"
	CheckEntry      = "entry"
	CheckReceipt    = "receipt"
	CheckReport     = "outcome_report"
	CheckConsent    = "consent_status"
	CheckAnswer     = "answer"
)

// Failure is one check that did not pass.
type Failure struct {
	Check string `json:"check"`
	// Entry is the entry id the failure is about, if any.
	Entry   string `json:"entry,omitempty"`
	Message string `json:"message"`
}

// Checkpoint is a verified checkpoint.
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root_hash"` // standard base64
	// Cosignatures lists the signatures on the note besides the log's.
	Cosignatures []Cosignature `json:"cosignatures"`
}

// Cosignature is a signature on a checkpoint by another key than the log's,
// such as a witness's.
type Cosignature struct {
	Name    string `json:"name"`
	KeyHash string `json:"key_hash"` // hex, the first 4 bytes of the signature line
	// Verified is true when the signature verified with a witness key the
	// caller gave; false when no such key was given (a signature by a known
	// key that does not verify fails the whole checkpoint).
	Verified bool `json:"verified"`
	// Pinned is true when that key came with the page's link, false when
	// the server listed it (worth only the server's word).
	Pinned bool `json:"pinned"`
}

// witnessVerifier reads a witness key: cosignature/v1, or a plain Ed25519
// note key.
func witnessVerifier(k string) (note.Verifier, error) {
	k = strings.TrimSpace(k)
	if wv, err := fnote.NewVerifierForCosignatureV1(k); err == nil {
		return wv, nil
	}
	return note.NewVerifier(k)
}

// Signer is the key of one statement signature, as its receipt gives it.
type Signer struct {
	KeyID string `json:"key_id"`
	// KeyEntry is the principal.key entry that registered the key; empty
	// for trialogd's service key.
	KeyEntry string `json:"key_entry,omitempty"`
}

// Entry is a proven entry, as its verified leaf and receipt state it.
type Entry struct {
	ID          string          `json:"id"`
	LeafIndex   int64           `json:"leaf_index"`
	ReceivedAt  string          `json:"received_at"`
	PayloadType string          `json:"payload_type"`
	Type        string          `json:"type"`
	Statement   json.RawMessage `json:"statement"`
	Signers     []Signer        `json:"signers"`
}

// Result is the common part of every answer.
type Result struct {
	OK         bool        `json:"ok"`
	Failures   []Failure   `json:"failures"`
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

func (r *Result) fail(check, entry, format string, args ...any) {
	r.Failures = append(r.Failures, Failure{Check: check, Entry: entry, Message: fmt.Sprintf(format, args...)})
}

func (r *Result) done() {
	r.OK = len(r.Failures) == 0
	if r.Failures == nil {
		r.Failures = []Failure{}
	}
}

// Keys are the keys a page checks against: the log key it trusts, and
// witness keys (note verifier keys of cosignature/v1, as in a witness
// policy) whose cosignatures to verify — those the page's link pinned,
// which must parse, and those the server listed, which are skipped when they
// do not.
type Keys struct {
	LogKey            string   `json:"log_key"`
	WitnessKeys       []string `json:"witness_keys"`
	ServedWitnessKeys []string `json:"served_witness_keys"`
}

// LogInput is what VerifyLog checks: a signed checkpoint.
type LogInput struct {
	Keys
	Checkpoint string `json:"checkpoint"`
}

// VerifyLog checks a checkpoint's log signature and every cosignature by a
// given witness key.
func VerifyLog(in LogInput) Result {
	var r Result
	r.Checkpoint = checkpoint(&r, in.Keys, in.Checkpoint)
	r.done()
	return r
}

// checkpoint verifies a signed checkpoint with the log key and the witness
// keys, recording failures in r; nil when it does not verify.
func checkpoint(r *Result, keys Keys, signed string) *Checkpoint {
	logKey := keys.LogKey
	lv, err := note.NewVerifier(strings.TrimSpace(logKey))
	if err != nil {
		r.fail(CheckLogKey, "", "the log key is not a note verifier key (origin+hash+base64)")
		return nil
	}
	v, err := client.NewVerifier(strings.TrimSpace(logKey))
	if err != nil {
		r.fail(CheckLogKey, "", "%v", err)
		return nil
	}
	cp, err := v.Checkpoint([]byte(signed))
	if err != nil {
		r.fail(CheckCheckpoint, "", "%v", err)
		return nil
	}
	out := &Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: base64.StdEncoding.EncodeToString(cp.Hash), Cosignatures: []Cosignature{}}
	verifiers := []note.Verifier{lv}
	pinned := map[string]bool{}
	for i, k := range append(slices.Clone(keys.WitnessKeys), keys.ServedWitnessKeys...) {
		wv, err := witnessVerifier(k)
		if err != nil {
			if i < len(keys.WitnessKeys) {
				r.fail(CheckWitness, "", "witness key %q is not a note verifier key", k)
			}
			continue
		}
		if i < len(keys.WitnessKeys) {
			pinned[fmt.Sprintf("%s+%08x", wv.Name(), wv.KeyHash())] = true
		}
		verifiers = append(verifiers, wv)
	}
	// SPEC: c2sp.org/signed-note: a verifier ignores signatures by unknown
	// keys; a signature by a known key that does not verify is an error.
	n, err := note.Open([]byte(signed), note.VerifierList(verifiers...))
	if err != nil {
		r.fail(CheckWitness, "", "a cosignature does not verify with its witness key: %v", err)
		return out
	}
	for _, s := range n.Sigs {
		if s.Name == lv.Name() && s.Hash == lv.KeyHash() {
			continue
		}
		out.Cosignatures = append(out.Cosignatures, Cosignature{Name: s.Name, KeyHash: fmt.Sprintf("%08x", s.Hash), Verified: true,
			Pinned: pinned[fmt.Sprintf("%s+%08x", s.Name, s.Hash)]})
	}
	for _, s := range n.UnverifiedSigs {
		out.Cosignatures = append(out.Cosignatures, Cosignature{Name: s.Name, KeyHash: fmt.Sprintf("%08x", s.Hash)})
	}
	return out
}

// entries verifies each entry against its own proof and against its
// receipt (which adds the statement signatures), and returns the entries as
// their leaves state them.
func entries(r *Result, logKey string, es []*api.Entry, receipts map[string]string) []Entry {
	rv, err := receipt.NewVerifier(logKey)
	if err != nil {
		r.fail(CheckLogKey, "", "%v", err)
		return nil
	}
	out := make([]Entry, 0, len(es))
	for _, e := range es {
		text, ok := receipts[e.ID]
		if !ok {
			r.fail(CheckReceipt, e.ID, "the receipt of entry %s is missing", e.ID)
			continue
		}
		rc, err := receipt.Parse([]byte(text))
		if err != nil {
			r.fail(CheckReceipt, e.ID, "the receipt of entry %s is malformed: %v", e.ID, err)
			continue
		}
		vr, err := rv.Verify(rc)
		if err != nil {
			r.fail(CheckReceipt, e.ID, "the receipt of entry %s does not verify: %v", e.ID, err)
			continue
		}
		leaf, err := envelope.DecodeB64(e.Leaf)
		switch {
		case err != nil || !bytes.Equal(leaf, vr.Leaf):
			r.fail(CheckReceipt, e.ID, "the receipt of entry %s proves another leaf than the answer's", e.ID)
			continue
		case vr.EntryID != e.ID || int64(vr.LeafIndex) != e.LeafIndex:
			r.fail(CheckReceipt, e.ID, "the receipt of entry %s is for entry %s at index %d", e.ID, vr.EntryID, vr.LeafIndex)
			continue
		}
		ent := Entry{ID: vr.EntryID, LeafIndex: int64(vr.LeafIndex), ReceivedAt: vr.ReceivedAt, PayloadType: vr.PayloadType, Signers: []Signer{}}
		for _, s := range vr.Signers {
			ent.Signers = append(ent.Signers, Signer{KeyID: s.KeyID(), KeyEntry: s.KeyEntry})
		}
		ent.Statement, ent.Type = readable(vr.PayloadType, vr.Payload)
		out = append(out, ent)
	}
	return out
}

// registry parses every statement type a page shows.
func registry() *statement.Registry {
	reg := statement.NewRegistry()
	trials.Register(reg)
	consent.Register(reg, nil) // parsing only
	return reg
}

// readable is the statement as JSON and its type: the signed payload
// itself for trialog statements, the statement read from it for other
// payload types (a FHIR Consent).
func readable(payloadType string, payload []byte) (json.RawMessage, string) {
	var head struct {
		Type string `json:"type"`
	}
	if payloadType == statement.PayloadType {
		if json.Unmarshal(payload, &head) == nil {
			return json.RawMessage(payload), head.Type
		}
		return json.RawMessage("null"), ""
	}
	_, st, err := registry().ParseFor(payloadType, payload)
	if err != nil {
		return json.RawMessage("null"), ""
	}
	b, err := json.Marshal(st)
	if err != nil {
		return json.RawMessage("null"), st.Type()
	}
	return b, st.Type()
}

// TrialInput is what VerifyTrial checks: the answers of GET
// /v1/trials/{id}/outcomes and then GET /v1/trials/{id}, and the receipt of
// every entry of the timeline, by entry id.
type TrialInput struct {
	Keys
	Timeline json.RawMessage   `json:"timeline"`
	Outcomes json.RawMessage   `json:"outcomes"`
	Receipts map[string]string `json:"receipts"`
	// Consistency is GET /v1/proofs/consistency from the report's
	// checkpoint to the timeline's, when their sizes differ: both answers
	// must be views of one append-only log.
	Consistency json.RawMessage `json:"consistency,omitempty"`
}

// TrialResult is a verified trial: its proven entries in log order and the
// outcome report recomputed from them.
type TrialResult struct {
	Result
	TrialID     string          `json:"trial_id"`
	Identifiers []string        `json:"identifiers"`
	Entries     []Entry         `json:"entries"`
	Report      json.RawMessage `json:"report"`
}

// VerifyTrial checks a trial's timeline (its checkpoint, every entry's
// inclusion and every entry's receipt with its statement signatures), then
// recomputes the outcome report from the proven entries that the report's
// own checkpoint includes and checks that it is the report served.
func VerifyTrial(in TrialInput) (out TrialResult) {
	out = TrialResult{Entries: []Entry{}, Report: json.RawMessage("null")}
	r := &out.Result
	defer r.done()
	var tl api.TrialTimeline
	if err := json.Unmarshal(in.Timeline, &tl); err != nil {
		r.fail(CheckAnswer, "", "the trial's timeline is not the expected JSON: %v", err)
		return out
	}
	out.TrialID, out.Identifiers = tl.TrialID, tl.Identifiers
	if r.Checkpoint = checkpoint(r, in.Keys, tl.Checkpoint); r.Checkpoint == nil {
		return out
	}
	v, _ := client.NewVerifier(strings.TrimSpace(in.LogKey))
	envs, _, err := v.Trial(&tl)
	if err != nil {
		r.fail(CheckEntry, "", "the timeline does not verify: %v", err)
		return out
	}
	for i, e := range tl.Entries {
		if envs[i].ID != e.ID {
			r.fail(CheckEntry, e.ID, "entry %s holds the envelope of entry %s", e.ID, envs[i].ID)
			return out
		}
	}
	out.Entries = entries(r, in.LogKey, tl.Entries, in.Receipts)
	if len(r.Failures) > 0 {
		return out
	}
	if len(in.Outcomes) == 0 {
		return out
	}
	out.Report = report(r, v, in.Outcomes, &tl, envs, in.Consistency)
	return out
}

// report recomputes the outcome report and compares it with the answer's.
func report(r *Result, v *client.Verifier, served json.RawMessage, tl *api.TrialTimeline, envs []*envelope.Parsed, consistency json.RawMessage) json.RawMessage {
	var head struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := json.Unmarshal(served, &head); err != nil {
		r.fail(CheckAnswer, "", "the outcome report is not the expected JSON: %v", err)
		return nil
	}
	cp, err := v.Checkpoint([]byte(head.Checkpoint))
	if err != nil {
		r.fail(CheckReport, "", "the outcome report's %v", err)
		return nil
	}
	if r.Checkpoint != nil && cp.Size > r.Checkpoint.Size {
		r.fail(CheckReport, "", "the outcome report is computed against a newer checkpoint than the timeline's")
		return nil
	}
	tcp, _ := v.Checkpoint([]byte(tl.Checkpoint))
	if err := consistent(cp, tcp, consistency); err != nil {
		r.fail(CheckReport, "", "the outcome report's checkpoint and the timeline's: %v", err)
		return nil
	}
	reg := registry()
	var logged []statement.Logged
	for i, env := range envs {
		e := tl.Entries[i]
		if uint64(e.LeafIndex) >= cp.Size {
			continue
		}
		_, st, err := reg.ParseFor(env.PayloadType, env.PayloadBytes)
		if err != nil {
			r.fail(CheckReport, e.ID, "entry %s is not a statement this page can read: %v", e.ID, err)
			return nil
		}
		// The log's own time, from the verified leaf: the report weighs
		// claimed dates against it.
		var received string
		if leaf, err := envelope.DecodeB64(e.Leaf); err == nil {
			if l, _, err := envelope.ParseLeaf(leaf); err == nil {
				received = l.ReceivedAt
			}
		}
		logged = append(logged, statement.Logged{ID: e.ID, LeafIndex: e.LeafIndex, Statement: st, ReceivedAt: statement.ParseReceivedAt(received)})
	}
	rep, err := trials.Compute(tl.TrialID, logged)
	if err != nil {
		r.fail(CheckReport, "", "the outcome report cannot be recomputed from the proven entries: %v", err)
		return nil
	}
	mine, err := json.Marshal(rep)
	if err != nil {
		r.fail(CheckReport, "", "%v", err)
		return nil
	}
	var a, b map[string]any
	_ = json.Unmarshal(mine, &a)
	if err := json.Unmarshal(served, &b); err != nil {
		r.fail(CheckAnswer, "", "the outcome report is not a JSON object")
		return nil
	}
	// Every field of the recomputed report must be served as computed.
	// Fields the server adds beside the report are ignored: the page shows
	// only the recomputed report.
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if vb, ok := b[k]; !ok || !reflect.DeepEqual(a[k], vb) {
			r.fail(CheckReport, "", "the outcome report served is not the one its proven entries make: its field %s differs", k)
			return nil
		}
	}
	return mine
}

// ConsentInput is what VerifyConsent checks: the answer of POST
// /v1/consent/status, the receipt of each of its entries, and the time on
// the patient's device (RFC 3339).
type ConsentInput struct {
	Keys
	Status   json.RawMessage   `json:"status"`
	Receipts map[string]string `json:"receipts"`
	Now      string            `json:"now"`
	// Timeline is the trial's timeline (GET /v1/trials/{id}, fetched after
	// the status): its consent-form versions prove whether re-consent is
	// required. Without it, ReconsentRequired is the server's word.
	Timeline json.RawMessage `json:"timeline,omitempty"`
	// Consistency is GET /v1/proofs/consistency from the status's
	// checkpoint to the timeline's, when their sizes differ.
	Consistency json.RawMessage `json:"consistency,omitempty"`
}

// ConsentResult is a verified consent status.
type ConsentResult struct {
	Result
	TrialID           string      `json:"trial_id"`
	Status            string      `json:"status"`
	Scope             []api.Scope `json:"scope"`
	FormVersion       string      `json:"form_version"`
	ReconsentRequired bool        `json:"reconsent_required"`
	// CurrentFormVersion is the trial's latest consent-form version that the
	// status's checkpoint includes, from the verified timeline; empty when
	// no timeline was given (ReconsentRequired is then unproven).
	CurrentFormVersion string `json:"current_form_version"`
	// Evidence is the latest grant and every withdrawal after it; Access is
	// every recorded use of the data. Both in log order, from the leaves.
	Evidence []Entry `json:"evidence"`
	Access   []Entry `json:"access"`
}

// VerifyConsent checks a consent status answer as the CLI does
// (client.Verifier.ConsentStatus: checkpoint, every entry against it, and
// status, scope and form version recomputed from the evidence), and every
// entry's receipt with its statement signatures.
func VerifyConsent(in ConsentInput) (out ConsentResult) {
	out = ConsentResult{Scope: []api.Scope{}, Evidence: []Entry{}, Access: []Entry{}}
	r := &out.Result
	defer r.done()
	var s api.ConsentStatus
	if err := json.Unmarshal(in.Status, &s); err != nil {
		r.fail(CheckAnswer, "", "the consent status is not the expected JSON: %v", err)
		return out
	}
	now, err := time.Parse(time.RFC3339, in.Now)
	if err != nil {
		now = time.Now()
	}
	if r.Checkpoint = checkpoint(r, in.Keys, s.Checkpoint); r.Checkpoint == nil {
		return out
	}
	v, _ := client.NewVerifier(strings.TrimSpace(in.LogKey))
	proven, err := v.ConsentStatus(&s, now)
	if err != nil {
		r.fail(CheckConsent, "", "%v", err)
		return out
	}
	if len(in.Timeline) > 0 {
		if out.CurrentFormVersion, err = reconsent(v, in.Timeline, in.Consistency, &s, proven, now); err != nil {
			r.fail(CheckConsent, "", "%v", err)
			return out
		}
	}
	out.TrialID, out.Status, out.FormVersion, out.ReconsentRequired = s.TrialID, s.Status, s.FormVersion, s.ReconsentRequired
	if s.Scope != nil {
		out.Scope = s.Scope
	}
	out.Evidence = entries(r, in.LogKey, s.Evidence, in.Receipts)
	out.Access = entries(r, in.LogKey, s.Access, in.Receipts)
	return out
}

// KeyFingerprint is a short, readable digest of a log key for comparing it
// by eye or by voice: the hex SHA-256 of the key string, in groups of four.
func KeyFingerprint(logKey string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(logKey)))
	h := hex.EncodeToString(sum[:12])
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}

// reconsent checks the status's re-consent flag against the trial's
// consent-form versions that its checkpoint includes, taken from the
// verified timeline, and returns the current version.
func reconsent(v *client.Verifier, raw, consistency json.RawMessage, s *api.ConsentStatus, proven *client.ProvenStatus, now time.Time) (string, error) {
	var tl api.TrialTimeline
	if err := json.Unmarshal(raw, &tl); err != nil {
		return "", fmt.Errorf("the trial's timeline is not the expected JSON: %v", err)
	}
	envs, tcp, err := v.Trial(&tl)
	if err != nil {
		return "", fmt.Errorf("the trial's timeline does not verify: %v", err)
	}
	if tcp.Size < proven.Checkpoint.Size {
		return "", errors.New("the trial's timeline is older than the consent status")
	}
	if err := consistent(proven.Checkpoint, tcp, consistency); err != nil {
		return "", fmt.Errorf("the consent status's checkpoint and the trial timeline's: %v", err)
	}
	if tl.TrialID != s.TrialID {
		return "", fmt.Errorf("the timeline is of trial %s, not %s", tl.TrialID, s.TrialID)
	}
	reg := registry()
	var entries []statement.Logged
	for i, env := range envs {
		if uint64(tl.Entries[i].LeafIndex) >= proven.Checkpoint.Size {
			continue
		}
		_, st, err := reg.ParseFor(env.PayloadType, env.PayloadBytes)
		if err != nil {
			continue // not a trial statement this page knows; forms are
		}
		entries = append(entries, statement.Logged{ID: tl.Entries[i].ID, LeafIndex: tl.Entries[i].LeafIndex, Statement: st})
	}
	t, err := trials.Build(entries)
	if err != nil {
		return "", fmt.Errorf("the trial's timeline: %v", err)
	}
	latest := ""
	if forms := consent.Forms(t); len(forms) > 0 {
		latest = forms[len(forms)-1].Version
	}
	var logged []statement.Logged
	for _, e := range append(slices.Clone(proven.Evidence), proven.Access...) {
		logged = append(logged, e.Logged())
	}
	slices.SortFunc(logged, func(a, b statement.Logged) int { return cmp.Compare(a.LeafIndex, b.LeafIndex) })
	if want := consent.Compute(logged, latest, now).ReconsentRequired; want != s.ReconsentRequired {
		return "", fmt.Errorf("the answer says re-consent required is %v, but the trial's current consent form (version %q) makes it %v", s.ReconsentRequired, latest, want)
	}
	return latest, nil
}

// KeysInput is what VerifyKeys checks: the signers the page shows, and
// the receipt of each principal.key entry they name.
type KeysInput struct {
	LogKey   string            `json:"log_key"`
	Signers  []Signer          `json:"signers"`
	Receipts map[string]string `json:"receipts"`
}

// Principal is who a signing key belonged to, as its proven principal.key
// entry records.
type Principal struct {
	ID    string `json:"principal"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	KeyID string `json:"key_id"`
}

// KeysResult maps each principal.key entry id to its principal.
type KeysResult struct {
	Result
	Principals map[string]Principal `json:"principals"`
}

// VerifyKeys checks, for each signer naming a principal.key entry, that
// entry's receipt, that it is a principal.key statement, and that the key
// it registers is the signer's key.
func VerifyKeys(in KeysInput) (out KeysResult) {
	out.Principals = map[string]Principal{}
	r := &out.Result
	defer r.done()
	rv, err := receipt.NewVerifier(in.LogKey)
	if err != nil {
		r.fail(CheckLogKey, "", "%v", err)
		return out
	}
	for _, s := range in.Signers {
		if s.KeyEntry == "" {
			continue
		}
		p, ok := out.Principals[s.KeyEntry]
		if !ok {
			text, ok := in.Receipts[s.KeyEntry]
			if !ok {
				r.fail(CheckReceipt, s.KeyEntry, "the receipt of key registration %s is missing", s.KeyEntry)
				continue
			}
			rc, err := receipt.Parse([]byte(text))
			if err != nil {
				r.fail(CheckReceipt, s.KeyEntry, "the receipt of key registration %s is malformed: %v", s.KeyEntry, err)
				continue
			}
			vr, err := rv.Verify(rc)
			if err != nil {
				r.fail(CheckReceipt, s.KeyEntry, "the receipt of key registration %s does not verify: %v", s.KeyEntry, err)
				continue
			}
			var st struct {
				Type      string `json:"type"`
				Principal string `json:"principal"`
				Name      string `json:"name"`
				Role      string `json:"role"`
				PublicKey string `json:"public_key"`
				KeyID     string `json:"key_id"`
			}
			if vr.EntryID != s.KeyEntry || json.Unmarshal(vr.Payload, &st) != nil || st.Type != "principal.key" {
				r.fail(CheckReceipt, s.KeyEntry, "entry %s is not a key registration", s.KeyEntry)
				continue
			}
			pub, err := envelope.DecodeB64(st.PublicKey)
			if err != nil || len(pub) != 32 || envelope.KeyID(pub) != st.KeyID {
				r.fail(CheckReceipt, s.KeyEntry, "key registration %s names a key whose id is not its key_id", s.KeyEntry)
				continue
			}
			p = Principal{ID: st.Principal, Name: st.Name, Role: st.Role, KeyID: st.KeyID}
			out.Principals[s.KeyEntry] = p
		}
		if p.KeyID != s.KeyID {
			r.fail(CheckReceipt, s.KeyEntry, "key registration %s registers key %s, not the signer's key %s", s.KeyEntry, p.KeyID, s.KeyID)
		}
	}
	return out
}

// consistent checks that checkpoint b extends checkpoint a: equal roots for
// equal sizes, else the consistency proof (RFC 6962 §2.1.2, as the CLI's
// audit checks it).
func consistent(a, b *log.Checkpoint, raw json.RawMessage) error {
	if a.Size == b.Size {
		if !bytes.Equal(a.Hash, b.Hash) {
			return errors.New("two checkpoints of the same size have different roots: the log forked")
		}
		return nil
	}
	if len(raw) == 0 {
		return errors.New("no consistency proof between them")
	}
	var p api.ConsistencyProof
	if err := json.Unmarshal(raw, &p); err != nil {
		return fmt.Errorf("the consistency proof is not the expected JSON: %v", err)
	}
	return client.VerifyConsistency(&p, a, b)
}
