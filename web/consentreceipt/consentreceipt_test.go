package consentreceipt_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"rsc.io/qr"

	"github.com/trialog/trialog/web/consentreceipt"
)

func sample() consentreceipt.Receipt {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i * 7)
	}
	return consentreceipt.Receipt{PageURL: "https://log.example.org/", TrialID: "NCT01234567", Site: "St Mary's <Hospital>",
		Secret: base64.StdEncoding.EncodeToString(secret), LogKey: "log.example.org/log+0681688e+AeBaql1M+FMTuUdW96kdpzLDg9oxAbYnpoHRKe1XBLnc",
		Fingerprint: "be4e d1cd f2e3 6687 45b1 a864", Enrolled: time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)}
}

func TestLink(t *testing.T) {
	r := sample()
	link, err := r.Link()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(r.Secret)
	want := "https://log.example.org/patient#secret=" + base64.RawURLEncoding.EncodeToString(raw) + "&trial=NCT01234567&key=" + r.LogKey
	if link != want {
		t.Fatalf("link\n%s, want\n%s", link, want)
	}
	for _, tc := range []struct {
		change func(*consentreceipt.Receipt)
		want   string
	}{
		{func(r *consentreceipt.Receipt) { r.Secret = "short" }, "32 bytes"},
		{func(r *consentreceipt.Receipt) { r.PageURL = "ftp://x" }, "http(s)"},
		{func(r *consentreceipt.Receipt) { r.PageURL = "https://x/?secret=1" }, "query"},
		{func(r *consentreceipt.Receipt) { r.PageURL = "" }, "http(s)"},
	} {
		r := sample()
		tc.change(&r)
		if _, err := r.Link(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", r, err, tc.want)
		}
	}
}

// TestWrite: the page holds the link, its QR code (as qr.Encode makes it),
// the escaped site name and the instructions, and nothing from elsewhere.
func TestWrite(t *testing.T) {
	r := sample()
	var b bytes.Buffer
	if err := consentreceipt.Write(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	link, _ := r.Link()
	code, _ := qr.Encode(link, qr.M)
	for _, want := range []string{fmt.Sprintf(`data-modules="%d"`, code.Size), "St Mary&#39;s &lt;Hospital&gt;", "29 November 2026", r.Fingerprint, "Keep this receipt private"} {
		if !strings.Contains(page, want) {
			t.Errorf("the receipt lacks %q", want)
		}
	}
	if !strings.Contains(html.UnescapeString(page), `href="`+link+`"`) {
		t.Error("the receipt does not link to the patient page")
	}
	if strings.Count(page, "http://") != strings.Count(page, "http://www.w3.org/2000/svg") || strings.Contains(page, "<script") {
		t.Error("the receipt loads or runs something")
	}
	black := 0
	for y := range code.Size {
		for x := range code.Size {
			if code.Black(x, y) {
				black++
			}
		}
	}
	if n := strings.Count(page, "h1v1h-1z"); n != black {
		t.Errorf("the SVG draws %d modules, the code has %d", n, black)
	}
}
