package witness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// TestProbe: every answer to the start-up probe (old size 0, no proof) is
// read as the witness's size or as why it cannot tell, and the sizes learnt
// are recorded for the next Cosign.
func TestProbe(t *testing.T) {
	const origin = "example.org/log"
	signer, verifier := newLogKey(t, origin)
	signed, err := note.Sign(&note.Note{Text: origin + "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	var bodies = make(chan string, 10)
	conflict := func(size string) func(uint64, string) (int, string, string) {
		return func(_ uint64, body string) (int, string, string) {
			bodies <- body
			return http.StatusConflict, "text/x.tlog.size", size
		}
	}
	ahead := newFake(t, "ahead.example/w", conflict("9\n"))
	behind := newFake(t, "behind.example/w", conflict("3\n"))
	fresh := newFake(t, "fresh.example/w", func(_ uint64, body string) (int, string, string) {
		bodies <- body
		return http.StatusOK, "", ""
	})
	unknown := newFake(t, "unknown.example/w", func(uint64, string) (int, string, string) { return http.StatusNotFound, "", "unknown log" })
	garbled := newFake(t, "garbled.example/w", conflict("nine\n"))
	liar := newFake(t, "liar.example/w", func(uint64, string) (int, string, string) {
		return http.StatusOK, "", "— liar.example/w AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
	})
	ws := []*fakeWitness{ahead, behind, fresh, unknown, garbled, liar}
	var b strings.Builder
	for i, w := range ws {
		fmt.Fprintf(&b, "witness w%d %s %s\n", i, w.c.vkey, w.srv.URL)
	}
	b.WriteString("group g any w0 w1 w2 w3 w4 w5\nquorum g\n")
	p, err := ParsePolicy([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	noProof := func(context.Context, uint64, uint64) ([][]byte, error) {
		return nil, errors.New("the probe asks for no proof")
	}
	c, err := NewCollector(Options{Policy: p, Log: verifier, Proof: noProof, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := c.Probe(context.Background(), signed)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != len(ws) {
		t.Fatalf("%d answers for %d witnesses", len(ks), len(ws))
	}
	want := []struct {
		size     uint64
		cosigned bool
		err      error
	}{{9, false, nil}, {3, false, nil}, {5, true, nil}, {0, false, ErrUnknownLog}, {0, false, ErrSplitView}, {0, false, nil}}
	for i, k := range ks {
		w := want[i]
		if k.Witness != fmt.Sprintf("w%d", i) {
			t.Fatalf("answer %d is %s's", i, k.Witness)
		}
		switch {
		case i == 5:
			if k.Err == nil || !strings.Contains(k.Err.Error(), "no valid cosignature") {
				t.Errorf("the lying witness: %+v", k)
			}
		case w.err != nil:
			if !errors.Is(k.Err, w.err) {
				t.Errorf("w%d: %+v, want %v", i, k, w.err)
			}
		case k.Err != nil || k.Size != w.size || k.Cosigned != w.cosigned:
			t.Errorf("w%d: %+v, want size %d cosigned %v", i, k, w.size, w.cosigned)
		}
	}
	close(bodies)
	for body := range bodies {
		if !strings.HasPrefix(body, "old 0\n\n"+origin+"\n5\n") {
			t.Errorf("the probe sent %q, want old 0, no proof, the signed checkpoint", body)
		}
	}
	known := c.Known()
	if known["w0"] != 9 || known["w1"] != 3 || known["w2"] != 5 {
		t.Errorf("sizes recorded: %v", known)
	}
	if _, ok := known["w3"]; ok {
		t.Errorf("a witness that did not answer has a size: %v", known)
	}
	// A checkpoint the log did not sign is not sent.
	other, _ := newLogKey(t, origin)
	bad, _ := note.Sign(&note.Note{Text: origin + "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, other)
	before := ahead.calls.Load()
	if _, err := c.Probe(context.Background(), bad); err == nil || ahead.calls.Load() != before {
		t.Fatalf("a checkpoint not signed by the log: %v", err)
	}
}
