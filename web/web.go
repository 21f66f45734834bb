// Package web serves trialog's pages: the patient's consent page
// (/patient), a trial's page (/trials/{trial_id}) and the log's page
// (/log), with their assets under /assets/. The pages are static: their
// script fetches the public API, has every proof and signature checked by
// the verifier compiled to WebAssembly (web/wasm, built by `go generate
// ./web`), and shows only what verified. docs/pages.md describes them and
// their trust model.
//
// Everything is served from this origin under a strict Content-Security-
// Policy: no inline script or style, no third-party resource, no form
// submission, no framing.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// assets holds the pages, script, styles and message catalogues, and —
// when `go generate ./web` ran before the build, as `make build` does —
// verifier.wasm and the wasm_exec.js of the same Go toolchain.
//
//go:embed assets
var assets embed.FS

// Generated assets: absent from a build that skipped `go generate ./web`.
const (
	VerifierFile = "verifier.wasm"
	WasmExecFile = "wasm_exec.js"
)

// CSP is the Content-Security-Policy of every page and asset. Scripts come
// only from this origin; 'wasm-unsafe-eval' lets them compile the
// verifier, and nothing else. connect-src 'self' keeps every request on
// this origin; form-action 'none' makes sure no form is ever submitted to
// a server (the secret form is read by the script).
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options configure the pages.
type Options struct {
	// Assets replaces the embedded assets (tests, development); its root
	// holds the files of web/assets.
	Assets fs.FS
	// Logger receives warnings; nil: slog.Default is not used, nothing is
	// logged.
	Logger *slog.Logger
}

// Pages serves the pages and their assets.
type Pages struct {
	files fs.FS
	log   *slog.Logger

	mu  sync.Mutex
	gz  map[string][]byte // gzip-compressed assets, made on first request
	tag map[string]string // ETags
}

// New returns the pages over opts.Assets, or the embedded assets.
func New(opts Options) *Pages {
	files := opts.Assets
	if files == nil {
		files, _ = fs.Sub(assets, "assets")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pages{files: files, log: log, gz: map[string][]byte{}, tag: map[string]string{}}
}

// HasVerifier reports whether the verifier was built into the assets.
func (p *Pages) HasVerifier() bool {
	_, err := fs.Stat(p.files, VerifierFile)
	return err == nil
}

// Register adds the pages' routes to mux: GET /patient, GET
// /trials/{trial_id}, GET /log and GET /assets/{file}.
func (p *Pages) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /patient", p.page("patient"))
	mux.HandleFunc("GET /trials/{trial_id}", p.page("trial"))
	mux.HandleFunc("GET /log", p.page("log"))
	mux.HandleFunc("GET /assets/{file}", p.asset)
}

// Mount returns a handler serving the pages and passing every other
// request to api.
func Mount(api http.Handler, opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	New(opts).Register(mux)
	return mux
}

// headers sets what every page and asset carries.
func headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	// POLICY: the patient's page holds a secret in its fragment; browsers
	// never send fragments in Referer, and no Referer is sent at all.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// page serves the one page shell (assets/page.html) as the page name: the
// script reads data-page and builds that page in <main>.
func (p *Pages) page(name string) http.HandlerFunc {
	var html bytes.Buffer
	t, err := template.ParseFS(p.files, "page.html")
	if err == nil {
		err = t.Execute(&html, name)
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if err != nil {
			p.log.Error("page missing from the assets", "page", name, "err", err)
			http.Error(w, "page missing", http.StatusInternalServerError)
			return
		}
		headers(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(html.Bytes())
	}
}

// asset serves one file of the assets, gzip-compressed when the client
// takes it, revalidated by ETag.
func (p *Pages) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\\") {
		http.NotFound(w, r)
		return
	}
	raw, err := fs.ReadFile(p.files, name)
	if err != nil {
		headers(w)
		if name == VerifierFile || name == WasmExecFile {
			http.Error(w, "this trialogd was built without the pages' verifier: build it with `make build` (go generate ./web)", http.StatusNotFound)
			return
		}
		http.NotFound(w, r)
		return
	}
	headers(w)
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".wasm":
		ctype = "application/wasm"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".json":
		ctype = "application/json"
	case ".css":
		ctype = "text/css; charset=utf-8"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Vary", "Accept-Encoding")
	gz, tag := p.compressed(name, raw)
	body := raw
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		// Each representation has its own ETag.
		w.Header().Set("Content-Encoding", "gzip")
		body, tag = gz, strings.TrimSuffix(tag, `"`)+`-gzip"`
	}
	w.Header().Set("ETag", tag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func (p *Pages) compressed(name string, raw []byte) ([]byte, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if gz, ok := p.gz[name]; ok {
		return gz, p.tag[name]
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	sum := sha256.Sum256(raw)
	p.gz[name], p.tag[name] = b.Bytes(), `"`+hex.EncodeToString(sum[:16])+`"`
	return p.gz[name], p.tag[name]
}
