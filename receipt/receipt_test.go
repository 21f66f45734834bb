package receipt_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"

	"github.com/trialog/trialog/receipt"
	"github.com/trialog/trialog/receipt/receipttest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sample is a small deterministic log: five leaves by two signers, the
// fourth signed by both.
type sample struct {
	log     *receipttest.Log
	signers []receipt.Signer
}

const keyEntryA = "1111111111111111111111111111111111111111111111111111111111111111"

func newSample(t testing.TB) *sample {
	t.Helper()
	l, err := receipttest.New("test.trialog.example/log", receipttest.Seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	a, b := receipttest.Key(2), receipttest.Key(3)
	for i := range 5 {
		doc := sha256.Sum256([]byte(fmt.Sprintf("document %d", i)))
		st := receipttest.DigestStatement(hex.EncodeToString(doc[:]))
		at := fmt.Sprintf("2026-11-23T14:00:0%d.123456Z", i)
		if i == 3 {
			l.Append(receipttest.Leaf(st, at, a, b))
		} else {
			l.Append(receipttest.Leaf(st, at, a))
		}
	}
	return &sample{log: l, signers: []receipt.Signer{receipttest.Signer(a, keyEntryA), receipttest.Signer(b, "")}}
}

// single is the receipt of leaf 2 (one signer with a key entry).
func (s *sample) single() *receipt.Receipt { return s.log.Receipt(2, 5, s.signers[:1]) }

// double is the receipt of leaf 3 (two signers, the second without entry).
func (s *sample) double() *receipt.Receipt { return s.log.Receipt(3, 5, s.signers) }

func verifier(t testing.TB, vkey string) *receipt.Verifier {
	t.Helper()
	v, err := receipt.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what the code produces now:\n%s\nwant:\n%s", path, got, want)
	}
	return want
}

// TestGolden pins the format: the receipts and log key in testdata/ are
// what this code writes, byte for byte.
func TestGolden(t *testing.T) {
	s := newSample(t)
	golden(t, "log.vkey", []byte(s.log.VKey+"\n"))
	for name, r := range map[string]*receipt.Receipt{"single.receipt": s.single(), "double.receipt": s.double()} {
		b := golden(t, name, r.Marshal())
		got, err := receipt.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("%s: parsed %+v, want %+v", name, got, r)
		}
		if _, err := verifier(t, s.log.VKey).Verify(got); err != nil {
			t.Fatalf("%s does not verify: %v", name, err)
		}
	}
}

func TestVerify(t *testing.T) {
	s := newSample(t)
	v := verifier(t, s.log.VKey)
	vr, err := v.Verify(s.double())
	if err != nil {
		t.Fatal(err)
	}
	e := s.log.Entry(3, 5)
	if vr.EntryID != e.ID || vr.LeafIndex != 3 || vr.TreeSize != 5 || vr.Origin != s.log.Origin ||
		vr.ReceivedAt != e.ReceivedAt || vr.StatementType() != "record.digest" || len(vr.Signers) != 2 ||
		!bytes.Equal(vr.RootHash, s.log.Root(5)) {
		t.Fatalf("verified %+v does not describe entry %+v", vr, e)
	}
	// The same receipt built from the entry the API serves.
	r, err := receipt.FromEntry(e, s.signers)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Marshal(), s.double().Marshal()) {
		t.Fatal("FromEntry builds another receipt than the log's proof")
	}
	// The tlog-proof inside is the C2SP format.
	tp := string(s.single().TLogProof())
	if !strings.HasPrefix(tp, "c2sp.org/tlog-proof@v1\nextra ") || !strings.Contains(tp, "\nindex 2\n") || !strings.HasSuffix(tp, string(s.log.Checkpoint(5))) {
		t.Fatalf("tlog-proof:\n%s", tp)
	}
}

func TestVerifyFailures(t *testing.T) {
	s := newSample(t)
	other, _ := receipttest.New(s.log.Origin, receipttest.Seeded(99))
	v := verifier(t, s.log.VKey)
	mut := func(f func(r *receipt.Receipt)) *receipt.Receipt {
		r := s.single()
		f(r)
		return r
	}
	// A leaf whose signature is wrong, properly included in a log.
	bad, _ := receipttest.New(s.log.Origin, receipttest.Seeded(1))
	leaf := receipttest.Leaf(receipttest.DigestStatement(strings.Repeat("ab", 32)), "2026-11-23T14:00:00Z", receipttest.Key(2))
	leaf = bytes.Replace(leaf, []byte(`"payload":"ey`), []byte(`"payload":"eX`), 1)
	bad.Append(leaf)
	notLeaf, _ := receipttest.New(s.log.Origin, receipttest.Seeded(1))
	notLeaf.Append([]byte(`{"envelope":{}}`))
	for _, tc := range []struct {
		name  string
		r     *receipt.Receipt
		vkey  string
		check string
		msg   string
	}{
		{"another log key", s.single(), other.VKey, receipt.CheckCheckpoint, "no signature by the log key"},
		{"another origin", s.single(), mustOther(t, "other.example/log").VKey, receipt.CheckCheckpoint, "no signature by the log key"},
		{"forged root", mut(func(r *receipt.Receipt) {
			r.Checkpoint = s.log.Sign(log.Checkpoint{Origin: s.log.Origin, Size: 5, Hash: make([]byte, 32)})
		}), "", receipt.CheckInclusion, "not at index 2"},
		{"index outside tree", mut(func(r *receipt.Receipt) { r.LeafIndex = 5 }), "", receipt.CheckInclusion, "outside"},
		{"wrong index", mut(func(r *receipt.Receipt) { r.LeafIndex = 1 }), "", receipt.CheckInclusion, "not at index 1"},
		{"proof too short", mut(func(r *receipt.Receipt) { r.Proof = r.Proof[1:] }), "", receipt.CheckInclusion, ""},
		{"other leaf", mut(func(r *receipt.Receipt) { r.Leaf = s.log.Leaf(1) }), "", receipt.CheckInclusion, ""},
		{"missing signer", mut(func(r *receipt.Receipt) { r.Signers = nil }), "", receipt.CheckSigner, "0 signer keys"},
		{"extra signer", mut(func(r *receipt.Receipt) { r.Signers = s.signers }), "", receipt.CheckSigner, "2 signer keys for the statement's 1"},
		{"other signer", mut(func(r *receipt.Receipt) { r.Signers = s.signers[1:] }), "", receipt.CheckSigner, "key id"},
		{"swapped signers", func() *receipt.Receipt {
			r := s.double()
			r.Signers = []receipt.Signer{s.signers[1], s.signers[0]}
			return r
		}(), "", receipt.CheckSigner, "key id"},
		{"bad statement signature", bad.Receipt(0, 1, s.signers[:1]), "", receipt.CheckSignature, "signature 0 does not verify"},
		{"leaf without envelope", notLeaf.Receipt(0, 1, s.signers[:1]), "", receipt.CheckLeaf, "payloadType is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vv := v
			if tc.vkey != "" {
				vv = verifier(t, tc.vkey)
			}
			_, err := vv.Verify(tc.r)
			var re *receipt.Error
			if !errors.As(err, &re) || re.Check != tc.check || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want a %q failure containing %q", err, tc.check, tc.msg)
			}
		})
	}
}

func mustOther(t *testing.T, origin string) *receipttest.Log {
	l, err := receipttest.New(origin, receipttest.Seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestVerifyAllNamesEachFailure mixes valid receipts with some whose
// signature or proof fails, across checkpoints, and checks that the batch
// names exactly the bad ones.
func TestVerifyAllNamesEachFailure(t *testing.T) {
	l, _ := receipttest.New("test.trialog.example/log", receipttest.Seeded(7))
	a, b := receipttest.Key(10), receipttest.Key(11)
	const n = 300
	badSig := map[int]bool{17: true, 150: true, 299: true}
	for i := range n {
		st := receipttest.DigestStatement(fmt.Sprintf("%064x", i))
		key := a
		if i%3 == 0 {
			key = b
		}
		leaf := receipttest.Leaf(st, "2026-11-23T14:00:00Z", key)
		if badSig[i] {
			// Replace the signature with one over another statement.
			other := receipttest.Leaf(receipttest.DigestStatement(fmt.Sprintf("%064x", i+1000)), "2026-11-23T14:00:00Z", key)
			leaf = append(leaf[:bytes.Index(leaf, []byte(`"sig":"`))], other[bytes.Index(other, []byte(`"sig":"`)):]...)
		}
		l.Append(leaf)
	}
	var rs []*receipt.Receipt
	for i := range n {
		key := a
		if i%3 == 0 {
			key = b
		}
		size := int64(max(i+1, 100*(i/100+1)))
		r := l.Receipt(int64(i), size, []receipt.Signer{receipttest.Signer(key, "")})
		if i == 42 {
			r.Proof[0][0] ^= 1
		}
		rs = append(rs, r)
	}
	out, errs := verifier(t, l.VKey).VerifyAll(rs)
	for i := range n {
		var re *receipt.Error
		switch {
		case badSig[i]:
			if !errors.As(errs[i], &re) || re.Check != receipt.CheckSignature || out[i] != nil {
				t.Errorf("receipt %d: %v, want a signature failure", i, errs[i])
			}
		case i == 42:
			if !errors.As(errs[i], &re) || re.Check != receipt.CheckInclusion {
				t.Errorf("receipt %d: %v, want an inclusion failure", i, errs[i])
			}
		default:
			if errs[i] != nil || out[i] == nil || out[i].LeafIndex != uint64(i) {
				t.Errorf("receipt %d: %v", i, errs[i])
			}
		}
	}
}

func TestFindDigest(t *testing.T) {
	s := newSample(t)
	vr, err := verifier(t, s.log.VKey).Verify(s.single())
	if err != nil {
		t.Fatal(err)
	}
	doc := sha256.Sum256([]byte("document 2"))
	if path, err := vr.FindDigest(doc[:]); err != nil || path != "digest.sha256" {
		t.Fatalf("FindDigest = %q, %v", path, err)
	}
	other := sha256.Sum256([]byte("document 3"))
	_, err = vr.FindDigest(other[:])
	var re *receipt.Error
	if !errors.As(err, &re) || re.Check != receipt.CheckFile || !strings.Contains(err.Error(), "digest.sha256") {
		t.Fatalf("FindDigest of another document: %v", err)
	}
	// Salted digests and nested ones.
	for _, tc := range []struct {
		payload, path string
	}{
		{`{"type":"x","digest":{"sha256":"` + hex.EncodeToString(doc[:]) + `","salted":true}}`, ""},
		{`{"type":"trial.dataset","manifest":{"sha256":"00"},"files":[{"path":"a","sha256":"` + hex.EncodeToString(doc[:]) + `"}]}`, "files[0].sha256"},
		{`{"type":"trial.protocol","document":{"sha256":"` + hex.EncodeToString(doc[:]) + `"}}`, "document.sha256"},
	} {
		vr.Payload = []byte(tc.payload)
		path, err := vr.FindDigest(doc[:])
		if path != tc.path || (tc.path == "") != (err != nil) {
			t.Errorf("FindDigest in %s = %q, %v; want %q", tc.payload, path, err, tc.path)
		}
	}
}

func TestParseRejects(t *testing.T) {
	s := newSample(t)
	good := string(s.single().Marshal())
	b64Key := strings.Fields(strings.Split(good, "\n")[1])[1]
	for _, tc := range []struct{ name, in, msg string }{
		{"empty", "", "first line"},
		{"other header", strings.Replace(good, "trialog-receipt@v1", "trialog-receipt@v2", 1), "first line"},
		{"no signer", strings.Replace(good, strings.Split(good, "\n")[1]+"\n", "", 1), "at least one signer"},
		{"unknown line", strings.Replace(good, "c2sp.org/tlog-proof@v1", "note hello\nc2sp.org/tlog-proof@v1", 1), "signer line"},
		{"uppercase key entry", strings.Replace(good, keyEntryA, strings.ToUpper(strings.Repeat("a", 64)), 1), "lowercase hex"},
		{"short key entry", strings.Replace(good, keyEntryA, "11", 1), "lowercase hex"},
		{"two spaces", strings.Replace(good, "signer ", "signer  ", 1), "canonical base64"},
		{"unpadded key", strings.Replace(good, b64Key, strings.TrimRight(b64Key, "="), 1), "canonical base64"},
		{"url-safe", strings.Replace(good, "index 2\n", "index 2\n"+strings.Repeat("_", 43)+"=\n", 1), "canonical base64"},
		{"leading zero index", strings.Replace(good, "index 2\n", "index 02\n", 1), "leading zeros"},
		{"plus index", strings.Replace(good, "index 2\n", "index +2\n", 1), "decimal"},
		{"huge index", strings.Replace(good, "index 2\n", "index 9223372036854775808\n", 1), "2^63"},
		{"no extra", strings.Replace(good, "extra ", "extras ", 1), "extra"},
		{"CR", strings.Replace(good, "trialog-receipt@v1\n", "trialog-receipt@v1\r\n", 1), "first line"},
		{"no checkpoint", good[:strings.Index(good, "\n\n")+2], "checkpoint is missing"},
		{"no blank line", good[:strings.Index(good, "\n\n")+1], "empty line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receipt.Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.msg)
			}
		})
	}
	// Base64 with non-zero padding bits decodes, leniently, to the same
	// bytes: refused.
	lines := strings.Split(good, "\n")
	h := lines[5]
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	alt := h[:42] + string(alphabet[strings.IndexByte(alphabet, h[42])^1]) + "="
	if _, err := receipt.Parse([]byte(strings.Replace(good, h, alt, 1))); err == nil {
		t.Fatal("a proof hash with non-zero padding bits was accepted")
	}
}
