package receipt_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/trialog/trialog/receipt"
)

// withLife returns the sample's first signer with a registration at leaf reg
// and, if rev ≥ 0, a revocation at leaf rev.
func withLife(s *sample, reg, rev int64) receipt.Signer {
	sg := s.signers[0]
	sg.KeyIndex = receipt.Index(reg)
	if rev >= 0 {
		sg.RevokedIndex = receipt.Index(rev)
	}
	return sg
}

// TestRevokedKeyReceipts checks the signer line's registration and
// revocation indices: a receipt of an entry logged before the revocation
// verifies and says so; one at or after it, or before the key's
// registration, is refused, naming why; the file keeps one encoding.
func TestRevokedKeyReceipts(t *testing.T) {
	s := newSample(t)
	v := verifier(t, s.log.VKey)
	for _, tc := range []struct {
		name     string
		reg, rev int64
		check    string // "" when valid
	}{
		{"registered, not revoked", 0, -1, ""},
		{"revoked after the entry", 1, 3, ""},
		{"revoked long after the entry", 1, 4, ""},
		{"revoked at the entry", 0, 2, receipt.CheckRevocation},
		{"revoked before the entry", 0, 1, receipt.CheckRevocation},
		{"registered at the entry", 2, -1, receipt.CheckSigner},
		{"registered after the entry", 4, -1, receipt.CheckSigner},
		{"revoked before registered", 1, 1, receipt.CheckSigner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.log.Receipt(2, 5, []receipt.Signer{withLife(s, tc.reg, tc.rev)})
			b := r.Marshal()
			want := "signer " + strings.Fields(strings.Split(string(s.single().Marshal()), "\n")[1])[1] + " " + keyEntryA + " registered " + itoa(tc.reg)
			if tc.rev >= 0 {
				want += " revoked " + itoa(tc.rev)
			}
			if line := strings.Split(string(b), "\n")[1]; line != want {
				t.Fatalf("signer line %q, want %q", line, want)
			}
			p, err := receipt.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Marshal()) != string(b) || *p.Signers[0].KeyIndex != tc.reg || (tc.rev >= 0) != (p.Signers[0].RevokedIndex != nil) {
				t.Fatalf("round trip changed the receipt: %+v", p.Signers[0])
			}
			if tc.name == "revoked after the entry" {
				// A seed of FuzzParse, and the example of docs/receipts.md.
				golden(t, "revoked.receipt", b)
			}
			vr, err := v.Verify(p)
			if tc.check == "" {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				if got := len(vr.Revocations()); got != map[bool]int{true: 1, false: 0}[tc.rev >= 0] {
					t.Fatalf("Revocations() has %d signers", got)
				}
				return
			}
			var re *receipt.Error
			if !errors.As(err, &re) || re.Check != tc.check {
				t.Fatalf("Verify = %v, want a %q failure", err, tc.check)
			}
		})
	}
}

// TestOldReceiptsStillParse: receipts without the new fields keep their
// meaning and their bytes.
func TestOldReceiptsStillParse(t *testing.T) {
	s := newSample(t)
	for _, r := range []*receipt.Receipt{s.single(), s.double()} {
		p, err := receipt.Parse(r.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		for _, sg := range p.Signers {
			if sg.KeyIndex != nil || sg.RevokedIndex != nil {
				t.Fatalf("an old signer line gained indices: %+v", sg)
			}
		}
		if _, err := verifier(t, s.log.VKey).Verify(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseRejectsSignerFields(t *testing.T) {
	s := newSample(t)
	good := string(s.log.Receipt(2, 5, []receipt.Signer{withLife(s, 0, 3)}).Marshal())
	line := strings.Split(good, "\n")[1]
	key := strings.Fields(line)[1]
	for _, tc := range []struct{ name, line, msg string }{
		{"leading zero registration", "signer " + key + " " + keyEntryA + " registered 00 revoked 3", "leading zeros"},
		{"leading zero revocation", "signer " + key + " " + keyEntryA + " registered 0 revoked 03", "leading zeros"},
		{"registered without index", "signer " + key + " " + keyEntryA + " registered", "followed by"},
		{"revoked without index", "signer " + key + " " + keyEntryA + " revoked", "followed by"},
		{"fields reversed", "signer " + key + " " + keyEntryA + " revoked 3 registered 0", "signer line is"},
		{"registered without entry", "signer " + key + " registered 0", "lowercase hex"},
		{"two spaces", "signer " + key + " " + keyEntryA + "  registered 0", "signer line is"},
		{"trailing space", line + " ", "signer line is"},
		{"unknown field", line + " expires 9", "signer line is"},
		{"negative", "signer " + key + " " + keyEntryA + " registered -1", "decimal"},
		{"repeated", line + " revoked 4", "signer line is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receipt.Parse([]byte(strings.Replace(good, line, tc.line, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.msg)
			}
		})
	}
	// A service-key signer may carry a revocation without a key entry.
	sg := s.signers[0]
	sg.KeyEntry, sg.RevokedIndex = "", receipt.Index(4)
	b := s.log.Receipt(2, 5, []receipt.Signer{sg}).Marshal()
	p, err := receipt.Parse(b)
	if err != nil || *p.Signers[0].RevokedIndex != 4 || string(p.Marshal()) != string(b) {
		t.Fatalf("signer with only a revocation: %v", err)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
