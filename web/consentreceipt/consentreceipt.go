// Package consentreceipt renders the consent receipt a site hands to a
// patient: a printable HTML page with the trial, the site, the QR code of
// the patient's link and plain instructions. The link opens trialog's
// patient page with the secret, the trial and the log's key in its
// fragment, which browsers never send to a server:
//
//	https://log.example/patient#secret=<base64url>&trial=<id>&key=<log key>
//
// The page verifies everything it shows against the key printed here, not
// against a key the server announces (docs/pages.md). The receipt holds the
// patient's secret: it is written once, to a new file of mode 0600, and
// never sent anywhere.
package consentreceipt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"strings"
	"time"

	"rsc.io/qr"
)

// Receipt is what a consent receipt shows.
type Receipt struct {
	// PageURL is the base URL of trialog's pages as patients reach them,
	// such as https://log.example.
	PageURL string
	// TrialID is the trial's identifier.
	TrialID string
	// Site names the site that enrolled the patient, as patients know it.
	Site string
	// Secret is the subject secret, standard base64 as the API gives it.
	Secret string
	// LogKey is the log's note verifier key, pinned in the link.
	LogKey string
	// Fingerprint is a short digest of LogKey to compare by eye; optional.
	Fingerprint string
	// Enrolled is when the subject was minted.
	Enrolled time.Time
}

// Link is the patient's link: the patient page with the secret (base64url,
// no padding), the trial and the log key in the fragment.
func (r Receipt) Link() (string, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(r.Secret)
	if err != nil || len(raw) != 32 {
		return "", errors.New("the secret is not the base64 of 32 bytes")
	}
	u, err := url.Parse(strings.TrimRight(r.PageURL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("the page URL %q is not an http(s) URL", r.PageURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("the page URL %q must not have a query or a fragment", r.PageURL)
	}
	// The log key's characters (letters, digits, '+', '/', '.', '-') are
	// all allowed in a fragment; the page reads '+' as '+'.
	frag := "secret=" + base64.RawURLEncoding.EncodeToString(raw) + "&trial=" + url.QueryEscape(r.TrialID)
	if r.LogKey != "" {
		frag += "&key=" + fragmentEscape(r.LogKey)
	}
	return strings.TrimRight(u.String(), "/") + "/patient#" + frag, nil
}

func fragmentEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+/.-_~:@!$'()*,;", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Write renders the receipt as one self-contained HTML page.
func Write(w io.Writer, r Receipt) error {
	link, err := r.Link()
	if err != nil {
		return err
	}
	code, err := qr.Encode(link, qr.M)
	if err != nil {
		return fmt.Errorf("the link does not fit in a QR code: %w", err)
	}
	raw, _ := base64.StdEncoding.DecodeString(r.Secret)
	site := r.Site
	if site == "" {
		site = "your trial site"
	}
	return page.Execute(w, map[string]any{
		"Trial":       r.TrialID,
		"Site":        site,
		"Link":        link,
		"Patient":     strings.TrimRight(r.PageURL, "/") + "/patient",
		"Secret":      groups(base64.RawURLEncoding.EncodeToString(raw)),
		"Fingerprint": r.Fingerprint,
		"LogKey":      r.LogKey,
		"Date":        r.Enrolled.UTC().Format("2 January 2006"),
		"QR":          svg(code),
	})
}

// groups splits s into groups of four for reading and typing; the patient
// page ignores the spaces.
func groups(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// Quiet is the white border around the code, in modules (ISO/IEC 18004
// asks for four).
const Quiet = 4

// svg draws the code as an SVG image, one path of unit squares.
func svg(c *qr.Code) template.HTML {
	n := c.Size + 2*Quiet
	var p strings.Builder
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&p, "M%d %dh1v1h-1z", x+Quiet, y+Quiet)
			}
		}
	}
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code of your link" data-modules="%d"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n, n, c.Size, n, n, p.String()))
}

var page = template.Must(template.New("receipt").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Consent receipt — trial {{.Trial}}</title>
<style>
body { font: 12pt/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; max-width: 44rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.15rem; margin: 1.4rem 0 .4rem; }
.top { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: flex-start; }
.qr { width: 16rem; max-width: 100%; }
.qr svg { width: 100%; height: auto; display: block; }
.facts { flex: 1 1 14rem; }
dt { font-weight: 700; }
dd { margin: 0 0 .5rem; }
.secret, .key, .link { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
.secret { font-size: 1.15rem; letter-spacing: .04em; }
.box { border: 2px solid #111; padding: .6rem .8rem; border-radius: 4px; }
.warn { border-color: #7a4b00; background: #fff4e0; }
@media print { body { margin: 0 auto; } a { color: #111; text-decoration: none; } }
</style>
</head>
<body>
<h1>Consent receipt</h1>
<p>Keep this receipt. It lets you see, at any time and on your own phone or computer, what you agreed to in this trial and who used your data.</p>
<div class="top">
<div class="qr">{{.QR}}</div>
<dl class="facts">
<dt>Trial</dt><dd id="trial">{{.Trial}}</dd>
<dt>Site</dt><dd id="site">{{.Site}}</dd>
<dt>Date</dt><dd>{{.Date}}</dd>
</dl>
</div>

<h2>How to see your consent</h2>
<ol>
<li>Scan the square code with your phone's camera and open the link. Or open this link: <a class="link" id="link" href="{{.Link}}">{{.Link}}</a></li>
<li>The page shows what you allowed, what you did not, and every time someone asked to use your data: who, for what, and whether it was allowed.</li>
<li>The page checks everything it shows itself, in your browser. If it says the check failed, do not rely on it and tell your site.</li>
</ol>
<p>If you cannot scan the code, open <span class="link">{{.Patient}}</span> and type the trial number above and this secret:</p>
<p class="box secret" id="secret">{{.Secret}}</p>

<div class="box warn">
<p><strong>Keep this receipt private, like a password.</strong> Anyone with the code or the secret can see your consent and how your data were used (not your name, nor your medical data). Do not type the secret anywhere else than on this page. If you lose the receipt, ask your site for help.</p>
</div>

<h2>Changing your mind</h2>
<p><strong>Withdrawing:</strong> you can ask {{.Site}} at any time to withdraw your consent, for everything or for some uses. From then on, no one may use your data for those uses. Data already collected before you withdrew may still be used, as the law on clinical trials requires. Your receipt keeps working.</p>
<p><strong>Erasing:</strong> you can ask for the link between you and your records to be destroyed. Afterwards this receipt stops working and no one can use it to find your records. This cannot be undone.</p>

<h2>For checking</h2>
<p>The link carries the key of the log it trusts{{if .Fingerprint}}, fingerprint <span class="key">{{.Fingerprint}}</span>{{end}}:</p>
<p class="key">{{.LogKey}}</p>
</body>
</html>
`))
