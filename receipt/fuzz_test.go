package receipt_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/trialog/trialog/envelope"
	"github.com/trialog/trialog/receipt"
)

// seeds adds every file in testdata/ whose name ends in suffix.
func seeds(f *testing.F, suffix string) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*"+suffix))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no seeds testdata/*%s: %v", suffix, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParse checks that Parse never panics, that a receipt has exactly
// one encoding (whatever parses marshals back to the same bytes), and that
// verification never panics either.
func FuzzParse(f *testing.F) {
	seeds(f, ".receipt")
	vkey, err := os.ReadFile(filepath.Join("testdata", "log.vkey"))
	if err != nil {
		f.Fatal(err)
	}
	v, err := receipt.NewVerifier(string(vkey))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := receipt.Parse(b)
		if err != nil {
			return
		}
		if m := r.Marshal(); !bytes.Equal(m, b) {
			t.Fatalf("parsed receipt marshals to other bytes:\n%q\nwas\n%q", m, b)
		}
		v.Verify(r)
	})
}

// FuzzLeafFastPath checks that the verifier's fast leaf reader agrees with
// envelope.ParseLeaf on every input.
func FuzzLeafFastPath(f *testing.F) {
	seeds(f, ".leaf")
	f.Fuzz(func(t *testing.T, b []byte) {
		l1, p1, err1 := envelope.ParseLeaf(b)
		l2, p2, err2 := receipt.ParseLeaf(b)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("ParseLeaf: %v, fast path: %v", err1, err2)
		}
		if err1 != nil {
			if err1.Error() != err2.Error() {
				t.Fatalf("errors differ: %v / %v", err1, err2)
			}
			return
		}
		if l1.ReceivedAt != l2.ReceivedAt || p1.ID != p2.ID || !bytes.Equal(p1.PayloadBytes, p2.PayloadBytes) ||
			p1.PayloadType != p2.PayloadType || len(p1.Sigs) != len(p2.Sigs) {
			t.Fatalf("results differ for %q", b)
		}
		for i := range p1.Sigs {
			if !bytes.Equal(p1.Sigs[i], p2.Sigs[i]) || !bytes.Equal(p1.KeyIDs[i], p2.KeyIDs[i]) {
				t.Fatalf("signature %d differs for %q", i, b)
			}
		}
	})
}

// TestLeafFastPath checks that the leaves trialogd writes take the fast
// path and the other encodings do not.
func TestLeafFastPath(t *testing.T) {
	for name, fast := range map[string]bool{
		"single.leaf": true, "double.leaf": true, "nosig.leaf": true,
		"spaced.leaf": false, "escaped.leaf": false, "reordered.leaf": false, "dupkey.leaf": false, "casefold.leaf": false,
	} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if receipt.FastLeaf(b) != fast {
			t.Errorf("%s: fast path %v, want %v", name, !fast, fast)
		}
		_, _, err1 := envelope.ParseLeaf(b)
		_, _, err2 := receipt.ParseLeaf(b)
		if (err1 == nil) != (err2 == nil) {
			t.Errorf("%s: ParseLeaf %v, fast path %v", name, err1, err2)
		}
	}
}
