package witness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// fakeWitness answers add-checkpoint with what its handler decides; it
// cosigns with a torchwood signer when told to.
type fakeWitness struct {
	c      *cosigner
	answer func(old uint64, body string) (int, string, string) // status, content type, body ("" → cosign)
	calls  atomic.Int32
	srv    *httptest.Server
}

func newFake(t *testing.T, name string, answer func(old uint64, body string) (int, string, string)) *fakeWitness {
	f := &fakeWitness{c: newCosigner(t, name), answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if r.URL.Path != "/add-checkpoint" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var old uint64
		fmt.Sscanf(string(b), "old %d\n", &old)
		status, ct, body := f.answer(old, string(b))
		if status == http.StatusOK && body == "" {
			_, cp, _ := strings.Cut(string(b), "\n\n")
			text, _, _ := strings.Cut(cp, "\n\n")
			signed, err := note.Sign(&note.Note{Text: text + "\n"}, f.c.signer)
			if err != nil {
				t.Error(err)
			}
			body = string(signed[strings.LastIndex(string(signed), "\n\n")+2:])
		}
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestCollector(t *testing.T) {
	const origin = "example.org/log"
	signer, verifier := newLogKey(t, origin)
	signed := func(size int) []byte {
		b, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n", origin, size)}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// good knows size 3 and says so with a 409 until asked from 3.
	good := newFake(t, "good.example/w", func(old uint64, _ string) (int, string, string) {
		if old != 3 {
			return http.StatusConflict, "text/x.tlog.size", "3\n"
		}
		return http.StatusOK, "", ""
	})
	unknown := newFake(t, "unknown.example/w", func(uint64, string) (int, string, string) { return http.StatusNotFound, "", "unknown log" })
	forked := newFake(t, "forked.example/w", func(uint64, string) (int, string, string) { return http.StatusUnprocessableEntity, "", "bad proof" })
	liar := newFake(t, "liar.example/w", func(uint64, string) (int, string, string) {
		return http.StatusOK, "", "— liar.example/w AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"
	})
	slow := newFake(t, "slow.example/w", func(uint64, string) (int, string, string) {
		time.Sleep(2 * time.Second)
		return http.StatusOK, "", ""
	})
	policy := func(quorum string, ws ...*fakeWitness) *Policy {
		var b strings.Builder
		var names []string
		for i, w := range ws {
			fmt.Fprintf(&b, "witness w%d %s %s\n", i, w.c.vkey, w.srv.URL)
			names = append(names, fmt.Sprintf("w%d", i))
		}
		fmt.Fprintf(&b, "group g %s %s\nquorum g\n", quorum, strings.Join(names, " "))
		p, err := ParsePolicy([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var proofs atomic.Int32
	proof := func(_ context.Context, from, to uint64) ([][]byte, error) {
		proofs.Add(1)
		if from != 3 || to != 5 {
			return nil, fmt.Errorf("unexpected proof %d→%d", from, to)
		}
		return [][]byte{make([]byte, 32)}, nil
	}
	newC := func(p *Policy) *Collector {
		c, err := NewCollector(Options{Policy: p, Log: verifier, Proof: proof, Timeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// 409 then 200: the cosignature verifies; the failing witnesses do not matter for "any".
	c := newC(policy("any", unknown, forked, good))
	cs, out, err := c.Cosign(context.Background(), signed(5))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cs.Witnesses, ",") != "w2" || c.Known()["w2"] != 5 || proofs.Load() != 1 {
		t.Fatalf("cosigned by %v, known %v, %d proofs", cs.Witnesses, c.Known(), proofs.Load())
	}
	if _, err := c.Policy().Verify(out, verifier); err != nil {
		t.Fatal(err)
	}

	// "all": every failure is reported, each with its reason.
	c = newC(policy("all", unknown, forked, liar, slow, good))
	_, _, err = c.Cosign(context.Background(), signed(5))
	var fe *FailureError
	if !errors.As(err, &fe) {
		t.Fatalf("want a FailureError, got %v", err)
	}
	for name, want := range map[string]error{"w0": ErrUnknownLog, "w1": ErrInconsistent, "w3": context.DeadlineExceeded} {
		if !errors.Is(fe.Failures[name], want) {
			t.Errorf("%s: %v, want %v", name, fe.Failures[name], want)
		}
	}
	if fe.Failures["w2"] == nil || !strings.Contains(fe.Failures["w2"].Error(), "no valid cosignature") {
		t.Errorf("the lying witness: %v", fe.Failures["w2"])
	}
	if _, ok := fe.Failures["w4"]; ok {
		t.Errorf("the good witness failed: %v", fe.Failures["w4"])
	}
	if !strings.Contains(err.Error(), "witness quorum g not met") {
		t.Errorf("message: %v", err)
	}

	// A witness that cosigned a larger tree than offered: refused before any proof.
	c = newC(policy("any", good))
	if _, _, err := c.Cosign(context.Background(), signed(2)); !errors.Is(err, ErrAhead) {
		t.Fatalf("a checkpoint smaller than the witness's: %v", err)
	}
	// A checkpoint the log did not sign is not sent.
	before := good.calls.Load()
	other, _ := newLogKey(t, origin)
	bad, _ := note.Sign(&note.Note{Text: origin + "\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, other)
	if _, _, err := c.Cosign(context.Background(), bad); err == nil || good.calls.Load() != before {
		t.Fatalf("a checkpoint not signed by the log: %v, %d calls", err, good.calls.Load()-before)
	}
}

// FuzzAnswer: whatever a witness answers, the client classifies it
// without panicking, and a 409 it accepts as a size is exactly a decimal
// size line.
func FuzzAnswer(f *testing.F) {
	f.Add(409, "text/x.tlog.size", []byte("42\n"), uint64(0))
	f.Add(409, "text/x.tlog.size; charset=utf-8", []byte("007\n"), uint64(1))
	f.Add(200, "", []byte("— w AAAA\n"), uint64(0))
	f.Add(422, "text/plain", []byte("bad"), uint64(3))
	f.Fuzz(func(t *testing.T, status int, ct string, body []byte, old uint64) {
		lines, err := parseAnswer(status, ct, body, old)
		var conflict *ConflictError
		switch {
		case status == http.StatusOK:
			if err != nil || string(lines) != string(body) {
				t.Fatal("a 200 answer was not returned as is")
			}
		case errors.As(err, &conflict):
			if fmt.Sprintf("%d\n", conflict.Known) != string(body) || conflict.Known == old {
				t.Fatalf("409 %q read as size %d", body, conflict.Known)
			}
		case err == nil:
			t.Fatalf("status %d accepted", status)
		}
		for _, w := range []*Witness{{verifier: &cosigVerifier{name: "w", hash: 1}}} {
			onlyWitnessLines(w, body)
		}
	})
}
