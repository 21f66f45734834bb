package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// cosigner is a witness key made with torchwood's cosignature signer, an
// implementation this package shares no code with.
type cosigner struct {
	name   string
	signer *torchwood.CosignatureSigner
	vkey   string
}

func newCosigner(t testing.TB, name string) *cosigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return &cosigner{name: name, signer: s, vkey: s.Verifier().String()}
}

func newLogKey(t testing.TB, origin string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestParsePolicy(t *testing.T) {
	a, b, c := newCosigner(t, "a.example/w"), newCosigner(t, "b.example/w"), newCosigner(t, "c.example/w")
	good := fmt.Sprintf(`# three witnesses, two of them needed
log example.org/log+01234567+AQ== https://log.example
witness A %s https://a.example/witness
witness B %s http://127.0.0.1:7380
witness C %s   # no URL: verification only
group two 2 A B C
quorum two
`, a.vkey, b.vkey, c.vkey)
	p, err := ParsePolicy([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Witnesses) != 3 || p.Quorum() != "two" || p.Witness("B").URL != "http://127.0.0.1:7380" || p.Witness("C").URL != "" {
		t.Fatalf("parsed %+v", p)
	}
	if got := p.Witness("A").AddCheckpointURL(); got != "https://a.example/witness/add-checkpoint" {
		t.Fatalf("add-checkpoint URL %s", got)
	}
	for _, tc := range []struct {
		set  []string
		want bool
	}{{nil, false}, {[]string{"A"}, false}, {[]string{"A", "C"}, true}, {[]string{"B", "C"}, true}, {[]string{"A", "B", "C"}, true}} {
		set := map[string]bool{}
		for _, n := range tc.set {
			set[n] = true
		}
		if p.Satisfied(set) != tc.want {
			t.Errorf("Satisfied(%v) = %v, want %v", tc.set, !tc.want, tc.want)
		}
	}

	nested, err := ParsePolicy([]byte(fmt.Sprintf("witness A %s\nwitness B %s\nwitness C %s\ngroup ab all A B\ngroup top any ab C\nquorum top\n", a.vkey, b.vkey, c.vkey)))
	if err != nil {
		t.Fatal(err)
	}
	if !nested.Satisfied(map[string]bool{"C": true}) || nested.Satisfied(map[string]bool{"A": true}) || !nested.Satisfied(map[string]bool{"A": true, "B": true}) {
		t.Error("nested groups evaluated wrongly")
	}

	for name, bad := range map[string]string{
		"no quorum":         "witness A " + a.vkey + "\n",
		"two quorums":       "witness A " + a.vkey + "\nquorum A\nquorum A\n",
		"unknown quorum":    "quorum X\n",
		"forward reference": "group g any A\nwitness A " + a.vkey + "\nquorum g\n",
		"duplicate name":    "witness A " + a.vkey + "\nwitness A " + b.vkey + "\nquorum A\n",
		"duplicate key":     "witness A " + a.vkey + "\nwitness B " + a.vkey + "\nquorum A\n",
		"threshold 0":       "witness A " + a.vkey + "\ngroup g 0 A\nquorum g\n",
		"threshold too big": "witness A " + a.vkey + "\ngroup g 2 A\nquorum g\n",
		"threshold +1":      "witness A " + a.vkey + "\ngroup g +1 A\nquorum g\n",
		"member twice":      "witness A " + a.vkey + "\ngroup g any A A\nquorum g\n",
		"bad key":           "witness A example.com+00000000+AQID\nquorum A\n",
		"hex key (Sigsum)":  "witness A " + strings.Repeat("ab", 32) + "\nquorum A\n",
		"bad URL":           "witness A " + a.vkey + " ftp://x\nquorum A\n",
		"unknown keyword":   "witnesses A " + a.vkey + "\nquorum A\n",
		"reserved none":     "witness none " + a.vkey + "\nquorum none\n",
		"extra field":       "quorum none extra\n",
	} {
		if _, err := ParsePolicy([]byte(bad)); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: err = %v, want ErrPolicy", name, err)
		}
	}
	none, err := ParsePolicy([]byte("quorum none\n"))
	if err != nil || !none.RequiresNone() {
		t.Fatalf("quorum none: %v", err)
	}
	if _, err := NewCollector(Options{Policy: none, Log: nil}); err == nil {
		t.Error("a collector accepted a policy that requires nothing")
	}
}

func TestVerify(t *testing.T) {
	const origin = "example.org/log"
	signer, verifier := newLogKey(t, origin)
	a, b, c := newCosigner(t, "a.example/w"), newCosigner(t, "b.example/w"), newCosigner(t, "c.example/w")
	p, err := ParsePolicy([]byte(fmt.Sprintf("witness A %s\nwitness B %s\nwitness C %s\ngroup g 2 A B C\nquorum g\n", a.vkey, b.vkey, c.vkey)))
	if err != nil {
		t.Fatal(err)
	}
	text := origin + "\n5\n" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	sign := func(ss ...note.Signer) []byte {
		b, err := note.Sign(&note.Note{Text: text}, ss...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cs, err := p.Verify(sign(signer, a.signer, c.signer), verifier)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Size != 5 || strings.Join(cs.Witnesses, ",") != "A,C" || cs.CosignedAt.IsZero() || time.Since(cs.CosignedAt) > time.Minute {
		t.Fatalf("verified %+v", cs)
	}
	var qe *QuorumError
	if _, err := p.Verify(sign(signer, a.signer), verifier); !errors.As(err, &qe) || !strings.Contains(err.Error(), "quorum g") {
		t.Fatalf("one cosignature of two needed: %v", err)
	}
	if _, err := p.Verify(sign(a.signer, b.signer), verifier); err == nil {
		t.Fatal("a checkpoint without the log's signature verified")
	}
	// A cosignature over another checkpoint is not a cosignature of this one.
	other, _ := note.Sign(&note.Note{Text: origin + "\n6\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, b.signer)
	forged := append(sign(signer, a.signer), other[strings.LastIndex(string(other), "\n\n")+2:]...)
	if _, err := p.Verify(forged, verifier); err == nil {
		t.Fatal("a cosignature of another checkpoint was accepted")
	}
	// The verifier built from the key string agrees with torchwood's own.
	v, err := NewVerifier(a.vkey)
	if err != nil || v.KeyHash() != a.signer.KeyHash() || v.Name() != a.signer.Name() {
		t.Fatalf("verifier from %s: %v", a.vkey, err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	a := newCosigner(f, "a.example/w")
	f.Add([]byte("witness A " + a.vkey + " https://a.example\nquorum A\n"))
	f.Add([]byte("witness A " + a.vkey + "\ngroup g any A\ngroup h all g A\nquorum h # c\n"))
	f.Add([]byte("quorum none\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error not marked ErrPolicy: %v", err)
			}
			return
		}
		all := map[string]bool{}
		for _, w := range p.Witnesses {
			all[w.Name] = true
		}
		// Every witness cosigning meets any quorum the parser accepts.
		if !p.Satisfied(all) {
			t.Fatalf("policy not satisfied by all of its witnesses: %q", b)
		}
	})
}
