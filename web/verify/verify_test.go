package verify_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"

	"github.com/trialog/trialog/api"
	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/receipt/receipttest"
	"github.com/trialog/trialog/statement"
	"github.com/trialog/trialog/trials"
	"github.com/trialog/trialog/web/verify"
)

const trialID = "NCT09400077"

var statements = []string{
	`{"type":"trial.registration","trial_id":"` + trialID + `","issued_at":"2026-01-05T09:00:00Z","title":"Glucose trial","outcomes":[{"id":"P1","kind":"primary","measure":"HbA1c","time_frame":"Week 26"}]}`,
	`{"type":"trial.milestone","trial_id":"` + trialID + `","issued_at":"2026-02-01T08:00:00Z","event":"first_participant_in","at":"2026-02-01T08:00:00Z"}`,
	`{"type":"trial.results","trial_id":"` + trialID + `","issued_at":"2026-09-01T08:00:00Z","document":{"sha256":"` + strings.Repeat("ab", 32) + `"},"outcomes":[{"id":"P1","kind":"secondary","measure":"HbA1c","time_frame":"Week 26"}]}`,
}

// trial is a log holding a trial's entries and the answers trialogd would
// give for it.
type trial struct {
	log         *receipttest.Log
	timeline    map[string]any
	outcomes    map[string]any
	receipts    map[string]string
	consistency json.RawMessage
	logged      []statement.Logged
}

func newTrial(t testing.TB) *trial {
	t.Helper()
	l, err := receipttest.New("test.example/log", receipttest.Seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	key := receipttest.Key(7)
	l.Append(receipttest.Leaf(receipttest.DigestStatement(strings.Repeat("cd", 32)), "2026-01-01T00:00:00Z", key)) // another entry
	for i, st := range statements {
		l.Append(receipttest.Leaf([]byte(st), fmt.Sprintf("2026-0%d-10T00:00:00Z", i+1), key))
	}
	size := l.Size()
	tr := &trial{log: l, receipts: map[string]string{}}
	var entries []*api.Entry
	reg := statement.NewRegistry()
	trials.Register(reg)
	var logged []statement.Logged
	for i := int64(1); i < size; i++ {
		e := l.Entry(i, size)
		entries = append(entries, e)
		tr.receipts[e.ID] = string(l.Receipt(i, size, []receipt.Signer{receipttest.Signer(key, strings.Repeat("ee", 32))}).Marshal())
		_, st, err := reg.Parse(e.Statement)
		if err != nil {
			t.Fatal(err)
		}
		logged = append(logged, statement.Logged{ID: e.ID, LeafIndex: e.LeafIndex, Statement: st, ReceivedAt: statement.ParseReceivedAt(e.ReceivedAt)})
	}
	cp := string(l.Checkpoint(size))
	tr.timeline = roundTrip(t, map[string]any{"trial_id": trialID, "checkpoint": cp, "entries": entries})
	rep, err := trials.Compute(trialID, logged)
	if err != nil {
		t.Fatal(err)
	}
	tr.outcomes = roundTrip(t, rep)
	tr.outcomes["checkpoint"] = cp
	tr.logged = logged
	return tr
}

func roundTrip(t testing.TB, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (tr *trial) verify(t *testing.T) verify.TrialResult {
	t.Helper()
	tl, _ := json.Marshal(tr.timeline)
	oc, _ := json.Marshal(tr.outcomes)
	return verify.VerifyTrial(verify.TrialInput{Keys: verify.Keys{LogKey: tr.log.VKey}, Timeline: tl, Outcomes: oc, Receipts: tr.receipts, Consistency: tr.consistency})
}

func TestVerifyTrial(t *testing.T) {
	tr := newTrial(t)
	res := tr.verify(t)
	if !res.OK {
		t.Fatalf("failures: %+v", res.Failures)
	}
	if len(res.Entries) != 3 || res.Entries[0].Type != trials.TypeRegistration || res.Entries[2].Signers[0].KeyEntry != strings.Repeat("ee", 32) ||
		res.Entries[1].ReceivedAt != "2026-02-10T00:00:00Z" {
		t.Fatalf("entries: %+v", res.Entries)
	}
	var rep trials.Report
	if err := json.Unmarshal(res.Report, &rep); err != nil || len(rep.Outcomes) != 1 || rep.Outcomes[0].Status != trials.StatusDemoted {
		t.Fatalf("report: %s", res.Report)
	}
	if res.Checkpoint == nil || res.Checkpoint.Size != 4 {
		t.Fatalf("checkpoint: %+v", res.Checkpoint)
	}
}

// TestVerifyTrialFailures: each kind of lie is caught and named.
func TestVerifyTrialFailures(t *testing.T) {
	other, _ := receipttest.New("test.example/log", receipttest.Seeded(2))
	for _, tc := range []struct {
		name   string
		change func(tr *trial)
		key    string
		check  string
	}{
		{"a report status changed", func(tr *trial) {
			tr.outcomes["outcomes"].([]any)[0].(map[string]any)["status"] = "unchanged"
		}, "", verify.CheckReport},
		{"a flag left out", func(tr *trial) {
			tr.outcomes["flags"] = []any{map[string]any{"code": "sap_after_lock", "message": "x", "evidence": []any{}}}
		}, "", verify.CheckReport},
		{"a receipt missing", func(tr *trial) {
			for id := range tr.receipts {
				delete(tr.receipts, id)
				break
			}
		}, "", verify.CheckReceipt},
		{"receipts swapped", func(tr *trial) {
			var ids []string
			for id := range tr.receipts {
				ids = append(ids, id)
			}
			tr.receipts[ids[0]], tr.receipts[ids[1]] = tr.receipts[ids[1]], tr.receipts[ids[0]]
		}, "", verify.CheckReceipt},
		{"an entry dropped from the timeline", func(tr *trial) {
			es := tr.timeline["entries"].([]any)
			tr.timeline["entries"] = es[1:]
		}, "", verify.CheckReport},
		{"an entry's statement rewritten", func(tr *trial) {
			e := tr.timeline["entries"].([]any)[0].(map[string]any)
			e["id"] = strings.Repeat("0", 64)
		}, "", verify.CheckEntry},
		{"another log's key", func(tr *trial) {}, other.VKey, verify.CheckCheckpoint},
		{"no key", func(tr *trial) {}, "nonsense", verify.CheckLogKey},
		{"a report of an older checkpoint without a consistency proof", func(tr *trial) {
			tr.outcomes["checkpoint"] = string(tr.log.Checkpoint(3))
		}, "", verify.CheckReport},
		{"a report of a forked checkpoint", func(tr *trial) {
			tr.outcomes["checkpoint"] = string(tr.log.Sign(log.Checkpoint{Origin: "test.example/log", Size: 4, Hash: make([]byte, 32)}))
		}, "", verify.CheckReport},
		{"a report of a newer checkpoint", func(tr *trial) {
			tr.outcomes["checkpoint"] = string(tr.log.Sign(log.Checkpoint{Origin: "test.example/log", Size: 9, Hash: make([]byte, 32)}))
		}, "", verify.CheckReport},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTrial(t)
			tc.change(tr)
			if tc.key != "" {
				tr.log.VKey = tc.key
			}
			res := tr.verify(t)
			if res.OK || len(res.Failures) == 0 || res.Failures[0].Check != tc.check {
				t.Fatalf("OK=%v failures=%+v, want a %s failure", res.OK, res.Failures, tc.check)
			}
			if res.Report != nil && string(res.Report) != "null" {
				t.Fatalf("a report is returned with a failure: %s", res.Report)
			}
		})
	}
}

// TestVerifyLogWitnesses: cosignatures by given witness keys verify, others
// are listed unverified, and a bad one by a given key fails.
func TestVerifyLogWitnesses(t *testing.T) {
	l, _ := receipttest.New("test.example/log", receipttest.Seeded(3))
	l.Append([]byte("x"))
	wskey, wvkey, err := note.GenerateKey(rand.Reader, "witness.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := fnote.NewSignerForCosignatureV1(wskey)
	if err != nil {
		t.Fatal(err)
	}
	wv := ws.Verifier()
	cosKey, err := fnote.VKeyToCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	_ = wv
	signed := l.Checkpoint(1)
	n, err := note.Open(signed, note.VerifierList(mustVerifier(t, l.VKey)))
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, ws)
	if err != nil {
		t.Fatal(err)
	}

	res := verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: l.VKey, WitnessKeys: []string{cosKey}}, Checkpoint: string(cosigned)})
	if !res.OK || len(res.Checkpoint.Cosignatures) != 1 || !res.Checkpoint.Cosignatures[0].Verified || res.Checkpoint.Cosignatures[0].Name != "witness.example/w1" {
		t.Fatalf("with the witness key: %+v %+v", res.Failures, res.Checkpoint)
	}
	res = verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: l.VKey}, Checkpoint: string(cosigned)})
	if !res.OK || len(res.Checkpoint.Cosignatures) != 1 || res.Checkpoint.Cosignatures[0].Verified {
		t.Fatalf("without the witness key: %+v %+v", res.Failures, res.Checkpoint)
	}
	// The cosignature of another checkpoint, pasted on this one.
	l.Append([]byte("y"))
	n2, _ := note.Open(l.Checkpoint(2), note.VerifierList(mustVerifier(t, l.VKey)))
	other, _ := note.Sign(n2, ws)
	forged := string(signed) + string(other[strings.LastIndex(string(other), "\n— witness"):][1:])
	res = verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: l.VKey, WitnessKeys: []string{cosKey}}, Checkpoint: forged})
	if res.OK || res.Failures[0].Check != verify.CheckWitness {
		t.Fatalf("a forged cosignature: %+v", res)
	}
	if res := verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: l.VKey, WitnessKeys: []string{"junk"}}, Checkpoint: string(cosigned)}); res.OK {
		t.Fatal("a malformed pinned witness key is accepted")
	}
	// Keys the server lists: a malformed one is skipped, a good one
	// verifies but is not pinned.
	res = verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: l.VKey, ServedWitnessKeys: []string{"junk", cosKey}}, Checkpoint: string(cosigned)})
	if !res.OK || !res.Checkpoint.Cosignatures[0].Verified || res.Checkpoint.Cosignatures[0].Pinned {
		t.Fatalf("served witness keys: %+v %+v", res.Failures, res.Checkpoint)
	}
	res = verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: l.VKey, WitnessKeys: []string{cosKey}}, Checkpoint: string(cosigned)})
	if !res.Checkpoint.Cosignatures[0].Pinned {
		t.Fatal("a pinned witness key is not said to be pinned")
	}
}

func mustVerifier(t *testing.T, vkey string) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestKeyFingerprint(t *testing.T) {
	a := verify.KeyFingerprint("test.example/log+01234567+AAAA")
	if len(a) != 29 || a != verify.KeyFingerprint(" test.example/log+01234567+AAAA\n") || a == verify.KeyFingerprint("test.example/log+01234567+AAAB") {
		t.Fatalf("fingerprint %q", a)
	}
}

// FuzzVerify feeds arbitrary answers to every function: none may panic,
// and nothing unproven is OK.
func FuzzVerify(f *testing.F) {
	tr := newTrial(f)
	tl, _ := json.Marshal(tr.timeline)
	oc, _ := json.Marshal(tr.outcomes)
	f.Add(tl, oc, []byte(tr.receipts[tr.timeline["entries"].([]any)[0].(map[string]any)["id"].(string)]))
	f.Add([]byte(`{"checkpoint":"x","entries":[null]}`), []byte(`{}`), []byte("trialog-receipt@v1\n"))
	f.Add([]byte(`{"status":"granted","subject":"sub_00000000000000000000000000000000","evidence":[{}]}`), []byte(`null`), []byte{})
	var want []string
	for _, e := range tr.timeline["entries"].([]any) {
		want = append(want, e.(map[string]any)["id"].(string))
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		recs := map[string]string{}
		var m struct {
			Entries []struct {
				ID string `json:"id"`
			} `json:"entries"`
		}
		if json.Unmarshal(a, &m) == nil {
			for _, e := range m.Entries {
				recs[e.ID] = string(c)
			}
		}
		// Whatever verifies is the proven trial, however it was encoded.
		if r := verify.VerifyTrial(verify.TrialInput{Keys: verify.Keys{LogKey: tr.log.VKey}, Timeline: a, Outcomes: b, Receipts: recs}); r.OK {
			for i, e := range r.Entries {
				if i >= len(want) || e.ID != want[i] {
					t.Fatalf("entries %+v verified, want %v", r.Entries, want)
				}
			}
		}
		verify.VerifyConsent(verify.ConsentInput{Keys: verify.Keys{LogKey: tr.log.VKey}, Status: a, Receipts: recs})
		verify.VerifyLog(verify.LogInput{Keys: verify.Keys{LogKey: string(b), WitnessKeys: []string{string(c)}, ServedWitnessKeys: []string{string(c)}}, Checkpoint: string(a)})
	})
}

// TestVerifyKeys: a signer is named only by a proven principal.key entry
// that registers the signer's own key.
func TestVerifyKeys(t *testing.T) {
	l, _ := receipttest.New("test.example/log", receipttest.Seeded(4))
	service, site, other := receipttest.Key(1), receipttest.Key(2), receipttest.Key(3)
	reg := func(priv ed25519.PrivateKey) []byte {
		pub := priv.Public().(ed25519.PublicKey)
		b, _ := json.Marshal(map[string]string{"type": "principal.key", "principal": "pr_000000000000000000000001", "name": "St Mary's", "role": "site",
			"public_key": base64.StdEncoding.EncodeToString(pub), "key_id": envelope.KeyID(pub), "issued_at": "2026-01-01T00:00:00Z"})
		return b
	}
	l.Append(receipttest.Leaf(reg(site), "2026-01-01T00:00:00Z", service))
	l.Append(receipttest.Leaf(receipttest.DigestStatement(strings.Repeat("ab", 32)), "2026-01-02T00:00:00Z", site))
	size := l.Size()
	keyEntry := l.Entry(0, size).ID
	recs := map[string]string{
		keyEntry: string(l.Receipt(0, size, []receipt.Signer{receipttest.Signer(service, "")}).Marshal()),
	}
	siteKeyID := envelope.KeyID(site.Public().(ed25519.PublicKey))
	res := verify.VerifyKeys(verify.KeysInput{LogKey: l.VKey, Receipts: recs, Signers: []verify.Signer{{KeyID: siteKeyID, KeyEntry: keyEntry}, {KeyID: "service"}}})
	if !res.OK || res.Principals[keyEntry].Name != "St Mary's" || res.Principals[keyEntry].Role != "site" {
		t.Fatalf("%+v", res)
	}
	otherID := envelope.KeyID(other.Public().(ed25519.PublicKey))
	if res := verify.VerifyKeys(verify.KeysInput{LogKey: l.VKey, Receipts: recs, Signers: []verify.Signer{{KeyID: otherID, KeyEntry: keyEntry}}}); res.OK {
		t.Fatal("a registration of another key names the signer")
	}
	notKey := l.Entry(1, size).ID
	recs[notKey] = string(l.Receipt(1, size, []receipt.Signer{receipttest.Signer(site, keyEntry)}).Marshal())
	if res := verify.VerifyKeys(verify.KeysInput{LogKey: l.VKey, Receipts: recs, Signers: []verify.Signer{{KeyID: siteKeyID, KeyEntry: notKey}}}); res.OK {
		t.Fatal("an entry that is no key registration names the signer")
	}
	if res := verify.VerifyKeys(verify.KeysInput{LogKey: l.VKey, Receipts: map[string]string{}, Signers: []verify.Signer{{KeyID: siteKeyID, KeyEntry: keyEntry}}}); res.OK {
		t.Fatal("a missing receipt passes")
	}
}

// TestVerifyTrialOlderReport: a report computed at an earlier checkpoint
// verifies, with a consistency proof to the timeline's, from the entries
// that checkpoint includes; a proof byte changed fails it.
func TestVerifyTrialOlderReport(t *testing.T) {
	tr := newTrial(t)
	rep, err := trials.Compute(trialID, tr.logged[:2]) // leaves 1 and 2 of a tree of 3
	if err != nil {
		t.Fatal(err)
	}
	tr.outcomes = roundTrip(t, rep)
	tr.outcomes["checkpoint"] = string(tr.log.Checkpoint(3))
	proof := func(hashes []string) json.RawMessage {
		b, _ := json.Marshal(api.ConsistencyProof{From: 3, To: 4, Hashes: hashes})
		return b
	}
	good := receipttest.B64s(tr.log.ConsistencyProof(3, 4))
	tr.consistency = proof(good)
	res := tr.verify(t)
	if !res.OK || !strings.Contains(string(res.Report), `"compared":null`) {
		t.Fatalf("%+v %s", res.Failures, res.Report)
	}
	bad := append([]string(nil), good...)
	bad[0] = strings.Replace(bad[0], bad[0][3:4], map[bool]string{true: "B", false: "A"}[bad[0][3] == 'A'], 1)
	tr.consistency = proof(bad)
	if res := tr.verify(t); res.OK || res.Failures[0].Check != verify.CheckReport {
		t.Fatalf("a changed consistency proof: %+v", res)
	}
}
