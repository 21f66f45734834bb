package web_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// logPage: the log's page verifies and says that the key it trusted came
// from the server.
func (p *pagesRun) logPage(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	for _, sz := range sizes[:2] {
		b.reset()
		if got := b.open(t, f.URL+"/log", sz.width, sz.height); got != "ok" {
			t.Fatalf("data-verification = %s: %s", got, b.text(t, "#verification"))
		}
		b.screenshot(t, "log-"+sz.name, sz.width)
	}
	b.accessible(t, "log")
	if k := b.text(t, "#log-key"); k != s.info.PublicKey {
		t.Errorf("log key shown = %q", k)
	}
	if !strings.Contains(b.text(t, "main"), "sent by the server itself") {
		t.Error("an unpinned key is not said to come from the server")
	}
}

// logWitnessed: a witness's cosignature is verified with the witness key
// in the link, noted as unchecked without it, and a forged one fails.
func (p *pagesRun) logWitnessed(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	// A witness cosigns the checkpoint /v1/log serves (added in transit,
	// as a log with a witness policy would serve it).
	wskey, wvkey, err := note.GenerateKey(rand.Reader, "witness.test.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := fnote.NewSignerForCosignatureV1(wskey)
	if err != nil {
		t.Fatal(err)
	}
	cosKey, err := fnote.VKeyToCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := note.NewVerifier(s.info.PublicKey)
	cosign := func(forge bool) func(r *http.Request, body []byte) []byte {
		return func(r *http.Request, body []byte) []byte {
			if r.URL.Path != "/v1/log" {
				return body
			}
			var info map[string]any
			json.Unmarshal(body, &info)
			n, err := note.Open([]byte(info["checkpoint"].(string)), note.VerifierList(lv))
			if err != nil {
				return body
			}
			signer := note.Signer(ws)
			if forge {
				n.Text = strings.Replace(n.Text, "\n", "\n9", 1) // cosign another text
			}
			cosigned, err := note.Sign(&note.Note{Text: n.Text}, signer)
			if err != nil {
				return body
			}
			sig := string(cosigned[strings.LastIndex(string(cosigned), "\n— ")+1:])
			info["checkpoint"] = info["checkpoint"].(string) + sig
			out, _ := json.Marshal(info)
			return out
		}
	}
	f.setTamper(cosign(false))
	defer f.reset()
	b.reset()
	if got := b.open(t, f.URL+"/log#witness="+cosKey, 1280, 900); got != "ok" {
		t.Fatalf("data-verification = %s: %s", got, b.text(t, "#verification"))
	}
	if v := b.text(t, ".witnesses"); !strings.Contains(v, "witness.test.example/w1: cosignature verified with the witness key in the link") {
		t.Errorf("witnesses: %q", v)
	}
	b.reset()
	if got := b.open(t, f.URL+"/log", 1280, 900); got != "ok" {
		t.Fatalf("without the witness key: data-verification = %s", got)
	}
	if v := b.text(t, ".witnesses"); !strings.Contains(v, "cosignature present, not checked") {
		t.Errorf("witnesses without the key: %q", v)
	}
	f.setTamper(cosign(true))
	b.reset()
	if got := b.open(t, f.URL+"/log#witness="+cosKey, 1280, 900); got != "failed" {
		t.Fatalf("a cosignature of another text: data-verification = %s", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "witness cosignature") {
		t.Errorf("verification box: %q", v)
	}
}

// logPinnedKey: a log key pinned in the link is said to be pinned, and
// another key pinned fails the trial's page.
func (p *pagesRun) logPinnedKey(t *testing.T) {
	b, s, f := p.b, p.s, p.f
	b.reset()
	if got := b.open(t, f.URL+"/log#key="+s.info.PublicKey, 1280, 900); got != "ok" {
		t.Fatalf("data-verification = %s with the right key pinned", got)
	}
	if !strings.Contains(b.text(t, "main"), "with this key in its link") {
		t.Error("a pinned key is not said to be pinned")
	}
	other := otherKey(t, s.srv.Config.Origin)
	b.reset()
	if got := b.open(t, f.URL+"/trials/"+s.trial+"#key="+other, 1280, 900); got != "failed" {
		t.Fatalf("data-verification = %s with another key pinned", got)
	}
	if v := b.text(t, "#verification"); !strings.Contains(v, "signed checkpoint") {
		t.Errorf("verification box: %q", v)
	}
}

// otherKey is a note verifier key of the same origin as the log's, but
// another key.
func otherKey(t *testing.T, origin string) string {
	t.Helper()
	_, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}
