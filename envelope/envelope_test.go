package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/trialog/trialog/statement"
)

// Independent test vectors. The Ed25519 keys are RFC 8032 section 7.1 tests 1
// and 2; key ids, signatures and entry ids were computed outside Go (Python
// hashlib and pyca/cryptography), so they do not depend on this package.
const (
	seed1Hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
	pub1Hex  = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	kid1     = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"
	seed2Hex = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"
	pub2Hex  = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
	kid2     = "39f713d0a644253f04529421b9f51b9b08979d08295959c4f3990ee617f5139f"

	// goldenPayload is a record.digest statement; goldenPayloadB64 its
	// standard base64.
	goldenPayload    = `{"type":"record.digest","digest":{"sha256":"abababababababababababababababababababababababababababababababab"},"issued_at":"2026-11-23T14:00:00Z"}`
	goldenPayloadB64 = "eyJ0eXBlIjoicmVjb3JkLmRpZ2VzdCIsImRpZ2VzdCI6eyJzaGEyNTYiOiJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiYWJhYmFiIn0sImlzc3VlZF9hdCI6IjIwMjYtMTEtMjNUMTQ6MDA6MDBaIn0="
	// goldenSig1 and goldenSig2 are Ed25519 signatures by keys 1 and 2 over
	// PAE(statement.PayloadType, goldenPayload).
	goldenSig1 = "XoQaJnitLIHD8h1Jet3Q5wvQEeqQGX9hU+VcfYMmuAeHdfJ4rCanIGHzCSlKX1ASGf+zPXOVi+aR2K0PfIILCQ=="
	goldenSig2 = "aZ1czpJupn8T8FHAL8ev0Xj97iwyNWHIVi1GmzywInrEb1v/YHsRMiT+NZTgwKvoxjF0TrkuXlDR2+vro//5Cg=="
	// Entry ids: sha256(PAE ‖ kid1 ‖ sig1), sha256(PAE ‖ kid1 ‖ sig1 ‖ kid2 ‖
	// sig2) and the same with the signatures in the other order.
	goldenID1  = "c7d3be83bed5be5e3b53ece455fa7ecb614bd5766fc84d65b9b16df32922cc26"
	goldenID12 = "667ba4d2bd248967e3db78a807bf75eeb4f20f1bf52db4471c291fbc21450b54"
	goldenID21 = "68710bd7a2bba30d26c5afc0d26eb0b5829d981d6d44e2e151a7b762d0fb8c96"

	// A hand-made envelope: payload "hello", key id 32 bytes of 0x11,
	// "signature" 64 bytes of 0x22 (Parse does not verify).
	hwPayloadB64 = "aGVsbG8="
	hwKeyID      = "1111111111111111111111111111111111111111111111111111111111111111"
	hwSig        = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIg=="
	hwID         = "b2cfb3224aa15dd8166526b3e154de2dd824f58d2f50de4350d9463fdb3aad73"
	hwEnvelope   = `{"payloadType":"application/vnd.trialog.statement+json","payload":"aGVsbG8=","signatures":[{"keyid":"` + hwKeyID + `","sig":"` + hwSig + `"}]}`
)

var lowerHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t testing.TB, seedHex string) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(mustHex(t, seedHex))
}

// envJSON builds an envelope's JSON by hand. sigs are already-encoded JSON
// objects.
func envJSON(payloadType, payload string, sigs ...string) string {
	return fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":[%s]}`, payloadType, payload, strings.Join(sigs, ","))
}

func sigJSON(keyid, sig string) string {
	return fmt.Sprintf(`{"keyid":%q,"sig":%q}`, keyid, sig)
}

// nKeyIDs returns n distinct well-formed key ids.
func nKeyIDs(n int) []string {
	var ids []string
	for i := range n {
		ids = append(ids, strings.Repeat(fmt.Sprintf("%02x", i+1), 32))
	}
	return ids
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestParseValid(t *testing.T) {
	p, err := Parse([]byte(hwEnvelope))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.PayloadType != statement.PayloadType {
		t.Errorf("PayloadType = %q", p.PayloadType)
	}
	if string(p.PayloadBytes) != "hello" {
		t.Errorf("PayloadBytes = %q, want hello", p.PayloadBytes)
	}
	if len(p.KeyIDs) != 1 || !bytes.Equal(p.KeyIDs[0], bytes.Repeat([]byte{0x11}, 32)) {
		t.Errorf("KeyIDs = %x", p.KeyIDs)
	}
	if len(p.Sigs) != 1 || !bytes.Equal(p.Sigs[0], bytes.Repeat([]byte{0x22}, 64)) {
		t.Errorf("Sigs = %x", p.Sigs)
	}
	want := Envelope{PayloadType: statement.PayloadType, Payload: hwPayloadB64, Signatures: []Signature{{KeyID: hwKeyID, Sig: hwSig}}}
	if !reflect.DeepEqual(p.Envelope, want) {
		t.Errorf("Envelope = %+v, want %+v", p.Envelope, want)
	}
	if p.ID != hwID {
		t.Errorf("ID = %s, want %s", p.ID, hwID)
	}
}

func TestParseAccepts(t *testing.T) {
	ids := nKeyIDs(8)
	var eight []string
	for _, id := range ids {
		eight = append(eight, sigJSON(id, hwSig))
	}
	for _, tc := range []struct{ name, in string }{
		{"one signature", hwEnvelope},
		{"eight signatures", envJSON(statement.PayloadType, hwPayloadB64, eight...)},
		{"whitespace between tokens", " {\n \"payloadType\" : \"t\" ,\t\"payload\":\"aGVsbG8=\", \"signatures\":[ " + sigJSON(hwKeyID, hwSig) + " ] }\n"},
		{"fields in another order", `{"signatures":[` + sigJSON(hwKeyID, hwSig) + `],"payload":"aGVsbG8=","payloadType":"t"}`},
		{"other payloadType (Parse does not police it)", envJSON("text/plain", hwPayloadB64, sigJSON(hwKeyID, hwSig))},
		{"payloadType 255 bytes", envJSON(strings.Repeat("t", 255), hwPayloadB64, sigJSON(hwKeyID, hwSig))},
		{"one-byte payload", envJSON("t", "YQ==", sigJSON(hwKeyID, hwSig))},
		{"binary payload", envJSON("t", b64([]byte{0, 0xff, 0xfe, '\n'}), sigJSON(hwKeyID, hwSig))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !lowerHex64.MatchString(p.ID) {
				t.Errorf("ID %q is not 64 lowercase hex digits", p.ID)
			}
			if len(p.KeyIDs) != len(p.Signatures) || len(p.Sigs) != len(p.Signatures) {
				t.Errorf("%d key ids and %d sigs for %d signatures", len(p.KeyIDs), len(p.Sigs), len(p.Signatures))
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	okSig := sigJSON(hwKeyID, hwSig)
	pt := statement.PayloadType
	var nine []string
	for _, id := range nKeyIDs(9) {
		nine = append(nine, sigJSON(id, hwSig))
	}
	for _, tc := range []struct {
		name, in string
		want     []string // substrings of the error
	}{
		// payloadType
		{"missing payloadType", `{"payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{"payloadType is required"}},
		{"empty payloadType", envJSON("", hwPayloadB64, okSig), []string{"payloadType is required"}},
		{"null payloadType", `{"payloadType":null,"payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{"payloadType is required"}},
		{"payloadType 256 bytes", envJSON(strings.Repeat("t", 256), hwPayloadB64, okSig), []string{"payloadType", "255"}},
		{"payloadType not a string", `{"payloadType":1,"payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{`"payloadType"`, "string"}},

		// payload encoding
		{"payload bad padding YQ=", envJSON(pt, "YQ=", okSig), []string{"payload:", "base64"}},
		{"payload unpadded", envJSON(pt, "aGVsbG8", okSig), []string{"payload:", "base64"}},
		{"payload unpadded YQ", envJSON(pt, "YQ", okSig), []string{"payload:", "base64"}},
		{"payload URL-safe alphabet", envJSON(pt, "-_8=", okSig), []string{"payload:", "base64"}},
		{"payload URL-safe unpadded", envJSON(pt, "-_8", okSig), []string{"payload:", "base64"}},
		{"payload non-zero padding bits", envJSON(pt, "YR==", okSig), []string{"payload:", "base64"}},
		{"payload non-zero padding bits 2", envJSON(pt, "aGVsbG9=", okSig), []string{"payload:", "base64"}},
		{"payload embedded newline", envJSON(pt, "aGVs\nbG8=", okSig), []string{"payload:", "base64"}},
		{"payload trailing CRLF", envJSON(pt, "aGVsbG8=\r\n", okSig), []string{"payload:", "base64"}},
		{"payload leading space", envJSON(pt, " aGVsbG8=", okSig), []string{"payload:", "base64"}},
		{"payload inner space", envJSON(pt, "aGVs bG8=", okSig), []string{"payload:", "base64"}},
		{"payload extra padding", envJSON(pt, "aGVsbG8==", okSig), []string{"payload:", "base64"}},
		{"payload not a string", `{"payloadType":"t","payload":[1],"signatures":[` + okSig + `]}`, []string{`"payload"`}},

		// payload content
		{"empty payload", envJSON(pt, "", okSig), []string{"payload is empty"}},
		{"missing payload", `{"payloadType":"t","signatures":[` + okSig + `]}`, []string{"payload is empty"}},

		// signature count
		{"zero signatures", envJSON(pt, hwPayloadB64), []string{"at least one signature"}},
		{"missing signatures", `{"payloadType":"t","payload":"aGVsbG8="}`, []string{"at least one signature"}},
		{"null signatures", `{"payloadType":"t","payload":"aGVsbG8=","signatures":null}`, []string{"at least one signature"}},
		{"nine signatures", envJSON(pt, hwPayloadB64, nine...), []string{"at most 8 signatures"}},
		{"signatures not an array", `{"payloadType":"t","payload":"aGVsbG8=","signatures":{}}`, []string{`"signatures"`}},

		// key ids
		{"keyid uppercase", envJSON(pt, hwPayloadB64, sigJSON(strings.ToUpper(kid1), hwSig)), []string{"signatures[0].keyid"}},
		{"keyid one uppercase digit", envJSON(pt, hwPayloadB64, sigJSON("A"+kid1[1:], hwSig)), []string{"signatures[0].keyid"}},
		{"keyid 63 digits", envJSON(pt, hwPayloadB64, sigJSON(kid1[:63], hwSig)), []string{"signatures[0].keyid"}},
		{"keyid 65 digits", envJSON(pt, hwPayloadB64, sigJSON(kid1+"0", hwSig)), []string{"signatures[0].keyid"}},
		{"keyid 128 digits", envJSON(pt, hwPayloadB64, sigJSON(kid1+kid1, hwSig)), []string{"signatures[0].keyid"}},
		{"keyid empty", envJSON(pt, hwPayloadB64, sigJSON("", hwSig)), []string{"signatures[0].keyid"}},
		{"keyid missing", envJSON(pt, hwPayloadB64, `{"sig":"`+hwSig+`"}`), []string{"signatures[0].keyid"}},
		{"keyid non-hex", envJSON(pt, hwPayloadB64, sigJSON("g"+kid1[1:], hwSig)), []string{"signatures[0].keyid"}},
		{"keyid with 0x prefix", envJSON(pt, hwPayloadB64, sigJSON("0x"+kid1[2:], hwSig)), []string{"signatures[0].keyid"}},
		{"keyid trailing newline", envJSON(pt, hwPayloadB64, sigJSON(kid1+"\n", hwSig)), []string{"signatures[0].keyid"}},
		{"keyid base64 of the hash", envJSON(pt, hwPayloadB64, sigJSON(b64(mustHex(t, kid1)), hwSig)), []string{"signatures[0].keyid"}},
		{"bad keyid in second signature", envJSON(pt, hwPayloadB64, okSig, sigJSON(strings.ToUpper(kid2), hwSig)), []string{"signatures[1].keyid"}},
		{"duplicate keyid", envJSON(pt, hwPayloadB64, okSig, sigJSON(hwKeyID, hwSig)), []string{"signatures[1].keyid", "repeats"}},
		{"duplicate keyid not adjacent", envJSON(pt, hwPayloadB64, sigJSON(kid1, hwSig), sigJSON(kid2, hwSig), sigJSON(kid1, hwSig)), []string{"signatures[2].keyid", "repeats"}},
		{"null signature", envJSON(pt, hwPayloadB64, "null"), []string{"signatures[0].keyid"}},

		// sigs
		{"sig 63 bytes", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, b64(make([]byte, 63)))), []string{"signatures[0].sig", "64-byte"}},
		{"sig 65 bytes", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, b64(make([]byte, 65)))), []string{"signatures[0].sig", "64-byte"}},
		{"sig 32 bytes", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, b64(make([]byte, 32)))), []string{"signatures[0].sig", "64-byte"}},
		{"sig empty", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, "")), []string{"signatures[0].sig", "64-byte"}},
		{"sig missing", envJSON(pt, hwPayloadB64, `{"keyid":"`+hwKeyID+`"}`), []string{"signatures[0].sig", "64-byte"}},
		{"sig unpadded", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, strings.TrimRight(hwSig, "="))), []string{"signatures[0].sig", "base64"}},
		{"sig URL-safe", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, base64.URLEncoding.EncodeToString(mustHex(t, strings.Repeat("fb", 64))))), []string{"signatures[0].sig", "base64"}},
		{"sig with newline", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, hwSig[:40]+"\n"+hwSig[40:])), []string{"signatures[0].sig", "base64"}},
		{"sig non-zero padding bits", envJSON(pt, hwPayloadB64, sigJSON(hwKeyID, hwSig[:len(hwSig)-3]+"h==")), []string{"signatures[0].sig", "base64"}},
		{"bad sig in second signature", envJSON(pt, hwPayloadB64, okSig, sigJSON(kid2, b64(make([]byte, 63)))), []string{"signatures[1].sig"}},

		// strict JSON
		{"unknown top-level field", `{"payloadType":"t","payload":"aGVsbG8=","signatures":[` + okSig + `],"extra":1}`, []string{`unknown field "extra"`}},
		{"unknown signature field", envJSON(pt, hwPayloadB64, `{"keyid":"`+hwKeyID+`","sig":"`+hwSig+`","publicKey":"x"}`), []string{`unknown field "signatures[0].publicKey"`}},
		{"duplicate payload", `{"payloadType":"t","payload":"aGVsbG8=","payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{`duplicate field "payload"`}},
		{"duplicate payload, last differs", `{"payloadType":"t","payload":"aGVsbG8=","payload":"YQ==","signatures":[` + okSig + `]}`, []string{`duplicate field "payload"`}},
		{"duplicate payloadType", `{"payloadType":"a","payloadType":"b","payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{`duplicate field "payloadType"`}},
		{"duplicate signatures", `{"payloadType":"t","payload":"aGVsbG8=","signatures":[` + okSig + `],"signatures":[` + okSig + `]}`, []string{`duplicate field "signatures"`}},
		{"duplicate keyid field", envJSON(pt, hwPayloadB64, `{"keyid":"`+hwKeyID+`","keyid":"`+kid1+`","sig":"`+hwSig+`"}`), []string{`duplicate field "signatures[0].keyid"`}},
		{"case-variant PayloadType", `{"PayloadType":"t","payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{`unknown field "PayloadType"`}},
		{"case-variant Payload beside payload", `{"payloadType":"t","payload":"aGVsbG8=","Payload":"YQ==","signatures":[` + okSig + `]}`, []string{`unknown field "Payload"`}},
		{"case-variant payloadtype", `{"payloadtype":"t","payload":"aGVsbG8=","signatures":[` + okSig + `]}`, []string{`unknown field "payloadtype"`}},
		{"case-variant KeyID", envJSON(pt, hwPayloadB64, `{"KeyID":"`+hwKeyID+`","sig":"`+hwSig+`"}`), []string{`unknown field "signatures[0].KeyID"`}},
		{"case-variant Sig", envJSON(pt, hwPayloadB64, `{"keyid":"`+hwKeyID+`","Sig":"`+hwSig+`"}`), []string{`unknown field "signatures[0].Sig"`}},
		{"trailing object", hwEnvelope + ` {}`, []string{"unexpected data after the JSON value"}},
		{"trailing garbage", hwEnvelope + `x`, []string{"after the JSON value"}},
		{"two envelopes", hwEnvelope + hwEnvelope, []string{"unexpected data after the JSON value"}},
		{"truncated", hwEnvelope[:len(hwEnvelope)-1], []string{"malformed JSON"}},
		{"empty input", ``, []string{"malformed JSON"}},
		{"array", `[]`, []string{"envelope"}},
		{"string", `"x"`, []string{"envelope"}},
		{"null", `null`, []string{"payloadType is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse accepted %s: id %s", tc.in, p.ID)
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Errorf("error %q does not wrap statement.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), "envelope") {
				t.Errorf("error %q does not say it is about the envelope", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Check is what Parse runs after decoding; it must reject the same things on
// an Envelope built in Go.
func TestCheck(t *testing.T) {
	good := Envelope{PayloadType: "t", Payload: hwPayloadB64, Signatures: []Signature{{KeyID: hwKeyID, Sig: hwSig}}}
	p, err := Check(good)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !reflect.DeepEqual(p.Envelope, good) {
		t.Errorf("Envelope = %+v", p.Envelope)
	}
	bad := good
	bad.Signatures = []Signature{{KeyID: hwKeyID, Sig: hwSig}, {KeyID: hwKeyID, Sig: hwSig}}
	if _, err := Check(bad); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "signatures[1].keyid") {
		t.Errorf("duplicate keyid: err = %v", err)
	}
	bad = good
	bad.Payload = "aGVsbG8"
	if _, err := Check(bad); !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "payload") {
		t.Errorf("unpadded payload: err = %v", err)
	}
}

func TestDecodeB64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte // nil: rejected
	}{
		{"", []byte{}},
		{"YQ==", []byte("a")},
		{"YWI=", []byte("ab")},
		{"YWJj", []byte("abc")},
		{"+/8=", []byte{0xfb, 0xff}},
		{"YQ=", nil},
		{"YQ", nil},
		{"YQ===", nil},
		{"YR==", nil},
		{"YWJ=", nil},
		{"-_8=", nil},
		{"YW\nJj", nil},
		{"YWJj\n", nil},
		{"YWJj\r", nil},
		{" YWJj", nil},
		{"YWJj ", nil},
		{"YW Jj", nil},
		{"YWJj\t", nil},
		{"=", nil},
		{"====", nil},
	} {
		got, err := DecodeB64(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("DecodeB64(%q) = %x, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("DecodeB64(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
		}
	}
}

func TestPAE(t *testing.T) {
	for _, tc := range []struct {
		typ     string
		payload []byte
		want    string
	}{
		// The DSSE specification's own example (protocol.md).
		{"http://example.com/HelloWorld", []byte("hello world"), "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{statement.PayloadType, []byte("hello"), "DSSEv1 38 application/vnd.trialog.statement+json 5 hello"},
		{"", nil, "DSSEv1 0  0 "},
		{"t", []byte{}, "DSSEv1 1 t 0 "},
		// LEN counts bytes, not runes.
		{"é", []byte("ü"), "DSSEv1 2 é 2 ü"},
		// The body is copied verbatim, binary and separators included.
		{"a b", []byte{0, ' ', 0xff, '\n'}, "DSSEv1 3 a b 4 \x00 \xff\n"},
		{"x", bytes.Repeat([]byte("z"), 1234), "DSSEv1 1 x 1234 " + strings.Repeat("z", 1234)},
	} {
		if got := PAE(tc.typ, tc.payload); string(got) != tc.want {
			t.Errorf("PAE(%q, %q) = %q, want %q", tc.typ, tc.payload, got, tc.want)
		}
	}
}

func TestKeyID(t *testing.T) {
	for _, tc := range []struct{ pub, want string }{
		{pub1Hex, kid1},
		{pub2Hex, kid2},
	} {
		pub := ed25519.PublicKey(mustHex(t, tc.pub))
		got := KeyID(pub)
		if got != tc.want {
			t.Errorf("KeyID(%s) = %s, want %s", tc.pub, got, tc.want)
		}
		sum := sha256.Sum256(mustHex(t, tc.pub))
		if got != hex.EncodeToString(sum[:]) {
			t.Errorf("KeyID(%s) is not the hex SHA-256 of the raw key", tc.pub)
		}
	}
	// The RFC 8032 seeds give the RFC 8032 public keys, so kid1 and kid2 are
	// the ids of key(seed1Hex) and key(seed2Hex).
	if got := hex.EncodeToString(key(t, seed1Hex).Public().(ed25519.PublicKey)); got != pub1Hex {
		t.Fatalf("seed 1 gives public key %s", got)
	}
}

// TestEntryIDIndependent recomputes the entry id with crypto/sha256 over a
// written-out PAE, not through this package.
func TestEntryIDIndependent(t *testing.T) {
	p, err := Parse([]byte(hwEnvelope))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write([]byte("DSSEv1 38 application/vnd.trialog.statement+json 5 hello"))
	h.Write(bytes.Repeat([]byte{0x11}, 32))
	h.Write(bytes.Repeat([]byte{0x22}, 64))
	want := hex.EncodeToString(h.Sum(nil))
	if want != hwID {
		t.Fatalf("test vector is wrong: %s != %s", want, hwID)
	}
	if p.ID != want {
		t.Errorf("ID = %s, want %s", p.ID, want)
	}

	// Two signatures, in both orders: the id covers key ids and signatures
	// in signature order.
	pae := "DSSEv1 38 application/vnd.trialog.statement+json " + fmt.Sprint(len(goldenPayload)) + " " + goldenPayload
	sig1, _ := base64.StdEncoding.DecodeString(goldenSig1)
	sig2, _ := base64.StdEncoding.DecodeString(goldenSig2)
	for _, tc := range []struct {
		name   string
		sigs   []string
		parts  [][]byte
		golden string
	}{
		{"one", []string{sigJSON(kid1, goldenSig1)}, [][]byte{mustHex(t, kid1), sig1}, goldenID1},
		{"1,2", []string{sigJSON(kid1, goldenSig1), sigJSON(kid2, goldenSig2)}, [][]byte{mustHex(t, kid1), sig1, mustHex(t, kid2), sig2}, goldenID12},
		{"2,1", []string{sigJSON(kid2, goldenSig2), sigJSON(kid1, goldenSig1)}, [][]byte{mustHex(t, kid2), sig2, mustHex(t, kid1), sig1}, goldenID21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sha256.New()
			h.Write([]byte(pae))
			for _, b := range tc.parts {
				h.Write(b)
			}
			want := hex.EncodeToString(h.Sum(nil))
			if want != tc.golden {
				t.Fatalf("test vector is wrong: %s != %s", want, tc.golden)
			}
			p, err := Parse([]byte(envJSON(statement.PayloadType, goldenPayloadB64, tc.sigs...)))
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != want {
				t.Errorf("ID = %s, want %s", p.ID, want)
			}
		})
	}
}

// The entry id must change with every signed-over or signing part.
func TestEntryIDSensitivity(t *testing.T) {
	base := envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid1, goldenSig1))
	variants := map[string]string{
		"base":        base,
		"payloadType": envJSON(statement.PayloadType+"x", goldenPayloadB64, sigJSON(kid1, goldenSig1)),
		"payload":     envJSON(statement.PayloadType, hwPayloadB64, sigJSON(kid1, goldenSig1)),
		"keyid":       envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid2, goldenSig1)),
		"sig":         envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid1, goldenSig2)),
		"extra sig":   envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid1, goldenSig1), sigJSON(kid2, goldenSig2)),
	}
	seen := map[string]string{}
	for name, in := range variants {
		p, err := Parse([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if other, dup := seen[p.ID]; dup {
			t.Errorf("%s and %s have the same id %s", name, other, p.ID)
		}
		seen[p.ID] = name
	}
	// Formatting of the JSON does not enter the id.
	p, err := Parse([]byte(" {\"signatures\" : [" + sigJSON(kid1, goldenSig1) + "], \"payload\":\"" + goldenPayloadB64 + "\",\"payloadType\":\"application\\/vnd.trialog.statement+json\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != goldenID1 {
		t.Errorf("reformatted envelope has id %s, want %s", p.ID, goldenID1)
	}
}

// TestSignGolden checks Sign against signatures made by another Ed25519
// implementation.
func TestSignGolden(t *testing.T) {
	for _, tc := range []struct {
		seed, kid, sig string
	}{
		{seed1Hex, kid1, goldenSig1},
		{seed2Hex, kid2, goldenSig2},
	} {
		got := Sign(statement.PayloadType, []byte(goldenPayload), key(t, tc.seed))
		want := Envelope{
			PayloadType: statement.PayloadType,
			Payload:     goldenPayloadB64,
			Signatures:  []Signature{{KeyID: tc.kid, Sig: tc.sig}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Sign = %+v\nwant %+v", got, want)
		}
	}
}

func keys(t testing.TB, seeds ...string) map[string]ed25519.PublicKey {
	t.Helper()
	m := map[string]ed25519.PublicKey{}
	for _, s := range seeds {
		pub := key(t, s).Public().(ed25519.PublicKey)
		m[KeyID(pub)] = pub
	}
	return m
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignParseVerify(t *testing.T) {
	priv := key(t, seed1Hex)
	env := Sign(statement.PayloadType, []byte(goldenPayload), priv)
	p, err := Parse(marshal(t, env))
	if err != nil {
		t.Fatalf("Parse(Sign(...)): %v", err)
	}
	if string(p.PayloadBytes) != goldenPayload {
		t.Errorf("PayloadBytes = %q", p.PayloadBytes)
	}
	if err := p.VerifySignatures(keys(t, seed1Hex)); err != nil {
		t.Fatalf("VerifySignatures: %v", err)
	}
	// Extra keys in the map are harmless.
	if err := p.VerifySignatures(keys(t, seed1Hex, seed2Hex)); err != nil {
		t.Fatalf("VerifySignatures with an extra key: %v", err)
	}

	flip := func(s string, i int) string {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		b[i] ^= 0x01
		return b64(b)
	}
	for _, tc := range []struct {
		name string
		env  Envelope
		keys map[string]ed25519.PublicKey
	}{
		{"flipped first payload byte", Envelope{PayloadType: env.PayloadType, Payload: flip(env.Payload, 0), Signatures: env.Signatures}, keys(t, seed1Hex)},
		{"flipped last payload byte", Envelope{PayloadType: env.PayloadType, Payload: flip(env.Payload, len(goldenPayload)-1), Signatures: env.Signatures}, keys(t, seed1Hex)},
		{"other payloadType", Envelope{PayloadType: "application/json", Payload: env.Payload, Signatures: env.Signatures}, keys(t, seed1Hex)},
		{"flipped first sig byte", Envelope{PayloadType: env.PayloadType, Payload: env.Payload, Signatures: []Signature{{KeyID: kid1, Sig: flip(env.Signatures[0].Sig, 0)}}}, keys(t, seed1Hex)},
		{"flipped last sig byte", Envelope{PayloadType: env.PayloadType, Payload: env.Payload, Signatures: []Signature{{KeyID: kid1, Sig: flip(env.Signatures[0].Sig, 63)}}}, keys(t, seed1Hex)},
		{"wrong key under the key id", env, map[string]ed25519.PublicKey{kid1: key(t, seed2Hex).Public().(ed25519.PublicKey)}},
		{"signature by another key", Sign(statement.PayloadType, []byte(goldenPayload), key(t, seed2Hex)), map[string]ed25519.PublicKey{kid2: key(t, seed1Hex).Public().(ed25519.PublicKey)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(marshal(t, tc.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = p.VerifySignatures(tc.keys)
			if err == nil {
				t.Fatal("VerifySignatures accepted a bad signature")
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			var uke *UnknownKeyError
			if errors.As(err, &uke) {
				t.Errorf("a known key's bad signature reported as an unknown key: %v", err)
			}
			if !strings.Contains(err.Error(), "signatures[0] does not verify") {
				t.Errorf("error %q does not name signatures[0]", err)
			}
		})
	}

	// A key id the caller does not own is an UnknownKeyError, not invalid.
	for _, m := range []map[string]ed25519.PublicKey{nil, {}, keys(t, seed2Hex)} {
		err := p.VerifySignatures(m)
		var uke *UnknownKeyError
		if !errors.As(err, &uke) {
			t.Fatalf("VerifySignatures with keys %v = %v, want *UnknownKeyError", m, err)
		}
		if uke.Index != 0 || uke.KeyID != kid1 {
			t.Errorf("UnknownKeyError = %+v", uke)
		}
		if errors.Is(err, statement.ErrInvalid) {
			t.Errorf("UnknownKeyError wraps ErrInvalid: %v", err)
		}
		if !strings.Contains(err.Error(), "signatures[0]") || !strings.Contains(err.Error(), kid1) {
			t.Errorf("UnknownKeyError message %q lacks index or key id", err)
		}
	}
}

func TestVerifyMultiSignature(t *testing.T) {
	// The golden two-signature envelope, signed by another implementation.
	env := envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid1, goldenSig1), sigJSON(kid2, goldenSig2))
	p, err := Parse([]byte(env))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.VerifySignatures(keys(t, seed1Hex, seed2Hex)); err != nil {
		t.Fatalf("both keys known: %v", err)
	}
	for _, tc := range []struct {
		name    string
		keys    map[string]ed25519.PublicKey
		unknown int // index of the UnknownKeyError
		keyid   string
	}{
		{"only key 1", keys(t, seed1Hex), 1, kid2},
		{"only key 2", keys(t, seed2Hex), 0, kid1},
		{"no keys", nil, 0, kid1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.VerifySignatures(tc.keys)
			var uke *UnknownKeyError
			if !errors.As(err, &uke) {
				t.Fatalf("err = %v, want *UnknownKeyError", err)
			}
			if uke.Index != tc.unknown || uke.KeyID != tc.keyid {
				t.Errorf("UnknownKeyError = %+v, want index %d key %s", uke, tc.unknown, tc.keyid)
			}
		})
	}

	// Built with Sign: the second of two signatures is bad.
	e1 := Sign(statement.PayloadType, []byte(goldenPayload), key(t, seed1Hex))
	e2 := Sign(statement.PayloadType, []byte(goldenPayload), key(t, seed2Hex))
	both := Envelope{PayloadType: e1.PayloadType, Payload: e1.Payload, Signatures: []Signature{e1.Signatures[0], e2.Signatures[0]}}
	p, err = Parse(marshal(t, both))
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != goldenID12 {
		t.Errorf("ID = %s, want %s", p.ID, goldenID12)
	}
	if err := p.VerifySignatures(keys(t, seed1Hex, seed2Hex)); err != nil {
		t.Fatalf("both keys known: %v", err)
	}
	swapped := both
	swapped.Signatures = []Signature{{KeyID: kid1, Sig: e2.Signatures[0].Sig}, {KeyID: kid2, Sig: e1.Signatures[0].Sig}}
	p, err = Parse(marshal(t, swapped))
	if err != nil {
		t.Fatal(err)
	}
	err = p.VerifySignatures(keys(t, seed1Hex, seed2Hex))
	if !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "signatures[0]") {
		t.Errorf("swapped signatures: err = %v", err)
	}
	badSecond := both
	other := Sign(statement.PayloadType, []byte("another payload"), key(t, seed2Hex))
	badSecond.Signatures = []Signature{e1.Signatures[0], other.Signatures[0]}
	p, err = Parse(marshal(t, badSecond))
	if err != nil {
		t.Fatal(err)
	}
	err = p.VerifySignatures(keys(t, seed1Hex, seed2Hex))
	if !errors.Is(err, statement.ErrInvalid) || !strings.Contains(err.Error(), "signatures[1] does not verify") {
		t.Errorf("bad second signature: err = %v", err)
	}
}

// goldenLeaf is MarshalLeaf of hwEnvelope received at 2026-11-23T14:00:00Z,
// written out by hand.
const goldenLeaf = `{"envelope":{"payloadType":"application/vnd.trialog.statement+json","payload":"aGVsbG8=","signatures":[{"keyid":"1111111111111111111111111111111111111111111111111111111111111111","sig":"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIg=="}]},"received_at":"2026-11-23T14:00:00Z"}`

func TestMarshalLeafGolden(t *testing.T) {
	l := Leaf{
		Envelope:   Envelope{PayloadType: statement.PayloadType, Payload: hwPayloadB64, Signatures: []Signature{{KeyID: hwKeyID, Sig: hwSig}}},
		ReceivedAt: "2026-11-23T14:00:00Z",
	}
	got := MarshalLeaf(l)
	if string(got) != goldenLeaf {
		t.Fatalf("MarshalLeaf =\n%s\nwant\n%s", got, goldenLeaf)
	}
	if again := MarshalLeaf(l); !bytes.Equal(again, got) {
		t.Errorf("MarshalLeaf is not deterministic:\n%s\n%s", got, again)
	}
	// Every field is always written, even empty, so the bytes depend on
	// nothing but the envelope and the time.
	if got, want := string(MarshalLeaf(Leaf{})), `{"envelope":{"payloadType":"","payload":"","signatures":null},"received_at":""}`; got != want {
		t.Errorf("MarshalLeaf(Leaf{}) = %s, want %s", got, want)
	}
	leaf, p, err := ParseLeaf(got)
	if err != nil {
		t.Fatalf("ParseLeaf(golden): %v", err)
	}
	if !reflect.DeepEqual(*leaf, l) {
		t.Errorf("ParseLeaf = %+v, want %+v", *leaf, l)
	}
	if p.ID != hwID {
		t.Errorf("ID = %s, want %s", p.ID, hwID)
	}
	if string(p.PayloadBytes) != "hello" {
		t.Errorf("PayloadBytes = %q", p.PayloadBytes)
	}
}

func TestLeafRoundTrip(t *testing.T) {
	e1 := Sign(statement.PayloadType, []byte(goldenPayload), key(t, seed1Hex))
	e2 := Sign(statement.PayloadType, []byte(goldenPayload), key(t, seed2Hex))
	for _, l := range []Leaf{
		{Envelope: e1, ReceivedAt: "2026-11-23T14:00:00Z"},
		{Envelope: e1, ReceivedAt: "2026-11-23T14:00:00.123456Z"},
		{Envelope: Envelope{PayloadType: e1.PayloadType, Payload: e1.Payload, Signatures: []Signature{e1.Signatures[0], e2.Signatures[0]}}, ReceivedAt: "2030-01-01T00:00:00.000000001Z"},
		// Characters encoding/json escapes (<, >, &) survive the round trip.
		{Envelope: Envelope{PayloadType: "a<b>&c\u2028", Payload: "YQ==", Signatures: []Signature{{KeyID: hwKeyID, Sig: hwSig}}}, ReceivedAt: "2026-11-23T14:00:00Z"},
	} {
		b := MarshalLeaf(l)
		leaf, p, err := ParseLeaf(b)
		if err != nil {
			t.Fatalf("ParseLeaf(MarshalLeaf(%+v)): %v", l, err)
		}
		if !reflect.DeepEqual(*leaf, l) {
			t.Errorf("ParseLeaf = %+v, want %+v", *leaf, l)
		}
		if again := MarshalLeaf(*leaf); !bytes.Equal(again, b) {
			t.Errorf("re-marshalled leaf differs:\n%s\n%s", b, again)
		}
		direct, err := Check(l.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != direct.ID {
			t.Errorf("leaf envelope id %s != envelope id %s", p.ID, direct.ID)
		}
	}
}

// ParseLeaf accepts leaves that MarshalLeaf would not have written (it only
// parses strictly; it does not demand MarshalLeaf's exact bytes). Leaves are
// stored and served verbatim, so this is not a problem, but it is why the
// fuzz test asserts semantic rather than byte identity.
func TestParseLeafIsNotByteCanonical(t *testing.T) {
	for _, in := range []string{
		" " + goldenLeaf + "\n",
		`{"received_at":"2026-11-23T14:00:00Z","envelope":{"payloadType":"application/vnd.trialog.statement+json","payload":"aGVsbG8=","signatures":[{"keyid":"` + hwKeyID + `","sig":"` + hwSig + `"}]}}`,
		strings.Replace(goldenLeaf, "application/vnd", `application\/vnd`, 1),
		strings.Replace(goldenLeaf, "received_at\":\"2026", "received_at\":\"\\u0032026", 1),
	} {
		leaf, p, err := ParseLeaf([]byte(in))
		if err != nil {
			t.Fatalf("ParseLeaf(%s): %v", in, err)
		}
		if p.ID != hwID {
			t.Errorf("ID = %s, want %s", p.ID, hwID)
		}
		if got := MarshalLeaf(*leaf); string(got) != goldenLeaf {
			t.Errorf("MarshalLeaf(ParseLeaf(%s)) = %s, want the golden leaf", in, got)
		}
	}
}

func TestParseLeafRejects(t *testing.T) {
	withTime := func(ts string) string {
		return strings.Replace(goldenLeaf, `"received_at":"2026-11-23T14:00:00Z"`, `"received_at":`+ts, 1)
	}
	env := `{"payloadType":"application/vnd.trialog.statement+json","payload":"aGVsbG8=","signatures":[{"keyid":"` + hwKeyID + `","sig":"` + hwSig + `"}]}`
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"offset +01:00", withTime(`"2026-11-23T15:00:00+01:00"`), []string{"received_at", "UTC"}},
		{"offset +00:00", withTime(`"2026-11-23T14:00:00+00:00"`), []string{"received_at", "UTC"}},
		{"offset -00:00", withTime(`"2026-11-23T14:00:00-00:00"`), []string{"received_at", "UTC"}},
		{"no zone", withTime(`"2026-11-23T14:00:00"`), []string{"received_at", "RFC 3339"}},
		{"date only", withTime(`"2026-11-23"`), []string{"received_at", "RFC 3339"}},
		{"space separator", withTime(`"2026-11-23 14:00:00Z"`), []string{"received_at", "RFC 3339"}},
		{"garbage", withTime(`"yesterday"`), []string{"received_at", "RFC 3339"}},
		{"empty", withTime(`""`), []string{"received_at is required"}},
		{"null", withTime(`null`), []string{"received_at is required"}},
		{"number", withTime(`1764000000`), []string{`"received_at"`, "string"}},
		{"missing", `{"envelope":` + env + `}`, []string{"received_at is required"}},
		{"unknown field", `{"envelope":` + env + `,"received_at":"2026-11-23T14:00:00Z","leaf_index":1}`, []string{`unknown field "leaf_index"`}},
		{"unknown envelope field", `{"envelope":` + strings.Replace(env, `{"payloadType"`, `{"x":1,"payloadType"`, 1) + `,"received_at":"2026-11-23T14:00:00Z"}`, []string{`unknown field "envelope.x"`}},
		{"case-variant ReceivedAt", `{"envelope":` + env + `,"ReceivedAt":"2026-11-23T14:00:00Z"}`, []string{`unknown field "ReceivedAt"`}},
		{"case-variant Received_At", `{"envelope":` + env + `,"Received_At":"2026-11-23T14:00:00Z"}`, []string{`unknown field "Received_At"`}},
		{"case-variant Envelope", `{"Envelope":` + env + `,"received_at":"2026-11-23T14:00:00Z"}`, []string{`unknown field "Envelope"`}},
		{"case-variant nested keyid", strings.Replace(goldenLeaf, `"keyid"`, `"keyID"`, 1), []string{`unknown field "envelope.signatures[0].keyID"`}},
		{"duplicate received_at", `{"envelope":` + env + `,"received_at":"2026-11-23T14:00:00Z","received_at":"2026-11-23T14:00:00Z"}`, []string{`duplicate field "received_at"`}},
		{"duplicate nested payload", strings.Replace(goldenLeaf, `"payload":"aGVsbG8="`, `"payload":"aGVsbG8=","payload":"aGVsbG8="`, 1), []string{`duplicate field "envelope.payload"`}},
		{"missing envelope", `{"received_at":"2026-11-23T14:00:00Z"}`, []string{"payloadType is required"}},
		{"null envelope", `{"envelope":null,"received_at":"2026-11-23T14:00:00Z"}`, []string{"payloadType is required"}},
		{"bad envelope keyid", strings.Replace(goldenLeaf, hwKeyID, strings.ToUpper(kid1), 1), []string{"signatures[0].keyid"}},
		{"bad envelope payload", strings.Replace(goldenLeaf, "aGVsbG8=", "aGVsbG8", 1), []string{"payload"}},
		{"trailing data", goldenLeaf + "{}", []string{"unexpected data after the JSON value"}},
		{"truncated", goldenLeaf[:len(goldenLeaf)-1], []string{"malformed JSON"}},
		{"empty", ``, []string{"malformed JSON"}},
		{"array", `[]`, []string{"leaf"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseLeaf([]byte(tc.in))
			if err == nil {
				t.Fatalf("ParseLeaf accepted %s", tc.in)
			}
			if !strings.HasPrefix(err.Error(), "leaf: ") {
				t.Errorf("error %q does not start with \"leaf: \"", err)
			}
			// A leaf is read back from storage or from the log, never
			// submitted: a bad one is not the caller's invalid statement
			// (personality/errors.go turns ErrInvalid into 400).
			if errors.Is(err, statement.ErrInvalid) {
				t.Errorf("ParseLeaf error %q wraps ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestUnknownKeyErrorMessage(t *testing.T) {
	err := error(&UnknownKeyError{Index: 3, KeyID: kid2})
	want := "signatures[3]: key " + kid2 + " is not registered to the calling principal"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
}

// checkParsedInvariants asserts what every accepted envelope must satisfy.
func checkParsedInvariants(t *testing.T, p *Parsed) {
	t.Helper()
	if !lowerHex64.MatchString(p.ID) {
		t.Fatalf("ID %q is not 64 lowercase hex digits", p.ID)
	}
	if p.PayloadType == "" || len(p.PayloadType) > 255 {
		t.Fatalf("accepted payloadType of %d bytes", len(p.PayloadType))
	}
	if len(p.PayloadBytes) == 0 || b64(p.PayloadBytes) != p.Payload {
		t.Fatalf("payload %q does not encode PayloadBytes canonically", p.Payload)
	}
	n := len(p.Signatures)
	if n < 1 || n > 8 || len(p.KeyIDs) != n || len(p.Sigs) != n {
		t.Fatalf("%d signatures, %d key ids, %d sigs", n, len(p.KeyIDs), len(p.Sigs))
	}
	seen := map[string]bool{}
	h := sha256.New()
	h.Write(PAE(p.PayloadType, p.PayloadBytes))
	for i, s := range p.Signatures {
		if !lowerHex64.MatchString(s.KeyID) || hex.EncodeToString(p.KeyIDs[i]) != s.KeyID {
			t.Fatalf("signatures[%d].keyid %q vs raw %x", i, s.KeyID, p.KeyIDs[i])
		}
		if seen[s.KeyID] {
			t.Fatalf("repeated key id %s accepted", s.KeyID)
		}
		seen[s.KeyID] = true
		if len(p.Sigs[i]) != 64 || b64(p.Sigs[i]) != s.Sig {
			t.Fatalf("signatures[%d].sig %q vs raw %x", i, s.Sig, p.Sigs[i])
		}
		h.Write(p.KeyIDs[i])
		h.Write(p.Sigs[i])
	}
	if id := hex.EncodeToString(h.Sum(nil)); id != p.ID {
		t.Fatalf("ID = %s, recomputed %s", p.ID, id)
	}
}

func FuzzParse(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParse.
	for _, s := range []string{
		hwEnvelope,
		envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid1, goldenSig1), sigJSON(kid2, goldenSig2)),
		envJSON("a<b>&\u2028", "YQ==", sigJSON(kid1, hwSig)),
		envJSON(statement.PayloadType, "YQ=", sigJSON(kid1, hwSig)),
		envJSON(statement.PayloadType, hwPayloadB64, sigJSON(kid1, hwSig), sigJSON(kid1, hwSig)),
		`{"PayloadType":"t","payload":"YQ==","signatures":[{"keyid":"` + kid1 + `","sig":"` + hwSig + `"}]}`,
		`{"payloadType":"\ud800","payload":"YQ==","signatures":[{"keyid":"` + kid1 + `","sig":"` + hwSig + `"}]}`,
		"{\"payloadType\":\"\xff\",\"payload\":\"YQ==\",\"signatures\":[{\"keyid\":\"" + kid1 + "\",\"sig\":\"" + hwSig + "\"}]}",
		hwEnvelope + " {}",
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if p != nil {
				t.Fatalf("Parse returned both %v and an envelope", err)
			}
			if !errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("error %q does not wrap ErrInvalid", err)
			}
			return
		}
		checkParsedInvariants(t, p)

		// encoding/json re-marshals the same envelope, same id.
		again, err := Parse(marshal(t, p.Envelope))
		if err != nil {
			t.Fatalf("re-marshalled envelope rejected: %v\n%s", err, marshal(t, p.Envelope))
		}
		if again.ID != p.ID || !reflect.DeepEqual(again.Envelope, p.Envelope) {
			t.Fatalf("re-marshalled envelope differs: id %s vs %s", again.ID, p.ID)
		}

		// And it can be stored as a leaf and read back with the same id.
		leafBytes := MarshalLeaf(Leaf{Envelope: p.Envelope, ReceivedAt: "2026-11-23T14:00:00Z"})
		_, lp, err := ParseLeaf(leafBytes)
		if err != nil {
			t.Fatalf("ParseLeaf(MarshalLeaf(accepted envelope)): %v", err)
		}
		if lp.ID != p.ID {
			t.Fatalf("leaf id %s != envelope id %s", lp.ID, p.ID)
		}
	})
}

// FuzzParseLeaf: ParseLeaf never panics, and an accepted leaf is a fixed
// point of MarshalLeaf∘ParseLeaf up to JSON equivalence. Byte identity with
// the input does not hold, and is not asserted: ParseLeaf accepts any
// whitespace, key order and string escaping (see
// TestParseLeafIsNotByteCanonical), and encoding/json rewrites <, >, &,
// U+2028, U+2029 and invalid UTF-8. What does hold, and is asserted:
//   - the input and MarshalLeaf's output decode to the same JSON value;
//   - MarshalLeaf's output parses to the same Leaf and entry id, and
//     re-marshals to itself byte for byte.
func FuzzParseLeaf(f *testing.F) {
	f.Add([]byte(goldenLeaf))
	f.Add([]byte(" " + goldenLeaf + "\n"))
	f.Add([]byte(strings.Replace(goldenLeaf, "application/vnd", `application\/vnd`, 1)))
	f.Add([]byte(strings.Replace(goldenLeaf, "application/vnd", `a<>&\u2028\u0000`, 1)))
	f.Add([]byte(strings.Replace(goldenLeaf, "application/vnd", "\xff\xfe", 1)))
	f.Add([]byte(strings.Replace(goldenLeaf, "14:00:00Z", "14:00:00.5Z", 1)))
	f.Add([]byte(strings.Replace(goldenLeaf, "14:00:00Z", "14:00:00+01:00", 1)))
	f.Add([]byte(`{"received_at":"2026-11-23T14:00:00Z","envelope":` + envJSON(statement.PayloadType, goldenPayloadB64, sigJSON(kid1, goldenSig1), sigJSON(kid2, goldenSig2)) + `}`))
	f.Add([]byte(goldenLeaf + "x"))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		leaf, p, err := ParseLeaf(data)
		if err != nil {
			if leaf != nil || p != nil {
				t.Fatalf("ParseLeaf returned results with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "leaf: ") || errors.Is(err, statement.ErrInvalid) {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		checkParsedInvariants(t, p)
		if _, err := statement.ParseTime("received_at", leaf.ReceivedAt); err != nil {
			t.Fatalf("accepted received_at %q: %v", leaf.ReceivedAt, err)
		}
		m := MarshalLeaf(*leaf)
		var in, out any
		if err := json.Unmarshal(data, &in); err != nil {
			t.Fatalf("accepted leaf is not JSON: %v", err)
		}
		if err := json.Unmarshal(m, &out); err != nil {
			t.Fatalf("MarshalLeaf wrote bad JSON: %v", err)
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("MarshalLeaf changed the leaf's meaning:\n in %s\nout %s", data, m)
		}
		leaf2, p2, err := ParseLeaf(m)
		if err != nil {
			t.Fatalf("ParseLeaf(MarshalLeaf(accepted leaf)): %v\n%s", err, m)
		}
		if !reflect.DeepEqual(*leaf2, *leaf) || p2.ID != p.ID {
			t.Fatalf("leaf changed through MarshalLeaf: %+v vs %+v", leaf2, leaf)
		}
		if m2 := MarshalLeaf(*leaf2); !bytes.Equal(m2, m) {
			t.Fatalf("MarshalLeaf is not a fixed point:\n%s\n%s", m, m2)
		}
	})
}

// readCorpus reads Go fuzz corpus files holding one []byte each, keyed by
// file name.
func readCorpus(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
		body, ok2 := strings.CutSuffix(body, ")\n")
		if !ok || !ok2 {
			t.Fatalf("%s is not a []byte corpus file", e.Name())
		}
		s, err := strconv.Unquote(body)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		out[e.Name()] = []byte(s)
	}
	if len(out) == 0 {
		t.Fatalf("no corpus files in %s", dir)
	}
	return out
}

// The seed corpus says in each file name whether the input is valid.
func TestSeedCorpus(t *testing.T) {
	for fuzzer, parse := range map[string]func([]byte) error{
		"FuzzParse":     func(b []byte) error { _, err := Parse(b); return err },
		"FuzzParseLeaf": func(b []byte) error { _, _, err := ParseLeaf(b); return err },
	} {
		for name, in := range readCorpus(t, filepath.Join("testdata", "fuzz", fuzzer)) {
			err := parse(in)
			switch {
			case strings.HasPrefix(name, "valid_") && err != nil:
				t.Errorf("%s/%s rejected: %v", fuzzer, name, err)
			case strings.HasPrefix(name, "invalid_") && err == nil:
				t.Errorf("%s/%s accepted", fuzzer, name)
			}
		}
	}
}
