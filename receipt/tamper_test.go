package receipt_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/trialog/trialog/receipt"
)

// region is a span of a receipt file and the checks allowed to fail when
// one of its bytes changes.
type region struct {
	name   string
	start  int // byte offsets, end exclusive
	end    int
	checks []string // besides a parse error
	// mayPass: the bytes are not authenticated offline (a key entry id);
	// a change may verify but must then change nothing else.
	mayPass bool
}

// regions splits a receipt file by what its bytes mean.
func regions(t *testing.T, b []byte) []region {
	t.Helper()
	var out []region
	off := 0
	line := func() []byte {
		i := bytes.IndexByte(b[off:], '\n')
		return b[off : off+i+1]
	}
	add := func(name string, n int, mayPass bool, checks ...string) {
		out = append(out, region{name: name, start: off, end: off + n, checks: checks, mayPass: mayPass})
		off += n
	}
	add("header", len(line()), false)
	for bytes.HasPrefix(line(), []byte("signer ")) {
		l := line()
		add("signer prefix", len("signer "), false)
		key := bytes.IndexAny(l[len("signer "):], " \n")
		add("signer key", key, false, receipt.CheckSigner)
		if l[len("signer ")+key] == ' ' {
			add("signer separator", 1, false)
			add("key entry", 64, true)
		}
		add("signer newline", 1, false)
	}
	add("tlog-proof header", len(line()), false)
	add("extra prefix", len("extra "), false)
	add("leaf", len(line())-1, false, receipt.CheckInclusion)
	add("extra newline", 1, false)
	add("index prefix", len("index "), false)
	add("index", len(line())-1, false, receipt.CheckInclusion)
	add("index newline", 1, false)
	for len(line()) > 1 {
		add("proof hash", len(line())-1, false, receipt.CheckInclusion)
		add("proof newline", 1, false)
	}
	add("blank line", 1, false, receipt.CheckInclusion) // a hash line may then swallow the checkpoint's first line
	add("checkpoint", len(b)-off, false, receipt.CheckCheckpoint)
	return out
}

// TestTamperEveryByte changes every byte of the sample receipts in many
// ways (each bit flipped, and the characters that matter to the format)
// and checks that each change is refused, naming the part that failed —
// or, only inside a key entry id, which nothing offline depends on, that
// the change verifies to exactly what the original proves, key entry
// aside.
func TestTamperEveryByte(t *testing.T) {
	vkey, err := os.ReadFile(filepath.Join("testdata", "log.vkey"))
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, string(vkey))
	for _, name := range []string{"single.receipt", "double.receipt"} {
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			r, err := receipt.Parse(orig)
			if err != nil {
				t.Fatal(err)
			}
			want, err := v.Verify(r)
			if err != nil {
				t.Fatal(err)
			}
			tried, passed := 0, 0
			for _, reg := range regions(t, orig) {
				for i := reg.start; i < reg.end; i++ {
					for _, c := range substitutes(orig[i]) {
						mut := bytes.Clone(orig)
						mut[i] = c
						tried++
						got, err := verifyBytes(v, mut)
						if err == nil {
							if !reg.mayPass {
								t.Fatalf("byte %d (%s) changed from %q to %q: the receipt still verifies", i, reg.name, orig[i], c)
							}
							if !sameButKeyEntries(got, want) {
								t.Fatalf("byte %d (%s) changed: verifies to different content", i, reg.name)
							}
							passed++
							continue
						}
						var pe *receipt.ParseError
						var re *receipt.Error
						switch {
						case errors.As(err, &pe):
						case errors.As(err, &re) && contains(reg.checks, re.Check):
						case errors.As(err, &re) && c == '\n' && re.Check == receipt.CheckCheckpoint:
							// A new line ends the proof early: what
							// follows is read as the checkpoint.
						default:
							t.Fatalf("byte %d (%s) changed from %q to %q: %v; want a parse error or one of %q", i, reg.name, orig[i], c, err, reg.checks)
						}
					}
				}
			}
			t.Logf("%d changes of %d bytes: all refused but %d inside key entry ids, which verify to the same content", tried, len(orig), passed)
		})
	}
}

func verifyBytes(v *receipt.Verifier, b []byte) (*receipt.Verified, error) {
	r, err := receipt.Parse(b)
	if err != nil {
		return nil, err
	}
	return v.Verify(r)
}

// substitutes are the values a byte is changed to: each single-bit flip,
// and the bytes that delimit the format.
func substitutes(b byte) []byte {
	var out []byte
	seen := map[byte]bool{b: true}
	add := func(c byte) {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	for bit := range 8 {
		add(b ^ 1<<bit)
	}
	for _, c := range []byte("\n\r =+/0aA-_") {
		add(c)
	}
	return out
}

func sameButKeyEntries(a, b *receipt.Verified) bool {
	x, y := *a, *b
	x.Signers, y.Signers = nil, nil
	if !reflect.DeepEqual(x, y) || len(a.Signers) != len(b.Signers) {
		return false
	}
	for i := range a.Signers {
		if !bytes.Equal(a.Signers[i].PublicKey, b.Signers[i].PublicKey) {
			return false
		}
	}
	return true
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}
